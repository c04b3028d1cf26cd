"""The journal (status histories, the FTS5 log index), the tap that fills it, and reading logs."""

from __future__ import annotations

import gzip
import sqlite3
import time
import zlib
from pathlib import Path

import pytest

from anubis.commands.schedule import stop_schedule
from anubis.local_runs import parse_since
from controller.journal import ExecutionInfo, Journal, LogRow, quote_query
from controller.journal.schema import MIGRATIONS, SCHEMA_VERSION
from controller.local.journaling import JournalTap
from controller.logsource import GzipReader, LocalLogs
from schemas.errors import NotFoundError, StoreError
from schemas.runspec import RunSpec
from schemas.status import RunStatus


def info(execution_id: str = "bench-abc-1", run_id: str = "bench-abc", benchmark: str = "bench") -> ExecutionInfo:
    return ExecutionInfo(execution_id, run_id, benchmark, "local", commit="c0ffee")


@pytest.fixture()
def journal(tmp_path: Path) -> Journal:
    with Journal(tmp_path / "journal.sqlite3") as j:
        yield j  # type: ignore[misc]


def test_schema_is_versioned_and_wal(tmp_path: Path, journal: Journal) -> None:
    conn = sqlite3.connect(tmp_path / "journal.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    journal.close()
    with pytest.raises(StoreError, match="newer than this Anubis knows"):
        Journal(tmp_path / "journal.sqlite3")


def test_transitions_make_the_history_and_the_latest_status(journal: Journal) -> None:
    for at, status, reason in [(10.0, RunStatus.PENDING, ""), (11.0, RunStatus.RUNNING, ""),
                               (15.0, RunStatus.FAILED, "benchmark exited with code 3")]:  # fmt: skip
        journal.record_transition(info(), status, reason, at=at)
    history = journal.transitions("bench-abc-1")
    assert [(t.status, t.reason, t.at) for t in history] == [
        (RunStatus.PENDING, "", 10.0), (RunStatus.RUNNING, "", 11.0),
        (RunStatus.FAILED, "benchmark exited with code 3", 15.0),
    ]  # fmt: skip
    assert journal.transitions("bench-abc-1", after=history[1].id) == history[2:]
    entry = journal.get("bench-abc-1")
    assert (entry.status, entry.started_at, entry.updated_at, entry.finished_at) == (RunStatus.FAILED, 10.0, 15.0, 15.0)
    assert entry.commit == "c0ffee" and entry.reason == "benchmark exited with code 3"


def test_find_by_execution_run_or_prefix(journal: Journal) -> None:
    journal.record_transition(info("bench-abc-1"), RunStatus.SUCCEEDED, at=1.0)
    journal.record_transition(info("bench-abc-2"), RunStatus.RUNNING, at=2.0)
    journal.record_transition(info("other-def-1", "other-def", "other"), RunStatus.RUNNING, at=3.0)
    assert journal.find("bench-abc-1").execution_id == "bench-abc-1"
    assert journal.find("bench-abc").execution_id == "bench-abc-2"  # a run id: its latest execution
    assert journal.find("bench-a").execution_id == "bench-abc-2"  # the start of one run id
    assert journal.find("oth").execution_id == "other-def-1"
    with pytest.raises(NotFoundError, match="ambiguous"):
        journal.find("bench-abc-")
    with pytest.raises(NotFoundError, match="no execution matching 'zzz'"):
        journal.find("zzz")
    assert [e.execution_id for e in journal.executions(active=True)] == ["other-def-1", "bench-abc-2"]
    assert [e.execution_id for e in journal.executions(benchmark="bench", status=RunStatus.SUCCEEDED)] == ["bench-abc-1"]
    assert [e.execution_id for e in journal.executions(since=2.5)] == ["other-def-1"]


def test_search_answers_from_the_index_with_filters(journal: Journal) -> None:
    journal.record_transition(info("a-1", "a", "alpha"), RunStatus.RUNNING, at=1.0)
    journal.record_transition(info("b-1", "b", "beta"), RunStatus.RUNNING, at=1.0)
    journal.add_lines([LogRow("a-1", "output", n, 100.0 + n, f"epoch {n} loss=0.{n} CUDA error: out of memory") for n in range(1, 4)])
    journal.add_lines([LogRow("b-1", "server", 1, 200.0, "Überraschung: serving on port 8080")])
    assert journal.add_lines([LogRow("unknown", "output", 1, 1.0, "skipped")]) == 0
    found = journal.search("cuda")
    assert [(h.execution_id, h.line) for h in found.hits] == [("a-1", 3), ("a-1", 2), ("a-1", 1)]  # newest first
    assert not found.quoted
    assert [h.line for h in journal.search('"out of memory" NOT epoch').hits] == []
    assert [h.line for h in journal.search("epoch AND loss", limit=1).hits] == [3]
    assert [h.benchmark for h in journal.search("uberraschung").hits] == ["beta"]  # case and accents folded
    assert journal.search("serv*").hits[0].stream == "server"
    assert journal.search("cuda", benchmark="beta").hits == []
    assert len(journal.search("cuda", run="a").hits) == 3 and journal.search("cuda", run="b-1").hits == []
    assert [h.line for h in journal.search("cuda", since=102.5).hits] == [3]
    odd = journal.search("loss=0.2 error:")
    assert odd.quoted and odd.query == '"loss=0.2" "error:"' and [h.line for h in odd.hits] == [2]
    assert any("VIRTUAL TABLE INDEX" in step for step in journal.explain_search("cuda"))
    with pytest.raises(NotFoundError):
        journal.search("  ")


def test_quote_query() -> None:
    assert quote_query('say "hi" out-of-memory') == '"say" """hi""" "out-of-memory"'


def test_purge_removes_rows_and_index_entries(journal: Journal) -> None:
    journal.record_transition(info("a-1"), RunStatus.SUCCEEDED, at=1.0)
    journal.add_lines([LogRow("a-1", "output", 1, 1.0, "needle in a haystack")])
    journal.add_chunk("a-1", "output", 2, 1, 2.0, b"another needle, not indexed yet\n")
    assert journal.count_lines() == 2
    assert journal.purge("a-1") and not journal.purge("a-1")
    assert journal.search("needle").hits == [] and journal.count_lines() == 0
    with pytest.raises(NotFoundError):
        journal.get("a-1")
    journal.optimize()  # the index is consistent after the deletes ('optimize' would fail otherwise)


def _spec() -> RunSpec:
    # the smallest RunSpec the tap needs: what ExecutionInfo is built from
    class Spec:
        run_id = "bench-abc"
        benchmark = "bench"
        environment = "local"

        class source:
            commit = None

    return Spec()  # type: ignore[return-value]


def test_tap_numbers_lines_and_batches(journal: Journal) -> None:
    clock = iter(float(n) for n in range(100, 10_000))
    tap = JournalTap(journal, batch_lines=3, flush_interval=3600, clock=lambda: next(clock))
    spec = _spec()
    tap.status(spec, "bench-abc-1", RunStatus.RUNNING, "")
    out = tap.output_sink(spec, "bench-abc-1", "output")
    server = tap.output_sink(spec, "bench-abc-1", "server")
    out(b"one\r\ntw")
    server(b"ready\n")
    out(b"o\nthree\n")  # the third pending line: a batch is full, the flusher writes it at once
    deadline = time.monotonic() + 10
    while len(journal.lines("bench-abc-1", "output")) < 3:
        assert time.monotonic() < deadline, "a full batch was not written"
        time.sleep(0.01)
    assert [r.text for r in journal.lines("bench-abc-1", "output")] == ["one", "two", "three"]
    out(b"four (no newline)")
    assert len(journal.lines("bench-abc-1", "output")) == 3
    tap.status(spec, "bench-abc-1", RunStatus.SUCCEEDED, "")  # the last line and the batch, before the status
    rows = journal.lines("bench-abc-1", "output")
    assert [(r.line, r.text) for r in rows] == [(1, "one"), (2, "two"), (3, "three"), (4, "four (no newline)")]
    assert [r.text for r in journal.lines("bench-abc-1", "server")] == ["ready"]
    assert journal.streams("bench-abc-1") == ["output", "server"]
    tap.close()


def test_tap_caps_what_it_indexes(journal: Journal) -> None:
    tap = JournalTap(journal, index_cap_bytes=10, flush_interval=3600)
    spec = _spec()
    tap.status(spec, "bench-abc-1", RunStatus.RUNNING, "")
    sink = tap.output_sink(spec, "bench-abc-1", "output")
    sink(b"12345\n67890\nabcdef\nmore\n")
    tap.status(spec, "bench-abc-1", RunStatus.SUCCEEDED, "")
    assert [r.text for r in journal.lines("bench-abc-1", "output")] == ["12345", "67890"]
    tap.close()


def test_tap_flushes_in_the_background(journal: Journal) -> None:
    tap = JournalTap(journal, flush_interval=0.05)
    spec = _spec()
    tap.status(spec, "bench-abc-1", RunStatus.RUNNING, "")
    tap.output_sink(spec, "bench-abc-1", "output")(b"soon\n")

    deadline = time.monotonic() + 10
    while not journal.lines("bench-abc-1", "output"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    tap.close()


def test_tap_stores_chunks_read_at_once_and_indexed_by_the_first_search(journal: Journal) -> None:
    """Output is stored as chunks of whole lines (no per-line work while the benchmark runs); the
    lines read back at once, and the first search indexes them (in pieces), each line once."""
    tap = JournalTap(journal, flush_interval=3600)
    spec = _spec()
    tap.status(spec, "bench-abc-1", RunStatus.RUNNING, "")
    sink = tap.output_sink(spec, "bench-abc-1", "output")
    sink(b"".join(b"step %d loss=0.%d\n" % (n, n) for n in range(1, 2001)) + b"epoch done, no newline")
    tap.flush()
    stored = sqlite3.connect(journal.path).execute("SELECT count(*), sum(lines) FROM log_chunks").fetchone()
    assert stored == (1, 2000), "2,000 lines are one chunk, not 2,000 rows"
    assert [r.line for r in journal.lines("bench-abc-1", "output", after=1990)] == list(range(1991, 2001))
    tap.status(spec, "bench-abc-1", RunStatus.SUCCEEDED, "")  # the last line, without its newline
    assert journal.count_lines() == 2001
    page = journal.lines("bench-abc-1", "output", after=1500, limit=10)
    assert [(r.line, r.text) for r in page] == [(n, f"step {n} loss=0.{n}") for n in range(1501, 1511)]
    hits = journal.search("epoch").hits
    assert [(h.line, h.text) for h in hits] == [(2001, "epoch done, no newline")]
    assert journal.waiting_chunks() == 0
    assert len(journal.search("step", limit=5000).hits) == 2000 and journal.count_lines() == 2001
    assert [r.line for r in journal.lines("bench-abc-1", "output", after=1998)] == [1999, 2000, 2001]
    tap.close()


def test_index_pending_in_small_transactions_sees_every_line_once(journal: Journal) -> None:
    journal.record_transition(info("a-1"), RunStatus.RUNNING, at=1.0)
    for n in range(10):
        journal.add_chunk("a-1", "output", 1 + n * 3, 3, 1.0 + n, b"w%d a\nw%d b\nw%d c\n" % (n, n, n))
    assert journal.index_pending(batch_bytes=20) == 30  # 2 chunks a transaction
    rows = journal.lines("a-1", "output", limit=100)
    assert [r.line for r in rows] == list(range(1, 31)) and rows[3].text == "w1 a" and rows[3].at == 2.0
    assert journal.index_pending() == 0 and len(journal.search("a", limit=100).hits) == 10
    assert not journal.add_chunk("unknown", "output", 1, 1, 1.0, b"x\n")


def test_tap_cuts_over_long_lines_across_chunks(journal: Journal) -> None:
    from controller.journal.chunks import MAX_LINE_BYTES

    tap = JournalTap(journal, flush_interval=3600)
    spec = _spec()
    tap.status(spec, "bench-abc-1", RunStatus.RUNNING, "")
    sink = tap.output_sink(spec, "bench-abc-1", "output")
    sink(b"short\r\n" + b"x" * (MAX_LINE_BYTES - 10))
    sink(b"y" * 100)  # the line is now longer than the limit: the rest of it is dropped
    sink(b"z" * 100 + b"\nafter\n" + b"w" * (MAX_LINE_BYTES + 5) + b"\nlast")
    tap.status(spec, "bench-abc-1", RunStatus.SUCCEEDED, "")
    texts = [r.text for r in journal.lines("bench-abc-1", "output")]
    cut = ("x" * (MAX_LINE_BYTES - 10) + "y" * 10) + " …"
    assert texts == ["short", cut, "after", "w" * MAX_LINE_BYTES + " …", "last"]
    journal.index_pending()
    assert [r.text for r in journal.lines("bench-abc-1", "output")] == texts, "the same once indexed"
    tap.close()


def test_a_version_1_journal_keeps_its_lines_searchable(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO executions (execution_id, run_id, benchmark, environment, backend, started_at, updated_at, "
        "status, reason) VALUES ('a-1', 'a', 'bench', 'local', 'local', 1, 1, 'SUCCEEDED', '')"
    )
    conn.execute("INSERT INTO log_lines (execution, stream, line, at, text) VALUES (1, 'output', 1, 1, 'old needle')")
    conn.commit()
    conn.close()
    with Journal(path) as upgraded:
        assert [h.text for h in upgraded.search("needle").hits] == ["old needle"]
        upgraded.add_lines([LogRow("a-1", "output", 2, 2.0, "new needle")])
        assert [h.text for h in upgraded.search("needle").hits] == ["new needle", "old needle"]
        assert upgraded.purge("a-1")
        upgraded.optimize()  # the index stayed consistent through the upgrade and the deletes


# -- reading kept logs ------------------------------------------------------------------------------


def test_gzip_reader_reads_a_file_being_written_and_several_members(tmp_path: Path) -> None:
    path = tmp_path / "output.log.gz"
    member = zlib.compressobj(6, zlib.DEFLATED, 31)
    data = b"".join(b"line %d\n" % n for n in range(20_000))
    compressed = member.compress(data) + member.flush(zlib.Z_SYNC_FLUSH)
    path.write_bytes(compressed[: len(compressed) // 2])  # half written: no end of stream yet
    reader = GzipReader(path)
    first = [line for batch in reader.batches() for line in batch]
    assert first and first == [b"line %d" % n for n in range(len(first))]
    with path.open("ab") as f:
        f.write(compressed[len(compressed) // 2 :] + member.flush() + gzip.compress(b"second member\nno newline"))
    rest = [line for batch in reader.batches() for line in batch] + reader.rest()
    assert first + rest == [b"line %d" % n for n in range(20_000)] + [b"second member", b"no newline"]
    assert reader.count == 20_002
    reader.close()


def test_gzip_reader_reports_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "output.log.gz"
    path.write_bytes(gzip.compress(b"fine\n")[:10] + b"\xff" * 64)
    with pytest.raises(Exception, match="is damaged"):
        list(GzipReader(path).chunks())


def test_local_logs_merge_the_file_and_the_journal(tmp_path: Path, journal: Journal) -> None:
    """A follower prints the file's lines, then the journal's past them, then the file's rest: each once."""
    folder = tmp_path / "data" / "executions" / "e-1"
    folder.mkdir(parents=True)
    journal.record_transition(ExecutionInfo("e-1", "e", "bench", "local"), RunStatus.RUNNING, at=1.0)
    (folder / "output.log.gz").write_bytes(gzip.compress(b"a\nb\n")[:10])  # header only: nothing flushed yet
    journal.add_lines([LogRow("e-1", "output", 1, 1.0, "a"), LogRow("e-1", "output", 2, 1.0, "b")])
    states = iter([True, True, False])
    steps: list[str] = []

    def sleep(seconds: float) -> None:
        steps.append("sleep")
        if len(steps) == 2:  # the run goes on, then ends: the file is complete
            journal.add_lines([LogRow("e-1", "output", 3, 2.0, "c")])
            (folder / "output.log.gz").write_bytes(gzip.compress(b"a\nb\nc\nd\n"))

    source = LocalLogs(tmp_path / "data", journal)
    printed = [
        line
        for stream, lines in source.lines("e-1", follow=True, is_active=lambda: next(states), sleep=sleep)
        for line in lines
    ]
    assert printed == [b"a", b"b", b"c", b"d"]
    assert [line for _, lines in source.lines("e-1", tail=2) for line in lines] == [b"c", b"d"]
    assert b"".join(source.copy("e-1", "output")) == b"a\nb\nc\nd\n"


# -- small parsers -----------------------------------------------------------------------------------


def test_parse_since() -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("3d", now=1e6) == 1e6 - 3 * 86400
    assert parse_since("1.5 m", now=100.0) == 10.0
    assert parse_since("1970-01-02") == 86400.0
    assert parse_since("1970-01-01T01:00:00+01:00") == 0.0
    with pytest.raises(Exception, match="is not a time"):
        parse_since("soon")


def test_stop_schedule_keeps_the_rest_of_the_descriptor() -> None:
    text = '# mine\n[info]\ndescription = "x"\nscheduling = "@daily"  # nightly\n\n[ml]\nscheduling_note = 1\n'
    after, previous = stop_schedule(text, today="2024-05-01")
    assert previous == "@daily"
    assert after.startswith('# mine\n[info]\ndescription = "x"\n# Schedule stopped on 2024-05-01')
    assert 'scheduling = "single_run"\n\n[ml]\nscheduling_note = 1\n' in after
    assert stop_schedule(after) == (after, None)
    assert stop_schedule('[info]\ndescription = "x"\n') == ('[info]\ndescription = "x"\n', None)
