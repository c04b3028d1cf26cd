"""Change-point detection over a metric's history: where did the level of the series step?

The history of a benchmark is one number per execution (its median, see
:func:`controller.analysis.execution_value`). Its level moves in steps (a commit, a driver, a new
instance type), and a run must never be compared with runs across such a step: the baseline starts
after the last change point.

The method is binary segmentation with the likelihood-ratio statistic for a change in mean
(Gaussian, known variance): for a segment ``x[0:n]`` and a split ``k``,

    T(k) = (S_k - k/n S_n)^2 * n / (k (n - k)) / sigma^2

is the drop in squared error that splitting at ``k`` buys, in units of the noise variance. The best
split is kept when ``max T`` exceeds a penalty that grows with ``log n`` (BIC-like); both halves are
then searched again. ``sigma`` is estimated robustly from the first differences (see
:func:`noise_scale`), which a step barely moves. Estimated from a short series, ``sigma`` is itself
noisy (a series of ``n`` points gives it about ``0.55 (n - 1)`` degrees of freedom), and an
underestimate turns noise into steps: 6 % of 7-point series of pure noise had a false change point
with the plain penalty. The penalty therefore grows by ``SMALL_SAMPLE / dof**2`` (calibrated by
simulation so that a series of pure noise has a false change point in about 1 % of cases at every
length from 5 points up; negligible beyond 30 points). Isolated spikes are clipped to a running
median before the search, and no segment is shorter than ``min_size``, so one outlier is never a
step. Everything is numpy; a segment's statistic for every split is one vectorised expression.

``ruptures`` offers PELT and binary segmentation too; for series of tens to hundreds of points this
small, dependency-free version is as fast and lets the noise scale and the outlier handling be ours.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

#: Penalty per change point, in units of ``log n``: ``T(k)`` must exceed ``PENALTY * log(n)``.
PENALTY = 5.0
#: Extra penalty for a noise scale estimated from few points, divided by its degrees of freedom squared.
SMALL_SAMPLE = 100.0
#: Degrees of freedom of :func:`noise_scale` per point of the series (measured by simulation).
SCALE_EFFICIENCY = 0.55
#: The fewest points on each side of a change point.
MIN_SIZE = 2
#: A point further than this many noise deviations from its running median is clipped to it.
CLIP_SIGMAS = 4.0
#: The share of the smallest first differences the noise scale is estimated from.
TRIM = 0.9
#: The running median that isolated spikes are clipped to covers this many points.
MEDIAN_WINDOW = 5

FloatArray = NDArray[np.float64]


def noise_scale(values: Sequence[float] | FloatArray) -> float:
    """The noise standard deviation of a series with steps and spikes in it, from its first
    differences: the root mean square of the 90 % smallest ones (a step or a spike makes only a few
    large differences), corrected for that trimming (``scipy.stats.truncnorm``) and divided by
    sqrt(2). More stable than the differences' MAD, which needs three times the points for the same
    precision. 0.0 for fewer than three points or a constant series."""
    x = np.asarray(values, dtype=float)
    if x.size < 3:
        return 0.0
    diffs = np.abs(np.diff(x))
    kept = diffs[diffs <= np.quantile(diffs, TRIM)]
    variance = float(np.mean(kept**2)) / _trimmed_variance(TRIM)
    return math.sqrt(variance / 2.0)


@functools.cache
def _trimmed_variance(share: float) -> float:
    """The variance of a standard normal kept within its central ``share``."""
    from scipy import stats  # ~1 s to import: only once a series is long enough to need it

    bound = float(stats.norm.ppf(0.5 + share / 2))
    return float(stats.truncnorm.var(-bound, bound))


def clip_spikes(values: Sequence[float] | FloatArray, sigma: float) -> FloatArray:
    """``values`` with isolated spikes (more than :data:`CLIP_SIGMAS` sigma from the running median)
    replaced by that median. A step of two or more points is left alone, also at the series' end."""
    x = np.asarray(values, dtype=float)
    if x.size < MEDIAN_WINDOW or sigma <= 0.0:
        return x.copy()
    from scipy import ndimage

    smooth = ndimage.median_filter(x, size=MEDIAN_WINDOW, mode="nearest")
    # At each end, the median of the three outermost points: one spike there is clipped, while two
    # points of a new level (a step that has just happened) hold each other up.
    smooth[:2] = np.median(x[:3])
    smooth[-2:] = np.median(x[-3:])
    return np.where(np.abs(x - smooth) > CLIP_SIGMAS * sigma, smooth, x)


def _best_split(x: FloatArray, min_size: int) -> tuple[int, float]:
    """The split of ``x`` with the largest mean-change statistic (unscaled), and that statistic."""
    n = x.size
    k = np.arange(min_size, n - min_size + 1)
    if k.size == 0:
        return 0, 0.0
    cumulative = np.cumsum(x - x.mean())[k - 1]  # S_k - k/n S_n
    statistic = cumulative**2 * n / (k * (n - k))
    best = int(np.argmax(statistic))
    return int(k[best]), float(statistic[best])


def change_points(
    values: Sequence[float],
    *,
    penalty: float | None = None,
    min_size: int = MIN_SIZE,
    sigma: float | None = None,
) -> list[int]:
    """Indices where a new level starts (``i`` means ``values[i]`` is the first of its segment),
    ascending. Non-finite values must be removed by the caller. ``sigma`` (the noise scale) is
    estimated from the series when not given; a series without noise has a change wherever its value
    changes between runs of at least ``min_size`` equal values."""
    x = np.asarray(values, dtype=float)
    if x.size < 2 * min_size or not np.all(np.isfinite(x)):
        return []
    scale = noise_scale(x) if sigma is None else sigma
    if scale <= 0.0:
        scale = _exact_scale(x)
    clipped = clip_spikes(x, scale)
    per_point = PENALTY if penalty is None else penalty
    if sigma is None:  # an estimated scale: allow for its own error
        per_point += small_sample_penalty(x.size)
    found: list[int] = []
    pending = [(0, x.size)]
    while pending:
        start, end = pending.pop()
        segment = clipped[start:end]
        if segment.size < 2 * min_size:
            continue
        split, statistic = _best_split(segment, min_size)
        threshold = per_point * math.log(max(segment.size, 3)) * scale**2
        if split and statistic > threshold:
            found.append(start + split)
            pending.extend([(start, start + split), (start + split, end)])
    return sorted(found)


def small_sample_penalty(n: int) -> float:
    """What a noise scale estimated from ``n`` points adds to the penalty per ``log n``."""
    dof = max(SCALE_EFFICIENCY * (n - 1), 1.0)
    return SMALL_SAMPLE / dof**2


def _exact_scale(x: FloatArray) -> float:
    """A scale for a series without measurable noise: any real difference counts as a step."""
    level = float(np.max(np.abs(x))) if x.size else 0.0
    return max(level, 1.0) * 1e-9
