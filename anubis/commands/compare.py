"""``anubis compare RUN_A RUN_B``: how each metric changed from one result to another;
``anubis compare --by instance_type BENCHMARK``: one benchmark's latest result per hardware."""

from __future__ import annotations

import click

from anubis.presenting.output import (
    OutputFormat,
    emit_json,
    make_console,
    output_option,
)
from anubis.settings import Settings
from anubis.stores import opened_store, store_option
from schemas.status import RunStatus

#: How many succeeded executions of a benchmark ``--by`` reads to find the latest per hardware.
HARDWARE_SCAN = 500


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="RUN_A RUN_B | BENCHMARK")
@click.option(
    "--by",
    type=click.Choice(["instance_type"]),
    default=None,
    help="Compare one BENCHMARK's latest succeeded result on each instance type, with cost and energy.",
)
@click.option("--metric", default=None, help="With --by: the metric to compare (default: the first throughput).")
@store_option
@output_option
@click.pass_obj
def compare(
    settings: Settings, refs: tuple[str, ...], by: str | None, metric: str | None, store: str | None, output: OutputFormat
) -> None:
    """Compare the metrics of RUN_B against RUN_A (each an execution id, a run id or the start of
    one): means, the change, and whether it is better or worse for that metric.

    Where both have at least five samples, a Mann-Whitney U test between them gives a verdict: it
    says whether these two executions differ. Whether B regressed against its history is what
    `anubis results RUN_B` says.

    With --by instance_type, give one BENCHMARK: each instance type it ran on gets a row with the
    metric, the run's cost, the GPUs' energy, the work per dollar and per joule; the best is marked."""
    if by is not None:
        if len(refs) != 1:
            raise click.UsageError("--by instance_type compares one BENCHMARK: give its name alone.")
        _compare_hardware(settings, refs[0], metric, store, output)
        return
    if len(refs) != 2:
        raise click.UsageError("give two results to compare (RUN_A RUN_B), or --by instance_type BENCHMARK.")
    if metric is not None:
        raise click.UsageError("--metric goes with --by instance_type.")
    from anubis.judging import policies_for
    from anubis.presenting.comparison import compare_metrics, comparison_document, judge_comparison, show_comparison

    with opened_store(settings, store) as opened:
        a, b = opened.find(refs[0]), opened.find(refs[1])
    rows = judge_comparison(compare_metrics(a, b), a, b, policies_for(settings, b))
    if output == "json":
        emit_json(comparison_document(a, b, rows))
        return
    if a.benchmark != b.benchmark:
        click.echo(f"note: comparing different benchmarks ({a.benchmark} and {b.benchmark}).", err=True)
    show_comparison(make_console(), a, b, rows)


def _compare_hardware(settings: Settings, benchmark: str, metric: str | None, store: str | None, output: OutputFormat) -> None:
    from anubis.presenting.hardware import (
        direction_of,
        hardware_document,
        hardware_rows,
        hardware_view,
        latest_per_hardware,
        pick_metric,
    )
    from anubis.presenting.tables import print_table

    with opened_store(settings, store) as opened:
        records = opened.list_runs(benchmark, status=RunStatus.SUCCEEDED, limit=HARDWARE_SCAN)
    if not records:
        raise click.ClickException(f"no succeeded result of benchmark {benchmark!r} is stored; `anubis list` shows what is.")
    chosen = pick_metric(records, metric)
    if chosen is None:
        known = sorted({n for r in records for n in r.metrics})
        raise click.ClickException(
            f"benchmark {benchmark!r} has no metric {metric!r}; its metrics: {', '.join(known) or 'none'}."
            if metric
            else f"benchmark {benchmark!r} has results but no metrics to compare."
        )
    rows = hardware_rows(records, chosen)
    if output == "json":
        emit_json(hardware_document(benchmark, chosen, rows))
        return
    if not rows:
        raise click.ClickException(f"the results of {benchmark!r} do not say which instance type they ran on.")
    console = make_console()
    print_table(console, hardware_view(rows, chosen, direction_of(records, chosen)))
    if len(latest_per_hardware(records)) == 1:
        click.echo("note: only one instance type has results; a matrix over hardware.instance_type compares several.", err=True)
