"""Change-point detection over a metric's history: where did the level of the series step?

The history of a benchmark is one number per execution (its median, see
:func:`controller.analysis.execution_value`). Its level moves in steps (a commit, a driver, a new
instance type), and a run must never be compared with runs across such a step: the baseline starts
after the last change point.

The method is binary segmentation. For a segment ``x[0:n]`` and a split ``k`` the statistic is the
Gaussian likelihood ratio for a change in mean **with the variance estimated within the two
pieces** (the two-sample t statistic, in likelihood form):

    LR(k) = n log(RSS_0 / RSS_k)          RSS_0: squares about the segment's mean,
                                           RSS_k: squares about each piece's own mean

so the noise scale is whatever is left *inside* the pieces: the full spread of a bimodal or
quantized metric, never a trimmed or step-to-step one. The best split is kept when ``LR / f``
exceeds ``PENALTY * log n`` (a BIC-like penalty), where ``f`` is the **long-run variance factor**
``(1 + rho) / (1 - rho)`` of the residuals inside the pieces (``rho`` their lag-one
autocorrelation, 0 when negative). A real step leaves white residuals on each side (``f`` near 1);
a trend, a drift, a random walk or a seasonal swing leaves residuals that follow each other
(``rho`` near 1, ``f`` large), and the split is not made: such a series is not carved into a
staircase. Two more guards: a split is refused when one straight line fits the segment as well
as the two levels (:func:`trend_explains`), and when the two levels' values overlap too much
(:func:`superiority`, an effect-size gate), so one outlier at the end of a series is not a step.
No segment is shorter than ``MIN_SIZE`` points, and both halves of a kept split are searched again.

The constants, argued in docs/regressions.md, were chosen on synthetic series (not on the real
ones the detector is scored against): ``PENALTY`` and ``SMALL_SAMPLE`` (a false change point in
at most about 1 % of series of pure noise, at every length), ``MIN_EFFECT``, ``MIN_SIZE`` and
``MAX_RHO``.

numpy only; a segment's statistic for every split is one vectorised expression.
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
#: The largest lag-one autocorrelation taken at face value (``f`` is at most 19).
MAX_RHO = 0.9

FloatArray: TypeAlias = "NDArray[np.float64]"


def split_statistics(x: FloatArray, min_size: int = MIN_SIZE) -> tuple[NDArray[np.int64], FloatArray]:
    """For every allowed split ``k`` of ``x`` (``min_size <= k <= n - min_size``), ``LR(k)``: the
    likelihood ratio of a change in mean at ``k`` with a variance estimated within the pieces."""
    import numpy as np

    n = x.size
    k = np.arange(min_size, n - min_size + 1)
    if k.size == 0:
        return k, np.zeros(0)
    centred = x - x.mean()
    rss0 = float(np.sum(centred**2))
    cumulative = np.cumsum(centred)[k - 1]  # S_k - k/n S_n
    explained = cumulative**2 * n / (k * (n - k))  # RSS_0 - RSS_k
    rss = np.maximum(rss0 - explained, rss0 * 1e-12)
    if rss0 <= 0.0:
        return k, np.zeros(k.size)
    return k, n * np.log(rss0 / rss)


def long_run_factor(x: FloatArray, split: int, min_size: int = MIN_SIZE) -> float:
    """``(1 + rho) / (1 - rho)``: how much serial dependence inflates the variance of a mean (1 for
    white noise). ``rho`` is the lag-one autocorrelation of the residuals of ``x`` about the means of
    ``x[:split]`` and ``x[split:]``, each piece cut once more at its own best split first, so that
    another step elsewhere in the segment is not taken for serial dependence."""
    import numpy as np

    pieces = []
    for piece in (x[:split], x[split:]):
        k, statistic = split_statistics(piece, min_size)
        cut = int(k[int(np.argmax(statistic))]) if k.size and np.any(statistic > 0) else 0
        for part in ((piece[:cut], piece[cut:]) if cut else (piece,)):
            pieces.append(part - part.mean())
    return _factor(pieces)


def serial_factor(before: FloatArray, after: FloatArray | None = None) -> float:
    """The long-run variance factor of residuals about the mean of ``before`` and of ``after``
    (when given), without further cuts: a baseline that trends, drifts or wanders has residuals
    that follow each other, and a mean is that much less certain."""
    pieces = [before - before.mean()] + ([after - after.mean()] if after is not None and after.size else [])
    if before.size <= 2:
        return 1.0
    factor = _factor(pieces)
    # Only serial dependence that white noise would rarely show (rho beyond 2 / sqrt(n)) counts.
    rho = (factor - 1.0) / (factor + 1.0)
    return factor if rho > 2.0 / math.sqrt(sum(p.size for p in pieces)) else 1.0


def _factor(pieces: Sequence[FloatArray]) -> float:
    import numpy as np

    lagged = sum(float(np.dot(p[1:], p[:-1])) for p in pieces if p.size > 1)
    total = sum(float(np.dot(p, p)) for p in pieces)
    if total <= 0.0:
        return 1.0
    rho = min(max(lagged / total, 0.0), MAX_RHO)
    return (1.0 + rho) / (1.0 - rho)


def best_split(x: FloatArray, min_size: int = MIN_SIZE) -> tuple[int, float]:
    """The split of ``x`` with the largest likelihood ratio, and that ratio divided by the long-run
    variance factor at that split (0, 0.0 when ``x`` is too short or constant)."""
    import numpy as np

    k, statistic = split_statistics(x, min_size)
    if k.size == 0 or not np.any(statistic > 0):
        return 0, 0.0
    best = int(np.argmax(statistic))
    split = int(k[best])
    if trend_explains(x, split) or abs(superiority(x[:split], x[split:]) - 0.5) < MIN_EFFECT:
        return 0, 0.0
    return split, float(statistic[best]) / long_run_factor(x, split)


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
) -> list[int]:
    """Indices where a new level starts (``i`` means ``values[i]`` is the first of its segment),
    ascending. Non-finite values must be removed by the caller (a series with any gives none). A
    series without noise has a change wherever its value changes between runs of at least
    ``min_size`` equal values."""
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
        split, statistic = best_split(segment, min_size)
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
