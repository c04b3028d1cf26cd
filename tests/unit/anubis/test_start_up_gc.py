"""`anubis` pauses the cyclic garbage collector only while the command line starts (imports, option
parsing): the chosen command runs with it, and it is on again once the command line is done, however
it ends (anubis.cli.main)."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click
import pytest

import anubis.cli
from anubis.cli import main


@pytest.fixture(autouse=True)
def _gc_on_afterwards() -> object:
    yield
    gc.enable()


def test_paused_while_starting_on_for_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, bool] = {}
    resolve = anubis.cli.LazyGroup.get_command

    def get_command(self: anubis.cli.LazyGroup, ctx: click.Context, name: str) -> click.Command | None:
        seen["starting"] = gc.isenabled()  # the command's module is imported here
        command = resolve(self, ctx, name)
        assert command is not None and command.callback is not None
        body = command.callback

        def callback(*args: object, **kwargs: object) -> object:
            seen["running"] = gc.isenabled()
            return body(*args, **kwargs)

        monkeypatch.setattr(command, "callback", callback)
        return command

    monkeypatch.setattr(anubis.cli.LazyGroup, "get_command", get_command)
    monkeypatch.setattr(sys, "argv", ["anubis", "--repo", str(tmp_path), "list", "-o", "json"])
    monkeypatch.setenv("ANUBIS_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    assert seen == {"starting": False, "running": True}
    assert gc.isenabled()


@pytest.mark.parametrize("argv", [["--help"], ["no-such-command"], ["list", "--limit", "0"]])
def test_on_again_however_the_command_line_ends(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["anubis", *argv])
    with pytest.raises(SystemExit):
        main()
    assert gc.isenabled()

