"""What ``anubis validate`` costs on the inputs of issue 15, beside a plain descriptor measured in the
same run (the reference).

    python bench/validate_hostile.py [--repeat 3]

Each case is a descriptor in a fresh repository (a copy of ``environments/``) checked with
``renderer.planning.check_descriptor``, the code every pull request's ``anubis validate`` runs. For
each: the outcome (runs planned, or the first error), the best wall time of ``--repeat`` tries, and
the growth of this process's peak resident memory. Before the limits of issue 15, the 8-axis matrix
ended in a MemoryError, a 1 MB word took about 2 minutes (now the file limit, 256 KiB, comes first), and the FIFO hung.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from renderer.planning import check_descriptor  # noqa: E402
from schemas.errors import DescriptorError  # noqa: E402

PLAIN = """\
spec_version = "0.1.0"

[info]
description = "A plain benchmark."

[info.labels]
task_name = "t"

[hardware]
instance_type = "c5.xlarge"

[env]
docker_image = "python:3.11"

[ml]
benchmark_code = "python3 -c pass"
"""


def _axes(count: int, width: int) -> str:
    lines = [f'"env.vars.A{i}" = [{", ".join(repr(str(v)) for v in range(width))}]' for i in range(count)]
    return "\n[matrix.axes]\n" + "\n".join(lines) + "\n"


def _write(folder: Path, text: str) -> Path:
    path = folder / "descriptor.toml"
    path.write_text(text)
    return path


CASES: dict[str, Callable[[Path], Path]] = {
    "plain descriptor (reference)": lambda f: _write(f, PLAIN),
    "256-point matrix (the limit)": lambda f: _write(f, PLAIN + _axes(4, 4)),
    "8 axes x 10 values (10^8 points)": lambda f: _write(f, PLAIN + _axes(8, 10)),
    "200 KB benchmark_code word": lambda f: _write(f, PLAIN.replace("-c pass", "x" * 200_000)),
    "descriptor of 1 MB": lambda f: _write(f, PLAIN + "#" * 1_000_000),
    "descriptor linked to /dev/zero": lambda f: (f / "descriptor.toml").symlink_to("/dev/zero") or f / "descriptor.toml",
    "descriptor that is a FIFO": lambda f: os.mkfifo(f / "descriptor.toml") or f / "descriptor.toml",
    "src/ link to /proc/self/environ": lambda f: (
        (f / "src").mkdir(), (f / "src" / "env.txt").symlink_to("/proc/self/environ"), _write(f, PLAIN)
    )[-1],
    "nesting 3000 deep": lambda f: _write(f, PLAIN + "\n[custom_params]\nx = " + "[" * 3000 + "]" * 3000 + "\n"),
}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':<36} {'best s':>8} {'peak +MiB':>9}  outcome")
    for name, make in CASES.items():
        best = float("inf")
        outcome = ""
        before = _peak_mib()
        for _ in range(args.repeat):
            tmp = Path(tempfile.mkdtemp(prefix="anubis-bench-"))
            try:
                repo = tmp / "repo"
                shutil.copytree(ROOT / "environments", repo / "environments")
                folder = repo / "benchmarks" / "b"
                folder.mkdir(parents=True)
                path = make(folder)
                start = time.perf_counter()
                try:
                    outcome = f"{len(check_descriptor(path, repo_root=repo).runs)} run(s)"
                except DescriptorError as e:
                    outcome = "refused: " + e.problems[0].message[:70]
                best = min(best, time.perf_counter() - start)
            finally:
                shutil.rmtree(tmp)
        print(f"{name:<36} {best:>8.3f} {_peak_mib() - before:>9.1f}  {outcome}")


if __name__ == "__main__":
    main()
