"""Script mode: the sources beside a descriptor that a run sees under ``BAI_SCRIPTS_PATH``.

As in the original Anubis, ``BAI_SCRIPTS_PATH`` is the folder that *holds* the declared sources: with
the default ``src/`` folder a command names ``$(BAI_SCRIPTS_PATH)/src/train.py``; with
``[ml.script] script = "hello.py"`` it names ``$(BAI_SCRIPTS_PATH)/hello.py``. Locally that folder is
the benchmark's own folder; in a pod it is ``/opt/anubis/scripts``, holding only the declared sources.

The sources travel to the cluster inside a ConfigMap, so they are limited to
:data:`SCRIPT_SIZE_LIMIT` bytes in all and :data:`SCRIPT_FILE_LIMIT` files; large inputs belong in
``[[data.sources]]``. Their digest is part of the run's identity: editing a script makes a new run.

The sources come from pull requests, so they are read as hostile (``docs/security.md``):

* nothing is followed out of the declared sources: a link whose target leaves them (``/proc/self/environ``,
  ``/etc/passwd``, ``../../other``) is refused, naming the link and its target; a link to a file inside
  them is read as that file; a link to a folder is refused (a ConfigMap holds files only);
* only regular files are read: a FIFO, a device or a socket is refused without being opened for reading
  (``lstat`` first; the open is ``O_NOFOLLOW | O_NONBLOCK`` and checked again with ``fstat``);
* the size limit applies to the bytes actually read, never to what ``stat`` says (files under ``/proc``
  report 0 bytes): reading stops one byte past the limit;
* the bytes are read once, at collection: the digest, the ConfigMap and the checks all see the same bytes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from schemas.runspec import ScriptFile, ScriptSpec

SCRIPT_SIZE_LIMIT = 768 * 1024
SCRIPT_FILE_LIMIT = 1000  # items of one ConfigMap volume; more is a data set, not scripts
SCRIPT_DEPTH_LIMIT = 32  # folders inside folders
DEFAULT_FOLDER = "src"
_IGNORED_NAMES = {"__pycache__", ".git", ".DS_Store", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"}
_IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp")
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class ScriptProblem(ValueError):
    """The declared script sources cannot be used (missing, outside the folder, a link, an archive…)."""


class ScriptTooLarge(ScriptProblem):
    """The sources hold more than :data:`SCRIPT_SIZE_LIMIT` bytes (``total``: at least that many)."""

    def __init__(self, total: int) -> None:
        self.total = total
        super().__init__(
            f"script-mode sources are {-(-total // 1024)} KiB; the limit is {SCRIPT_SIZE_LIMIT // 1024} KiB"
            " (they travel in a ConfigMap); move large files to [[data.sources]]"
        )


@dataclass(frozen=True)
class _Entry:
    """One file of the script-mode sources."""

    relpath: str
    content: bytes
    executable: bool

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class CollectedScript:
    """The script-mode sources of a benchmark, read once."""

    root: Path
    entries: tuple[_Entry, ...]

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)

    def contents(self) -> dict[str, bytes]:
        return {e.relpath: e.content for e in self.entries}

    def spec(self, repo_root: Path) -> ScriptSpec:
        files = tuple(
            ScriptFile(
                path=e.relpath,
                sha256=hashlib.sha256(e.content).hexdigest(),
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


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file or a folder)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return None


class _Reader:
    """Reads regular files under a budget of bytes shared by all of them."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.used = 0

    def shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.base).as_posix()
        except ValueError:
            return str(path)

    def read(self, path: Path) -> tuple[bytes, bool]:
        """The bytes of the regular file ``path`` (no link in its last component) and whether it is
        executable. Raises ScriptProblem for anything else, ScriptTooLarge past the budget."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ScriptProblem(f"'{self.shown(path)}' is a link; script-mode sources are read without following links") from None
            raise ScriptProblem(f"cannot read '{self.shown(path)}': {e.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = _kind(st.st_mode) or "not a regular file"
                raise ScriptProblem(f"'{self.shown(path)}' is {kind}; script-mode sources must be regular files")
            left = SCRIPT_SIZE_LIMIT - self.used
            data = read_at_most(fd, left)
            if len(data) > left:
                raise ScriptTooLarge(self.used + max(len(data), st.st_size))
            self.used += len(data)
            return data, bool(st.st_mode & stat.S_IXUSR)
        finally:
            os.close(fd)


def read_at_most(fd: int, limit: int) -> bytes:
    """The bytes of the open file ``fd`` up to ``limit + 1`` of them: more than ``limit`` means the
    file is too large, whatever its size says (a ``/proc`` file reports 0)."""
    chunks: list[bytes] = []
    got = 0
    while got <= limit:
        chunk = os.read(fd, min(limit + 1 - got, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _link_target(link: Path, scope: Path, reader: _Reader, scope_name: str) -> Path:
    """The real path of ``link``, which must stay inside ``scope`` and be a regular file there."""
    try:
        written = os.readlink(link)
    except OSError as e:
        raise ScriptProblem(f"cannot read the link '{reader.shown(link)}': {e.strerror}") from None
    target = Path(os.path.realpath(link))
    if not _inside(target, scope):
        raise ScriptProblem(
            f"'{reader.shown(link)}' is a link to '{written}', which leaves {scope_name}; links are not followed out of"
            " the script-mode sources: commit the file itself (or fetch it as a [[data.sources]] entry)"
        )
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        raise ScriptProblem(f"'{reader.shown(link)}' is a link to '{written}', which does not exist") from None
    if stat.S_ISDIR(mode):
        raise ScriptProblem(
            f"'{reader.shown(link)}' is a link to the folder '{written}'; a ConfigMap holds files only: remove the link"
        )
    return target


def _file(path: Path, scope: Path, reader: _Reader, scope_name: str) -> _Entry:
    mode = os.lstat(path).st_mode
    real = _link_target(path, scope, reader, scope_name) if stat.S_ISLNK(mode) else path
    content, executable = reader.read(real)
    return _Entry(reader.shown(path), content, executable)


def _walk(root: Path, reader: _Reader, scope_name: str) -> list[_Entry]:
    entries: list[_Entry] = []
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        if depth > SCRIPT_DEPTH_LIMIT:
            raise ScriptProblem(
                f"'{reader.shown(folder)}' is more than {SCRIPT_DEPTH_LIMIT} folders deep; flatten the script-mode sources"
            )
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda e: e.name)
        except OSError as e:
            raise ScriptProblem(f"cannot list '{reader.shown(folder)}': {e.strerror}") from None
        for child in children:
            if child.name in _IGNORED_NAMES or child.name.endswith(_IGNORED_SUFFIXES):
                continue
            path = Path(child.path)
            mode = child.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                stack.append((path, depth + 1))
                continue
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                raise ScriptProblem(
                    f"'{reader.shown(path)}' is {_kind(mode) or 'not a regular file'}; script-mode sources must be"
                    " regular files: remove it"
                )
            if len(entries) >= SCRIPT_FILE_LIMIT:
                raise ScriptProblem(
                    f"script-mode sources hold more than {SCRIPT_FILE_LIMIT} files; keep only code there and move"
                    " the rest to [[data.sources]]"
                )
            entries.append(_file(path, root, reader, scope_name))
    return entries


def collect_script(folder: Path, declared: str | None) -> CollectedScript | None:
    """The script sources of the descriptor in ``folder``: ``declared`` (relative), else ``src/`` if
    present. Paths are relative to ``folder``, so they keep the declared folder's name.

    Raises :class:`ScriptProblem` (with a sentence naming the offending file) for sources that cannot be
    used, :class:`ScriptTooLarge` past :data:`SCRIPT_SIZE_LIMIT`."""
    base = folder.resolve()
    reader = _Reader(base)
    if declared is None:
        lexical = base / DEFAULT_FOLDER
        try:
            mode = os.lstat(lexical).st_mode
        except OSError:
            return None
        if stat.S_ISLNK(mode):
            raise ScriptProblem(
                f"'{DEFAULT_FOLDER}' is a link to '{os.readlink(lexical)}'; commit the script-mode sources in the"
                " folder itself"
            )
        if not stat.S_ISDIR(mode):
            return None
        return CollectedScript(base, tuple(sorted(_walk(lexical, reader, f"{DEFAULT_FOLDER}/"), key=lambda e: e.relpath)))
    if "\x00" in declared:
        raise ScriptProblem("the script-mode sources' name holds a NUL character")
    lexical = Path(os.path.normpath(base / declared))
    root = Path(os.path.realpath(lexical))
    if _inside(lexical, base) and not _inside(root, base) and os.path.islink(lexical):
        raise ScriptProblem(
            f"'{declared}' is a link to '{os.readlink(lexical)}', which leaves the benchmark's folder; links are not"
            " followed out of the script-mode sources: commit the file itself"
        )
    if not _inside(lexical, base) or not _inside(root, base):
        raise ScriptProblem(f"script-mode sources '{declared}' must be inside the benchmark's folder")
    if not os.path.lexists(lexical) or not root.exists():
        raise ScriptProblem(f"script-mode sources '{declared}' do not exist beside the descriptor")
    if root == base:
        raise ScriptProblem("script-mode sources must be a file or folder beside the descriptor, not its own folder")
    if lexical.is_symlink() and root.is_dir():
        raise ScriptProblem(
            f"script-mode sources '{declared}' are a link to '{os.readlink(lexical)}'; commit them in the folder itself"
        )
    if root.is_dir():
        return CollectedScript(base, tuple(sorted(_walk(lexical, reader, f"{declared}/"), key=lambda e: e.relpath)))
    if root.name.endswith((".tar.gz", ".tgz", ".tar", ".zip")):
        raise ScriptProblem(f"'{declared}' is an archive; commit the sources unpacked in a folder and name that folder")
    return CollectedScript(base, (_file(lexical, base, reader, "the benchmark's folder"),))
