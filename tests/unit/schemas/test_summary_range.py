"""A run's summary over the whole range of doubles: a benchmark may print any finite value, up to
1.8e308, and the sums a mean and a standard deviation take of such values leave the float range."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from schemas.results import MetricResult


def summary(values: list[float]) -> tuple[float, float, float]:
    s = MetricResult("speed", "it/s", "higher", tuple(values), tuple(range(len(values)))).summary()
    assert s is not None
    return s.mean, s.median, s.stdev


def test_ordinary_values_are_summarised_as_statistics_does() -> None:
    rng = random.Random(7)
    for _ in range(300):
        values = [rng.gauss(0, 1) * 10 ** rng.randint(-6, 6) for _ in range(rng.randint(2, 40))]
        mean, median, stdev = summary(values)
        assert mean == math.fsum(values) / len(values)
        assert median == statistics.median(values)
        assert stdev == pytest.approx(statistics.stdev(values), rel=1e-12)


def test_values_near_the_largest_double_are_summarised() -> None:
    values = [1e308] * 5 + [1.7976931348623157e308]  # fsum of these raised OverflowError
    mean, median, stdev = summary(values)
    assert mean == pytest.approx(statistics.fmean([v / 1e300 for v in values]) * 1e300, rel=1e-12)
    assert median == 1e308
    assert stdev == pytest.approx(statistics.stdev([v / 1e300 for v in values]) * 1e300, rel=1e-12)
    assert summary([1e308, 1.7e308])[1] == pytest.approx(1.35e308)  # the middle pair's sum overflows


def test_a_spread_beyond_the_largest_double_is_infinite_not_an_error() -> None:
    mean, median, stdev = summary([-1.7e308, 1.7e308])
    assert (mean, median, stdev) == (0.0, 0.0, math.inf)
