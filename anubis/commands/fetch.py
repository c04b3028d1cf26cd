"""``anubis fetch --cache-dir DIR``: the cluster's init container fetching a run's data.

Reads the sources from ``ANUBIS_SOURCES`` (a JSON list of ``{src, path, checksum, key}``), fetches
each into the cache folder (verified, atomically), and on failure writes the reason to
``/dev/termination-log`` (where the kubelet takes a container's termination message) and exits 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from anubis.settings import Settings
from controller.fetching import default_s3_client_factory, fetch_entry, parse_sources
from schemas.errors import FetchError

TERMINATION_LOG = Path("/dev/termination-log")


@click.command(hidden=True)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the cache entries go (default: the user's dataset cache).")
@click.option("--termination-log", type=click.Path(dir_okay=False, path_type=Path), default=TERMINATION_LOG,
              show_default=True, help="Where the failure reason is written, when writable.")
@click.pass_obj
def fetch(settings: Settings, cache_dir: Path | None, termination_log: Path) -> None:
    """Fetch the data sources in ANUBIS_SOURCES into the cache (used by the cluster's init container)."""
    target = cache_dir or settings.cache_dir
    factory = default_s3_client_factory(os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_REGION"))
    try:
        requests = parse_sources(os.environ.get("ANUBIS_SOURCES", "[]"))
        for request in requests:
            entry = fetch_entry(request.source, target, key=request.key, s3_client_factory=factory)
            click.echo(f"{request.source.src} → {entry.path} ({entry.size} bytes, {entry.checksum})")
    except FetchError as e:
        _write_termination_message(termination_log, str(e))
        raise
    if not requests:
        click.echo("ANUBIS_SOURCES lists no data sources; nothing to fetch", err=True)


def _write_termination_message(path: Path, message: str) -> None:
    try:
        with path.open("w", encoding="utf-8") as f:
            f.write(message[:4096])
    except OSError:
        print(f"(could not write the termination message to {path})", file=sys.stderr)
