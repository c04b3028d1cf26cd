"""Facts about the benchmarks repository that rendering needs but a descriptor does not hold:
where the repository is (found from a descriptor upward), its public URL (``anubis.toml``) and the
commit that last changed each benchmark (git)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from schemas.errors import DescriptorError, Problem

if TYPE_CHECKING:  # imported where used: every command finds its repository, few need a Source
    from schemas.runspec import Source

PROJECT_FILE = "anubis.toml"
REPOSITORY_MARKERS = (PROJECT_FILE, "environments", "benchmarks")  # what makes a folder a benchmarks repository


def find_repository(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` (a descriptor, a benchmark folder or any folder) that
    holds ``anubis.toml``, ``environments/`` or ``benchmarks/``; None when there is none."""
    here = Path(os.path.abspath(start))
    if here.is_symlink() or not here.is_dir():  # a file, or a link (which may lead nowhere): its folder
        here = here.parent
    here = here.resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_FILE).is_file():
            return candidate
        if (candidate / "environments").is_dir() or (candidate / "benchmarks").is_dir():
            return candidate
    return None


class Project(NamedTuple):  # (every command finds its repository: quicker to define than a dataclass)
    """What ``anubis.toml`` says of the repository: its public URL and its main branch."""

    repository: str | None = None  # e.g. https://github.com/org/benchmarks
    default_branch: str = "main"


def load_project(repo_root: Path) -> Project:
    import tomllib

    path = repo_root / PROJECT_FILE
    if not path.is_file():
        return Project()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DescriptorError([Problem(PROJECT_FILE, 1, 1, "", f"cannot read {PROJECT_FILE}: {e}")]) from e
    repo = data.get("repository", {})
    return Project(repository=repo.get("url"), default_branch=repo.get("default_branch", "main"))


class GitSources:
    """The source record of each benchmark folder: the last commit of the git repository holding that
    folder (not of the current folder's) that touched it, and whether the folder (descriptor, scripts)
    has uncommitted changes, untracked files included. Outside git there is no commit."""

    def __init__(self, repo_root: Path | None, project: Project) -> None:
        self.project = project
        self.repo_root = repo_root

    def source_for(self, folder: Path) -> Source:
        from schemas.runspec import Source

        plain = Source(repository=self.project.repository, branch=self.project.default_branch)
        # The git command itself, not GitPython: `anubis run` pays a few ms for each call instead of a
        # 0.1 s import (tests/unit/anubis/test_startup_imports.py); none outside a git repository.
        from controller.local.machine import may_be_in_git

        if not may_be_in_git(folder):
            return plain
        # pathspecs are relative to the folder git runs in: "." is the benchmark's folder
        commit = _git(folder, "log", "-1", "--format=%H", "--", ".") or None
        status = _git(folder, "status", "--porcelain", "--untracked-files=all", "--", ".")
        if status is None:  # not in a git repository (or no git): no commit information
            return plain
        return Source(repository=self.project.repository, commit=commit, dirty=bool(status),
                      branch=self.project.default_branch)


def _git(where: Path, *args: str) -> str | None:
    """The stripped output of ``git -C where ARGS``; None when git fails or is missing."""
    import subprocess

    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=30,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
