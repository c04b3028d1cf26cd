"""The S3 result store against moto's S3 server over real HTTP (boto3 with ``endpoint_url``).

The behaviours the SQLite store's tests check are run again here, on this store (the same test
functions, loaded from tests/unit/controller/test_sqlite_store.py), then what is S3's own: the index
a reader lists, conditional writes, repair after a writer died halfway, the layout version.
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from services.observability import free_port

from controller.s3_store import LAYOUT_VERSION, IndexEntry, S3ResultStore
from controller.store import ResultStore
from schemas.errors import NotFoundError, StoreError
from schemas.status import RunStatus

_spec = importlib.util.spec_from_file_location(
    "sqlite_store_cases", Path(__file__).resolve().parents[1] / "unit" / "controller" / "test_sqlite_store.py"
)
assert _spec and _spec.loader
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)
make_record = cases.make_record

#: The SQLite store's tests that use only the ResultStore interface: run on this store too.
SHARED_CASES = (
    "test_put_then_get_round_trips",
    "test_metric_order_is_kept",
    "test_get_unknown_says_what_to_do",
    "test_find_by_execution_id_run_id_and_prefixes",
    "test_find_ambiguous_prefix_lists_candidates",
    "test_find_nothing_and_empty",
    "test_find_does_not_treat_like_wildcards_specially",
    "test_latest_and_list_runs",
    "test_ties_are_broken_by_storing_order",
    "test_history_is_oldest_first_finished_only_and_filtered",
    "test_records_validate_against_the_result_schema",
)
BUCKET = "anubis-results"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_url: str) -> Any:
    client = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def store(s3: Any) -> S3ResultStore:
    return S3ResultStore(s3, BUCKET, "team/results")


def keys(s3: Any, prefix: str = "") -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


@pytest.mark.parametrize("case", SHARED_CASES)
def test_what_the_sqlite_store_does(case: str, store: S3ResultStore) -> None:
    getattr(cases, case)(store)


def test_is_a_result_store(store: S3ResultStore) -> None:
    assert isinstance(store, ResultStore)
    assert store.url == "s3://anubis-results/team/results/"


def test_put_twice_is_refused_and_keeps_the_first(store: S3ResultStore, s3: Any) -> None:
    first = make_record("exec-1", values=(1.0,))
    assert store.put(first) is True
    assert store.put(make_record("exec-1", values=(2.0,))) is False
    assert store.get("exec-1") == first
    assert len(keys(s3, "team/results/index/by-time/")) == 1


def test_non_finite_values_round_trip(store: S3ResultStore) -> None:
    store.put(make_record("exec-1", values=(math.nan, math.inf, -math.inf, 3.5)))
    back = store.get("exec-1").metrics["throughput"].values
    assert math.isnan(back[0]) and back[1:] == (math.inf, -math.inf, 3.5)


def test_the_index_is_listable(store: S3ResultStore, s3: Any) -> None:
    store.put(make_record("e-1", run_id="r-a", started_at=100.0))
    store.put(make_record("e-2", run_id="r-a", started_at=200.0, status=RunStatus.FAILED, branch=None))
    store.put(make_record("e-3", run_id="r-b", started_at=150.0, benchmark="bert"))
    assert keys(s3, "team/results/records/") == [f"team/results/records/e-{i}.json" for i in (1, 2, 3)]
    assert keys(s3, "team/results/layout.json") == ["team/results/layout.json"]

    newest_first = [IndexEntry.parse(k) for k in keys(s3, "team/results/index/by-time/")]
    assert [(e.execution_id, e.sort_time, e.status) for e in newest_first if e] == [
        ("e-2", 200.0, "FAILED"),
        ("e-3", 150.0, "SUCCEEDED"),
        ("e-1", 100.0, "SUCCEEDED"),
    ]
    assert [IndexEntry.parse(k).execution_id for k in keys(s3, "team/results/index/by-benchmark/resnet/")] == ["e-2", "e-1"]  # type: ignore[union-attr]
    assert len(keys(s3, "team/results/index/by-run/r-a/")) == 2
    (entry_key,) = keys(s3, "team/results/index/by-run/r-b/")
    entry = json.loads(s3.get_object(Bucket=BUCKET, Key=entry_key)["Body"].read())
    assert entry["execution_id"] == "e-3" and entry["benchmark"] == "bert" and entry["environment"] == "local"
    assert entry["record"] == "team/results/records/e-3.json"


def test_queries_read_only_the_records_they_return(store: S3ResultStore, s3: Any) -> None:
    for i in range(30):
        store.put(make_record(f"e-{i:02d}", started_at=float(i), status=RunStatus.FAILED if i % 3 else RunStatus.SUCCEEDED))
    reads: list[str] = []
    s3.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: reads.append(params["Key"]))
    assert [r.execution_id for r in store.list_runs(status=RunStatus.SUCCEEDED, limit=2)] == ["e-27", "e-24"]
    assert [k for k in reads if "/records/" in k] == ["team/results/records/e-27.json", "team/results/records/e-24.json"]
    reads.clear()
    assert [r.execution_id for r in store.history("resnet", environment="local", limit=3)] == ["e-27", "e-28", "e-29"]
    assert len([k for k in reads if "/records/" in k]) == 3


def test_odd_characters_in_ids(store: S3ResultStore) -> None:
    record = make_record("run/1 ü?x", run_id="r/1", benchmark="a b")
    assert store.put(record)
    assert store.get("run/1 ü?x") == record
    assert store.find("r/1").execution_id == "run/1 ü?x"
    assert store.find("run/1 ").execution_id == "run/1 ü?x"
    assert [r.execution_id for r in store.history("a b")] == ["run/1 ü?x"]


def test_a_writer_that_died_before_the_index_is_repaired(store: S3ResultStore, s3: Any) -> None:
    record = make_record("e-1")
    store.put(record)
    for key in keys(s3, "team/results/index/"):
        s3.delete_object(Bucket=BUCKET, Key=key)
    assert store.list_runs() == []  # the record is there, no listing shows it
    assert store.put(record) is False  # storing again (the controller's reconcile) repairs it
    assert [r.execution_id for r in store.list_runs()] == ["e-1"]
    assert len(keys(s3, "team/results/index/")) == 3


def test_concurrent_writers_of_one_execution_store_it_once(moto_url: str, s3: Any) -> None:
    outcomes: list[bool] = []
    barrier = threading.Barrier(8)

    def write(i: int) -> None:
        client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        store = S3ResultStore(client, BUCKET, "results/")
        barrier.wait()
        outcomes.append(store.put(make_record("same", values=(float(i),))))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False] * 7 + [True]
    assert len(keys(s3, "results/index/by-time/")) == 1


def test_without_conditional_writes_a_head_check_refuses_a_second_put(s3: Any) -> None:
    store = S3ResultStore(s3, BUCKET, "", conditional_writes=False)
    assert store.put(make_record("e-1", values=(1.0,)))
    assert store.put(make_record("e-1", values=(2.0,))) is False
    assert store.get("e-1").metrics["throughput"].values == (1.0,)
    assert keys(s3, "records/") == ["records/e-1.json"]


def test_an_empty_store_reads_as_empty(store: S3ResultStore) -> None:
    assert store.latest() is None and store.list_runs() == [] and store.history("resnet") == []
    with pytest.raises(NotFoundError, match="No stored result matches 'x'"):
        store.find("x")


def test_a_newer_layout_is_refused(store: S3ResultStore, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="team/results/layout.json", Body=json.dumps({"layout": LAYOUT_VERSION + 1}))
    with pytest.raises(StoreError, match="newer than this version of Anubis"):
        store.latest()


def test_a_missing_bucket_is_a_store_error(s3: Any) -> None:
    with pytest.raises(StoreError, match="s3://no-such-bucket/results/ could not be .*NoSuchBucket"):
        S3ResultStore(s3, "no-such-bucket").put(make_record("e-1"))


def test_a_record_that_cannot_be_read_is_a_store_error(store: S3ResultStore, s3: Any) -> None:
    store.put(make_record("e-1"))
    s3.put_object(Bucket=BUCKET, Key="team/results/records/e-1.json", Body=b'{"not": "a record"}')
    with pytest.raises(StoreError, match="cannot be read"):
        store.get("e-1")
