"""What an execution needs from whoever runs it, and nothing more: the runner's configuration, the
registry of active runs, cancellation, the person watching (:class:`RunObserver`) and the journal
(:class:`ExecutionTap`). :class:`~controller.local.runner.LocalRunner` is an :class:`ExecutionHost`;
:class:`~controller.local.execution.Execution` sees it only through this protocol, so neither module
imports the other both ways.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from controller.fetching import S3ClientFactory
from controller.local.cancellation import Cancellation
from controller.local.containers import ContainerEngine
from controller.local.logs import DEFAULT_LOG_CAP
from controller.local.registry import Registry
from schemas.runspec import RunSpec
from schemas.status import RunStatus

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 10.0


class RunObserver(Protocol):
    """What a runner tells the person watching (the command line implements it)."""

    def status(self, execution_id: str, status: RunStatus, detail: str) -> None: ...

    def output(self, chunk: bytes) -> None: ...

    def notice(self, message: str) -> None: ...


class ExecutionTap(Protocol):
    """Something that records executions as they go (the journal): told each status with its
    RunSpec, and handed each process's output with its role (``output``, ``server``)."""

    def status(self, spec: RunSpec, execution_id: str, status: RunStatus, detail: str) -> None: ...

    def output_sink(self, spec: RunSpec, execution_id: str, role: str) -> Callable[[bytes], None]: ...


class QuietObserver:
    def status(self, execution_id: str, status: RunStatus, detail: str) -> None:
        log.info("%s: %s %s", execution_id, status, detail)

    def output(self, chunk: bytes) -> None:
        pass

    def notice(self, message: str) -> None:
        log.warning("%s", message)


@dataclass(frozen=True)
class LocalConfig:
    repo_root: Path
    data_dir: Path
    cache_dir: Path
    engine: ContainerEngine | None = None
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    log_cap_bytes: int = DEFAULT_LOG_CAP
    s3_client_factory: S3ClientFactory | None = None
    host_environ: Mapping[str, str] = field(default_factory=lambda: host_environment(os.environ, sys.executable))


def host_environment(environ: Mapping[str, str], python: str) -> dict[str, str]:
    """This machine's environment for a benchmark run on the host, with the folder of the Python that
    runs anubis first on PATH: ``python3`` in a descriptor then means the environment anubis is
    installed in (its virtual environment, with NumPy and the client library), not whichever Python
    the shell would find first."""
    env = dict(environ)
    folder = str(Path(python).parent)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    if not parts or parts[0] != folder:
        env["PATH"] = os.pathsep.join([folder, *(p for p in parts if p != folder)])
    return env


class ExecutionHost(Protocol):
    """The runner as an execution sees it."""

    @property
    def config(self) -> LocalConfig: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def cancellation(self) -> Cancellation: ...

    @property
    def observer(self) -> RunObserver: ...

    @property
    def taps(self) -> Sequence[ExecutionTap]: ...

    def host_environment_notice(self, image: str) -> None: ...
