"""``anubis import FILE``: a CSV history or github-action-benchmark's data.js into the result store,
once (importing again adds nothing), judged like any other history afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from anubis.cli import cli
from controller.baselines import judge_record
from controller.sqlite_store import SqliteResultStore

CASES = Path(__file__).parent / "cases" / "analyze"


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["import", *args], env={"ANUBIS_DATA_DIR": str(tmp_path)})
    return result.exit_code, result.output


def test_a_csv_history_is_imported_once_and_judged(tmp_path: Path) -> None:
    code, out = run(tmp_path, str(CASES / "step.csv"), "--benchmark", "steady", "--metric", "latency", "--unit", "ms")
    assert code == 0 and "imported 45 run(s) of steady" in out, out
    code, out = run(tmp_path, str(CASES / "step.csv"), "--benchmark", "steady", "--metric", "latency")
    assert code == 0 and "imported 0 run(s)" in out and "45 already there" in out
    with SqliteResultStore(tmp_path / "results.sqlite3") as store:
        records = store.history("steady", limit=100)
        assert len(records) == 45
        assert [r.commit for r in records][:2] == ["c000", "c001"]  # oldest first, in file order by timestamp
        assert records[0].started_at == 1700000000 and records[0].metrics["latency"].unit == "ms"
        # the imported past is a baseline: the newest run is judged against the runs since the step
        verdict = judge_record(store, records[-1])["latency"].verdict
        assert verdict.verdict == "no_change" and verdict.baseline is not None and verdict.baseline.n >= 5


def test_a_csv_without_timestamps_is_imported_once(tmp_path: Path) -> None:
    """Rows without a timestamp are placed an hour apart before the moment of the import; importing
    the file again (later) adds nothing, and a row appended since is the only one added."""
    path = tmp_path / "untimed.csv"
    path.write_text("value\n10.0\n10.5\n9.8\n", encoding="utf-8")
    code, out = run(tmp_path, str(path), "--benchmark", "untimed")
    assert code == 0 and "imported 3 run(s)" in out, out
    code, out = run(tmp_path, str(path), "--benchmark", "untimed")
    assert code == 0 and "imported 0 run(s)" in out and "3 already there" in out, out
    path.write_text("value\n10.0\n10.5\n9.8\n10.1\n", encoding="utf-8")
    code, out = run(tmp_path, str(path), "--benchmark", "untimed")
    assert code == 0 and "imported 1 run(s)" in out and "3 already there" in out, out
    with SqliteResultStore(tmp_path / "results.sqlite3") as store:
        records = store.history("untimed", limit=10)
    assert [r.metrics["value"].values[0] for r in records] == [10.0, 10.5, 9.8, 10.1]  # in file order


def test_two_metrics_of_the_same_runs_are_both_kept(tmp_path: Path) -> None:
    """Two CSVs, one metric each, with the same timestamps: the second is not 'already there'."""
    for metric, values in (("throughput", (10.0, 11.0)), ("latency", (5.0, 6.0))):
        path = tmp_path / f"{metric}.csv"
        path.write_text("timestamp,value\n" + "".join(f"2026-01-0{i + 1}T00:00:00Z,{v}\n" for i, v in enumerate(values)),
                        encoding="utf-8")
        code, out = run(tmp_path, str(path), "--benchmark", "svc", "--metric", metric)
        assert code == 0 and "imported 2 run(s)" in out, out
    with SqliteResultStore(tmp_path / "results.sqlite3") as store:
        records = store.history("svc", limit=10)
    found = sorted((name, m.values[0]) for r in records for name, m in r.metrics.items())
    assert found == [("latency", 5.0), ("latency", 6.0), ("throughput", 10.0), ("throughput", 11.0)]


def test_github_action_benchmark_data_js(tmp_path: Path) -> None:
    code, out = run(tmp_path, str(CASES / "data.js"))
    assert code == 0 and "imported 2 run(s) of python-benchmark" in out, out
    with SqliteResultStore(tmp_path / "results.sqlite3") as store:
        first, second = store.history("python-benchmark", limit=10)
    assert (first.commit, second.commit) == ("a1", "b2") and first.started_at == 1698796800.0
    metric = second.metrics["test_parse_small"]
    assert metric.values == (1010.0,) and metric.unit == "iter/sec" and metric.direction == "higher"  # pytest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('window.BENCHMARK_DATA = {"entries": {"x": [{"date": 1, "benches": [{"name": "a"}]}]}}',
         "entries['x'][0]: missing field 'value'"),
        ("window.BENCHMARK_DATA = {oops", "line 1: not github-action-benchmark's data.js"),
        ('window.BENCHMARK_DATA = {"lastUpdate": 1}', "no `entries` object"),
        ('window.BENCHMARK_DATA = {"entries": {"x": [{"commit": 5, "date": 1, "benches": []}]}}',
         "entries['x'][0]: `commit` is int, not an object"),
        ('window.BENCHMARK_DATA = {"entries": {"x": [{"date": 1e30, "benches": []}]}}',
         "entries['x'][0]: `date` 1e+30 is not a time between the years 1 and 9999"),
        ('window.BENCHMARK_DATA = {"entries": {"x": [{"date": 1, "benches": [{"name": "a b", "value": 1}, '
         '{"name": "a_b", "value": 2}]}]}}', "benches 'a b' and 'a_b' are both metric 'a_b'"),
    ],
)
def test_a_bad_data_js_is_a_clear_error_and_stores_nothing(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "data.js"
    path.write_text(text, encoding="utf-8")
    code, out = run(tmp_path, str(path))
    assert code == 1 and message in out and "Traceback" not in out, out
    assert not (tmp_path / "results.sqlite3").exists()


def test_a_csv_needs_a_benchmark_and_good_timestamps(tmp_path: Path) -> None:
    code, out = run(tmp_path, str(CASES / "step.csv"))
    assert code == 2 and "needs --benchmark" in out
    bad = tmp_path / "h.csv"
    bad.write_text("timestamp,value\nyesterday,1\n", encoding="utf-8")
    code, out = run(tmp_path, str(bad), "--benchmark", "b")
    assert code == 1 and "line 2, column `timestamp`: 'yesterday' is neither ISO 8601 nor unix seconds" in out


def test_a_commit_given_as_a_string_is_its_id(tmp_path: Path) -> None:
    path = tmp_path / "data.js"
    path.write_text('window.BENCHMARK_DATA = {"entries": {"x": [{"commit": "abc", "date": 1700000000000, '
                    '"benches": [{"name": "a", "value": 1}]}]}}', encoding="utf-8")
    code, out = run(tmp_path, str(path))
    assert code == 0, out
    with SqliteResultStore(tmp_path / "results.sqlite3") as store:
        [record] = store.history("x", limit=10)
    assert record.commit == "abc"


@pytest.mark.parametrize("stamp", ["1e20", "nan", "-1e15"])
def test_a_timestamp_no_command_could_show_is_refused(tmp_path: Path, stamp: str) -> None:
    """Stored, such a time made `anubis list` and `anubis history` fail on every later call."""
    path = tmp_path / "h.csv"
    path.write_text(f"timestamp,value\n2026-01-01,1\n{stamp},2\n", encoding="utf-8")
    code, out = run(tmp_path, str(path), "--benchmark", "b")
    assert code == 1 and f"h.csv, line 3, column `timestamp`: '{stamp}' is not a time between the years 1 and 9999" in out
    assert "Traceback" not in out and not (tmp_path / "results.sqlite3").exists()


def test_runs_sharing_a_timestamp_are_each_kept_in_file_order(tmp_path: Path) -> None:
    """Dates as timestamps, several runs a day: each row is a run (the second 1 ms after the first)."""
    path = tmp_path / "daily.csv"
    path.write_text("timestamp,value\n2026-01-01,1\n2026-01-01,2\n2026-01-02,3\n", encoding="utf-8")
    code, out = run(tmp_path, str(path), "--benchmark", "daily")
    assert code == 0 and "imported 3 run(s)" in out, out
    code, out = run(tmp_path, str(path), "--benchmark", "daily")
    assert code == 0 and "imported 0 run(s)" in out and "3 already there" in out, out
    with SqliteResultStore(tmp_path / "results.sqlite3") as store:
        records = store.history("daily", limit=10)
    assert [r.metrics["value"].values[0] for r in records] == [1.0, 2.0, 3.0]
    assert records[1].started_at == records[0].started_at + 0.001


def test_two_metrics_imported_from_two_files_show_as_one_history_row_per_run(tmp_path: Path) -> None:
    speed, loss = tmp_path / "speed.csv", tmp_path / "loss.csv"
    speed.write_text("timestamp,commit,value\n2026-01-01,a,1\n2026-01-02,b,2\n2026-01-03,c,3\n", encoding="utf-8")
    loss.write_text("timestamp,commit,value\n2026-01-01,a,10\n2026-01-02,b,20\n2026-01-04,d,40\n", encoding="utf-8")
    assert run(tmp_path, str(speed), "-b", "multi", "-m", "speed")[0] == 0
    assert run(tmp_path, str(loss), "-b", "multi", "-m", "loss")[0] == 0
    shown = CliRunner().invoke(cli, ["history", "multi", "-o", "json"], env={"ANUBIS_DATA_DIR": str(tmp_path)})
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    rows = [(e["commit"], sorted(e["metrics"])) for e in document["executions"]]
    assert rows == [("a", ["loss", "speed"]), ("b", ["loss", "speed"]), ("c", ["speed"]), ("d", ["loss"])]
    assert document["metrics"]["speed"]["means"] == [1.0, 2.0, 3.0, None]
