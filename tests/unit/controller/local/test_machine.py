"""Reproducibility facts: this machine, and a git repository's commit and dirtiness."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from controller.local.machine import machine_facts, source_facts


def test_machine_facts() -> None:
    facts = machine_facts()
    assert facts.cpu_count == os.cpu_count()
    assert facts.memory_bytes and facts.memory_bytes > 0
    assert facts.python_version.count(".") == 2
    assert isinstance(facts.gpus, tuple)


def test_source_facts(tmp_path: Path) -> None:
    assert source_facts(tmp_path).commit is None
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    clean = source_facts(tmp_path)
    assert (clean.commit, clean.dirty, clean.branch) == (head, False, "main")
    (tmp_path / "f").write_text("2")
    assert source_facts(tmp_path).dirty
