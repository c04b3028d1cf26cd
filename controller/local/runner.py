"""The local backend: RunSpecs executed one at a time on this machine, each giving one ResultRecord.

:class:`LocalRunner` refuses what this machine cannot run (:meth:`LocalRunner.preflight`), then runs
each RunSpec as an :class:`~controller.local.execution.Execution` with its strategy
(:mod:`controller.local.strategies`), writes ``result.json`` beside it and stores the record. The
person watching hears through a :class:`RunObserver`; the journal through an :class:`ExecutionTap`.
A benchmark runs in its image when a container engine works, else on the host (said once, and
recorded as ``host_environment``).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from controller.local.cancellation import Cancellation
from controller.local.execution import Execution, data_variable
from controller.local.hosting import (  # re-exported: where callers have always found them
    DEFAULT_GRACE_SECONDS,
    ExecutionTap,
    LocalConfig,
    QuietObserver,
    RunObserver,
    host_environment,
)
from controller.local.registry import CANCEL_REASON, Registry
from controller.local.strategies import mpi_launcher, strategy_for
from controller.store import ResultStore
from schemas.errors import BackendError
from schemas.results import ResultRecord
from schemas.runspec import RunSpec

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_GRACE_SECONDS", "ExecutionTap", "LocalConfig", "LocalRunner", "QuietObserver", "RunObserver",
           "host_environment", "new_execution_id"]


def new_execution_id(run_id: str, now: float | None = None) -> str:
    """``<run_id>-<YYYYmmddTHHMMSS>-<4 hex>`` (UTC)."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC).strftime("%Y%m%dT%H%M%S")
    return f"{run_id}-{stamp}-{secrets.token_hex(2)}"


class LocalRunner:
    """Runs RunSpecs one at a time on this machine."""

    def __init__(
        self,
        config: LocalConfig,
        *,
        store: ResultStore | None = None,
        observer: RunObserver | None = None,
        cancellation: Cancellation | None = None,
        taps: Sequence[ExecutionTap] = (),
    ) -> None:
        self.config = config
        self.taps = tuple(taps)
        self.store = store
        self.observer: RunObserver = observer or QuietObserver()
        self.cancellation = cancellation or Cancellation()
        self.registry = Registry(config.data_dir)
        self.current: tuple[str, str] | None = None  # (execution id, run id) running now
        self._said_host_environment = False

    # ---- before anything runs ------------------------------------------------------------------

    def preflight(self, spec: RunSpec) -> None:
        """Refuse, before running anything, what this machine cannot run at all."""
        if spec.strategy == "horovod" and self.config.engine is None and mpi_launcher() is None:
            raise BackendError(
                "horovod runs need an MPI launcher (mpirun) on this machine; "
                "install OpenMPI or run on a cluster environment"
            )
        if spec.execution_engine != "default":
            raise BackendError(
                f"{spec.benchmark} uses the execution engine {spec.execution_engine!r}, which runs only on "
                "a cluster environment; run it with the default engine to try it here"
            )
        if not spec.command and self.config.engine is None:
            raise BackendError(
                f"{spec.benchmark} has no command and relies on the entrypoint of {spec.image}, which needs a "
                "container engine (docker or podman) on this machine; give the descriptor a command to run "
                "it on the host"
            )

    # ---- one execution -------------------------------------------------------------------------

    def run(self, spec: RunSpec) -> ResultRecord:
        execution_id = new_execution_id(spec.run_id)
        execution = Execution(self, spec, execution_id)
        self.current = (execution_id, spec.run_id)
        try:
            record = execution.run(strategy_for(spec))
        finally:
            self.current = None
            self.registry.unregister(execution_id)
            self.cancellation.next_execution()
        # compact: json's C encoder (indent=2 takes the pure-Python one, ~0.3 s per 100,000 samples)
        (execution.dir / "result.json").write_text(json.dumps(record.to_dict(), separators=(",", ":")),
                                                   encoding="utf-8")
        if self.store is not None:
            self.store.put(record)
        return record

    def host_environment_notice(self, image: str) -> None:
        if not self._said_host_environment:
            self._said_host_environment = True
            self.observer.notice(
                f"no container engine here: running on this machine's own Python/environment instead of image {image}"
            )


__all__ = [
    "CANCEL_REASON",
    "ExecutionTap",
    "LocalConfig",
    "LocalRunner",
    "QuietObserver",
    "RunObserver",
    "data_variable",
    "new_execution_id",
]
