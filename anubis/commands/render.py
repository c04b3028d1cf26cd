"""``anubis render [PATHS]``: descriptors → ``manifests/<env>/<benchmark>/<run_id>.yaml``."""

from __future__ import annotations

from pathlib import Path

import click

from anubis import manifest_files
from anubis.diagnostics import print_problems
from anubis.manifest_diff import readable_diff
from anubis.project import GitSources, load_project
from anubis.settings import Settings
from renderer.alerts import render_prometheus_rule
from renderer.dashboards import render_dashboards
from renderer.manifests import render_argocd, render_run
from renderer.planning import Catalog, check_descriptor, find_descriptors
from schemas.errors import DescriptorError, Problem
from schemas.runspec import RunSpec

SYSTEM_GRAFANA = "system/grafana"  # generated dashboards beside the hand-written system manifests
SYSTEM_PROMETHEUS = "system/prometheus"  # generated alert rules


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--env", "environment", default=None, help="Render for this environment only (default: each descriptor's).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Output folder (default: manifests/).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the manifests are out of date.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Write nothing; show what would change as a unified diff (script sources decoded, a changed run "
                   "as one diff).")
@click.pass_obj
def render(
    settings: Settings, paths: tuple[Path, ...], environment: str | None, out: Path | None, check: bool, show_diff: bool
) -> None:
    """Render descriptors into Kubernetes manifests for Argo CD (default: all of benchmarks/).

    Files the renderer owns that no descriptor produces any more are removed; hand-written files
    (manifests/system/) are never touched. Nothing is written unless every descriptor is valid.
    """
    root = settings.repository_for(paths[0]) if paths else settings.repo_root
    out = out or root / "manifests"
    catalog = Catalog(root)
    project = load_project(root)
    sources = GitSources(root, project)
    desired: dict[str, str] = {}
    problems: list[Problem] = []
    scopes: set[str] = set()
    whole_repo = not paths
    cluster_runs: list[RunSpec] = []
    clusters = [e for e in catalog.all() if e.kind == "kubernetes"]
    if environment is not None and catalog.get(environment).kind != "kubernetes":
        raise click.UsageError(f"environment '{environment}' runs on this machine and has no manifests; use anubis run")
    for descriptor in find_descriptors(list(paths), root):
        try:
            planned = check_descriptor(
                descriptor, repo_root=root, environment=environment, source=sources.source_for(descriptor.parent),
                catalog=catalog,
            )
        except DescriptorError as e:
            problems.extend(e.problems)
            continue
        problems.extend(planned.warnings)
        scopes.update(f"{env.name}/{planned.benchmark}" for env in clusters)
        contents = planned.scripts.contents() if planned.scripts else {}
        for spec in planned.runs:
            env = catalog.get(spec.environment)
            if env.kind != "kubernetes":
                continue
            rendered = render_run(spec, env, contents)
            desired[f"{env.name}/{spec.benchmark}/{rendered.filename}"] = rendered.text
            cluster_runs.append(spec)
    if any(p.severity == "error" for p in problems):
        print_problems(problems)
        raise SystemExit(1)
    print_problems(problems)
    if whole_repo:  # what depends on every benchmark: Argo CD applications, dashboards, alert rules
        scopes = {env.name for env in clusters} | {"argocd", SYSTEM_GRAFANA, SYSTEM_PROMETHEUS}
        for name, text in render_argocd(clusters, project.repository or "", project.default_branch).items():
            desired[f"argocd/{name}"] = text
        for name, text in render_dashboards(cluster_runs).items():
            desired[f"{SYSTEM_GRAFANA}/{name}"] = text
        for name, text in render_prometheus_rule(cluster_runs).items():
            desired[f"{SYSTEM_PROMETHEUS}/{name}"] = text
    changes = manifest_files.compare(out, desired, sorted(scopes))
    if show_diff:
        click.echo(readable_diff(out, desired, changes), nl=False)
    if check or show_diff:
        if changes.empty:
            click.echo(f"{out}: up to date ({len(desired)} files)")
            return
        _summarise(changes)
        if check:
            click.echo("manifests are out of date: run `anubis render` and commit the result", err=True)
            raise SystemExit(1)
        return
    manifest_files.apply(out, desired, changes)
    if changes.empty:
        click.echo(f"{out}: up to date ({len(desired)} files)")
    else:
        _summarise(changes)


def _summarise(changes: manifest_files.Changes) -> None:
    for label, items in (("create", changes.created), ("update", changes.changed), ("remove", changes.removed)):
        for rel in items:
            click.echo(f"{label:>6}  {rel}")
