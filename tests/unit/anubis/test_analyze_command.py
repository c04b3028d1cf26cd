"""``anubis analyze FILE``: change points and online verdicts over a CSV history, and clear errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from anubis.cli import cli

CASES = Path(__file__).parent / "cases" / "analyze"


def analyze(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["analyze", *args])
    return result.exit_code, result.output


def _close(a: object, b: object) -> bool:
    """Equal, floats to 1e-9 relative (their last bits depend on the order of floating-point sums)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_json_output_matches_the_golden_file() -> None:
    code, out = analyze(str(CASES / "step.csv"), "--online", "--output", "json")
    assert code == 0, out
    golden = CASES / "step.json"
    if os.environ.get("ANUBIS_REGENERATE"):
        golden.write_text(out, encoding="utf-8")
    # the last bits of a p-value depend on the order of floating-point sums (numpy, BLAS): compare to 1e-9
    assert _close(json.loads(out), json.loads(golden.read_text(encoding="utf-8")))
    document = json.loads(out)
    assert document["change_points"] == [30]  # the 12 % step at row 30 (0-based, header not counted)
    alarms = [v["index"] for v in document["verdicts"] if v["verdict"] in ("regression", "suspected")]
    assert alarms and alarms[0] == 30 and all(30 <= i <= 34 for i in alarms)  # none before it, none once it is the baseline
    # suspected on its first run, a regression on the second, and the runs after it the same step, reported once
    assert [v["verdict"] for v in document["verdicts"] if 30 <= v["index"] <= 32] == ["suspected", "regression", "no_change"]
    assert [v["index"] for v in document["verdicts"]] == list(range(1, 45))


def test_confirm_makes_the_first_run_a_suspect() -> None:
    code, out = analyze(str(CASES / "step.csv"), "--online", "--confirm", "1", "--output", "json")
    verdicts = {v["index"]: v["verdict"] for v in json.loads(out)["verdicts"]}
    assert code == 0 and verdicts[30] == "suspected" and verdicts[31] == "regression"


def test_table_shows_segments() -> None:
    code, out = analyze(str(CASES / "step.csv"))
    assert code == 0
    assert "1 change point(s)" in out and "0-29" in out and "30-44" in out and "c030" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("commit,val\na,1\n", "line 1: the header has no `value` column"),
        ("value\n1\nabc\n", "line 3, column `value`: 'abc' is not a number"),
        ("value\n1\nnan\n", "line 3, column `value`: 'nan' is not a finite number"),
        ("value\n", "no rows after the header"),
        ("value,commit\n1,a,extra\n", "line 2: more cells than the header has columns"),
        ("value,commit,value\n1,a,2\n", "line 1: the header names `value` 2 times; keep one column of each name"),
        ("Value,VALUE\n1,2\n", "line 1: the header names `value` 2 times"),
        ("value;commit\n1,5;a\n", "line 2, column `value`: '1,5' is not a number (a decimal comma? write 1.5)"),
    ],
)
def test_bad_csv_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(text, encoding="utf-8")
    code, out = analyze(str(path))
    assert code == 1 and f"error: {path}" in out and message in out
    assert "Traceback" not in out


def test_online_judges_each_row_against_what_a_store_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row is judged against the newest HISTORY_LIMIT rows before it, as a result store reads a
    baseline (controller.baselines): a long file takes time in proportion to its rows, not their square."""
    import anubis.commands.analyze as command
    from controller.analysis import judge_series as real
    from controller.baselines import HISTORY_LIMIT

    rows = HISTORY_LIMIT + 40
    path = tmp_path / "long.csv"
    path.write_text("value\n" + "".join(f"{100 + (i % 7) * 0.1:.2f}\n" for i in range(rows)), encoding="utf-8")
    judged: list[tuple[int, float]] = []

    def spy(series: list[float], value: float, *args: object, **kwargs: object) -> object:
        judged.append((len(series), series[0]))
        return real(series, value, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(command, "judge_series", spy)
    code, out = analyze(str(path), "--online", "--output", "json")
    assert code == 0, out
    assert len(json.loads(out)["verdicts"]) == rows - 1
    assert [n for n, _ in judged] == [min(i, HISTORY_LIMIT) for i in range(1, rows)]
    values = [100 + (i % 7) * 0.1 for i in range(rows)]
    assert judged[-1][1] == pytest.approx(values[rows - 1 - HISTORY_LIMIT])  # the oldest row it reads


@pytest.mark.parametrize("text", [
    "Commit,Timestamp,Value\na,2026-01-01,1\nb,2026-01-02,2\nc,2026-01-03,30\n",  # a spreadsheet's capitals
    "commit;timestamp;value\na;2026-01-01;1\nb;2026-01-02;2\nc;2026-01-03;30\n",  # a semicolon locale's export
    "commit\ttimestamp\t value \na\t2026-01-01\t1\nb\t2026-01-02\t2\nc\t2026-01-03\t30\n",  # tabs
])
def test_the_header_and_separator_of_common_exports_are_read(tmp_path: Path, text: str) -> None:
    from controller.history_file import read_csv

    path = tmp_path / "h.csv"
    path.write_text(text, encoding="utf-8")
    rows = read_csv(path)
    assert [(r.commit, r.timestamp, r.value) for r in rows] == [
        ("a", "2026-01-01", 1.0), ("b", "2026-01-02", 2.0), ("c", "2026-01-03", 30.0)]


def test_rows_out_of_time_order_are_analysed_as_given_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("timestamp,value\n2026-01-02,1\n2026-01-01,2\n2026-01-03,3\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["analyze", str(path), "--output", "json"])
    assert result.exit_code == 0, result.output
    assert f"note: {path}, line 3: its timestamp is earlier than the row's before it" in result.stderr
    assert json.loads(result.stdout)["change_points"] == []  # indices still the file's rows
    path.write_text("timestamp,value\n2026-01-01,1\n2026-01-01,2\n2026-01-03,3\n", encoding="utf-8")
    assert "note:" not in CliRunner().invoke(cli, ["analyze", str(path)]).stderr  # ties are in order
