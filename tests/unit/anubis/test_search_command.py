"""`anubis search` shows a hit's text as it was printed when its output goes to a pipe or a file, and
with escape sequences removed on a terminal (a log line cannot clear the screen or change the
colours); to a pipe the terminal-text module is not imported (tests/unit/anubis/test_startup_imports.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from anubis.cli import cli
from controller.journal import ExecutionInfo, Journal, LogRow, journal_path
from schemas.status import RunStatus

HOSTILE = "epoch 3 \x1b[2J\x1b[31mdone speed=1.5"  # clear the screen, then red


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    with Journal(journal_path(data)) as journal:
        journal.record_transition(ExecutionInfo("noop-1", "noop", "noop", "local"), RunStatus.RUNNING, at=100.0)
        journal.add_lines([LogRow("noop-1", "output", 1, 101.0, HOSTILE)])
    return data


def test_a_pipe_gets_the_line_as_printed(data_dir: Path, tmp_path: Path) -> None:
    env = {"ANUBIS_DATA_DIR": str(data_dir), "ANUBIS_REPO": str(tmp_path), "FORCE_COLOR": "", "TTY_COMPATIBLE": ""}
    result = CliRunner().invoke(cli, ["search", "speed"], env=env)
    assert result.exit_code == 0, result.output
    assert HOSTILE in result.output and "noop-1 output:1" in result.output


def test_a_terminal_gets_it_without_escape_sequences(data_dir: Path, tmp_path: Path) -> None:
    env = {"ANUBIS_DATA_DIR": str(data_dir), "ANUBIS_REPO": str(tmp_path), "TTY_COMPATIBLE": "1", "NO_COLOR": "1"}
    result = CliRunner().invoke(cli, ["search", "speed"], env=env)
    assert result.exit_code == 0, result.output
    assert "noop-1 output:1" in result.output
    assert "epoch 3 done speed=1.5" in result.output
    assert "\x1b[2J" not in result.output and "\x1b[31m" not in result.output  # (NO_COLOR: rich adds no red)
