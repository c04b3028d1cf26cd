"""Which earlier executions a result is judged against, and the judging of a stored result.

The baseline of an execution is the history of the *same benchmark, environment and matrix point*
on the main branch, before it:

* an execution on the main branch is judged against the main branch's earlier executions;
* an execution of a pull request (or of any other branch) is judged against the main branch up to
  its merge base: the caller passes the merge base (:class:`MergeBase`: a commit, which is looked up
  among the main branch's executions, or a time), so a pull request is never judged against main's
  commits that it does not contain. Without a merge base, all of main's earlier history is used;
* when the main branch has no such history (a laptop on a feature branch), the branch's own earlier
  executions are used, and the baseline says so;
* an execution with no branch (outside a git repository) is judged against every earlier execution
  of the same benchmark, environment and matrix point.

"The main branch" means executions on the branch ``main`` *outside any pull request*: a branch's
name does not say whose it is (a fork's pull request may come from the fork's own ``main``), so a
preview run never joins the main branch's baseline. A pull request's own earlier executions (the
fallback above) are those of the same pull request.

Only SUCCEEDED executions are baseline. A baseline reset (``anubis baseline reset``) hides every
execution before it, for the metrics and environments it names. Change points within what is left
are handled by :func:`controller.analysis.judge`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from controller.analysis import Verdict, execution_value, judge, steady_values
from controller.changepoints import change_points
from controller.lazy_logging import ModuleLogger
from controller.store import (
    NO_PULL_REQUEST,
    BaselineReset,
    PullRequestFilter,
    ResetStore,
    ResultStore,
    canonical_matrix_point,
    record_time,
)
from schemas.policy import OVERRIDES_LABEL, RegressionPolicy
from schemas.results import ResultRecord
from schemas.status import RunStatus

log = ModuleLogger(__name__)  # logging imported on the first message

MAIN_BRANCH = "main"
#: How many of the newest executions are read to find a baseline (the policy's window is smaller).
HISTORY_LIMIT = 500


@dataclass(frozen=True)
class MergeBase:
    """Where a pull request's branch left the main branch: a commit, a time, or both."""

    commit: str | None = None
    time: float | None = None


@dataclass(frozen=True)
class BaselineHistory:
    """The executions a result may be judged against, oldest first, and how they were chosen."""

    executions: tuple[ResultRecord, ...]
    branch: str | None  # the branch they are from; None: any branch
    until: float | None  # nothing at or after this time (the record's, or the merge base's)
    reset: BaselineReset | None  # the latest reset that cut the history
    note: str  # how the baseline was chosen, in words


@dataclass(frozen=True)
class Judgement:
    """The verdict on one metric of a stored result, with the executions behind it."""

    metric: str
    verdict: Verdict
    history: BaselineHistory
    baseline_executions: tuple[str, ...]  # execution ids the baseline's centre was computed from
    change_point: str | None  # execution id where the baseline's segment starts after a step

    def to_dict(self) -> dict[str, object]:
        """The ``verdicts`` entry of ``anubis results --output json``."""
        v = self.verdict
        baseline = v.baseline
        return {
            "verdict": v.verdict,
            "change": v.change,
            "confidence": v.confidence,
            "value": v.value,
            "reason": v.reason,
            "still_trending": v.trending,
            "baseline": None
            if baseline is None
            else {
                "executions": list(self.baseline_executions),
                "n": baseline.n,
                "center": baseline.center,
                "spread": baseline.spread,
                "excluded": [self.history.executions[i].execution_id for i in baseline.excluded],
                "change_point": self.change_point,
                "branch": self.history.branch,
                "reset": None if self.history.reset is None else _reset_dict(self.history.reset),
                "note": self.history.note,
            },
        }


def _reset_dict(reset: BaselineReset) -> dict[str, object]:
    return {"at": reset.at, "by": reset.by, "reason": reset.reason, "metric": reset.metric,
            "environment": reset.environment}


def _time(record: ResultRecord) -> float:
    return record_time(record, math.inf)


def baseline_history(
    store: ResultStore,
    record: ResultRecord,
    *,
    metric: str | None = None,
    resets: Sequence[BaselineReset] = (),
    main_branch: str = MAIN_BRANCH,
    merge_base: MergeBase | None = None,
) -> BaselineHistory:
    """The earlier SUCCEEDED executions ``record`` is judged against (see the module's rules);
    ``resets`` cut the history for ``metric`` (every metric when ``None``: only resets of all)."""
    until = _time(record)
    on_main = record.branch == main_branch and record.pull_request is None
    branch: str | None
    if record.branch is None and record.pull_request is None:
        branch, note = None, "earlier executions (no branch recorded)"
        found = _candidates(store, record, None, None, until)
    else:
        branch, note = main_branch, f"the {main_branch} branch before this execution"
        if not on_main and merge_base is not None:
            until, note = _merge_base_time(store, record, main_branch, merge_base, until)
        found = _candidates(store, record, main_branch, NO_PULL_REQUEST, until)
        if not found and not on_main and record.branch is not None:
            branch = record.branch
            own = NO_PULL_REQUEST if record.pull_request is None else record.pull_request
            whose = "" if record.pull_request is None else f" of pull request #{record.pull_request}"
            note = f"earlier executions on branch {record.branch}{whose} (the {main_branch} branch has none)"
            found = _candidates(store, record, record.branch, own, _time(record))
    return apply_resets(BaselineHistory(tuple(found), branch, until, None, note), record, metric, resets)


def apply_resets(
    history: BaselineHistory, record: ResultRecord, metric: str | None, resets: Sequence[BaselineReset]
) -> BaselineHistory:
    """``history`` without the executions before the latest reset that applies to ``metric`` of
    ``record`` (``metric=None``: only resets of every metric apply)."""
    applicable = [
        r for r in resets
        if r.at <= _time(record)
        and r.environment in (None, record.environment)
        and (r.metric is None or r.metric == metric)
    ]
    if not applicable:
        return history
    reset = max(applicable, key=lambda r: r.at)
    kept = tuple(r for r in history.executions if _time(r) >= reset.at)
    note = history.note + f", since the baseline reset by {reset.by}"
    return BaselineHistory(kept, history.branch, history.until, reset, note)


def _candidates(
    store: ResultStore, record: ResultRecord, branch: str | None, pull_request: PullRequestFilter, until: float
) -> list[ResultRecord]:
    records = store.history(
        record.benchmark,
        environment=record.environment,
        matrix_point=record.matrix_point,
        branch=branch,
        pull_request=pull_request,
        limit=HISTORY_LIMIT,
    )
    variant = record.labels.get(OVERRIDES_LABEL)  # a --set run is judged only against the same --set runs
    return [
        r for r in records
        if r.status is RunStatus.SUCCEEDED and r.execution_id != record.execution_id and _time(r) < until
        and r.labels.get(OVERRIDES_LABEL) == variant
    ]


def _merge_base_time(
    store: ResultStore, record: ResultRecord, main_branch: str, merge_base: MergeBase, until: float
) -> tuple[float, str]:
    if merge_base.time is not None:
        return min(until, merge_base.time), f"the {main_branch} branch up to the merge base"
    if merge_base.commit:
        on_main = _candidates(store, record, main_branch, NO_PULL_REQUEST, until)
        at_base = [r for r in on_main if r.commit and r.commit.startswith(merge_base.commit)]
        if at_base:
            return (
                math.nextafter(max(_time(r) for r in at_base), math.inf),
                f"the {main_branch} branch up to the merge base {merge_base.commit[:12]}",
            )
        log.info("no execution of %s on %s at merge base %s", record.benchmark, main_branch, merge_base.commit)
    return until, f"the {main_branch} branch before this execution (no execution at the merge base)"


def judge_record(
    store: ResultStore,
    record: ResultRecord,
    policies: Mapping[str, RegressionPolicy] | None = None,
    *,
    main_branch: str = MAIN_BRANCH,
    merge_base: MergeBase | None = None,
    evidence: Sequence[ResultRecord] = (),
) -> dict[str, Judgement]:
    """A verdict for every metric of ``record`` against its baseline in ``store``, with the policies the
    record carries (``policies`` only for an older record that carries none; the default policy for a
    metric neither names). ``evidence``: earlier executions of a suspected change this one confirms
    (:mod:`controller.reporting.confirming`), judged with the baseline even where the rules above leave
    them out (a pull request's own runs)."""
    policies = record_policies(record) or policies or {}
    resets = store.resets(record.benchmark) if isinstance(store, ResetStore) else []
    everything = baseline_history(store, record, main_branch=main_branch, merge_base=merge_base)
    known = {r.execution_id for r in everything.executions}
    extra = [r for r in evidence if r.execution_id not in known and r.execution_id != record.execution_id
             and r.status is RunStatus.SUCCEEDED and _time(r) < _time(record)]
    if extra:
        everything = replace(everything, executions=tuple(sorted((*everything.executions, *extra), key=_time)))
    judgements: dict[str, Judgement] = {}
    for name, metric in record.metrics.items():
        policy = policies.get(name, RegressionPolicy())
        history = apply_resets(everything, record, name, resets)
        with_metric = [r for r in history.executions if name in r.metrics]
        scoped = BaselineHistory(tuple(with_metric), history.branch, history.until, history.reset, history.note)
        verdict = judge([_steady(r, name, policy) for r in with_metric], _steady(record, name, policy),
                        metric.direction, policy)
        baseline = verdict.baseline
        ids = tuple(with_metric[i].execution_id for i in baseline.executions) if baseline else ()
        change_point = (
            with_metric[baseline.change_point].execution_id
            if baseline is not None and baseline.change_point is not None
            else None
        )
        judgements[name] = Judgement(name, verdict, scoped, ids, change_point)
    return judgements


def _steady(record: ResultRecord, name: str, policy: RegressionPolicy) -> list[float]:
    """``record``'s values of metric ``name`` without the warm-up its policy names."""
    metric = record.metrics[name]
    return steady_values(metric.values, metric.times, policy, record.started_at)


def change_point_executions(records: Sequence[ResultRecord], metric: str) -> list[str]:
    """Execution ids (of ``records``, oldest first) where the level of ``metric`` stepped: the
    change points of the SUCCEEDED executions' values, as ``anubis history`` marks them. Each
    environment and matrix point is its own series."""
    series: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for record in records:
        if record.status is not RunStatus.SUCCEEDED or metric not in record.metrics:
            continue
        value = execution_value(record.metrics[metric].values)
        if value is not None:
            key = (record.environment, canonical_matrix_point(record.matrix_point))
            series.setdefault(key, []).append((record.execution_id, value))
    found = {points[i][0] for points in series.values() for i in change_points([v for _, v in points])}
    return [r.execution_id for r in records if r.execution_id in found]


def record_policies(record: ResultRecord) -> dict[str, RegressionPolicy] | None:
    """The policies ``record`` was judged with (kept in it since records carry them); None for an older
    record, whose policies must then be found elsewhere."""
    if record.policies is None:
        return None
    known = set(RegressionPolicy.__dataclass_fields__)
    return {name: RegressionPolicy(**{k: v for k, v in raw.items() if k in known}) for name, raw in record.policies.items()}
