"""A fake Kubernetes API over real HTTP, for the official ``kubernetes`` client (and ``anubis controller``).

Stateful and strict where the controller depends on it: label selectors (equality, inequality,
existence), resourceVersion (one counter for everything, as etcd's), list + watch from a version,
``410 Gone`` for a version older than the last :meth:`FakeKubernetes.compact`, chunked watch streams
that :meth:`FakeKubernetes.drop_watches` cuts mid-stream, injected 5xx/429 with ``Retry-After``,
pod logs (``timestamps=true``, ``tailLines``, ``follow=true`` streamed until the container ends), merge and strategic-merge PATCH, DELETE, POST, MPIJobs
(``kubeflow.org/v2beta1``) and Nodes. Anything else is answered 404 and recorded in
:attr:`FakeKubernetes.unexpected`, which tests assert empty: a fake that accepts anything proves nothing.

Tests and the cluster simulator change objects in process (:meth:`create`, :meth:`mutate`,
:meth:`delete`); every change is an event that watches see.
"""

from __future__ import annotations

import bisect
import copy
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
}
_PREFIX = {"v1": "/api/v1", "batch/v1": "/apis/batch/v1", "kubeflow.org/v2beta1": "/apis/kubeflow.org/v2beta1"}
_ROUTE = re.compile(
    r"^(?P<prefix>/api/v1|/apis/batch/v1|/apis/kubeflow\.org/v2beta1)"
    r"(?:/namespaces/(?P<ns>[a-z0-9.-]+))?/(?P<plural>[a-z]+)(?:/(?P<name>[a-z0-9.-]+))?(?P<sub>/log)?$"
)


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nanos(t: float) -> str:
    dt = datetime.fromtimestamp(t, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}000Z"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
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


@dataclass
class Stats:
    requests: int = 0
    watches: int = 0
    lists: int = 0
    patches: list[tuple[float, str, str, dict[str, Any]]] = field(default_factory=list)  # time, plural, name, body


class FakeKubernetes:
    def __init__(self, *, watch_chunk_wait: float = 0.5) -> None:
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
        self.on_delete: list[Callable[[str, dict[str, Any]], None]] = []
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()

    # -- server -----------------------------------------------------------------------------------

    def start(self) -> FakeKubernetes:
        fake = self

        class Handler(_Handler):
            api = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.request_queue_size = 256
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
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.connection_pool_maxsize = 64
        return client.ApiClient(configuration)

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

    def _record(self, plural: str, type_: str, obj: dict[str, Any]) -> None:
        rv = int(obj["metadata"]["resourceVersion"])
        self._events.append(_Event(rv, plural, obj["metadata"].get("namespace", ""), type_, copy.deepcopy(obj)))
        self._event_rvs.append(rv)
        self._lock.notify_all()

    def create(self, plural: str, obj: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
        api_version, kind, namespaced = KINDS[plural]
        with self._lock:
            obj = copy.deepcopy(obj)
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            meta = obj.setdefault("metadata", {})
            ns = meta.get("namespace", "") if namespaced else ""
            key = (plural, ns, meta["name"])
            if key in self._objects:
                raise KeyError(f"{plural} {ns}/{meta['name']} already exists")
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", rfc3339(now or time.time()))
            meta["resourceVersion"] = str(self._next_rv())
            self._objects[key] = obj
            self._record(plural, "ADDED", obj)
            return copy.deepcopy(obj)

    def mutate(self, plural: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        with self._lock:
            obj = self._objects[(plural, namespace, name)]
            change(obj)
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self._record(plural, "MODIFIED", obj)
            return copy.deepcopy(obj)

    def delete(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.pop((plural, namespace, name), None)
            if obj is None:
                return None
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self._record(plural, "DELETED", obj)
        for hook in self.on_delete:
            hook(plural, obj)
        return copy.deepcopy(obj)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self._objects.get((plural, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for (p, ns, _), o in self._objects.items()
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


class _Handler(BaseHTTPRequestHandler):
    api: FakeKubernetes
    protocol_version = "HTTP/1.1"

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
        self._check_query(query, {"labelSelector", "limit", "continue", "resourceVersion", "timeoutSeconds"})
        api = self.api
        selector = query.get("labelSelector", "")
        token = query.get("continue") or ""
        with api._lock:
            api.stats.lists += 1
            if token in api._pages:  # later pages of one list come from its snapshot, as the API's do
                items, rv = api._pages[token]
            else:
                matching = sorted((k, o) for k, o in api._objects.items()
                                  if k[0] == plural and (not scoped or not ns or k[1] == ns)
                                  and selector_matches(selector, o["metadata"].get("labels") or {}))
                items, rv = [o for _, o in matching], str(api._rv)
        start = int(token.split(":")[1]) if token else 0
        limit = int(query.get("limit") or 0)
        page = [copy.deepcopy(o) for o in (items[start:start + limit] if limit else items[start:])]
        more = bool(limit) and start + limit < len(items)
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
        since = int(query.get("resourceVersion") or 0)
        timeout = float(query.get("timeoutSeconds") or 1800)
        with api._lock:
            api.stats.watches += 1
            too_old = since < api._compacted
            epoch = api._epoch
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
            deadline = time.monotonic() + timeout
            position = since
            while True:
                with api._lock:
                    if api._epoch != epoch:
                        raise ConnectionResetError("dropped by the test")
                    start = bisect.bisect_right(api._event_rvs, position)
                    batch = [e for e in api._events[start:] if e.plural == plural
                             and (ns is None or not scoped or e.namespace == ns)]
                    if not batch and start < len(api._events):
                        position = api._events[-1].rv  # only other kinds' events: skip them
                    if not batch:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        api._lock.wait(min(left, api.watch_chunk_wait))
                        if api._epoch != epoch:
                            raise ConnectionResetError("dropped by the test")
                        continue
                for event in batch:
                    position = event.rv
                    if selector_matches(selector, event.obj["metadata"].get("labels") or {}):
                        self._chunk({"type": event.type, "object": event.obj})
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
        obj = self.api.get("pods", ns, pod)
        if obj is None:
            return self._status(404, "NotFound", f'pods "{pod}" not found')
        container = query.get("container", "")
        names = [c["name"] for c in obj["spec"].get("containers", []) + obj["spec"].get("initContainers", [])]
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
        if self.api.get(plural, ns, name) is None:
            return self._status(404, "NotFound", f'{plural} "{name}" not found')
        with self.api._lock:
            self.api.stats.patches.append((time.time(), plural, name, body))

        def apply(obj: dict[str, Any]) -> None:
            merged = merge_patch(obj, body)
            obj.clear()
            obj.update(merged)

        self._send(200, self.api.mutate(plural, ns, name, apply))

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
            self._send(201, self.api.create(plural, body))
        except KeyError as e:
            self._status(409, "AlreadyExists", str(e))


def _terminated(pod: dict[str, Any], container: str) -> bool:
    status = pod.get("status") or {}
    for c in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if c.get("name") == container:
            return bool((c.get("state") or {}).get("terminated"))
    return False


def iter_events(api: FakeKubernetes) -> Iterator[tuple[str, str]]:
    with api._lock:
        return iter([(e.type, e.obj["metadata"]["name"]) for e in api._events])
