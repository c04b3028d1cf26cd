"""Verdicts over the whole range of doubles: a series is judged the same at any scale (a power of two
divides values exactly), and values near 1.8e308, whose squares and sums leave the float range, are
judged like any others."""

from __future__ import annotations

import random

import pytest

from controller.analysis import execution_value, judge_series
from schemas.policy import RegressionPolicy


@pytest.mark.parametrize("scale", [2.0 ** 600, 1e300, 1.2e308])
def test_a_series_is_judged_alike_at_any_magnitude(scale: float) -> None:
    rng = random.Random(11)
    base = [1.0 + rng.gauss(0, 0.01) for _ in range(20)]
    policy = RegressionPolicy()
    for series, value in ((base, 1.2), ([*base, 1.2], 1.21), (base, 1.001)):
        plain = judge_series(series, value, "lower", policy)
        huge = judge_series([v * scale for v in series], value * scale, "lower", policy)
        assert huge.verdict == plain.verdict
        # multiplying by a scale that is not a power of two rounds each value: the last bits differ
        assert huge.change == pytest.approx(plain.change, rel=1e-12)
        assert huge.confidence == pytest.approx(plain.confidence, rel=1e-12)
        assert plain.baseline is not None and huge.baseline is not None
        assert huge.baseline.center == pytest.approx(plain.baseline.center * scale, rel=1e-12)


def test_an_execution_value_near_the_largest_double_is_finite() -> None:
    assert execution_value([1e308, 1.7e308]) == pytest.approx(1.35e308)
    assert execution_value([1e308] * 1500 + [1.7e308] * 1500) == pytest.approx(1.35e308)  # numpy's path
