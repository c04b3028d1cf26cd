"""Script mode: the sources beside a descriptor that a run sees under ``BAI_SCRIPTS_PATH``.

As in the original Anubis, ``BAI_SCRIPTS_PATH`` is the folder that *holds* the declared sources: with
the default ``src/`` folder a command names ``$(BAI_SCRIPTS_PATH)/src/train.py``; with
``[ml.script] script = "hello.py"`` it names ``$(BAI_SCRIPTS_PATH)/hello.py``. Locally that folder is
the benchmark's own folder; in a pod it is ``/opt/anubis/scripts``, holding only the declared sources.

The sources travel to the cluster inside a ConfigMap, so they are limited to
:data:`SCRIPT_SIZE_LIMIT` bytes in all; large inputs belong in ``[[data.sources]]``. Their digest is
part of the run's identity: editing a script makes a new run.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from schemas.runspec import ScriptFile, ScriptSpec

SCRIPT_SIZE_LIMIT = 768 * 1024
DEFAULT_FOLDER = "src"
_IGNORED_NAMES = {"__pycache__", ".git", ".DS_Store", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"}
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp")


class ScriptProblem(ValueError):
    """The declared script sources cannot be used (missing, outside the folder, an archive…)."""


@dataclass(frozen=True)
class _Entry:
    relpath: str
    path: Path
    size: int
    executable: bool


@dataclass(frozen=True)
class CollectedScript:
    root: Path
    entries: tuple[_Entry, ...]

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)

    def contents(self) -> dict[str, bytes]:
        return {e.relpath: e.path.read_bytes() for e in self.entries}

    def spec(self, repo_root: Path) -> ScriptSpec:
        files = tuple(
            ScriptFile(
                path=e.relpath,
                sha256=hashlib.sha256(e.path.read_bytes()).hexdigest(),
                size=e.size,
                executable=e.executable,
            )
            for e in self.entries
        )
        digest = hashlib.sha256(
            "\n".join(f"{f.path}\0{f.sha256}\0{int(f.executable)}" for f in files).encode("utf-8")
        ).hexdigest()
        try:
            source_dir = self.root.resolve().relative_to(repo_root.resolve()).as_posix()
        except ValueError:
            source_dir = self.root.resolve().as_posix()
        return ScriptSpec(source_dir=source_dir, digest=digest, files=files)


def collect_script(folder: Path, declared: str | None) -> CollectedScript | None:
    """The script sources of the descriptor in ``folder``: ``declared`` (relative), else ``src/`` if
    present. Paths are relative to ``folder``, so they keep the declared folder's name."""
    base = folder.resolve()
    if declared is None:
        root = base / DEFAULT_FOLDER
        if not root.is_dir():
            return None
    else:
        root = (base / declared).resolve()
        if not root.exists():
            raise ScriptProblem(f"script-mode sources '{declared}' do not exist beside the descriptor")
        try:
            root.relative_to(base)
        except ValueError:
            raise ScriptProblem(f"script-mode sources '{declared}' must be inside the benchmark's folder") from None
        if root == base:
            raise ScriptProblem("script-mode sources must be a file or folder beside the descriptor, not its own folder")
        if root.is_file():
            if root.name.endswith((".tar.gz", ".tgz", ".tar", ".zip")):
                raise ScriptProblem(
                    f"'{declared}' is an archive; commit the sources unpacked in a folder and name that folder"
                )
            st = root.stat()
            entry = _Entry(root.relative_to(base).as_posix(), root, st.st_size, bool(st.st_mode & stat.S_IXUSR))
            return CollectedScript(base, (entry,))
    entries: list[_Entry] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_NAMES)
        for name in sorted(filenames):
            if name in _IGNORED_NAMES or name.endswith(_IGNORED_SUFFIXES):
                continue
            path = Path(dirpath) / name
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                continue
            entries.append(
                _Entry(path.relative_to(base).as_posix(), path, st.st_size, bool(st.st_mode & stat.S_IXUSR))
            )
    entries.sort(key=lambda e: e.relpath)
    return CollectedScript(base, tuple(entries))
