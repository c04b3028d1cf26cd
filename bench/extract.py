"""How fast is log → metric extraction? ``python bench/extract.py [--mb 200]``

Writes a log of realistic training output (tqdm progress bars redrawn with ``\\r``, epoch summary
lines, framework noise, a few emitted events) to a temporary file, then reads it with:

- ``MetricExtractor`` (controller/extraction.py), fed 1 MiB chunks;
- a naive reader: every line, every pattern, ``re.finditer`` in a Python loop;
- ``grep -cE`` with the same three patterns (one process), as the yardstick of a C scanner.

and prints MB/s for each, with the ratios. All three are measured in the same run on the same file.

A last row reads the file again with the throughput pattern written ``([0-9.]+)it/s``: a pattern that
starts with a character class makes Python's ``re`` try every digit of the log, and that one pattern
then sets the pace. Starting a pattern with a literal (``, ([0-9.]+)it/s``) is the cure.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.extraction import MetricExtractor  # noqa: E402
from schemas.runspec import MetricSpec  # noqa: E402

METRICS = (
    MetricSpec("loss", "", r"loss=([0-9.]+)", "lower"),
    MetricSpec("throughput", "it/s", r", ([0-9.]+)it/s", "higher"),
    MetricSpec("accuracy", "%", r"val_accuracy: ([0-9.]+)", "higher"),
)
NOISE = (
    "W1201 12:00:00.123456 140735 dataset.cc:{n}] Prefetch buffer of {k} elements drained; consider raising it\n",
    "INFO:torch.distributed:[Rank 0] step {n}: allreduce bucket {k} of 25 ready, 41943040 bytes\n",
    "/usr/lib/python3/dist-packages/torch/utils/data/dataloader.py:{k}: UserWarning: worker {n} is slow\n",
    "[2024-05-01 12:00:{k:02d}] gpu0 util=97% mem=31012MiB/81559MiB temp=64C power=412W step={n}\n",
)


def write_log(path: Path, target_bytes: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    written = 0
    epoch = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        while written < target_bytes:
            parts: list[str] = []
            steps = 500
            for step in range(1, steps + 1):
                pct = step * 100 // steps
                bar = "#" * (pct // 10)
                parts.append(
                    f"\rEpoch {epoch}: {pct:3d}%|{bar:<10}| {step}/{steps} [00:{step % 60:02d}<00:30,"
                    f" {rng.uniform(5, 60):.2f}it/s, loss={rng.uniform(0.1, 2.5):.4f}, lr=0.001]"
                )
                if step % 5 == 0:
                    parts.append("\n" + NOISE[step % len(NOISE)].format(n=step, k=rng.randrange(100)))
            parts.append(f"\nEpoch {epoch} done: val_loss: {rng.random():.4f} val_accuracy: {rng.random():.4f}\n")
            parts.append(f'ANUBIS_METRICS {{"epoch_time": {rng.uniform(30, 40):.3f}}}\n')
            block = "".join(parts)
            f.write(block)
            written += len(block)
            epoch += 1
    return written


SLOW_METRICS = (*METRICS[:1], MetricSpec("throughput", "it/s", r"([0-9.]+)it/s", "higher"), *METRICS[2:])


def run_extractor(path: Path, metrics: tuple[MetricSpec, ...] = METRICS) -> tuple[float, dict[str, int]]:
    extractor = MetricExtractor(metrics)
    started = time.perf_counter()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            extractor.feed(chunk)
    extractor.close()
    elapsed = time.perf_counter() - started
    return elapsed, {name: len(m.values) for name, m in extractor.results().items()}


def run_naive(path: Path) -> tuple[float, dict[str, int]]:
    patterns = [(m.name, re.compile(m.pattern or "")) for m in METRICS]
    counts = {m.name: 0 for m in METRICS}
    values: dict[str, list[float]] = {m.name: [] for m in METRICS}
    started = time.perf_counter()
    with path.open("r", encoding="utf-8", errors="replace", newline=None) as f:  # \r ends lines too
        for line in f:
            for name, pattern in patterns:
                for m in pattern.finditer(line):
                    try:
                        values[name].append(float(m.group(1)))
                    except ValueError:
                        pass
    elapsed = time.perf_counter() - started
    for name in counts:
        counts[name] = len(values[name])
    return elapsed, counts


def run_grep(path: Path) -> tuple[float, str] | None:
    grep = shutil.which("grep")
    if grep is None:
        return None
    args = [grep, "-cE"]
    for m in METRICS:
        args += ["-e", m.pattern or ""]
    started = time.perf_counter()
    done = subprocess.run([*args, str(path)], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    elapsed = time.perf_counter() - started
    return elapsed, done.stdout.strip() + " matching lines (grep counts \\n-lines)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the generated log in MB (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="anubis-bench-") as tmp:
        path = Path(tmp) / "train.log"
        size = write_log(path, args.mb * 1_000_000)
        mb = path.stat().st_size / 1e6
        print(f"log: {mb:.0f} MB, {len(METRICS)} patterns: " + ", ".join(repr(m.pattern) for m in METRICS))
        rows: list[tuple[str, float, str]] = []
        elapsed, counts = run_extractor(path)
        rows.append(("MetricExtractor (1 MiB chunks)", elapsed, str(counts)))
        naive_elapsed, naive_counts = run_naive(path)
        rows.append(("naive per-line per-pattern loop", naive_elapsed, str(naive_counts)))
        grep = run_grep(path)
        if grep is not None:
            rows.append(("grep -cE (one process, 3 patterns)", grep[0], grep[1]))
        slow_elapsed, slow_counts = run_extractor(path, SLOW_METRICS)
        rows.append(("MetricExtractor, '([0-9.]+)it/s'", slow_elapsed, str(slow_counts)))
        for name, seconds, note in rows:
            print(f"{name:<38} {mb / seconds:8.1f} MB/s  {seconds:7.2f} s  {note}")
        print(f"MetricExtractor / naive loop: {naive_elapsed / elapsed:.1f}x faster")
        if grep is not None:
            print(f"MetricExtractor / grep -cE:   {grep[0] / elapsed:.2f}x (grep is {elapsed / grep[0]:.1f}x faster)")
        else:
            print("grep not found: its row is left out")
        same = all(counts[m.name] == naive_counts[m.name] for m in METRICS)
        print(f"values agree with the naive loop: {same}; bytes written {size}")


if __name__ == "__main__":
    main()
