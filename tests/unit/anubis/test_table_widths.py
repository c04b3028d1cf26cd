"""Tables fit the terminal without cutting a value: least important columns are left out (and the table
says which), text wraps, numbers keep their width; to a pipe the whole table is printed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

import anubis.commands.list_runs as list_command
from anubis.cli import cli
from anubis.presenting.tables import Cell, Column, TableView, print_table

DESCRIPTOR = """\
spec_version = "0.1.0"

[info]
description = "Widths."

[info.labels]
task_name = "w"

[hardware]
instance_type = "t3.small"

[env]
docker_image = "python:3.11-slim"

[ml]
benchmark_code = "python3 -c \\"print('score=0.8734567')\\""

[[output.metrics]]
name = "score"
units = "ratio"
pattern = 'score=([0-9.]+)'
"""


def terminal(width: int) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=width, force_terminal=True, color_system=None, highlight=False), buffer


def numbers_view() -> TableView:
    view = TableView(columns=[Column("name", "metric"), Column("unit", "unit"),
                              Column("last", "last", justify="right"), Column("mean", "mean", justify="right"),
                              Column("note", "a long explanatory note", priority=10)])
    view.rows.append({"name": Cell("a_rather_long_metric_name"), "unit": Cell("samples/second"),
                      "last": Cell("0.873456"), "mean": Cell("123456.7890"), "note": Cell("x" * 40)})
    return view


@pytest.mark.parametrize("width", [100, 60, 40, 20])
def test_no_number_is_ever_cut(width: int) -> None:
    console, buffer = terminal(width)
    print_table(console, numbers_view())
    text = buffer.getvalue()
    assert "0.873456" in text and "123456.7890" in text
    assert "…" not in text


def test_a_narrow_terminal_leaves_out_the_least_important_column_and_says_so() -> None:
    console, buffer = terminal(60)
    print_table(console, numbers_view())
    text = buffer.getvalue()
    assert "a long explanatory note" not in text.splitlines()[0]
    assert "(a long explanatory note: left out to fit 60 columns;" in " ".join(text.split())


def test_a_pipe_gets_the_whole_table() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=40, highlight=False)  # not a terminal
    print_table(console, numbers_view())
    assert "x" * 40 in buffer.getvalue() and "left out" not in buffer.getvalue()


@pytest.fixture
def with_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANUBIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ANUBIS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ANUBIS_CONTAINER_ENGINE", "none")
    monkeypatch.delenv("ANUBIS_REPO", raising=False)
    (tmp_path / "w.toml").write_text(DESCRIPTOR)
    result = CliRunner().invoke(cli, ["run", "--output", "json", str(tmp_path / "w.toml")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("width", [100, 60])
def test_list_shows_the_status_on_a_terminal(with_a_run: None, monkeypatch: pytest.MonkeyPatch, width: int) -> None:
    console, buffer = terminal(width)
    monkeypatch.setattr(list_command, "make_console", lambda stream=None: console)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0, result.output
    lines = buffer.getvalue().splitlines()
    assert "status" in lines[0].split() and "SUCCEEDED" in lines[2].split()
    assert "…" not in buffer.getvalue()
    assert all(len(line) <= width for line in lines)


def test_list_piped_shows_every_column_whole(with_a_run: None) -> None:
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0
    header, _, row = result.stdout.splitlines()[:3]
    assert header.split()[:4] == ["run", "id", "execution", "id"] and "source commit" in header
    assert "SUCCEEDED" in row.split() and "…" not in result.stdout
