"""End-to-end: small benchmark repositories in temporary folders, run with the real `anubis`.

Each test gets a repository with ``environments/local.toml`` (copied from this checkout) and writes
its descriptors into ``benchmarks/``; results, logs and the dataset cache go to temporary folders
through ``ANUBIS_DATA_DIR`` and ``ANUBIS_CACHE_DIR``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass
class Repo:
    root: Path
    data_dir: Path
    cache_dir: Path

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ANUBIS_DATA_DIR=str(self.data_dir),
            ANUBIS_CACHE_DIR=str(self.cache_dir),
            ANUBIS_REPO=str(self.root),
            ANUBIS_CONTAINER_ENGINE="none",
            NO_COLOR="1",
        )
        env.pop("ANUBIS_DEBUG", None)
        return env

    def benchmark(self, name: str, descriptor: str, files: dict[str, str] | None = None) -> Path:
        folder = self.root / "benchmarks" / name
        (folder / "src").mkdir(parents=True, exist_ok=True)
        (folder / "descriptor.toml").write_text(textwrap.dedent(descriptor).lstrip(), encoding="utf-8")
        for relative, text in (files or {}).items():
            (folder / "src" / relative).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return folder

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "anubis", *args]

    def anubis(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture()
def repo(tmp_path: Path) -> Repo:
    root = tmp_path / "repo"
    (root / "environments").mkdir(parents=True)
    shutil.copy(CHECKOUT / "environments" / "local.toml", root / "environments" / "local.toml")
    (root / "benchmarks").mkdir()
    return Repo(root=root, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")


def script_descriptor(
    name: str,
    command: str,
    *,
    metrics: Sequence[tuple[str, str, str | None]] = (("speed", "it/s", r"speed=([0-9.]+)"),),
    extra: str = "",
    timeout: str = "5m",
) -> str:
    """A script-mode descriptor: ``command`` is ml.benchmark_code (use $(BAI_SCRIPTS_PATH))."""
    blocks = []
    for metric, units, pattern in metrics:
        block = f'[[output.metrics]]\nname = "{metric}"\nunits = "{units}"\n'
        if pattern is not None:
            block += f"pattern = '{pattern}'\n"
        blocks.append(block)
    return (
        'spec_version = "0.1.0"\n\n[info]\n'
        f'description = "e2e {name}"\ntimeout = "{timeout}"\n\n[info.labels]\ntask_name = "{name}"\n\n'
        '[hardware]\ninstance_type = "t3.small"\nstrategy = "single_node"\n\n'
        '[env]\ndocker_image = "python:3.11-slim"\n\n'
        f"[ml]\nbenchmark_code = '{command}'\n\n" + "\n".join(blocks) + "\n" + textwrap.dedent(extra)
    )
