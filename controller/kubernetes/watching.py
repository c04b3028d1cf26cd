"""List + watch of one kind in one namespace, kept current through every failure.

The loop: list (every object, streamed a page at a time, and the list's resourceVersion) → hand the
snapshot over → watch from that resourceVersion → hand each event over. The watch is re-opened from
the last resourceVersion seen when the server ends it or the connection drops; ``410 Gone`` (the API
no longer keeps that version: compaction) — as an HTTP status or an ``ERROR`` event in the stream, or
for an expired ``continue`` token in the middle of a list — means a fresh list.
Every ``resync_seconds`` the watch ends on its own (``timeoutSeconds``) and the kind is listed again,
so an event lost anywhere is made good within that time. Restarts are counted by kind and reason.

The first list, and the list after ``410 Gone``, are consistent reads (``resourceVersion`` unset: from
etcd, a quorum read). The periodic relists ask ``resourceVersion=0`` ("any version"): the API server
answers them from its watch cache without touching etcd, as client-go's reflector does for its lists
(``staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go``, ``GetList``: ``resourceVersion="0"``
is served from the cache, which ignores ``limit``). The cache may be a moment behind; the watch
then goes on from the list's own resourceVersion, so nothing after it is missed.

``seen`` is the highest resourceVersion handed over (events, snapshots and ``BOOKMARK`` s, asked for
with ``allowWatchBookmarks``): the reconciler waits for the pod watch to reach a run object's version
before it explains the run's end from its pods.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from controller.kubernetes.client import GoneError, KubeClient, Resource
from schemas.errors import AnubisError

log = logging.getLogger(__name__)


class WatchSink(Protocol):
    """Receives what a :class:`Watcher` sees."""

    def snapshot(self, resource: Resource, namespace: str | None, objects: Iterable[dict[str, Any]]) -> None:
        """Every object of the kind in the namespace, now (objects not in it are gone), streamed: a
        sink iterates ``objects`` once, keeps what it needs of each and lets the object go. An error
        raised by the iteration (an expired ``continue``: :class:`GoneError`) must reach the watcher,
        which lists again; a sink applies nothing of an unfinished snapshot it cannot apply in part."""

    def event(self, resource: Resource, kind: str, obj: dict[str, Any]) -> None:
        """One change: ``ADDED``, ``MODIFIED`` or ``DELETED``."""


class RestartCounter(Protocol):
    def watch_restart(self, kind: str, reason: str) -> None: ...


class Watcher:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        namespace: str | None,
        selector: str,
        sink: WatchSink,
        *,
        stop: threading.Event,
        resync_seconds: int = 300,
        restarts: RestartCounter | None = None,
        backoff: Callable[[int], float] = lambda n: min(30.0, 0.2 * 2 ** min(n, 8)),
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.selector = selector
        self.sink = sink
        self.stop = stop
        self.resync_seconds = max(1, resync_seconds)
        self.restarts = restarts
        self.backoff = backoff
        self.synced = threading.Event()  # set after the first list has been handed over
        self._version = ""
        self.seen = 0  # the highest resourceVersion handed over (0 before the first list)

    def _restart(self, reason: str) -> None:
        log.info("watch of %s in %s restarts: %s", self.resource.plural, self.namespace or "all namespaces", reason)
        if self.restarts is not None:
            self.restarts.watch_restart(self.resource.plural, reason)

    def _saw(self, version: str) -> None:
        if version.isdigit():
            self.seen = max(self.seen, int(version))

    def run(self) -> None:
        failures = 0
        self._version = ""
        consistent = True  # the first list and the list after 410 Gone read etcd; the periodic ones, the cache
        while not self.stop.is_set():
            try:
                if not self._version:
                    # streamed, a page at a time, into the sink: no list is held whole, during the
                    # snapshot or (as a local of this frame) for the life of the watch that follows
                    listing = self.client.listing(self.resource, self.namespace, self.selector,
                                                  resource_version="" if consistent else "0")
                    objects = iter(listing)
                    self.sink.snapshot(self.resource, self.namespace, objects)
                    self._version = listing.finish(objects)
                    del objects, listing
                    self._saw(self._version)
                    self.synced.set()
                    failures = 0
                    consistent = False
                self._watch()
            except GoneError:
                self._restart("gone")
                self._version = ""
                consistent = True
            except (AnubisError, OSError, ValueError) as e:  # dropped connection, API down, bad line
                failures += 1
                self._restart("error")
                log.warning("watching %s failed (%s); retrying", self.resource.plural, e)
                self.stop.wait(self.backoff(failures))
            except Exception as e:  # noqa: BLE001 - urllib3 protocol errors and the like: never die
                failures += 1
                self._restart("error")
                log.warning("watching %s failed (%s: %s); retrying", self.resource.plural, type(e).__name__, e)
                self.stop.wait(self.backoff(failures))

    def _watch(self) -> None:
        """Watch from the last version seen until the stream ends (then list again: the periodic
        resync). A dropped connection raises, and the next watch goes on from the last version."""
        stream = self.client.watch(self.resource, self.namespace, self.selector, self._version, self.resync_seconds)
        for event in stream:
            if self.stop.is_set():
                return
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == "ERROR":
                code = obj.get("code")
                if code == 410:
                    raise GoneError(410, str(obj.get("message", "resourceVersion too old")))
                raise ValueError(f"watch error event: {obj.get('message', obj)}")
            new_version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                obj.setdefault("kind", self.resource.kind)
                self.sink.event(self.resource, str(kind), obj)
            if new_version:  # after the hand-over: `seen` never runs ahead of what the sink holds
                self._version = new_version
                self._saw(new_version)
        self._version = ""  # the server ended the watch (timeoutSeconds): resync with a fresh list
        self._restart("resync")
