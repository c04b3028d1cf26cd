"""Reading the result store: a record by reference, runs filtered and newest first, a benchmark's
history, and one metric's history from the metric tables (no record decoded)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from controller.sqlite_store.connection import StoreConnection
from controller.sqlite_store.rows import decode_record, unpack_doubles
from controller.store import (
    NO_PULL_REQUEST,
    BaselineReset,
    PullRequestFilter,
    canonical_matrix_point,
    check_limit,
    pick_reference,
)
from schemas.errors import NotFoundError
from schemas.status import FINAL_STATUSES, RunStatus

if TYPE_CHECKING:  # a type only: `anubis list` reads runs as StoredRun rows, no record decoded
    from schemas.results import ResultRecord

FINAL = tuple(sorted(s.value for s in FINAL_STATUSES))
ORDER_NEWEST = "ORDER BY sort_time DESC, rowid DESC"


class MetricPoint(NamedTuple):
    """One execution's summary of one metric, as :meth:`SqliteResultStore.metric_history` returns
    (rows are named tuples here: cheaper to define at import than frozen dataclasses)."""

    execution_id: str
    run_id: str
    status: RunStatus
    at: float  # the record's ordering time (started, else finished, else stored)
    commit: str | None
    unit: str
    direction: str
    n: int
    last: float | None
    mean: float | None
    median: float | None
    min: float | None
    max: float | None
    stdev: float | None
    values: tuple[float, ...]
    times: tuple[float, ...]


class StoredRun(NamedTuple):
    """What :meth:`StoreReading.stored_runs` reads of an execution: its identity and final status,
    from the columns (and the record's ``reason``) without decoding the record."""

    execution_id: str
    run_id: str
    benchmark: str
    environment: str
    backend: str
    status: RunStatus
    reason: str
    started_at: float | None
    finished_at: float | None
    commit: str | None


class StoreReading(StoreConnection):
    """What a :class:`~controller.sqlite_store.SqliteResultStore` reads."""

    def resets(self, benchmark: str) -> list[BaselineReset]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT id, benchmark, metric, environment, at, by, reason FROM baseline_resets "
                "WHERE benchmark = ? ORDER BY at, id",
                (benchmark,),
            ).fetchall()
        return [
            BaselineReset(benchmark=b, at=at, by=by, reason=reason, metric=m, environment=e, id=i)
            for i, b, m, e, at, by, reason in rows
        ]

    def get(self, execution_id: str) -> ResultRecord:
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT record FROM runs WHERE execution_id = ?", (execution_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"No result of execution {execution_id!r} is stored in {self.path}. "
                    "List the stored runs with `anubis history <benchmark>`."
                )
            return decode_record(execution_id, row[0], conn)

    def find(self, ref: str) -> ResultRecord:
        ref = ref.strip()
        if not ref:
            raise NotFoundError("An empty reference matches no result: give an execution id or a run id.")
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT execution_id, record FROM runs WHERE execution_id = ?", (ref,)
            ).fetchone()
            if row is None:
                row = conn.execute(
                    f"SELECT execution_id, record FROM runs WHERE run_id = ? {ORDER_NEWEST} LIMIT 1",
                    (ref,),
                ).fetchone()
            if row is None:
                high = ref + "\U0010ffff"
                executions = [
                    r[0]
                    for r in conn.execute(
                        "SELECT execution_id FROM runs WHERE execution_id >= ? AND execution_id < ? "
                        "LIMIT 100",
                        (ref, high),
                    )
                ]
                runs: dict[str, str] = {}
                for run_id, execution_id in conn.execute(
                    "SELECT run_id, execution_id FROM runs WHERE run_id >= ? AND run_id < ? "
                    "ORDER BY run_id, sort_time DESC, rowid DESC",
                    (ref, high),
                ):
                    runs.setdefault(run_id, execution_id)
                chosen = pick_reference(ref, executions, runs)
                row = conn.execute(
                    "SELECT execution_id, record FROM runs WHERE execution_id = ?", (chosen,)
                ).fetchone()
            return decode_record(row[0], row[1], conn)

    def latest(self, benchmark: str | None = None) -> ResultRecord | None:
        found = self.list_runs(benchmark, limit=1)
        return found[0] if found else None

    def list_runs(
        self,
        benchmark: str | None = None,
        status: RunStatus | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> list[ResultRecord]:
        check_limit(limit)
        where, args = _run_filter(benchmark, status, since)
        return self._select(where, args, limit)

    def stored_runs(
        self,
        benchmark: str | None = None,
        status: RunStatus | None = None,
        since: float | None = None,
        limit: int = 50,
    ) -> list[StoredRun]:
        """What :meth:`list_runs` lists (the same filters, order and limit), each as a
        :class:`StoredRun`: what `anubis list` shows, read without decoding a record."""
        check_limit(limit)
        where, args = _run_filter(benchmark, status, since)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT execution_id, run_id, benchmark, environment, backend, status, "
                "json_extract(record, '$.reason'), started_at, finished_at, \"commit\" "
                f"FROM runs {clause} {ORDER_NEWEST} LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [StoredRun(e, r, b, env, backend, RunStatus(s), reason, started, finished, commit)
                for e, r, b, env, backend, s, reason, started, finished, commit in rows]

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
        check_limit(limit)
        where, args = history_filter(benchmark, environment, matrix_point, branch, pull_request)
        return list(reversed(self._select(where, args, limit)))

    def metric_history(
        self,
        benchmark: str,
        metric: str,
        *,
        environment: str | None = None,
        matrix_point: Mapping[str, Any] | None = None,
        branch: str | None = None,
        limit: int = 100,
    ) -> list[MetricPoint]:
        """One metric over the newest ``limit`` finished executions that have it, oldest first,
        read from the metric tables (no record is decoded)."""
        check_limit(limit)
        where, args = history_filter(benchmark, environment, matrix_point, branch)
        where = [f"r.{clause}" for clause in where] + ["m.name = ?"]
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"""
                SELECT r.execution_id, r.run_id, r.status, r.sort_time, r."commit", m.unit,
                       m.direction, m.n, m.last, m.mean, m.median, m.min, m.max, m.stdev
                FROM runs AS r JOIN metrics AS m ON m.execution_id = r.execution_id
                WHERE {" AND ".join(where)}
                ORDER BY r.sort_time DESC, r.rowid DESC LIMIT ?
                """,
                (*args, metric, limit),
            ).fetchall()
            points = []
            for row in reversed(rows):
                packed = conn.execute(
                    'SELECT "values", times FROM metric_samples WHERE execution_id = ? AND name = ?',
                    (row[0], metric),
                ).fetchone()
                values, times = (unpack_doubles(packed[0]), unpack_doubles(packed[1])) if packed else ((), ())
                points.append(
                    MetricPoint(
                        execution_id=row[0],
                        run_id=row[1],
                        status=RunStatus(row[2]),
                        at=row[3],
                        commit=row[4],
                        unit=row[5],
                        direction=row[6],
                        n=row[7],
                        last=row[8],
                        mean=row[9],
                        median=row[10],
                        min=row[11],
                        max=row[12],
                        stdev=row[13],
                        values=values,
                        times=times,
                    )
                )
        return points

    def count(self, benchmark: str | None = None) -> int:
        """How many executions are stored (of ``benchmark``, if given)."""
        with self._transaction(write=False) as conn:
            if benchmark is None:
                row = conn.execute("SELECT count(*) FROM runs").fetchone()
            else:
                row = conn.execute("SELECT count(*) FROM runs WHERE benchmark = ?", (benchmark,)).fetchone()
        return int(row[0])

    def _select(self, where: Sequence[str], args: Sequence[Any], limit: int) -> list[ResultRecord]:
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT execution_id, record FROM runs {clause} {ORDER_NEWEST} LIMIT ?",
                (*args, limit),
            ).fetchall()
            return [decode_record(execution_id, text, conn) for execution_id, text in rows]


def _run_filter(
    benchmark: str | None, status: RunStatus | None, since: float | None
) -> tuple[list[str], list[Any]]:
    """The WHERE terms and their arguments of :meth:`StoreReading.list_runs` and :meth:`~StoreReading.stored_runs`."""
    where: list[str] = []
    args: list[Any] = []
    if benchmark is not None:
        where.append("benchmark = ?")
        args.append(benchmark)
    if status is not None:
        where.append("status = ?")
        args.append(RunStatus(status).value)
    if since is not None:
        where.append("sort_time >= ?")
        args.append(since)
    return where, args


def history_filter(
    benchmark: str,
    environment: str | None,
    matrix_point: Mapping[str, Any] | None,
    branch: str | None,
    pull_request: PullRequestFilter = None,
) -> tuple[list[str], list[Any]]:
    where = ["benchmark = ?", f"status IN ({', '.join('?' for _ in FINAL)})"]
    args: list[Any] = [benchmark, *FINAL]
    if environment is not None:
        where.append("environment = ?")
        args.append(environment)
    if matrix_point is not None:
        where.append("matrix_point = ?")
        args.append(canonical_matrix_point(matrix_point))
    if branch is not None:
        where.append("branch = ?")
        args.append(branch)
    if pull_request is NO_PULL_REQUEST:
        where.append("pull_request IS NULL")
    elif pull_request is not None:
        where.append("pull_request = ?")
        args.append(pull_request)
    return where, args
