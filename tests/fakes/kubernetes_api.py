"""A fake Kubernetes API over real HTTP, for the official ``kubernetes`` client (and ``anubis controller``).

Stateful and as strict as the API server where the controller depends on it (kubernetes v1.29–v1.33;
the files named are under ``staging/src/k8s.io/apiserver/pkg`` unless said otherwise):

* label selectors (equality, inequality, existence); resourceVersion: one counter for everything, as
  etcd's revision; list + watch from a version; unknown paths, methods and query parameters refused.
* **Lists** page with ``limit``/``continue``; later pages come from the first page's snapshot. A
  ``continue`` token whose version was compacted (:meth:`FakeKubernetes.compact`) is answered ``410
  Gone`` (reason ``Expired``) with the API's own message (``storage/etcd3/store.go``, ``GetList``);
  an unknown token ``400``. ``resourceVersion=0`` is served from the watch cache, which ignores
  ``limit`` (``storage/cacher/cacher.go``: ``shouldDelegateList``); any other resourceVersion older
  than the compaction is ``410``. List items carry no ``kind``/``apiVersion`` (only the list does:
  the API encodes the internal list, ``apimachinery/pkg/runtime``), as a raw client sees them.
* **Watches** (``storage/cacher/cache_watcher.go``): from a version (``410 Gone`` when compacted, as
  an HTTP status with :attr:`FakeKubernetes.gone_as_http` or as an ``ERROR`` event, as the cacher
  does), or from ``0``/unset with a synthetic ``ADDED`` per object first. An object whose labels stop
  matching the selector is sent as ``DELETED``, one that starts to match as ``ADDED``
  (``convertToWatchEvent``). ``BOOKMARK`` events (``kind``, ``apiVersion``, ``metadata.resourceVersion``
  only) when ``allowWatchBookmarks=true``, every :attr:`bookmark_interval` of quiet and before the
  watch ends. Every watch is bounded: ``timeoutSeconds``, or without it a random time between one and
  two :attr:`min_request_timeout` (``endpoints/handlers/get.go``: ``ListResource``), then the stream
  ends cleanly. :meth:`FakeKubernetes.drop_watches` cuts streams mid-chunk instead.
* **Writes**: merge and strategic-merge PATCH, DELETE, POST. A Job's ``spec.template``,
  ``selector``, ``completions``, ``completionMode`` and ``podFailurePolicy`` cannot change: ``422
  Invalid``, ``field is immutable`` (``pkg/apis/batch/validation/validation.go``,
  ``ValidateJobSpecUpdate``; not modelled, so stricter, never kinder: the scheduling directives of a
  suspended Job that never started, and ``completions`` of an elastic Indexed Job).
  Custom resources (MPIJobs) are pruned to their CRD's structural schema on create and patch
  (``apiextensions-apiserver/pkg/apiserver/schema/pruning/algorithm.go``), with a ``Warning: 299``
  header per unknown field, as with ``fieldValidation=Warn``, the default since 1.27; the CRD is
  kubeflow/mpi-operator v0.6.0's (``../shared/crds/mpijobs-v0.6.0.yaml``).
* injected 5xx/429 with ``Retry-After``; pod logs (``timestamps=true``, ``tailLines``, ``follow=true``
  streamed until the container ends); MPIJobs (``kubeflow.org/v2beta1``) and Nodes.

Anything else is answered 404 and recorded in :attr:`FakeKubernetes.unexpected`, which tests assert
empty: a fake that accepts anything proves nothing.

Tests and the cluster simulator change objects in process (:meth:`create`, :meth:`mutate`,
:meth:`delete`); every change is an event that watches see.
"""

from __future__ import annotations

import bisect
import copy
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.crd_pruning import CRD_FILES, crd_schema, prune

KINDS: dict[str, tuple[str, str, bool]] = {
    # plural: (apiVersion, kind, namespaced)
    "jobs": ("batch/v1", "Job", True),
    "cronjobs": ("batch/v1", "CronJob", True),
    "pods": ("v1", "Pod", True),
    "mpijobs": ("kubeflow.org/v2beta1", "MPIJob", True),
    "nodes": ("v1", "Node", False),
    "namespaces": ("v1", "Namespace", False),
    "configmaps": ("v1", "ConfigMap", True),  # created from rendered manifests (script mode), as Argo CD does
    "services": ("v1", "Service", True),
    # Kueue (tests/fakes/kueue.py)
    "workloads": ("kueue.x-k8s.io/v1beta2", "Workload", True),
    "localqueues": ("kueue.x-k8s.io/v1beta2", "LocalQueue", True),
    "clusterqueues": ("kueue.x-k8s.io/v1beta2", "ClusterQueue", False),
}
_PREFIX = {"v1": "/api/v1", "batch/v1": "/apis/batch/v1", "kubeflow.org/v2beta1": "/apis/kubeflow.org/v2beta1",
           "kueue.x-k8s.io/v1beta2": "/apis/kueue.x-k8s.io/v1beta2"}
_ROUTE = re.compile(
    r"^(?P<prefix>/api/v1|/apis/batch/v1|/apis/kubeflow\.org/v2beta1|/apis/kueue\.x-k8s\.io/v1beta2)"
    r"(?:/namespaces/(?P<ns>[a-z0-9.-]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[a-z0-9.-]+))?(?P<sub>/log)?$"
)
# Kueue's visibility API (an aggregated API: served only where Kueue is installed with it)
_VISIBILITY = re.compile(
    r"^/apis/visibility\.kueue\.x-k8s\.io/v1beta2/namespaces/(?P<ns>[a-z0-9.-]+)/localqueues/(?P<name>[a-z0-9.-]+)"
    r"/pendingworkloads$"
)


IMMUTABLE_JOB_FIELDS = ("template", "selector", "completions", "completionMode", "podFailurePolicy")
EXPIRED_CONTINUE = ("The provided continue parameter is too old to display a consistent list result. You can start "
                    "a new list without the continue parameter, or use the continue token in this response to "
                    "retrieve the remainder of the results. Continuing with the provided token results in an "
                    "inconsistent list - objects that were created, modified, or deleted between the time the first "
                    "chunk was returned and now may show up in the list.")


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nanos(t: float) -> str:
    dt = datetime.fromtimestamp(t, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"


_IMMUTABLE = (str, int, float, bool, type(None))


def clone(obj: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, strings, numbers, booleans, ``None``): what
    :func:`copy.deepcopy` makes of it, several times faster (no memo, no dispatch on every value);
    anything else is handed to :func:`copy.deepcopy`. The fake copies every object it stores, sends
    and records as an event: under a burst of thousands of runs this was most of its CPU."""
    kind = type(obj)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else clone(v) for k, v in obj.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else clone(v) for v in obj]
    if kind in _IMMUTABLE:
        return obj
    if kind is tuple:
        return tuple(clone(v) for v in obj)
    return copy.deepcopy(obj)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif " " in term or "(" in term:
            raise ValueError(f"unsupported label selector term {term!r}")
        elif term not in labels:
            return False
    return True


def api_client_for(url: str) -> Any:
    """An ``ApiClient`` of the official client for the fake served at ``url`` (in this process or in
    another: :mod:`fakes.cluster_process`)."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    configuration.connection_pool_maxsize = 64
    return client.ApiClient(configuration)


@dataclass
class Fault:
    status: int
    count: int
    retry_after: float | None = None
    method: str | None = None
    path_contains: str | None = None


@dataclass
class _Event:
    rv: int
    plural: str
    namespace: str
    type: str
    obj: dict[str, Any]
    old_labels: dict[str, str] | None = None  # a MODIFIED object's labels before the change
    previous: dict[str, Any] | None = None  # ... and the object itself, when its labels changed


class InvalidError(ValueError):
    """422 Invalid: the change is refused by validation."""

    def __init__(self, kind: str, name: str, field_path: str, detail: str) -> None:
        super().__init__(f'{kind} "{name}" is invalid: {field_path}: {detail}')
        self.kind, self.name, self.field_path = kind, name, field_path


@dataclass
class Stats:
    requests: int = 0
    watches: int = 0
    lists: int = 0
    cache_lists: int = 0  # lists served from the watch cache (resourceVersion=0)
    bookmarks: int = 0
    patches: list[tuple[float, str, str, dict[str, Any]]] = field(default_factory=list)  # time, plural, name, body


class FakeKubernetes:
    def __init__(self, *, watch_chunk_wait: float = 0.5, bookmark_interval: float = 1.0,
                 min_request_timeout: float = 1800.0, prune_custom_resources: bool = True) -> None:
        self._lock = threading.Condition()
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, ns, name)
        self._events: list[_Event] = []
        self._event_rvs: list[int] = []  # the events' resourceVersions, ascending (for bisect)
        self._rv = 1000
        self._compacted = 0
        self._epoch = 0  # bumped by drop_watches
        self._faults: list[Fault] = []
        self._logs: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
        self._pages: dict[str, tuple[list[dict[str, Any]], str]] = {}  # continue token -> list snapshot
        self.unexpected: list[str] = []
        self.stats = Stats()
        self.gone_as_http = False
        self.watch_chunk_wait = watch_chunk_wait
        self.bookmark_interval = bookmark_interval
        self.min_request_timeout = min_request_timeout
        self.prune_custom_resources = prune_custom_resources
        self.pruned: list[str] = []  # "<plural>/<name>: <field path>" of every field pruned
        self.on_delete: list[Callable[[str, dict[str, Any]], None]] = []
        # mutating admission (a webhook: Kueue suspends a queued job at creation), run on every create
        self.on_create: list[Callable[[str, dict[str, Any]], None]] = []
        self.visibility: Callable[[str, str], dict[str, Any]] | None = None
        self._last_pruned: list[str] = []
        self._latest: dict[tuple[str, str, str], dict[str, Any]] = {}  # each object's last recorded version
        self._compact_after: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()

    # -- server -----------------------------------------------------------------------------------

    def start(self) -> FakeKubernetes:
        fake = self

        class Handler(_Handler):
            api = fake

        server = _Server(("127.0.0.1", 0), Handler)
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.drop_watches()
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def api_client(self) -> Any:
        return api_client_for(self.url)

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "anubis-runs"}}],
        }), encoding="utf-8")
        return path

    # -- state, in process -------------------------------------------------------------------------

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _record(self, plural: str, type_: str, obj: dict[str, Any], old_labels: dict[str, str] | None = None,
                previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record the change as an event (a copy of ``obj``: the version watches send); answers that
        copy, which nothing may change."""
        rv = int(obj["metadata"]["resourceVersion"])
        event = _Event(rv, plural, obj["metadata"].get("namespace", ""), type_, clone(obj), old_labels, previous)
        self._events.append(event)
        self._latest[(plural, event.namespace, obj["metadata"]["name"])] = event.obj
        self._event_rvs.append(rv)
        self._lock.notify_all()
        return event.obj

    def create(self, plural: str, obj: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
        api_version, kind, namespaced = KINDS[plural]
        with self._lock:
            obj = clone(obj)
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            meta = obj.setdefault("metadata", {})
            ns = meta.get("namespace", "") if namespaced else ""
            key = (plural, ns, meta["name"])
            if key in self._objects:
                raise KeyError(f"{plural} {ns}/{meta['name']} already exists")
            obj = self._pruned(plural, obj)
            meta = obj["metadata"]
            for admit in self.on_create:
                admit(plural, obj)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", rfc3339(now or time.time()))
            meta["resourceVersion"] = str(self._next_rv())
            self._objects[key] = obj
            self._record(plural, "ADDED", obj)
            return clone(obj)

    def _pruned(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A custom resource as the API server stores it (lock held)."""
        self._last_pruned = []
        schema = crd_schema(plural) if plural in CRD_FILES and self.prune_custom_resources else None
        if schema is None:
            return obj
        pruned: list[str] = []
        result: dict[str, Any] = prune(obj, schema, "", pruned, root=True)
        name = (obj.get("metadata") or {}).get("name", "")
        self.pruned.extend(f"{plural}/{name}: {p}" for p in pruned)
        self._last_pruned = pruned
        return result

    def mutate(self, plural: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Change the stored object in place (``change``), as a write through the API would: a new
        resourceVersion, a MODIFIED event; answers a copy of the new version."""
        return clone(self._changed(plural, namespace, name, change))

    def apply(self, plural: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        """:meth:`mutate` for a caller that does not read the answer (the simulator: no copy made)."""
        self._changed(plural, namespace, name, change)

    def _changed(self, plural: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """:meth:`mutate`, answering the recorded version itself (read it, never change it)."""
        with self._lock:
            obj = self._objects[(plural, namespace, name)]
            old_labels = dict(obj["metadata"].get("labels") or {})
            before = self._latest.get((plural, namespace, name))  # the last version, as recorded
            change(obj)
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            changed = (obj["metadata"].get("labels") or {}) != old_labels
            return self._record(plural, "MODIFIED", obj, old_labels, before if changed else None)

    def update(self, plural: str, namespace: str, name: str, new: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Replace the object with ``new`` as an update through the API does: immutable fields checked
        (:class:`InvalidError`), a custom resource pruned; answers the stored version as recorded
        (read it, never change it) and the pruned paths."""
        with self._lock:
            current = self._objects[(plural, namespace, name)]
            if plural == "jobs":
                for key in IMMUTABLE_JOB_FIELDS:
                    if (current.get("spec") or {}).get(key) != (new.get("spec") or {}).get(key):
                        raise InvalidError("Job.batch", name, f"spec.{key}",
                                           f"Invalid value: {json.dumps((new.get('spec') or {}).get(key))[:200]}: "
                                           "field is immutable")
            self._last_pruned = []
            stored = self._pruned(plural, new)
            pruned = list(self._last_pruned)

            def replace_all(obj: dict[str, Any]) -> None:
                obj.clear()
                obj.update(stored)

            return self._changed(plural, namespace, name, replace_all), pruned

    def delete(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.pop((plural, namespace, name), None)
            if obj is None:
                return None
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self._record(plural, "DELETED", obj)
            self._latest.pop((plural, namespace, name), None)
        for hook in self.on_delete:
            hook(plural, obj)
        return clone(obj)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((plural, namespace, name))
            return clone(obj) if obj is not None else None

    def exists(self, plural: str, namespace: str, name: str) -> bool:
        """Whether the object is stored (:meth:`get` without the copy)."""
        with self._lock:
            return (plural, namespace, name) in self._objects

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [clone(o) for (p, ns, _), o in self._objects.items()
                    if p == plural and (namespace is None or ns == namespace)]

    def set_log(self, namespace: str, pod: str, container: str, lines: list[str], start: float | None = None) -> None:
        t0 = start if start is not None else time.time()
        with self._lock:
            self._logs[(namespace, pod, container)] = [(t0 + i * 0.001, line) for i, line in enumerate(lines)]
            self._lock.notify_all()

    def append_log(self, namespace: str, pod: str, container: str, lines: list[str]) -> None:
        """A container printing more: ``follow=true`` readers of its log see the new lines."""
        now = time.time()
        with self._lock:
            kept = self._logs.setdefault((namespace, pod, container), [])
            kept.extend((now + i * 0.001, line) for i, line in enumerate(lines))
            self._lock.notify_all()

    # -- faults -----------------------------------------------------------------------------------

    def compact(self) -> None:
        """Forget every event so far: a watch or list from an older resourceVersion gets 410 Gone."""
        with self._lock:
            self._compacted = self._rv
            self._events.clear()
            self._event_rvs.clear()

    def compact_after_pages(self, pages: int) -> None:
        """Compact (:meth:`compact`) once ``pages`` pages of paged lists have been served: the
        ``continue`` token of the page after is then too old, as after etcd's compaction."""
        with self._lock:
            self._compact_after = pages

    def drop_watches(self) -> None:
        """Cut every open watch connection mid-stream (no final chunk: a reset, as the client sees it)."""
        with self._lock:
            self._epoch += 1
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._lock.notify_all()

    def fail(self, status: int, count: int = 1, *, retry_after: float | None = None, method: str | None = None,
             path_contains: str | None = None) -> None:
        with self._lock:
            self._faults.append(Fault(status, count, retry_after, method, path_contains))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and (fault.method in (None, method)) and (
                        fault.path_contains is None or fault.path_contains in path):
                    fault.count -= 1
                    return fault
            return None

    def watching(self) -> int:
        with self._lock:
            return len(self._open)


def _listen_backlog() -> int:
    """The accept queue Go's ``net.Listen`` asks for on Linux: ``/proc/sys/net/core/somaxconn``
    (``src/net/sock_linux.go``, ``maxListenerBacklog``; ``syscall.SOMAXCONN`` when unreadable)."""
    try:
        value = int(Path("/proc/sys/net/core/somaxconn").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return socket.SOMAXCONN
    return value if value > 0 else socket.SOMAXCONN


class _Server(ThreadingHTTPServer):
    """A thread per connection; the listening socket's backlog is the API server's, set before
    ``listen`` (socketserver reads ``request_queue_size`` in ``server_activate``, from the
    constructor: set on an instance afterwards, as this fake once did, it is never used, and the
    backlog stays at socketserver's 5). With 5, a controller opening its connections at once (a
    burst of reports on 16 workers) had SYNs dropped, each retried by the kernel a second later:
    a stall a real API server does not cause."""

    daemon_threads = True
    request_queue_size = _listen_backlog()


class _Handler(BaseHTTPRequestHandler):
    api: FakeKubernetes
    protocol_version = "HTTP/1.1"
    # Go sets TCP_NODELAY on every TCP connection (``net/tcpsock.go``, ``SetNoDelay``: "The default is
    # true (no delay)"; ``newTCPConn`` calls ``setNoDelay(fd, true)``), so the API server sends a small
    # answer at once. Python's server leaves Nagle's algorithm on: its headers and body, written
    # apart, then waited on the client's delayed ACK (~40 ms a request on loopback).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                          "reason": reason, "code": code}, headers)

    def _unexpected(self, why: str) -> None:
        self.api.unexpected.append(f"{self.command} {self.path}: {why}")
        self._status(404, "NotFound", f"the fake Kubernetes API does not serve this: {why}")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null") if length else None

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        api = self.api
        with api._lock:
            api.stats.requests += 1
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        visibility = _VISIBILITY.match(url.path)
        if visibility is not None and method == "GET" and api.visibility is not None:
            return self._send(200, api.visibility(visibility["ns"], visibility["name"]))
        if visibility is not None:  # no Kueue visibility API installed: the aggregator answers 404
            return self._status(404, "NotFound", "the server could not find the requested resource")
        route = _ROUTE.match(url.path)
        if route is None or route["plural"] not in KINDS:
            self._body() if method in ("POST", "PATCH", "PUT") else None
            return self._unexpected("unknown path")
        plural, ns, name, sub = route["plural"], route["ns"] or "", route["name"], route["sub"]
        api_version, _kind, namespaced = KINDS[plural]
        if _PREFIX[api_version] != route["prefix"] or (namespaced is False and ns) or (sub and plural != "pods"):
            return self._unexpected("wrong API group or scope")
        fault = api._take_fault(method, url.path)
        if fault is not None:
            if method in ("POST", "PATCH", "PUT"):
                self._body()
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            return self._status(fault.status, "InternalError" if fault.status >= 500 else "TooManyRequests",
                                f"injected fault {fault.status}", headers)
        try:
            if method == "GET" and sub:
                return self._log(ns, name or "", query)
            if method == "GET" and name:
                return self._get(plural, ns, name)
            if method == "GET" and query.get("watch") in ("true", "1", "True"):
                return self._watch(plural, ns if namespaced else None, query, bool(route["ns"]) or not namespaced)
            if method == "GET":
                return self._list(plural, ns, query, bool(route["ns"]) or not namespaced)
            if method == "PATCH" and name:
                return self._patch(plural, ns, name)
            if method == "DELETE" and name:
                return self._delete(plural, ns, name)
            if method == "POST" and not name:
                return self._create(plural, ns)
        except ValueError as e:
            return self._status(400, "BadRequest", str(e))
        if method in ("POST", "PATCH", "PUT"):
            self._body()
        return self._unexpected("unsupported method")

    def _get(self, plural: str, ns: str, name: str) -> None:
        obj = self.api.get(plural, ns, name)
        if obj is None:
            return self._status(404, "NotFound", f'{plural} "{name}" not found')
        self._send(200, obj)

    def _check_query(self, query: dict[str, str], allowed: set[str]) -> None:
        unknown = set(query) - allowed
        if unknown:
            raise ValueError(f"unsupported query parameters {sorted(unknown)}")

    def _list(self, plural: str, ns: str, query: dict[str, str], scoped: bool) -> None:
        self._check_query(query, {"labelSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch",
                                  "timeoutSeconds"})
        api = self.api
        selector = query.get("labelSelector", "")
        token = query.get("continue") or ""
        version = query.get("resourceVersion", "")
        if version and not version.isdigit():
            return self._status(400, "BadRequest", f"invalid resourceVersion {version!r}")
        from_cache = version == "0" and not token
        with api._lock:
            api.stats.lists += 1
            api.stats.cache_lists += from_cache
            if token:
                if token not in api._pages:
                    return self._status(400, "BadRequest", "continue key is not valid: the token was not issued by this server")
                items, rv = api._pages[token]
                if int(rv) < api._compacted:  # etcd compacted the revision the list was read at
                    api._pages.pop(token, None)
                    return self._status(410, "Expired", EXPIRED_CONTINUE)
            else:
                if version and version != "0" and int(version) < api._compacted:
                    return self._status(410, "Expired", f"too old resource version: {version} ({api._compacted})")
                matching = sorted((k, o) for k, o in api._objects.items()
                                  if k[0] == plural and (not scoped or not ns or k[1] == ns)
                                  and selector_matches(selector, o["metadata"].get("labels") or {}))
                items, rv = [o for _, o in matching], str(api._rv)
        start = int(token.split(":")[1]) if token else 0
        limit = 0 if from_cache else int(query.get("limit") or 0)  # the watch cache ignores limit
        page = [clone(o) for o in (items[start:start + limit] if limit else items[start:])]
        for item in page:  # items of a list carry no kind or apiVersion: the list does
            item.pop("kind", None)
            item.pop("apiVersion", None)
        more = bool(limit) and start + limit < len(items)
        with api._lock:
            if more and api._compact_after is not None:
                api._compact_after -= 1
                if api._compact_after <= 0:
                    api._compact_after = None
                    api._next_rv()  # writes elsewhere went on; then the compaction
                    api.compact()
        if more:
            with api._lock:
                next_token = f"{rv}-{id(items)}:{start + limit}"
                api._pages[next_token] = (items, rv)
                while len(api._pages) > 64:
                    api._pages.pop(next(iter(api._pages)))
        api_version, kind, _ = KINDS[plural]
        self._send(200, {"kind": f"{kind}List", "apiVersion": api_version,
                         "metadata": {"resourceVersion": rv, **({"continue": next_token} if more else {})},
                         "items": page})

    def _watch(self, plural: str, ns: str | None, query: dict[str, str], scoped: bool) -> None:
        self._check_query(query, {"labelSelector", "watch", "resourceVersion", "timeoutSeconds",
                                  "allowWatchBookmarks"})
        api = self.api
        selector = query.get("labelSelector", "")
        raw_version = query.get("resourceVersion") or ""
        if raw_version and not raw_version.isdigit():
            return self._status(400, "BadRequest", f"invalid resourceVersion {raw_version!r}")
        since = int(raw_version or 0)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1", "True")
        if query.get("timeoutSeconds"):
            timeout = float(query["timeoutSeconds"])
        else:  # the server's own bound: minRequestTimeout * [1, 2)
            timeout = api.min_request_timeout * (1.0 + random.random())  # noqa: S311 - not security
        api_version, kind, _ = KINDS[plural]

        def in_scope(namespace: str) -> bool:
            return ns is None or not scoped or namespace == ns

        with api._lock:
            api.stats.watches += 1
            too_old = since != 0 and since < api._compacted
            epoch = api._epoch
            initial: list[dict[str, Any]] = []
            if since == 0:  # "any version": the current state as ADDED events, then what follows
                initial = [clone(o) for (p, n, _), o in sorted(api._objects.items())
                           if p == plural and in_scope(n) and selector_matches(selector, o["metadata"].get("labels") or {})]
                since = api._rv
        if too_old and api.gone_as_http:
            return self._status(410, "Expired", f"too old resource version: {since} ({api._compacted})")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sock = self.connection
        with api._lock:
            api._open.add(sock)
        try:
            if too_old:
                self._chunk({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                                         "message": f"too old resource version: {since}",
                                                         "reason": "Expired", "code": 410}})
                self._chunk(None)
                return
            for obj in initial:
                self._chunk({"type": "ADDED", "object": obj})
            deadline = time.monotonic() + timeout
            quiet_since = time.monotonic()
            position = since

            def bookmark() -> None:
                with api._lock:
                    api.stats.bookmarks += 1
                self._chunk({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
                                                            "metadata": {"resourceVersion": str(position)}}})

            while True:
                with api._lock:
                    if api._epoch != epoch:
                        raise ConnectionResetError("dropped by the test")
                    start = bisect.bisect_right(api._event_rvs, position)
                    batch = [e for e in api._events[start:] if e.plural == plural and in_scope(e.namespace)]
                    if not batch and start < len(api._events):
                        position = api._events[-1].rv  # only other kinds' events: skip them
                    send_bookmark = False
                    if not batch:
                        # Decided on the events just read, under the same hold of the lock: every event up
                        # to _rv was sent or is not ours. (Deciding after a wait would skip the events
                        # recorded during it: the cacher's bookmark never runs ahead of what it sent.)
                        if bookmarks and time.monotonic() - quiet_since >= api.bookmark_interval:
                            position = max(position, api._rv)
                            quiet_since = time.monotonic()
                            send_bookmark = True
                        else:
                            left = deadline - time.monotonic()
                            if left <= 0:
                                break
                            api._lock.wait(min(left, api.watch_chunk_wait))
                            if api._epoch != epoch:
                                raise ConnectionResetError("dropped by the test")
                            continue
                if send_bookmark:
                    bookmark()
                    continue
                for event in batch:
                    position = event.rv
                    sent = _as_seen(event, selector)
                    if sent == "DELETED" and event.type == "MODIFIED" and event.previous is not None:
                        # the object as the watch last matched it, at the event's version (cache_watcher.go)
                        gone = clone(event.previous)
                        gone["metadata"]["resourceVersion"] = str(event.rv)
                        self._chunk({"type": sent, "object": gone})
                    elif sent is not None:
                        self._chunk({"type": sent, "object": event.obj})
                        quiet_since = time.monotonic()
            if bookmarks:  # the cacher sends one as the watch is about to end
                with api._lock:
                    position = max(position, api._rv)
                bookmark()
            self._chunk(None)
        except (ConnectionError, OSError):
            self.close_connection = True
        finally:
            with api._lock:
                api._open.discard(sock)

    def _chunk(self, event: dict[str, Any] | None) -> None:
        if event is None:
            self.wfile.write(b"0\r\n\r\n")
        else:
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _log(self, ns: str, pod: str, query: dict[str, str]) -> None:
        self._check_query(query, {"container", "timestamps", "follow", "tailLines"})
        container = query.get("container", "")
        with self.api._lock:  # read in place: only the container names are needed
            obj = self.api._objects.get(("pods", ns, pod))
            names = [] if obj is None else [
                c["name"] for c in obj["spec"].get("containers", []) + obj["spec"].get("initContainers", [])]
        if obj is None:
            return self._status(404, "NotFound", f'pods "{pod}" not found')
        if container not in names:
            return self._status(400, "BadRequest", f"container {container} is not valid for pod {pod}")
        lines = self.api._logs.get((ns, pod, container))
        if lines is None:
            return self._status(400, "BadRequest", f'container "{container}" in pod "{pod}" is waiting to start')
        stamps = query.get("timestamps") == "true"
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        if query.get("follow") == "true":
            return self._follow_log(ns, pod, container, stamps, tail)
        if tail is not None:
            lines = lines[-tail:] if tail else []
        text = "".join((f"{_nanos(t)} " if stamps else "") + line + "\n" for t, line in lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def _follow_log(self, ns: str, pod: str, container: str, stamps: bool, tail: int | None) -> None:
        """``follow=true``: the lines so far, then each new one as it is added, until the container has
        terminated (or the pod is gone), as the kubelet ends the stream."""
        api = self.api
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sock = self.connection
        with api._lock:
            api._open.add(sock)
            epoch = api._epoch
            sent = max(0, len(api._logs.get((ns, pod, container), [])) - tail) if tail is not None else 0
        try:
            while True:
                with api._lock:
                    if api._epoch != epoch:
                        raise ConnectionResetError("dropped by the test")
                    lines = api._logs.get((ns, pod, container), [])
                    batch, sent = lines[sent:], len(lines)
                    obj = api._objects.get(("pods", ns, pod))
                    ended = obj is None or _terminated(obj, container)
                    if not batch and not ended:
                        api._lock.wait(api.watch_chunk_wait)
                        continue
                if batch:
                    data = "".join((f"{_nanos(t)} " if stamps else "") + line + "\n" for t, line in batch).encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                elif ended:
                    break
            self._chunk(None)
        except (ConnectionError, OSError):
            self.close_connection = True
        finally:
            with api._lock:
                api._open.discard(sock)

    def _patch(self, plural: str, ns: str, name: str) -> None:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0]
        body = self._body()
        if content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return self._unexpected(f"PATCH with content type {content_type!r} (body {body!r})")
        if not isinstance(body, dict):
            return self._status(400, "BadRequest", "a merge patch must be a JSON object")
        api = self.api
        stored: dict[str, Any] | None = None
        with api._lock:  # read, merge and write at one version, as the API server's GuaranteedUpdate
            current = api._objects.get((plural, ns, name))
            if current is not None:
                api.stats.patches.append((time.time(), plural, name, body))
                try:
                    # merge_patch copies what the patch reaches and leaves the stored object as it is
                    stored, pruned = api.update(plural, ns, name, merge_patch(current, body))
                except InvalidError as e:
                    invalid = e
        if current is None:
            return self._status(404, "NotFound", f'{plural} "{name}" not found')
        if stored is None:
            return self._invalid(invalid)
        self._send(200, stored, _warnings(pruned))  # the recorded version: never changed, read unlocked

    def _invalid(self, e: InvalidError) -> None:
        self._send(422, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": str(e),
                         "reason": "Invalid", "code": 422,
                         "details": {"name": e.name, "group": "batch", "kind": "jobs",
                                     "causes": [{"reason": "FieldValueInvalid", "message": str(e).split(": ", 1)[1],
                                                 "field": e.field_path}]}})

    def _delete(self, plural: str, ns: str, name: str) -> None:
        self._body()
        obj = self.api.delete(plural, ns, name)
        if obj is None:
            return self._status(404, "NotFound", f'{plural} "{name}" not found')
        self._send(200, obj)

    def _create(self, plural: str, ns: str) -> None:
        body = self._body()
        if not isinstance(body, dict) or not (body.get("metadata") or {}).get("name"):
            return self._status(400, "BadRequest", "an object with metadata.name is required")
        body["metadata"]["namespace"] = ns
        try:
            with self.api._lock:
                created = self.api.create(plural, body)
                pruned = list(self.api._last_pruned)
            self._send(201, created, _warnings(pruned))
        except KeyError as e:
            self._status(409, "AlreadyExists", str(e))


def _warnings(pruned: list[str]) -> dict[str, str]:
    """``Warning`` headers for pruned fields (fieldValidation=Warn: one per field; joined here)."""
    if not pruned:
        return {}
    return {"Warning": ", ".join(f'299 - "unknown field \\"{p}\\""' for p in pruned)}


def _as_seen(event: _Event, selector: str) -> str | None:
    """The event type a watch with ``selector`` gets for ``event`` (None: not sent): an object whose
    labels stop matching is DELETED for it, one that starts to match ADDED (cache_watcher.go)."""
    now = selector_matches(selector, event.obj["metadata"].get("labels") or {})
    if event.type != "MODIFIED" or event.old_labels is None:
        return event.type if now else None
    before = selector_matches(selector, event.old_labels)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    return "DELETED" if before else None


def _terminated(pod: dict[str, Any], container: str) -> bool:
    status = pod.get("status") or {}
    for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if c.get("name") == container:
            return bool((c.get("state") or {}).get("terminated"))
    return False


def iter_events(api: FakeKubernetes) -> Iterator[tuple[str, str]]:
    with api._lock:
        return iter([(e.type, e.obj["metadata"]["name"]) for e in api._events])
