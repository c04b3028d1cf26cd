"""The regression verdict: is a new execution's metric worse, better or the same as its baseline?

Pure: numbers in, a :class:`Verdict` out. :mod:`controller.baselines` chooses which executions are
the baseline; this module decides.

What is compared. A benchmark's samples (per-epoch or per-step values of one execution) are not
independent measurements of the run: they share the machine, the data loader, the warm-up, and the
variation *between* executions (another node, another clock, another build) is usually larger than
the variation within one. Pooling the samples of several executions into a Mann-Whitney or t-test
would treat hundreds of correlated points as independent and call every run a change. So each
execution is summarised by one number, the **median of its finite samples** (robust to a warm-up
epoch or a stray spike), and the new execution is judged as one more draw from the baseline
executions' distribution:

* **statistical significance**: the two-sample Student t-test between the new value(s) and the
  baseline executions' values (``scipy.stats.ttest_ind_from_stats``, pooled variance). With one new
  value this is exactly the t prediction-interval test ``(x - mean) / (s * sqrt(1 + 1/n))`` with
  ``n - 1`` degrees of freedom, which is calibrated for a handful of baseline runs where a z-score
  is not. Before the test, baseline executions further than :data:`OUTLIER_MADS` robust deviations
  (MAD) from the baseline median are set aside, so one broken run does not widen the baseline;
* **practical significance**: the relative change of the new value against the baseline mean must
  reach ``policy.min_change``; a real but tiny change is ``no_change``.

Both must hold; the direction (``higher``/``lower`` is better) then says regression or improvement.
``confidence`` is ``1 - p`` of the two-sided test; a verdict needs ``confidence >= policy.confidence``.

Steps. The history is segmented with :func:`controller.changepoints.change_points` (the new value
included), and the baseline is only the segment since the last change point: a run is never
compared across a known step. Right after a step the new segment is shorter than
``policy.min_history``; then the new segment's executions *and* the new one are tested together
against the segment before the step, so a step too small to see in one run is still reported once
a few runs confirm it, until the new level has enough history to be the baseline itself (or a
baseline reset accepts it).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from controller.changepoints import change_points
from schemas.runspec import RegressionPolicy

VerdictName = Literal["regression", "improvement", "no_change", "insufficient_data"]
VERDICTS: tuple[VerdictName, ...] = ("regression", "improvement", "no_change", "insufficient_data")

#: One execution alone is called a change only at a confidence this many times closer to 1 (a
#: single run can be an outlier: a noisy neighbour, a cold cache); two or more runs of a new level
#: (after a detected step) are judged at the policy's confidence.
SINGLE_RUN_STRICTNESS = 10.0

#: Baseline executions further than this many MADs (scaled to sigma) from the median are left out.
OUTLIER_MADS = 5.0


@dataclass(frozen=True)
class BaselineSummary:
    """The baseline a verdict used. Positions index the ``history`` given to :func:`judge`."""

    executions: tuple[int, ...]  # positions of the executions that formed the baseline
    excluded: tuple[int, ...]  # positions set aside as outliers
    center: float  # mean of the baseline executions' values
    spread: float  # their standard deviation
    start: int  # first position of the segment the baseline was taken from
    change_point: int | None  # the change point that segment starts at, if any
    compared: tuple[int, ...] = ()  # after a recent step: history positions judged with the new run

    @property
    def n(self) -> int:
        return len(self.executions)


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictName
    change: float | None  # relative change of the new value against the baseline centre
    confidence: float | None  # 1 - p of the two-sided test
    baseline: BaselineSummary | None
    reason: str
    value: float | None = None  # the new execution's value (or the new segment's mean after a step)

    @property
    def is_change(self) -> bool:
        return self.verdict in ("regression", "improvement")


def execution_value(samples: Sequence[float]) -> float | None:
    """One execution's value for a metric: the median of its finite samples (None if none)."""
    finite = [float(v) for v in samples if math.isfinite(v)]
    return statistics.median(finite) if finite else None


def judge(
    history: Sequence[Sequence[float]],
    samples: Sequence[float],
    direction: str,
    policy: RegressionPolicy,
) -> Verdict:
    """Judge ``samples`` (the new execution's values of one metric) against ``history`` (the samples
    of earlier executions on the baseline, oldest first). ``direction`` is ``higher`` or ``lower``
    (which is better)."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', not {direction!r}")
    value = execution_value(samples)
    if value is None:
        return Verdict("insufficient_data", None, None, None, "the new execution has no finite value of this metric")
    summaries = [execution_value(past) for past in history]
    positions = [i for i, v in enumerate(summaries) if v is not None]
    series = [v for v in summaries if v is not None]
    if not series:
        return Verdict("insufficient_data", None, None, None, "there is no earlier execution to compare with", value)

    # Segment the history (the new value included, so a step it continues can be located).
    points = [p for p in change_points([*series, value]) if p <= len(series)]
    last = points[-1] if points else 0
    since = series[last:]
    if last > 0 and len(since) < policy.min_history:
        # A recent step: judge the new segment (its executions and this one) against the one before.
        previous = points[-2] if len(points) > 1 else 0
        start = max(previous, last - policy.window)
        before_idx = list(range(start, last))
        after = [*since, value]
        compared = tuple(positions[i] for i in range(last, len(series)))
    else:
        start = max(last, len(series) - policy.window)
        before_idx = list(range(start, len(series)))
        after = [value]
        compared = ()
    change_at = positions[last] if last > 0 else None
    if len(before_idx) < policy.min_history:
        where = (
            f" since the change point at execution #{change_at}" if change_at is not None else ""
        )
        return Verdict(
            "insufficient_data",
            None,
            None,
            None,
            f"the baseline has {len(before_idx)} execution(s){where}; at least {policy.min_history} "
            "are needed (policy min_history)",
            value,
        )

    before = np.array([series[i] for i in before_idx])
    kept_mask = _inliers(before)
    kept = before[kept_mask]
    baseline = BaselineSummary(
        executions=tuple(positions[i] for i, keep in zip(before_idx, kept_mask) if keep),
        excluded=tuple(positions[i] for i, keep in zip(before_idx, kept_mask) if not keep),
        center=float(np.mean(kept)),
        spread=float(np.std(kept, ddof=1)) if kept.size > 1 else 0.0,
        start=positions[start],
        change_point=change_at,
        compared=compared,
    )
    return _decide(np.array(after), baseline, direction, policy)


def _inliers(values: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    """Which baseline values to keep: all, except those beyond OUTLIER_MADS robust deviations."""
    from scipy import stats  # ~1 s to import: only once a verdict needs it (not for insufficient data)

    mad = float(stats.median_abs_deviation(values, scale="normal"))
    if values.size < 3 or mad == 0.0:
        return np.ones(values.size, dtype=bool)
    result: np.ndarray = np.abs(values - np.median(values)) <= OUTLIER_MADS * mad  # type: ignore[type-arg]
    return result


def _decide(
    after: np.ndarray,  # type: ignore[type-arg]
    baseline: BaselineSummary,
    direction: str,
    policy: RegressionPolicy,
) -> Verdict:
    mean_after = float(np.mean(after))
    spread_after = float(np.std(after, ddof=1)) if after.size > 1 else 0.0
    difference = mean_after - baseline.center
    if baseline.spread == 0.0 and spread_after == 0.0:
        p_value = 1.0 if difference == 0.0 else 0.0  # no noise at all: any difference is real
    else:
        from scipy import stats

        result = stats.ttest_ind_from_stats(
            mean_after, spread_after, after.size, baseline.center, baseline.spread, baseline.n, equal_var=True
        )
        p_value = float(result.pvalue)
        if not math.isfinite(p_value):
            p_value = 1.0
    confidence = 1.0 - p_value
    change = difference / abs(baseline.center) if baseline.center != 0.0 else None
    worse = difference < 0 if direction == "higher" else difference > 0
    needed = policy.confidence if after.size > 1 else 1.0 - (1.0 - policy.confidence) / SINGLE_RUN_STRICTNESS
    significant = confidence >= needed
    practical = abs(change) >= policy.min_change if change is not None else difference != 0.0
    what = (
        f"{'the new segment (' + str(after.size) + ' runs, after the step at execution #' + str(baseline.change_point) + ')' if after.size > 1 else 'the new value'}"
    )
    described = (
        f"{what} is {_percent(change)} against the baseline mean of {baseline.n} run(s)"
        f" (confidence {confidence:.2%}, needed {needed:.2%};"
        f" minimum change {policy.min_change:.0%})"
    )
    if difference == 0.0 or not (significant and practical):
        if difference != 0.0 and significant and not practical:
            described = "smaller than the minimum change: " + described
        elif difference != 0.0 and practical and not significant:
            described = "within the baseline's noise: " + described
        return Verdict("no_change", change, confidence, baseline, described, mean_after)
    verdict: VerdictName = "regression" if worse else "improvement"
    return Verdict(verdict, change, confidence, baseline, described, mean_after)


def _percent(change: float | None) -> str:
    if change is None:
        return "different (the baseline mean is 0, so no relative change)"
    return f"{change:+.1%}"
