"""Settings of the command line, built once (flags, then ``ANUBIS_*`` variables, then defaults).

Nothing reads the environment at import time: :func:`build_settings` is called by the root command
with the process environment and the result is passed explicitly to whatever needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    repo_root: Path  # the benchmarks repository (benchmarks/, environments/, manifests/)
    data_dir: Path  # result store, kept logs
    cache_dir: Path  # dataset cache
    debug: bool = False

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
    """The nearest folder at or above ``start`` holding ``benchmarks/`` or ``environments/``."""
    for candidate in (start, *start.parents):
        if (candidate / "environments").is_dir() or (candidate / "benchmarks").is_dir():
            return candidate
    return start


def build_settings(
    environ: Mapping[str, str],
    cwd: Path,
    *,
    repo_root: Path | None = None,
    debug: bool = False,
) -> Settings:
    root = repo_root or (Path(environ["ANUBIS_REPO"]) if environ.get("ANUBIS_REPO") else _find_repo_root(cwd))
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
    )


def current_settings(repo_root: Path | None = None, debug: bool = False) -> Settings:
    """Settings from this process's environment; for entry points only."""
    return build_settings(os.environ, Path.cwd(), repo_root=repo_root, debug=debug)
