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

import json
from dataclasses import dataclass, field
from pathlib import Path

import click

from anubis.rendering import render_tree
from anubis.settings import Settings
from anubis.trees import checkout_tree
from renderer.planning import Catalog
from schemas.environment import Environment

PLAN_MARKER = "<!-- anubis:plan -->"


@dataclass(frozen=True)
class EnvironmentPlan:
    create: list[str] = field(default_factory=list)  # "<benchmark>/<run_id>"
    change: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    unchanged: int = 0


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
    root = settings.whole_repository()
    if ref is None:
        return render_tree(root), [e.name for e in _kubernetes_envs(root)]
    with checkout_tree(root, ref) as tree:
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
