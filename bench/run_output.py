"""A run whose benchmark prints a lot: what `anubis run` adds to the benchmark's own time.

    python bench/run_output.py [--megabytes 100] [--repetitions 3] [--quick] [--profile FILE]

A training-like log of ``--megabytes`` MB (~2.4 M lines for 100 MB: steps with loss, throughput and
accuracy, some chatter) is written to a temporary folder; the benchmark is ``cat`` of it, with three
metrics extracted from its output. Printed, each the median of ``--repetitions`` runs, wall-clock
and CPU (user + system of the child processes: on a shared machine the CPU time is the steadier one):

* ``cat`` alone, its output to a pipe read to the end (the benchmark's own time);
* ``grep -cE`` with the same three patterns on the file (the reference reader);
* ``anubis run`` of the benchmark, its output (the live display) to /dev/null: the run's output
  handled end to end (the display, the gzip log, metric extraction, the journal), then its result
  stored, judged and shown. Twice: with the three metrics (each keeps its first 100,000 values), and
  with three patterns that match nothing (the output handling alone, the same bytes scanned);
* the metric extraction alone, in this process, over the same bytes in 1 MiB chunks (its share of
  the run: another change works on it);

then the goal line, and what a search costs after a run: a fresh data folder, one ``anubis run``,
then the first ``anubis search`` (it indexes the run's lines, in bulk), the next one, and beside
them ``grep -c`` of the word on the log file and the ``sqlite3`` command-line tool answering the
index's query on the journal. Last, checks that nothing was lost: ``anubis logs`` prints every line;
``anubis search`` finds a marker word printed at 40 % of the log (the journal indexes the first 64 MiB
of a run's lines; the kept log has them all).

Goal (issue 16): a benchmark printing 100 MB, with its 3 metrics, finishes in ``anubis run`` within
2 s of the benchmark's own time (>= 50 MB/s end to end). ``--quick``: one repetition (under 2 minutes
on the bench machine). ``--profile FILE`` runs one ``anubis run`` under cProfile (threads not
included) and writes the stats.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
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


def median_seconds(action: Callable[[], None], repetitions: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (this process's and its children's) of ``action``."""
    walls, cpus = [], []
    for _ in range(repetitions):
        before = _cpu()
        start = time.perf_counter()
        action()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - before)
    return statistics.median(walls), statistics.median(cpus)


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def extraction_seconds(log: Path, patterns: tuple[str, ...]) -> float:
    """CPU seconds of :class:`~controller.extraction.MetricExtractor` over ``log`` in 1 MiB chunks."""
    sys.path.insert(0, str(CHECKOUT))
    from controller.extraction import MetricExtractor
    from schemas.runspec import MetricSpec

    extractor = MetricExtractor([MetricSpec(f"m{n}", "u", p, "higher") for n, p in enumerate(patterns)])
    start = time.process_time()
    with log.open("rb") as f:
        while chunk := f.read(1 << 20):
            extractor.feed(chunk)
    extractor.close()
    extractor.results()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    repetitions = 1 if args.quick else args.repetitions
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

        def environment(data: str) -> dict[str, str]:
            env = dict(os.environ)
            env.update(ANUBIS_DATA_DIR=str(Path(tmp) / data), ANUBIS_CACHE_DIR=str(Path(tmp) / "cache"),
                       ANUBIS_CONTAINER_ENGINE="none")
            return env

        env = environment("data")
        anubis = [sys.executable, "-m", "anubis"]

        def cat() -> None:
            with subprocess.Popen(["cat", str(log)], stdout=subprocess.PIPE) as p:
                assert p.stdout is not None
                while p.stdout.read(1 << 20):
                    pass

        def grep() -> None:
            pattern = "|".join(PATTERNS)
            # to a pipe: with its output on /dev/null, GNU grep stops at the first match (as -q does)
            subprocess.run(["grep", "-cE", pattern, str(log)], stdout=subprocess.PIPE, check=True)

        def run(name: str, run_env: dict[str, str]) -> Callable[[], None]:
            def action() -> None:
                subprocess.run([*anubis, "run", f"benchmarks/{name}"], cwd=root, env=run_env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            return action

        if args.profile is not None:
            subprocess.run([sys.executable, "-m", "cProfile", "-o", str(args.profile), "-m", "anubis", "run",
                            "benchmarks/chatty"], cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
            print(f"profile written to {args.profile}")
            return
        cat()  # warm the page cache
        t_cat, c_cat = median_seconds(cat, repetitions)
        t_grep, c_grep = median_seconds(grep, repetitions)
        t_bare, c_bare = median_seconds(run("unmatched", env), repetitions)
        t_run, c_run = median_seconds(run("chatty", env), repetitions)
        c_extract = statistics.median(extraction_seconds(log, PATTERNS) for _ in range(repetitions))
        printed = subprocess.run([*anubis, "logs", "chatty"], cwd=root, env=env, capture_output=True, check=False).stdout

        fresh = environment("fresh")  # one run, then the searches: what the first search after it costs
        run("chatty", fresh)()
        journal = Path(tmp) / "fresh" / "journal.sqlite3"

        def search() -> subprocess.CompletedProcess[str]:
            return subprocess.run([*anubis, "search", MARKER, "-o", "json"], cwd=root, env=fresh, capture_output=True,
                                  text=True, check=False)

        started = time.perf_counter()
        found = search()
        t_search = time.perf_counter() - started
        t_again, _ = median_seconds(lambda: None if search() else None, repetitions)
        t_grep_word, _ = median_seconds(
            lambda: None if subprocess.run(["grep", "-c", MARKER, str(log)], stdout=subprocess.PIPE, check=False) else None,
            repetitions,
        )
        sql = f"SELECT count(*) FROM log_text WHERE log_text MATCH '{MARKER}';"
        t_sqlite, _ = median_seconds(
            lambda: None if subprocess.run(["sqlite3", str(journal), sql], stdout=subprocess.PIPE, check=False) else None,
            repetitions,
        ) if shutil.which("sqlite3") else (float("nan"), float("nan"))

        mb = size / 1e6
        over = t_run - t_cat
        print(f"log: {mb:.0f} MB, {lines:,} lines; median of {repetitions} run(s) each, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"  {'':34s} {'wall':>8s} {'CPU':>8s}")
        print(f"  {'cat (the benchmark alone)':34s} {t_cat:7.2f}s {c_cat:7.2f}s  {mb / t_cat:8.0f} MB/s")
        print(f"  {'grep -cE, 3 patterns':34s} {t_grep:7.2f}s {c_grep:7.2f}s  {mb / t_grep:8.0f} MB/s")
        print(f"  {'anubis run, patterns matching nothing':34s} {t_bare:7.2f}s {c_bare:7.2f}s  {mb / t_bare:8.0f} MB/s"
              f"   − cat {t_bare - t_cat:+6.2f} s")
        print(f"  {'anubis run, 3 metrics':34s} {t_run:7.2f}s {c_run:7.2f}s  {mb / t_run:8.0f} MB/s"
              f"   − cat {over:+6.2f} s")
        print(f"  {'metric extraction alone':34s} {'':8s} {c_extract:7.2f}s  "
              f"({100 * c_extract / c_run:.0f} % of the 3-metric run's CPU)")
        print(f"  {'first anubis search after a run':34s} {t_search:7.2f}s {'':8s}  (indexes the run's lines, in bulk)")
        print(f"  {'next anubis search':34s} {t_again:7.2f}s")
        print(f"  {'grep -c the word, the log file':34s} {t_grep_word:7.2f}s")
        print(f"  {'sqlite3 CLI, the index query':34s} {t_sqlite:7.2f}s")
        kept = printed.count(b"\n")
        print(f"  anubis logs: {kept:,} lines of {lines:,}; "
              f"anubis search {MARKER}: {'found' if found.returncode == 0 and MARKER in found.stdout else 'NOT FOUND'}")
        if args.megabytes == 100:
            met = over <= 2.0 and mb / t_run >= 50
            print(f"goal: a 100 MB output with 3 metrics within 2 s of the benchmark's own time (>= 50 MB/s): "
                  f"{'met' if met else 'NOT met'} ({over:+.2f} s, {mb / t_run:.0f} MB/s)")
        else:
            print(f"goal: for 100 MB (this run: {mb:.0f} MB): not judged")


if __name__ == "__main__":
    main()
