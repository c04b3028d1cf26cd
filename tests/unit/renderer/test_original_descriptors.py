"""Descriptors shaped like those of the original Anubis (compat/*.toml) validate unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_validation import make_repo, plan

from anubis.cli import cli

COMPAT = Path(__file__).resolve().parent / "compat"
NAMES = sorted(p.stem for p in COMPAT.glob("*.toml"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Every compat descriptor as benchmarks/<name>/descriptor.toml, byte for byte."""
    repo = make_repo(tmp_path)
    for name in NAMES:
        folder = repo / "benchmarks" / name
        folder.mkdir()
        shutil.copyfile(COMPAT / f"{name}.toml", folder / "descriptor.toml")
    src = repo / "benchmarks" / "script-mode" / "src"
    src.mkdir()
    (src / "entrypoint.sh").write_text("#!/bin/sh\nexec python3 \"$(dirname \"$0\")/train.py\" \"$@\"\n")
    (src / "train.py").write_text("print('images/sec: 12.5')\n")
    (src / "entrypoint.sh").chmod(0o755)
    return repo


def test_the_compat_set_is_complete() -> None:
    assert NAMES == [
        "hello-world", "horovod", "inference", "scheduled", "script-mode", "single-node-gpu", "uri-deprecated",
    ]


def test_all_validate_through_the_command_line(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["--repo", str(repo), "validate"])
    assert result.exit_code == 0, result.output
    assert "error" not in result.stderr
    assert result.stdout.splitlines() == [
        f"benchmarks/{name}/descriptor.toml: ok (1 run in {env})"
        for name, env in [
            ("hello-world", "cpu-cluster"), ("horovod", "gpu-cluster"), ("inference", "cpu-cluster"),
            ("scheduled", "cpu-cluster"), ("script-mode", "cpu-cluster"), ("single-node-gpu", "gpu-cluster"),
            ("uri-deprecated", "cpu-cluster"),
        ]
    ]
    assert result.stderr.splitlines() == [
        "benchmarks/uri-deprecated/descriptor.toml:22:1: warning: data.sources[0].uri: 'uri' is deprecated; rename it"
        " to 'src' (it still works)"
    ]


@pytest.mark.parametrize("name", NAMES)
def test_each_validates_alone_as_json(repo: Path, name: str) -> None:
    result = CliRunner().invoke(
        cli, ["--repo", str(repo), "validate", "--output", "json", str(repo / "benchmarks" / name)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [entry] = report["descriptors"]
    assert report["valid"] is True and entry["valid"] is True and len(entry["runs"]) == 1
    warnings = [p for p in entry["problems"] if p["severity"] == "warning"]
    assert [p["field"] for p in warnings] == (["data.sources[0].uri"] if name == "uri-deprecated" else [])
    assert all(p["severity"] == "warning" for p in entry["problems"])


def test_the_files_are_unchanged_by_validation(repo: Path) -> None:
    CliRunner().invoke(cli, ["--repo", str(repo), "validate"])
    for name in NAMES:
        assert (repo / "benchmarks" / name / "descriptor.toml").read_bytes() == (COMPAT / f"{name}.toml").read_bytes()


def _run(repo: Path, name: str):  # type: ignore[no-untyped-def]
    [run] = plan(repo, repo / "benchmarks" / name / "descriptor.toml").runs
    return run


def test_hello_world(repo: Path) -> None:
    run = _run(repo, "hello-world")
    assert run.command == ("python3", "hello_world.py")
    assert run.description == "The smallest possible benchmark: run a script baked into the image and read one accuracy figure from its output."
    assert run.labels == {"task_name": "hello_world"}
    assert run.metrics[0].pattern == r"accuracy=([-+]?\d*\.\d+|\d+)"


def test_script_mode(repo: Path) -> None:
    run = _run(repo, "script-mode")
    assert run.argv == ("bash", "$(BAI_SCRIPTS_PATH)/src/entrypoint.sh", "--epochs=3", "--batch-size=64")
    assert run.script is not None
    assert [(f.path, f.executable) for f in run.script.files] == [("src/entrypoint.sh", True), ("src/train.py", False)]


def test_single_node_gpu_with_several_sources(repo: Path) -> None:
    run = _run(repo, "single-node-gpu")
    assert (run.environment, run.placement.gpus, run.availability_zone) == ("gpu-cluster", 1, "us-east-1a")
    assert [(d.path, str(d.checksum) if d.checksum else None, d.id) for d in run.data] == [
        ("/data/train/shard-000.rec", "md5:5d41402abc4b2a76b9719d911017c592", None),
        ("/data/val", None, None),
        ("/data/labels.txt", None, "labels"),
    ]
    assert run.custom_params == {"region": "us-east-1", "dashboard": "resnet"}


def test_inference(repo: Path) -> None:
    run = _run(repo, "inference")
    assert run.strategy == "inference" and run.server is not None
    assert run.server.ports == (8080, 8081)
    assert run.server.command == ("model-server", "--start", "--models", "resnet=/models/resnet", "--port", "8080")
    assert run.server.readiness_probe is not None and run.server.readiness_probe.path == "/ping"
    assert [m.path for m in run.server.models] == ["/models/resnet"]
    assert [m.name for m in run.server.metrics] == ["requests_served"]
    assert run.server.instance_type == "c5.4xlarge"


def test_horovod_with_only_args(repo: Path) -> None:
    run = _run(repo, "horovod")
    assert (run.strategy, run.num_instances, run.privileged, run.environment) == ("horovod", 2, True, "gpu-cluster")
    assert (run.command, run.args) == ((), ("--model", "resnet101", "--batch-size", "64", "--num-epochs", "2"))


def test_scheduled(repo: Path) -> None:
    assert _run(repo, "scheduled").schedule == "30 2 * * 1-5"


def test_uri_gives_exactly_one_warning(repo: Path) -> None:
    planned = plan(repo, repo / "benchmarks" / "uri-deprecated" / "descriptor.toml")
    assert [w.format() for w in planned.warnings] == [
        "benchmarks/uri-deprecated/descriptor.toml:22:1: warning: data.sources[0].uri: 'uri' is deprecated; rename it"
        " to 'src' (it still works)"
    ]
    assert planned.runs[0].data[0].src == "https://example.com/datasets/mnist.tar.gz"
