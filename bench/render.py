"""Rendering speed: a generated repository of 1,000 descriptors (some with matrices) → manifests.

Prints runs rendered per second (validation + planning + templates + the Grafana dashboards, as
`anubis render` does them), and the ratio to serialising the same objects (the runs' manifests and
the dashboards' ConfigMaps) with PyYAML's C dumper, measured in the same run. Goal (issue 16): anubis
render at ≥ 0.5× the C dumper's rate.
Then the start-up cost of the command line: `anubis --help` and `anubis validate FILE` wall time
beside `check-jsonschema --schemafile schemas/descriptor.schema.json FILE` on the same file.

    python bench/render.py [--descriptors 1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from renderer.dashboards import render_dashboards  # noqa: E402
from renderer.manifests import render_run  # noqa: E402
from renderer.planning import Catalog, check_descriptor, find_descriptors  # noqa: E402

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
    for i in range(count):
        folder = repo / "benchmarks" / f"gen-{i:04d}"
        folder.mkdir(parents=True)
        text = TEMPLATE.format(
            i=i, team=i % 7, instance=("c5.xlarge", "t3.small", "c5.4xlarge")[i % 3], md5=f"{i:032x}"
        )
        if i % 10 == 0:
            text += MATRIX
        (folder / "descriptor.toml").write_text(text)


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        generate(repo, args.descriptors)
        catalog = Catalog(repo)
        started = time.perf_counter()
        rendered = []
        specs = []
        for descriptor in find_descriptors([], repo):
            planned = check_descriptor(descriptor, repo_root=repo, catalog=catalog)
            for spec in planned.runs:
                specs.append(spec)
                rendered.append(render_run(spec, catalog.get(spec.environment), {}))
        dashboards = render_dashboards(specs)
        elapsed = time.perf_counter() - started
        runs = len(rendered)
        documents = [r.objects for r in rendered]  # parsed outside the timings
        documents += [[d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d] for text in dashboards.values()]
        objects = [obj for document in documents for obj in document]
        started = time.perf_counter()
        for document in documents:
            yaml.dump_all(document, Dumper=yaml.CSafeDumper, sort_keys=True)
        dump_elapsed = time.perf_counter() - started
        print(f"descriptors: {args.descriptors}, runs: {runs}, objects: {len(objects)}")
        print(f"anubis render (validate + plan + templates + dashboards): {elapsed:.2f} s, {runs / elapsed:.0f} runs/s")
        print(f"PyYAML CSafeDumper on the same objects:                   {dump_elapsed:.2f} s, {runs / dump_elapsed:.0f} runs/s")
        print(f"rate, anubis render / C dumper:                           {dump_elapsed / elapsed:.2f}x (goal ≥ 0.5x)")

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
