"""How fast is log → metric extraction? ``python bench/extract.py [--mb 200] [--repeat 3] [--quick]``

Writes a log of realistic training output (tqdm progress bars redrawn with ``\\r``, epoch summary
lines, framework noise, a few emitted events; 3.9 M values in 200 MB) to a temporary file, then reads it, each
reader ``--repeat`` times interleaved (the median is printed, in CPU seconds: the machine may be
shared, and wall time then measures the neighbours too; wall seconds are printed beside), with:

- ``cat`` and ``grep -cE`` with the same three patterns (one process, ``LC_ALL=C``): the yardsticks of
  reading the bytes and of a C scanner (which only decides whether each ``\\n``-line matches);
- ``MetricExtractor`` (controller/extraction.py), fed 1 MiB chunks: the figure (its three patterns
  run on the C scanner, controller/_linescan.c, when it is built);
- the same without the C scanner (``native=False``): the pure Python path (``re``'s ``findall``,
  ``float()``), what a machine without a C compiler at install time gets;
- the same with every pattern on RE2 (``use_re=False``): what the linear-time engine costs when no
  pattern has a shape that ``re`` or the scanner runs in linear time (see controller/matching.py);
- the same with the throughput pattern written ``([0-9.]+)it/s`` (no literal before the group: RE2);
- the same with the accuracy pattern alone (3,856 values): the rate of scanning, without the cost of
  turning millions of matches into numbers;
- the controller's path: the log as the Kubernetes API returns it with ``timestamps=true``, read in
  64 KiB chunks through ``StampedText`` into the same extractor (recording.py);
- a naive reader (every line, every pattern, ``re.finditer`` in a Python loop), whose values the
  extractor's must equal;
- hyperscan, when it is installed (``pip install hyperscan``; not a dependency), reporting every
  match through its Python callback: what it would cost as a prefilter;

then how ``iter_log_lines`` scales on one line without ``\\n`` of 5, 10, 20 and 40 MB (linear: the
time doubles with the size), and the peak memory of a process that extracts the log.

``--against REV`` (default ``4da5eac``, the commit before issue 16's work) adds a row for
``controller/extraction.py`` as it was at the git revision REV, loaded beside the current tree, fed
the same way: the pre-issue rate the goal is measured against. ``--quick``: a 50 MB log, no naive
loop, no line-scaling and memory runs (about a minute).

The goals (issue 16) are printed last, each as ``goal: … met`` or ``NOT met``: at least 4x the
pre-issue rate, at least 0.3x ``grep -cE``'s rate, both in CPU seconds of the same run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.extraction import MetricExtractor  # noqa: E402
from controller.kubernetes.stamps import StampedText, iter_log_lines  # noqa: E402
from schemas.runspec import MetricSpec  # noqa: E402

METRICS = (
    MetricSpec("loss", "", r"loss=([0-9.]+)", "lower"),
    MetricSpec("throughput", "it/s", r", ([0-9.]+)it/s", "higher"),
    MetricSpec("accuracy", "%", r"val_accuracy: ([0-9.]+)", "higher"),
)
SLOW_METRICS = (*METRICS[:1], MetricSpec("throughput", "it/s", r"([0-9.]+)it/s", "higher"), *METRICS[2:])
NOISE = (
    "W1201 12:00:00.123456 140735 dataset.cc:{n}] Prefetch buffer of {k} elements drained; consider raising it\n",
    "INFO:torch.distributed:[Rank 0] step {n}: allreduce bucket {k} of 25 ready, 41943040 bytes\n",
    "/usr/lib/python3/dist-packages/torch/utils/data/dataloader.py:{k}: UserWarning: worker {n} is slow\n",
    "[2024-05-01 12:00:{k:02d}] gpu0 util=97% mem=31012MiB/81559MiB temp=64C power=412W step={n}\n",
)
CHUNK = 1 << 20
PRE_ISSUE = "4da5eac"  # the commit before issue 16's work on extraction
RECORDED_PRE_ISSUE = (87.9, "docs/performance.md, 2026-12-06: 4da5eac's extractor on the 200 MB log, 2-core VM")


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


def write_stamped(source: Path, path: Path) -> None:
    """The log as ``GET …/log?timestamps=true`` returns it: each ``\\n``-line after its time (1 ms apart)."""
    start = datetime(2024, 5, 1, tzinfo=UTC).timestamp()
    with source.open("rb") as f, path.open("wb") as out:
        for i, line in enumerate(f):
            stamp = datetime.fromtimestamp(start + i / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z ")
            out.write(stamp.encode() + line)


Counts = dict[str, int]


def run_extractor(path: Path, metrics: tuple[MetricSpec, ...] = METRICS, *, use_re: bool = True,
                  native: bool = True) -> Counts:
    extractor = MetricExtractor(metrics, use_re=use_re, native=native)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            extractor.feed(chunk)
    extractor.close()
    return _counts(extractor)


def load_extractor_at(revision: str) -> type | None:
    """``MetricExtractor`` of ``controller/extraction.py`` at a git revision, or None (said why)."""
    root = Path(__file__).resolve().parents[1]
    shown = subprocess.run(["git", "show", f"{revision}:controller/extraction.py"], cwd=root, capture_output=True,
                           text=True, check=False)
    if shown.returncode != 0:
        print(f"--against {revision}: {shown.stderr.strip()}")
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(shown.stdout)
    name = f"extraction_at_{revision.replace('-', '_').replace('~', '_').replace('^', '_')}"
    spec = importlib.util.spec_from_file_location(name, f.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - an old module that does not load beside this tree
        print(f"--against {revision}: its extraction.py does not load beside this tree ({e})")
        return None
    finally:
        os.unlink(f.name)
    extractor: type = module.MetricExtractor
    return extractor


def run_old_extractor(extractor: type, path: Path) -> Counts:
    old = extractor(METRICS)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            old.feed(chunk)
    old.close()
    return {name: len(result.values) for name, result in old.results().items()}


def hyperscan_reader(path: Path) -> Callable[[], object] | None:
    """Hyperscan (``pip install hyperscan``, optional) reporting every match of the three patterns
    through its Python callback, 1 MiB at a time: what it would cost as a prefilter. None if absent."""
    try:
        import hyperscan
    except ImportError:
        return None
    database = hyperscan.Database()
    patterns = [(m.pattern or "").encode() for m in METRICS]
    database.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns))

    def scan() -> object:
        found = [0]

        def on_match(*_: object) -> None:
            found[0] += 1

        with path.open("rb") as f:
            while chunk := f.read(CHUNK):
                database.scan(chunk.replace(b"\r", b"\n"), match_event_handler=on_match)
        return f"{found[0]} match ends reported (no groups)"

    return scan


def run_controller_path(stamped: Path) -> Counts:
    """recording.RunRecorder._extract's loop over a log read from the API in 64 KiB chunks."""
    extractor = MetricExtractor(METRICS)
    reader = StampedText()
    with stamped.open("rb") as f:
        while chunk := f.read(65536):
            for _, text in reader.feed(chunk):
                extractor.feed(text)
    for _, text in reader.close():
        extractor.feed(text)
    extractor.close()
    return _counts(extractor)


def _counts(extractor: MetricExtractor) -> Counts:
    counts: Counts = {}
    for name, result in extractor.results().items():
        counts[name] = len(result.values) + result.values_dropped
    return counts


def run_naive(path: Path) -> Counts:
    patterns = [(m.name, re.compile(m.pattern or "")) for m in METRICS]
    values: dict[str, list[float]] = {m.name: [] for m in METRICS}
    with path.open("r", encoding="utf-8", errors="replace", newline=None) as f:  # \r ends lines too
        for line in f:
            for name, pattern in patterns:
                for m in pattern.finditer(line):
                    try:
                        values[name].append(float(m.group(1)))
                    except ValueError:
                        pass
    return {name: len(found) for name, found in values.items()}


def run_command(args: list[str], *, keep_output: bool) -> str:
    """``cat`` writes to /dev/null; ``grep`` to a pipe, since GNU grep stops at the first match when its
    output is /dev/null."""
    out = subprocess.PIPE if keep_output else subprocess.DEVNULL
    done = subprocess.run(args, stdout=out, env={**os.environ, "LC_ALL": "C"}, check=False)
    return done.stdout.decode(errors="replace").strip() if keep_output else "-"


def grep_args(path: Path) -> list[str] | None:
    grep = shutil.which("grep")
    if grep is None:
        return None
    args = [grep, "-cE"]
    for m in METRICS:
        args += ["-e", m.pattern or ""]
    return [*args, str(path)]


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (cat, grep)."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def timed(readers: list[tuple[str, Callable[[], object]]], repeat: int) -> dict[str, tuple[float, float, object]]:
    """Median CPU and wall seconds of each reader, run in turns (so that load on the machine hits all
    alike). CPU time is the figure: on a shared machine, wall time measures the neighbours too."""
    cpu: dict[str, list[float]] = {name: [] for name, _ in readers}
    wall: dict[str, list[float]] = {name: [] for name, _ in readers}
    notes: dict[str, object] = {}
    for _ in range(repeat):
        for name, reader in readers:
            started, started_cpu = time.perf_counter(), _cpu()
            notes[name] = reader()
            cpu[name].append(_cpu() - started_cpu)
            wall[name].append(time.perf_counter() - started)
    return {name: (statistics.median(cpu[name]), statistics.median(wall[name]), notes[name]) for name, _ in readers}


def line_scaling() -> list[tuple[int, float]]:
    """CPU seconds ``iter_log_lines`` takes over one line of N MB without ``\\n``, fed 64 KiB chunks."""
    piece = b"\rEpoch 1: 50%|#####     | 250/500 [00:10<00:30, 23.45it/s, loss=1.2345]" * 900  # ~64 KiB
    out: list[tuple[int, float]] = []
    for mb in (5, 10, 20, 40):
        chunks = (piece for _ in range(mb * 1_000_000 // len(piece)))
        started = time.process_time()
        for _ in iter_log_lines(chunks):
            pass
        out.append((mb, time.process_time() - started))
    return out


def peak_rss_of_extraction(path: Path) -> tuple[float, float]:
    """Peak RSS (MiB, Linux) of a fresh process that extracts ``path``, and of one that only imports
    the extractor: the extractor's own memory is the difference."""
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and exec, so a child would report ours.
    code = ("import re, sys; sys.path.insert(0, {root!r}); sys.argv = ['x']; import extract; {work}; "
            "print(int(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)) / 1024)")
    root = str(Path(__file__).resolve().parent)
    peaks = []
    for work in (f"extract.run_extractor(extract.Path({str(path)!r}))", "pass"):
        done = subprocess.run([sys.executable, "-c", code.format(root=root, work=work)], capture_output=True,
                              text=True, check=True)
        peaks.append(float(done.stdout.strip()))
    return peaks[0], peaks[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the generated log in MB (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each reader; the median is printed")
    parser.add_argument("--against", metavar="REV", default=PRE_ISSUE,
                        help=f"also run controller/extraction.py as of this git revision (default {PRE_ISSUE})")
    parser.add_argument("--quick", action="store_true", help="a 50 MB log; no naive loop, line scaling or memory runs")
    args = parser.parse_args()
    if args.quick:
        args.mb = min(args.mb, 50)
    old = load_extractor_at(args.against) if args.against else None
    from controller.matching import native_scanner

    print("C scanner (controller/_linescan.c): " + ("built" if native_scanner() else "NOT built: pip install -e ."))
    with tempfile.TemporaryDirectory(prefix="anubis-bench-") as tmp:
        path = Path(tmp) / "train.log"
        write_log(path, args.mb * 1_000_000)
        stamped = Path(tmp) / "train.stamped.log"
        write_stamped(path, stamped)
        mb = path.stat().st_size / 1e6
        print(f"log: {mb:.0f} MB ({stamped.stat().st_size / 1e6:.0f} MB with the API's timestamps), "
              f"{len(METRICS)} patterns: " + ", ".join(repr(m.pattern) for m in METRICS))
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
        readers: list[tuple[str, Callable[[], object]]] = [
            ("cat", lambda: run_command(["cat", str(path)], keep_output=False))]
        grep = grep_args(path)
        if grep is not None:
            readers.append(("grep -cE (3 patterns)", lambda: run_command(grep, keep_output=True) + " \\n-lines match"))
        readers += [
            ("MetricExtractor", lambda: run_extractor(path)),
            ("MetricExtractor, no C scanner", lambda: run_extractor(path, native=False)),
            ("MetricExtractor, RE2 only", lambda: run_extractor(path, use_re=False, native=False)),
            ("MetricExtractor, '([0-9.]+)it/s'", lambda: run_extractor(path, SLOW_METRICS)),
            ("MetricExtractor, 1 sparse pattern", lambda: run_extractor(path, METRICS[2:])),
            ("controller path (stamped, 64 KiB)", lambda: run_controller_path(stamped)),
        ]
        hyperscan = hyperscan_reader(path)
        if hyperscan is not None:
            readers.append(("hyperscan, a callback per match", hyperscan))
        if old is not None:
            readers.append((f"MetricExtractor at {args.against}", lambda: run_old_extractor(old, path)))
        results = timed(readers, args.repeat)
        if not args.quick:
            results.update(timed([("naive per-line loop", lambda: run_naive(path))], 1))
        print(f"{'reader':<36} {'MB/s':>8}  {'CPU s':>7}  {'wall s':>7}  found")
        for name, (seconds, wall, note) in results.items():
            print(f"{name:<36} {mb / seconds:8.1f}  {seconds:7.2f}  {wall:7.2f}  {note}")
        figure = results["MetricExtractor"][0]
        for reference in ("cat", "grep -cE (3 patterns)", "naive per-line loop", f"MetricExtractor at {args.against}",
                          "MetricExtractor, no C scanner"):
            if reference in results:
                print(f"MetricExtractor / {reference}: {results[reference][0] / figure:.2f}x its rate")
        print(f"RE2 for every pattern (no scanner, no re): {results['MetricExtractor, RE2 only'][0] / figure:.2f}x the"
              f" time; against the pure Python path: "
              f"{results['MetricExtractor, RE2 only'][0] / results['MetricExtractor, no C scanner'][0]:.2f}x")
        controller = results["controller path (stamped, 64 KiB)"][0]
        print(f"controller path / local path: {figure / controller:.2f}x the local rate "
              f"(it also reads {stamped.stat().st_size / path.stat().st_size - 1:.0%} more bytes)")
        ours = results["MetricExtractor"][2]
        naive_agrees = _agree(ours, results["naive per-line loop"][2]) if "naive per-line loop" in results else "-"
        print(f"values agree: without the scanner {ours == results['MetricExtractor, no C scanner'][2]}, with RE2"
              f" only {ours == results['MetricExtractor, RE2 only'][2]}, with the controller"
              f" path {ours == results['controller path (stamped, 64 KiB)'][2]}, with the naive loop {naive_agrees}")
        if not args.quick:
            peak, bare = peak_rss_of_extraction(path)
            print(f"peak RSS of a process extracting the log: {peak:.0f} MiB, of one importing the extractor only:"
                  f" {bare:.0f} MiB (the log is {mb:.0f} MB)")
        rate = mb / figure
        old_name = f"MetricExtractor at {args.against}"
        if old_name in results:
            before, source = mb / results[old_name][0], f"{args.against}'s extractor, this run"
        else:
            before, source = RECORDED_PRE_ISSUE[0], f"recorded, not this run: {RECORDED_PRE_ISSUE[1]}"
        print(f"goal: >= 4x the pre-issue rate: {rate:.1f} MB/s = {rate / before:.2f}x {before:.1f} MB/s ({source}):"
              f" {'met' if rate >= 4 * before else 'NOT met'}")
        if "grep -cE (3 patterns)" in results:
            grep_rate = mb / results["grep -cE (3 patterns)"][0]
            print(f"goal: >= 0.3x grep -cE: {rate:.1f} MB/s = {rate / grep_rate:.2f}x grep's {grep_rate:.1f} MB/s:"
                  f" {'met' if rate >= 0.3 * grep_rate else 'NOT met'}")
    if not args.quick:
        print("iter_log_lines over one line without \\n: "
              + ", ".join(f"{mb} MB {seconds:.2f} s" for mb, seconds in line_scaling()))


def _agree(ours: object, naive: object) -> bool:
    assert isinstance(ours, dict) and isinstance(naive, dict)
    return all(ours.get(name) == count for name, count in naive.items())


if __name__ == "__main__":
    main()
