"""How the root command ends a command that failed: an AnubisError or a missing extra's module as one
line on stderr and an exit code; the traceback too with --debug."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from anubis import cli as cli_module
from anubis.cli import EXIT_MISSING_EXTRA, cli
from schemas.errors import NotFoundError

MODULE = "anubis_test_failing_commands"


@pytest.fixture
def failing_commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Two commands, found by the lazy group like the real ones: one whose client is not installed
    (what importing kubernetes without the [cluster] extra raises), one that finds nothing."""

    @click.command()
    def needs_kubernetes() -> None:
        raise ModuleNotFoundError("No module named 'kubernetes'", name="kubernetes")

    @click.command()
    def finds_nothing() -> None:
        raise NotFoundError("no such run")

    module = types.ModuleType(MODULE)
    module.__spec__ = importlib.machinery.ModuleSpec(MODULE, None)
    module.needs_kubernetes = needs_kubernetes  # type: ignore[attr-defined]
    module.finds_nothing = finds_nothing  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, MODULE, module)
    monkeypatch.setitem(cli_module.COMMANDS, "needs-kubernetes", (f"{MODULE}:needs_kubernetes", "test"))
    monkeypatch.setitem(cli_module.COMMANDS, "finds-nothing", (f"{MODULE}:finds_nothing", "test"))
    yield


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_a_missing_extra_names_the_extra(failing_commands: None, debug: bool) -> None:
    result = CliRunner().invoke(cli, [*(["--debug"] if debug else []), "needs-kubernetes"])
    assert result.exit_code == EXIT_MISSING_EXTRA, result.output
    assert "install the [cluster] extra" in result.stderr
    assert ("Traceback" in result.stderr) is debug  # with --debug it once failed with UnboundLocalError


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_an_anubis_error_is_one_line(failing_commands: None, debug: bool) -> None:
    result = CliRunner().invoke(cli, [*(["--debug"] if debug else []), "finds-nothing"])
    assert result.exit_code == NotFoundError.exit_code
    assert "error: no such run" in result.stderr
    assert ("Traceback" in result.stderr) is debug


@pytest.mark.parametrize("args", [["validate"], ["render"], ["render", "--check"], ["plan", "--base", "HEAD"],
                                  ["publish"]])
def test_a_whole_repository_command_outside_one_says_so(args: list[str], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without paths these work on the repository around the current folder; outside any, the folder was
    taken for one ('benchmarks:1:1: no such file or folder', 'no kubernetes environment')."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANUBIS_REPO", raising=False)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert f"error: {tmp_path.resolve()} is not in a benchmarks repository" in result.stderr
    assert "`anubis init`" in result.stderr and not list(tmp_path.iterdir())  # nothing written
    (tmp_path / "benchmarks").mkdir()
    found = CliRunner().invoke(cli, args[:1] if args[0] != "plan" else args)
    assert "is not in a benchmarks repository" not in found.output  # found from here: past the check
