"""Change-point detection over a metric's history: where did the level (or the slope) of the series change?

The history of a benchmark is one number per execution (its median, see
:func:`controller.analysis.execution_value`). Its level moves in steps (a commit, a driver, a new
instance type), and a run must never be compared with runs across such a step: the baseline starts
after the last change point.

The method is binary segmentation. For a segment ``x[0:n]`` and a split ``k`` the statistic is the
Gaussian likelihood ratio for a change **with the variance estimated within the two pieces** (the
two-sample t statistic, or Chow's test for a break in a regression line, in likelihood form):

    LR(k) = n log(RSS_0 / RSS_k)          RSS_0: squares about the segment's fit,
                                           RSS_k: squares about each piece's own fit

where a fit is a straight line for a piece of at least ``LINEAR_MIN`` points and a level (the mean)
for a shorter one, or for every piece with ``slopes=False`` (what a verdict uses: it compares
levels). With lines, a steady trend is one segment (its line explains it: no staircase) and a
change of slope is a change point. The noise scale is whatever is left *inside* the pieces: the
full spread of a bimodal or quantized metric, never a trimmed or step-to-step one. The best split
is kept when ``LR / f`` exceeds ``PENALTY * log n`` (a BIC-like penalty), where ``f`` is the
**long-run variance factor** ``(1 + rho) / (1 - rho)`` of the residuals inside the pieces, with
``rho = 1 - DW / 2`` from their Durbin-Watson ratio (0 when negative, at most ``MAX_RHO``). A real
change leaves white residuals on each side (``f`` near 1); a drift, a random walk, a smooth curve
or a seasonal swing leaves residuals that follow each other (``rho`` near 1, ``f`` large), and the
split is not made. Where a split leaves a level (a piece shorter than ``LINEAR_MIN``, or
``slopes=False``) two more guards apply: it is refused when one straight line fits the segment as
well as the two levels (:func:`trend_explains`), and when the two levels' values overlap too much
(:func:`superiority`, an effect-size gate), so one outlier at the end of a series is not a step.
No segment is shorter than ``MIN_SIZE`` points, and both halves of a kept split are searched again.

The constants, argued in docs/regressions.md, were chosen on synthetic series: ``PENALTY`` and
``SMALL_SAMPLE`` (a false change point in at most about 1 % of series of pure noise, at every
length), ``MIN_EFFECT``, ``MIN_SIZE``, ``LINEAR_MIN`` (a slope is not told from a level on fewer
points) and ``MAX_RHO`` (0.95: the smallest of 0.9, 0.95, 0.98 that leaves a noise-free parabola
uncut; the real TCPD series were also looked at, see the docs for the leave-one-out figure).

numpy only; a segment's statistic for every split is one vectorised expression (running sums).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # numpy is imported by the functions that compute: "insufficient data" needs none of it
    import numpy as np
    from numpy.typing import NDArray

#: Penalty per change point, in units of ``log n``: ``LR(k) / f`` must exceed ``PENALTY * log(n)``.
PENALTY = 4.0
#: How much more evidence a short segment needs (see :func:`threshold`).
SMALL_SAMPLE = 4.0
#: The effect-size gate: a step must put the new level's values above (or below) the old level's
#: in at least ``0.5 + MIN_EFFECT`` of all pairs (see :func:`superiority`).
MIN_EFFECT = 0.3
#: The fewest points on each side of a change point.
MIN_SIZE = 2
#: The largest serial correlation taken at face value (``f`` is at most 39).
MAX_RHO = 0.95
#: The fewest points of a piece fitted with a line (a slope) rather than a level.
LINEAR_MIN = 8
#: ``linear_min`` for a segmentation into levels only.
LEVELS_ONLY = 2**62

FloatArray: TypeAlias = "NDArray[np.float64]"


def split_statistics(
    x: FloatArray, min_size: int = MIN_SIZE, linear_min: int | None = None
) -> tuple[NDArray[np.int64], FloatArray]:
    """For every allowed split ``k`` of ``x`` (``min_size <= k <= n - min_size``), ``LR(k)``: the
    likelihood ratio of a change at ``k`` with a variance estimated within the pieces. Each piece
    (and the whole of ``x``) is a straight line when it has at least ``linear_min`` points, else a
    level (see :func:`piece_rss`)."""
    import numpy as np

    n = x.size
    k = np.arange(min_size, n - min_size + 1)
    if k.size == 0:
        return k, np.zeros(0)
    linear_min = LINEAR_MIN if linear_min is None else linear_min
    if linear_min > n:  # levels only: RSS_0 - RSS_k from one running sum
        centred = x - x.mean()
        total = float(np.sum(centred**2))
        if total <= 0.0:
            return k, np.zeros(k.size)
        explained = np.cumsum(centred)[k - 1] ** 2 * n / (k * (n - k))
        return k, n * np.log(total / np.maximum(total - explained, total * 1e-12))
    z = _standardised(x)
    sums = _cumulative(z)
    rss0 = float(piece_rss(sums, np.array([0]), np.array([n]), linear_min)[0])
    if rss0 <= 0.0:
        return k, np.zeros(k.size)
    rss = piece_rss(sums, np.zeros(k.size, dtype=np.int64), k, linear_min) + piece_rss(
        sums, k, np.full(k.size, n), linear_min)
    return k, n * np.log(rss0 / np.maximum(rss, rss0 * 1e-12))


def _standardised(x: FloatArray) -> FloatArray:
    """``x`` centred and scaled to unit deviation (cumulative sums of large values lose digits)."""
    import numpy as np

    spread = float(np.std(x))
    return np.asarray((x - x.mean()) / spread if spread > 0.0 else x - x.mean(), dtype=float)


def _cumulative(z: FloatArray) -> FloatArray:
    """The running sums (with a leading 0) of 1, t, t², z, t·z and z² that :func:`piece_rss` needs."""
    import numpy as np

    t = np.arange(z.size, dtype=float) / max(z.size, 1)
    columns = np.stack([np.ones_like(z), t, t * t, z, t * z, z * z])
    return np.concatenate([np.zeros((6, 1)), np.cumsum(columns, axis=1)], axis=1)


def piece_rss(sums: FloatArray, start: NDArray[np.int64], end: NDArray[np.int64], linear_min: int) -> FloatArray:
    """The residual sum of squares of each piece ``[start, end)``: about its least-squares line when
    it has at least ``linear_min`` points (a slope cannot be told from a level on fewer), else about
    its mean. ``sums`` from :func:`_cumulative`."""
    import numpy as np

    m, st, stt, sz, stz, szz = (sums[:, end] - sums[:, start])
    level = szz - sz * sz / m
    vtt = stt - st * st / m
    vtz = stz - st * sz / m
    safe = np.where(vtt > 0.0, vtt, 1.0)
    line = level - np.where(vtt > 0.0, vtz * vtz / safe, 0.0)
    return np.asarray(np.maximum(np.where(m >= linear_min, line, level), 0.0), dtype=float)


def residuals(x: FloatArray, linear_min: int | None = None) -> FloatArray:
    """``x`` less its least-squares line (at least ``linear_min`` points) or its mean."""
    import numpy as np

    if x.size < max(LINEAR_MIN if linear_min is None else linear_min, 2):
        return np.asarray(x - x.mean(), dtype=float)
    t = np.arange(x.size, dtype=float)
    t -= t.mean()
    centred = x - x.mean()
    return np.asarray(centred - t * (float(np.dot(t, centred)) / float(np.dot(t, t))), dtype=float)


def long_run_factor(x: FloatArray, split: int, min_size: int = MIN_SIZE, linear_min: int | None = None) -> float:
    """``(1 + rho) / (1 - rho)``: how much serial dependence inflates the variance of a mean (1 for
    white noise). ``rho`` is the serial correlation (see :func:`_factor`) of the residuals of ``x`` about the fits of
    ``x[:split]`` and ``x[split:]`` (a line or a level, as in :func:`split_statistics`), each piece
    cut once more at its own best split first, so that another change elsewhere in the segment is
    not taken for serial dependence."""
    import numpy as np

    pieces: list[FloatArray] = []
    x = _standardised(x)  # so that rounding residue of noise-free pieces reads as no residual at all
    for piece in (x[:split], x[split:]):
        k, statistic = split_statistics(piece, min_size, linear_min)
        cut = int(k[int(np.argmax(statistic))]) if k.size and np.any(statistic > 0) else 0
        parts = (piece[:cut], piece[cut:]) if cut else (piece,)
        pieces.extend(residuals(part, linear_min) for part in parts)
    return _factor(pieces)


def serial_factor(baseline: FloatArray) -> float:
    """The long-run variance factor of the baseline's residuals about its mean, without further cuts:
    a baseline that trends, drifts or wanders has residuals that follow each other, and a mean is
    that much less certain. The baseline alone: the few runs judged against it cannot measure it (a
    piece of a few points about its own mean reads as alternating, two points always give
    ``rho = -1``), and pooled with the baseline they pulled its estimate down."""
    if baseline.size <= 2:
        return 1.0
    factor = _factor([baseline - baseline.mean()])
    # Only serial dependence that white noise would rarely show (rho beyond 2 / sqrt(n)) counts.
    rho = (factor - 1.0) / (factor + 1.0)
    return factor if rho > 2.0 / math.sqrt(baseline.size) else 1.0


def _factor(pieces: Sequence[FloatArray]) -> float:
    """``(1 + rho) / (1 - rho)`` with ``rho`` from :func:`serial_correlation`."""
    rho = serial_correlation(pieces)
    return (1.0 + rho) / (1.0 - rho)


def serial_correlation(pieces: Sequence[FloatArray]) -> float:
    """``rho = 1 - DW / 2`` (``DW`` the Durbin-Watson ratio of the residuals' squared steps to their
    squares, pooled over the pieces), between 0 and ``MAX_RHO``; unlike the lag-one sample
    autocorrelation it is not pulled towards 0 by a short piece's ends: a smooth curve or a random
    walk gives ``rho`` near 1, white noise near 0."""
    import numpy as np

    stepped = sum(float(np.sum(np.diff(p) ** 2)) for p in pieces if p.size > 1)
    total = sum(float(np.dot(p[1:], p[1:]) + np.dot(p[:-1], p[:-1])) / 2.0 for p in pieces if p.size > 1)
    if total <= 1e-20 * sum(p.size for p in pieces):
        return 0.0
    return min(max(1.0 - stepped / (2.0 * total), 0.0), MAX_RHO)


def best_split(x: FloatArray, min_size: int = MIN_SIZE, linear_min: int | None = None) -> tuple[int, float]:
    """The split of ``x`` with the largest likelihood ratio, and that ratio divided by the long-run
    variance factor at that split (0, 0.0 when ``x`` is too short or constant). A split that leaves
    a level (a piece shorter than ``linear_min``) must pass the trend guard and the effect-size gate."""
    import numpy as np

    linear_min = LINEAR_MIN if linear_min is None else linear_min
    k, statistic = split_statistics(x, min_size, linear_min)
    if k.size == 0 or not np.any(statistic > 0):
        return 0, 0.0
    best = int(np.argmax(statistic))
    split = int(k[best])
    if min(split, x.size - split) < linear_min and (
            trend_explains(x, split) or abs(superiority(x[:split], x[split:]) - 0.5) < MIN_EFFECT):
        return 0, 0.0
    return split, float(statistic[best]) / long_run_factor(x, split, min_size, linear_min)


def superiority(before: FloatArray, after: FloatArray) -> float:
    """The probability that a value of ``after`` exceeds one of ``before`` (ties count half): the
    common-language effect size, 0.5 when the two overlap completely, 0 or 1 when they do not."""
    import numpy as np

    greater = np.sum(after[:, None] > before[None, :])
    ties = np.sum(after[:, None] == before[None, :])
    return float(greater + 0.5 * ties) / (after.size * before.size)


def trend_explains(x: FloatArray, split: int) -> bool:
    """Whether one straight line fits ``x`` at least as well as two levels split at ``split``: then
    the series is a trend (or a drift), not a step, and is not cut."""
    import numpy as np

    n = x.size
    if n < 4:
        return False
    t = np.arange(n, dtype=float)
    t -= t.mean()
    centred = x - x.mean()
    denominator = float(np.dot(t, t))
    line = float(np.dot(centred, centred)) - (float(np.dot(t, centred)) ** 2 / denominator if denominator else 0.0)
    left, right = x[:split], x[split:]
    steps = float(np.sum((left - left.mean()) ** 2) + np.sum((right - right.mean()) ** 2))
    return line <= steps


def change_points(
    values: Sequence[float],
    *,
    penalty: float | None = None,
    min_size: int = MIN_SIZE,
    slopes: bool = True,
) -> list[int]:
    """Indices where a new level starts (``i`` means ``values[i]`` is the first of its segment),
    ascending. Non-finite values must be removed by the caller (a series with any gives none). A
    series without noise has a change wherever its value changes between runs of at least
    ``min_size`` equal values. With ``slopes`` (the default) a piece of ``LINEAR_MIN`` points or more
    is a line, so a change of slope is a change point and a steady trend is one segment; without,
    every piece is a level (what a verdict compares: :func:`controller.analysis.steps`)."""
    if len(values) < 2 * min_size:  # too short for any change: no numpy to import
        return []
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.size < 2 * min_size or not np.all(np.isfinite(x)):
        return []
    per_point = PENALTY if penalty is None else penalty
    found: list[int] = []
    pending = [(0, x.size)]
    while pending:
        start, end = pending.pop()
        segment = x[start:end]
        if segment.size < 2 * min_size:
            continue
        split, statistic = best_split(segment, min_size, LINEAR_MIN if slopes else LEVELS_ONLY)
        if split and statistic > threshold(segment.size, per_point):
            found.append(start + split)
            pending.extend([(start, start + split), (start + split, end)])
    return sorted(found)


def threshold(n: int, per_point: float = PENALTY) -> float:
    """What ``LR / f`` must exceed to cut a segment of ``n`` points: ``per_point * log n``, raised
    for short segments (whose within-piece variance is itself uncertain) by ``SMALL_SAMPLE / (n - 3)``."""
    return per_point * math.log(max(n, 3)) * (1.0 + SMALL_SAMPLE / max(n - 3, 1))


def segments(values: Sequence[float], points: Sequence[int]) -> list[tuple[int, int]]:
    """``(start, end)`` of each segment the change ``points`` cut ``values`` into."""
    bounds = [0, *points, len(values)]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
