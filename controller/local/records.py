"""The result record of a local execution, with its reproducibility facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.local.machine import machine_facts, source_facts
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.runspec import MetricSpec, RunSpec
from schemas.status import RunStatus


@dataclass(frozen=True)
class Outcome:
    execution_id: str
    status: RunStatus
    reason: str
    started_at: float
    finished_at: float


def build_record(
    spec: RunSpec,
    outcome: Outcome,
    *,
    metrics: Mapping[str, MetricResult],
    dataset_checksums: Mapping[str, str],
    repo_root: Path,
    host_environment: bool,
) -> ResultRecord:
    """The record of one execution: the RunSpec's identity, the outcome, this machine's facts and the
    source tree's commit (the RunSpec's source when the renderer knew it, else ``git`` here)."""
    machine = machine_facts()
    source = source_facts(repo_root)
    commit = spec.source.commit or source.commit
    repro = Reproducibility(
        descriptor_hash=spec.descriptor_hash,
        image=spec.image,
        source_commit=commit,
        source_dirty=spec.source.dirty or source.dirty,
        dataset_checksums=dict(dataset_checksums),
        python_version=machine.python_version,
        platform=machine.platform,
        cpu_model=machine.cpu_model,
        cpu_count=machine.cpu_count,
        memory_bytes=machine.memory_bytes,
        gpus=machine.gpus,
        instance_type=spec.placement.instance_type or None,
        accelerator=machine.gpus[0] if machine.gpus else None,
        node=machine.node,
        host_environment=host_environment,
    )
    return record_of(spec, outcome, backend="local", metrics=metrics, reproducibility=repro, commit=commit,
                     branch=source.branch)


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
