"""``anubis compare RUN_A RUN_B``: how each metric changed from one result to another."""

from __future__ import annotations

import click

from anubis.presenting.comparison import (
    compare_metrics,
    comparison_document,
    judge_comparison,
    show_comparison,
)
from anubis.presenting.output import (
    OutputFormat,
    emit_json,
    make_console,
    output_option,
)
from anubis.settings import Settings
from anubis.stores import opened_store, store_option


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@store_option
@output_option
@click.pass_obj
def compare(settings: Settings, run_a: str, run_b: str, store: str | None, output: OutputFormat) -> None:
    """Compare the metrics of RUN_B against RUN_A (each an execution id, a run id or the start of
    one): means, the change, and whether it is better or worse for that metric.

    Where both have at least five samples, a Mann-Whitney U test between them gives a verdict: it
    says whether these two executions differ. Whether B regressed against its history is what
    `anubis results RUN_B` says."""
    with opened_store(settings, store) as opened:
        a, b = opened.find(run_a), opened.find(run_b)
    from anubis.judging import policies_for

    rows = judge_comparison(compare_metrics(a, b), a, b, policies_for(settings, b))
    if output == "json":
        emit_json(comparison_document(a, b, rows))
        return
    if a.benchmark != b.benchmark:
        click.echo(f"note: comparing different benchmarks ({a.benchmark} and {b.benchmark}).", err=True)
    show_comparison(make_console(), a, b, rows)
