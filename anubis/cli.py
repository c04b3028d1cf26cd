"""The ``anubis`` command: a root group whose subcommands are imported only when used.

Each subcommand lives in ``anubis/commands/<name>.py`` and is a few lines that call ``renderer`` or
``controller``; only the one invoked is imported (click's lazy group pattern). Heavy clients
(kubernetes, boto3, PyGithub, elasticsearch) and libraries (scipy, rich where it can wait) are imported
inside the code that needs them, so ``anubis --help``, ``list`` and ``search`` start fast
(``bench/startup.py``; ``tests/unit/anubis/test_startup_imports.py`` keeps it so).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import click

from anubis.extras import missing_extra_message

# name -> ("module:attribute", short help). The order is the order of `anubis --help`, which lists
# these without importing any command module.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("anubis.commands.init:init", "Start a team's benchmarks repository (or check one for drift)."),
    "validate": ("anubis.commands.validate:validate", "Check descriptors against the schema and every rule."),
    "render": ("anubis.commands.render:render", "Render descriptors into Kubernetes manifests for Argo CD."),
    "show": ("anubis.commands.show:show", "Show the RunSpecs and run ids a descriptor produces."),
    "run": ("anubis.commands.run:run", "Run a benchmark on this machine and print its results."),
    "results": ("anubis.commands.results:results", "Show the results of a run (the latest by default)."),
    "history": ("anubis.commands.history:history", "Show a benchmark's results over time."),
    "compare": ("anubis.commands.compare:compare", "Compare the metrics of two runs."),
    "baseline": ("anubis.commands.baseline:baseline", "Show or reset the baseline a benchmark is judged against."),
    "cancel": ("anubis.commands.cancel:cancel", "Cancel a run in progress."),
    "list": ("anubis.commands.list_runs:list_runs", "List recent runs, in progress and finished."),
    "status": ("anubis.commands.status:status", "Show a run's status history; --watch waits for its end."),
    "logs": ("anubis.commands.logs:logs", "Print a run's output (--follow, --tail N)."),
    "search": ("anubis.commands.search:search", "Search the logs of runs (full-text)."),
    "purge": ("anubis.commands.purge:purge", "Remove a finished local run's logs, history and result."),
    "schedule": ("anubis.commands.schedule:schedule", "Prepare the Git change that stops a benchmark's schedule."),
    "fetch": ("anubis.commands.fetch:fetch", "Fetch data sources into a cache (used by the cluster's init step)."),
    "controller": ("anubis.commands.controller:controller", "Watch runs on Kubernetes and record their results."),
    "plan": ("anubis.commands.plan:plan", "Show which runs a change would create, change or remove."),
    "publish": ("anubis.commands.publish:publish", "Render and commit manifests/ as the bot, then push (main only)."),
    "preview": ("anubis.commands.preview:preview", "Render a pull request's runs to the preview branch, or tear them down."),
    "report": ("anubis.commands.report:report", "Post commit statuses and the pull-request comment for finished runs."),
    "respond": ("anubis.commands.respond:respond", "Answer an /anubis command in a pull-request comment."),
    "analyze": ("anubis.commands.analyze:analyze", "Find change points and judge each point of a CSV history."),
    "import": ("anubis.commands.import_history:import_history", "Load a history (CSV or github-action-benchmark data.js) into the store."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not _available(cmd_name):
            return None
        module_name, attribute = COMMANDS[cmd_name][0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(name: str) -> bool:
    module_name = COMMANDS[name][0].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


EXIT_MISSING_EXTRA = 3  # the installation lacks an optional part the command needs


class AnubisGroup(LazyGroup):
    """Turns :class:`AnubisError` into a clean message and an exit code (traceback only with --debug)."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        # The help's width, as click's HelpFormatter computes it when given none, handed to the root
        # context (every subcommand's context inherits it): click would import shutil for it, and
        # shutil loads zlib, bz2 and lzma, ~2 ms of each `anubis --help` (bench/startup.py).
        extra.setdefault("terminal_width", help_width())
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        from schemas.errors import AnubisError  # here: `anubis --help` never gets this far (nor needs dataclasses)

        try:
            return super().invoke(ctx)
        except AnubisError as e:
            _traceback_if_debug(ctx)
            click.echo(f"error: {e}", err=True)
            ctx.exit(e.exit_code)
        except ImportError as e:  # a client of an extra that is not installed
            message = missing_extra_message(e)
            if message is None:
                raise
            _traceback_if_debug(ctx)
            click.echo(f"error: {message}", err=True)
            ctx.exit(EXIT_MISSING_EXTRA)


def help_width(max_width: int = 80) -> int:
    """The width of click's help for a formatter given no width: ``click.formatting.FORCED_WIDTH``
    when set (click's test runner sets it), else the terminal's columns as
    :func:`shutil.get_terminal_size` gives them (``$COLUMNS`` when a positive number, else stdout's
    terminal, else 80), at most ``max_width``, less 2, at least 50."""
    from click import formatting

    if formatting.FORCED_WIDTH is not None:
        return formatting.FORCED_WIDTH
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return max(min(columns, max_width) - 2, 50)


def _traceback_if_debug(ctx: click.Context) -> None:
    """With --debug (or ANUBIS_DEBUG), the traceback of the error being handled."""
    from anubis.settings import Settings

    if isinstance(ctx.obj, Settings) and ctx.obj.debug:
        import traceback

        traceback.print_exc()


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
    gc.enable()  # start-up is over (see main): the command runs with the collector, however long
    from anubis.logging_config import configure_logging  # here, not at the top: `--help` never gets this far
    from anubis.settings import current_settings  # the repository lookup: not for --help either

    configure_logging(debug)  # now, or when something imports logging: the reading commands seldom do
    ctx.obj = current_settings(repo_root=repo, debug=debug)


def main() -> None:
    """The ``anubis`` command. The cyclic garbage collector is paused while the command line starts:
    the imports allocate tens of thousands of objects and leave no garbage cycles, yet set off ~40
    collections (~5 M instructions, 1–2 ms, of `anubis list`: bench/startup.py --instructions). It runs again from the root command's
    callback, before the chosen command (``anubis/__main__.py`` pauses it before importing click)."""
    gc.disable()
    try:
        cli(prog_name="anubis")
    finally:
        gc.enable()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())  # type: ignore[func-returns-value]
