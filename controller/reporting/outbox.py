"""A durable outbox of GitHub writes (SQLite): queued, folded, debounced, flushed, never lost.

Each write has a key: ``status:<sha>:<context>`` (only the newest state of a check matters) or
``comment:<number>`` / ``comment-commit:<sha>`` (only the newest body of the one comment matters). A
newer write replaces a queued older one under the same key, so a run costs at most three writes in
the common case (pending, final, one comment edit) and a burst of events costs one. A write that
fails is kept and retried with back-off; one identical to the last write made is skipped. The file
survives restarts and may be shared by processes: it is opened as the result store and the journal are
(:mod:`controller.sqlite_files`: WAL, busy timeout, set-up retried while another process creates it),
every operation is one transaction, and SQLite's errors are :class:`~schemas.errors.StoreError`.

Commit statuses: GitHub keeps at most 1,000 statuses per sha and context and refuses more (422). A
scheduled benchmark runs again and again at one commit under one context, so a status is written only
when what it says changes (:attr:`CommitStatus.change`: state, run, verdict — not the duration):

* a status whose ``change`` equals the last one written is skipped;
* ``pending`` for a run whose final state is already written is skipped (the next execution of a
  scheduled run: the check keeps the last verdict until a new one differs; the comment shows progress);
* at :data:`STATUS_BUDGET` writes for one sha and context the outbox writes no more there (logged),
  and a 422 for that reason closes the context the same way.

A steady schedule therefore costs two statuses in all (its first pending and final), and one more per
change of verdict.

Confirmation runs (:mod:`controller.reporting.confirming`): a ``repository_dispatch`` is queued under
its request's key (``confirm:<benchmark>:<root execution>:<n>``) together with its chain, in one
transaction, and only once: a key already queued or already sent is never queued again, so the
controller seeing an execution again after a restart asks for nothing more. A dispatch is not
idempotent on GitHub's side; a 5xx after GitHub took it may repeat it, and ``anubis respond`` skips a
key it has already acted on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.reporting.confirming import EVENT_TYPE, Chain, Request
from controller.reporting.debounce import RETRY, Debounce
from controller.reporting.github import PermanentGitHubError
from controller.reporting.statuses import CommitStatus
from controller.sqlite_files import open_connection, open_migrated, transaction
from schemas.errors import ReporterError, StoreError

log = logging.getLogger(__name__)

#: GitHub's cap on statuses per sha and context (REST "Create a commit status": "there is a limit of 1000
#: statuses per sha and context within a repository"); the outbox stops short of it.
GITHUB_STATUS_LIMIT = 1000
STATUS_BUDGET = GITHUB_STATUS_LIMIT - 10

WHAT = "The GitHub outbox"  # names the file in errors
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    repo TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
    first_queued REAL NOT NULL, due REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1, last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (repo, key)
);
CREATE TABLE IF NOT EXISTS sent (repo TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (repo, key));
-- the report comment's id per pull request; only ids of comments the client's own identity wrote (the
-- former table `comments` may hold a marked comment by anyone, so it is not read any more)
CREATE TABLE IF NOT EXISTS own_comments (repo TEXT NOT NULL, number INTEGER NOT NULL, comment_id INTEGER NOT NULL,
    PRIMARY KEY (repo, number));
CREATE TABLE IF NOT EXISTS statuses_written (repo TEXT NOT NULL, key TEXT NOT NULL, change TEXT NOT NULL,
    final INTEGER NOT NULL, run_id TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (repo, key));
CREATE TABLE IF NOT EXISTS pulls (repo TEXT NOT NULL, sha TEXT NOT NULL, numbers TEXT NOT NULL, PRIMARY KEY (repo, sha));
-- suspected changes being confirmed (controller.reporting.confirming.Chain as JSON) and their members
CREATE TABLE IF NOT EXISTS confirmations (repo TEXT NOT NULL, root TEXT NOT NULL, series TEXT NOT NULL,
    commit_sha TEXT NOT NULL, open INTEGER NOT NULL, chain TEXT NOT NULL, PRIMARY KEY (repo, root));
CREATE TABLE IF NOT EXISTS confirmation_members (repo TEXT NOT NULL, execution TEXT NOT NULL, root TEXT NOT NULL,
    PRIMARY KEY (repo, execution));
"""


def _open(path: Path) -> sqlite3.Connection:
    return open_connection(path, BUSY_TIMEOUT_S, WHAT)


def _create_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}\nCOMMIT;")


def _cannot_open(path: Path, e: sqlite3.Error) -> StoreError:
    return StoreError(f"Cannot open the GitHub outbox {path}: {e}. Check that the file is an Anubis GitHub outbox "
                      "and that this user may write it; delete it to start afresh (queued writes are then lost, "
                      "the next run's report writes them again).")


class GitHubWriter(Protocol):
    """What the outbox needs of :class:`~controller.reporting.github.GitHubClient`."""

    repo: str

    def create_status(self, sha: str, state: str, context: str, description: str, target_url: str | None) -> None: ...

    def upsert_comment(self, number: int, body: str, *, known_id: int | None = None) -> int: ...

    def pulls_for_commit(self, sha: str) -> list[int]: ...

    def dispatch(self, event_type: str, client_payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class FlushResult:
    sent: int = 0  # writes made
    skipped: int = 0  # identical to the last write made: not repeated
    failed: int = 0  # kept for a later try
    dropped: int = 0  # refused by GitHub for good (logged)
    remaining: int = 0  # still queued after this flush


class Outbox:
    """The outbox file at ``path`` (created, with its folders). Each operation opens its own connection
    (:func:`~controller.sqlite_files.open_connection`: WAL, busy timeout) and runs in one transaction
    (:func:`~controller.sqlite_files.transaction`), so processes may share the file; SQLite's errors
    become :class:`~schemas.errors.StoreError` naming the file."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"Cannot create the folder of the GitHub outbox {self.path}: {e}.") from e
        try:  # several processes may create the file at once: retried while one of them sets it up
            open_migrated(_open, _create_tables, self.path, BUSY_TIMEOUT_S).close()
        except sqlite3.Error as e:
            raise _cannot_open(self.path, e) from e

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction on a connection of its own (``write``: taking the write lock at once)."""
        try:
            conn = _open(self.path)
        except sqlite3.Error as e:
            raise _cannot_open(self.path, e) from e
        try:
            with transaction(conn, self._lock, write=write, what=WHAT, path=self.path) as db:
                yield db
        finally:
            conn.close()

    # -- queueing -----------------------------------------------------------------------------------

    def put_status(self, repo: str, sha: str, status: CommitStatus, debounce: Debounce) -> None:
        payload = {"sha": sha, "state": status.state, "context": status.context,
                   "description": status.description, "target_url": status.target_url,
                   "run_id": status.run_id, "change": status.change}
        key = f"status:{sha}:{status.context}"
        if self._status_unchanged(repo, key, payload):
            # nothing to say that the check does not say already; a queued older state is moot too
            with self._connect(write=True) as db:
                if db.execute("SELECT 1 FROM outbox WHERE repo=? AND key=?", (repo, key)).fetchone():
                    db.execute("DELETE FROM outbox WHERE repo=? AND key=?", (repo, key))
            return
        self._put(repo, key, "status", payload, debounce)

    def put_comment(self, repo: str, body: str, debounce: Debounce, *, number: int | None = None,
                    commit: str | None = None) -> None:
        """The pull request's comment; with only ``commit``, for each pull request that brought it."""
        if number is None and commit is None:
            raise ValueError("a comment needs a pull request number or a commit")
        key = f"comment:{number}" if number is not None else f"comment-commit:{commit}"
        self._put(repo, key, "comment", {"number": number, "commit": commit, "body": body}, debounce)

    # -- confirmation runs -----------------------------------------------------------------------------

    def save_chain(self, repo: str, chain: Chain, requests: Sequence[Request] = ()) -> None:
        """Keep ``chain`` and queue its ``requests`` (each key at most once, ever), in one transaction."""
        now = self._clock()
        with self._connect(write=True) as db:
            db.execute("INSERT OR REPLACE INTO confirmations (repo, root, series, commit_sha, open, chain) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (repo, chain.root, chain.series, chain.commit, int(chain.is_open),
                                                     json.dumps(asdict(chain), sort_keys=True)))
            for member in chain.seen:
                db.execute("INSERT OR IGNORE INTO confirmation_members (repo, execution, root) VALUES (?, ?, ?)",
                           (repo, member, chain.root))
            for request in requests:
                known = db.execute("SELECT 1 FROM outbox WHERE repo=? AND key=? UNION ALL "
                                   "SELECT 1 FROM sent WHERE repo=? AND key=?",
                                   (repo, request.key, repo, request.key)).fetchone()
                if known:
                    continue
                text = json.dumps({"event_type": EVENT_TYPE, "client_payload": request.payload}, sort_keys=True)
                db.execute("INSERT INTO outbox (repo, key, kind, payload, first_queued, due) VALUES (?, ?, ?, ?, ?, ?)",
                           (repo, request.key, "dispatch", text, now, now))

    def chain_for(self, repo: str, execution_id: str, series: str) -> Chain | None:
        """The chain ``execution_id`` belongs to; else the newest open chain of ``series``."""
        with self._connect() as db:
            row = db.execute("SELECT c.chain FROM confirmation_members m JOIN confirmations c "
                             "ON c.repo = m.repo AND c.root = m.root WHERE m.repo=? AND m.execution=?",
                             (repo, execution_id)).fetchone()
            if row is None:
                row = db.execute("SELECT chain FROM confirmations WHERE repo=? AND series=? AND open=1 "
                                 "ORDER BY rowid DESC LIMIT 1", (repo, series)).fetchone()
        return _chain(row[0]) if row else None

    def chains(self, repo: str, executions: Sequence[str]) -> list[Chain]:
        """The chains with a member among ``executions``."""
        found: dict[str, Chain] = {}
        with self._connect() as db:
            for execution in executions:
                row = db.execute("SELECT c.chain FROM confirmation_members m JOIN confirmations c "
                                 "ON c.repo = m.repo AND c.root = m.root WHERE m.repo=? AND m.execution=?",
                                 (repo, execution)).fetchone()
                if row:
                    chain = _chain(row[0])
                    found[chain.root] = chain
        return list(found.values())

    def _put(self, repo: str, key: str, kind: str, payload: dict[str, Any], debounce: Debounce) -> None:
        now = self._clock()
        text = json.dumps(payload, sort_keys=True)
        with self._connect(write=True) as db:
            row = db.execute("SELECT first_queued, payload FROM outbox WHERE repo=? AND key=?", (repo, key)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO outbox (repo, key, kind, payload, first_queued, due) VALUES (?, ?, ?, ?, ?, ?)",
                    (repo, key, kind, text, now, debounce.due(now, now)),
                )
            elif row[1] != text:
                # a newer change restarts the quiet spell, bounded by max_wait from the first change
                db.execute(
                    "UPDATE outbox SET payload=?, due=?, version=version+1, attempts=0 WHERE repo=? AND key=?",
                    (text, debounce.due(row[0], now), repo, key),
                )

    # -- flushing -----------------------------------------------------------------------------------

    def flush(self, writer: GitHubWriter, *, force: bool = False) -> FlushResult:
        """Make every due write (every queued one with ``force``) for ``writer``'s repository."""
        repo = writer.repo
        now = self._clock()
        sent = skipped = failed = dropped = 0
        with self._connect() as db:
            rows = db.execute(
                "SELECT key, kind, payload, attempts, version FROM outbox WHERE repo=? AND (due<=? OR ?) "
                "ORDER BY kind DESC, due, key",  # statuses before comments: the checks list is what gates merges
                (repo, now, 1 if force else 0),
            ).fetchall()
        for key, kind, text, attempts, version in rows:
            payload = json.loads(text)
            digest = hashlib.sha256(text.encode()).hexdigest()
            try:
                if kind == "comment" and payload["number"] is None:
                    numbers = self._pulls(writer, payload["commit"])
                else:
                    numbers = [payload.get("number")]
                if self._already_sent(repo, key, digest) or (kind == "status" and self._status_unchanged(repo, key, payload)):
                    skipped += 1
                elif kind == "status" and self._status_budget_spent(repo, key):
                    log.warning("github: %s for %s not written: %s statuses were written for this commit and context "
                                "(GitHub keeps at most %s); the pull request comment still shows the run",
                                key, repo, STATUS_BUDGET, GITHUB_STATUS_LIMIT)
                    dropped += 1
                else:
                    self._write(writer, kind, payload, numbers)
                    if kind == "status":
                        self._status_written(repo, key, payload)
                    sent += 1
            except PermanentGitHubError as e:
                log.error("github: dropping %s for %s: %s", key, repo, e)
                if kind == "status" and e.status == 422 and "maximum number of statuses" in str(e).lower():
                    self._status_closed(repo, key, payload)
                dropped += 1
                self._done(repo, key, version, None)
                continue
            except ReporterError as e:
                failed += 1
                self._retry_later(repo, key, version, attempts + 1, str(e))
                log.warning("github: %s for %s kept for a later try: %s", key, repo, e)
                continue
            self._done(repo, key, version, digest)
        return FlushResult(sent, skipped, failed, dropped, self.count(repo))

    def _write(self, writer: GitHubWriter, kind: str, payload: dict[str, Any], numbers: Sequence[int | None]) -> None:
        if kind == "dispatch":
            writer.dispatch(payload["event_type"], payload["client_payload"])
            return
        if kind == "status":
            writer.create_status(payload["sha"], payload["state"], payload["context"], payload["description"],
                                 payload["target_url"])
            return
        for number in numbers:
            if number is None:
                continue
            known = self.comment_id(writer.repo, number)
            comment_id = writer.upsert_comment(number, payload["body"], known_id=known)
            if comment_id != known:
                with self._connect(write=True) as db:
                    db.execute("INSERT OR REPLACE INTO own_comments (repo, number, comment_id) VALUES (?, ?, ?)",
                               (writer.repo, number, comment_id))

    def _pulls(self, writer: GitHubWriter, sha: str) -> list[int]:
        with self._connect() as db:
            row = db.execute("SELECT numbers FROM pulls WHERE repo=? AND sha=?", (writer.repo, sha)).fetchone()
        if row is not None:
            return [int(n) for n in json.loads(row[0])]
        numbers = writer.pulls_for_commit(sha)
        with self._connect(write=True) as db:
            db.execute("INSERT OR REPLACE INTO pulls (repo, sha, numbers) VALUES (?, ?, ?)",
                       (writer.repo, sha, json.dumps(numbers)))
        return numbers

    # -- statuses: only changes, within GitHub's cap ---------------------------------------------------

    def _status_row(self, repo: str, key: str) -> tuple[str, int, str, int] | None:
        with self._connect() as db:
            row = db.execute("SELECT change, final, run_id, count FROM statuses_written WHERE repo=? AND key=?",
                             (repo, key)).fetchone()
        return (str(row[0]), int(row[1]), str(row[2]), int(row[3])) if row else None

    def _status_unchanged(self, repo: str, key: str, payload: dict[str, Any]) -> bool:
        row = self._status_row(repo, key)
        if row is None or not payload.get("change"):
            return False
        change, final, run_id, _ = row
        if payload["change"] == change:
            return True
        # the next execution of a run whose verdict is written: its pending would only hide the verdict
        return payload["state"] == "pending" and bool(final) and payload.get("run_id") == run_id

    def _status_budget_spent(self, repo: str, key: str) -> bool:
        row = self._status_row(repo, key)
        return row is not None and row[3] >= STATUS_BUDGET

    def _status_written(self, repo: str, key: str, payload: dict[str, Any]) -> None:
        with self._connect(write=True) as db:
            db.execute(
                "INSERT INTO statuses_written (repo, key, change, final, run_id, count) VALUES (?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (repo, key) DO UPDATE SET change=excluded.change, final=excluded.final, "
                "run_id=excluded.run_id, count=count+1",
                (repo, key, str(payload.get("change") or ""), int(payload["state"] != "pending"),
                 str(payload.get("run_id") or "")),
            )

    def _status_closed(self, repo: str, key: str, payload: dict[str, Any]) -> None:
        """GitHub says the context is full: write nothing more there."""
        self._status_written(repo, key, payload)
        with self._connect(write=True) as db:
            db.execute("UPDATE statuses_written SET count=MAX(count, ?) WHERE repo=? AND key=?",
                       (STATUS_BUDGET, repo, key))

    def status_writes(self, repo: str, sha: str, context: str) -> int:
        """How many statuses the outbox wrote for ``sha`` and ``context``."""
        row = self._status_row(repo, f"status:{sha}:{context}")
        return row[3] if row else 0

    def _already_sent(self, repo: str, key: str, digest: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT digest FROM sent WHERE repo=? AND key=?", (repo, key)).fetchone()
        return row is not None and row[0] == digest

    def _done(self, repo: str, key: str, version: int, digest: str | None) -> None:
        with self._connect(write=True) as db:
            # a newer payload queued meanwhile stays queued
            db.execute("DELETE FROM outbox WHERE repo=? AND key=? AND version=?", (repo, key, version))
            if digest is not None:
                db.execute("INSERT OR REPLACE INTO sent (repo, key, digest) VALUES (?, ?, ?)", (repo, key, digest))

    def _retry_later(self, repo: str, key: str, version: int, attempts: int, error: str) -> None:
        due = self._clock() + RETRY.delay(attempts)
        with self._connect(write=True) as db:
            db.execute(
                "UPDATE outbox SET attempts=?, due=MAX(due, ?), last_error=? WHERE repo=? AND key=? AND version=?",
                (attempts, due, error[:500], repo, key, version),
            )

    # -- inspection ---------------------------------------------------------------------------------

    def comment_id(self, repo: str, number: int) -> int | None:
        with self._connect() as db:
            row = db.execute("SELECT comment_id FROM own_comments WHERE repo=? AND number=?", (repo, number)).fetchone()
        return int(row[0]) if row else None

    def count(self, repo: str | None = None) -> int:
        with self._connect() as db:
            if repo is None:
                return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            return int(db.execute("SELECT COUNT(*) FROM outbox WHERE repo=?", (repo,)).fetchone()[0])


def _chain(text: str) -> Chain:
    data = json.loads(text)
    data["metrics"] = tuple(data["metrics"])
    data["evidence"] = tuple(data["evidence"])
    data["failed"] = tuple(data.get("failed", ()))  # absent from a chain kept before failed runs were
    return Chain(**data)
