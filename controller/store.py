"""Where results are kept: the :class:`ResultStore` interface and the rules every store shares.

A store keeps :class:`~schemas.results.ResultRecord` values, one per *execution* (``execution_id`` is
unique; ``run_id`` is shared by the repeats of one run). A result is written once and never replaced:
``put`` of an execution id that is already stored changes nothing and answers ``False``.

Every store orders records the same way: by the time the execution started (or finished, for one
that never started; or was stored, for one with neither), newest last on ties. The pure helpers here
(:func:`record_time`, :func:`canonical_matrix_point`, :func:`pick_reference`) are that shared
behaviour, so the SQLite store and an object-store backed one answer alike.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from schemas.errors import NotFoundError
from schemas.status import RunStatus

if TYPE_CHECKING:  # a type only: opening the local store to list runs decodes no record
    from schemas.results import ResultRecord

#: How many candidates an ambiguous reference lists in its error message.
MAX_CANDIDATES_SHOWN = 10


class NoPullRequest(enum.Enum):
    """The ``pull_request`` filter of :meth:`ResultStore.history` that keeps only executions made
    outside any pull request (a branch's own runs, never a preview)."""

    NO_PULL_REQUEST = "no pull request"


NO_PULL_REQUEST = NoPullRequest.NO_PULL_REQUEST

#: ``None``: any execution; a number: that pull request's; :data:`NO_PULL_REQUEST`: none's.
PullRequestFilter = int | NoPullRequest | None


def matches_pull_request(record: ResultRecord, pull_request: PullRequestFilter) -> bool:
    """Whether ``record`` passes the ``pull_request`` filter of :meth:`ResultStore.history`."""
    if pull_request is None:
        return True
    if pull_request is NO_PULL_REQUEST:
        return record.pull_request is None
    return record.pull_request == pull_request


@runtime_checkable
class ResultStore(Protocol):
    """The results of every execution, queryable by id, benchmark and time."""

    def put(self, record: ResultRecord) -> bool:
        """Store ``record``; ``False`` (and nothing changed) if its execution id is already stored."""
        ...

    def get(self, execution_id: str) -> ResultRecord:
        """The record of exactly this execution; :class:`NotFoundError` if there is none."""
        ...

    def find(self, ref: str) -> ResultRecord:
        """Resolve what a person typed: an execution id, a run id (its latest execution), or a
        unique prefix of either. :class:`NotFoundError` when nothing or more than one thing matches
        (the message lists the candidates)."""
        ...

    def latest(self, benchmark: str | None = None) -> ResultRecord | None:
        """The newest record (of ``benchmark``, if given), whatever its status; ``None`` if none."""
        ...

    def list_runs(
        self,
        benchmark: str | None = None,
        status: RunStatus | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> list[ResultRecord]:
        """Records, newest first, optionally of one benchmark, in one status, at or after ``since``
        (unix seconds)."""
        ...

    def history(
        self,
        benchmark: str,
        *,
        environment: str | None = None,
        matrix_point: Mapping[str, Any] | None = None,
        branch: str | None = None,
        pull_request: PullRequestFilter = None,
        limit: int = 100,
    ) -> list[ResultRecord]:
        """The newest ``limit`` *finished* executions of ``benchmark`` (status final), returned
        oldest first: the series a new run is judged against. ``branch`` and ``pull_request`` (see
        :data:`PullRequestFilter`) both filter: a branch's name alone does not say whose it is (a
        fork's pull request may come from its own branch ``main``)."""
        ...


class BaselineReset(NamedTuple):
    """A person accepted a deliberate step: executions before ``at`` are no longer the baseline of
    ``benchmark`` (of one ``metric`` and one ``environment`` when given; of all when ``None``).
    (A named tuple: every command that opens the store imports it, and is quicker to define.)"""

    benchmark: str
    at: float  # unix seconds
    by: str
    reason: str
    metric: str | None = None
    environment: str | None = None
    id: int | None = None  # given by the store


@runtime_checkable
class ResetStore(Protocol):
    """Where baseline resets are recorded (a store may keep them beside its results)."""

    def add_reset(self, reset: BaselineReset) -> BaselineReset:
        """Record ``reset``; returns it with its id."""
        ...

    def resets(self, benchmark: str) -> list[BaselineReset]:
        """The resets of ``benchmark``, oldest first."""
        ...


def record_time(record: ResultRecord, stored_at: float) -> float:
    """The time a record is ordered by: started, else finished, else when it was stored."""
    if record.started_at is not None:
        return record.started_at
    if record.finished_at is not None:
        return record.finished_at
    return stored_at


def canonical_matrix_point(point: Mapping[str, Any]) -> str:
    """One text per matrix point, whatever the key order (what stores index and compare)."""
    import json  # (where a record is stored or a history asked for: listing runs needs none)

    return json.dumps(dict(point), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def pick_reference(ref: str, executions: Sequence[str], runs: Mapping[str, str]) -> str:
    """Choose the one execution id that ``ref`` (a prefix) means, or explain why there is none.

    ``executions`` are the execution ids that start with ``ref``; ``runs`` maps each run id that
    starts with ``ref`` to its latest execution id. A prefix of a run id and of that run's latest
    execution id is not ambiguous: both mean the same record.
    """
    candidates: dict[str, str] = {}
    for execution_id in executions:
        candidates.setdefault(execution_id, f"execution {execution_id}")
    for run_id, execution_id in runs.items():
        candidates.setdefault(execution_id, f"run {run_id} (latest execution {execution_id})")
    if len(candidates) == 1:
        return next(iter(candidates))
    if not candidates:
        raise NotFoundError(
            f"No stored result matches {ref!r}: it is not an execution id or a run id, nor the start "
            "of one. List the stored runs with `anubis history <benchmark>`."
        )
    shown = sorted(candidates.values())[:MAX_CANDIDATES_SHOWN]
    more = len(candidates) - len(shown)
    listing = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    raise NotFoundError(
        f"{ref!r} is ambiguous: it is the start of {len(candidates)} stored ids ({listing}). "
        "Give more characters of the one you mean."
    )
