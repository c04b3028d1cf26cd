"""The journal's index of pieces (controller/journal/chunks.py, indexing.py, search.py): a search
answers as an index of one row per line would, whatever the query; indexing is lazy, in batches, and
loses nothing to a search beside it or a process killed in the middle; older journals upgrade."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from controller.journal import ExecutionInfo, Journal, LogRow
from controller.journal import search as search_module
from controller.journal.chunks import PIECE_LINES
from controller.journal.schema import MIGRATIONS, SCHEMA_VERSION, TOKENIZER
from schemas.status import RunStatus

WORDS = ["loss", "step", "cuda", "error", "out", "of", "memory", "epoch", "nan", "rank", "ok", "warn"]
QUERIES = [
    "cuda", "cuda error", "cuda AND memory", "cuda OR nan", '"out of memory"', '"memory out"', "NEAR(cuda memory, 1)",
    "cuda NOT memory", "NOT_A_WORD", "^loss", "^loss step", "mem*", "(cuda OR rank) NOT (loss OR step)",
    "text:error", "error NOT ^error", "loss + step", "- text : cuda", "cuda NOT memory OR nan",
    'loss NOT "out of" step', "NEAR(cuda error, 2) NOT rank", "cuda NOT text:memory", "cuda NOT memory nan", "cuda NOT text:memory error OR rank",
    "error NOT mem*", "^cuda OR ^nan",
]


def info(execution_id: str, benchmark: str = "bench") -> ExecutionInfo:
    return ExecutionInfo(execution_id, execution_id.rsplit("-", 1)[0], benchmark, "local")


def reference(lines: list[tuple[str, int, str]], query: str) -> list[tuple[str, int]]:
    """What an index of one row per line answers: (execution id, line) newest first."""
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE l USING fts5(text, tokenize='{TOKENIZER}')")
    conn.executemany("INSERT INTO l (rowid, text) VALUES (?, ?)", [(n, t) for n, (_, _, t) in enumerate(lines)])
    rows = conn.execute("SELECT rowid FROM l WHERE l MATCH ? ORDER BY rowid DESC", (query,)).fetchall()
    return [(lines[r][0], lines[r][1]) for (r,) in rows]


@pytest.mark.parametrize("pieces", ["asked", "all read"])
def test_a_search_answers_line_by_line_whatever_the_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pieces: str
) -> None:
    """Lines of one piece share an index row; hits are still per line: words on two lines of one piece
    are no AND match, a phrase does not run across lines, NOT and ^ judge each line alone. The same
    with every piece read (what a query gets when no query for the pieces can be made of it)."""
    if pieces == "all read":
        monkeypatch.setattr(search_module, "piece_query", lambda query: None)
    rng = random.Random(7)
    lines: list[tuple[str, int, str]] = []
    with Journal(tmp_path / "journal.sqlite3") as journal:
        for execution in ("a-1", "b-1"):
            journal.record_transition(info(execution), RunStatus.RUNNING, at=1.0)
            first = 1
            for chunk in range(3):
                count = rng.choice([1, PIECE_LINES - 1, PIECE_LINES, 3 * PIECE_LINES + 7])
                texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 6))) for _ in range(count)]
                data = "".join(t + "\n" for t in texts).encode()
                assert journal.add_chunk(execution, "output", first, count, 1.0 + chunk, data)
                lines += [(execution, first + n, t) for n, t in enumerate(texts)]
                first += count
        for query in QUERIES:
            expected = reference(lines, query)
            found = journal.search(query, limit=100_000)
            assert not found.quoted, query
            assert [(h.execution_id, h.line) for h in found.hits] == expected, query
            assert all(h.text == lines[[x[:2] for x in lines].index((h.execution_id, h.line))][2] for h in found.hits[:20])
        assert [(h.execution_id, h.line) for h in journal.search("cuda", limit=5).hits] == reference(lines, "cuda")[:5]
        b_only = [x for x in lines if x[0] == "b-1"]
        assert [(h.execution_id, h.line) for h in journal.search("cuda NOT memory", run="b-1", limit=10**6).hits] == (
            reference(b_only, "cuda NOT memory")
        )


def test_the_query_for_pieces_leaves_out_not_and_its_operand_and_the_caret() -> None:
    assert search_module.piece_query("cuda error") == "cuda error"
    assert search_module.piece_query("(cuda OR rank) NOT (loss OR step)") == "(cuda OR rank)"
    assert search_module.piece_query("a NOT b OR c").split() == ["a", "OR", "c"]  # NOT binds before OR
    assert search_module.piece_query("a NOT b c AND d").split() == ["a", "AND", "d"]  # a NOT (b c) AND d
    assert search_module.piece_query('a NOT text:"x y" + z* e').split() == ["a"]
    assert search_module.piece_query("a NOT NEAR(b c, 2) AND d").split() == ["a", "AND", "d"]
    assert search_module.piece_query("a NOT b (c)") is None  # a shape it does not know: every piece read
    assert search_module.piece_query('^loss "NOT" step') == 'loss "NOT" step'  # a quoted NOT is a word
    assert search_module.piece_query("NOT a") is None


def test_a_search_right_after_a_chunk_is_stored_finds_it(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        journal.record_transition(info("a-1"), RunStatus.RUNNING, at=1.0)
        assert journal.search("needle").hits == []
        journal.add_chunk("a-1", "output", 1, 2, 2.0, b"hay\nneedle\n")
        assert journal.waiting_chunks() == 1
        assert [(h.line, h.text, h.at) for h in journal.search("needle").hits] == [(2, "needle", 2.0)]
        assert journal.waiting_chunks() == 0


def _fill(journal: Journal, chunks: int, lines: int) -> None:
    journal.record_transition(info("a-1"), RunStatus.RUNNING, at=1.0)
    for c in range(chunks):
        data = b"".join(b"step %d loss=%d marker%d\n" % (c * lines + n, n, c) for n in range(lines))
        journal.add_chunk("a-1", "output", 1 + c * lines, lines, float(c), data)


def test_a_search_while_another_indexes_sees_every_line_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        _fill(journal, chunks=40, lines=2000)
    errors: list[BaseException] = []

    def index() -> None:
        try:
            with Journal(path) as other:
                other.index_pending(batch_bytes=64 * 1024)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    indexer = threading.Thread(target=index)
    indexer.start()
    with Journal(path) as journal:
        hits = journal.search("step", limit=10**6).hits
    indexer.join()
    assert not errors
    assert [h.line for h in hits] == list(range(80_000, 0, -1))


def test_a_process_killed_while_indexing_loses_nothing(tmp_path: Path) -> None:
    """Each batch is one transaction: a killed indexer leaves its batch waiting, never half-indexed."""
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        _fill(journal, chunks=200, lines=2000)
        waiting = journal.waiting_chunks()
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from controller.journal import Journal; "
         "Journal(Path(sys.argv[1])).index_pending(batch_bytes=1)", str(path)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 60
        with Journal(path) as journal:
            while journal.waiting_chunks() > waiting - 3:  # some batches are in: kill it in the middle
                assert time.monotonic() < deadline and child.poll() is None, "the indexer did not start"
                time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    with Journal(path) as journal:
        left = journal.waiting_chunks()
        assert 0 < left < waiting, "killed in the middle"
        assert [h.line for h in journal.search("marker199", limit=10**6).hits] == list(range(400_000, 398_000, -1))
        assert len(journal.search("step", limit=10**6).hits) == 400_000
        assert journal.waiting_chunks() == 0
        journal.optimize()  # the index is consistent ('optimize' fails on a damaged one)


def test_purge_takes_the_pieces_out_of_the_index(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        _fill(journal, chunks=3, lines=250)
        journal.record_transition(info("b-1"), RunStatus.RUNNING, at=1.0)
        journal.add_lines([LogRow("b-1", "output", 1, 5.0, "step kept")])
        assert len(journal.search("step", limit=10**6).hits) == 751
        assert journal.purge("a-1")
        assert [h.execution_id for h in journal.search("step", limit=10**6).hits] == ["b-1"]
        conn = sqlite3.connect(journal.path)
        assert conn.execute("SELECT count(*) FROM log_text WHERE log_text MATCH 'marker0'").fetchone() == (0,)
        journal.optimize()


def test_a_version_2_journal_keeps_its_indexed_lines_and_its_waiting_chunks(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    for step in MIGRATIONS[:2]:
        step(conn)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO executions (execution_id, run_id, benchmark, environment, backend, started_at, updated_at, "
        "status, reason) VALUES ('a-1', 'a', 'bench', 'local', 'local', 1, 1, 'SUCCEEDED', '')"
    )
    old = [(1, 10.0, "first needle"), (2, 10.0, "second"), (3, 11.0, "third needle"), (5, 11.0, "fifth")]
    conn.executemany("INSERT INTO log_lines (execution, stream, line, at, text) VALUES (1, 'output', ?, ?, ?)", old)
    conn.execute("INSERT INTO log_index (rowid, text) SELECT id, text FROM log_lines")
    conn.execute(
        "INSERT INTO log_chunks (execution, stream, first_line, lines, at, data) "
        "VALUES (1, 'output', 6, 2, 12.0, x'6e6565646c652073697874680a736576656e74680a')"  # needle sixth\nseventh\n
    )
    conn.commit()
    conn.close()
    with Journal(path) as upgraded:
        rows = upgraded.lines("a-1", "output")
        assert [(r.line, r.at, r.text) for r in rows] == [
            (1, 10.0, "first needle"), (2, 10.0, "second"), (3, 11.0, "third needle"), (5, 11.0, "fifth"),
            (6, 12.0, "needle sixth"), (7, 12.0, "seventh"),
        ]  # fmt: skip
        assert [h.line for h in upgraded.search("needle").hits] == [6, 3, 1]
        names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
        assert "log_lines" not in names and "log_index" not in names
        assert SCHEMA_VERSION == 3


def test_pieces_fold_case_and_accents_and_replace_bad_bytes_as_lines_do(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        journal.record_transition(info("a-1"), RunStatus.RUNNING, at=1.0)
        journal.add_chunk("a-1", "output", 1, 3, 1.0, "x\nnaïve café ÜBER\r\n".encode() + b"bad\xff\xfebytes ok\n")
        assert [(h.line, h.text) for h in journal.search("naive uber").hits] == [(2, "naïve café ÜBER")]
        assert [(h.line, h.text) for h in journal.search("bytes ok").hits] == [(3, "bad\ufffd\ufffdbytes ok")]
        assert [h.line for h in journal.search("bad").hits] == [3]
