"""RunSpecs built directly (no descriptor needed) and an observer that records what a runner says."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.runspec import MetricSpec, Placement, RunSpec
from schemas.status import RunStatus


def make_spec(command: list[str], **changes: Any) -> RunSpec:
    values: dict[str, Any] = dict(
        run_id="r0123456789a",
        family_id="f0123456789a",
        benchmark="unit",
        descriptor_path="benchmarks/unit/descriptor.toml",
        descriptor_hash="sha256:00",
        environment="local",
        matrix_point={},
        strategy="single_node",
        execution_engine="default",
        schedule=None,
        image="python:3.11-slim",
        command=tuple(command),
        env={},
        privileged=False,
        extended_shm=False,
        placement=Placement(instance_type="local"),
        num_instances=1,
        processes_per_instance=1,
        availability_zone=None,
        aws_zone_id=None,
        timeout_seconds=120,
        data=(),
        metrics=(MetricSpec(name="speed", units="it/s", pattern=r"speed=([0-9.]+)", direction="higher"),),
        labels={},
    )
    values.update(changes)
    return RunSpec(**values)


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@dataclass
class Recorder:
    statuses: list[tuple[str, RunStatus, str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    on_status: Callable[[RunStatus], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, execution_id: str, status: RunStatus, detail: str) -> None:
        self.statuses.append((execution_id, status, detail))
        if self.on_status is not None:
            self.on_status(status)

    def output(self, chunk: bytes) -> None:
        with self.lock:
            self.chunks.append(chunk)

    def notice(self, message: str) -> None:
        self.notices.append(message)

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()

    @property
    def sequence(self) -> list[RunStatus]:
        return [s for _, s, _ in self.statuses]


