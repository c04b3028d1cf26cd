"""A metric's summary (schemas/results.py): the statistics of its finite values, computed once."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from schemas.results import MetricResult


def metric(values: tuple[float, ...]) -> MetricResult:
    return MetricResult("loss", "nats", "lower", values, tuple(float(n) for n in range(len(values))))


@pytest.mark.parametrize("offset, spread", [(0.0, 1.0), (1e9, 1e-3), (-5.0, 1e6)])
def test_the_summary_matches_the_statistics_module(offset: float, spread: float) -> None:
    rng = random.Random(3)
    values = [offset + rng.gauss(0.0, spread) for _ in range(10_000)]
    summary = metric((*values, math.nan, math.inf)).summary()
    assert summary is not None and summary.n == 10_000 and summary.last == values[-1]
    assert summary.mean == pytest.approx(statistics.fmean(values), rel=1e-15, abs=1e-12)
    assert summary.stdev == pytest.approx(statistics.stdev(values), rel=1e-12)
    assert (summary.median, summary.min, summary.max) == (statistics.median(values), min(values), max(values))


def test_the_summary_is_computed_once_and_handles_few_values() -> None:
    m = metric((2.0, 4.0, 9.0))
    assert m.summary() is m.summary()
    assert metric((5.0,)).summary().stdev == 0.0  # type: ignore[union-attr]
    assert metric((math.nan,)).summary() is None
    assert metric((1.0, 1.0, 1.0)).summary().stdev == 0.0  # type: ignore[union-attr]
