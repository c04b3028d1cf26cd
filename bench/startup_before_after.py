"""Start-up of the everyday commands, this tree against another one (an older commit), interleaved.

    git archive <commit> | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    python bench/startup_before_after.py --before /tmp/base [--repetitions 9]

A temporary benchmarks repository with a no-op benchmark; each tree gets its own data folder with 3
runs of it (the trees may not share a journal: a newer schema is refused by an older Anubis). Then,
round by round, ``python -c pass`` and ``anubis --help``, ``list``, ``search speed``, ``status``,
``results`` with each tree first on ``PYTHONPATH``; the median wall and CPU time of each, against
``python -c pass``. Bytecode is cached for both trees (a temporary ``PYTHONPYCACHEPREFIX``).
``--instructions``: also the instructions each command executes in each tree (valgrind; see
bench/startup.py), which the machine's load does not move.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from startup import instructions, make_repo  # noqa: E402  (bench/startup.py)

CHECKOUT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other tree (e.g. from git archive)")
    parser.add_argument("--repetitions", type=int, default=9)
    parser.add_argument("--instructions", action="store_true", help="also count instructions under valgrind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anubis-bench-") as tmp:
        root = Path(tmp) / "repo"
        make_repo(root)
        unwanted = ("KUBECONFIG", "PYTHONDONTWRITEBYTECODE", "FORCE_COLOR", "TTY_COMPATIBLE")
        base = {k: v for k, v in os.environ.items() if k not in unwanted}
        # bytecode cached for both trees (as bench/startup.py: as installed), outside the checkouts
        base.update(ANUBIS_CACHE_DIR=str(Path(tmp) / "cache"), ANUBIS_CONTAINER_ENGINE="none",
                    PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"))
        trees = {
            "before": dict(base, PYTHONPATH=str(args.before.resolve()), ANUBIS_DATA_DIR=str(Path(tmp) / "before")),
            "after": dict(base, PYTHONPATH=str(CHECKOUT), ANUBIS_DATA_DIR=str(Path(tmp) / "after")),
        }
        anubis = [sys.executable, "-m", "anubis"]
        for env in trees.values():
            for _ in range(3):
                subprocess.run([*anubis, "run", "benchmarks/noop"], cwd=root, env=env, check=True, capture_output=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "anubis --help": [*anubis, "--help"],
            "anubis list": [*anubis, "list"],
            "anubis search speed": [*anubis, "search", "speed"],
            "anubis status": [*anubis, "status"],
            "anubis results": [*anubis, "results"],
        }
        for env in trees.values():  # warm up: the bytecode cache, the page cache
            for command in commands.values():
                subprocess.run(command, cwd=root, env=env, capture_output=True, check=False)
        found: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repetitions):
            for tree, env in trees.items():
                for name, command in commands.items():
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    start = time.perf_counter()
                    subprocess.run(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    wall = time.perf_counter() - start
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                    found.setdefault((tree, name), []).append((wall, cpu))
        print(f"median of {args.repetitions} interleaved rounds, {os.cpu_count()} CPUs")
        for tree in trees:
            floor_wall = statistics.median(w for w, _ in found[(tree, "python -c pass")])
            floor_cpu = statistics.median(c for _, c in found[(tree, "python -c pass")])
            for name in commands:
                wall = statistics.median(w for w, _ in found[(tree, name)])
                cpu = statistics.median(c for _, c in found[(tree, name)])
                print(f"  {tree:<7} {name:<20} wall {wall * 1000:7.1f} ms {wall / floor_wall:5.2f}x"
                      f"   CPU {cpu * 1000:6.1f} ms {cpu / floor_cpu:5.2f}x")
        if args.instructions:
            print("instructions executed (valgrind --tool=callgrind, one run each, PYTHONHASHSEED=0):")
            for tree, env in trees.items():
                counts = {name: instructions(command, env, root) for name, command in commands.items()}
                floor_count = counts["python -c pass"]
                for name, count in counts.items():
                    shown = (f"{count / 1e6:8.1f} M {count / floor_count:5.2f}x" if count and floor_count
                             else "  (no valgrind)")
                    print(f"  {tree:<7} {name:<20} {shown}")


if __name__ == "__main__":
    main()
