"""Reported marks are written after the reports, in order, retried, and not needed for a gone object."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from controller.kubernetes.client import JOBS, ApiStatusError, Resource
from controller.kubernetes.marking import Mark, ReportedMarks
from schemas.errors import NotFoundError


class Client:
    """Records annotate calls; fails those named in ``failures`` (name -> errors to raise first)."""

    def __init__(self, failures: dict[str, list[Exception]] | None = None, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.failures = failures or {}
        self.gate = gate

    def annotate(self, resource: Resource, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        self.calls.append((name, dict(annotations)))
        errors = self.failures.get(name)
        if errors:
            raise errors.pop(0)


def wait(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.005)
    assert predicate(), "timed out"  # type: ignore[operator]


def test_marks_are_written_in_order_without_holding_up_the_caller() -> None:
    gate = threading.Event()
    client = Client(gate=gate)
    marks = ReportedMarks(client)  # type: ignore[arg-type]
    marks.start()
    for i in range(3):
        marks.add(Mark(JOBS, "ns", f"job-{i}", f"job-{i}-abc"))  # returns while the API is not answering
    assert marks.pending() == 3
    gate.set()
    wait(lambda: marks.pending() == 0)
    assert client.calls == [(f"job-{i}", {"anubis.dev/reported": f"job-{i}-abc"}) for i in range(3)]
    assert marks.written == 3
    marks.stop(1)


def test_a_refused_mark_is_tried_again_later_and_a_gone_object_needs_none() -> None:
    client = Client({"flaky": [ApiStatusError(503, "unavailable")], "gone": [NotFoundError("gone")]})
    marks = ReportedMarks(client, retry_seconds=0.05)  # type: ignore[arg-type]
    marks.start()
    marks.add(Mark(JOBS, "ns", "flaky", "flaky-1"))
    marks.add(Mark(JOBS, "ns", "gone", "gone-1"))
    wait(lambda: marks.pending() == 0)
    assert [name for name, _ in client.calls] == ["flaky", "gone", "flaky"]
    assert marks.written == 1
    marks.stop(1)


def test_a_mark_refused_every_time_is_given_up_after_its_attempts() -> None:
    client = Client({"down": [ApiStatusError(500, "down") for _ in range(10)]})
    marks = ReportedMarks(client, attempts=3, retry_seconds=0.01)  # type: ignore[arg-type]
    marks.start()
    marks.add(Mark(JOBS, "ns", "down", "down-1"))
    wait(lambda: marks.pending() == 0)
    assert len(client.calls) == 3 and marks.written == 0
    marks.stop(1)


def test_stop_writes_the_marks_already_due() -> None:
    client = Client()
    marks = ReportedMarks(client)  # type: ignore[arg-type]
    marks.start()
    for i in range(20):
        marks.add(Mark(JOBS, "ns", f"job-{i}", f"e-{i}"))
    marks.stop(5)
    assert len(client.calls) == 20


def test_marks_wait_while_the_controller_is_busy() -> None:
    """Reports go first: a due mark is written once the work is done."""
    busy = threading.Event()
    busy.set()
    client = Client()
    marks = ReportedMarks(client, busy=busy.is_set, hold_seconds=60)  # type: ignore[arg-type]
    marks.start()
    marks.add(Mark(JOBS, "ns", "job-0", "e-0"))
    time.sleep(0.3)
    assert client.calls == [] and marks.pending() == 1
    busy.clear()
    wait(lambda: marks.pending() == 0)
    assert [name for name, _ in client.calls] == ["job-0"]
    marks.stop(1)


def test_a_steady_load_holds_no_mark_longer_than_hold_seconds() -> None:
    client = Client()
    marks = ReportedMarks(client, busy=lambda: True, hold_seconds=0.2)  # type: ignore[arg-type]
    marks.start()
    asked = time.monotonic()
    marks.add(Mark(JOBS, "ns", "job-0", "e-0"))
    wait(lambda: marks.pending() == 0)
    assert time.monotonic() - asked >= 0.2
    assert [name for name, _ in client.calls] == ["job-0"]
    marks.stop(1)


def test_stop_writes_the_marks_due_even_while_busy() -> None:
    client = Client()
    marks = ReportedMarks(client, busy=lambda: True, hold_seconds=60)  # type: ignore[arg-type]
    marks.start()
    for i in range(5):
        marks.add(Mark(JOBS, "ns", f"job-{i}", f"e-{i}"))
    marks.stop(5)
    assert len(client.calls) == 5
