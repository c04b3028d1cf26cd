"""``anubis results [RUN_ID | BENCHMARK]``: what one execution measured (the latest one by default, or
a benchmark's latest), and the verdict on each metric against its baseline."""

from __future__ import annotations

import sys

import click

from anubis.presenting.output import (
    OutputFormat,
    emit_json,
    make_console,
    output_option,
)
from anubis.presenting.results import result_document, show_result
from anubis.settings import Settings
from anubis.stores import NO_RESULTS, locate, opened_store, store_option
from schemas.errors import NotFoundError

#: ``--fail-on-regression`` exits with this when a metric that fails on regression regressed.
EXIT_REGRESSION = 3


@click.command()
@click.argument("run_id", metavar="[RUN_ID | BENCHMARK]", required=False)
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help=f"Exit {EXIT_REGRESSION} when a metric whose policy says fail_on_regression regressed (for CI).",
)
@store_option
@output_option
@click.pass_obj
def results(settings: Settings, run_id: str | None, fail_on_regression: bool, store: str | None,
            output: OutputFormat) -> None:
    """Show the results of RUN_ID: an execution id, a run id (its latest execution) or the start
    of one; or of BENCHMARK's latest execution (of any matrix point). Without either, the latest
    execution stored. Each metric is judged against its baseline
    (the same benchmark, environment and matrix point on the main branch): regression, improvement,
    no change, or insufficient data."""
    from anubis.judging import judge_stored, policies_for, regressed

    with opened_store(settings, store) as opened:
        record = (opened.latest(benchmark=run_id) or opened.find(run_id)) if run_id else opened.latest()
        if record is None:
            raise NotFoundError(NO_RESULTS.format(path=locate(settings, store)))
        judgements = judge_stored(settings, opened, record)
    if output == "json":
        emit_json(result_document(record, judgements))
    else:
        show_result(make_console(), record, judgements)
    if fail_on_regression:
        failed = regressed(judgements, policies_for(settings, record))
        if failed:
            click.echo(f"regression in {', '.join(failed)}: failing as their policy says.", err=True)
            sys.exit(EXIT_REGRESSION)
