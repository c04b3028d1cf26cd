"""What `anubis run` adds to a trivial benchmark: the whole command vs the benchmark's command alone.

    python bench/run_overhead.py [--repetitions 15]

Three timings, each the median of N wall-clock runs:

* direct   — the benchmark's own command (``python3 noop.py``) as a subprocess;
* runner   — ``LocalRunner.run`` of its RunSpec in this process (process group, output pump, log,
             extraction, registry, record, SQLite store): the backend's own overhead;
* first    — ``anubis run benchmarks/noop`` as a subprocess on a fresh data folder each time: adds
             Python start-up, imports, descriptor planning and the results table ("insufficient
             data": no baseline yet, so no statistics library is imported);
* verdict  — the same command once the benchmark has history (each run judged against its
             baseline: scipy's statistics are imported, ~1 s of it).

Goal (issue 16): ``anubis run`` adds ≤ 0.3 s to the benchmark's own time.

Results and data go to a temporary folder; nothing is left behind.
"""

from __future__ import annotations

import argparse
import os
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

NOOP = "print('speed=1.0')\n"


def median_seconds(action: Callable[[], None], repetitions: int) -> float:
    action()  # warm up (page cache, .pyc files)
    timings = []
    for _ in range(repetitions):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=15)
    args = parser.parse_args()
    checkout = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="anubis-bench-") as tmp:
        root = Path(tmp) / "repo"
        (root / "environments").mkdir(parents=True)
        (root / "environments" / "local.toml").write_text(
            (checkout / "environments" / "local.toml").read_text(encoding="utf-8"), encoding="utf-8"
        )
        src = root / "benchmarks" / "noop" / "src"
        src.mkdir(parents=True)
        (src.parent / "descriptor.toml").write_text(DESCRIPTOR, encoding="utf-8")
        (src / "noop.py").write_text(NOOP, encoding="utf-8")
        env = dict(os.environ)
        env.update(
            ANUBIS_DATA_DIR=str(Path(tmp) / "data"),
            ANUBIS_CACHE_DIR=str(Path(tmp) / "cache"),
            ANUBIS_CONTAINER_ENGINE="none",
        )

        def direct() -> None:
            subprocess.run(["python3", str(src / "noop.py")], check=True, stdout=subprocess.DEVNULL, env=env)

        def command() -> None:
            subprocess.run(
                [sys.executable, "-m", "anubis", "--repo", str(root), "run", "benchmarks/noop", "-o", "json"],
                cwd=root,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )

        fresh = iter(range(1_000_000))

        def first() -> None:
            subprocess.run(
                [sys.executable, "-m", "anubis", "--repo", str(root), "run", "benchmarks/noop", "-o", "json"],
                cwd=root,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**env, "ANUBIS_DATA_DIR": str(Path(tmp) / f"fresh-{next(fresh)}")},
            )

        from controller.local.runner import LocalConfig, LocalRunner
        from controller.sqlite_store import SqliteResultStore
        from renderer.planning import plan_runs

        [spec] = plan_runs(root / "benchmarks" / "noop", repo_root=root, environment="local")
        data_dir = Path(tmp) / "data-inproc"
        data_dir.mkdir()
        store = SqliteResultStore(data_dir / "results.sqlite3")
        runner = LocalRunner(
            LocalConfig(repo_root=root, data_dir=data_dir, cache_dir=Path(tmp) / "cache", host_environ=env),
            store=store,
        )

        def in_process() -> None:
            record = runner.run(spec)
            assert record.status.value == "SUCCEEDED", record.reason

        n = args.repetitions
        t_direct = median_seconds(direct, n)
        t_runner = median_seconds(in_process, n)
        t_first = median_seconds(first, n)
        for _ in range(6):  # enough history for a verdict (the policy's min_history)
            command()
        t_command = median_seconds(command, n)
        store.close()
    print(f"median of {n} runs each (wall clock)")
    print(f"  direct   python3 noop.py          {t_direct * 1000:8.1f} ms")
    print(
        f"  runner   LocalRunner.run           {t_runner * 1000:8.1f} ms"
        f"   overhead {(t_runner - t_direct) * 1000:+7.1f} ms  ({t_runner / t_direct:.2f}x)"
    )
    print(
        f"  first    anubis run benchmarks/noop {t_first * 1000:6.1f} ms"
        f"   overhead {(t_first - t_direct) * 1000:+7.1f} ms  ({t_first / t_direct:.2f}x)  (goal ≤ +300 ms)"
    )
    print(
        f"  verdict  anubis run benchmarks/noop {t_command * 1000:6.1f} ms"
        f"   overhead {(t_command - t_direct) * 1000:+7.1f} ms  ({t_command / t_direct:.2f}x)  (judged: imports scipy)"
    )


if __name__ == "__main__":
    main()
