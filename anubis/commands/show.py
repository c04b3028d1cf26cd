"""``anubis show DESCRIPTOR``: the normalised descriptor as RunSpecs, with their run ids."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from anubis.diagnostics import dump_json, print_problems
from anubis.settings import Settings
from renderer.planning import Catalog, check_descriptor, find_descriptors


@click.command()
@click.argument("descriptor", type=click.Path(exists=True, path_type=Path))
@click.option("--env", "environment", default=None, help="Plan for this environment (default: the descriptor's).")
@click.option("--set", "overrides", multiple=True, metavar="FIELD=VALUE", help="Override a field (repeatable).")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_obj
def show(settings: Settings, descriptor: Path, environment: str | None, overrides: tuple[str, ...], output: str) -> None:
    """Show what a descriptor runs: one RunSpec per matrix point, with its run id."""
    root = settings.repository_for(descriptor)
    catalog = Catalog(root)
    planned = [
        check_descriptor(d, repo_root=root, environment=environment, overrides=overrides, catalog=catalog)
        for d in find_descriptors([descriptor], root)
    ]
    if output == "json":
        dump_json(
            [{"descriptor": p.descriptor, "benchmark": p.benchmark, "runs": [r.to_dict() for r in p.runs]} for p in planned]
        )
        return
    for p in planned:
        print_problems(p.warnings)
        click.echo(f"{p.descriptor} → {len(p.runs)} run{'s' if len(p.runs) != 1 else ''}")
        for spec in p.runs:
            click.echo(f"\n--- {spec.run_id}  (environment {spec.environment}, family {spec.family_id})")
            click.echo(yaml.safe_dump(spec.to_dict(), sort_keys=False, default_flow_style=False), nl=False)
