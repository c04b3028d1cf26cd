"""Group commit: workers storing at once share transactions, each gets its own record's answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from controller.kubernetes.storing import GroupCommit
from controller.sqlite_store import SqliteResultStore
from schemas.errors import StoreError
from schemas.results import Reproducibility, ResultRecord
from schemas.status import RunStatus


def record(execution_id: str) -> ResultRecord:
    return ResultRecord(execution_id=execution_id, run_id="r", family_id="f", benchmark="b", environment="e",
                        backend="kubernetes", status=RunStatus.SUCCEEDED, reason="", started_at=1.0,
                        finished_at=2.0, metrics={}, reproducibility=Reproducibility(descriptor_hash="sha256:x", image="i"))


class SlowStore:
    """A store whose transactions take a while (as under a burst), counting them."""

    def __init__(self, fail_on: str = "") -> None:
        self.stored: dict[str, ResultRecord] = {}
        self.transactions: list[list[str]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def _insert(self, r: ResultRecord) -> bool:
        if r.execution_id == self.fail_on:
            raise StoreError(f"cannot store {r.execution_id}")
        if r.execution_id in self.stored:
            return False
        self.stored[r.execution_id] = r
        return True

    def put(self, r: ResultRecord) -> bool:
        with self.lock:
            time.sleep(0.005)
            self.transactions.append([r.execution_id])
            return self._insert(r)

    def put_many(self, records: Sequence[ResultRecord]) -> list[bool]:
        with self.lock:
            time.sleep(0.005)
            if any(r.execution_id == self.fail_on for r in records):
                raise StoreError("the whole transaction is rolled back")
            self.transactions.append([r.execution_id for r in records])
            return [self._insert(r) for r in records]


def put_all(commits: GroupCommit, ids: list[str]) -> dict[str, bool | BaseException]:
    answers: dict[str, bool | BaseException] = {}
    start = threading.Barrier(len(ids))

    def put(execution_id: str) -> None:
        start.wait()
        try:
            answers[execution_id] = commits.put(record(execution_id))
        except StoreError as e:
            answers[execution_id] = e

    threads = [threading.Thread(target=put, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return answers


def test_puts_arriving_together_share_transactions_and_each_gets_its_answer() -> None:
    store = SlowStore()
    store.stored["e-3"] = record("e-3")  # stored before: its put answers False
    commits = GroupCommit(store)  # type: ignore[arg-type]
    answers = put_all(commits, [f"e-{i}" for i in range(32)])
    assert answers == {f"e-{i}": i != 3 for i in range(32)}
    assert sorted(store.stored) == sorted(f"e-{i}" for i in range(32))
    assert len(store.transactions) < 32  # without grouping: one transaction per record
    assert any(len(t) > 1 for t in store.transactions)


def test_a_record_alone_is_written_at_once() -> None:
    store = SlowStore()
    commits = GroupCommit(store)  # type: ignore[arg-type]
    assert commits.put(record("alone")) is True
    assert store.transactions == [["alone"]]


def test_a_failing_batch_is_written_one_by_one_and_only_its_own_caller_gets_the_error() -> None:
    store = SlowStore(fail_on="e-5")
    commits = GroupCommit(store)  # type: ignore[arg-type]
    answers = put_all(commits, [f"e-{i}" for i in range(16)])
    assert isinstance(answers.pop("e-5"), StoreError)
    assert answers == {f"e-{i}": True for i in range(16) if i != 5}
    assert "e-5" not in store.stored


def test_a_store_without_batches_is_put_by_each_caller_at_once() -> None:
    """The S3 store writes one object per record: its puts stay concurrent, one per caller's thread."""
    inside, most = 0, 0
    count = threading.Lock()
    stored: list[str] = []

    class PutOnly:
        def put(self, r: ResultRecord) -> bool:
            nonlocal inside, most
            with count:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            with count:
                inside -= 1
                stored.append(r.execution_id)
            return True

    commits = GroupCommit(PutOnly())  # type: ignore[arg-type]
    answers = put_all(commits, [f"e-{i}" for i in range(8)])
    assert answers == {f"e-{i}": True for i in range(8)}
    assert sorted(stored) == sorted(answers)
    assert most > 1  # not serialised behind one writer


def test_the_sqlite_store_writes_a_batch_in_one_transaction(tmp_path: Path) -> None:
    store = SqliteResultStore(tmp_path / "results.sqlite3")
    assert store.put(record("e-0")) is True
    first = replace(record("e-1"), benchmark="other")
    assert store.put_many([record("e-0"), first, record("e-2"), record("e-2")]) == [False, True, True, False]
    assert store.get("e-1").benchmark == "other"
    assert {r.execution_id for r in store.list_runs(limit=10)} == {"e-0", "e-1", "e-2"}


def test_the_callers_error_is_raised_in_its_own_thread() -> None:
    commits = GroupCommit(SlowStore(fail_on="bad"))  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="cannot store bad"):
        commits.put(record("bad"))
