"""``anubis search QUERY``: full-text search over run logs: local runs' in the journal's FTS5 index,
cluster runs' in Elasticsearch (``--elasticsearch``)."""

from __future__ import annotations

from collections.abc import Callable

import click

from anubis.local_runs import since_option
from anubis.presenting.formatting import format_time
from anubis.presenting.output import (
    OutputFormat,
    emit_json,
    make_console,
    output_option,
)
from anubis.presenting.plain import Line
from anubis.settings import Settings
from controller.journal import open_journal
from schemas.errors import NotFoundError


@click.command()
@click.argument("query")
@click.option("--benchmark", "-b", default=None, help="Only lines of this benchmark's runs.")
@click.option("--run", "run", default=None, help="Only lines of this execution id or run id.")
@since_option("Only lines printed since: 30m, 2h, 3d, 1w or an ISO date.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many lines.")
@click.option("--elasticsearch", "elasticsearch_url", default=None, metavar="URL",
              help="Search the cluster runs' logs exported to this Elasticsearch (indices anubis-logs-*) instead.")
@output_option
@click.pass_obj
def search(
    settings: Settings,
    query: str,
    benchmark: str | None,
    run: str | None,
    since: float | None,
    limit: int,
    elasticsearch_url: str | None,
    output: OutputFormat,
) -> None:
    """Find the log lines that match QUERY, newest first, with their run and time.

    QUERY is SQLite FTS5 syntax: words (all must appear: `cuda error`), "a phrase", prefix*,
    OR, NOT, NEAR(a b, 5), parentheses. Matching ignores case and accents, and words are whole
    words (`oom` does not match `room`; use `oom*` for a prefix). Text that is not valid FTS5
    (`out-of-memory`, `rc=137`, `error:`) is searched for as plain words instead.

    With --elasticsearch URL, the cluster runs' exported lines are searched instead: QUERY is then
    Lucene query_string syntax (words, "a phrase", prefix*, OR, NOT), over the message of each line.

    Exits 0 when something matched, 1 when nothing did.
    """
    if elasticsearch_url is not None:
        from controller.logsource import ElasticsearchLogs

        found = ElasticsearchLogs.from_url(elasticsearch_url).search(
            query, benchmark=benchmark, run=run, since=since, limit=limit)
    else:
        journal = open_journal(settings.data_dir)
        if journal is None:
            raise NotFoundError(
                f"No run logs are indexed on this machine yet (no journal in {settings.data_dir}); "
                "logs are indexed as `anubis run` runs a benchmark."
            )
        with journal:
            found = journal.search(query, benchmark=benchmark, run=run, since=since, limit=limit)
    if output == "json":
        emit_json(
            {
                "query": found.query,
                "quoted": found.quoted,
                "hits": [
                    {
                        "execution_id": h.execution_id,
                        "run_id": h.run_id,
                        "benchmark": h.benchmark,
                        "stream": h.stream,
                        "line": h.line,
                        "at": h.at,
                        "text": h.text,
                    }
                    for h in found.hits
                ],
            }
        )
    else:
        console = make_console()
        shown: Callable[[str], str] = str  # a pipe gets the line's bytes as stored
        if console.is_terminal:  # escape sequences removed (their patterns are not compiled for a pipe)
            from anubis.presenting.terminal_text import neutralise as shown
        if found.quoted:
            syntax = "query_string" if elasticsearch_url is not None else "FTS5"
            console.print(Line(f"(not {syntax} syntax: searched for the words {found.query})", "dim"))
        for hit in found.hits:
            line = Line(f"{format_time(hit.at)}  ", "dim")
            line.append(f"{hit.execution_id} {hit.stream}:{hit.line}", "bold")
            line.append(f"  {shown(hit.text)}")
            console.print(line, soft_wrap=True)
        if not found.hits:
            console.print(f"No log line matches {query!r}.")
    if not found.hits:
        raise SystemExit(1)
