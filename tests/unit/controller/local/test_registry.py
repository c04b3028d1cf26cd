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
