"""The GitHub client's pacing (controller/reporting/pacing.py): a second between writes, 80 a minute,
500 an hour (GitHub's documented secondary limits), reads never held by the write budget, and a
pause that holds every request."""

from __future__ import annotations

import pytest

from controller.reporting.pacing import Pacer, WriteBudget


def _send(pacer: Pacer, method: str, now: float) -> float:
    """Send at the earliest allowed time from ``now``; returns when it went."""
    at = now + pacer.wait_before(method, now)
    pacer.sent(method, at)
    return at


def test_writes_a_second_apart_reads_not_held() -> None:
    pacer = Pacer()
    assert _send(pacer, "POST", 100.0) == 100.0
    assert pacer.wait_before("PATCH", 100.2) == pytest.approx(0.8)
    assert pacer.wait_before("GET", 100.2) == 0.0
    assert _send(pacer, "patch", 100.2) == 101.0


def test_eighty_a_minute_and_five_hundred_an_hour() -> None:
    pacer = Pacer(WriteBudget(min_interval=0.0))
    times = [_send(pacer, "POST", 0.0) for _ in range(81)]
    assert times[:80] == [0.0] * 80 and times[80] == 60.0
    pacer = Pacer(WriteBudget(min_interval=0.0, per_minute=0))
    times = [_send(pacer, "POST", float(i)) for i in range(501)]
    assert times[499] == 499.0 and times[500] == 3600.0


def test_old_writes_are_forgotten() -> None:
    pacer = Pacer(WriteBudget(per_hour=2))
    _send(pacer, "POST", 0.0)
    _send(pacer, "POST", 10.0)
    assert pacer.wait_before("POST", 20.0) == 3580.0
    assert pacer.wait_before("POST", 3600.0) == 0.0


def test_a_pause_holds_reads_and_writes() -> None:
    pacer = Pacer()
    pacer.pause_until(130.0)
    assert pacer.wait_before("GET", 100.0) == 30.0
    assert pacer.wait_before("POST", 100.0) == 30.0
    pacer.pause_until(110.0)  # an earlier end never shortens a pause
    assert pacer.paused_until == 130.0
