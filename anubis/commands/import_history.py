"""``anubis import FILE``: load a metric's past (a CSV history or github-action-benchmark's data.js)
into the result store, so a team's baselines start with its history."""

from __future__ import annotations

import time
from pathlib import Path

import click

from anubis.settings import Settings
from anubis.stores import locate, opened_store, store_option
from controller.history_file import csv_runs, data_js_runs, metric_name, to_records


@click.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--benchmark", "-b", default=None,
              help="The benchmark the history belongs to (required for a CSV; data.js: default, each suite's name).")
@click.option("--metric", "-m", default="value", show_default=True, help="CSV: the metric's name.")
@click.option("--unit", default="", help="CSV: the metric's unit.")
@click.option("--direction", type=click.Choice(["lower", "higher"]), default="lower", show_default=True,
              help="CSV: which way is better.")
@click.option("--environment", "-e", default="local", show_default=True, help="The environment the runs ran in.")
@click.option("--format", "kind", type=click.Choice(["auto", "csv", "data.js"]), default="auto", show_default=True)
@store_option
@click.pass_obj
def import_history(settings: Settings, file: Path, benchmark: str | None, metric: str, unit: str, direction: str,
                   environment: str, kind: str, store: str | None) -> None:
    """Load the history in FILE into the result store (a CSV with a `value` column, or data.js)."""
    if kind == "auto":
        kind = "data.js" if file.suffix == ".js" else "csv"
    if kind == "csv":
        if not benchmark:
            raise click.UsageError("a CSV history needs --benchmark NAME (the descriptor's info.name)")
        runs = csv_runs(file, benchmark=benchmark, metric=metric_name(metric), unit=unit, direction=direction,
                        start=time.time())
    else:
        runs = data_js_runs(file, benchmark=benchmark)
    records = to_records(runs, environment=environment, source=file.name)
    with opened_store(settings, store, create=True) as opened:
        added = sum(1 for r in records if opened.put(r))
    names = sorted({r.benchmark for r in records})
    click.echo(f"imported {added} run(s) of {', '.join(names)} into {locate(settings, store)} "
               f"({len(records) - added} already there)")
