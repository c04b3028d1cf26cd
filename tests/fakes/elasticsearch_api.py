"""A fake Elasticsearch over real HTTP, strict where the real one is strict.

What it holds to, as Elasticsearch 9 does (the version ``infra/`` deploys; :attr:`FakeElasticsearch.version`
plays another):

* every response carries ``X-Elastic-Product: Elasticsearch`` (the official client refuses a server
  without it, elasticsearch-py ``_base.py``) and ``GET /`` answers the cluster info with
  ``version.number``;
* **REST API compatibility** (Elasticsearch ``RestCompatibleVersionHelper.getCompatibleVersion`` and
  the "REST API compatibility" docs): the client sends ``Accept`` and ``Content-Type``
  ``application/vnd.elasticsearch+json; compatible-with=N`` (``+x-ndjson`` for bulk), N its own major.
  The server takes N equal to its major or the one before, and refuses anything else with 400
  ``media_type_header_exception`` caused by "Accept version must be either version 9 or 8, but found
  10" — what a 9.x client gets from an 8.x server. With a body, the ``Content-Type`` version must be
  in the same range, equal the ``Accept`` one, and both must be versioned or neither. A media type
  Elasticsearch does not read is 406. The answer's ``Content-Type`` carries the version asked for;
* ``_bulk`` bodies are NDJSON: an action line (``index``, ``create``, ``update`` or ``delete`` with
  known metadata) followed by a source line for all but ``delete``, the body ending with a newline;
  anything else is refused with a 400 and Elasticsearch's error format;
* ``index`` with an existing ``_id`` replaces the document (``result: updated``, version + 1);
  ``create`` with one answers 409 for that item;
* ``_search`` answers ``match_all``, ``match``, ``term`` and a simple ``query_string`` (words, and
  ``field:value``) over the stored documents, with ``size``, ``sort`` and ``search_after`` (ascending); ``bool`` (must, filter, should) and ``range``;
* :meth:`FakeElasticsearch.reject_next_bulk` makes the next bulk requests fail with 429, either per
  item (200 with ``errors: true`` and item statuses, as a full write queue does) or for the whole
  request;
* any other request is answered 400 and recorded in :attr:`FakeElasticsearch.unexpected`, which the
  test fixture asserts empty: a fake that accepts anything proves nothing.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "9.2.0"  # keep the major in step with infra/ (Elasticsearch) and pyproject.toml (the client)
ACTIONS = {"index", "create", "update", "delete"}
ACTION_META = {
    "_index", "_id", "routing", "version", "version_type", "if_seq_no", "if_primary_term", "pipeline",
    "require_alias", "dynamic_templates", "retry_on_conflict", "_source",
}  # fmt: skip
INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")


@dataclass
class BulkRequest:
    """One ``_bulk`` call as the fake parsed it."""

    path: str
    actions: list[tuple[str, dict[str, Any], dict[str, Any] | None]]  # (action, metadata, source)
    body_bytes: int


@dataclass
class FakeElasticsearch:
    url: str = ""
    indices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # index → id → source
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    bulk_requests: list[BulkRequest] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    product_header: bool = True  # False: behave like a server that is not Elasticsearch
    version: str = VERSION  # the Elasticsearch this fake plays (its major decides the compatibility)
    compat_headers: list[tuple[str, str]] = field(default_factory=list)  # (Accept, Content-Type) of each request
    _rejections: list[str] = field(default_factory=list)  # "items" | "request", consumed in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reject_next_bulk(self, times: int = 1, *, whole_request: bool = False) -> None:
        """The next ``times`` bulk requests fail with 429 (per item, or for the whole request)."""
        self._rejections.extend(["request" if whole_request else "items"] * times)

    def documents(self, index_pattern: str = "*") -> list[dict[str, Any]]:
        return [doc for _, _, doc in self._docs(index_pattern)]

    def _docs(self, pattern: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        regexes = [re.compile("^" + re.escape(p).replace(r"\*", ".*") + "$") for p in pattern.split(",")]
        for index in sorted(self.indices):
            if any(r.match(index) for r in regexes):
                for doc_id, doc in self.indices[index].items():
                    yield index, doc_id, doc

    # -- request handling ------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [s for s in path.split("/") if s]
        with self.lock:
            self.requests.append((method, target))
            self.compat_headers.append((headers.get("accept", ""), headers.get("content-type", "")))
            refused = self._check_compatibility(headers, bool(body))
            if refused is not None:
                return refused
            if path == "/" and method in ("GET", "HEAD"):
                return 200, _info(self.version)
            if segments[-1:] == ["_bulk"] and len(segments) <= 2 and method in ("POST", "PUT"):
                return self._bulk(path, segments[0] if len(segments) == 2 else None, headers, body, query)
            if segments[-1:] == ["_search"] and len(segments) <= 2 and method in ("GET", "POST"):
                return self._search(segments[0] if len(segments) == 2 else "*", body)
            if segments[-1:] == ["_refresh"] and len(segments) <= 2 and method in ("GET", "POST"):
                return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
            if len(segments) == 2 and segments[0] == "_index_template" and method == "PUT":
                template = json.loads(body)
                if not isinstance(template, dict) or "index_patterns" not in template:
                    return _error(400, "action_request_validation_exception", "index_patterns is missing")
                self.templates[segments[1]] = template
                return 200, {"acknowledged": True}
            self.unexpected.append(f"{method} {target}")
            return _error(400, "fake_unsupported_request", f"the fake does not know {method} {target}")

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def _check_compatibility(self, headers: dict[str, str], has_content: bool) -> tuple[int, Any] | None:
        """Elasticsearch's checks of the Accept and Content-Type versions (see the module's description)."""
        try:
            accept = _compatible_with(headers.get("accept"))
            content = _compatible_with(headers.get("content-type")) if has_content else None
        except ValueError as e:
            return _error(406, "media_type_header_exception", str(e))
        current, oldest = self.major, self.major - 1
        accept_version = current if accept is None else accept
        if not oldest <= accept_version <= current:
            return _media_error(f"Accept version must be either version {current} or {oldest}, but found "
                                f"{accept_version}. Accept={headers.get('accept')}")
        if has_content:
            content_version = current if content is None else content
            if not oldest <= content_version <= current:
                return _media_error(f"Content-Type version must be either version {current} or {oldest}, but found "
                                    f"{content_version}. Content-Type={headers.get('content-type')}")
            if content_version != accept_version or (content is None) != (accept is None):
                return _media_error(
                    "A compatible version is required on both Content-Type and Accept headers if either one has "
                    "requested a compatible version and the compatible versions must match. "
                    f"Accept={headers.get('accept')}, Content-Type={headers.get('content-type')}")
        return None

    def _bulk(self, path: str, default_index: str | None, headers: dict[str, str], body: bytes, query: dict[str, str]) -> tuple[int, Any]:
        content_type = headers.get("content-type", "")
        if "ndjson" not in content_type and "json" not in content_type:
            return _error(406, "media_type_header_exception", f"Content-Type {content_type!r} is not supported")
        if not body.endswith(b"\n"):
            return _error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
        try:
            actions = _parse_bulk(body, default_index)
        except ValueError as e:
            return _error(400, "illegal_argument_exception", str(e))
        self.bulk_requests.append(BulkRequest(path, actions, len(body)))
        rejection = self._rejections.pop(0) if self._rejections else None
        if rejection == "request":
            return _error(429, "es_rejected_execution_exception", "rejected execution of coordinating operation")
        items = []
        for n, (action, meta, source) in enumerate(actions):
            index, doc_id = meta["_index"], meta.get("_id")
            if rejection == "items" and n % 2 == 0:  # half the items rejected, as a full queue does
                items.append({action: {"_index": index, "_id": doc_id, "status": 429, "error": {
                    "type": "es_rejected_execution_exception",
                    "reason": "rejected execution of processing of [bulk item]: write queue is full",
                }}})  # fmt: skip
                continue
            items.append({action: self._apply(action, index, doc_id, source)})
        if query.get("refresh") not in (None, "false"):
            pass  # the fake is always refreshed
        return 200, {"took": 1, "errors": any("error" in next(iter(i.values())) for i in items), "items": items}

    def _apply(self, action: str, index: str, doc_id: str | None, source: dict[str, Any] | None) -> dict[str, Any]:
        docs = self.indices.setdefault(index, {})
        if doc_id is None:
            doc_id = f"auto-{len(docs)}"
        key = (index, doc_id)
        exists = doc_id in docs
        if action == "create" and exists:
            return {"_index": index, "_id": doc_id, "status": 409, "error": {
                "type": "version_conflict_engine_exception",
                "reason": f"[{doc_id}]: version conflict, document already exists",
            }}  # fmt: skip
        if action == "delete":
            if not exists:
                return {"_index": index, "_id": doc_id, "status": 404, "result": "not_found"}
            del docs[doc_id]
            return {"_index": index, "_id": doc_id, "status": 200, "result": "deleted"}
        if action == "update":
            if not exists:
                return {"_index": index, "_id": doc_id, "status": 404, "error": {"type": "document_missing_exception", "reason": "document missing"}}
            assert source is not None
            docs[doc_id] = {**docs[doc_id], **source.get("doc", {})}
        else:
            assert source is not None
            docs[doc_id] = source
        self.versions[key] = self.versions.get(key, 0) + 1
        return {
            "_index": index, "_id": doc_id, "_version": self.versions[key],
            "result": "updated" if exists else "created", "status": 200 if exists else 201,
        }  # fmt: skip

    def _search(self, pattern: str, body: bytes) -> tuple[int, Any]:
        request = json.loads(body) if body else {}
        unknown = set(request) - {"query", "size", "sort", "from", "track_total_hits", "search_after"}
        if unknown:
            return _error(400, "parsing_exception", f"the fake does not support {sorted(unknown)} in a search")
        try:
            hits = [(i, d, doc) for i, d, doc in self._docs(pattern) if _matches(request.get("query", {"match_all": {}}), doc)]
        except ValueError as e:
            return _error(400, "parsing_exception", str(e))
        for sort in reversed(request.get("sort", [])):
            name, order = (sort, "asc") if isinstance(sort, str) else next(iter(sort.items()))
            order = order if isinstance(order, str) else order.get("order", "asc")
            hits.sort(key=lambda h: _field(h[2], name) or 0, reverse=order == "desc")
        after = request.get("search_after")
        if after is not None:  # the hits whose sort values come strictly after the given ones
            sorts = request.get("sort", [])
            names = [s if isinstance(s, str) else next(iter(s)) for s in sorts]
            orders = {"asc" if isinstance(s, str) else _order(next(iter(s.values()))) for s in sorts}
            if not sorts or orders != {"asc"}:
                return _error(400, "fake_unsupported_request", "the fake pages with search_after only over ascending sorts")
            hits = [h for h in hits if [_field(h[2], n) for n in names] > list(after)]
        start, size = int(request.get("from", 0)), int(request.get("size", 10))
        return 200, {
            "took": 1, "timed_out": False,
            "hits": {
                "total": {"value": len(hits), "relation": "eq"},
                "hits": [{"_index": i, "_id": d, "_score": 1.0, "_source": doc} for i, d, doc in hits[start : start + size]],
            },
        }  # fmt: skip


#: What Elasticsearch reads: JSON (and its vendor form), NDJSON for bulk; anything else is 406.
_MEDIA = re.compile(
    r"^\s*application/(?:vnd\.elasticsearch\+)?(json|x-ndjson)\s*(?:;(?P<params>.*))?$", re.IGNORECASE)


def _compatible_with(header: str | None) -> int | None:
    """The ``compatible-with`` version of an Accept or Content-Type header (None: not versioned)."""
    if not header or header.strip() == "*/*":
        return None
    match = _MEDIA.match(header)
    if match is None:
        raise ValueError(f"Content-Type header [{header}] is not supported")
    vendor = "vnd.elasticsearch+" in header.lower()
    version = None
    for param in (match.group("params") or "").split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "compatible-with":
            if not value.strip().isdigit():
                raise ValueError(f"Invalid media-type value on header [{header}]")
            version = int(value.strip())
    if vendor and version is None:
        raise ValueError(f"Invalid media-type value on header [{header}]: compatible-with is missing")
    return version


def _media_error(reason: str) -> tuple[int, Any]:
    cause = {"type": "media_type_header_exception", "reason": "Invalid media-type value on headers [Accept, Content-Type]"}
    return 400, {"error": {"root_cause": [cause], **cause, "caused_by": {"type": "status_exception", "reason": reason}},
                 "status": 400}


def _info(version: str = VERSION) -> dict[str, Any]:
    major = int(version.split(".")[0])
    return {
        "name": "fake-node", "cluster_name": "anubis-test", "cluster_uuid": "fake-uuid",
        "version": {"number": version, "build_flavor": "default", "lucene_version": "10.3.1",
                    "minimum_wire_compatibility_version": f"{major - 1}.19.0",
                    "minimum_index_compatibility_version": f"{major - 1}.0.0"},
        "tagline": "You Know, for Search",
    }  # fmt: skip


def _error(status: int, kind: str, reason: str) -> tuple[int, Any]:
    cause = {"type": kind, "reason": reason}
    return status, {"error": {"root_cause": [cause], **cause}, "status": status}


def _parse_bulk(body: bytes, default_index: str | None) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    lines = body.split(b"\n")[:-1]
    actions: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    n = 0
    while n < len(lines):
        if not lines[n].strip():
            n += 1
            continue
        try:
            action_line = json.loads(lines[n])
        except ValueError as e:
            raise ValueError(f"Malformed action/metadata line [{n + 1}], expected a JSON object: {e}") from e
        if not isinstance(action_line, dict) or len(action_line) != 1:
            raise ValueError(f"Malformed action/metadata line [{n + 1}], expected exactly one action")
        action, meta = next(iter(action_line.items()))
        if action not in ACTIONS:
            raise ValueError(f"Malformed action/metadata line [{n + 1}], expected one of {sorted(ACTIONS)} but found [{action}]")
        if not isinstance(meta, dict):
            raise ValueError(f"Malformed action/metadata line [{n + 1}], expected START_OBJECT")
        unknown = set(meta) - ACTION_META
        if unknown:
            raise ValueError(f"Action/metadata line [{n + 1}] contains an unknown parameter [{sorted(unknown)[0]}]")
        meta = dict(meta)
        meta.setdefault("_index", default_index)
        if not meta["_index"]:
            raise ValueError(f"Validation Failed: 1: index is missing (line [{n + 1}])")
        if not INDEX_NAME.match(meta["_index"]):
            raise ValueError(f"Invalid index name [{meta['_index']}], must be lowercase")
        if "_id" in meta and (not isinstance(meta["_id"], str) or len(meta["_id"].encode()) > 512):
            raise ValueError(f"id [{meta['_id']}] is too long or not a string (line [{n + 1}])")
        source = None
        if action != "delete":
            n += 1
            if n >= len(lines):
                raise ValueError(f"The bulk request is missing the source of the {action} action on line [{n}]")
            try:
                source = json.loads(lines[n])
            except ValueError as e:
                raise ValueError(f"Malformed source line [{n + 1}]: {e}") from e
            if not isinstance(source, dict):
                raise ValueError(f"Malformed source line [{n + 1}], expected a JSON object")
        actions.append((action, meta, source))
        n += 1
    if not actions:
        raise ValueError("Validation Failed: 1: no requests added")
    return actions


def _field(doc: dict[str, Any], name: str) -> Any:
    value: Any = doc
    for part in name.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, dict) and name in doc:
            return doc[name]
        else:
            return None
    return value


def _text_match(value: Any, wanted: str) -> bool:
    if value is None:
        return False
    words = re.findall(r"\w+", str(value).lower())
    return all(w in words for w in re.findall(r"\w+", wanted.lower())) if re.findall(r"\w+", wanted) else False


def _matches(query: dict[str, Any], doc: dict[str, Any]) -> bool:
    if len(query) != 1:
        raise ValueError(f"a query has exactly one kind, not {sorted(query)}")
    kind, arg = next(iter(query.items()))
    if kind == "match_all":
        return True
    if kind == "match":
        (name, wanted), = arg.items()
        wanted = wanted["query"] if isinstance(wanted, dict) else wanted
        return _text_match(_field(doc, name), str(wanted))
    if kind == "term":
        (name, wanted), = arg.items()
        wanted = wanted["value"] if isinstance(wanted, dict) else wanted
        return bool(_field(doc, name) == wanted)
    if kind == "bool":
        must = [q for key in ("must", "filter") for q in _as_list(arg.get(key, []))]
        should = _as_list(arg.get("should", []))
        if should and int(arg.get("minimum_should_match", 1)) != 1:
            raise ValueError("the fake supports minimum_should_match 1 only")
        return all(_matches(q, doc) for q in must) and (not should or any(_matches(q, doc) for q in should))
    if kind == "range":
        (name, bounds), = arg.items()
        value = _field(doc, name)
        checks = {"gte": lambda v, b: v >= b, "gt": lambda v, b: v > b, "lte": lambda v, b: v <= b, "lt": lambda v, b: v < b}
        if set(bounds) - set(checks):
            raise ValueError(f"the fake supports range bounds {sorted(checks)}, not {sorted(bounds)}")
        return value is not None and all(checks[k](value, b) for k, b in bounds.items())
    if kind == "query_string":
        terms = arg["query"].split()
        for term in terms:
            if term in ("AND",):
                continue
            if ":" in term:
                name, wanted = term.split(":", 1)
                if not _text_match(_field(doc, name), wanted.strip('"')):
                    return False
            elif not any(_text_match(v, term) for v in _flatten(doc)):
                return False
        return True
    raise ValueError(f"the fake does not support [{kind}] queries")


def _order(value: Any) -> str:
    return value if isinstance(value, str) else str(value.get("order", "asc"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _flatten(v)
    elif isinstance(value, list):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


def _compatible_or_none(header: str | None) -> int | None:
    try:
        return _compatible_with(header)
    except ValueError:
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeElasticsearch
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without it each answer waits ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload = self.fake.handle(self.command, self.path, headers, body)
        except Exception as e:  # a bug in the fake, or a request it cannot parse: fail loudly
            self.fake.unexpected.append(f"{self.command} {self.path}: {e!r}")
            status, payload = _error(500, "fake_error", repr(e))
        data = b"" if self.command == "HEAD" else json.dumps(payload).encode()
        self.send_response(status)
        if self.fake.product_header:
            self.send_header("X-Elastic-Product", "Elasticsearch")
        accept = _compatible_or_none(headers.get("accept"))
        if accept is not None:
            self.send_header("Content-Type", f"application/vnd.elasticsearch+json;compatible-with={accept}")
        else:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(json.dumps(payload).encode()) if self.command == "HEAD" else len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve


@contextmanager
def serve() -> Iterator[FakeElasticsearch]:
    """A fake Elasticsearch on a free port of 127.0.0.1 (its URL in ``.url``)."""
    fake = FakeElasticsearch()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-elasticsearch", daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
