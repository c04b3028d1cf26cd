"""``anubis analyze FILE``: change points and verdicts over a history kept in a CSV file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from controller.analysis import judge_series
from controller.baselines import HISTORY_LIMIT
from controller.changepoints import change_points, segments
from controller.history_file import out_of_order, read_csv
from schemas.runspec import RegressionPolicy
from schemas.summaries import finite_mean, finite_median, sample_stdev


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--online", is_flag=True, help="Judge every row against the rows before it.")
@click.option("--direction", type=click.Choice(["lower", "higher"]), default="lower", show_default=True,
              help="Which way is better.")
@click.option("--min-change", type=click.FloatRange(min=0.0), default=RegressionPolicy().min_change, show_default=True)
@click.option("--confirm", type=click.IntRange(min=0), default=RegressionPolicy().confirm, show_default=True,
              help="Runs of a new level needed after the first before a change is confirmed.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def analyze(file: Path, online: bool, direction: str, min_change: float, confirm: int, output: str) -> None:
    """Print the change points of a CSV history (a `value` column; optional commit, timestamp,
    branch) with each segment's statistics; --online judges every row against the rows before it."""
    rows = read_csv(file)
    early = out_of_order(rows, file)
    if early is not None:  # analysed as given: the indices are the file's rows
        click.echo(f"note: {file}, line {early.line}: its timestamp is earlier than the row's before it; the rows "
                   "are analysed in file order (sort the file by timestamp to judge each row against its past)", err=True)
    values = [r.value for r in rows]
    points = change_points(values)
    policy = RegressionPolicy(min_change=min_change, confirm=confirm)
    verdicts: list[dict[str, object]] = []
    if online:  # each row against the rows a result store reads for it: the newest HISTORY_LIMIT before it
        for i in range(1, len(values)):
            judged = judge_series(values[max(0, i - HISTORY_LIMIT):i], values[i], direction, policy)
            verdicts.append({"index": i, "verdict": judged.verdict, "change": judged.change,
                             "confidence": judged.confidence})
    if output == "json":
        click.echo(json.dumps({"change_points": points, "verdicts": verdicts}, indent=2))
        return
    click.echo(f"{file}: {len(values)} rows, {len(points)} change point(s)")
    click.echo(f"{'segment':>9} {'rows':>11} {'n':>5} {'median':>12} {'mean':>12} {'stdev':>10}  first commit")
    for number, (start, end) in enumerate(segments(values, points), 1):
        part = values[start:end]
        mean = finite_mean(part)  # (statistics' would overflow on values near the largest double)
        click.echo(f"{number:>9} {f'{start}-{end - 1}':>11} {len(part):>5} {finite_median(part):>12.6g} "
                   f"{mean:>12.6g} {sample_stdev(part, mean):>10.4g}  {rows[start].commit or '—'}")
    changes = [v for v in verdicts if v["verdict"] in ("regression", "improvement", "suspected")]
    if online:
        click.echo(f"\nonline: {len(verdicts)} rows judged, {len(changes)} alarm(s)")
        for v in changes:
            change = v["change"]
            shown = f"{change:+.1%}" if isinstance(change, float) else "—"
            click.echo(f"  row {v['index']} ({rows[int(str(v['index']))].commit or 'no commit'}): {v['verdict']} {shown}, "
                       f"confidence {float(str(v['confidence'])):.2%}")
