"""Settings of the command line, built once (flags, then ``ANUBIS_*`` variables, then defaults).

Nothing reads the environment at import time: :func:`build_settings` is called by the root command
with the process environment and the result is passed explicitly to whatever needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from anubis.project import find_repository


class Settings(NamedTuple):
    """What every command is given (a named tuple: immutable, and quicker to define at start-up than a
    frozen dataclass, whose methods Python 3.11 compiles from source)."""

    repo_root: Path  # the benchmarks repository (benchmarks/, environments/, manifests/)
    data_dir: Path  # result store, kept logs
    cache_dir: Path  # dataset cache
    debug: bool = False
    repo_explicit: bool = False  # given by --repo or ANUBIS_REPO rather than found

    def repository_for(self, target: Path) -> Path:
        """The repository a descriptor (or benchmark folder) belongs to: --repo/ANUBIS_REPO when given,
        else the nearest folder above it with anubis.toml, environments/ or benchmarks/ (never the
        current folder's), else the descriptor's own folder (a lone descriptor)."""
        if self.repo_explicit:
            return self.repo_root
        found = find_repository(target)
        if found is not None:
            return found
        folder = Path(os.path.abspath(target))
        return (folder if folder.is_dir() and not folder.is_symlink() else folder.parent).resolve()

    def whole_repository(self) -> Path:
        """The repository a command given no paths works on (all of benchmarks/); outside any, an error
        that says where it looked and what to do (rather than the current folder taken for one)."""
        if self.repo_explicit or find_repository(self.repo_root) is not None:
            return self.repo_root
        from schemas.errors import NotFoundError  # (errors import dataclasses: not at start-up)

        raise NotFoundError(
            f"{self.repo_root} is not in a benchmarks repository (no anubis.toml, benchmarks/ or environments/ "
            "here or above): run this in one, give it with --repo PATH, name descriptors to work on, or start "
            "one with `anubis init`")

    @property
    def benchmarks_dir(self) -> Path:
        return self.repo_root / "benchmarks"

    @property
    def manifests_dir(self) -> Path:
        return self.repo_root / "manifests"

    @property
    def store_path(self) -> Path:
        return self.data_dir / "results.sqlite3"


def _find_repo_root(start: Path) -> Path:
    """The repository of the current folder, for the commands that work on a whole repository."""
    return find_repository(start) or start


def build_settings(
    environ: Mapping[str, str],
    cwd: Path,
    *,
    repo_root: Path | None = None,
    debug: bool = False,
) -> Settings:
    explicit = repo_root or (Path(environ["ANUBIS_REPO"]) if environ.get("ANUBIS_REPO") else None)
    root = explicit or _find_repo_root(cwd)
    home = Path(environ.get("HOME", str(Path.home())))
    xdg_data = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    xdg_cache = Path(environ.get("XDG_CACHE_HOME") or home / ".cache")
    data_dir = Path(environ["ANUBIS_DATA_DIR"]) if environ.get("ANUBIS_DATA_DIR") else xdg_data / "anubis"
    cache_dir = Path(environ["ANUBIS_CACHE_DIR"]) if environ.get("ANUBIS_CACHE_DIR") else xdg_cache / "anubis"
    return Settings(
        repo_root=root.resolve(),
        data_dir=data_dir,
        cache_dir=cache_dir,
        debug=debug or environ.get("ANUBIS_DEBUG", "") not in ("", "0", "false"),
        repo_explicit=explicit is not None,
    )


def current_settings(repo_root: Path | None = None, debug: bool = False) -> Settings:
    """Settings from this process's environment; for entry points only."""
    return build_settings(os.environ, Path.cwd(), repo_root=repo_root, debug=debug)
