"""``anubis logs RUN_ID``: a run's output, whole, tailed or followed, in constant memory.

A local run's from its kept gzip files and the journal; a cluster run's from its pods while they
exist (``follow=true`` streams), else from Elasticsearch, where the controller exported it. On a
terminal the output is neutralised (:mod:`anubis.presenting.terminal_text`); piped, it is the bytes
as kept. Ctrl-C (while following) ends it with exit code 130, quietly.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable

import click

from anubis.cluster_access import ClusterAccess, cluster_options
from anubis.local_runs import close_runs, local_runs
from anubis.presenting.terminal_text import ByteOutput, TerminalWriter, byte_output
from anubis.settings import Settings
from controller.exporting.base import LogLine
from controller.local.journaling import LocalRuns, RunView
from controller.logsource import ElasticsearchLogs, LocalLogs, label_of
from schemas.errors import BackendError, NotFoundError


@click.command()
@click.argument("run_id", metavar="RUN_ID")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the run is in progress.")
@click.option("--container", "-c", default=None, help="Only this stream: output or server (local), a container (cluster).")
@click.option("--tail", "-t", type=click.IntRange(min=0), default=None, help="Only the last N lines (of each stream).")
@click.option("--elasticsearch", "elasticsearch_url", envvar="ANUBIS_ELASTICSEARCH_URL", default=None,
              help="Where a cluster run's logs were exported (or ANUBIS_ELASTICSEARCH_URL).")
@cluster_options
@click.pass_obj
def logs(
    settings: Settings, run_id: str, follow: bool, container: str | None, tail: int | None,
    elasticsearch_url: str | None, access: ClusterAccess,
) -> None:
    """Print the output of RUN_ID (an execution id, a run id — its latest execution — or the start
    of one): all of it, or the last --tail N lines; --follow keeps printing until the run ends.

    A local run's output is kept compressed (up to 256 MiB each; see docs/local-runs.md). When a
    run has several streams (an inference server's beside the benchmark's, an MPIJob's workers),
    each line is labelled with its stream. A cluster run (--cluster, or when no local run matches and
    a kubeconfig exists) is read from its pods while they exist, else from Elasticsearch.
    """
    out = byte_output(sys.stdout)
    try:
        if access.asked:
            _cluster(settings, run_id, follow, container, tail, elasticsearch_url, access, out)
        else:
            runs = local_runs(settings)
            try:
                _any(settings, runs, run_id, follow, container, tail, elasticsearch_url, access, out)
            finally:
                close_runs(runs)
        _end(out)
    except BrokenPipeError:  # `anubis logs X | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except KeyboardInterrupt:  # Ctrl-C ends a --follow: no "Aborted!", the shell's code for SIGINT
        _end(out)
        sys.exit(EXIT_INTERRUPTED)


EXIT_INTERRUPTED = 130


def _end(out: ByteOutput) -> None:
    if isinstance(out, TerminalWriter):
        out.close()
    else:
        out.flush()


def _any(settings: Settings, runs: LocalRuns, run_id: str, follow: bool, container: str | None, tail: int | None,
         url: str | None, access: ClusterAccess, out: ByteOutput) -> None:
    try:
        view = runs.find(run_id)
    except NotFoundError as local_error:
        if not access.available:
            raise
        click.echo(f"{local_error} Looking for it on the cluster (kubeconfig).", err=True)
        try:
            _cluster(settings, run_id, follow, container, tail, url, access, out)
        except NotFoundError as e:
            raise NotFoundError(f"{local_error} On the cluster: {e}") from e
        return
    if view.backend != "local":
        _archived(view.execution_id, container, tail, url, out, follow=follow)
    else:
        _local(settings, runs, view, follow, container, tail, out)


def _local(
    settings: Settings, runs: LocalRuns, view: RunView, follow: bool, container: str | None, tail: int | None, out: ByteOutput
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


def _cluster(settings: Settings, ref: str, follow: bool, container: str | None, tail: int | None, url: str | None,
             access: ClusterAccess, out: ByteOutput) -> None:
    """From the pods while they exist; from Elasticsearch once they are gone (or the run is)."""
    from controller.kubernetes.following import find_run
    from controller.kubernetes.podlogs import PodLogs, log_sources

    client = access.client()
    try:
        run = find_run(client, ref, access.where(settings))
    except NotFoundError as e:
        if url is None:
            raise
        click.echo(f"{e}; reading its exported lines from Elasticsearch.", err=True)
        _archived(ref, container, tail, url, out, follow=False)
        return
    sources = log_sources(run.state, container)
    if container is not None and not sources and run.state.pods:
        names = sorted({c.name for p in run.state.pods for c in p.containers})
        raise NotFoundError(f"{run.execution_id} has no container {container!r}; its pods have {', '.join(names)}.")
    if any(s.started for s in sources) or (follow and not run.decision(time.time()).final):
        _write(PodLogs(client).read(run, container=container, tail=tail, follow=follow), out,
               inference=run.inference, flush=follow, chosen=container)
        return
    if url is None:
        raise BackendError(
            f"{run.execution_id} has no pod with a log left on the cluster; its lines are in Elasticsearch once "
            "it finished: give --elasticsearch URL (or ANUBIS_ELASTICSEARCH_URL)."
        )
    _archived(run.execution_id, container, tail, url, out, follow=False)


def _archived(execution_id: str, container: str | None, tail: int | None, url: str | None, out: ByteOutput, *,
              follow: bool) -> None:
    if follow:
        raise BackendError(
            f"{execution_id} ran on a cluster and has finished; its lines are in Elasticsearch, which has nothing "
            "more to follow. Leave out --follow."
        )
    if url is None:
        raise BackendError(
            f"{execution_id} ran on a cluster: its logs are in Elasticsearch once it finished. "
            "Give --elasticsearch URL (or ANUBIS_ELASTICSEARCH_URL)."
        )
    source = ElasticsearchLogs.from_url(url)
    inference = container is None and source.has_container(execution_id, "inference-server")
    _write(source.read(execution_id, container=container, tail=tail), out, inference=inference, flush=False,
           chosen=container)


def _write(lines: Iterable[LogLine], out: ByteOutput, *, inference: bool, flush: bool, chosen: str | None) -> None:
    for line in lines:
        label = label_of(line.source, inference=inference)
        if chosen is not None and label in (chosen, "client", "server"):
            label = None  # one container asked for: nothing to tell apart
        prefix = f"[{label}] " if label else ""
        out.write(f"{prefix}{line.text}\n".encode())
        if flush:
            out.flush()
