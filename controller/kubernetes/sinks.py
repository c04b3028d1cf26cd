"""What the reconcile loop reports to besides the result store: the controller's own metrics."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from schemas.runspec import RunSpec
from schemas.status import RunStatus


class MetricsSink(Protocol):
    """The controller's own series (``ControllerMetrics`` of controller.exporting.prometheus)."""

    def transition(self, status: RunStatus) -> None: ...

    def run_finished(self, status: RunStatus, duration: float | None) -> None: ...

    def watch_restart(self, kind: str, reason: str) -> None: ...

    def api_error(self, operation: str) -> None: ...

    def tracked(self, n: int) -> None: ...


@runtime_checkable
class StatusPublisher(Protocol):
    """An exporter that also publishes the status of a run while it runs (the Pushgateway's, GitHub's):
    the reconcile loop hands each transition to every exporter that is one."""

    def push_status(self, spec: RunSpec, execution_id: str, status: RunStatus) -> None: ...


class NullMetrics:
    def transition(self, status: RunStatus) -> None:
        pass

    def run_finished(self, status: RunStatus, duration: float | None) -> None:
        pass

    def watch_restart(self, kind: str, reason: str) -> None:
        pass

    def api_error(self, operation: str) -> None:
        pass

    def tracked(self, n: int) -> None:
        pass
