"""The reported mark (``anubis.dev/reported: <execution id>``), written after the report, off its path.

A run is reported once: its result stored (``put`` refuses an execution id already stored) and
exported. The mark on its Job or MPIJob then tells a controller that starts later (or a second
replica) that there is nothing left to do. The running controller does not need it: it forgets the
run as it reports it. So the mark need not hold up the next report: :class:`ReportedMarks` writes
marks from a thread of its own, in the order they were asked for, while the workers go on reporting
(in a burst of a thousand completions, the merge patch was a third of every report's time).

Reports go first: while the controller has work queued or under way (``busy``), a mark that is due
waits, for :attr:`ReportedMarks.hold_seconds` at most, so that a burst of completions is reported
before its marks are written (each mark is a PATCH for the API, and its echo, the whole object again,
a watch event for the controller: in a burst of a thousand completions, written alongside the
reports, they took about a third of the controller's CPU while the results waited). A steady stream
of work holds no mark longer than that.

A mark that fails after the client's own retries (:data:`~controller.kubernetes.client.KUBERNETES_RETRY`)
is tried again :attr:`ReportedMarks.retry_seconds` later, up to :attr:`ReportedMarks.attempts`
times; an object that is gone needs none. A mark never written (the controller stopped first, or the
API refused it each time) costs what a controller killed between ``put`` and the mark costs: the next
controller reports the run again, finds its result stored, exports it again (exports are idempotent)
and marks it. Nothing is lost, nothing is stored twice.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.kubernetes.client import KubeClient, Resource
from controller.kubernetes.observed import REPORTED_ANNOTATION
from schemas.errors import AnubisError, NotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mark:
    resource: Resource
    namespace: str
    name: str
    execution_id: str


class ReportedMarks:
    """Writes reported marks in the background: :meth:`add` returns at once."""

    POLL_SECONDS = 0.05
    """How often a mark held back by ``busy`` looks again."""

    def __init__(self, client: KubeClient, *, attempts: int = 4, retry_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, busy: Callable[[], bool] | None = None,
                 hold_seconds: float = 5.0) -> None:
        """``busy``: whether the controller has work queued or under way (marks wait for it, up to
        ``hold_seconds`` each)."""
        self.client = client
        self.attempts = attempts
        self.retry_seconds = retry_seconds
        self.hold_seconds = hold_seconds
        self._clock = clock
        self._busy = busy
        self._draining = False  # stopping: the marks due are written without waiting for the work
        self._ready = threading.Condition()
        self._due: list[tuple[float, int, int, Mark]] = []  # (when, order, attempt, mark): a heap
        self._order = itertools.count()
        self._writing = 0  # marks taken from the heap and not yet written
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.written = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reported-marks", daemon=True)
        self._thread.start()

    def add(self, mark: Mark) -> None:
        self._push(mark, 1, self._clock())

    def _push(self, mark: Mark, attempt: int, when: float) -> None:
        with self._ready:
            first = not self._due or when < self._due[0][0]
            heapq.heappush(self._due, (when, next(self._order), attempt, mark))
            if first:  # the writer waits for the earliest mark only: a later one needs no wake-up
                self._ready.notify_all()

    def pending(self) -> int:
        """Marks asked for and not yet written (nor given up)."""
        with self._ready:
            return len(self._due) + self._writing

    def stop(self, timeout: float) -> None:
        """Write the marks that are due within ``timeout`` seconds, then stop."""
        deadline = time.monotonic() + timeout
        with self._ready:
            self._draining = True
            self._ready.notify_all()
            while self._thread is not None and (self._writing or any(w <= self._clock() for w, *_ in self._due)):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(min(left, 0.1))
            self._stopping = True
            self._ready.notify_all()
            if self._due:
                log.info("%d reported mark(s) not written: a controller started later reports those runs "
                         "again (their results are stored; exports are idempotent) and marks them", len(self._due))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._stopping and (not self._due or self._due[0][0] > self._clock()):
                    self._ready.wait(None if not self._due else max(0.0, self._due[0][0] - self._clock()))
                if self._stopping:
                    return
                held = self._clock() - self._due[0][0]
                draining = self._draining
            if not draining and held < self.hold_seconds and self._busy is not None and self._busy():
                with self._ready:  # the work goes first: look again in a moment (or when stopping)
                    if not self._draining:
                        self._ready.wait(min(self.POLL_SECONDS, self.hold_seconds - held))
                continue
            with self._ready:
                if self._stopping or not self._due:
                    continue
                _, _, attempt, mark = heapq.heappop(self._due)
                self._writing += 1
            try:
                self._write(mark, attempt)
            except Exception:  # noqa: BLE001 - one mark's trouble never stops the others
                log.exception("marking %s %s/%s reported failed", mark.resource.kind, mark.namespace, mark.name)
            finally:
                with self._ready:
                    self._writing -= 1
                    self._ready.notify_all()

    def _write(self, mark: Mark, attempt: int) -> None:
        try:
            self.client.annotate(mark.resource, mark.namespace, mark.name, {REPORTED_ANNOTATION: mark.execution_id})
        except NotFoundError:
            return  # deleted since: nothing left to mark
        except AnubisError as e:
            if attempt < self.attempts:
                log.warning("marking %s %s/%s reported failed (%s); trying again in %gs", mark.resource.kind,
                            mark.namespace, mark.name, e, self.retry_seconds)
                self._push(mark, attempt + 1, self._clock() + self.retry_seconds)
            else:
                log.error("marking %s %s/%s reported failed %d times (%s); a controller started later reports it "
                          "again (its result is stored once) and marks it", mark.resource.kind, mark.namespace,
                          mark.name, attempt, e)
            return
        with self._ready:
            self.written += 1
