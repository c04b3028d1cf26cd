"""`anubis search` over 10 and 1,000 stored runs: the FTS5 index against a LIKE scan.

    python bench/search.py [--lines-per-run 2000] [--repetitions 7]

Runs' logs are generated straight into a journal in a temporary folder (what ``anubis run`` would have
journaled: training-like lines, a thousand to a chunk, a few runs hitting a rare CUDA error). At 10 and then 1,000 runs it
prints, for a rare word and a common one: the median time of ``Journal.search`` (FTS5 ``MATCH`` on the
index of pieces, then the lines of each piece found, newest 50 hits) and of ``LIKE '%…%'`` over
every chunk of lines (a scan of the text, which finds chunks, not yet lines), the ratio, the number of
lines and the size of the index; the time to index the 990 runs (``index_pending``, what the first
search after them pays); and the query plans, which show the search reading the FTS index (``VIRTUAL
TABLE INDEX … M``) and the LIKE query scanning ``log_chunks``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.journal import ExecutionInfo, Journal, LogRow
from schemas.status import RunStatus

RARE = "CUDA_ERROR_ILLEGAL_ADDRESS"
COMMON = "loss"
LIKE_SQL = (
    "SELECT e.execution_id, c.stream, c.first_line, c.at FROM log_chunks AS c "
    "JOIN executions AS e ON e.id = c.execution WHERE c.data LIKE ? ORDER BY c.id DESC LIMIT 50"
)


def add_runs(journal: Journal, first: int, count: int, lines_per_run: int, rng: random.Random) -> None:
    for n in range(first, first + count):
        execution_id = f"bench{n % 7}-{n:06x}-20240101T000000-{n % 65536:04x}"
        info = ExecutionInfo(execution_id, execution_id[:13], f"bench{n % 7}", "local")
        start = 1_700_000_000.0 + n * 600
        journal.record_transition(info, RunStatus.RUNNING, at=start)
        rows = []
        for line in range(1, lines_per_run + 1):
            kind = rng.random()
            if kind < 0.7:
                text = f"epoch {line // 100} step {line} loss={rng.random():.4f} lr=0.001 throughput={rng.uniform(900, 1100):.1f} img/s"
            elif kind < 0.95:
                text = f"[rank {rng.randrange(8)}] allreduce of {rng.randrange(1, 512)} MiB took {rng.random() * 40:.2f} ms"
            else:
                text = f"WARNING dataloader worker {rng.randrange(16)} is slow: queue depth {rng.randrange(4)}"
            # the time of the batch a line arrived in, as `anubis run` journals them (a chunk's time)
            rows.append(LogRow(execution_id, "output", line, start + (line // 1000) * 100.0, text))
        if n % 97 == 3:  # about one run in a hundred hits the rare error
            rows.append(LogRow(execution_id, "output", lines_per_run + 1, start + lines_per_run, f"RuntimeError: {RARE} at step {lines_per_run}"))
        for i in range(0, len(rows), 1000):
            journal.add_lines(rows[i : i + 1000])
        journal.record_transition(info, RunStatus.FAILED if n % 97 == 3 else RunStatus.SUCCEEDED, at=start + 300)


def median_ms(action: Callable[[], object], repetitions: int) -> float:
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def index_bytes(path: Path) -> tuple[int, int]:
    """(bytes of the FTS index's tables, bytes of the whole file)."""
    conn = sqlite3.connect(path)
    try:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        try:
            fts = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'log_text%'").fetchone()[0] or 0
        except sqlite3.OperationalError:  # SQLite built without dbstat
            fts = -1
        total = conn.execute("PRAGMA page_count").fetchone()[0] * page
    finally:
        conn.close()
    return int(fts), int(total)


def report(journal: Journal, path: Path, runs: int, repetitions: int) -> None:
    lines = journal.count_lines()
    fts, total = index_bytes(path)
    conn = sqlite3.connect(path)
    print(f"\n{runs:>5} runs, {lines:,} lines; file {total / 2**20:.1f} MiB"
          + (f", FTS index {fts / 2**20:.1f} MiB" if fts >= 0 else ""))  # fmt: skip
    for word in (RARE, COMMON):
        hits = len(journal.search(word).hits)
        fts_ms = median_ms(lambda w=word: journal.search(w), repetitions)
        like_ms = median_ms(lambda w=word: conn.execute(LIKE_SQL, (f"%{w}%",)).fetchall(), repetitions)
        print(f"  {word:<28} hits {hits:>3}  search {fts_ms:8.2f} ms   LIKE scan {like_ms:9.2f} ms   "
              f"LIKE/search {like_ms / fts_ms:7.1f}x")  # fmt: skip
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines-per-run", type=int, default=2000)
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite3"
        with Journal(path) as journal:
            add_runs(journal, 0, 10, args.lines_per_run, rng)
            journal.index_pending()
            report(journal, path, 10, args.repetitions)
            add_runs(journal, 10, 990, args.lines_per_run, rng)
            started = time.perf_counter()
            journal.index_pending()
            took = time.perf_counter() - started
            print(f"\n(indexed 990 more runs in {took:.1f} s: {990 * args.lines_per_run / took:,.0f} lines/s)")
            report(journal, path, 1000, args.repetitions)
            print("\nquery plan of the search:")
            for step in journal.explain_search(RARE):
                print(f"  {step}")
            conn = sqlite3.connect(path)
            print("query plan of the LIKE scan:")
            for row in conn.execute(f"EXPLAIN QUERY PLAN {LIKE_SQL}", ("%x%",)).fetchall():
                print(f"  {row[-1]}")
            conn.close()


if __name__ == "__main__":
    main()
