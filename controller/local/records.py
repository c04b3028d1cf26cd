"""The result record of a local execution, with this machine's reproducibility facts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from controller.local.machine import machine_facts, source_facts
from controller.records import Outcome, record_of
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.runspec import RunSpec


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
