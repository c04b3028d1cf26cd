"""Container engine detection (real programs on a PATH of our own) and the `docker run` line."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.local.containers import ContainerCommand, ContainerEngine, Mount, detect_engine


def fake_engine(folder: Path, name: str, script: str) -> None:
    program = folder / name
    program.write_text(f"#!/bin/sh\n{script}\n")
    program.chmod(0o755)


@pytest.fixture()
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


def test_cli_without_engine_is_no_engine(bin_dir: Path) -> None:
    fake_engine(bin_dir, "docker", "echo 'Cannot connect to the Docker daemon' >&2; exit 1")
    assert detect_engine() is None


def test_hanging_engine_is_no_engine(bin_dir: Path) -> None:
    fake_engine(bin_dir, "docker", "exec sleep 30")
    assert detect_engine(timeout=0.5) is None


def test_working_engine_and_preferences(bin_dir: Path) -> None:
    fake_engine(bin_dir, "docker", "exit 0")
    fake_engine(bin_dir, "podman", "exit 0")
    assert detect_engine() == ContainerEngine("docker", str(bin_dir / "docker"))
    assert detect_engine("podman") == ContainerEngine("podman", str(bin_dir / "podman"))
    assert detect_engine("none") is None


def test_nothing_installed(bin_dir: Path) -> None:
    assert detect_engine() is None


def test_this_machine_detection_agrees_with_docker_info() -> None:
    """Whatever this machine has: detection matches what `docker info` says, quickly (3 s at most)."""
    import shutil
    import subprocess

    docker = shutil.which("docker")
    works = False
    if docker:
        try:
            works = subprocess.run([docker, "info"], capture_output=True, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            works = False
    engine = detect_engine("docker")
    assert (engine is not None) == works


def test_run_line() -> None:
    command = ContainerCommand(
        engine=ContainerEngine("docker", "/usr/bin/docker"),
        name="anubis-x-output",
        image="python:3.11-slim",
        command=("python3", "/opt/anubis/scripts/train.py"),
        env={"B": "2", "A": "1"},
        mounts=(Mount(Path("/cache/k"), "/data/train.csv"), Mount(Path("/exec"), "/anubis/execution", read_only=False)),
        extended_shm=True,
        gpus=1,
    )
    assert command.argv() == [
        "/usr/bin/docker", "run", "--rm", "--name", "anubis-x-output", "--init", "--network", "host",
        "--shm-size", "1g", "--gpus", "all",
        "-v", "/cache/k:/data/train.csv:ro", "-v", "/exec:/anubis/execution",
        "-e", "A=1", "-e", "B=2",
        "python:3.11-slim", "python3", "/opt/anubis/scripts/train.py",
    ]
    assert command.kill_argv() == ["/usr/bin/docker", "kill", "anubis-x-output"]
