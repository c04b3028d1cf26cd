"""Cancelling local runs: Ctrl-C, SIGTERM and ``anubis cancel``, turned into one request object.

Signal handlers do almost nothing themselves: they hand the request to a short-lived thread, so they
never take a lock that the interrupted main thread might hold.

* First Ctrl-C (SIGINT): cancel the current execution and skip the rest ("canceled by Ctrl-C").
* Second Ctrl-C: stop without the grace period (SIGKILL to the benchmark's group).
* SIGTERM after ``anubis cancel`` wrote its marker: cancel that execution (and the remaining repeats
  of its run); other runs of the same ``anubis run`` go on.
* Any other SIGTERM: as the first Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any


@dataclass(frozen=True)
class CancelRequest:
    reason: str
    stop_all: bool  # skip every remaining execution, not only the current one
    force: bool = False  # no grace period


class Cancellation:
    """Shared between the signal handlers and the runner; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request: CancelRequest | None = None
        self._listeners: list[Callable[[CancelRequest], None]] = []
        self.stop_all = False
        self.interrupted = False  # a Ctrl-C was among the requests
        self.canceled_runs: set[str] = set()  # run ids whose remaining executions are skipped

    @property
    def request(self) -> CancelRequest | None:
        with self._lock:
            return self._request

    def cancel(self, reason: str, *, stop_all: bool, force: bool = False, run_id: str | None = None) -> None:
        with self._lock:
            previous = self._request
            if previous is not None and not force:
                return
            request = CancelRequest(
                reason=previous.reason if previous else reason, stop_all=stop_all or bool(previous), force=force
            )
            self._request = request
            self.stop_all = self.stop_all or stop_all
            if run_id is not None:
                self.canceled_runs.add(run_id)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(request)

    def subscribe(self, listener: Callable[[CancelRequest], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)
            request = self._request
        if request is not None:
            listener(request)

        def unsubscribe() -> None:
            with self._lock:
                with contextlib.suppress(ValueError):
                    self._listeners.remove(listener)

        return unsubscribe

    def next_execution(self) -> None:
        """Between executions: a request that concerned only the current one is done with."""
        with self._lock:
            if not self.stop_all:
                self._request = None

    def should_skip(self, run_id: str) -> bool:
        with self._lock:
            return self.stop_all or run_id in self.canceled_runs


@contextlib.contextmanager
def signals_cancel(
    cancellation: Cancellation,
    current: Callable[[], tuple[str, str] | None],
    cancel_requested: Callable[[str], bool],
    cancel_reason: str,
) -> Iterator[None]:
    """Route SIGINT and SIGTERM to ``cancellation`` while inside the block (main thread only).

    ``current()`` gives the (execution id, run id) running now; ``cancel_requested(execution_id)``
    says whether ``anubis cancel`` asked for it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def later(**kwargs: Any) -> None:
        threading.Thread(target=lambda: cancellation.cancel(**kwargs), daemon=True).start()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        force = cancellation.interrupted
        cancellation.interrupted = True
        later(reason="canceled by Ctrl-C", stop_all=True, force=force)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        now = current()
        if now is not None and cancel_requested(now[0]):
            later(reason=cancel_reason, stop_all=False, run_id=now[1])
        else:
            later(reason="canceled by SIGTERM", stop_all=True)

    old_int = signal.signal(signal.SIGINT, on_sigint)
    old_term = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
