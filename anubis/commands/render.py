"""``anubis render [PATHS]``: descriptors → ``manifests/<env>/<benchmark>/<run_id>.yaml``."""

from __future__ import annotations

from pathlib import Path

import click

from anubis import manifest_files
from anubis.diagnostics import print_problems
from anubis.manifest_diff import readable_diff
from anubis.project import GitSources, load_project
from anubis.rendering import render_repository, write_repository
from anubis.settings import Settings
from renderer.planning import Catalog
from schemas.errors import DescriptorError


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
    root = settings.repository_for(paths[0]) if paths else settings.whole_repository()
    out = out or root / "manifests"
    catalog = Catalog(root)
    if environment is not None and catalog.get(environment).kind != "kubernetes":
        raise click.UsageError(f"environment '{environment}' runs on this machine and has no manifests; use anubis run")
    sources = GitSources(root, load_project(root))
    try:
        rendered = render_repository(root, paths, environment=environment, catalog=catalog, source=sources.source_for)
    except DescriptorError as e:
        print_problems(e.problems + e.warnings)
        raise SystemExit(1) from None
    print_problems(rendered.warnings)
    if check or show_diff:
        changes = manifest_files.compare(out, rendered.files, rendered.scopes)
        if show_diff:
            click.echo(readable_diff(out, rendered.files, changes), nl=False)
        if changes.empty:
            click.echo(f"{out}: up to date ({len(rendered.files)} files)")
            return
        _summarise(changes)
        if check:
            click.echo("manifests are out of date: run `anubis render` and commit the result", err=True)
            raise SystemExit(1)
        return
    changes = write_repository(out, rendered)
    if changes.empty:
        click.echo(f"{out}: up to date ({len(rendered.files)} files)")
    else:
        _summarise(changes)


def _summarise(changes: manifest_files.Changes) -> None:
    for label, items in (("create", changes.created), ("update", changes.changed), ("remove", changes.removed)):
        for rel in items:
            click.echo(f"{label:>6}  {rel}")
