"""``anubis results [RUN_ID]``: what one execution measured (the latest one by default)."""

from __future__ import annotations

import click

from anubis.presenting import OutputFormat, emit_json, make_console, output_option, result_document, show_result
from anubis.settings import Settings
from controller.sqlite_store import SqliteResultStore
from schemas.errors import NotFoundError

NO_RESULTS = (
    "No results are stored yet (looked in {path}). Run a benchmark first, for example "
    "`anubis run benchmarks/<name>`."
)


def open_store(settings: Settings) -> SqliteResultStore:
    """The local result store, for reading: :class:`NotFoundError` rather than an empty new one."""
    if not settings.store_path.exists():
        raise NotFoundError(NO_RESULTS.format(path=settings.store_path))
    return SqliteResultStore(settings.store_path)


@click.command()
@click.argument("run_id", metavar="[RUN_ID]", required=False)
@output_option
@click.pass_obj
def results(settings: Settings, run_id: str | None, output: OutputFormat) -> None:
    """Show the results of RUN_ID: an execution id, a run id (its latest execution) or the start
    of one. Without RUN_ID, the latest execution stored."""
    with open_store(settings) as store:
        record = store.find(run_id) if run_id else store.latest()
    if record is None:
        raise NotFoundError(NO_RESULTS.format(path=settings.store_path))
    if output == "json":
        emit_json(result_document(record))
    else:
        show_result(make_console(), record)
