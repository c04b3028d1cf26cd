"""``anubis logs RUN_ID``: a run's output, whole, tailed or followed, in constant memory."""

from __future__ import annotations

import os
import sys
from typing import IO

import click

from anubis.commands.list_runs import close_runs, local_runs
from anubis.settings import Settings
from controller.local.journaling import LocalRuns, RunView
from controller.logsource import ElasticsearchLogs, LocalLogs
from schemas.errors import BackendError, NotFoundError


@click.command()
@click.argument("run_id", metavar="RUN_ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the run is in progress.")
@click.option("--container", "-c", default=None, help="Only this stream: output or server (local), a container (cluster).")
@click.option("--tail", "-t", type=click.IntRange(min=0), default=None, help="Only the last N lines (of each stream).")
@click.option("--elasticsearch", "elasticsearch_url", envvar="ANUBIS_ELASTICSEARCH_URL", default=None,
              help="Where a cluster run's logs were exported (or ANUBIS_ELASTICSEARCH_URL).")
@click.pass_obj
def logs(
    settings: Settings, run_id: str, follow: bool, container: str | None, tail: int | None, elasticsearch_url: str | None
) -> None:
    """Print the output of RUN_ID (an execution id, a run id — its latest execution — or the start
    of one): all of it, or the last --tail N lines; --follow keeps printing until the run ends.

    A local run's output is kept compressed (up to 256 MiB each; see docs/local-runs.md). When a
    run has several streams (an inference server's beside the benchmark's), each line is labelled
    with its stream.
    """
    runs = local_runs(settings)
    out = sys.stdout.buffer
    try:
        view = runs.find(run_id)
        if view.backend != "local":
            _cluster(view, follow, container, tail, elasticsearch_url, out)
        else:
            _local(settings, runs, view, follow, container, tail, out)
        out.flush()
    except BrokenPipeError:  # `anubis logs X | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        close_runs(runs)


def _local(
    settings: Settings, runs: LocalRuns, view: RunView, follow: bool, container: str | None, tail: int | None, out: IO[bytes]
) -> None:
    source = LocalLogs(settings.data_dir, runs.journal)
    streams = source.streams(view.execution_id)
    if not streams:
        raise NotFoundError(
            f"No log is kept for {view.execution_id}: it printed nothing, or its log was purged "
            f"(looked in {source.folder(view.execution_id)})."
        )
    if container is not None:
        if container not in streams:
            raise NotFoundError(f"{view.execution_id} has no stream {container!r}; it has {', '.join(streams)}.")
        streams = [container]
    execution_id = view.execution_id

    def is_active() -> bool:
        return execution_id in runs.active_ids()

    if len(streams) == 1 and tail is None and not follow and not is_active():
        for chunk in source.copy(execution_id, streams[0]):
            out.write(chunk)
        return
    labelled = len(streams) > 1
    for stream, lines in source.lines(execution_id, streams, tail=tail, follow=follow, is_active=is_active):
        prefix = f"[{stream}] ".encode() if labelled else b""
        out.write(b"".join(prefix + line + b"\n" for line in lines))
        if follow:
            out.flush()


def _cluster(
    view: RunView, follow: bool, container: str | None, tail: int | None, url: str | None, out: IO[bytes]
) -> None:
    if follow:
        raise BackendError(
            f"{view.execution_id} ran on a cluster; following a cluster run's pods is not in this build. "
            f"Use `kubectl logs -f -l anubis.dev/run-id={view.run_id} --all-containers --prefix`."
        )
    if url is None:
        raise BackendError(
            f"{view.execution_id} ran on a cluster: its logs are in Elasticsearch once it finished. "
            "Give --elasticsearch URL (or ANUBIS_ELASTICSEARCH_URL)."
        )
    for line in ElasticsearchLogs.from_url(url).read(view.execution_id, container=container, tail=tail):
        out.write(f"[{line.source}] {line.text}\n".encode())
