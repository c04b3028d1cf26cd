"""`anubis --help` is laid out as wide as click would make it: :func:`anubis.cli.help_width` hands the
root context the width click's ``HelpFormatter`` computes when given none (so that click need not
import shutil), whatever ``$COLUMNS``, the terminal and click's test runner say."""

from __future__ import annotations

import os
import sys

import click
import pytest
from click import formatting
from click.testing import CliRunner

from anubis.cli import cli, help_width


@pytest.fixture(autouse=True)
def _no_forced_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Click's own default, whatever an earlier test's runner left in it."""
    monkeypatch.setattr(formatting, "FORCED_WIDTH", None)


@pytest.mark.parametrize("columns", [None, "40", "60", "79", "80", "81", "100", "200", "0", "-3", "wide", ""])
def test_the_width_is_clicks_own(monkeypatch: pytest.MonkeyPatch, columns: str | None) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert help_width() == formatting.HelpFormatter().width


def test_the_width_follows_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """No $COLUMNS: stdout's terminal decides, as for shutil.get_terminal_size; none (a pipe): 80."""
    monkeypatch.delenv("COLUMNS", raising=False)
    for size in (os.terminal_size((64, 24)), os.terminal_size((0, 0))):
        monkeypatch.setattr(os, "get_terminal_size", lambda fd, size=size: size)
        assert help_width() == formatting.HelpFormatter().width == max(min(size.columns or 80, 80) - 2, 50)

    def no_terminal(fd: int) -> os.terminal_size:
        raise OSError("not a terminal")

    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    assert help_width() == formatting.HelpFormatter().width == 78
    monkeypatch.setattr(sys, "__stdout__", None)
    assert help_width() == formatting.HelpFormatter().width == 78


def test_clicks_forced_width_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formatting, "FORCED_WIDTH", 120)
    assert help_width() == formatting.HelpFormatter().width == 120


def test_every_subcommand_inherits_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    with cli.make_context("anubis", ["list", "--help"], resilient_parsing=True) as root:
        assert root.terminal_width == 58
        command = cli.get_command(root, "list")
        assert isinstance(command, click.Command)
        with command.make_context("list", [], parent=root, resilient_parsing=True) as sub:
            assert sub.terminal_width == 58 and sub.make_formatter().width == 58
    wide = CliRunner().invoke(cli, ["list", "--help"], terminal_width=200)
    assert max(len(line) for line in wide.output.splitlines()) > 80  # the runner's width reached it
