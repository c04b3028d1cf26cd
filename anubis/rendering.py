"""The one entry point that turns a repository into its manifest files: ``render_repository``.

Every command that needs manifests calls it and only then decides what to do with them: ``render``
writes or compares them, ``publish`` writes and commits them, ``plan`` compares two revisions' runs,
``preview`` writes a pull request's runs to the preview branch. Pure but for reading the repository:
nothing is written here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from anubis import manifest_files
from anubis.project import load_project
from renderer.alerts import render_prometheus_rule
from renderer.dashboards import render_dashboards
from renderer.manifests import render_argocd
from renderer.planning import Catalog, check_descriptor, find_descriptors
from schemas.errors import DescriptorError, Problem
from schemas.runspec import RunSpec, Source

SYSTEM_GRAFANA = "system/grafana"  # generated dashboards beside the hand-written system manifests
SYSTEM_PROMETHEUS = "system/prometheus"  # generated alert rules


@dataclass(frozen=True)
class RenderedRepository:
    """``files``: path under ``manifests/`` → text. ``scopes``: the folders this render owns (a file the
    renderer wrote there before and no longer produces is stale). ``warnings``: problems that do not
    stop a render. ``runs``: every cluster run rendered."""

    files: dict[str, str]
    scopes: list[str]
    warnings: list[Problem] = field(default_factory=list)
    runs: list[RunSpec] = field(default_factory=list)

    def run_files(self) -> dict[str, str]:
        """Only the runs: ``<env>/<benchmark>/<run_id>.yaml`` → text."""
        return {path: text for path, text in self.files.items() if path.count("/") == 2 and not path.startswith("system/")}


def render_repository(
    root: Path,
    paths: Sequence[Path] = (),
    *,
    environment: str | None = None,
    catalog: Catalog | None = None,
    source: Callable[[Path], Source] | None = None,
    overrides: Callable[[Path], list[str]] | None = None,
    runs_only: bool = False,
) -> RenderedRepository:
    """The manifests of the descriptors under ``root/benchmarks`` (or of ``paths`` only), each run in the
    environment it chooses (or ``environment``). For the whole repository also the Argo CD bootstrap, the
    dashboards and the alert rules, which depend on every benchmark. ``source`` gives a benchmark
    folder's Source (default: the project's repository, no commit); ``overrides`` a descriptor's
    ``--set`` overrides; ``runs_only``: the runs alone (what ``plan`` and ``preview`` need). Raises
    :class:`DescriptorError` with every error of every descriptor."""
    catalog = catalog or Catalog(root)
    project = load_project(root)
    files: dict[str, str] = {}
    problems: list[Problem] = []
    scopes: set[str] = set()
    runs: list[RunSpec] = []
    clusters = [e for e in catalog.all() if e.kind == "kubernetes"]
    if paths or (root / "benchmarks").is_dir():
        for descriptor in find_descriptors(list(paths), root):
            try:
                planned = check_descriptor(
                    descriptor, repo_root=root, environment=environment, catalog=catalog,
                    source=source(descriptor.parent) if source else Source(repository=project.repository),
                    overrides=overrides(descriptor) if overrides else (), render=True,
                )
            except DescriptorError as e:
                problems.extend(e.problems)
                continue
            problems.extend(planned.warnings)
            scopes.update(f"{env.name}/{planned.benchmark}" for env in clusters)
            for spec in planned.runs:
                rendered = planned.manifests.get(spec.run_id)  # rendered while checked: cluster runs only
                if rendered is None:
                    continue
                files[f"{spec.environment}/{spec.benchmark}/{rendered.filename}"] = rendered.text
                runs.append(spec)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DescriptorError(problems)
    if not paths and not runs_only:  # what depends on every benchmark: Argo CD applications, dashboards, alert rules
        scopes = {env.name for env in clusters} | {"argocd", SYSTEM_GRAFANA, SYSTEM_PROMETHEUS}
        for name, text in render_argocd(clusters, project.repository or "", project.default_branch).items():
            files[f"argocd/{name}"] = text
        for name, text in render_dashboards(runs).items():
            files[f"{SYSTEM_GRAFANA}/{name}"] = text
        for name, text in render_prometheus_rule(runs).items():
            files[f"{SYSTEM_PROMETHEUS}/{name}"] = text
    return RenderedRepository(files=files, scopes=sorted(scopes), warnings=problems, runs=runs)


def render_tree(
    root: Path,
    *,
    catalog: Catalog | None = None,
    source: Callable[[Path], Source] | None = None,
    overrides: Callable[[Path], list[str]] | None = None,
) -> dict[str, str]:
    """Only the runs of :func:`render_repository` (``<env>/<benchmark>/<run_id>.yaml`` → text): what
    ``plan`` compares and ``preview`` publishes."""
    if not (root / "benchmarks").is_dir():
        return {}
    return render_repository(root, catalog=catalog, source=source, overrides=overrides, runs_only=True).run_files()


def write_repository(out: Path, rendered: RenderedRepository) -> manifest_files.Changes:
    """Write ``rendered`` under ``out``: new and changed files, stale ones removed (within its scopes)."""
    changes = manifest_files.compare(out, rendered.files, rendered.scopes)
    manifest_files.apply(out, rendered.files, changes)
    return changes
