"""Facts about the benchmarks repository that rendering needs but a descriptor does not hold:
its public URL (``anubis.toml``) and the commit that last changed each benchmark (git)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import DescriptorError, Problem
from schemas.runspec import Source

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT_FILE = "anubis.toml"


@dataclass(frozen=True)
class Project:
    repository: str | None = None  # e.g. https://github.com/org/benchmarks
    default_branch: str = "main"


def load_project(repo_root: Path) -> Project:
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
    """The source record of each benchmark folder: last commit that touched it, and dirtiness."""

    def __init__(self, repo_root: Path, project: Project) -> None:
        self.project = project
        self._repo = None
        try:
            import git  # GitPython, imported only by the commands that need it

            self._repo = git.Repo(repo_root, search_parent_directories=True)
        except Exception:  # not a git repository, or git missing: no commit information
            self._repo = None

    def source_for(self, folder: Path) -> Source:
        if self._repo is None:
            return Source(repository=self.project.repository, branch=self.project.default_branch)
        try:
            root = Path(self._repo.working_tree_dir or ".").resolve()
            rel = folder.resolve().relative_to(root).as_posix()
            commit = self._repo.git.log("-1", "--format=%H", "--", rel).strip() or None
            dirty = bool(self._repo.git.status("--porcelain", "--", rel).strip())
        except Exception:
            return Source(repository=self.project.repository, branch=self.project.default_branch)
        return Source(repository=self.project.repository, commit=commit, dirty=dirty,
                      branch=self.project.default_branch)
