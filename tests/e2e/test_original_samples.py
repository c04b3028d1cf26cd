"""Descriptors published by the original Anubis (cases/original/, copied unchanged from
awslabs/benchmark-ai, Apache-2.0) validate and render with the shipped environments, inside a
repository and on their own, through the installed command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

CHECKOUT = Path(__file__).resolve().parents[2]
ORIGINAL = Path(__file__).resolve().parent / "cases" / "original"
NAMES = sorted(p.name for p in ORIGINAL.glob("*.toml"))

# name -> the environment it lands in among the shipped ones
EXPECTED = {
    "executor-hello-world.toml": "cpu-cluster",  # t2.small
    "executor-inference-with-server-and-client-metrics.toml": "gpu-cluster",  # t3.medium client, p3.8xlarge server
    "sample-hello-world-script-mode.toml": "cpu-cluster",
    "sample-horovod.toml": "gpu-cluster",  # 2 x p3.8xlarge
    "sample-inference-benchmark.toml": "cpu-cluster",
    "sample-scheduled-benchmark.toml": "cpu-cluster",
    "sample-single-node-gpu.toml": "gpu-cluster",
}


def anubis(*args: str, cwd: Path, repo: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANUBIS_")}
    env.update({"ANUBIS_DATA_DIR": str(cwd / ".data"), "ANUBIS_CACHE_DIR": str(cwd / ".cache"),
                "ANUBIS_CONTAINER_ENGINE": "none", "NO_COLOR": "1"})
    repo_args = ["--repo", str(repo)] if repo is not None else []
    return subprocess.run([sys.executable, "-m", "anubis", *repo_args, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A benchmarks repository with the shipped environments; each original descriptor in a folder of
    its own under its own (non-standard) file name."""
    root = tmp_path / "repo"
    shutil.copytree(CHECKOUT / "environments", root / "environments")
    for name in NAMES:
        folder = root / "benchmarks" / Path(name).stem
        folder.mkdir(parents=True)
        shutil.copyfile(ORIGINAL / name, folder / name)
    return root


def test_the_cases_are_the_ones_expected() -> None:
    assert NAMES == sorted(EXPECTED)
    for name in NAMES:
        assert (ORIGINAL / name).read_text().startswith("# Copied from awslabs/benchmark-ai ")


def test_each_validates_in_a_repository_with_the_shipped_environments(repo: Path, tmp_path: Path) -> None:
    files = [str(repo / "benchmarks" / Path(n).stem / n) for n in NAMES]
    result = anubis("validate", "--output", "json", *files, cwd=tmp_path)  # from outside the repository
    report = json.loads(result.stdout)
    by_name = {Path(d["descriptor"]).name: d for d in report["descriptors"]}
    assert set(by_name) == set(NAMES)
    for name, entry in by_name.items():
        assert entry["valid"], (name, entry["problems"])
        assert entry["environments"] == [EXPECTED[name]], name
        warnings = {(p["field"], p["message"].split(";")[0]) for p in entry["problems"]}
        if name.startswith("executor-"):  # the executor's form: task_name under [info]
            assert ("info.task_name", "task_name under [info] is deprecated") in warnings
    script = by_name["sample-hello-world-script-mode.toml"]["problems"]
    assert [p["severity"] for p in script] == ["warning"]
    assert "src/ is missing beside the descriptor" in script[0]["message"]
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_renders_within_one_environment(repo: Path, tmp_path: Path) -> None:
    rendered: dict[str, list[dict[str, Any]]] = {}
    for name in NAMES:
        if name == "sample-hello-world-script-mode.toml":
            continue
        path = repo / "benchmarks" / Path(name).stem / name
        out = tmp_path / "out" / name
        result = anubis("render", "--out", str(out), str(path), cwd=tmp_path)
        assert result.returncode == 0, (name, result.stdout + result.stderr)
        [manifest] = out.glob("*/*/*.yaml")
        assert manifest.relative_to(out).parts[0] == EXPECTED[name]
        rendered[name] = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    # the horovod sample: 2 x p3.8xlarge, 4 GPUs each from the catalogue, placed by instance type
    horovod = next(d for d in rendered["sample-horovod.toml"] if d["kind"] == "MPIJob")
    worker = horovod["spec"]["mpiReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 2
    pod = worker["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert pod["nodeSelector"]["node.kubernetes.io/instance-type"] == "p3.8xlarge"
    # the executor's inference case: GPU server and CPU client in one environment; ~ paths under /root
    # (the run's Job, not the Job that fetches its data under the fetcher's account)
    job = next(d for d in rendered["executor-inference-with-server-and-client-metrics.toml"]
               if d["kind"] == "Job" and not d["metadata"]["name"].endswith("-fetch"))
    spec = job["spec"]["template"]["spec"]
    server = next(c for c in spec["initContainers"] if c.get("restartPolicy") == "Always")
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 4
    client = spec["containers"][0]
    assert {m["mountPath"] for m in client["volumeMounts"]} >= {"/root/data/tf-imagenet/train",
                                                              "/root/data/tf-imagenet/validation"}


def test_the_script_mode_sample_without_its_src_fails_to_render_and_run(repo: Path, tmp_path: Path) -> None:
    path = repo / "benchmarks" / "sample-hello-world-script-mode" / "sample-hello-world-script-mode.toml"
    for command in (["render", str(path)], ["run", str(path)]):
        result = anubis(*command, cwd=tmp_path)
        assert result.returncode != 0, command
        assert "src/ is missing beside the descriptor" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr


def test_each_validates_alone_outside_any_repository(tmp_path: Path) -> None:
    """Copied on their own into a folder with no environments/: the built-in local environment."""
    lone = tmp_path / "lone"
    lone.mkdir()
    for name in NAMES:
        shutil.copyfile(ORIGINAL / name, lone / name)
    result = anubis("validate", "--output", "json", *NAMES, cwd=lone)
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {d["descriptor"]: d["environments"] for d in report["descriptors"]} == {n: ["local"] for n in NAMES}
