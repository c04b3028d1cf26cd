"""A fake GitHub REST API over real HTTP, for the reporter, the commands and the end-to-end test.

It answers like GitHub for the calls Anubis makes — commit statuses, issue comments (listed with
``Link`` pagination, created, edited), pull requests, commit → pulls, collaborator permission, the
authenticated user — and enforces GitHub's limits as documented on docs.github.com:

* **statuses**: at most 1,000 per sha and context ("Create a commit status": "there is a limit of 1000
  statuses per sha and context within a repository. Attempts to create more than 1000 statuses will
  result in a validation error") → 422; a description over 140 characters or an unknown state → 422;
* **comments**: a body over 65,536 characters → 422 ("body is too long (maximum is 65536
  characters)"); a comment is written by the authenticated user (:attr:`FakeGitHub.bot`), and, as on
  GitHub, anyone with write access may edit anyone's comment — the client must check authorship;
* **repository_dispatch** ("Create a repository dispatch event", ``POST /repos/{owner}/{repo}/dispatches``):
  ``event_type`` a string of 1 to 100 characters ("Must be 100 characters or fewer") and
  ``client_payload`` an object of at most 10 top-level properties ("The maximum number of top-level
  properties is 10"), else 422 "Validation Failed"; a token without write access (a user in
  :attr:`FakeGitHub.read_only`) gets 404, as GitHub hides repositories it may not write to; accepted:
  204 No Content with an empty body. Each accepted event is kept in :attr:`FakeGitHub.dispatches` as
  the ``repository_dispatch`` webhook payload a workflow reads from ``GITHUB_EVENT_PATH``
  (``action`` = the event type, ``branch``, ``client_payload``, ``repository``, ``sender``);
* **GET /user**: the token's account; an App installation token (:attr:`FakeGitHub.installation_token`)
  gets 403 "Resource not accessible by integration", as on GitHub;
* **primary rate limit** ("Rate limits for the REST API"): ``x-ratelimit-limit/remaining/used/reset/
  resource`` on every answer, counting down per request in a window of an hour on :attr:`clock`;
  at 0, 403 "API rate limit exceeded" until ``x-ratelimit-reset``;
* **secondary rate limits**: more than 80 content-creating requests (POST, PATCH, PUT, DELETE) in a
  minute or 500 in an hour → :attr:`secondary_status` (403 or 429, both documented) with
  ``retry-after``. GitHub's "at least one second between writes" is advice, not a refusal: the fake
  records each write's time (:attr:`write_times`) so a test can check the client's spacing.

Scripted faults give 5xx, 429 with ``Retry-After`` and 403 secondary rate limits (optionally *after*
doing the write, as a timed-out proxy would). Any request it does not know is recorded in
:attr:`FakeGitHub.unexpected` and answered 404; the ``github`` fixture fails the test if there were any.
Give the fake and the client one :class:`FakeClock` to test pacing without sleeping.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_STATUSES = 1000  # per sha and context
MAX_COMMENT_BODY = 65536
WRITES_PER_MINUTE = 80
WRITES_PER_HOUR = 500
PRIMARY_LIMIT = 5000  # requests an hour for a user token
TOO_MANY_STATUSES = "This SHA and context has reached the maximum number of statuses."
NOT_FOR_INTEGRATIONS = "Resource not accessible by integration"

SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach "
    "out to GitHub Support for help, please include the request ID."
)


class FakeClock:
    """A clock that moves only when something sleeps on it: hand ``time`` and ``sleep`` to the client and
    ``time`` to the fake, and a minute of pacing takes no time at all."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


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
    installation_token: bool = False  # GET /user answers 403, as for a GitHub App's installation token
    clock: Callable[[], float] = time.time
    rate_limit: int = PRIMARY_LIMIT
    secondary_status: int = 403  # GitHub documents 403 and 429 for secondary limits
    dispatches: list[dict[str, Any]] = field(default_factory=list)  # repository_dispatch events, as delivered
    read_only: bool = False  # the token may read but not write the repository's contents
    default_branch: str = "main"
    write_times: list[float] = field(default_factory=list)  # accepted content-creating requests
    refused: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status) of 4xx answers
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _window_start: float | None = None
    _used: int = 0
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
            status, headers, body = self._handle(request)
            if 400 <= status < 500:
                self.refused.append((request.method, request.path, status))
            return status, headers, body

    def _handle(self, request: Request) -> tuple[int, dict[str, str], Any]:
        self.requests.append(request)
        auth = request.headers.get("authorization", "")
        if auth not in (f"token {self.token}", f"Bearer {self.token}"):
            return 401, {}, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        now = self.clock()
        limits = self._primary(now)
        if limits is None:
            headers = self._limit_headers(now)
            return 403, headers, {"message": "API rate limit exceeded for user ID 1.",
                                  "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
        fault = self._fault(request)
        if fault is not None and not fault.after:
            return fault.status, {**limits, **fault.headers}, {"message": fault.message}
        write = request.method in ("POST", "PATCH", "PUT", "DELETE")
        if write:
            wait = self._secondary_wait(now)
            if wait is not None:
                return self.secondary_status, {**limits, "Retry-After": str(wait)}, {
                    "message": SECONDARY_LIMIT,
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
        status, headers, body = self._route(request)
        if write and 200 <= status < 300:
            self.write_times.append(now)
        if fault is not None:
            return fault.status, {**limits, **fault.headers}, {"message": fault.message}
        return status, {**limits, **headers}, body

    def _primary(self, now: float) -> dict[str, str] | None:
        """Count the request against the hourly limit; None when the limit is spent."""
        if self._window_start is None or now >= self._window_start + 3600:
            self._window_start, self._used = now, 0
        if self._used >= self.rate_limit:
            return None
        self._used += 1
        return self._limit_headers(now)

    def _limit_headers(self, now: float) -> dict[str, str]:
        start = self._window_start if self._window_start is not None else now
        return {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(self.rate_limit - self._used),
                "X-RateLimit-Used": str(self._used), "X-RateLimit-Reset": str(int(math.ceil(start + 3600))),
                "X-RateLimit-Resource": "core"}

    def _secondary_wait(self, now: float) -> int | None:
        """Seconds until one more content-creating request is allowed; None when it is allowed now."""
        minute = [t for t in self.write_times if t > now - 60]
        hour = [t for t in self.write_times if t > now - 3600]
        waits = []
        if len(minute) >= WRITES_PER_MINUTE:
            waits.append(minute[-WRITES_PER_MINUTE] + 60 - now)
        if len(hour) >= WRITES_PER_HOUR:
            waits.append(hour[-WRITES_PER_HOUR] + 3600 - now)
        return max(1, int(math.ceil(max(waits)))) if waits else None

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
            context = body.get("context") or "default"
            if sum(1 for s in self.statuses.get(m.group(1), []) if s["context"] == context) >= MAX_STATUSES:
                return 422, {}, {"message": "Validation Failed", "errors": [
                    {"resource": "Status", "code": "custom", "message": TOO_MANY_STATUSES}],
                    "documentation_url": "https://docs.github.com/rest/commits/statuses#create-a-commit-status"}
            status = {k: body.get(k) for k in ("state", "context", "description", "target_url")}
            self.statuses.setdefault(m.group(1), []).append(status)
            return 201, {}, {"id": len(self.statuses[m.group(1)]), **status}
        m = re.fullmatch(rf"{re.escape(base)}/issues/(\d+)/comments", path)
        if m and int(m.group(1)) in self.pulls:
            number = int(m.group(1))
            if r.method == "GET":
                return self._page(r, self.comments.get(number, []), path)
            if r.method == "POST":
                text = str((r.body or {}).get("body", ""))
                if len(text) > MAX_COMMENT_BODY:
                    return _too_long()
                comment_id = self._create_comment(number, text, self.bot)
                return 201, {}, self._comment(comment_id)
        m = re.fullmatch(rf"{re.escape(base)}/issues/comments/(\d+)", path)
        if m and r.method == "PATCH":
            found = self._comment(int(m.group(1)))
            if found is None:
                return 404, {}, {"message": "Not Found"}
            text = str((r.body or {}).get("body", ""))
            if len(text) > MAX_COMMENT_BODY:
                return _too_long()
            found["body"] = text  # the author stays who wrote it (a collaborator may edit anyone's comment)
            return 200, {}, found
        if path == f"{base}/dispatches" and r.method == "POST":
            return self._dispatch(r.body)
        if path == "/user" and r.method == "GET":
            if self.installation_token:
                return 403, {}, {"message": NOT_FOR_INTEGRATIONS,
                                 "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user"}
            return 200, {}, {"login": self.bot, "id": 1, "type": "Bot" if self.bot.endswith("[bot]") else "User"}
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

    def _dispatch(self, body: Any) -> tuple[int, dict[str, str], Any]:
        if self.read_only:
            return 404, {}, {"message": "Not Found",
                             "documentation_url": "https://docs.github.com/rest/repos/repos#create-a-repository-dispatch-event"}
        body = body if isinstance(body, dict) else {}
        event_type, payload = body.get("event_type"), body.get("client_payload", {})
        errors = []
        if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
            errors.append({"resource": "Repository", "field": "event_type", "code": "invalid",
                           "message": "event_type must be a string of 100 characters or fewer"})
        if not isinstance(payload, dict):
            errors.append({"resource": "Repository", "field": "client_payload", "code": "invalid"})
        elif len(payload) > 10:
            errors.append({"resource": "Repository", "field": "client_payload", "code": "invalid",
                           "message": "client_payload can have no more than 10 top-level properties"})
        if errors:
            return 422, {}, {"message": "Validation Failed", "errors": errors,
                             "documentation_url": "https://docs.github.com/rest/repos/repos#create-a-repository-dispatch-event"}
        self.dispatches.append({"action": event_type, "branch": self.default_branch, "client_payload": payload,
                                "repository": {"full_name": self.repo}, "sender": {"login": self.bot, "type": "Bot"}})
        return 204, {}, None

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


def _too_long() -> tuple[int, dict[str, str], Any]:
    return 422, {}, {"message": "Validation Failed", "errors": [
        {"resource": "IssueComment", "code": "custom", "field": "body",
         "message": f"body is too long (maximum is {MAX_COMMENT_BODY} characters)"}],
        "documentation_url": "https://docs.github.com/rest/issues/comments"}


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: without it each answer waits ~40 ms

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
            data = b"" if status == 204 else json.dumps(payload).encode()  # 204 No Content: no body
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
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
