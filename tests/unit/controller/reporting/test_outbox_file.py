"""The GitHub outbox's file: SQLite's failures are StoreErrors that name the file and say what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.reporting.debounce import IMMEDIATE
from controller.reporting.outbox import Outbox
from controller.reporting.statuses import CommitStatus
from schemas.errors import AnubisError, StoreError

STATUS = CommitStatus(context="anubis/x", state="pending", description="running", target_url=None, run_id="r",
                      change="pending")


def test_the_file_is_created_in_wal_mode_with_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "outbox.sqlite3"
    outbox = Outbox(path)
    outbox.put_status("acme/b", "a" * 40, STATUS, IMMEDIATE)
    assert outbox.count("acme/b") == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_that_is_not_an_outbox_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"this is not a database, just some bytes " * 200)
    with pytest.raises(StoreError, match=r"Cannot open the GitHub outbox .*outbox\.sqlite3.*delete it"):
        Outbox(path)


def test_a_failing_operation_is_a_store_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = Outbox(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE outbox")
    with pytest.raises(AnubisError, match=r"The GitHub outbox .*outbox\.sqlite3 could not be written: no such table"):
        outbox.put_status("acme/b", "a" * 40, STATUS, IMMEDIATE)
    with pytest.raises(StoreError, match="could not be read"):
        outbox.count()


def test_a_folder_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="Cannot create the folder of the GitHub outbox"):
        Outbox(blocker / "outbox.sqlite3")
