"""``anubis fetch --cache-dir DIR``: fetching a run's data on the cluster.

Reads the sources from ``ANUBIS_SOURCES`` (a JSON list of ``{src, path, checksum, key}``), fetches
each into the cache folder (verified, atomically), and on failure writes the reason to
``/dev/termination-log`` (where the kubelet takes a container's termination message) and exits 1.
With ``--status-file`` (the fetch Job) it also records its state there; with ``--wait`` (a run pod's
init container, no credentials) it fetches nothing and waits for that state instead
(:mod:`controller.fetch_handoff`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from anubis.settings import Settings
from controller.fetch_handoff import wait_for_fetch, write_status
from controller.fetching import default_s3_client_factory, fetch_entry, parse_sources
from schemas.errors import FetchError

TERMINATION_LOG = Path("/dev/termination-log")


@click.command(hidden=True)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the cache entries go (default: the user's dataset cache).")
@click.option("--termination-log", type=click.Path(dir_okay=False, path_type=Path), default=TERMINATION_LOG,
              show_default=True, help="Where the failure reason is written, when writable.")
@click.option("--status-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Record the fetch's state here (the fetch Job), or wait for it (with --wait).")
@click.option("--wait", "wait", is_flag=True,
              help="Fetch nothing: wait for --status-file to say the fetch succeeded, then check the entries.")
@click.option("--timeout", type=click.FloatRange(min=0), default=3600.0, show_default=True,
              help="With --wait: give up after this many seconds.")
@click.pass_obj
def fetch(settings: Settings, cache_dir: Path | None, termination_log: Path, status_file: Path | None, wait: bool,
          timeout: float) -> None:
    """Fetch the data sources in ANUBIS_SOURCES into the cache (the cluster's fetch Job or init container)."""
    target = cache_dir or settings.cache_dir
    factory = default_s3_client_factory(os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))
    if wait and status_file is None:
        raise click.UsageError("--wait needs --status-file: the file the fetch Job writes its state to")
    requests = []
    try:
        requests = parse_sources(os.environ.get("ANUBIS_SOURCES", "[]"))
        if wait:
            assert status_file is not None
            wait_for_fetch(status_file, requests, target, timeout)
            click.echo(f"the fetch Job verified {len(requests)} source(s) in {target}")
            return
        if status_file is not None:
            write_status(status_file, "running")
        for request in requests:
            entry = fetch_entry(request.source, target, key=request.key, s3_client_factory=factory)
            click.echo(f"{request.source.src} → {entry.path} ({entry.size} bytes, {entry.checksum})")
    except FetchError as e:
        _write_termination_message(termination_log, str(e))
        if status_file is not None and not wait:
            write_status(status_file, "failed", str(e))
        raise
    except Exception as e:  # a fetcher bug: the waiting pods still learn that it will not finish
        if status_file is not None and not wait:
            write_status(status_file, "failed", f"the fetcher failed unexpectedly: {type(e).__name__}: {e}")
        raise
    if status_file is not None:
        write_status(status_file, "succeeded")
    if not requests:
        click.echo("ANUBIS_SOURCES lists no data sources; nothing to fetch", err=True)


def _write_termination_message(path: Path, message: str) -> None:
    try:
        with path.open("w", encoding="utf-8") as f:
            f.write(message[:4096])
    except OSError:
        print(f"(could not write the termination message to {path})", file=sys.stderr)
