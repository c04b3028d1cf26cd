"""Rendering speed: a generated repository of 1,000 descriptors (one in ten with a 6-point matrix) → manifests.

``anubis render`` as the command does it (read and check every descriptor, plan, render each run's
manifests, the Argo CD applications, the dashboards and the alert rules, write the files), beside PyYAML's
C dumper (``CSafeDumper``) dumping exactly the documents render wrote — every file read back with the
C loader, outside the timing — and writing them to files of their own. Each side runs in a fresh
process (so the render pays what a command pays: template compilation, first-use caches), imports done
before the clock starts; the sides alternate and each figure is the median of ``--rounds``. Goal (issue 16):
render at ≥ 0.5× the C dumper's rate.

Then, for information: a second render over the written manifests (nothing changes, nothing is written),
and the start-up of the command line (``anubis --help``, ``anubis validate FILE``) beside
``check-jsonschema`` on the same file.

    python bench/render.py [--descriptors 1000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.5

TEMPLATE = """spec_version = "0.1.0"
[info]
description = "generated benchmark {i}"
[info.labels]
task_name = "gen-{i}"
team = "t{team}"
[hardware]
instance_type = "{instance}"
[env]
docker_image = "ghcr.io/example/bench:{i}"
[env.vars]
SEED = "{i}"
[ml]
benchmark_code = "python3 /app/train.py --model m{i}"
args = "--epochs 3"
[[data.sources]]
src = "s3://datasets/set-{team}.tar"
path = "/data/set.tar"
md5 = "{md5}"
[[output.metrics]]
name = "throughput"
units = "img/s"
pattern = 'throughput=([0-9.]+)'
[[output.metrics]]
name = "loss"
units = "nats"
pattern = 'loss=([0-9.]+)'
"""

MATRIX = """
[matrix.axes]
"env.vars.BATCH" = ["16", "32", "64"]
"hardware.instance_type" = ["c5.xlarge", "c5.2xlarge"]
"""


def generate(repo: Path, count: int) -> None:
    shutil.copytree(ROOT / "environments", repo / "environments")
    shutil.copy(ROOT / "anubis.toml", repo / "anubis.toml")  # the repository URL the Argo CD objects name
    for i in range(count):
        folder = repo / "benchmarks" / f"gen-{i:04d}"
        folder.mkdir(parents=True)
        text = TEMPLATE.format(
            i=i, team=i % 7, instance=("c5.xlarge", "t3.small", "c5.4xlarge")[i % 3], md5=f"{i:032x}"
        )
        if i % 10 == 0:
            text += MATRIX
        (folder / "descriptor.toml").write_text(text)


# ---- the two sides, each in a process of its own ----------------------------------------------------------


def child_render(repo: Path, out: Path) -> dict[str, float | int]:
    """``anubis render --out OUT`` as the command runs it (renderer and writer), timed after the imports."""
    from anubis.rendering import render_repository, write_repository

    started, cpu = time.perf_counter(), time.process_time()
    rendered = render_repository(repo)
    changes = write_repository(out, rendered)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": elapsed, "cpu": cpu, "runs": len(rendered.runs), "files": len(rendered.files),
            "written": len(changes.created) + len(changes.changed)}


def child_dump(out: Path, target: Path) -> dict[str, float | int]:
    """The C dumper on the documents of every file under ``out`` (read outside the timing), each file's
    documents dumped and written to ``target``."""
    import yaml

    files = sorted(p for p in out.rglob("*.yaml"))
    documents = [
        (path.relative_to(out), [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) if d])
        for path in files
    ]
    for folder in {rel.parent for rel, _ in documents}:
        (target / folder).mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), time.process_time()
    for rel, docs in documents:
        text = yaml.dump_all(docs, Dumper=yaml.CSafeDumper, sort_keys=True)
        with open(target / rel, "w", encoding="utf-8") as f:
            f.write(text)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": elapsed, "cpu": cpu, "files": len(files), "objects": sum(len(d) for _, d in documents)}


def _child(args: list[str]) -> dict[str, float | int]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench child {args[0]} failed:\n{done.stderr}")
    result: dict[str, float | int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def wall(cmd: list[str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--descriptors", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="300 descriptors, no start-up figures (< 1 min)")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "A", "B"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, a, b = args.child
        sys.path.insert(0, str(ROOT))
        result = child_render(Path(a), Path(b)) if side == "render" else child_dump(Path(a), Path(b))
        print(json.dumps(result))
        return
    count = 300 if args.quick else args.descriptors
    with tempfile.TemporaryDirectory() as tmp:
        repo, scratch = Path(tmp) / "repo", Path(tmp) / "scratch"
        generate(repo, count)
        rendered: list[dict[str, float | int]] = []
        dumped: list[dict[str, float | int]] = []
        agains: list[dict[str, float | int]] = []
        for index in range(args.rounds):  # alternate, so that both sides see the same machine
            out, target = scratch / f"manifests-{index}", scratch / f"dumped-{index}"
            rendered.append(_child(["render", str(repo), str(out)]))
            dumped.append(_child(["dump", str(out), str(target)]))
            agains.append(_child(["render", str(repo), str(out)]))
        again = {"seconds": statistics.median(a["seconds"] for a in agains), "written": max(a["written"] for a in agains)}
        render_s = statistics.median(r["seconds"] for r in rendered)
        dump_s = statistics.median(d["seconds"] for d in dumped)
        runs, files, objects = rendered[0]["runs"], rendered[0]["files"], dumped[0]["objects"]
        ratio = dump_s / render_s
        cpu_ratio = statistics.median(d["cpu"] for d in dumped) / statistics.median(r["cpu"] for r in rendered)
        print(f"descriptors: {count}, runs: {runs}, files: {files}, objects: {objects}; medians of {args.rounds} rounds,"
              " each side in a fresh process")
        print(f"anubis render (check, plan, render, write):  {render_s:6.2f} s, {runs / render_s:6.0f} runs/s")
        print(f"PyYAML CSafeDumper, same documents, written:  {dump_s:6.2f} s, {runs / dump_s:6.0f} runs/s")
        print(f"anubis render again, nothing changed:         {again['seconds']:6.2f} s ({again['written']} files written)")
        print(f"rate, anubis render / C dumper:               {ratio:.2f}x (in CPU time: {cpu_ratio:.2f}x)")
        print(f"goal: >= {GOAL}x the C dumper's rate at {count} descriptors: {'met' if ratio >= GOAL else 'NOT met'}")

        if args.quick:
            return
        sample = repo / "benchmarks" / "gen-0001" / "descriptor.toml"
        anubis = [sys.executable, "-m", "anubis", "--repo", str(repo)]
        print()
        print(f"anubis --help:                 {wall(anubis + ['--help']) * 1000:.0f} ms")
        print(f"anubis validate FILE:          {wall(anubis + ['validate', str(sample)]) * 1000:.0f} ms")
        checker = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
        if Path(checker).exists():
            schema = ROOT / "schemas" / "descriptor.schema.json"
            print(f"check-jsonschema (same file):  {wall([checker, '--schemafile', str(schema), str(sample)]) * 1000:.0f} ms")
        else:
            print("check-jsonschema: not installed (pip install check-jsonschema)")


if __name__ == "__main__":
    main()
