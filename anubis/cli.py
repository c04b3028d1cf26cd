"""The ``anubis`` command: a root group whose subcommands are imported only when used.

Each subcommand lives in ``anubis/commands/<name>.py`` and is a few lines that call ``renderer`` or
``controller``. Heavy clients (kubernetes, boto3, PyGithub, elasticsearch) are imported inside the
commands that need them, so ``anubis --help`` and ``anubis validate`` start fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from anubis.settings import Settings, current_settings
from schemas.errors import AnubisError

# name -> "module:attribute"; the order is the order of `anubis --help`.
COMMANDS: dict[str, str] = {
    "validate": "anubis.commands.validate:validate",
    "render": "anubis.commands.render:render",
    "show": "anubis.commands.show:show",
    "run": "anubis.commands.run:run",
    "results": "anubis.commands.results:results",
    "history": "anubis.commands.history:history",
    "compare": "anubis.commands.compare:compare",
    "cancel": "anubis.commands.cancel:cancel",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _available(cmd_name):
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


def _available(name: str) -> bool:
    module_name = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


class AnubisGroup(LazyGroup):
    """Turns :class:`AnubisError` into a clean message and an exit code (traceback only with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AnubisError as e:
            settings = ctx.obj if isinstance(ctx.obj, Settings) else None
            if settings is not None and settings.debug:
                traceback.print_exc()
            click.echo(f"error: {e}", err=True)
            ctx.exit(e.exit_code)


@click.group(cls=AnubisGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The benchmarks repository (default: the nearest folder with benchmarks/ or environments/).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="anubis-bench", prog_name="anubis")
@click.pass_context
def cli(ctx: click.Context, repo: Path | None, debug: bool) -> None:
    """Anubis: benchmarks as TOML descriptors in Git, run on Kubernetes or on this machine."""
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = current_settings(repo_root=repo, debug=debug)


def main() -> None:
    cli(prog_name="anubis")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())  # type: ignore[func-returns-value]
