"""The source record `anubis run` and `anubis render` give a benchmark (anubis.project.GitSources): the last
commit that touched its folder and whether the folder has uncommitted changes, from the git repository
that holds it; outside git, no commit, and git is not even asked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import anubis.project as project
from anubis.project import GitSources, Project


def git(where: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for name in ("a", "b"):
        (root / "benchmarks" / name).mkdir(parents=True)
        (root / "benchmarks" / name / "descriptor.toml").write_text(f"# {name}\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "both")
    (root / "benchmarks" / "b" / "descriptor.toml").write_text("# b, changed\n", encoding="utf-8")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "b only")
    return root


def test_the_commit_is_the_last_that_touched_the_folder(repo: Path) -> None:
    sources = GitSources(repo, Project(repository="https://example.com/r"))
    first, last = git(repo, "rev-list", "--reverse", "HEAD").split()
    a = sources.source_for(repo / "benchmarks" / "a")
    assert (a.commit, a.dirty, a.repository, a.branch) == (first, False, "https://example.com/r", "main")
    assert sources.source_for(repo / "benchmarks" / "b").commit == last


def test_an_uncommitted_or_untracked_file_in_the_folder_makes_it_dirty(repo: Path) -> None:
    sources = GitSources(repo, Project())
    (repo / "benchmarks" / "b" / "extra.py").write_text("x = 1\n", encoding="utf-8")
    assert sources.source_for(repo / "benchmarks" / "b").dirty
    assert not sources.source_for(repo / "benchmarks" / "a").dirty  # a change elsewhere is not its own
    (repo / "benchmarks" / "a" / "descriptor.toml").write_text("# a, edited\n", encoding="utf-8")
    assert sources.source_for(repo / "benchmarks" / "a").dirty


def test_a_repository_without_commits_has_no_commit_and_is_dirty(tmp_path: Path) -> None:
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "descriptor.toml").write_text("#\n", encoding="utf-8")
    git(tmp_path, "init", "-q")
    found = GitSources(tmp_path, Project()).source_for(tmp_path / "bench")
    assert (found.commit, found.dirty) == (None, True)


def test_outside_git_there_is_no_commit_and_git_is_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if any((p / ".git").exists() for p in (tmp_path.resolve(), *tmp_path.resolve().parents)):
        pytest.skip("the temporary folder is inside a git work tree")
    monkeypatch.delenv("GIT_DIR", raising=False)
    asked: list[tuple[str, ...]] = []
    monkeypatch.setattr(project, "_git", lambda where, *args: asked.append(args))
    found = GitSources(tmp_path, Project(repository="https://example.com/r")).source_for(tmp_path)
    assert (found.commit, found.dirty, found.repository) == (None, False, "https://example.com/r")
    assert asked == []


def test_git_dir_in_the_environment_is_left_to_git(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIT_DIR names a repository wherever the folder is: git is asked even without a .git above."""
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(outside))
    found = GitSources(outside, Project()).source_for(outside)
    assert found.commit == git(repo, "rev-parse", "HEAD")  # the work tree's root: the last commit of all
