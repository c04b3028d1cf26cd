"""A revision's data as files: ``checkout_tree`` extracts paths of a git revision into a temporary folder
with ``git archive`` and tar's data filter (files only: no hooks, no checkout, no link out of the tree).
``anubis plan`` renders both sides of a pull request from it; ``anubis preview`` the pull request's
benchmarks."""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schemas.errors import AnubisError, DescriptorError, Problem

TREE = ("benchmarks", "environments", "anubis.toml")


@contextmanager
def checkout_tree(repo_root: Path, ref: str, paths: tuple[str, ...] = TREE) -> Iterator[Path]:
    """``paths`` of revision ``ref`` in a temporary folder (``git archive``: files only, no hooks, no checkout)."""
    import git  # GitPython, imported only by the commands that use it

    try:
        repo = git.Repo(repo_root, search_parent_directories=True)
        commit = repo.commit(ref)
        present = [p for p in paths if _exists(commit, p)]
        buffer = io.BytesIO()
        if present:
            repo.archive(buffer, commit.hexsha, path=present)
    except (git.GitCommandError, git.BadName, ValueError, git.InvalidGitRepositoryError) as e:
        raise AnubisError(f"cannot read revision '{ref}' of {repo_root}: {str(e).strip().splitlines()[-1]}; "
                          "fetch it first (the workflow checks out with fetch-depth: 0)") from e
    with tempfile.TemporaryDirectory(prefix="anubis-tree-") as tmp:
        buffer.seek(0)
        if present:
            with tarfile.open(fileobj=buffer) as tar:
                try:
                    tar.extractall(tmp, filter="data")
                except tarfile.FilterError as e:
                    raise DescriptorError([_refused_member(e, ref)]) from None
        yield Path(tmp)


def _refused_member(error: tarfile.FilterError, ref: str) -> Problem:
    """What tar's data filter refused (an absolute link, a link out of the tree, a device…), said as a
    problem of the file that holds it."""
    member = error.tarinfo
    if member.issym() or member.islnk():
        what = (
            f"is a link to '{member.linkname}', which leaves the repository"
            if not isinstance(error, tarfile.AbsoluteLinkError)
            else f"is a link to the absolute path '{member.linkname}'"
        )
        advice = "links are not followed out of a benchmark's folder: commit the file itself"
    else:
        what = f"cannot be taken from revision '{ref}' ({error})"
        advice = "commit regular files only"
    return Problem(member.name, 1, 1, "", f"{what}; {advice}")


def _exists(commit: object, path: str) -> bool:
    try:
        commit.tree / path  # type: ignore[attr-defined]
    except KeyError:
        return False
    return True
