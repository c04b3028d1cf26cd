"""``anubis schedule stop BENCHMARK``: prepare, in the working tree, the change that stops a schedule.

A scheduled benchmark is a CronJob that Argo CD keeps as Git says. Suspending it on the cluster
(``kubectl patch cronjob … suspend: true``) is undone by the next sync, so a schedule is stopped where
it is declared: ``info.scheduling`` in the descriptor. This command edits that line (keeping the old
schedule in a comment), prints the diff and leaves committing and opening the pull request to you.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import click

from anubis.settings import Settings
from schemas.errors import DescriptorError, NotFoundError, Problem

SINGLE_RUN = "single_run"
_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\"' -]+?)\s*\]\s*(#.*)?$")
_SCHEDULING = re.compile(r"^(\s*)scheduling\s*=\s*(\"[^\"]*\"|'[^']*')\s*(#.*)?$")


@click.group()
def schedule() -> None:
    """Scheduled benchmarks: their schedule lives in Git (`info.scheduling`)."""


@schedule.command()
@click.argument("benchmark", metavar="BENCHMARK")
@click.option("--dry-run", is_flag=True, help="Print the change without writing it.")
@click.pass_obj
def stop(settings: Settings, benchmark: str, dry_run: bool) -> None:
    """Stop the schedule of BENCHMARK (a name under benchmarks/, its folder or its descriptor):
    set `info.scheduling = "single_run"` in its descriptor, print the diff. Nothing is committed.

    Argo CD undoes a CronJob suspended behind its back, so the schedule is stopped by merging this
    change. Once merged, the benchmark renders as a one-off Job, which runs once; to stop it
    altogether, remove its folder instead.
    """
    path = _descriptor(settings, benchmark)
    before = path.read_text(encoding="utf-8")
    after, previous = stop_schedule(before, str(path))
    if previous is None:
        click.echo(f"{path} is not scheduled (info.scheduling is single_run or absent): nothing to stop.")
        return
    shown = _relative(path, settings.repo_root)
    diff = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{shown}", f"b/{shown}"
    )
    click.echo("".join(diff), nl=False)
    if dry_run:
        return
    path.write_text(after, encoding="utf-8")
    click.echo(
        f"\nWrote {shown} (was {previous}). Commit it and open a pull request; the schedule stops when it is "
        "merged and Argo CD syncs. After that the benchmark renders as a one-off Job (it runs once); to stop "
        "it altogether, remove its folder instead."
    )


def stop_schedule(text: str, path: str = "descriptor.toml", *, today: str | None = None) -> tuple[str, str | None]:
    """``text`` with ``info.scheduling`` set to ``single_run`` and the old value in a comment; and
    the old value, or ``None`` when it was not scheduled (then ``text`` is returned unchanged)."""
    try:
        current = tomllib.loads(text).get("info", {}).get("scheduling", SINGLE_RUN)
    except tomllib.TOMLDecodeError as e:
        raise DescriptorError([Problem(path, 1, 1, "", f"not valid TOML: {e}")]) from e
    if current == SINGLE_RUN:
        return text, None
    day = today or datetime.now(UTC).strftime("%Y-%m-%d")
    lines = text.splitlines(keepends=True)
    table = None
    for n, line in enumerate(lines):
        header = _TABLE.match(line)
        if header:
            table = header.group(1).strip()
            continue
        found = _SCHEDULING.match(line)
        if table == "info" and found:
            indent, old = found.group(1), found.group(2)
            end = "\n" if line.endswith("\n") else ""
            lines[n] = (
                f"{indent}# Schedule stopped on {day} with `anubis schedule stop` (it was {old}). A schedule is\n"
                f"{indent}# stopped in Git: Argo CD undoes a CronJob suspended on the cluster. Restore it to resume.\n"
                f'{indent}scheduling = "{SINGLE_RUN}"{end}'
            )
            return "".join(lines), old.strip("\"'")
    raise DescriptorError(
        [Problem(path, 1, 1, "info.scheduling", "the schedule is not written as `scheduling = \"…\"` in [info]; edit it by hand")]
    )


def _descriptor(settings: Settings, benchmark: str) -> Path:
    for candidate in (Path(benchmark), settings.benchmarks_dir / benchmark):
        if candidate.is_file():
            return candidate
        if (candidate / "descriptor.toml").is_file():
            return candidate / "descriptor.toml"
    raise NotFoundError(
        f"No descriptor for {benchmark!r}: give a benchmark name under {settings.benchmarks_dir}, its folder or its descriptor.toml."
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
