"""How fast the everyday commands answer, against ``python -c pass`` and the ``sqlite3`` CLI.

    python bench/startup.py [--repetitions 15] [--runs 3]

A temporary benchmarks repository with a no-op benchmark is run ``--runs`` times with ``anubis run``
(so the journal and the result store have something to list, search and show); then each command
below is started as a subprocess, the commands interleaved round by round (so a load change on the
machine hits them all alike), and the median wall-clock time and CPU time (user + system, less
sensitive to a loaded machine) of each is printed with its ratio to ``python -c pass`` (the
interpreter's own start-up, the floor for any Python command):

* ``anubis --help``, ``list``, ``search speed``, ``status``, ``results``, ``validate``;
* ``sqlite3`` on the journal, asking what ``anubis list`` asks (the issue's reference);
* ``python -X importtime`` of each command is summarised too: the modules it imports from the heavy
  set (scipy, numpy, kubernetes, boto3, github, elasticsearch, jsonschema, rich, yaml).

Goal (issue 16): each anubis command here in ≤ 2.5× ``python -c pass``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]

# the same no-op benchmark bench/run_overhead.py times (run from bench/: its folder is on sys.path)
from run_overhead import DESCRIPTOR, NOOP  # noqa: E402

HEAVY = ("scipy", "numpy", "kubernetes", "boto3", "botocore", "github", "elasticsearch", "jsonschema", "rich", "yaml")
LIST_SQL = (
    "SELECT execution_id, run_id, benchmark, status, updated_at FROM executions ORDER BY started_at DESC LIMIT 20"
)


def make_repo(root: Path) -> None:
    (root / "environments").mkdir(parents=True)
    shutil.copy(CHECKOUT / "environments" / "local.toml", root / "environments" / "local.toml")
    src = root / "benchmarks" / "noop" / "src"
    src.mkdir(parents=True)
    (src.parent / "descriptor.toml").write_text(DESCRIPTOR, encoding="utf-8")
    (src / "noop.py").write_text(NOOP, encoding="utf-8")


def heavy_imports(command: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """The top-level packages of HEAVY that ``command`` (a ``python -m anubis`` line) imports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command[1:]], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seen = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip().split(".")[0]
            if name in HEAVY:
                seen.add(name)
    return sorted(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3, help="anubis run of the no-op benchmark before measuring")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anubis-bench-") as tmp:
        root = Path(tmp) / "repo"
        make_repo(root)
        data = Path(tmp) / "data"
        env = dict(os.environ)
        env.update(ANUBIS_DATA_DIR=str(data), ANUBIS_CACHE_DIR=str(Path(tmp) / "cache"), ANUBIS_CONTAINER_ENGINE="none")
        env.pop("KUBECONFIG", None)
        anubis = [sys.executable, "-m", "anubis"]
        for _ in range(args.runs):
            subprocess.run(
                [*anubis, "run", "benchmarks/noop"], cwd=root, env=env, check=True, capture_output=True
            )
        commands: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "anubis --help": [*anubis, "--help"],
            "anubis list": [*anubis, "list"],
            "anubis search speed": [*anubis, "search", "speed"],
            "anubis status": [*anubis, "status"],
            "anubis results": [*anubis, "results"],
            "anubis validate": [*anubis, "validate", "--env", "local", "benchmarks/noop"],
        }
        sqlite = shutil.which("sqlite3")
        if sqlite:
            commands["sqlite3 (list's query)"] = [sqlite, str(data / "journal.sqlite3"), LIST_SQL]
        for name, command in commands.items():  # warm up (page cache, .pyc files) and check they work
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{name} failed ({done.returncode}): {done.stderr.strip()}")
        timings: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repetitions):
            for name, command in commands.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                timings[name].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        floor = statistics.median(timings["python -c pass"])
        cpu_floor = statistics.median(cpu["python -c pass"])
        print(f"median of {args.repetitions} interleaved runs each, {os.cpu_count()} CPUs")
        print(f"  {'command':<26} {'wall ms':>8} {'×':>6} {'CPU ms':>8} {'×':>6}   heavy modules imported")
        for name, command in commands.items():
            wall, used = statistics.median(timings[name]), statistics.median(cpu[name])
            heavy = ", ".join(heavy_imports(command, env, root)) if name.startswith("anubis") else ""
            goal = " (goal ≤ 2.5×)" if name.startswith("anubis") and name != "anubis validate" else ""
            print(f"  {name:<26} {wall * 1000:8.1f} {wall / floor:5.2f}× {used * 1000:8.1f} {used / cpu_floor:5.2f}×"
                  f"{goal}   {heavy}")


if __name__ == "__main__":
    main()
