"""The registry of active runs that `anubis cancel` reads."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from controller.local.registry import ActiveRun, Registry
from schemas.errors import NotFoundError


def entry(execution_id: str, run_id: str, pid: int | None = None, host: str | None = None) -> ActiveRun:
    return ActiveRun(execution_id, run_id, "bench", pid or os.getpid(), None, host or platform.node(), 0.0)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_resolve_by_id_run_and_prefix(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.register(entry("runa-20260101T000000-aaaa", "runa"))
    registry.register(entry("runa-20260101T000001-bbbb", "runa"))
    registry.register(entry("runb-20260101T000000-cccc", "runb"))
    assert [r.execution_id for r in registry.resolve("runa-20260101T000000-aaaa")] == ["runa-20260101T000000-aaaa"]
    assert len(registry.resolve("runa")) == 2  # a run id: all its executions
    assert [r.execution_id for r in registry.resolve("runb-2026")] == ["runb-20260101T000000-cccc"]
    with pytest.raises(NotFoundError, match="ambiguous"):
        registry.resolve("run")
    with pytest.raises(NotFoundError, match="no active local run matches 'zzz'"):
        registry.resolve("zzz")


def test_stale_and_foreign_entries(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.register(entry("gone-1", "gone", pid=dead_pid()))
    registry.register(entry("elsewhere-1", "elsewhere", host="another-host"))
    assert registry.active() == []
    assert not (tmp_path / "active" / "gone-1.json").exists()  # cleaned up
    assert (tmp_path / "active" / "elsewhere-1.json").exists()  # not ours to judge


def test_unregister_removes_the_cancel_marker(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    run = entry("x-1", "x", pid=dead_pid())
    registry.register(run)
    registry.cancel(run)  # its anubis run is gone and it has no group: just cleaned up
    assert not registry.cancel_requested("x-1")
    assert registry.wait_finished("x-1", timeout=1)


def test_an_orphan_is_recorded_as_error_and_its_tagged_processes_stopped(tmp_path: Path) -> None:
    """Issue 15 item 11: an entry whose ``anubis run`` is gone is never active; what it left running
    (found by its process tag) is stopped, and the journal records ERROR "anubis run was killed"."""
    from controller.journal import ExecutionInfo, Journal
    from controller.local.lifeline import TAG_VARIABLE
    from controller.local.processes import wait_gone
    from controller.local.registry import journal_orphans
    from schemas.status import RunStatus

    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                env={**os.environ, TAG_VARIABLE: "t0ag"}, start_new_session=True)
    try:
        with Journal(tmp_path / "journal.sqlite3") as journal:
            journal.record_transition(ExecutionInfo("x-1", "x", "bench", "local"), RunStatus.RUNNING)
            registry = Registry(tmp_path, on_orphan=journal_orphans(journal))
            registry.register(ActiveRun("x-1", "x", "bench", dead_pid(), leftover.pid, platform.node(), 0.0, "t0ag"))
            assert registry.active() == []
            entry = journal.get("x-1")
            assert entry.status is RunStatus.ERROR and "anubis run was killed" in entry.reason
            assert "was stopped" in entry.reason
        leftover.wait(timeout=10)
        assert wait_gone(leftover.pid, 10)
        assert not (tmp_path / "active" / "x-1.json").exists()
    finally:
        leftover.kill()
        leftover.wait(timeout=10)


def test_a_reused_pid_is_not_the_anubis_run_that_registered(tmp_path: Path) -> None:
    """The entry names its ``anubis run`` by pid *and* start time: a later process that got the same
    pid (here: this one, with another start time) does not keep an orphan looking active."""
    from controller.local.processes import start_ticks

    registry = Registry(tmp_path)
    mine = ActiveRun.of_this_process("me-1", "me", "bench", None, platform.node(), 0.0)
    assert mine.pid == os.getpid() and mine.pid_started == start_ticks(os.getpid()) is not None
    registry.register(mine)
    impostor = ActiveRun("old-1", "old", "bench", os.getpid(), None, platform.node(), 0.0, None,
                         (mine.pid_started or 0) - 1)
    registry.register(impostor)
    assert [r.execution_id for r in registry.active()] == ["me-1"]
