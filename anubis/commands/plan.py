"""``anubis plan --base REF [--head REF]``: which runs each environment would create, change or remove.

Both revisions are rendered with the renderer into memory — the base from ``git archive`` of its
``benchmarks/``, ``environments/`` and ``anubis.toml`` (data only: nothing of a descriptor is
executed), the head likewise or, without ``--head``, the working tree — and their run files compared
per environment: a run id only in the head is created, only in the base removed, in both with other
bytes changed. The source commit is left out of both renders, so that a run whose content did not
change is not shown as changed. The Markdown form is what the pull-request workflow puts in the job
summary and the plan comment.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click

from anubis.project import load_project
from anubis.settings import Settings
from renderer.manifests import render_run
from renderer.planning import Catalog, check_descriptor, find_descriptors
from schemas.environment import Environment
from schemas.errors import AnubisError, DescriptorError, Problem
from schemas.runspec import Source

PLAN_MARKER = "<!-- anubis:plan -->"
TREE = ("benchmarks", "environments", "anubis.toml")


@dataclass(frozen=True)
class EnvironmentPlan:
    create: list[str] = field(default_factory=list)  # "<benchmark>/<run_id>"
    change: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    unchanged: int = 0


def render_tree(
    root: Path,
    *,
    catalog: Catalog | None = None,
    source: Callable[[Path], Source] | None = None,
    overrides: Callable[[Path], list[str]] | None = None,
) -> dict[str, str]:
    """Every kubernetes run of the descriptors under ``root``: ``<env>/<benchmark>/<run_id>.yaml`` → text.
    Raises :class:`DescriptorError` with every problem if a descriptor is invalid."""
    catalog = catalog or Catalog(root)
    project = load_project(root)
    rendered: dict[str, str] = {}
    problems = []
    if not (root / "benchmarks").is_dir():
        return rendered
    for descriptor in find_descriptors([], root):
        try:
            planned = check_descriptor(
                descriptor, repo_root=root, catalog=catalog,
                source=source(descriptor.parent) if source else Source(repository=project.repository),
                overrides=overrides(descriptor) if overrides else (),
            )
        except DescriptorError as e:
            problems.extend(e.problems)
            continue
        contents = planned.scripts.contents() if planned.scripts else {}
        for spec in planned.runs:
            env = catalog.get(spec.environment)
            if env.kind == "kubernetes":
                run = render_run(spec, env, contents)
                rendered[f"{env.name}/{spec.benchmark}/{run.filename}"] = run.text
    if any(p.severity == "error" for p in problems):
        raise DescriptorError(problems)
    return rendered


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


def compare(base: dict[str, str], head: dict[str, str], environments: list[str]) -> dict[str, EnvironmentPlan]:
    plans: dict[str, EnvironmentPlan] = {}
    for env in sorted(set(environments) | {k.split("/", 1)[0] for k in (*base, *head)}):
        b = {k.split("/", 1)[1].removesuffix(".yaml"): v for k, v in base.items() if k.startswith(env + "/")}
        h = {k.split("/", 1)[1].removesuffix(".yaml"): v for k, v in head.items() if k.startswith(env + "/")}
        plans[env] = EnvironmentPlan(
            create=sorted(set(h) - set(b)),
            change=sorted(k for k in set(h) & set(b) if h[k] != b[k]),
            remove=sorted(set(b) - set(h)),
            unchanged=sum(1 for k in set(h) & set(b) if h[k] == b[k]),
        )
    return plans


def markdown(plans: dict[str, EnvironmentPlan], base: str, head: str) -> str:
    lines = [PLAN_MARKER, f"### Anubis plan: `{base}` → `{head}`", ""]
    if not any(p.create or p.change or p.remove for p in plans.values()):
        return "\n".join(lines + ["No run would be created, changed or removed.", ""])
    lines += ["| Environment | Create | Change | Remove | Unchanged |", "|---|--:|--:|--:|--:|"]
    for env, p in plans.items():
        lines.append(f"| `{env}` | {len(p.create)} | {len(p.change)} | {len(p.remove)} | {p.unchanged} |")
    lines += ["", "<details><summary>Runs</summary>", ""]
    for env, p in plans.items():
        for label, items in (("create", p.create), ("change", p.change), ("remove", p.remove)):
            lines += [f"- {label} `{env}/{item}`" for item in items]
    lines += ["", "</details>", "", "Runs start on the cluster when this is merged (or, before that, when a "
              "maintainer adds the preview label).", ""]
    return "\n".join(lines)


def _kubernetes_envs(root: Path) -> list[Environment]:
    if not (root / "environments").is_dir():
        return []
    return [e for e in Catalog(root).all() if e.kind == "kubernetes"]


def _render_at(settings: Settings, ref: str | None) -> tuple[dict[str, str], list[str]]:
    if ref is None:
        return render_tree(settings.repo_root), [e.name for e in _kubernetes_envs(settings.repo_root)]
    with checkout_tree(settings.repo_root, ref) as tree:
        return render_tree(tree), [e.name for e in _kubernetes_envs(tree)]


@click.command()
@click.option("--base", required=True, help="The revision the change starts from (a branch, tag or commit).")
@click.option("--head", default=None, help="The revision with the change (default: the working tree).")
@click.option("--output", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
@click.pass_obj
def plan(settings: Settings, base: str, head: str | None, output: str) -> None:
    """Show which runs each environment would create, change or remove between two revisions."""
    base_files, base_envs = _render_at(settings, base)
    head_files, head_envs = _render_at(settings, head)
    plans = compare(base_files, head_files, base_envs + head_envs)
    if output == "json":
        click.echo(json.dumps({"base": base, "head": head or "working tree",
                               "environments": {env: p.__dict__ for env, p in plans.items()}}, indent=2, sort_keys=True))
        return
    click.echo(markdown(plans, base, head or "working tree"), nl=False)
