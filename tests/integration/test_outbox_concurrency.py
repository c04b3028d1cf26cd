"""Two real processes create and fill one GitHub outbox at once, as a controller and an `anubis report`
sharing a data folder would. A new SQLite file switched to WAL by two connections at once can refuse
one of them at once ("database is locked", without waiting for the busy timeout); the outbox opens its
file through controller.sqlite_files, which retries that, as the result store and the journal do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from controller.reporting.outbox import Outbox

ROUNDS = 30  # fresh files created by both processes at the same moment
PER_ROUND = 5

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from controller.reporting.debounce import IMMEDIATE
    from controller.reporting.outbox import Outbox
    from controller.reporting.statuses import CommitStatus

    folder, name, other, rounds, per_round = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    queued = 0
    for r in range(rounds):
        (folder / f"ready-{name}-{r}").touch()
        deadline = time.monotonic() + 30
        while not (folder / f"ready-{other}-{r}").exists():  # both open the new file together
            if time.monotonic() > deadline:
                sys.exit(f"the other writer did not reach round {r}: it failed")
            time.sleep(0.0005)
        outbox = Outbox(folder / f"outbox-{r}.sqlite3")
        for i in range(per_round):
            sha = f"{name}{r:03d}{i:03d}".ljust(40, "0")
            status = CommitStatus(state="pending", context=f"anubis/{name}", description="running",
                                  target_url=None, run_id=f"{name}-{r}-{i}", change=f"pending:{i}")
            outbox.put_status("acme/benchmarks", sha, status, IMMEDIATE)
            queued += 1
            outbox.count("acme/benchmarks")  # readers interleave with the other writer
    print(queued)
    """
)


def test_two_processes_create_and_fill_one_outbox_at_once(tmp_path: Path) -> None:
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), name, other, str(ROUNDS), str(PER_ROUND)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name, other in (("a", "b"), ("b", "a"))
    ]
    outcomes = [w.communicate(timeout=240) for w in writers]
    errors = "\n".join(err for _, err in outcomes)
    for writer, (out, err) in zip(writers, outcomes):
        assert writer.returncode == 0, errors
        assert "database is locked" not in err
        assert out.strip() == str(ROUNDS * PER_ROUND)
    for r in range(ROUNDS):
        path = tmp_path / f"outbox-{r}.sqlite3"
        assert Outbox(path).count("acme/benchmarks") == 2 * PER_ROUND
        check = subprocess.run(
            [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
             "print(c.execute('PRAGMA integrity_check').fetchone()[0], c.execute('PRAGMA journal_mode').fetchone()[0])",
             str(path)],
            capture_output=True, text=True, check=True,
        )
        assert check.stdout.split() == ["ok", "wal"]
