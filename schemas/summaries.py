"""The summary of a run's values of one metric — mean, median, sample standard deviation — over the
whole range of doubles, shared by the result record (:class:`schemas.results.MetricResult`), the
verdict (:func:`controller.analysis.execution_value`) and ``anubis analyze``. Only :mod:`math`: the
verdict's module imports it without the record's classes.

A benchmark may print any finite double, up to 1.8e308: a sum or a difference of such values leaves
the float range (``math.fsum`` raises OverflowError, a subtraction gives inf), so each summary falls
back to the values divided by the largest magnitude among them, where every sum stays finite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def finite_mean(values: Sequence[float]) -> float:
    """The mean, correctly rounded (``fsum``); of values whose sum leaves the float range, computed on
    them scaled down."""
    try:
        return math.fsum(values) / len(values)
    except OverflowError:
        scale = max(abs(v) for v in values)
        return math.fsum(v / scale for v in values) / len(values) * scale


def finite_median(values: Sequence[float]) -> float:
    """:func:`statistics.median`'s value; the middle pair averaged without overflowing."""
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    low, high = ordered[n // 2 - 1], ordered[n // 2]
    middle = (low + high) / 2
    return middle if math.isfinite(middle) else low / 2 + high / 2


def sample_stdev(values: Sequence[float], mean: float) -> float:
    """The sample standard deviation, to within a few ulps of :func:`statistics.stdev` (which sums
    exact fractions: ~0.1 s for 100,000 values); two passes with compensated sums. Over values whose
    squared deviations leave the float range, computed on them scaled down (and ``inf`` when the
    deviation itself is beyond the largest double)."""
    n = len(values)
    if n < 2:
        return 0.0
    try:
        deviations = [v - mean for v in values]
        squares = math.fsum(d * d for d in deviations)
        drift = math.fsum(deviations)  # what rounding left in the mean
        spread = math.sqrt(max(squares - drift * drift / n, 0.0) / (n - 1))
    except OverflowError:
        spread = math.inf
    if math.isfinite(spread):
        return spread
    scale = max(abs(v) for v in values)
    return sample_stdev([v / scale for v in values], mean / scale) * scale
