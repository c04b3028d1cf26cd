"""Facts about this machine and the source tree, for a local run's reproducibility record."""

from __future__ import annotations

import functools
import logging
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TOOL_TIMEOUT = 5.0


@dataclass(frozen=True)
class MachineFacts:
    python_version: str
    platform: str
    cpu_model: str | None
    cpu_count: int | None
    memory_bytes: int | None
    gpus: tuple[str, ...]
    node: str


@dataclass(frozen=True)
class SourceFacts:
    commit: str | None
    dirty: bool
    branch: str | None


@functools.cache
def machine_facts() -> MachineFacts:
    """Gathered once per process (nvidia-smi takes a moment)."""
    return MachineFacts(
        python_version=platform.python_version(),
        platform=platform.platform(),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count(),
        memory_bytes=_memory_bytes(),
        gpus=_gpus(),
        node=platform.node(),
    )


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    return value.strip() or None
    except OSError:
        pass
    return platform.processor() or None


def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> tuple[str, ...]:
    """One ``"name, memory"`` per NVIDIA GPU, from nvidia-smi when it is installed and answers."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return ()
    try:
        out = subprocess.run(
            [program, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        log.debug("nvidia-smi failed: %s", e)
        return ()
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def gpu_count() -> int:
    return len(machine_facts().gpus)


def may_be_in_git(folder: Path) -> bool:
    """False only where git would find no repository for ``folder``: ``GIT_DIR`` is not set and no
    ``.git`` (the folder of a repository, or the file of a linked work tree or a submodule) is at or above
    it, as git looks from the folder's real path. Where this is True, git itself decides."""
    if os.environ.get("GIT_DIR"):
        return True
    here = folder.resolve()
    return any((candidate / ".git").exists() for candidate in (here, *here.parents))


def source_facts(folder: Path) -> SourceFacts:
    """Commit, dirtiness (tracked files) and branch of the git work tree holding ``folder`` (nothing if
    none): one ``git status --porcelain=v2 --branch``, and no git at all outside a repository."""
    git = shutil.which("git") if may_be_in_git(folder) else None
    if git is None:
        return SourceFacts(None, False, None)
    try:
        done = subprocess.run(
            [git, "-C", str(folder), "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return SourceFacts(None, False, None)
    if done.returncode != 0:
        return SourceFacts(None, False, None)
    headers: dict[str, str] = {}
    changed = False
    for line in done.stdout.splitlines():
        if line.startswith("# "):  # "# branch.oid <commit>|(initial)", "# branch.head <name>|(detached)"
            key, _, value = line[2:].partition(" ")
            headers[key] = value.strip()
        elif line:
            changed = True  # a changed, renamed or unmerged tracked entry
    commit = headers.get("branch.oid")
    if commit is None or commit == "(initial)":  # no commit yet
        return SourceFacts(None, False, None)
    branch = headers.get("branch.head")
    return SourceFacts(commit=commit, dirty=changed, branch=None if branch in (None, "(detached)") else branch)


def oom_kills() -> int | None:
    """This cgroup's OOM-kill counter (cgroup v2), to tell an OOM kill from another SIGKILL."""
    try:
        with open("/sys/fs/cgroup/memory.events", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    except (OSError, ValueError):
        pass
    return None
