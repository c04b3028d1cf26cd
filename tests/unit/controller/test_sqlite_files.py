"""Opening Anubis' SQLite files: a lock SQLite reports without waiting (while several processes set a
new file up at once) is waited out, whether it comes while connecting or while migrating."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.sqlite_files import open_connection, open_migrated


def _flaky(fails: int, where: str):  # type: ignore[no-untyped-def]
    calls = {"connect": 0, "migrate": 0}

    def connect(path: Path) -> sqlite3.Connection:
        calls["connect"] += 1
        if where == "connect" and calls["connect"] <= fails:
            raise sqlite3.OperationalError("database is locked")
        return open_connection(path, 1.0, "test file")

    def migrate(conn: sqlite3.Connection) -> None:
        calls["migrate"] += 1
        if where == "migrate" and calls["migrate"] <= fails:
            raise sqlite3.OperationalError("database is locked")
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")

    return connect, migrate, calls


@pytest.mark.parametrize("where", ["connect", "migrate"])
def test_a_lock_reported_at_once_is_retried(tmp_path: Path, where: str) -> None:
    connect, migrate, calls = _flaky(3, where)
    conn = open_migrated(connect, migrate, tmp_path / "f.sqlite3", 5.0)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert calls[where] == 4
    finally:
        conn.close()


def test_a_lock_that_lasts_past_the_timeout_is_raised(tmp_path: Path) -> None:
    connect, migrate, _ = _flaky(10_000, "connect")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        open_migrated(connect, migrate, tmp_path / "f.sqlite3", 0.2)


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    calls = []

    def connect(path: Path) -> sqlite3.Connection:
        calls.append(path)
        raise sqlite3.OperationalError("unable to open database file")

    with pytest.raises(sqlite3.OperationalError, match="unable to open"):
        open_migrated(connect, lambda conn: None, tmp_path / "f.sqlite3", 5.0)
    assert len(calls) == 1
