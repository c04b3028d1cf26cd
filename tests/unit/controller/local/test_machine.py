"""Reproducibility facts: this machine, and a git repository's commit and dirtiness."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from controller.local import machine
from controller.local.machine import SourceFacts, machine_facts, source_facts


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


def test_source_facts_without_a_commit_on_a_detached_head_and_with_a_rename(tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (tmp_path / "f").write_text("1")
    subprocess.run([*git, "add", "f"], check=True)
    assert source_facts(tmp_path) == SourceFacts(None, False, None)  # no commit yet: nothing to name
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / "untracked").write_text("x")
    assert source_facts(tmp_path) == SourceFacts(head, False, "main")  # untracked files do not count
    subprocess.run([*git, "mv", "f", "g"], check=True)
    assert source_facts(tmp_path).dirty
    subprocess.run([*git, "checkout", "-q", "--detach", "HEAD"], check=True)
    detached = source_facts(tmp_path / ".")
    assert (detached.commit, detached.branch) == (head, None)


def test_outside_git_no_git_process_is_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if any((p / ".git").exists() for p in (tmp_path.resolve(), *tmp_path.resolve().parents)):
        pytest.skip("the temporary folder is inside a git work tree")
    monkeypatch.delenv("GIT_DIR", raising=False)
    started: list[object] = []
    monkeypatch.setattr(machine.subprocess, "run", lambda *a, **k: started.append(a))
    assert source_facts(tmp_path) == SourceFacts(None, False, None)
    assert started == []
