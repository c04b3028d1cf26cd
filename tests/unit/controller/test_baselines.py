"""Choosing the baseline from a store: main branch, pull requests up to their merge base, resets,
only SUCCEEDED executions of the same benchmark, environment and matrix point; and judging."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from controller.baselines import (
    MergeBase,
    baseline_history,
    change_point_executions,
    judge_record,
)
from controller.sqlite_store import SqliteResultStore
from controller.store import NO_PULL_REQUEST, BaselineReset, ResultStore
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.runspec import RegressionPolicy
from schemas.status import RunStatus

T0 = 1_700_000_000.0


def rec(
    i: int,
    value: float,
    *,
    branch: str | None = "main",
    status: RunStatus = RunStatus.SUCCEEDED,
    environment: str = "local",
    point: dict[str, int] | None = None,
    pull_request: int | None = None,
    commit: str | None = None,
) -> ResultRecord:
    return ResultRecord(
        execution_id=f"e{i:03d}-{branch}-{environment}",
        run_id="run",
        family_id="fam",
        benchmark="speedy",
        environment=environment,
        backend="local",
        status=status,
        reason="",
        started_at=T0 + i * 60,
        finished_at=T0 + i * 60 + 10,
        metrics={"speed": MetricResult("speed", "it/s", "higher", (value, value), (T0, T0))},
        reproducibility=Reproducibility(descriptor_hash="d", image="i"),
        matrix_point=point if point is not None else {"batch": 1},
        branch=branch,
        pull_request=pull_request,
        commit=commit or f"c{i:03d}",
    )


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[SqliteResultStore]:
    with SqliteResultStore(tmp_path / "results.sqlite3") as s:
        for i in range(10):
            s.put(rec(i, 100.0 + (i % 3) * 0.1))
        s.put(rec(10, 50.0, status=RunStatus.FAILED))  # never baseline
        s.put(rec(11, 10.0, environment="gpu"))  # another environment
        s.put(rec(12, 10.0, point={"batch": 2}))  # another matrix point
        s.put(rec(13, 10.0, branch="feature"))  # another branch
        yield s


def ids(history: object) -> list[str]:
    return [r.execution_id for r in history.executions]  # type: ignore[attr-defined]


def test_main_branch_history_before_the_execution(store: SqliteResultStore) -> None:
    new = rec(20, 100.0)
    found = baseline_history(store, new)
    assert ids(found) == [f"e{i:03d}-main-local" for i in range(10)]
    assert found.branch == "main" and found.reset is None
    old = rec(5, 100.0)
    assert ids(baseline_history(store, old)) == [f"e{i:03d}-main-local" for i in range(5)]


def test_a_pull_request_is_judged_against_main_up_to_its_merge_base(store: SqliteResultStore) -> None:
    pr = rec(30, 100.0, branch="feature", pull_request=7)
    assert len(ids(baseline_history(store, pr))) == 10
    by_commit = baseline_history(store, pr, merge_base=MergeBase(commit="c004"))
    assert ids(by_commit) == [f"e{i:03d}-main-local" for i in range(5)]
    assert "merge base c004" in by_commit.note
    by_time = baseline_history(store, pr, merge_base=MergeBase(time=T0 + 3 * 60 + 1))
    assert ids(by_time) == [f"e{i:03d}-main-local" for i in range(4)]


def test_a_branch_without_main_history_uses_its_own(tmp_path: Path) -> None:
    with SqliteResultStore(tmp_path / "s.sqlite3") as s:
        for i in range(6):
            s.put(rec(i, 100.0, branch="laptop"))
        found = baseline_history(s, rec(9, 100.0, branch="laptop"))
    assert found.branch == "laptop" and len(found.executions) == 6 and "branch laptop" in found.note


def test_no_branch_means_every_earlier_execution(store: SqliteResultStore) -> None:
    found = baseline_history(store, rec(40, 100.0, branch=None))
    assert found.branch is None and len(found.executions) == 11  # main and feature, same env and point


def test_resets_cut_the_history(store: SqliteResultStore) -> None:
    store.add_reset(BaselineReset("speedy", at=T0 + 6 * 60, by="ana", reason="new model", metric=None))
    store.add_reset(BaselineReset("speedy", at=T0 + 8 * 60, by="bo", reason="gpu only", environment="gpu"))
    resets = store.resets("speedy")
    assert [r.by for r in resets] == ["ana", "bo"] and resets[0].id is not None
    found = baseline_history(store, rec(20, 100.0), resets=resets)
    assert ids(found) == [f"e{i:03d}-main-local" for i in range(6, 10)]
    assert found.reset is not None and found.reset.by == "ana" and "reset by ana" in found.note


def test_judge_record_gives_every_metric_a_verdict(store: SqliteResultStore) -> None:
    judged = judge_record(store, rec(20, 80.0))
    assert judged["speed"].verdict.verdict == "suspected"  # one run: confirm = 1 asks for another
    assert judged["speed"].verdict.suspects == "regression"
    judged = judge_record(store, rec(20, 80.0), {"speed": RegressionPolicy(confirm=0)})
    assert judged["speed"].verdict.verdict == "regression"
    assert judged["speed"].baseline_executions == tuple(f"e{i:03d}-main-local" for i in range(10))
    document = judged["speed"].to_dict()
    assert document["verdict"] == "regression" and document["baseline"]["n"] == 10  # type: ignore[index]
    assert document["still_trending"] is False
    assert judge_record(store, rec(20, 100.05))["speed"].verdict.verdict == "no_change"
    lenient = judge_record(store, rec(20, 80.0), {"speed": RegressionPolicy(min_change=0.5)})
    assert lenient["speed"].verdict.verdict == "no_change"


def test_a_reset_makes_the_baseline_too_short(store: SqliteResultStore) -> None:
    store.add_reset(BaselineReset("speedy", at=T0 + 8 * 60, by="ana", reason="accept", metric="speed"))
    judged = judge_record(store, rec(20, 80.0))
    assert judged["speed"].verdict.verdict == "insufficient_data"
    assert judged["speed"].history.reset is not None


def test_change_points_of_a_history() -> None:
    records = [rec(i, 100.0 if i < 12 else 120.0) for i in range(20)]
    records.insert(5, rec(50, 10.0, status=RunStatus.FAILED))
    assert change_point_executions(records, "speed") == ["e012-main-local"]
    assert change_point_executions(records, "missing") == []


def previews_from_a_fork_named_main_stay_out_of_main(store: ResultStore) -> None:
    """Issue 15 item 8: a fork's pull request from its own branch ``main`` records ``branch="main"``;
    its preview runs (much slower here) must not join the main branch's baseline, and a pull
    request's fallback history is its own, not another pull request's on a branch of the same name.
    Store-agnostic: run on the SQLite store here and on the S3 store in tests/integration."""
    for i in range(6):
        store.put(rec(i, 100.0))
    for i in range(6, 12):
        store.put(rec(i, 1.0, pull_request=99))  # fork's "main", preview runs
    found = baseline_history(store, rec(20, 100.0))
    assert ids(found) == [f"e{i:03d}-main-local" for i in range(6)]
    assert judge_record(store, rec(20, 100.0))["speed"].verdict.verdict == "no_change"
    # a pull request from a fork's main is judged against the real main, not against itself
    preview = baseline_history(store, rec(21, 1.0, pull_request=99))
    assert ids(preview) == [f"e{i:03d}-main-local" for i in range(6)] and preview.branch == "main"
    # the fallback to a branch's own history keeps to the same pull request
    for i in range(30, 34):
        store.put(rec(i, 5.0, branch="topic", environment="gpu", pull_request=1))
    mine = baseline_history(store, rec(40, 5.0, branch="topic", environment="gpu", pull_request=2))
    assert mine.executions == () and mine.branch == "topic"
    theirs = baseline_history(store, rec(41, 5.0, branch="topic", environment="gpu", pull_request=1))
    assert len(theirs.executions) == 4 and "pull request #1" in theirs.note


def test_previews_from_a_fork_named_main_stay_out_of_main(tmp_path: Path) -> None:
    with SqliteResultStore(tmp_path / "fork.sqlite3") as s:
        previews_from_a_fork_named_main_stay_out_of_main(s)


def test_the_history_filters_on_the_pull_request(store: SqliteResultStore) -> None:
    store.put(rec(50, 1.0, pull_request=4))
    every = [r.execution_id for r in store.history("speedy", branch="main", limit=500)]
    assert "e050-main-local" in every
    outside = store.history("speedy", branch="main", pull_request=NO_PULL_REQUEST, limit=500)
    assert "e050-main-local" not in [r.execution_id for r in outside] and len(outside) == len(every) - 1
    assert [r.execution_id for r in store.history("speedy", pull_request=4)] == ["e050-main-local"]


def test_warmup_values_are_left_out_of_the_summary(store: SqliteResultStore) -> None:
    # The new run's first three values are a slow warm-up (5, 6, 7) before 100 and 100.1: without
    # warmup its median (7) would read as a regression of -93 %; with warmup = 3 it is no change.
    record = rec(20, 100.0)
    metric = record.metrics["speed"]
    slow_start = replace(metric, values=(5.0, 6.0, 7.0, 100.0, 100.1), times=tuple(T0 + 20 * 60 + i for i in range(5)))
    judged = judge_record(store, replace(record, metrics={**record.metrics, "speed": slow_start}),
                          {"speed": RegressionPolicy(warmup_values=3)})
    assert judged["speed"].verdict.verdict == "no_change"
    assert judged["speed"].verdict.value == pytest.approx(100.05)
    cold = judge_record(store, replace(record, metrics={**record.metrics, "speed": slow_start}))
    assert cold["speed"].verdict.verdict == "suspected"
