"""The hand-off between a run's fetch Job and its pods, on the shared dataset cache.

On a cluster whose dataset cache is a shared volume, the data is fetched by a Job of its own
(``<run>-fetch``, under the fetcher's ServiceAccount, which alone carries the cloud role) and the
run's pods never hold those credentials (docs/security.md). The two meet on the cache volume:

* the fetch Job (``anubis fetch --status-file F``) writes ``F`` = ``{"state": "running"}`` when it
  starts, then ``{"state": "succeeded"}`` once every source is in the cache and verified, or
  ``{"state": "failed", "reason": …}`` with the fetcher's reason;
* each run pod's init container (``anubis fetch --wait --status-file F``, no credentials, the cache
  mounted read-only) waits for ``F``: on success it checks that every source's cache entry is
  there and that the checksum the fetcher recorded for it (the entry's ``.meta.json``) is the one
  the descriptor declares, then exits 0 and the benchmark starts; on failure, or when the entries do
  not verify, or when nothing happened within its timeout, it exits 1 with the reason as its
  termination message, which the controller reports as the run's reason (``fetching data failed: …``).

The status file is written atomically (a temporary file, then :func:`os.replace`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from controller.fetching import SourceRequest, cached_checksum
from schemas.errors import FetchError

POLL_SECONDS = 2.0


def write_status(path: Path, state: str, reason: str = "") -> None:
    """Record the fetch Job's state in ``path`` (atomically; the folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"state": state, "at": time.time()}
    if reason:
        document["reason"] = reason[:4096]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document), encoding="utf-8")
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The fetch Job's last word, or ``None`` while there is none (or it cannot be read yet)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def verify_entries(requests: Sequence[SourceRequest], cache_dir: Path) -> None:
    """Every source is in the cache, as the fetcher verified it: the entry and its ``.meta.json``,
    unchanged since (size, modification time) and with the declared checksum; else :class:`FetchError`."""
    for request in requests:
        source = request.source
        target = cache_dir / request.key
        try:
            st = target.stat()
            meta = json.loads(target.with_name(target.name + ".meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise FetchError(
                f"the fetch Job reported success but the cache entry of {source.src} ({request.key}) is missing or "
                f"unreadable: {e}"
            ) from e
        if not isinstance(meta, dict) or meta.get("size") != st.st_size or meta.get("mtime_ns") != st.st_mtime_ns:
            raise FetchError(
                f"the cache entry of {source.src} ({request.key}) changed after the fetch Job verified it; "
                "delete it from the dataset cache and run again"
            )
        recorded = cached_checksum(target)
        if source.checksum is not None and recorded != source.checksum:
            raise FetchError(
                f"the cache entry of {source.src} ({request.key}) has checksum {recorded}, not the declared "
                f"{source.checksum}"
            )


def wait_for_fetch(
    status_file: Path,
    requests: Sequence[SourceRequest],
    cache_dir: Path,
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = POLL_SECONDS,
) -> None:
    """Wait (up to ``timeout`` seconds) for the fetch Job's status in ``status_file``; return once it
    succeeded and the entries verify, else raise :class:`FetchError` with the reason."""
    deadline = clock() + timeout
    while True:
        status = read_status(status_file)
        state = status.get("state") if status else None
        if state == "succeeded":
            verify_entries(requests, cache_dir)
            return
        if state == "failed":
            raise FetchError(str(status.get("reason") or "the fetch Job failed without a reason") if status else "")
        if clock() >= deadline:
            job = status_file.stem  # the status file is named after the fetch Job
            what = "is still fetching" if state == "running" else "has not started (no status yet)"
            raise FetchError(
                f"the data fetch Job {job} {what} after {timeout:.0f} s; see `kubectl describe job {job}` "
                "and its pod's events (its ServiceAccount, image and node)"
            )
        sleep(poll)
