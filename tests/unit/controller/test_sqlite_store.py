from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from controller.sqlite_store import SqliteResultStore
from controller.sqlite_store.schema import (
    SCHEMA_VERSION,
    _insert_metric_rows_v2,
    connect,
    migrate,
    schema_version,
)
from controller.store import ResultStore, canonical_matrix_point, pick_reference
from schemas.errors import NotFoundError, StoreError
from schemas.loading import load_schema
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.status import RunStatus


def make_record(
    execution_id: str,
    *,
    run_id: str = "run-a",
    benchmark: str = "resnet",
    environment: str = "local",
    status: RunStatus = RunStatus.SUCCEEDED,
    started_at: float | None = 1_700_000_000.0,
    values: tuple[float, ...] = (10.0, 12.0, 11.0),
    branch: str | None = "main",
    matrix_point: dict[str, Any] | None = None,
) -> ResultRecord:
    return ResultRecord(
        execution_id=execution_id,
        run_id=run_id,
        family_id="fam-1",
        benchmark=benchmark,
        environment=environment,
        backend="local",
        status=status,
        reason="" if status is RunStatus.SUCCEEDED else "exit code 1 in container main",
        started_at=started_at,
        finished_at=None if started_at is None else started_at + 60.0,
        metrics={
            "throughput": MetricResult(
                name="throughput",
                unit="images/s",
                direction="higher",
                values=values,
                times=tuple(1_700_000_010.0 + i for i in range(len(values))),
            )
        },
        reproducibility=Reproducibility(
            descriptor_hash="sha256:abc",
            image="python:3.11",
            dataset_checksums={"/data/x": "md5:0123abcd"},
            gpus=("NVIDIA H100",),
        ),
        matrix_point=matrix_point or {},
        labels={"team": "vision"},
        repository="github.com/example/benchmarks",
        commit="0123456789abcdef",
        branch=branch,
        pull_request=None,
        descriptor_path="benchmarks/resnet/descriptor.toml",
    )


@pytest.fixture()
def store(tmp_path: Path) -> Any:
    with SqliteResultStore(tmp_path / "deep" / "folder" / "results.sqlite3") as s:
        yield s


def test_is_a_result_store_and_creates_its_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "results.sqlite3"
    with SqliteResultStore(path) as store:
        assert isinstance(store, ResultStore)
    assert path.is_file()


def test_put_then_get_round_trips(store: SqliteResultStore) -> None:
    record = make_record("exec-1")
    assert store.put(record) is True
    assert store.get("exec-1") == record


def test_put_twice_is_refused_and_keeps_the_first(store: SqliteResultStore) -> None:
    first = make_record("exec-1", values=(1.0,))
    assert store.put(first)
    assert store.put(make_record("exec-1", values=(2.0,))) is False
    assert store.get("exec-1") == first
    assert store.count() == 1
    assert [p.values for p in store.metric_history("resnet", "throughput")] == [(1.0,)]


def test_a_batch_is_one_statement_per_table_whatever_its_size(store: SqliteResultStore) -> None:
    """put_many: the ids already stored, then the runs, metrics and samples each in one multi-row
    INSERT (Python's sqlite3 gives up the GIL around every statement); the answers, the rows and
    the records are those of a put per record, a duplicate in the batch or in the store refused."""
    base = make_record("exec-0")
    metrics = {name: dataclasses.replace(base.metrics["throughput"], name=name) for name in ("a", "b")}
    store.put(dataclasses.replace(base, metrics=metrics))
    records = [dataclasses.replace(base, execution_id=f"exec-{i}", metrics=metrics) for i in range(9)]
    statements: list[str] = []
    assert store._conn is not None
    store._conn.set_trace_callback(statements.append)
    answers = store.put_many([*records, records[3]])
    store._conn.set_trace_callback(None)
    assert answers == [False] + [True] * 8 + [False]
    assert [s.split()[0] for s in statements] == ["BEGIN", "SELECT", "INSERT", "INSERT", "INSERT", "COMMIT"]
    assert store.count() == 9
    for record in records:
        assert store.get(record.execution_id) == record
    assert [len(p.values) for p in store.metric_history("resnet", "b")] == [3] * 9


def test_a_batch_past_sqlites_parameter_limit_is_split(store: SqliteResultStore) -> None:
    records = [make_record(f"exec-{i}") for i in range(130)]  # 130 runs x 17 values > 999
    assert store.put_many(records) == [True] * 130
    assert store.count() == 130 and store.get("exec-129") == records[129]


def test_metric_order_is_kept(store: SqliteResultStore) -> None:
    base = make_record("exec-1")
    metrics = {name: dataclasses.replace(base.metrics["throughput"], name=name) for name in ("z", "a", "m")}
    store.put(dataclasses.replace(base, metrics=metrics))
    assert list(store.get("exec-1").metrics) == ["z", "a", "m"]


def test_non_finite_values_round_trip(store: SqliteResultStore) -> None:
    record = make_record("exec-1", values=(math.nan, math.inf, -math.inf, 3.5))
    store.put(record)
    back = store.get("exec-1").metrics["throughput"].values
    assert math.isnan(back[0]) and back[1:] == (math.inf, -math.inf, 3.5)
    (point,) = store.metric_history("resnet", "throughput")
    assert math.isnan(point.values[0]) and point.values[1:] == (math.inf, -math.inf, 3.5)
    assert point.n == 1 and point.mean == 3.5


def test_all_nan_metric_has_no_summary(store: SqliteResultStore) -> None:
    store.put(make_record("exec-1", values=(math.nan,)))
    (point,) = store.metric_history("resnet", "throughput")
    assert point.n == 0 and point.mean is None


def test_get_unknown_says_what_to_do(store: SqliteResultStore) -> None:
    with pytest.raises(NotFoundError, match="No result of execution 'nope'"):
        store.get("nope")


def test_find_by_execution_id_run_id_and_prefixes(store: SqliteResultStore) -> None:
    store.put(make_record("e-111", run_id="r-aaa", started_at=100.0))
    store.put(make_record("e-222", run_id="r-aaa", started_at=200.0))
    store.put(make_record("e-333", run_id="r-bbb", started_at=150.0))
    assert store.find("e-111").execution_id == "e-111"
    assert store.find("r-aaa").execution_id == "e-222"  # a run id means its latest execution
    assert store.find("e-3").execution_id == "e-333"
    assert store.find("r-b").execution_id == "e-333"
    assert store.find("  e-111 ").execution_id == "e-111"


def test_find_ambiguous_prefix_lists_candidates(store: SqliteResultStore) -> None:
    store.put(make_record("e-111", run_id="r-aaa"))
    store.put(make_record("e-122", run_id="r-bbb"))
    with pytest.raises(NotFoundError, match="ambiguous") as caught:
        store.find("e-1")
    assert "e-111" in str(caught.value) and "e-122" in str(caught.value)
    with pytest.raises(NotFoundError, match="ambiguous"):
        store.find("r-")


def test_find_nothing_and_empty(store: SqliteResultStore) -> None:
    store.put(make_record("e-111"))
    with pytest.raises(NotFoundError, match="No stored result matches 'zzz'"):
        store.find("zzz")
    with pytest.raises(NotFoundError, match="empty"):
        store.find("")


def test_find_does_not_treat_like_wildcards_specially(store: SqliteResultStore) -> None:
    store.put(make_record("e_1", run_id="r1"))
    store.put(make_record("ex1", run_id="r2"))
    with pytest.raises(NotFoundError):
        store.find("e%")
    assert store.find("e_").execution_id == "e_1"


def test_pick_reference_one_run_and_its_own_execution_is_not_ambiguous() -> None:
    assert pick_reference("ab", ["ab-1"], {"ab": "ab-1"}) == "ab-1"
    with pytest.raises(NotFoundError, match="and 5 more"):
        pick_reference("x", [f"x{i:02d}" for i in range(15)], {})


def test_latest_and_list_runs(store: SqliteResultStore) -> None:
    assert store.latest() is None
    store.put(make_record("e1", started_at=100.0))
    store.put(make_record("e2", started_at=300.0, benchmark="bert"))
    store.put(make_record("e3", started_at=200.0, status=RunStatus.FAILED))
    store.put(make_record("e4", started_at=None))  # ordered by when it was stored
    latest = store.latest()
    assert latest is not None and latest.execution_id == "e4"
    latest_resnet = store.latest("bert")
    assert latest_resnet is not None and latest_resnet.execution_id == "e2"
    assert [r.execution_id for r in store.list_runs()] == ["e4", "e2", "e3", "e1"]
    assert [r.execution_id for r in store.list_runs(benchmark="resnet", limit=2)] == ["e4", "e3"]
    assert [r.execution_id for r in store.list_runs(status=RunStatus.FAILED)] == ["e3"]
    assert [r.execution_id for r in store.list_runs(since=150.0, benchmark="resnet")] == ["e4", "e3"]
    with pytest.raises(ValueError):
        store.list_runs(limit=0)


def test_stored_runs_list_what_list_runs_lists_without_decoding_a_record(store: SqliteResultStore) -> None:
    """`anubis list` reads the store's runs as StoredRun rows (columns and the record's reason): the
    same runs, order, filters and fields as the records :meth:`list_runs` decodes."""
    store.put(make_record("e1", started_at=100.0))
    store.put(make_record("e2", started_at=300.0, benchmark="bert"))
    store.put(make_record("e3", started_at=200.0, status=RunStatus.FAILED))
    store.put(make_record("e4", started_at=None))
    fields = ("execution_id", "run_id", "benchmark", "environment", "backend", "status", "reason",
              "started_at", "finished_at", "commit")
    for filters in ({}, {"benchmark": "resnet", "limit": 2}, {"status": RunStatus.FAILED},
                    {"since": 150.0, "benchmark": "resnet"}):
        records = store.list_runs(**filters)
        rows = store.stored_runs(**filters)
        assert [tuple(getattr(r, f) for f in fields) for r in records] == [tuple(r) for r in rows], filters
    failed = store.stored_runs(status=RunStatus.FAILED)[0]
    assert failed.status is RunStatus.FAILED and failed.reason == "exit code 1 in container main"
    with pytest.raises(ValueError):
        store.stored_runs(limit=0)


def test_ties_are_broken_by_storing_order(store: SqliteResultStore) -> None:
    for i in range(3):
        store.put(make_record(f"e{i}", started_at=100.0))
    assert [r.execution_id for r in store.list_runs()] == ["e2", "e1", "e0"]
    assert [r.execution_id for r in store.history("resnet")] == ["e0", "e1", "e2"]


def test_history_is_oldest_first_finished_only_and_filtered(store: SqliteResultStore) -> None:
    store.put(make_record("e1", started_at=100.0))
    store.put(make_record("e2", started_at=200.0, status=RunStatus.RUNNING))
    store.put(make_record("e3", started_at=300.0, status=RunStatus.FAILED))
    store.put(make_record("e4", started_at=400.0, environment="gpu-cluster"))
    store.put(make_record("e5", started_at=500.0, branch="feature"))
    store.put(make_record("e6", started_at=600.0, matrix_point={"batch": 32, "gpus": 1}))
    store.put(make_record("e7", started_at=700.0, benchmark="bert"))
    store.put(make_record("e8", started_at=50.0))

    def ids(records: list[ResultRecord]) -> list[str]:
        return [r.execution_id for r in records]

    assert ids(store.history("resnet")) == ["e8", "e1", "e3", "e4", "e5", "e6"]
    assert ids(store.history("resnet", limit=2)) == ["e5", "e6"]  # the newest, oldest first
    assert ids(store.history("resnet", environment="gpu-cluster")) == ["e4"]
    assert ids(store.history("resnet", branch="main", environment="local")) == ["e8", "e1", "e3", "e6"]
    assert ids(store.history("resnet", matrix_point={"gpus": 1, "batch": 32})) == ["e6"]
    assert ids(store.history("resnet", matrix_point={})) == ["e8", "e1", "e3", "e4", "e5"]
    assert store.history("nothing") == []


def test_metric_history_reads_the_metric_tables(store: SqliteResultStore) -> None:
    store.put(make_record("e1", started_at=100.0, values=(1.0, 3.0)))
    store.put(make_record("e2", started_at=200.0, values=(5.0,), status=RunStatus.RUNNING))
    store.put(make_record("e3", started_at=300.0, values=(7.0, 9.0, 8.0)))
    points = store.metric_history("resnet", "throughput")
    assert [(p.execution_id, p.mean, p.min, p.max, p.n) for p in points] == [
        ("e1", 2.0, 1.0, 3.0, 2),
        ("e3", 8.0, 7.0, 9.0, 3),
    ]
    assert points[1].values == (7.0, 9.0, 8.0) and points[1].unit == "images/s"
    assert store.metric_history("resnet", "latency") == []


def test_records_validate_against_the_result_schema(store: SqliteResultStore) -> None:
    schema = load_schema("result")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for record in (
        make_record("e1"),
        make_record("e2", values=(math.nan, 1.0)),
        make_record("e3", values=(), started_at=None, status=RunStatus.ERROR),
    ):
        validator.validate(record.to_dict())
        store.put(record)
        validator.validate(store.get(record.execution_id).to_dict())
    broken = make_record("e4").to_dict()
    broken["status"] = "DONE"
    assert not validator.is_valid(broken)


def test_telemetry_and_cost_are_kept_and_validate(store: SqliteResultStore) -> None:
    from dataclasses import replace

    from controller.costs import run_cost, shipped_prices
    from controller.gpu_telemetry import GpuSample, summarize

    telemetry = summarize(
        [GpuSample(0.0, "GPU-a", utilization=80.0, memory_used=9000.0, power=200.0),
         GpuSample(1.0, "GPU-a", utilization=90.0, memory_used=9500.0, power=220.0)],
        source="nvidia-smi", window=(0.0, 1.0),
    )
    cost = run_cost(shipped_prices(), "p3.2xlarge", 1, 600.0)
    assert cost is not None
    record = replace(make_record("t1"), telemetry=telemetry.to_dict(), cost=cost.to_dict())
    validator = jsonschema.Draft202012Validator(load_schema("result"))
    validator.validate(record.to_dict())
    store.put(record)
    again = store.get("t1")
    assert again.telemetry == record.telemetry and again.cost == record.cost
    assert again.cost is not None and again.cost["total"] == pytest.approx(0.51)  # 3.06 $/h for 10 minutes
    wrong = record.to_dict()
    wrong["telemetry"]["source"] = "guess"
    assert not validator.is_valid(wrong)


def test_canonical_matrix_point_ignores_key_order() -> None:
    assert canonical_matrix_point({"b": 1, "a": "x"}) == canonical_matrix_point({"a": "x", "b": 1})


# -- schema versions and migrations ---------------------------------------------------------------


def _version_1_store(path: Path, records: list[ResultRecord]) -> None:
    """A store as the first release wrote it: schema version 1, runs table only."""
    conn = connect(path)
    try:
        migrate(conn, target=1)
        _version_1_store_rows(conn, records)
    finally:
        conn.close()


def _version_1_store_rows(conn: sqlite3.Connection, records: list[ResultRecord]) -> None:
    for r in records:
        conn.execute(
            'INSERT INTO runs (execution_id, run_id, benchmark, environment, status, started_at, '
            'finished_at, sort_time, stored_at, branch, "commit", matrix_point, record) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.execution_id, r.run_id, r.benchmark, r.environment, r.status.value,
                r.started_at, r.finished_at, r.started_at or 0.0, 0.0, r.branch, r.commit,
                canonical_matrix_point(r.matrix_point), json.dumps(r.to_dict()),
            ),
        )


def test_upgrade_from_version_1(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    old = [make_record("e1", started_at=100.0, values=(1.0, math.nan)), make_record("e2", started_at=200.0)]
    _version_1_store(path, old)
    conn = sqlite3.connect(path)
    assert schema_version(conn) == 1
    conn.close()
    with SqliteResultStore(path) as store:
        for r in old:  # compared as JSON: NaN != NaN
            assert json.dumps(store.get(r.execution_id).to_dict()) == json.dumps(r.to_dict())
        points = store.metric_history("resnet", "throughput")  # backfilled by migration 2
        assert [p.execution_id for p in points] == ["e1", "e2"]
        assert points[0].n == 1 and math.isnan(points[0].values[1])
        assert store.put(make_record("e3", started_at=300.0))
        assert store.put(make_record("e1")) is False
    conn = sqlite3.connect(path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("SELECT family_id, backend FROM runs WHERE execution_id='e1'").fetchone() == (
            "fam-1",
            "local",
        )  # backfilled by migration 3
    finally:
        conn.close()


def test_upgrade_from_version_4_packs_each_metric_s_values_into_one_row(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    record = make_record("e1", values=(1.5, math.nan, -2.0, 1e300))
    short = dataclasses.replace(  # a time short: read back as NaN, as version 4 did
        record.metrics["throughput"], times=record.metrics["throughput"].times[:3]
    )
    record = dataclasses.replace(record, metrics={"throughput": short})
    conn = connect(path)
    try:
        migrate(conn, target=4)
        _version_1_store_rows(conn, [record])
        conn.execute("BEGIN")
        _insert_metric_rows_v2(conn, "e1", record)
        conn.execute("COMMIT")
        assert conn.execute("SELECT count(*) FROM metric_values").fetchone()[0] == 4
    finally:
        conn.close()
    with SqliteResultStore(path) as store:
        (point,) = store.metric_history("resnet", "throughput")
        assert point.values[0] == 1.5 and math.isnan(point.values[1]) and point.values[2:] == (-2.0, 1e300)
        assert point.times[:3] == short.times and math.isnan(point.times[3])
    conn = sqlite3.connect(path)
    try:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM metric_samples").fetchone()[0] == 1
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'metric_values'").fetchone() is None
    finally:
        conn.close()


def test_upgrade_from_version_4_keeps_each_execution_s_metrics_apart(tmp_path: Path) -> None:
    # The step packs one (execution, metric) at a time as the rows stream by: every boundary between
    # them must start a new row, whatever order the rows were written in.
    path = tmp_path / "results.sqlite3"
    records = []
    for i, execution_id in enumerate(("e2", "e1", "e3")):
        base = make_record(execution_id, started_at=1_700_000_000.0 + i, values=(float(i), i + 0.5))
        loss = MetricResult(name="loss", unit="nats", direction="lower", values=[10.0 + i], times=[5.0])
        records.append(dataclasses.replace(base, metrics={**base.metrics, "loss": loss}))
    conn = connect(path)
    try:
        migrate(conn, target=4)
        _version_1_store_rows(conn, records)
        conn.execute("BEGIN")
        for r in records:
            _insert_metric_rows_v2(conn, r.execution_id, r)
        conn.execute("COMMIT")
    finally:
        conn.close()
    with SqliteResultStore(path) as store:
        for r in records:
            stored = store.get(r.execution_id)
            assert {n: list(m.values) for n, m in stored.metrics.items()} == {
                n: list(m.values) for n, m in r.metrics.items()
            }
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM metric_samples").fetchone()[0] == 6
    finally:
        conn.close()


def test_opening_twice_migrates_once(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    with SqliteResultStore(path) as store:
        store.put(make_record("e1"))
    with SqliteResultStore(path) as store:
        assert store.count() == 1
    conn = connect(path)
    try:
        assert migrate(conn) == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    SqliteResultStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this version of Anubis"):
        SqliteResultStore(path)


def test_a_file_that_is_not_a_store_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    path.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(StoreError, match="Cannot open the result store"):
        SqliteResultStore(path)


def test_closed_store_says_so(tmp_path: Path) -> None:
    store = SqliteResultStore(tmp_path / "results.sqlite3")
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.latest()


def test_samples_are_stored_once_packed_and_read_back_with_the_record(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    record = make_record("e1", values=(1.0, math.nan, 3.5))
    with SqliteResultStore(path) as store:
        assert store.put(record)
        back = store.get("e1")
        assert json.dumps(back.to_dict()) == json.dumps(record.to_dict())
        assert store.history("resnet")[0].metrics["throughput"].times == record.metrics["throughput"].times
    conn = sqlite3.connect(path)
    try:
        stored = json.loads(conn.execute("SELECT record FROM runs").fetchone()[0])["metrics"]["throughput"]
        assert stored["values"] == [] and stored["times"] == [] and stored["packed"] and stored["n"] == 2
    finally:
        conn.close()
