"""A run whose benchmark prints a lot: what `anubis run` adds to the benchmark's own time.

    python bench/run_output.py [--megabytes 100] [--repetitions 3] [--profile FILE]

A training-like log of ``--megabytes`` MB (~2.5 M lines for 100 MB: steps with loss, throughput and
accuracy, some chatter) is written to a temporary folder; the benchmark is ``cat`` of it, with three
metrics extracted from its output. Printed, each the median of ``--repetitions`` wall-clock runs:

* ``cat`` alone, its output to a pipe read to the end (the benchmark's own time);
* ``grep -cE`` with the same three patterns on the file (the reference reader);
* ``anubis run`` of the benchmark, its output (the live display) to /dev/null: the run's output
  handled end to end (the display, the gzip log, metric extraction, the journal), then its result
  stored and shown. Twice: with the three metrics (every sample is kept: ~1.8 M for 100 MB), and
  with three patterns that match nothing (the output handling alone, the same bytes scanned);

then the overhead (``anubis run`` − ``cat``), the end-to-end rate, and checks that nothing was lost:
``anubis logs`` prints every line; ``anubis search`` (timed: the first search indexes the run's lines,
in bulk) finds a marker word printed at 40 % of the log (the journal indexes the first 64 MiB of a
run's lines; the kept log has them all).

Goal (issue 16): within 2 s of the benchmark's own time for 100 MB (≥ 50 MB/s end to end).
``--profile FILE`` runs one ``anubis run`` under cProfile (threads not included) and writes the stats.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
PATTERNS = ("loss=([0-9.]+)", "throughput=([0-9.]+)", "accuracy=([0-9.]+)")
MARKER = "zzmarkerword"

DESCRIPTOR = """\
spec_version = "0.1.0"

[info]
description = "Prints a large training log."

[info.labels]
task_name = "chatty"

[hardware]
instance_type = "t3.small"
strategy = "single_node"

[env]
docker_image = "python:3.11-slim"

[ml]
benchmark_code = "cat {log}"

[[output.metrics]]
name = "loss"
units = "nats"
pattern = '{p0}'
direction = "lower"

[[output.metrics]]
name = "throughput"
units = "img/s"
pattern = '{p1}'

[[output.metrics]]
name = "accuracy"
units = "ratio"
pattern = '{p2}'
"""
UNMATCHED = ("nomatch_a=([0-9.]+)", "nomatch_b=([0-9.]+)", "nomatch_c=([0-9.]+)")


def write_log(path: Path, megabytes: int) -> int:
    """A training-like log of about ``megabytes`` MB; returns its number of lines."""
    rng = random.Random(16)
    target = megabytes * 1_000_000
    lines = 0
    size = 0
    with path.open("w", encoding="utf-8") as f:
        block = []
        while size < target:
            step = lines + 1
            kind = rng.random()
            if kind < 0.5:
                line = f"epoch {step // 1000} step {step} loss={rng.random():.4f} lr=0.001\n"
            elif kind < 0.7:
                line = f"step {step} throughput={rng.uniform(900, 1100):.1f} img/s\n"
            elif kind < 0.75:
                line = f"eval step {step} accuracy={rng.random():.4f}\n"
            else:
                line = f"[rank {rng.randrange(8)}] allreduce of {rng.randrange(1, 512)} MiB took {rng.random() * 40:.2f} ms\n"
            if size < target * 0.4 <= size + len(line):
                line = f"checkpoint {MARKER} saved\n"
            block.append(line)
            size += len(line)
            lines += 1
            if len(block) >= 10_000:
                f.write("".join(block))
                block.clear()
        f.write("".join(block))
    return lines


def median_seconds(action: Callable[[], None], repetitions: int) -> float:
    timings = []
    for _ in range(repetitions):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anubis-bench-") as tmp:
        root = Path(tmp) / "repo"
        (root / "environments").mkdir(parents=True)
        shutil.copy(CHECKOUT / "environments" / "local.toml", root / "environments" / "local.toml")
        log = Path(tmp) / "train.log"
        lines = write_log(log, args.megabytes)
        size = log.stat().st_size
        for name, patterns in (("chatty", PATTERNS), ("unmatched", UNMATCHED)):
            folder = root / "benchmarks" / name
            folder.mkdir(parents=True)
            (folder / "descriptor.toml").write_text(
                DESCRIPTOR.format(log=log, p0=patterns[0], p1=patterns[1], p2=patterns[2]), encoding="utf-8"
            )
        env = dict(os.environ)
        env.update(ANUBIS_DATA_DIR=str(Path(tmp) / "data"), ANUBIS_CACHE_DIR=str(Path(tmp) / "cache"),
                   ANUBIS_CONTAINER_ENGINE="none")
        anubis = [sys.executable, "-m", "anubis"]

        def cat() -> None:
            with subprocess.Popen(["cat", str(log)], stdout=subprocess.PIPE) as p:
                assert p.stdout is not None
                while p.stdout.read(65536):
                    pass

        def grep() -> None:
            pattern = "|".join(PATTERNS)
            # to a pipe: with its output on /dev/null, GNU grep stops at the first match (as -q does)
            subprocess.run(["grep", "-cE", pattern, str(log)], stdout=subprocess.PIPE, check=True)

        def run(name: str) -> Callable[[], None]:
            def action() -> None:
                subprocess.run([*anubis, "run", f"benchmarks/{name}"], cwd=root, env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            return action

        if args.profile is not None:
            subprocess.run([sys.executable, "-m", "cProfile", "-o", str(args.profile), "-m", "anubis", "run",
                            "benchmarks/chatty"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
            print(f"profile written to {args.profile}")
            return
        cat()  # warm the page cache
        t_cat = median_seconds(cat, args.repetitions)
        t_grep = median_seconds(grep, args.repetitions)
        t_bare = median_seconds(run("unmatched"), args.repetitions)
        t_run = median_seconds(run("chatty"), args.repetitions)

        printed = subprocess.run([*anubis, "logs", "chatty"], cwd=root, env=env, capture_output=True, check=False).stdout
        started = time.perf_counter()
        found = subprocess.run([*anubis, "search", MARKER, "-o", "json"], cwd=root, env=env, capture_output=True,
                               text=True, check=False)
        t_search = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([*anubis, "search", MARKER], cwd=root, env=env, capture_output=True, check=False)
        t_search_again = time.perf_counter() - started
        mb = size / 1e6
        print(f"log: {mb:.0f} MB, {lines:,} lines; median of {args.repetitions} runs each, {os.cpu_count()} CPUs")
        print(f"  cat (the benchmark alone)    {t_cat:7.2f} s  {mb / t_cat:8.0f} MB/s")
        print(f"  grep -cE, 3 patterns         {t_grep:7.2f} s  {mb / t_grep:8.0f} MB/s")
        print(f"  anubis run, no sample        {t_bare:7.2f} s  {mb / t_bare:8.0f} MB/s end to end"
              f"   − cat {t_bare - t_cat:+6.2f} s  (goal ≤ +2 s, ≥ 50 MB/s)")
        print(f"  anubis run, 3 metrics        {t_run:7.2f} s  {mb / t_run:8.0f} MB/s end to end"
              f"   − cat {t_run - t_cat:+6.2f} s  (every sample stored and judged)")
        print(f"  first anubis search          {t_search:7.2f} s  (indexes {2 * args.repetitions} runs' lines in bulk)")
        print(f"  next anubis search           {t_search_again:7.2f} s")
        kept = printed.count(b"\n")
        print(f"  anubis logs: {kept:,} lines of {lines:,}; "
              f"anubis search {MARKER}: {'found' if found.returncode == 0 and MARKER in found.stdout else 'NOT FOUND'}")


if __name__ == "__main__":
    main()
