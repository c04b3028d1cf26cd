"""The one GitHub client: commit statuses, the single pull-request comment, commit → pulls, permissions,
``repository_dispatch`` events (confirmation runs).

Every call goes through :meth:`GitHubClient.request`, the one seam that owns retries and pacing:
requests go one at a time; writes at least a second apart and within 80 a minute and 500 an hour
(:mod:`controller.reporting.pacing`, GitHub's documented secondary limits); 5xx and connection errors
back off exponentially; 429 and secondary rate limits wait for ``Retry-After`` (or
``x-ratelimit-reset``, or a minute) and hold every later request back as long; an exhausted primary
limit (``x-ratelimit-remaining: 0``, on any answer) holds requests until ``x-ratelimit-reset``. The
waits come from :class:`~controller.retrying.RetryPolicy` objects (:data:`GITHUB_RETRY`,
:data:`SECONDARY_LIMIT_RETRY`). A wait longer than the policy's ``max_delay`` fails fast with :class:`TransientGitHubError` (the outbox keeps
the write and tries later) instead of blocking the controller. PyGithub is the transport
(authentication, base URL, JSON); its own retries and throttling are off so that this module decides.
The token is never logged and is scrubbed from anything sent in a body.

The report comment is found by its marker *and* its author: only a comment the client's own identity
wrote (``GET /user``, or the bot login it is given — an installation token cannot read ``/user``) is
ever edited, so a marker planted by someone else in a pull request is left alone.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from controller.reporting.pacing import Pacer, WriteBudget
from controller.retrying import RetryPolicy, retry_after_seconds
from schemas.errors import ReporterError

log = logging.getLogger(__name__)

MARKER = "<!-- anubis:report -->"
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
_LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class TransientGitHubError(ReporterError):
    """GitHub could not be reached or answered 5xx/429/rate-limited even after the retries: try later."""


class PermanentGitHubError(ReporterError):
    """GitHub refused the request (4xx other than rate limits): retrying will not help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    data: Any


#: Per request: 6 tries; after a 5xx 1 s doubled up to 120 s. ``max_delay`` is also the longest wait the
#: client blocks for: a rate limit that resets later fails fast (the outbox retries).
GITHUB_RETRY = RetryPolicy(attempts=6, base_delay=1.0, max_delay=120.0)
#: A secondary rate limit without ``Retry-After``: GitHub's advice is to wait a minute, and
#: exponentially longer while it goes on (no jitter; no cap, so a long wait fails fast).
SECONDARY_LIMIT_RETRY = RetryPolicy(attempts=0, base_delay=60.0, max_delay=math.inf, jitter=0.0)


class GitHubClient:
    """A repository's statuses, comments, pulls and permissions, through one retrying ``request``."""

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        base_url: str = "https://api.github.com",
        retry: RetryPolicy = GITHUB_RETRY,
        secondary_limit: RetryPolicy = SECONDARY_LIMIT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout: int = 30,
        budget: WriteBudget | None = None,
        login: str | None = None,
    ) -> None:
        """``login``: the account the token acts as, when ``GET /user`` cannot tell (a GitHub App's
        installation token: ``<app-slug>[bot]``; the workflow's ``GITHUB_TOKEN``: ``github-actions[bot]``)."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            raise ReporterError(f"'{repo}' is not a repository name: give it as owner/name")
        if retry.attempts < 1:
            raise ReporterError("the GitHub client's retry policy needs a bound on its attempts (a write that "
                                "still fails is kept by the outbox, which retries without end)")
        from github import Auth, Github  # PyGithub, imported only where GitHub is used

        self.repo = repo
        self._secrets = tuple(s for s in (token,) if s)
        self._retry = retry
        self._secondary = secondary_limit
        self._sleep = sleep
        self._clock = clock
        self._pacer = Pacer(budget)
        self._serial = threading.Lock()  # GitHub: requests serially, never concurrently
        self._login = login or None
        gh = Github(
            base_url=base_url.rstrip("/"), auth=Auth.Token(token) if token else None, timeout=timeout, retry=None,
            seconds_between_requests=None, seconds_between_writes=None, lazy=True, per_page=100,
        )
        self._requester = gh.requester

    # -- the seam ----------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, retry_server_errors: bool = True
    ) -> Response:
        """One REST call with retries. ``retry_server_errors=False`` for a non-idempotent POST: a 5xx then
        raises :class:`TransientGitHubError` at once (the write may have happened) and the caller looks
        before trying again; rate-limit answers are always retried (GitHub did nothing)."""
        with self._serial:
            return self._request(method, path, body, retry_server_errors)

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None, retry_server_errors: bool) -> Response:
        from github import GithubException

        payload = self._scrub(dict(body)) if body is not None else None
        last = ""
        for attempt in range(1, self._retry.attempts + 1):
            self._pace(method, path)
            try:
                self._pacer.sent(method, self._clock())
                headers, data = self._requester.requestJsonAndCheck(method, path, input=payload)
                answer = {k.lower(): str(v) for k, v in (headers or {}).items()}
                self._note_primary_limit(answer)
                return Response(200, answer, data)
            except GithubException as e:
                status = e.status
                headers = {k.lower(): str(v) for k, v in (e.headers or {}).items()}
                self._note_primary_limit(headers)
                message = _message(e.data)
                last = f"{method} {_path_only(path)} answered {status}: {message}"
                wait = self._wait_for(status, headers, message, attempt)
                if wait is None:
                    raise PermanentGitHubError(f"GitHub refused {method} {_path_only(path)} ({status}): {message}", status) from e
                if status in (403, 429):  # a rate limit: every request waits, not only this one (the pacing)
                    self._pacer.pause_until(self._clock() + wait)
                    if attempt < self._retry.attempts:
                        log.info("github: %s; waiting %.1f s (attempt %s of %s)", last, wait, attempt + 1,
                                 self._retry.attempts)
                        continue
                if status >= 500 and not retry_server_errors:
                    raise TransientGitHubError(f"{last}; not repeated blindly (the write may have happened)") from e
            except OSError as e:  # connection refused/reset, timeouts (requests' errors are OSErrors)
                last = f"{method} {_path_only(path)} failed: {type(e).__name__}"
                wait = self._retry.delay(attempt)
                if not retry_server_errors:
                    raise TransientGitHubError(f"{last}; not repeated blindly (the write may have happened)") from e
            if attempt == self._retry.attempts:
                break
            if wait > self._retry.max_delay:
                raise TransientGitHubError(f"{last}; GitHub asks to wait {wait:.0f} s, the outbox will retry")
            log.info("github: %s; retrying in %.1f s (attempt %s of %s)", last, wait, attempt + 1, self._retry.attempts)
            self._sleep(wait)
        raise TransientGitHubError(f"{last} (gave up after {self._retry.attempts} attempts; the outbox will retry)")

    def _pace(self, method: str, path: str) -> None:
        wait = self._pacer.wait_before(method, self._clock())
        if wait <= 0:
            return
        if wait > self._retry.max_delay:
            raise TransientGitHubError(
                f"{method} {_path_only(path)} not sent: GitHub's limits allow it in {wait:.0f} s (a rate limit, or "
                "the write budget of 80 a minute and 500 an hour is spent); the outbox will retry")
        log.debug("github: pacing %s %s by %.1f s", method, _path_only(path), wait)
        self._sleep(wait)

    def _note_primary_limit(self, headers: Mapping[str, str]) -> None:
        """``x-ratelimit-remaining: 0``: nothing more before ``x-ratelimit-reset`` (on any answer)."""
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            self._pacer.pause_until(_seconds(headers["x-ratelimit-reset"], 0.0) + 1.0)

    def _wait_for(self, status: int, headers: Mapping[str, str], message: str, attempt: int) -> float | None:
        secondary = "secondary rate limit" in message.lower() or "abuse" in message.lower()
        if status == 429 or (status == 403 and (secondary or "retry-after" in headers)):
            asked = retry_after_seconds(headers.get("retry-after"), self._clock())
            if asked is not None:
                return self._retry.delay(attempt, retry_after=asked)
            if "retry-after" in headers:  # unreadable: GitHub's minute
                return self._secondary.delay(1)
            if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                return max(0.0, _seconds(headers["x-ratelimit-reset"], 0.0) - self._clock()) + 1.0
            return self._secondary.delay(attempt)
        if status == 403 and headers.get("x-ratelimit-remaining") == "0":
            return max(0.0, _seconds(headers.get("x-ratelimit-reset", "0"), 0.0) - self._clock()) + 1.0
        if status >= 500:
            return self._retry.delay(attempt)
        return None

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _paged(self, path: str) -> Iterator[Any]:
        url: str | None = path
        while url is not None:
            response = self.request("GET", url)
            yield from response.data or []
            match = _LINK_NEXT.search(response.headers.get("link", ""))
            url = match.group(1) if match else None

    # -- operations ---------------------------------------------------------------------------------

    def create_status(self, sha: str, state: str, context: str, description: str, target_url: str | None) -> None:
        body: dict[str, Any] = {"state": state, "context": context, "description": description[:140]}
        if target_url:
            body["target_url"] = target_url
        self.request("POST", f"/repos/{self.repo}/statuses/{sha}", body)

    def identity(self) -> str:
        """The login the token acts as (asked once, then remembered)."""
        if self._login is None:
            try:
                data = self.request("GET", "/user").data
            except PermanentGitHubError as e:
                raise ReporterError(
                    f"cannot tell which account the GitHub token belongs to (GET /user answered {e.status}: a GitHub "
                    "App's installation token cannot read it). Give the bot's login: ANUBIS_GITHUB_LOGIN="
                    "<app-slug>[bot], or github-actions[bot] for a workflow's GITHUB_TOKEN. Until then the report "
                    "comment is not written (its marker alone does not prove who wrote a comment)") from e
            login = str((data or {}).get("login") or "") if isinstance(data, dict) else ""
            if not login:
                raise ReporterError("GitHub's GET /user answered without a login; give the bot's login in "
                                    "ANUBIS_GITHUB_LOGIN")
            self._login = login
        return self._login

    def find_comment(self, number: int, marker: str = MARKER) -> int | None:
        """The id of the pull request's comment holding ``marker`` that this client's identity wrote (the
        first, if several). A marked comment by anyone else — a pull request's author can post the marker
        first — is never taken for the report."""
        me = self.identity().lower()
        for comment in self._paged(f"/repos/{self.repo}/issues/{number}/comments?{urlencode({'per_page': 100})}"):
            author = str((comment.get("user") or {}).get("login") or "").lower()
            if marker in (comment.get("body") or "") and author == me:
                return int(comment["id"])
        return None

    def upsert_comment(self, number: int, body: str, *, known_id: int | None = None, marker: str = MARKER) -> int:
        """Edit the pull request's one marked comment in place, or create it; returns its id.

        A create that fails ambiguously (5xx) is never repeated blindly: the comments are listed again
        first, so a comment GitHub did create is edited rather than duplicated."""
        if marker not in body:
            body = f"{marker}\n{body}"
        comment_id = known_id
        for attempt in range(1, self._retry.attempts + 1):
            if comment_id is not None:
                try:
                    self.request("PATCH", f"/repos/{self.repo}/issues/comments/{comment_id}", {"body": body})
                    return comment_id
                except PermanentGitHubError as e:
                    if e.status != 404:
                        raise
                    comment_id = None  # deleted by someone: look again, then create
                    continue
            comment_id = self.find_comment(number, marker)
            if comment_id is not None:
                continue
            try:
                created = self.request(
                    "POST", f"/repos/{self.repo}/issues/{number}/comments", {"body": body}, retry_server_errors=False
                )
                return int(created.data["id"])
            except TransientGitHubError:
                if attempt == self._retry.attempts:
                    raise
                self._sleep(self._retry.delay(attempt))
        raise TransientGitHubError(f"could not write the comment on #{number}; the outbox will retry")

    def reply(self, number: int, body: str) -> None:
        """A new, unmarked comment (answers to comment commands)."""
        self.request("POST", f"/repos/{self.repo}/issues/{number}/comments", {"body": body}, retry_server_errors=False)

    def dispatch(self, event_type: str, client_payload: dict[str, Any]) -> None:
        """A ``repository_dispatch`` event (REST "Create a repository dispatch event": ``POST
        /repos/{owner}/{repo}/dispatches``, 204 No Content; ``event_type`` at most 100 characters,
        ``client_payload`` at most 10 top-level properties; the token needs write access to the
        repository's contents). Workflows on the default branch with ``on: repository_dispatch`` run, even
        for a workflow's own ``GITHUB_TOKEN`` (the one exception, with ``workflow_dispatch``, to "events
        triggered by the GITHUB_TOKEN will not create a new workflow run")."""
        if not 0 < len(event_type) <= 100 or len(client_payload) > 10:
            raise PermanentGitHubError(
                f"a repository_dispatch needs an event type of 1 to 100 characters and at most 10 top-level "
                f"properties in its client_payload (got {len(event_type)} characters and {len(client_payload)})", 422)
        self.request("POST", f"/repos/{self.repo}/dispatches",
                     {"event_type": event_type, "client_payload": client_payload})

    def pulls_for_commit(self, sha: str) -> list[int]:
        """Pull requests that contain ``sha`` (for a merged commit: the one that brought it)."""
        return [int(p["number"]) for p in self._paged(f"/repos/{self.repo}/commits/{sha}/pulls?per_page=100")]

    def pull(self, number: int) -> dict[str, Any]:
        data = self.request("GET", f"/repos/{self.repo}/pulls/{number}").data
        return dict(data) if isinstance(data, dict) else {}

    def permission(self, user: str) -> str:
        """``admin``, ``maintain``, ``write``, ``triage``, ``read`` or ``none``."""
        try:
            data = self.request("GET", f"/repos/{self.repo}/collaborators/{user}/permission").data
        except PermanentGitHubError as e:
            if e.status == 404:
                return "none"
            raise
        role = str(data.get("role_name") or "") if isinstance(data, dict) else ""
        return role if role in {"admin", "maintain", "write", "triage", "read"} else str(data.get("permission", "none"))

    def can_write(self, user: str) -> bool:
        return self.permission(user) in WRITE_PERMISSIONS


def _message(data: Any) -> str:
    """GitHub's message, with the details of a 422 ("Validation Failed": ``errors[].message``)."""
    if isinstance(data, dict):
        details = [str(e.get("message") or e.get("code") or "") for e in data.get("errors") or [] if isinstance(e, dict)]
        details = [d for d in details if d]
        text = str(data.get("message", "")) + (f" ({'; '.join(details)})" if details else "")
        return text[:300]
    return str(data or "")[:300]


def _path_only(path: str) -> str:
    return path.split("?", 1)[0]


def _seconds(text: str, default: float) -> float:
    try:
        return max(0.0, float(text))
    except ValueError:
        return default
