"""The verdict: each outcome, both directions, and the edge cases (constant series, one point, NaN
and infinity, outliers, empty samples, a step in the history)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controller.analysis import SINGLE_RUN_STRICTNESS, execution_value, judge
from schemas.runspec import RegressionPolicy

POLICY = RegressionPolicy()


def history(values: list[float], *, per_run: int = 1) -> list[list[float]]:
    return [[v] * per_run for v in values]


def noisy(n: int, level: float = 100.0, cv: float = 0.01, seed: int = 0) -> list[float]:
    return list(level * (1 + np.random.default_rng(seed).normal(0, cv, n)))


@pytest.mark.parametrize(
    ("direction", "new", "expected"),
    [
        ("higher", 80.0, "regression"),
        ("higher", 120.0, "improvement"),
        ("lower", 120.0, "regression"),
        ("lower", 80.0, "improvement"),
        ("higher", 100.3, "no_change"),
        ("lower", 99.8, "no_change"),
    ],
)
def test_verdicts_by_direction(direction: str, new: float, expected: str) -> None:
    verdict = judge(history(noisy(20)), [new], direction, POLICY)
    assert verdict.verdict == expected
    assert verdict.baseline is not None and verdict.baseline.n == 20
    assert verdict.change == pytest.approx((new - verdict.baseline.center) / verdict.baseline.center)
    if expected != "no_change":
        assert verdict.confidence is not None and verdict.confidence > 0.999


def test_a_significant_change_below_min_change_is_no_change() -> None:
    verdict = judge(history(noisy(20, cv=0.001)), [102.0], "higher", POLICY)  # 2 % but 20 sigma
    assert verdict.verdict == "no_change" and "smaller than the minimum change" in verdict.reason
    assert judge(history(noisy(20, cv=0.001)), [102.0], "higher", RegressionPolicy(min_change=0.01)).verdict == "improvement"


def test_a_large_change_within_the_noise_is_no_change() -> None:
    verdict = judge(history(noisy(20, cv=0.10)), [115.0], "lower", POLICY)
    assert verdict.verdict == "no_change" and "within the baseline's noise" in verdict.reason


def test_too_little_history_is_insufficient_data() -> None:
    verdict = judge(history([100.0] * 4), [50.0], "higher", POLICY)
    assert verdict.verdict == "insufficient_data" and "min_history" in verdict.reason
    assert verdict.confidence is None and verdict.baseline is None
    assert judge(history([100.0] * 4), [50.0], "higher", RegressionPolicy(min_history=4)).verdict == "regression"


def test_one_point_and_no_history() -> None:
    assert judge([], [1.0], "higher", POLICY).verdict == "insufficient_data"
    assert judge([[5.0]], [1.0], "higher", RegressionPolicy(min_history=1)).verdict == "regression"


def test_empty_and_non_finite_samples() -> None:
    base = history(noisy(10))
    for samples in ([], [math.nan], [math.inf, -math.inf]):
        verdict = judge(base, samples, "higher", POLICY)
        assert verdict.verdict == "insufficient_data" and "no finite value" in verdict.reason
    # NaN and infinity among the values are left out; an execution with none finite is skipped.
    assert judge(base, [math.nan, 100.0, math.inf, 100.2], "higher", POLICY).verdict == "no_change"
    assert judge([*base, [math.nan], []], [100.0], "higher", POLICY).baseline.n == 10  # type: ignore[union-attr]


def test_constant_history() -> None:
    flat = history([100.0] * 10)
    same = judge(flat, [100.0], "higher", POLICY)
    assert same.verdict == "no_change" and same.change == 0.0 and same.baseline.spread == 0.0  # type: ignore[union-attr]
    assert judge(flat, [90.0], "higher", POLICY).verdict == "regression"
    assert judge(flat, [104.0], "higher", POLICY).verdict == "no_change"  # below min_change
    zero = judge(history([0.0] * 10), [1.0], "lower", POLICY)
    assert zero.verdict == "regression" and zero.change is None  # no relative change from 0


def test_outliers_in_the_baseline_are_set_aside() -> None:
    values = noisy(20)
    values[5] = 300.0  # one broken run
    verdict = judge(history(values), [90.0], "higher", POLICY)
    assert verdict.verdict == "regression"
    assert verdict.baseline is not None and verdict.baseline.excluded == (5,)
    assert verdict.baseline.center == pytest.approx(100.0, rel=0.01)


def test_within_run_samples_are_summarised_by_their_median() -> None:
    assert execution_value([1.0, 100.0, 2.0]) == 2.0  # a warm-up epoch does not move it
    runs = [[500.0, *noisy(9, seed=i)] for i in range(10)]  # each run has a slow first epoch
    assert judge(runs, [20.0, *noisy(9, seed=99)], "higher", POLICY).verdict == "no_change"


def test_window_limits_the_baseline() -> None:
    verdict = judge(history(noisy(40)), [100.0], "higher", RegressionPolicy(window=10))
    assert verdict.baseline is not None and verdict.baseline.executions == tuple(range(30, 40))


def test_a_known_step_is_never_compared_across() -> None:
    before, after = noisy(20, 100.0, seed=1), noisy(10, 120.0, seed=2)
    verdict = judge(history(before + after), [120.5], "higher", POLICY)
    assert verdict.verdict == "no_change"
    assert verdict.baseline is not None and verdict.baseline.change_point == 20
    assert min(verdict.baseline.executions) >= 20


def test_a_recent_step_is_judged_with_the_runs_that_confirm_it() -> None:
    # 4 % step at CV 1 %: one run alone is not enough (single-run strictness), three runs are.
    policy = RegressionPolicy(min_change=0.03)
    before = noisy(20, 100.0, seed=3)
    first = judge(history(before), [96.0], "higher", policy)
    assert first.verdict in ("no_change", "regression")
    later = judge(history([*before, 96.1, 95.9]), [96.0], "higher", policy)
    assert later.verdict == "regression"
    assert later.baseline is not None and later.baseline.compared == (20, 21) and later.baseline.change_point == 20


def test_a_step_stops_being_reported_once_it_is_the_baseline() -> None:
    series = noisy(20, 100.0, seed=4) + noisy(8, 80.0, seed=5)
    verdict = judge(history(series), [80.0], "higher", POLICY)
    assert verdict.verdict == "no_change" and verdict.baseline is not None and verdict.baseline.change_point == 20


def test_single_run_strictness_shows_in_the_reason() -> None:
    verdict = judge(history(noisy(20)), [120.0], "lower", POLICY)
    needed = 1 - (1 - POLICY.confidence) / SINGLE_RUN_STRICTNESS
    assert f"needed {needed:.2%}" in verdict.reason


def test_a_bad_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="direction"):
        judge([], [1.0], "up", POLICY)


def test_aa_noise_stays_quiet() -> None:
    rng = np.random.default_rng(7)
    alarms = 0
    judged = 0
    for series in range(40):
        values = list(100 * (1 + rng.normal(0, 0.05, 30)))
        for t in range(10, 30):
            judged += 1
            alarms += judge(history(values[:t]), [values[t]], "higher", POLICY).is_change
    assert alarms / judged <= 0.01
