"""A fake GitHub REST API over real HTTP, for the reporter, the commands and the end-to-end test.

It answers like GitHub for the calls Anubis makes — commit statuses, issue comments (listed with
``Link`` pagination, created, edited), pull requests, commit → pulls, collaborator permission — and
like GitHub when things go wrong: scripted faults give 5xx, 429 with ``Retry-After`` and 403
secondary rate limits (optionally *after* doing the write, as a timed-out proxy would). Any request
it does not know is recorded in :attr:`FakeGitHub.unexpected` and answered 404; the ``github``
fixture fails the test if there were any.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach "
    "out to GitHub Support for help, please include the request ID."
)


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    message: str
    times: int
    after: bool  # do the request, then answer the fault (the client cannot know it happened)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw: str
    status: int = 0


@dataclass
class FakeGitHub:
    repo: str
    token: str
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit_pulls: dict[str, list[int]] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    bot: str = "anubis-bot[bot]"
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    # -- scripting ----------------------------------------------------------------------------------

    def fail(self, method: str, path: str, status: int, *, times: int = 1, retry_after: int | None = None,
             message: str = "Server Error", after: bool = False, headers: dict[str, str] | None = None) -> None:
        """The next ``times`` requests matching ``method`` and the regular expression ``path`` get ``status``."""
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        self.faults.append(Fault(method, re.compile(path), status, extra, message, times, after))

    def secondary_limit(self, method: str, path: str, *, times: int = 1, retry_after: int | None = 60) -> None:
        self.fail(method, path, 403, times=times, retry_after=retry_after, message=SECONDARY_LIMIT)

    def add_pull(self, number: int, *, head_sha: str, state: str = "open", merged: bool = False,
                 labels: tuple[str, ...] = (), head_repo: str | None = None, base_ref: str = "main",
                 head_ref: str = "feature") -> None:
        owner = self.repo.split("/")[0]
        self.pulls[number] = {
            "number": number, "state": state, "merged": merged, "title": f"Pull request {number}",
            "issue_url": f"{self.url}/repos/{self.repo}/issues/{number}",
            "head": {"sha": head_sha, "ref": head_ref, "repo": {"full_name": head_repo or self.repo}},
            "base": {"ref": base_ref, "repo": {"full_name": self.repo}},
            "labels": [{"name": n} for n in labels], "user": {"login": owner},
        }
        self.commit_pulls.setdefault(head_sha, []).append(number)

    def add_comment(self, number: int, body: str, user: str = "someone") -> int:
        with self._lock:
            return self._create_comment(number, body, user)

    # -- views --------------------------------------------------------------------------------------

    def latest_statuses(self, sha: str) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for status in self.statuses.get(sha, []):
            latest[status["context"]] = status
        return latest

    def marked_comments(self, number: int, marker: str = "<!-- anubis:report -->") -> list[dict[str, Any]]:
        return [c for c in self.comments.get(number, []) if marker in c["body"]]

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT", "DELETE") and 200 <= r.status < 300]

    # -- serving ------------------------------------------------------------------------------------

    def _create_comment(self, number: int, body: str, user: str) -> int:
        self._next_id += 1
        comment = {"id": self._next_id, "body": body, "user": {"login": user},
                   "html_url": f"https://github.com/{self.repo}/pull/{number}#issuecomment-{self._next_id}"}
        self.comments.setdefault(number, []).append(comment)
        return self._next_id

    def handle(self, request: Request) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append(request)
            auth = request.headers.get("authorization", "")
            if auth not in (f"token {self.token}", f"Bearer {self.token}"):
                return 401, {}, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            fault = self._fault(request)
            if fault is not None and not fault.after:
                return fault.status, fault.headers, {"message": fault.message}
            status, headers, body = self._route(request)
            if fault is not None:
                return fault.status, fault.headers, {"message": fault.message}
            return status, headers, body

    def _fault(self, request: Request) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method == request.method and fault.path.search(request.path):
                fault.times -= 1
                return fault
        return None

    def _route(self, r: Request) -> tuple[int, dict[str, str], Any]:
        base = f"/repos/{self.repo}"
        path = r.path
        m = re.fullmatch(rf"{re.escape(base)}/statuses/([0-9a-f]{{40}})", path)
        if m and r.method == "POST":
            body = r.body or {}
            if body.get("state") not in ("error", "failure", "pending", "success"):
                return 422, {}, {"message": "Validation Failed", "errors": [{"field": "state"}]}
            if len(body.get("description") or "") > 140:
                return 422, {}, {"message": "Validation Failed", "errors": [{"field": "description"}]}
            status = {k: body.get(k) for k in ("state", "context", "description", "target_url")}
            self.statuses.setdefault(m.group(1), []).append(status)
            return 201, {}, {"id": len(self.statuses[m.group(1)]), **status}
        m = re.fullmatch(rf"{re.escape(base)}/issues/(\d+)/comments", path)
        if m and int(m.group(1)) in self.pulls:
            number = int(m.group(1))
            if r.method == "GET":
                return self._page(r, self.comments.get(number, []), path)
            if r.method == "POST":
                comment_id = self._create_comment(number, str((r.body or {}).get("body", "")), self.bot)
                return 201, {}, self._comment(comment_id)
        m = re.fullmatch(rf"{re.escape(base)}/issues/comments/(\d+)", path)
        if m and r.method == "PATCH":
            found = self._comment(int(m.group(1)))
            if found is None:
                return 404, {}, {"message": "Not Found"}
            found["body"] = str((r.body or {}).get("body", ""))
            return 200, {}, found
        m = re.fullmatch(rf"{re.escape(base)}/pulls/(\d+)", path)
        if m and r.method == "GET" and int(m.group(1)) in self.pulls:
            return 200, {}, self.pulls[int(m.group(1))]
        m = re.fullmatch(rf"{re.escape(base)}/commits/([0-9a-f]{{40}})/pulls", path)
        if m and r.method == "GET":
            return self._page(r, [self.pulls[n] for n in self.commit_pulls.get(m.group(1), [])], path)
        m = re.fullmatch(rf"{re.escape(base)}/collaborators/([A-Za-z0-9-]+)/permission", path)
        if m and r.method == "GET":
            permission = self.permissions.get(m.group(1))
            if permission is None:
                return 404, {}, {"message": f"{m.group(1)} is not a user"}
            legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
            return 200, {}, {"permission": legacy, "role_name": permission, "user": {"login": m.group(1)}}
        self.unexpected.append(f"{r.method} {r.raw}")
        return 404, {}, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def _comment(self, comment_id: int) -> Any:
        for comments in self.comments.values():
            for c in comments:
                if c["id"] == comment_id:
                    return c
        return None

    def _page(self, r: Request, items: list[Any], path: str) -> tuple[int, dict[str, str], Any]:
        per_page = min(100, int(r.query.get("per_page", ["30"])[0]))
        page = int(r.query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        if page < last:
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{self.url}{path}?per_page={per_page}&page=1>; rel="first"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page - 1}>; rel="prev"')
        return 200, ({"Link": ", ".join(links)} if links else {}), chunk


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length).decode("utf-8") if length else ""
            parts = urlsplit(self.path)
            try:
                body = json.loads(raw_body) if raw_body else None
            except json.JSONDecodeError:
                body = raw_body
            request = Request(self.command, parts.path, parse_qs(parts.query),
                              {k.lower(): v for k, v in self.headers.items()}, body, self.path)
            request.headers["x-raw-body"] = raw_body
            status, headers, payload = fake.handle(request)
            request.status = status
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            self.send_header("X-RateLimit-Limit", "5000")
            self.send_header("X-RateLimit-Remaining", "4999")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


def serve(repo: str = "anubis-bench/benchmarks", token: str = "ghp_test") -> Iterator[FakeGitHub]:
    """Run a fake on 127.0.0.1 for the duration of a ``with``/fixture; yields it with ``url`` set."""
    fake = FakeGitHub(repo=repo, token=token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
