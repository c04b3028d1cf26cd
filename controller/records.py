"""The result record of one execution, the same for both backends: its identity from the RunSpec, the
outcome the backend observed, and the rule that a required metric without a value fails the run. The
local backend adds this machine's facts (``controller/local/records.py``); the cluster controller adds
the node's (``controller/kubernetes/recording.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.results import MetricResult, Reproducibility, ResultRecord, plain
from schemas.runspec import MetricSpec, RunSpec
from schemas.status import RunStatus


@dataclass(frozen=True)
class Outcome:
    execution_id: str
    status: RunStatus
    reason: str
    started_at: float
    finished_at: float


def record_of(
    spec: RunSpec,
    outcome: Outcome,
    *,
    backend: str,
    metrics: Mapping[str, MetricResult],
    reproducibility: Reproducibility,
    commit: str | None,
    branch: str | None,
) -> ResultRecord:
    """The record of one execution from its RunSpec's identity and what the backend observed (shared
    by the local backend and the cluster controller). A run that SUCCEEDED but never gave a value to a
    metric its descriptor marks ``required`` is FAILED, saying which and by what pattern."""
    status, reason = outcome.status, outcome.reason
    missing = [m for m in never_matched(spec, metrics) if m.required]
    if status is RunStatus.SUCCEEDED and missing:
        status, reason = RunStatus.FAILED, required_reason(missing)
    return ResultRecord(
        execution_id=outcome.execution_id,
        run_id=spec.run_id,
        family_id=spec.family_id,
        benchmark=spec.benchmark,
        environment=spec.environment,
        backend=backend,
        status=status,
        reason=reason,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
        metrics=dict(metrics),
        reproducibility=reproducibility,
        matrix_point=dict(spec.matrix_point),
        labels=dict(spec.labels),
        repository=spec.source.repository,
        commit=commit,
        branch=branch,
        pull_request=spec.source.pull_request,
        descriptor_path=spec.descriptor_path,
        policies={m.name: plain(m.policy) for m in spec.all_metrics()},  # asdict without its deep copies
    )


def never_matched(spec: RunSpec, metrics: Mapping[str, MetricResult]) -> list[MetricSpec]:
    """The declared metrics (the benchmark's and the inference server's) with no value at all."""
    declared = [*spec.metrics, *(spec.server.metrics if spec.server else ())]
    return [m for m in declared if m.name not in metrics or not metrics[m.name].values]


def required_reason(missing: list[MetricSpec]) -> str:
    described = "; ".join(f"'{m.name}'" + (f" (pattern {m.pattern!r})" if m.pattern else " (emitted events only)")
                          for m in missing)
    return (f"required metric{'s' if len(missing) > 1 else ''} never matched the output: {described}; check the"
            " pattern against the benchmark's log (anubis logs), or make the metric optional")
