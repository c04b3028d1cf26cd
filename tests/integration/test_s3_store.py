"""The S3 result store against moto's S3 server over real HTTP (boto3 with ``endpoint_url``).

The behaviours the SQLite store's tests check are run again here, on this store (the same test
functions, loaded from tests/unit/controller/test_sqlite_store.py), then what is S3's own: the index
a reader lists, conditional writes, repair after a writer died halfway, the layout version; and
baseline resets (one object each under ``resets/<benchmark>/``), which ``judge_record`` honours.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from controller.baselines import judge_record
from controller.s3_store import LAYOUT_VERSION, IndexEntry, S3ResultStore
from controller.store import BaselineReset, ResetStore, ResultStore
from schemas.errors import NotFoundError, StoreError
from schemas.runspec import RegressionPolicy
from schemas.status import RunStatus

_spec = importlib.util.spec_from_file_location(
    "sqlite_store_cases", Path(__file__).resolve().parents[1] / "unit" / "controller" / "test_sqlite_store.py"
)
assert _spec and _spec.loader
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)
make_record = cases.make_record

_baseline_spec = importlib.util.spec_from_file_location(
    "baseline_cases", Path(__file__).resolve().parents[1] / "unit" / "controller" / "test_baselines.py"
)
assert _baseline_spec and _baseline_spec.loader
baseline_cases = importlib.util.module_from_spec(_baseline_spec)
_baseline_spec.loader.exec_module(baseline_cases)

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


def test_no_credentials_says_how_to_give_some(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = boto3.session.Session()
    anonymous = S3ResultStore(session.client("s3", endpoint_url=moto_url, region_name="us-east-1"), BUCKET, "x/")
    with pytest.raises(StoreError, match=r"no AWS credentials\. Give some the way boto3 looks for them \(AWS_PROFILE"):
        anonymous.latest()


def test_a_record_that_cannot_be_read_is_a_store_error(store: S3ResultStore, s3: Any) -> None:
    store.put(make_record("e-1"))
    s3.put_object(Bucket=BUCKET, Key="team/results/records/e-1.json", Body=b'{"not": "a record"}')
    with pytest.raises(StoreError, match="cannot be read"):
        store.get("e-1")


# -- baseline resets ---------------------------------------------------------------------------------


def reset_keys(s3: Any, prefix: str) -> list[str]:
    return [k for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            for k in (o["Key"] for o in page.get("Contents", []))]  # fmt: skip


def test_is_a_reset_store(store: S3ResultStore) -> None:
    assert isinstance(store, ResetStore)


def test_resets_round_trip_oldest_first_with_stable_ids(store: S3ResultStore, s3: Any) -> None:
    puts: list[dict[str, Any]] = []
    s3.meta.events.register("before-parameter-build.s3.PutObject", lambda params, **_: puts.append(params))
    given = [
        BaselineReset("resnet", at=300.0, by="ana", reason="new model"),
        BaselineReset("resnet", at=100.0, by="bo", reason="gpu only", metric="latency", environment="gpu"),
        BaselineReset("resnet", at=300.0, by="cy", reason="same time, added later", metric="throughput"),
        BaselineReset("resnet", at=200.0, by="dee", reason="ünïcode / and \"quotes\"", environment="local"),
    ]
    added = [store.add_reset(r) for r in given]
    ids = [r.id for r in added if isinstance(r.id, int)]
    assert len(ids) == len(set(ids)) == len(given)
    assert ids == sorted(ids)  # ids grow in the order one store wrote them
    assert [replace_id(r) for r in added] == given

    oldest_first = [added[1], added[3], added[0], added[2]]  # by at, then id (the order written)
    assert store.resets("resnet") == oldest_first
    fresh = S3ResultStore(s3, BUCKET, "team/results")
    assert fresh.resets("resnet") == oldest_first  # the same ids for every reader, every time

    written = reset_keys(s3, "team/results/resets/resnet/")
    assert len(written) == 4 and all(k.endswith(".json") for k in written)
    assert sorted(int(k.rsplit("/", 1)[-1].split("-")[0]) for k in written) == ids
    assert all(p.get("IfNoneMatch") == "*" for p in puts if "/resets/" in p["Key"])
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=written[0])["Body"].read())
    assert body == {"benchmark": "resnet", "at": 300.0, "by": "ana", "reason": "new model",
                    "metric": None, "environment": None}  # fmt: skip


def replace_id(reset: BaselineReset, id: int | None = None) -> BaselineReset:
    return BaselineReset(reset.benchmark, reset.at, reset.by, reset.reason, reset.metric, reset.environment, id)


def test_resets_without_conditional_writes(s3: Any) -> None:
    store = S3ResultStore(s3, BUCKET, "", conditional_writes=False)
    done = store.add_reset(BaselineReset("resnet", at=1.0, by="ana", reason="r"))
    assert store.resets("resnet") == [done] and done.id is not None


def test_resets_of_one_benchmark_are_not_another_s(store: S3ResultStore) -> None:
    names = ("bench", "bench-2", "bench2", "bench/x", "ben", "a b?")
    for i, name in enumerate(names):
        store.add_reset(BaselineReset(name, at=float(i), by="ana", reason=f"reset of {name}"))
    for name in names:
        assert [r.reason for r in store.resets(name)] == [f"reset of {name}"]
    assert store.resets("bench-") == [] and store.resets("nothing") == []


def test_an_empty_store_has_no_resets(store: S3ResultStore, s3: Any) -> None:
    assert store.resets("resnet") == []
    assert keys(s3) == []  # reading writes nothing


def test_resets_added_from_threads_have_their_own_ids(s3: Any) -> None:
    store = S3ResultStore(s3, BUCKET, "team/results", clock=lambda: 1_700_000_000.0)  # a clock that stands still
    with ThreadPoolExecutor(max_workers=8) as pool:
        added = list(pool.map(
            lambda i: store.add_reset(BaselineReset("resnet", at=1.0, by="ana", reason=str(i))), range(40)
        ))  # fmt: skip
    assert len({r.id for r in added}) == 40
    assert store.resets("resnet") == sorted(added, key=lambda r: r.id or 0)  # all at 1.0: by id


def test_a_reset_is_downloaded_once(store: S3ResultStore, s3: Any) -> None:
    """Reset objects are never rewritten: a store reads each one once (the controller judges
    every execution it stores, listing the resets each time)."""
    first = store.add_reset(BaselineReset("resnet", at=1.0, by="ana", reason="first"))
    reads: list[str] = []
    s3.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: reads.append(params["Key"]))
    assert store.resets("resnet") == [first] and len(reads) == 1
    second = store.add_reset(BaselineReset("resnet", at=2.0, by="bo", reason="second"))
    reads.clear()
    assert store.resets("resnet") == [first, second] and len(reads) == 1
    assert store.resets("resnet") == [first, second] and len(reads) == 1


def test_more_than_a_thousand_resets_are_all_listed(store: S3ResultStore, s3: Any) -> None:
    """S3 lists at most 1000 keys a page: the resets past the first page are read too.

    1000 of them are put straight into moto's backend, in add_reset's key format (one HTTP request
    costs ~8 ms here, from a thread pool no less: writing them over HTTP would double the test's
    ~9 s, which is reading them all back); the first and the last are written by ``add_reset``."""
    first = store.add_reset(BaselineReset("resnet", at=0.0, by="ana", reason="first"))
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    tree = "team/results/resets/resnet/"
    for i in range(1, 1001):
        body = {"benchmark": "resnet", "at": i, "by": "bo", "reason": str(i), "metric": None, "environment": "gpu"}
        backend.put_object(BUCKET, f"{tree}{i:020d}-{i:08x}.json", json.dumps(body).encode())
    last = store.add_reset(BaselineReset("resnet", at=2000.0, by="cy", reason="last"))
    found = S3ResultStore(s3, BUCKET, "team/results").resets("resnet")
    assert len(found) == 1002
    assert found[0] == first and found[-1] == last
    assert found[1:-1] == [BaselineReset("resnet", float(i), "bo", str(i), None, "gpu", id=i) for i in range(1, 1001)]
    written = reset_keys(s3, "team/results/resets/")
    for i in range(0, len(written), 1000):  # one request per 1000 keys, not one each in the teardown
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in written[i : i + 1000]]})


def test_a_malformed_reset_is_skipped_with_a_warning(
    store: S3ResultStore, s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    first = store.add_reset(BaselineReset("resnet", at=1.0, by="ana", reason="first"))
    tree = "team/results/resets/resnet/"
    good = {"benchmark": "resnet", "at": 5.0, "by": "bo", "reason": "r", "metric": None, "environment": None}
    bad: dict[str, bytes] = {
        "00000000000000000002-0000000a.json": b"not json {",
        "00000000000000000003-0000000b.json": b"\xff\xfe",
        "00000000000000000004-0000000c.json": b"[1, 2]",
        "00000000000000000005-0000000d.json": json.dumps({**good, "benchmark": "bert"}).encode(),
        "00000000000000000006-0000000e.json": json.dumps({k: v for k, v in good.items() if k != "by"}).encode(),
        "00000000000000000007-0000000f.json": json.dumps({**good, "at": "yesterday"}).encode(),
        "00000000000000000008-00000010.json": json.dumps({**good, "at": True}).encode(),
        "00000000000000000009-00000011.json": b'{"benchmark": "resnet", "at": NaN, "by": "x", "reason": "r"}',
        "00000000000000000010-00000012.json": json.dumps({**good, "metric": 3}).encode(),
        "00000000000000000011-00000013.json": json.dumps({**good, "at": 10**400}).encode(),
        "00000000000000000012-00000014.json": b"[" * 100_000,
        "notes.txt": json.dumps(good).encode(),
        "12-00000015.json": json.dumps(good).encode(),
    }
    for name, body in bad.items():
        s3.put_object(Bucket=BUCKET, Key=tree + name, Body=body)
    s3.put_object(Bucket=BUCKET, Key=tree + "00000000000000000013-00000016.json", Body=json.dumps(good).encode())
    last = store.add_reset(BaselineReset("resnet", at=9.0, by="cy", reason="last"))
    with caplog.at_level(logging.WARNING, logger="controller.s3_store"):
        found = store.resets("resnet")
    assert found == [first, BaselineReset("resnet", 5.0, "bo", "r", id=13), last]
    warned = [r.getMessage() for r in caplog.records if r.name == "controller.s3_store" and r.levelname == "WARNING"]
    assert len(warned) == len(bad)
    assert all("baseline resets of s3://anubis-results/team/results/" in m for m in warned)
    assert any(tree + "00000000000000000005-0000000d.json" in m and "of 'bert'" in m for m in warned)


def test_a_newer_layout_is_refused_for_resets(store: S3ResultStore, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="team/results/layout.json", Body=json.dumps({"layout": LAYOUT_VERSION + 1}))
    with pytest.raises(StoreError, match="newer than this version of Anubis"):
        store.resets("resnet")
    with pytest.raises(StoreError, match="newer than this version of Anubis"):
        store.add_reset(BaselineReset("resnet", at=1.0, by="ana", reason="r"))


def test_a_reset_time_must_be_finite(store: S3ResultStore) -> None:
    with pytest.raises(ValueError, match="finite"):
        store.add_reset(BaselineReset("resnet", at=math.nan, by="ana", reason="r"))
    assert store.resets("resnet") == []


def test_judge_record_honours_a_reset_in_s3(store: S3ResultStore) -> None:
    """tests/unit/controller/test_baselines.py's reset case, on this store."""
    rec, t0 = baseline_cases.rec, baseline_cases.T0
    for i in range(10):
        store.put(rec(i, 100.0 + (i % 3) * 0.1))
    store.put(rec(10, 50.0, status=RunStatus.FAILED))
    store.put(rec(11, 10.0, environment="gpu"))
    assert judge_record(store, rec(20, 80.0))["speed"].verdict.verdict == "suspected"  # one run: confirm = 1
    assert judge_record(store, rec(20, 80.0), {"speed": RegressionPolicy(confirm=0)})["speed"].verdict.verdict == "regression"

    done = store.add_reset(BaselineReset("speedy", at=t0 + 8 * 60, by="ana", reason="accept", metric="speed"))
    judged = judge_record(S3ResultStore(store.client, BUCKET, "team/results"), rec(20, 80.0))
    assert judged["speed"].verdict.verdict == "insufficient_data"
    assert judged["speed"].history.reset == done
    assert judged["speed"].history.executions == (rec(8, 100.2), rec(9, 100.0))


def test_previews_from_a_fork_named_main_stay_out_of_main_in_s3(store: S3ResultStore) -> None:
    """tests/unit/controller/test_baselines.py's pull-request case (issue 15 item 8), on this store:
    the index names no pull request, so the filter is the record's."""
    baseline_cases.previews_from_a_fork_named_main_stay_out_of_main(store)
