"""``anubis validate [PATHS]``: check descriptors against the schema and every rule."""

from __future__ import annotations

from pathlib import Path

import click

from anubis.diagnostics import dump_json, print_problems, problem_dict
from anubis.settings import Settings
from renderer.environments import environment_names
from renderer.loading import display_path
from renderer.planning import Catalog, check_descriptor, find_descriptors
from schemas.errors import DescriptorError, Problem


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--env", "environment", default=None, help="Check against this environment instead of each descriptor's own.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "github"]), default="text", show_default=True,
    help="github: also print workflow annotations that mark the offending lines in a pull request.",
)
@click.pass_obj
def validate(settings: Settings, paths: tuple[Path, ...], environment: str | None, output: str, fmt: str) -> None:
    """Check descriptors (default: every benchmarks/**/descriptor.toml).

    Every problem is printed as path:line:col: field: message; the exit status is 1 if any is an error.
    """
    report: list[dict[str, object]] = []
    failed = False
    try:
        groups = _by_repository(settings, paths)
    except DescriptorError as e:  # a path that is no descriptor: say what was looked for
        if output != "json":
            raise
        dump_json({"valid": False, "descriptors": [{"descriptor": p.path, "valid": False, "problems": [problem_dict(p)]}
                                                   for p in e.problems]})
        raise SystemExit(1) from None
    for root, descriptors in groups.items():
        catalog = Catalog(root)
        shown_problems: set[Problem] = set()  # an environment's problems are reported once, not per descriptor
        for name in environment_names(root):
            try:
                catalog.get(name)
            except DescriptorError as e:
                failed = True
                if output == "json":
                    report.append({"environment": name, "valid": False, "problems": [problem_dict(p) for p in e.problems]})
                else:
                    print_problems(e.problems, fmt)  # type: ignore[arg-type]
                shown_problems.update(e.problems)
        for descriptor in descriptors:
            problems: list[Problem]
            try:
                planned = check_descriptor(descriptor, repo_root=root, environment=environment, catalog=catalog,
                                           missing_scripts="warning")
                problems = planned.warnings
                runs = [r.run_id for r in planned.runs]
                shown = planned.descriptor
                envs = sorted({r.environment for r in planned.runs})
            except DescriptorError as e:
                problems = [p for p in e.problems + e.warnings if p not in shown_problems]
                if not problems:  # only an environment's problems, reported above
                    problems = [Problem(display_path(descriptor, root), 1, 1, "",
                                        "not checked: an environment it may use is invalid (see above)")]
                runs, envs = [], []
                shown = problems[0].path if problems else str(descriptor)
                failed = True
            if output == "json":
                report.append({"descriptor": shown, "valid": not any(p.severity == "error" for p in problems),
                               "runs": runs, "environments": envs, "problems": [problem_dict(p) for p in problems]})
                continue
            print_problems(sorted(problems, key=lambda p: (p.line, p.column)), fmt)  # type: ignore[arg-type]
            if runs:
                click.echo(f"{shown}: ok ({len(runs)} run{'s' if len(runs) != 1 else ''} in {', '.join(envs)})")
    if output == "json":
        dump_json({"valid": not failed, "descriptors": report})
    if failed:
        raise SystemExit(1)


def _by_repository(settings: Settings, paths: tuple[Path, ...]) -> dict[Path, list[Path]]:
    """Descriptors grouped by the repository each belongs to (found from the descriptor upward);
    with no paths, every descriptor of the current repository."""
    if not paths:
        root = settings.whole_repository()
        return {root: find_descriptors([], root)}
    groups: dict[Path, list[Path]] = {}
    problems: list[Problem] = []
    for path in paths:
        root = settings.repository_for(path)
        try:
            found = find_descriptors([path], root)
        except DescriptorError as e:
            problems.extend(e.problems)
            continue
        for descriptor in found:
            groups.setdefault(root, [])
            if descriptor not in groups[root]:
                groups[root].append(descriptor)
    if problems:
        raise DescriptorError(problems)
    return groups
