"""What `anubis run` adds to a trivial benchmark: the whole command vs the benchmark's command alone.

    python bench/run_overhead.py [--repetitions 7] [--quick]

Each round runs, one after the other (so a change of load on the machine hits them all alike):

* direct   — the benchmark's own command (``python3 noop.py``) as a subprocess: the reference;
* first    — ``anubis run benchmarks/noop`` on a fresh data folder: no history, "insufficient data";
* repeated — the same on a data folder that holds one earlier run of it (a copy, so every round starts
             from the same history): the store and journal exist, still "insufficient data";
* judged   — the same on a data folder with enough history for a verdict (the policy's
             ``min_history``): the statistics (numpy, scipy) are imported and a verdict computed;
* ``python -c "from scipy import stats"`` — what the judged run pays for scipy alone;
* ``python -c "import anubis.commands.run"`` — the command's imports alone (start-up included), the
  largest part of what a run adds; and ``python -c pass``, the interpreter's own start.

Then ``LocalRunner.run`` of the RunSpec in this process (process group, output pump, log, extraction,
registry, record, SQLite store): the backend's own overhead, without the command's start-up.

Every child runs with bytecode caching on (in a temporary ``PYTHONPYCACHEPREFIX``), as an installed
Anubis runs. Medians of wall-clock time; CPU time (user + system of the child, less sensitive to a loaded machine)
beside it. Goal (issue 16): ``anubis run`` adds ≤ 0.3 s to the benchmark's own time, first run and
repeated run (printed as ``goal: ... met`` / ``NOT met``). Results and data go to a temporary folder.
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the packages, not bench/'s files

DESCRIPTOR = """\
spec_version = "0.1.0"

[info]
description = "A benchmark that does nothing: measures the runner."

[info.labels]
task_name = "noop"

[hardware]
instance_type = "t3.small"
strategy = "single_node"

[env]
docker_image = "python:3.11-slim"

[ml]
benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/src/noop.py"

[[output.metrics]]
name = "speed"
units = "it/s"
pattern = 'speed=([0-9.]+)'
"""

# a value that varies a little from run to run (by process id: nothing to import), so that a judged
# run does the statistics a real benchmark's history needs (a constant history needs no test)
NOOP = "import os\nprint(f'speed={1 + os.getpid() % 97 / 1000:.3f}')\n"
GOAL_S = 0.3


def timed(command: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (the child's user + system) of ``command``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def make_repo(root: Path, checkout: Path) -> Path:
    (root / "environments").mkdir(parents=True)
    shutil.copy(checkout / "environments" / "local.toml", root / "environments" / "local.toml")
    src = root / "benchmarks" / "noop" / "src"
    src.mkdir(parents=True)
    (src.parent / "descriptor.toml").write_text(DESCRIPTOR, encoding="utf-8")
    (src / "noop.py").write_text(NOOP, encoding="utf-8")
    return src / "noop.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 rounds (about half a minute)")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.repetitions
    checkout = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="anubis-bench-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "repo"
        noop = make_repo(root, checkout)
        unwanted = ("FORCE_COLOR", "TTY_COMPATIBLE", "KUBECONFIG", "PYTHONDONTWRITEBYTECODE")
        base = {k: v for k, v in os.environ.items() if k not in unwanted}
        # bytecode cached, as an installed Anubis runs (bench/startup.py says why), outside the checkout
        base.update(ANUBIS_CACHE_DIR=str(tmp / "cache"), ANUBIS_CONTAINER_ENGINE="none",
                    PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
        anubis = [sys.executable, "-m", "anubis", "--repo", str(root), "run", "benchmarks/noop"]

        def with_data(folder: Path) -> dict[str, str]:
            return {**base, "ANUBIS_DATA_DIR": str(folder)}

        from schemas.runspec import RegressionPolicy

        histories = {"repeated": 1, "judged": RegressionPolicy().min_history}
        for name, count in histories.items():  # the history each round starts from
            for _ in range(count):
                timed(anubis, cwd=root, env=with_data(tmp / f"seed-{name}"))
        counter = iter(range(1_000_000))

        def fresh(seed: str | None) -> dict[str, str]:
            folder = tmp / f"data-{next(counter)}"
            if seed is not None:
                shutil.copytree(tmp / f"seed-{seed}", folder)
            return with_data(folder)

        cases: dict[str, Callable[[], tuple[float, float]]] = {
            "direct": lambda: timed(["python3", str(noop)], cwd=root, env=base),
            "first": lambda: timed(anubis, cwd=root, env=fresh(None)),
            "repeated": lambda: timed(anubis, cwd=root, env=fresh("repeated")),
            "judged": lambda: timed(anubis, cwd=root, env=fresh("judged")),
            "scipy": lambda: timed([sys.executable, "-c", "from scipy import stats"], cwd=root, env=base),
            "imports": lambda: timed([sys.executable, "-c", "import anubis.commands.run"], cwd=root, env=base),
            "pass": lambda: timed([sys.executable, "-c", "pass"], cwd=root, env=base),
        }
        for case in cases.values():  # warm up: page cache, .pyc files
            case()
        found: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, case in cases.items():
                found[name].append(case())

        from controller.local.runner import LocalConfig, LocalRunner
        from controller.sqlite_store import SqliteResultStore
        from renderer.planning import plan_runs

        [spec] = plan_runs(root / "benchmarks" / "noop", repo_root=root, environment="local")
        data_dir = tmp / "data-inproc"
        data_dir.mkdir()
        store = SqliteResultStore(data_dir / "results.sqlite3")
        runner = LocalRunner(
            LocalConfig(repo_root=root, data_dir=data_dir, cache_dir=tmp / "cache", host_environ=base), store=store
        )
        runner.run(spec)  # warm up
        in_process = []
        for _ in range(rounds):
            start = time.perf_counter()
            record = runner.run(spec)
            in_process.append(time.perf_counter() - start)
            assert record.status.value == "SUCCEEDED", record.reason
        store.close()

    def median(name: str) -> tuple[float, float]:
        return statistics.median(w for w, _ in found[name]), statistics.median(c for _, c in found[name])

    direct, direct_cpu = median("direct")
    print(f"median of {rounds} interleaved rounds, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"  {'':<10} {'':<36} {'wall ms':>8} {'over direct':>12} {'CPU ms':>8} {'over direct':>12}")
    print(f"  {'direct':<10} {'python3 noop.py':<36} {direct * 1000:8.1f} {'':>12} {direct_cpu * 1000:8.1f}")
    runner_wall = statistics.median(in_process)
    print(f"  {'runner':<10} {'LocalRunner.run, in process':<36} {runner_wall * 1000:8.1f} "
          f"{(runner_wall - direct) * 1000:+10.1f} ms")
    labels = {
        "first": "anubis run (no history)",
        "repeated": "anubis run (1 earlier run)",
        "judged": f"anubis run ({histories['judged']} earlier: a verdict)",
        "scipy": "python -c 'from scipy import stats'",
        "imports": "python -c 'import anubis.commands.run'",
        "pass": "python -c pass",
    }
    for name, label in labels.items():
        wall, cpu = median(name)
        print(f"  {name:<10} {label:<36} {wall * 1000:8.1f} {(wall - direct) * 1000:+10.1f} ms "
              f"{cpu * 1000:8.1f} {(cpu - direct_cpu) * 1000:+10.1f} ms")
    for name in ("first", "repeated"):
        added = median(name)[0] - direct
        verdict = "met" if added <= GOAL_S else "NOT met"
        print(f"goal: anubis run ({name}) adds ≤ {GOAL_S * 1000:.0f} ms to the benchmark's own time: "
              f"{added * 1000:+.0f} ms — {verdict}")
    scipy_alone = median("scipy")[0] - median("pass")[0]
    judged_added = median("judged")[0] - direct
    print(f"note: a judged run adds {judged_added * 1000:+.0f} ms; importing scipy.stats alone (the t and "
          f"Mann-Whitney tests of a verdict) takes {scipy_alone * 1000:.0f} ms")


if __name__ == "__main__":
    main()
