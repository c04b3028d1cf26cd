"""The regression verdict: is a new execution's metric worse, better or the same as its baseline?

Pure: numbers in, a :class:`Verdict` out. :mod:`controller.baselines` chooses which executions are
the baseline; this module decides. scipy is imported only when a test needs it.

What is compared. A benchmark's samples (per-epoch or per-step values of one execution) are not
independent measurements of the run: they share the machine, the data loader, the warm-up, and the
variation *between* executions is usually larger than the variation within one. So each execution
is summarised by one number, the **median of its finite samples**, and the new execution is judged
as one more draw from the baseline executions' distribution.

Steps. The history, the new value included, is segmented by
:func:`controller.changepoints.change_points` (a scale estimated within segments, blind to trends
and serial dependence), and the baseline is only the segment since the last change point.

Two paths, and the evidence each needs:

* **one new run** against the baseline: it is a *suspect* only when it lies beyond **every**
  baseline value (a rank test: nothing about the baseline's shape is assumed, so a value of a
  bimodal or quantized metric's other mode, already seen in the baseline, is never one), *and* the
  t prediction interval ``(x - mean) / (s * sqrt(1 + 1/n))`` puts it outside at
  :data:`SINGLE_RUN_STRICTNESS` times the policy's confidence, *and* it moved by ``min_change``.
  The baseline's spread is its plain standard deviation: only one isolated broken run (the only
  value beyond :data:`OUTLIER_MADS` MADs) is set aside, so a metric's other mode keeps its spread;
* **a new level of several runs** (a change point at most ``min_history`` runs ago): the new
  segment's runs and the new one against the segment before the step, by the two-sided
  Mann-Whitney U test at the policy's confidence, and ``min_change`` between medians;
* **a change of course** (when the levels see none): the newest ``1 + confirm`` runs all outside
  their forecast from the line through the ``window`` runs before them, with the residuals' AR(1)
  continuation (the Box-Jenkins forecast), at the policy's confidence and by ``min_change``: a trend
  that starts, stops or turns (see :func:`_departure`).

A step is reported once, on the run that confirms it (the runs after it on the same new level are
``no_change``, see :func:`_already_reported`).

A change seen by fewer than ``1 + policy.confirm`` runs is ``suspected``: it turns nothing red and
fires no alert; ``anubis run`` repeats the benchmark, the cluster asks for a confirmation run, and
the next verdict (two runs of the new level) confirms it or not. ``confidence`` is ``1 - p``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:  # numpy is imported by the functions that compute: "insufficient data" needs none of it
    import numpy as np
    from numpy.typing import NDArray

from controller.changepoints import (
    LINEAR_MIN,
    MIN_EFFECT,
    change_points,
    serial_correlation,
    serial_factor,
    superiority,
    trend_explains,
)
from schemas.policy import RegressionPolicy
from schemas.summaries import finite_median

VerdictName = Literal["regression", "improvement", "suspected", "no_change", "insufficient_data"]
VERDICTS: tuple[VerdictName, ...] = ("regression", "improvement", "suspected", "no_change", "insufficient_data")
ChangeName = Literal["regression", "improvement"]

#: One execution alone is a suspect only at a confidence this many times closer to 1 (a single run
#: can be an outlier: a noisy neighbour, a cold cache).
SINGLE_RUN_STRICTNESS = 10.0

#: A single baseline execution further than this many MADs (scaled to sigma) from the median, with
#: no other beyond it, is set aside as a broken run.
OUTLIER_MADS = 5.0

FloatArray: TypeAlias = "NDArray[np.float64]"


@dataclass(frozen=True)
class BaselineSummary:
    """The baseline a verdict used. Positions index the ``history`` given to :func:`judge`."""

    executions: tuple[int, ...]  # positions of the executions that formed the baseline
    excluded: tuple[int, ...]  # positions set aside (one isolated broken run at most)
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
    runs: int = 0  # how many executions of the new level the verdict rests on
    suspects: ChangeName | None = None  # for "suspected": what it would be once confirmed
    trending: bool = False  # the new run's values still trend at its end (not in a steady state)

    @property
    def is_change(self) -> bool:
        return self.verdict in ("regression", "improvement")

    @property
    def is_alarm(self) -> bool:
        """A change, confirmed or only suspected."""
        return self.is_change or self.verdict == "suspected"


def steady_values(
    values: Sequence[float], times: Sequence[float], policy: RegressionPolicy, started_at: float | None = None
) -> list[float]:
    """A run's values without its warm-up: the first ``policy.warmup_values`` values, and those
    before ``policy.warmup_seconds`` after the run started (``started_at``; else the first value's
    time). All of them when the warm-up would leave none (the verdict then says so in its reason)."""
    kept = list(range(min(policy.warmup_values, len(values)), len(values)))
    if policy.warmup_seconds > 0.0 and len(times) == len(values) and times:
        start = started_at if started_at is not None else min(times)
        kept = [i for i in kept if times[i] - start >= policy.warmup_seconds]
    return [values[i] for i in kept] if kept else list(values)


#: The most values of a run's last half that the trend test reads (a run may log hundreds of
#: thousands; on as many, Kendall's test takes any wobble for a trend, and costs a second).
TREND_POINTS = 1000
#: From this many samples a run's values are read with numpy (a run may keep 100,000 a metric).
LONG_SAMPLES = 1000


def still_trending(values: Sequence[float]) -> bool:
    """Whether a run's values still trend at its end: the last half of its finite values (8 or
    more) has a monotone trend by Kendall's tau at p < 0.01 (warm-up not over, a leak, throttling)."""
    finite = [v for v in values if math.isfinite(v)] if len(values) < LONG_SAMPLES else _finite(values)
    tail = finite[len(finite) // 2:]
    if len(tail) > TREND_POINTS:  # evenly spaced: a trend over the half stays one, noise stays noise
        step = len(tail) / TREND_POINTS
        tail = [tail[int(i * step)] for i in range(TREND_POINTS)]
    if len(tail) < 8 or len(set(tail)) < 2:
        return False
    return trend_p_value(tail) < 0.01


def _finite(values: Sequence[float]) -> list[float]:
    import numpy as np

    x = np.asarray(values, dtype=float)
    finite: list[float] = x[np.isfinite(x)].tolist()
    return finite


def trend_p_value(values: Sequence[float]) -> float:
    """Two-sided p of Kendall's tau between ``values`` and their order (the Mann-Kendall trend
    test), by the normal approximation with the tie correction: the p of
    ``scipy.stats.kendalltau(range(n), values, method="asymptotic")``, computed here with numpy
    because importing scipy.stats costs more than a short run (a test checks the two agree)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    n = x.size
    s = float(np.sum(np.triu(np.sign(x[None, :] - x[:, None]), 1)))  # concordant less discordant pairs
    _, ties = np.unique(x, return_counts=True)
    variance = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18.0
    if variance <= 0.0:
        return 1.0
    return math.erfc(abs(s) / math.sqrt(2.0 * variance))  # 2 * the normal tail beyond |z|


def execution_value(samples: Sequence[float]) -> float | None:
    """One execution's value for a metric: the median of its finite samples (None if none)."""
    if len(samples) < LONG_SAMPLES:
        finite = [float(v) for v in samples if math.isfinite(v)]
        return finite_median(finite) if finite else None
    import numpy as np

    x = np.asarray(samples, dtype=float)
    x = x[np.isfinite(x)]
    if not x.size:
        return None
    with np.errstate(over="ignore"):  # a middle pair beyond the float range: averaged as finite_median does
        middle = float(np.median(x))  # the same value as finite_median's
    return middle if math.isfinite(middle) else finite_median(x.tolist())


#: Beyond this magnitude the squares and sums the tests take of a metric's values leave the float
#: range (a benchmark may print any finite double, up to 1.8e308): such a series is judged divided by
#: a power of two, which is exact and leaves every relative change and p-value as it is.
HUGE = 2.0 ** 500


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
        verdict = Verdict("insufficient_data", None, None, None, "there is no earlier execution to compare with", value)
    else:
        verdict = judge_series(series, value, direction, policy, positions)
    if still_trending(samples):
        return replace(verdict, trending=True,
                       reason=verdict.reason + "; the run's values still trend at its end (a warm-up not over, or still converging?)")
    return verdict


def judge_series(
    series: Sequence[float],
    value: float,
    direction: str,
    policy: RegressionPolicy,
    positions: Sequence[int] | None = None,
) -> Verdict:
    """:func:`judge` on one number per execution: ``value`` against ``series`` (oldest first).
    ``positions`` map ``series`` to the caller's indices (default: the identity).

    The new run is judged with the runs just before it as one new level (a *tail* of ``j`` runs,
    the longest first, ``j`` from ``min_history`` down to 1), each against the baseline before that
    tail: the first tail that is a change gives the verdict; else the verdict on the new run alone.

    A step is reported once: when the previous run was already a (confirmed) change in the same
    direction and is one of the runs of the new run's new level, the new run is ``no_change`` (the
    same step, reported on the run that confirmed it; see :func:`_already_reported`)."""
    largest = max(abs(value), *(abs(v) for v in series))
    if largest > HUGE:
        exponent = math.frexp(largest)[1]  # the values over 2**exponent lie within (-1, 1)
        scaled = judge_series([math.ldexp(v, -exponent) for v in series], math.ldexp(value, -exponent), direction,
                              policy, positions)
        return _scaled_back(scaled, exponent)
    where = list(range(len(series))) if positions is None else list(positions)
    verdict = _judge_once(series, value, direction, policy, where)
    if verdict.is_change and len(series) > 0:
        return _already_reported(verdict, series, direction, policy, where)
    return verdict


def _scaled_back(verdict: Verdict, exponent: int) -> Verdict:
    """A verdict on values divided by ``2**exponent``, in the values' own units (a spread beyond the
    largest double is ``inf``)."""

    def back(x: float) -> float:
        try:
            return math.ldexp(x, exponent)
        except OverflowError:
            return math.copysign(math.inf, x)

    baseline = verdict.baseline
    if baseline is not None:
        baseline = replace(baseline, center=back(baseline.center), spread=back(baseline.spread))
    return replace(verdict, baseline=baseline, value=None if verdict.value is None else back(verdict.value))


def _already_reported(
    verdict: Verdict, series: Sequence[float], direction: str, policy: RegressionPolicy, where: list[int]
) -> Verdict:
    """``verdict`` (a change), or ``no_change`` when the previous run already reported the same step:
    its own verdict (against the runs before it) was the same change, and it is one of the runs of
    the new level the new run is judged with. A step is one event: the runs after the one that
    confirmed it did not cause it, and a commit status turned red on each of them would blame
    commits that changed nothing."""
    baseline = verdict.baseline
    if baseline is None or where[-1] not in baseline.compared:
        return verdict
    previous = _judge_once(series[:-1], series[-1], direction, policy, where[:-1])
    if previous.verdict != verdict.verdict:
        return verdict
    return _reported_there(verdict, baseline.compared[0], where[-1])


def _reported_there(verdict: Verdict, step: int, reporter: int) -> Verdict:
    """``verdict`` as ``no_change``: execution #``reporter`` already reported the step from #``step``."""
    reason = (f"the same step (from execution #{step}) as execution #{reporter}'s "
              f"{verdict.verdict}, reported there once: " + verdict.reason)
    return replace(verdict, verdict="no_change", reason=reason)


def _judge_once(
    series: Sequence[float], value: float, direction: str, policy: RegressionPolicy, where: list[int],
    last_look: bool = True,
) -> Verdict:
    """:func:`judge_series` without the reported-once rule. ``last_look=False``: a step judged on the
    run its level becomes the baseline of is not checked for an earlier report (see
    :func:`_unreported`, whose own calls it spares a nesting that would grow with the history)."""
    n = len(series)
    points = steps(series, value, policy)
    # A recent step: the runs since it and the new one, as one new level, against the level before;
    # up to the run whose baseline the new level becomes (``n - p == min_history``), so that a step
    # the segmentation first sees on that run is judged once before it turns into the baseline.
    for point in (p for p in points if 0 < p and n - p <= policy.min_history):
        last = max([0, *(c for c in points if c <= point - policy.min_history)])
        verdict = _against(series, value, list(range(max(last, point - policy.window), point)),
                           list(range(point, n)), point, where, direction, policy)
        if verdict.is_change and n - point == policy.min_history and last_look:
            verdict = _unreported(verdict, series, direction, policy, where, point)
        if verdict.is_change:
            return _confirming(verdict, policy)
    # The new run alone, against the runs since the last step that leaves a full baseline.
    last = max([0, *(c for c in points if c <= n - policy.min_history)])
    verdict = _against(series, value, list(range(max(last, n - policy.window), n)), [], last, where, direction,
                       policy)
    if verdict.verdict == "no_change":
        departed = _departure(series, value, where, direction, policy)
        if departed is not None:
            return _confirming(departed, policy)
    return _confirming(verdict, policy)


def _unreported(
    verdict: Verdict, series: Sequence[float], direction: str, policy: RegressionPolicy, where: list[int], point: int
) -> Verdict:
    """``verdict`` (a step judged on the run its new level becomes the baseline of), or ``no_change``
    when a run of that level already reported it: its own verdict was the same change. The last look
    at a step is for one never reported (the segmentation saw it only now), not a second report of
    one a change of course or an earlier level verdict already made."""
    for i in range(len(series) - 1, point - 1, -1):
        previous = _judge_once(series[:i], series[i], direction, policy, where[:i], last_look=False)
        if previous.verdict == verdict.verdict:
            return _reported_there(verdict, where[point], where[i])
    return verdict


def _departure(
    series: Sequence[float], value: float, where: list[int], direction: str, policy: RegressionPolicy
) -> Verdict | None:
    """A change of course: the newest ``1 + confirm`` runs all outside their forecast from the line
    of the ``window`` runs before them, at the policy's confidence (else the new run alone, at the
    single-run strictness: at most a suspect while ``confirm`` asks for more), the runs' mean
    ``min_change`` from their forecasts' mean (the change the verdict reports, as a level's mean is
    held to it; None when neither). A trend that starts, stops or turns is a change a level test
    sees late or never.

    The forecast is the line's, plus the AR(1) continuation of its last residual: ``rho^h r`` at
    ``h`` runs ahead, with variance ``s^2 (1 - rho^(2h))`` and the line's own uncertainty, ``rho``
    the residuals' Durbin-Watson serial correlation. That is the Box-Jenkins forecast of a line
    with AR(1) noise: a wandering or curving baseline's next run is expected near its last one (a
    random walk's step is judged against its own steps), and white noise (``rho = 0``) gives the
    ordinary t prediction interval about the line."""
    whole = [*series, value]
    for runs in dict.fromkeys((1 + policy.confirm, 1)):
        start = len(whole) - runs
        before = whole[max(0, start - policy.window):start]
        if runs > len(whole) - 1 or len(before) < LINEAR_MIN:
            continue
        needed = policy.confidence if runs > 1 else 1.0 - (1.0 - policy.confidence) / SINGLE_RUN_STRICTNESS
        found = _forecast_test(before, whole[start:], needed, policy.min_change)
        if found is None:
            continue
        forecast, p_value = found
        after = whole[start:]
        change = (sum(after) / runs - sum(forecast) / runs) / abs(sum(forecast) / runs)
        worse = (change < 0) if direction == "higher" else (change > 0)
        name: ChangeName = "regression" if worse else "improvement"
        first = len(series) - runs + 1
        baseline = _line_summary(before, where, first, len(series))
        reason = (f"the newest {runs} run(s) left the course of the {len(before)} before them: "
                  f"{_percent(change)} against their forecast (confidence {1.0 - p_value:.2%}, needed {needed:.2%};"
                  f" minimum change {policy.min_change:.0%})")
        return Verdict(name, change, 1.0 - p_value, baseline, reason, sum(after) / runs, runs)
    return None


def _forecast_test(
    before: Sequence[float], after: Sequence[float], needed: float, min_change: float
) -> tuple[list[float], float] | None:
    """The forecasts of ``after`` from ``before``'s line with AR(1) residuals, and the largest two-sided
    p among ``after``'s runs, when every run lies beyond its forecast interval at ``needed`` on the
    same side and their mean is ``min_change`` from the forecasts' mean (relative to it); else None."""
    import numpy as np

    x = np.asarray(before, dtype=float)
    m = x.size
    t = np.arange(m, dtype=float)
    design = np.column_stack([np.ones(m), t])
    coefficients = np.linalg.lstsq(design, x, rcond=None)[0]
    residuals = x - design @ coefficients
    variance = float(residuals @ residuals) / (m - 2)
    rho = serial_correlation([residuals])
    ahead = np.arange(1, len(after) + 1, dtype=float)
    points = np.column_stack([np.ones(ahead.size), m - 1 + ahead])
    forecast = points @ coefficients + rho**ahead * residuals[-1]
    leverage = np.einsum("ij,jk,ik->i", points, np.linalg.inv(design.T @ design), points)
    spread = np.sqrt(variance * (1.0 - rho ** (2.0 * ahead) + leverage))
    y = np.asarray(after, dtype=float)
    difference = y - forecast
    if not (np.all(difference > 0) or np.all(difference < 0)):
        return None
    if abs(float(np.mean(difference))) < min_change * abs(float(np.mean(forecast))) or np.any(forecast == 0.0):
        return None
    if variance <= 0.0:
        return [float(f) for f in forecast], 0.0
    from scipy import special

    p_values = 2.0 * special.stdtr(m - 2, -np.abs(difference) / spread)
    p = float(np.max(p_values))
    return ([float(f) for f in forecast], p) if p <= 1.0 - needed else None


def _line_summary(before: Sequence[float], where: list[int], first: int, n: int) -> BaselineSummary:
    """The baseline of a departure verdict: the runs the line was fitted on, and the runs judged."""
    import numpy as np

    x = np.asarray(before, dtype=float)
    start = first - x.size
    return BaselineSummary(
        executions=tuple(where[i] for i in range(start, first)), excluded=(), center=float(np.mean(x)),
        spread=float(np.std(x, ddof=1)), start=where[start], change_point=None,
        compared=tuple(where[i] for i in range(first, n)),
    )


def steps(series: Sequence[float], value: float, policy: RegressionPolicy) -> list[int]:
    """Change points of the history with the new value: those of the whole series, and those of
    the newest ``window + min_history`` runs alone (a recent step is judged against the baseline
    window, not against the whole history's penalty), ascending, at most ``len(series)``."""
    whole = [*series, value]
    offset = max(0, len(whole) - policy.window - policy.min_history)
    found = set(change_points(whole, slopes=False)) | {offset + p for p in change_points(whole[offset:], slopes=False)}
    return sorted(p for p in found if p <= len(series))


def _against(
    series: Sequence[float],
    value: float,
    before_idx: list[int],
    tail: list[int],
    last: int,
    where: list[int],
    direction: str,
    policy: RegressionPolicy,
) -> Verdict:
    """The verdict on ``value`` (with the runs at ``tail``) against the runs at ``before_idx``."""
    change_at = where[last] if last > 0 else None
    if len(before_idx) < policy.min_history:
        at = f" since the change point at execution #{change_at}" if change_at is not None else ""
        return Verdict(
            "insufficient_data", None, None, None,
            f"the baseline has {len(before_idx)} execution(s){at}; at least {policy.min_history} "
            "are needed (policy min_history)",
            value,
        )
    import numpy as np  # here: "insufficient data" above needs none of it

    before = np.array([series[i] for i in before_idx], dtype=float)
    kept_mask = _inliers(before)
    kept = before[kept_mask]
    baseline = BaselineSummary(
        executions=tuple(where[i] for i, keep in zip(before_idx, kept_mask) if keep),
        excluded=tuple(where[i] for i, keep in zip(before_idx, kept_mask) if not keep),
        center=float(np.mean(kept)),
        spread=float(np.std(kept, ddof=1)) if kept.size > 1 else 0.0,
        start=where[before_idx[0]],
        change_point=change_at,
        compared=tuple(where[i] for i in tail),
    )
    after = np.array([*(series[i] for i in tail), value], dtype=float)
    return _decide(after, kept, baseline, direction, policy)


def _inliers(values: FloatArray) -> NDArray[np.bool_]:
    """Which baseline values to keep: all, except one isolated broken run (the only value beyond
    :data:`OUTLIER_MADS` MADs of the median). Two or more such values are a mode of the metric
    (bimodal, quantized): they stay, with the spread they give."""
    import numpy as np

    keep = np.ones(values.size, dtype=bool)
    if values.size < 5:
        return keep
    median = float(np.median(values))
    mad = 1.4826 * float(np.median(np.abs(values - median)))
    if mad == 0.0:
        return keep
    far = np.abs(values - median) > OUTLIER_MADS * mad
    if int(np.sum(far)) == 1:
        keep[far] = False
    return keep


def _decide(
    after: FloatArray,
    kept: FloatArray,
    baseline: BaselineSummary,
    direction: str,
    policy: RegressionPolicy,
) -> Verdict:
    import numpy as np

    mean_after = float(np.mean(after))
    difference = mean_after - baseline.center
    # The baseline's own serial dependence: the new level's 2-5 runs cannot measure it (two values
    # about their own mean always read as rho = -1, and pooled with the baseline they hid its dependence).
    factor = serial_factor(kept)
    if after.size > 1:
        # Ranks decide (Mann-Whitney, exact): one extreme run cannot carry an ordinary one with it.
        # With a short baseline the ranks cannot reach the confidence at all (2 runs beyond all of
        # 7 give p = 0.056): then, when every run of the new level is beyond every baseline run,
        # each run's own prediction-interval p decides, the weakest at the single-run strictness.
        p_value = _rank_p_value(after, kept, factor)
        needed = policy.confidence
        floor = 2.0 / math.comb(kept.size + after.size, after.size)  # the smallest p the ranks can give
        if floor > 1.0 - needed and bool(after.min() > kept.max() or after.max() < kept.min()):
            p_value = max(_prediction_p_value(float(v), baseline, factor) for v in after)
            needed = 1.0 - (1.0 - policy.confidence) / SINGLE_RUN_STRICTNESS
        beyond = abs(superiority(kept, after) - 0.5) >= MIN_EFFECT and not trend_explains(
            np.concatenate([kept, after]), kept.size)
        what = f"the newest {after.size} runs are"
    else:
        p_value = _prediction_p_value(mean_after, baseline, factor)
        needed = 1.0 - (1.0 - policy.confidence) / SINGLE_RUN_STRICTNESS
        beyond = bool(mean_after > kept.max() or mean_after < kept.min())
        what = "the new value is"
    confidence = 1.0 - p_value
    change = difference / abs(baseline.center) if baseline.center != 0.0 else None
    worse = difference < 0 if direction == "higher" else difference > 0
    significant = confidence >= needed and beyond
    practical = abs(change) >= policy.min_change if change is not None else difference != 0.0
    described = (
        f"{what} {_percent(change)} against the baseline mean of {baseline.n} run(s)"
        f" (confidence {confidence:.2%}, needed {needed:.2%};"
        f" minimum change {policy.min_change:.0%})"
    )
    runs = int(after.size)
    if difference == 0.0 or not (significant and practical):
        if difference != 0.0 and significant and not practical:
            described = "smaller than the minimum change: " + described
        elif difference != 0.0 and practical and not significant:
            described = ("within the baseline's range: " if confidence >= needed else "within the baseline's noise: ") + described
        return Verdict("no_change", change, confidence, baseline, described, mean_after, runs)
    verdict: ChangeName = "regression" if worse else "improvement"
    return Verdict(verdict, change, confidence, baseline, described, mean_after, runs)


def _confirming(verdict: Verdict, policy: RegressionPolicy) -> Verdict:
    """A change resting on fewer than ``1 + policy.confirm`` runs is only suspected."""
    if not verdict.is_change or verdict.runs >= 1 + policy.confirm:
        return verdict
    suspects: ChangeName = "regression" if verdict.verdict == "regression" else "improvement"
    reason = (f"suspected {suspects} — confirming ({verdict.runs} run(s) so far, {1 + policy.confirm} needed): "
              + verdict.reason)
    return Verdict("suspected", verdict.change, verdict.confidence, verdict.baseline, reason, verdict.value,
                   verdict.runs, suspects)


def _prediction_p_value(value: float, baseline: BaselineSummary, factor: float = 1.0) -> float:
    """Two-sided p of the t prediction interval for one new value (``n - 1`` degrees of freedom),
    the baseline's variance multiplied by its long-run ``factor``."""
    difference = value - baseline.center
    if baseline.spread == 0.0:
        return 1.0 if difference == 0.0 else 0.0
    if baseline.n < 2:
        return 1.0
    from scipy import special  # t's survival function, as scipy.stats.t.sf computes it, without stats' import

    t = difference / (baseline.spread * math.sqrt(factor * (1.0 + 1.0 / baseline.n)))
    return float(2.0 * special.stdtr(baseline.n - 1, -abs(t)))


def _two_sample_p_value(after: FloatArray, before: FloatArray, factor: float) -> float:
    """Two-sided p of the pooled two-sample t test of ``after`` against ``before``, the variance
    multiplied by the long-run ``factor`` (serial dependence makes a mean less certain)."""
    import numpy as np

    difference = float(np.mean(after) - np.mean(before))
    dof = after.size + before.size - 2
    pooled = (float(np.sum((after - after.mean()) ** 2)) + float(np.sum((before - before.mean()) ** 2))) / dof
    if pooled == 0.0:
        return 1.0 if difference == 0.0 else 0.0
    from scipy import special

    t = difference / math.sqrt(factor * pooled * (1.0 / after.size + 1.0 / before.size))
    return float(2.0 * special.stdtr(dof, -abs(t)))


def _rank_p_value(after: FloatArray, before: FloatArray, factor: float) -> float:
    """Two-sided p of the Mann-Whitney U test of ``after`` against ``before`` (exact without ties),
    its normal score divided by the square root of the long-run ``factor``."""
    import numpy as np

    if np.all(after == after[0]) and np.all(before == after[0]):
        return 1.0
    from scipy import stats

    # Exact for the small samples judged here (ties within the baseline, common for quantized
    # metrics, would send scipy to a normal approximation that is conservative for 2 runs).
    method = "exact" if after.size + before.size <= 60 else "asymptotic"
    p = float(stats.mannwhitneyu(after, before, alternative="two-sided", method=method).pvalue)
    if not math.isfinite(p):
        return 1.0
    if factor > 1.0 and p > 0.0:
        z = float(stats.norm.isf(p / 2.0)) / math.sqrt(factor)
        p = float(2.0 * stats.norm.sf(z))
    return p


def _percent(change: float | None) -> str:
    if change is None:
        return "different (the baseline mean is 0, so no relative change)"
    return f"{change:+.1%}"
