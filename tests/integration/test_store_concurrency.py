"""Two real processes write one SQLite result store at once, as two `anubis run` would."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from controller.sqlite_store import SqliteResultStore

PER_PROCESS = 200

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from controller.sqlite_store import SqliteResultStore
    from schemas.results import MetricResult, Reproducibility, ResultRecord
    from schemas.status import RunStatus

    store_path, go, name, count = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    while not go.exists():  # start together, so both create and migrate the store at once
        time.sleep(0.001)
    stored = 0
    with SqliteResultStore(store_path) as store:
        for i in range(count):
            record = ResultRecord(
                execution_id=f"{name}-{i:04d}", run_id=f"{name}-run", family_id=name,
                benchmark="concurrency", environment="local", backend="local",
                status=RunStatus.SUCCEEDED, reason="", started_at=1000.0 + i, finished_at=1001.0 + i,
                metrics={"m": MetricResult("m", "s", "lower", (float(i), float("nan")), (1.0, 2.0))},
                reproducibility=Reproducibility(descriptor_hash="h", image="i"),
            )
            stored += store.put(record)
            store.latest("concurrency")  # readers interleave with the other writer
    print(stored)
    """
)


def test_two_processes_write_one_store_at_once(tmp_path: Path) -> None:
    store_path = tmp_path / "data" / "results.sqlite3"
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(store_path), str(go), name, str(PER_PROCESS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    go.touch()
    outcomes = [w.communicate(timeout=300) for w in writers]
    for writer, (out, err) in zip(writers, outcomes):
        assert writer.returncode == 0, err
        assert "database is locked" not in err
        assert out.strip() == str(PER_PROCESS)

    with SqliteResultStore(store_path) as store:
        assert store.count() == 2 * PER_PROCESS
        assert len(store.history("concurrency", limit=1000)) == 2 * PER_PROCESS
        assert len(store.metric_history("concurrency", "m", limit=1000)) == 2 * PER_PROCESS
        assert store.find("a-run").execution_id == f"a-{PER_PROCESS - 1:04d}"
    check = subprocess.run(
        [sys.executable, "-c", f"import sqlite3; print(sqlite3.connect({str(store_path)!r})"
         ".execute('PRAGMA integrity_check').fetchone()[0])"],
        capture_output=True, text=True, check=True,
    )
    assert check.stdout.strip() == "ok"
