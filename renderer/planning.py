"""Descriptor → validated RunSpecs: the one entry point of validation and planning.

``check_descriptor`` reads one descriptor, checks it against the schema and every rule (at every
matrix point, in the environment it targets), and returns its RunSpecs; every problem of the file is
reported at once in one :class:`~schemas.errors.DescriptorError`.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from renderer import identity, legacy, matrix
from renderer.environments import environment_names, load_environment
from renderer.loading import TomlDocument, display_path, dotted, read_toml, schema_problems
from renderer.rules import MISSING_SCRIPTS, Context, run_rules
from renderer.scripts import CollectedScript, ScriptProblem, collect_script
from renderer.specs import build_runspec
from schemas.environment import Environment
from schemas.errors import AnubisError, DescriptorError, Problem, RenderError, Severity
from schemas.instance_types import catalogue as instance_catalogue
from schemas.runspec import OVERRIDES_LABEL, RunSpec, Source

if TYPE_CHECKING:
    from renderer.manifests import RenderedRun

DESCRIPTOR_NAME = "descriptor.toml"


class Catalog:
    """The environments of one repository, loaded once."""

    def __init__(self, repo_root: Path) -> None:
        self.repo_root = repo_root
        self._loaded: dict[str, Environment] = {}
        self._for_types: dict[tuple[str, ...], Environment | None] = {}  # chosen once per set of types

    def get(self, name: str) -> Environment:
        if name not in self._loaded:
            self._loaded[name] = load_environment(self.repo_root, name)
        return self._loaded[name]

    def all(self) -> list[Environment]:
        return [self.get(n) for n in environment_names(self.repo_root)]

    def valid(self) -> list[Environment]:
        """Every environment that loads; broken ones are reported by whoever loads them by name."""
        loaded = []
        for name in environment_names(self.repo_root):
            try:
                loaded.append(self.get(name))
            except DescriptorError:
                continue
        return loaded

    def for_instance_types(self, instance_types: Sequence[str]) -> Environment | None:
        """The environment for a descriptor that names no ``info.environment``: the default cluster
        environment that offers every instance type it uses (client and server alike), else another
        that does; with no cluster environment at all, the built-in ``local``."""
        key = tuple(instance_types)
        if key not in self._for_types:
            self._for_types[key] = self._choose_for(instance_types)
        return self._for_types[key]

    def _choose_for(self, instance_types: Sequence[str]) -> Environment | None:
        clusters = [e for e in self.valid() if e.kind == "kubernetes"]
        if not clusters:
            return self.get("local")
        clusters.sort(key=lambda e: (not e.default, e.name))
        offering = [e for e in clusters if all(e.instance_type(t) is not None for t in instance_types)]
        return offering[0] if offering else None

    def for_instance_type(self, instance_type: str) -> Environment | None:
        return self.for_instance_types([instance_type])


@dataclass(frozen=True)
class Planned:
    """What planning one descriptor gave: its runs, its warnings, its scripts and (when asked) manifests."""

    descriptor: str  # as shown (relative to the repository)
    benchmark: str
    runs: list[RunSpec]
    warnings: list[Problem] = field(default_factory=list)
    scripts: CollectedScript | None = None
    manifests: dict[str, RenderedRun] = field(default_factory=dict)  # run id → its manifests, when asked for


def find_descriptors(paths: Sequence[Path], repo_root: Path) -> list[Path]:
    """Descriptor files named by ``paths`` (files as they are, whatever their name; folders searched
    for descriptor.toml). A folder without one, a missing path and a dangling or looping link are
    errors that say what was looked for."""
    found: list[Path] = []
    problems: list[Problem] = []
    for path in paths or [repo_root / "benchmarks"]:
        problem = _link_problem(path)
        if problem is not None:
            problems.append(problem)
        elif path.is_file():
            found.append(path)
        elif path.is_dir():
            direct = path / DESCRIPTOR_NAME
            inside = [direct] if direct.is_file() or direct.is_symlink() else _descriptors_under(path)
            if not inside:
                problems.append(Problem(
                    str(path), 1, 1, "",
                    f"no descriptor in this folder: looked for {DESCRIPTOR_NAME} in it and in its subfolders; name"
                    " the descriptor file itself (any name, such as descriptor_cpu.toml) or add a descriptor.toml",
                ))
            for candidate in inside:
                link = _link_problem(candidate)
                if link is not None:
                    problems.append(link)
                else:
                    found.append(candidate)
        elif os.path.lexists(path) and not path.is_symlink():
            problems.append(Problem(str(path), 1, 1, "", "not a regular file or a folder (a pipe, a device or a"
                                                         " socket): name a descriptor file"))
        else:
            problems.append(Problem(str(path), 1, 1, "", "no such file or folder"))
    if problems:
        raise DescriptorError(problems)
    # absolute, not resolved: a descriptor that is a link keeps its own folder (and is refused if it leaves
    # the repository, see check_descriptor)
    return sorted(dict.fromkeys(Path(os.path.abspath(p)) for p in found))


def _descriptors_under(folder: Path) -> list[Path]:
    """Every descriptor.toml below ``folder``, links that lead nowhere included (to be reported)."""
    found = [Path(top) / DESCRIPTOR_NAME for top, _, names in os.walk(folder) if DESCRIPTOR_NAME in names]
    return sorted(found)


def _link_problem(path: Path) -> Problem | None:
    """A symbolic link that leads nowhere, or round in a loop, as a problem; None otherwise."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        return Problem(str(path), 1, 1, "", "this link loops (it leads back to itself); point it at a descriptor file")
    except OSError as e:
        if e.errno == 40:  # ELOOP
            return Problem(str(path), 1, 1, "", "this link loops (it leads back to itself); point it at a descriptor file")
        return Problem(str(path), 1, 1, "", f"this link points to {os.readlink(path)}, which does not exist; fix or remove it")
    if not target.is_file() and not target.is_dir():
        return Problem(str(path), 1, 1, "", f"this link points to {target}, which is not a file or folder")
    return None


def benchmark_name(descriptor: Path) -> str:
    """``benchmarks/<name>/descriptor.toml`` → ``<name>``; another file name adds its stem."""
    folder = descriptor.parent.name
    if descriptor.name == DESCRIPTOR_NAME or descriptor.stem == folder:
        return folder
    return f"{folder}-{descriptor.stem}"


OVERRIDE_FORBIDDEN = ("matrix", "spec_version")


def parse_overrides(overrides: Sequence[str], data: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """``FIELD=VALUE`` pairs; VALUE is read as a TOML literal unless the field holds a string
    (``env.vars.BATCH=64`` stays the string "64")."""
    parsed: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    for item in overrides:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name or not all(name.split(".")):
            problems.append(
                Problem("--set", 1, 1, name, f"'{item}' is not FIELD=VALUE with a dotted field such as ml.args=--epochs 3")
            )
            continue
        if any(name == p or name.startswith(p + ".") for p in OVERRIDE_FORBIDDEN):
            problems.append(Problem("--set", 1, 1, name, f"'{name}' cannot be overridden with --set"))
            continue
        parsed.append((name, _override_value(name, text, data or {})))
    if problems:
        raise DescriptorError(problems)
    return parsed


def _override_value(name: str, text: str, data: dict[str, Any]) -> Any:
    try:
        value: Any = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # not a TOML literal: take it as a string
    current: Any = data
    for part in name.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    holds_string = isinstance(current, str) or ".vars." in f".{name}" or name.endswith(
        ("args", "benchmark_code", "start_command", "start_command_args")
    )
    if holds_string and not isinstance(value, str):
        return text  # env.vars.BATCH=64 means the string "64"
    return value


def _environment_for(
    doc: TomlDocument, data: dict[str, Any], catalog: Catalog, explicit: str | None
) -> tuple[Environment | None, list[Problem]]:
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    if explicit is not None:
        return catalog.get(explicit), []  # NotFoundError: a command-line mistake, not the file's
    name = (info or {}).get("environment")
    if isinstance(name, str) and not (len(name) <= 63 and _ENVIRONMENT_NAME.fullmatch(name)):
        return None, []  # the schema reports the name; it must not become a file name
    if isinstance(name, str):
        try:
            return catalog.get(name), []
        except DescriptorError:
            raise
        except AnubisError as e:
            return None, [doc.problem(("info", "environment"), str(e))]
    hardware = data.get("hardware") if isinstance(data.get("hardware"), dict) else {}
    instance = (hardware or {}).get("instance_type")
    if not isinstance(instance, str) or not instance:  # the schema says what is wrong
        return None, []
    server = data.get("server") if isinstance(data.get("server"), dict) else {}
    server_hardware = (server or {}).get("hardware") if isinstance((server or {}).get("hardware"), dict) else {}
    server_instance = (server_hardware or {}).get("instance_type")
    wanted = [instance, *([server_instance] if isinstance(server_instance, str) else [])]
    env = catalog.for_instance_types(wanted)
    if env is None:
        return None, [_no_environment(doc, catalog, instance, server_instance if isinstance(server_instance, str) else None)]
    return env, []


def _no_environment(doc: TomlDocument, catalog: Catalog, instance: str, server_instance: str | None) -> Problem:
    clusters = [e for e in catalog.valid() if e.kind == "kubernetes"]
    for where, name in ((("hardware", "instance_type"), instance), (("server", "hardware", "instance_type"), server_instance)):
        if name is None or any(e.instance_type(name) is not None for e in clusters):
            continue
        known = instance_catalogue()
        why = known.unknown_message(name) if known.get(name) is None else f"no environment in environments/ offers instance type '{name}'"
        return doc.problem(where, f"{why}; add it to an environment or set info.environment")
    names = ", ".join(e.name for e in clusters)
    return doc.problem(
        ("server", "hardware", "instance_type"),
        f"no one environment offers both '{instance}' and '{server_instance}' (environments: {names}); add both to"
        " one environment or set info.environment",
    )


def _matrix_problems(doc: TomlDocument, raw: dict[str, Any] | None) -> list[Problem]:
    """Axes and include/exclude entries may only name descriptor fields a run can vary."""
    if not raw:
        return []
    problems: list[Problem] = []
    axes = raw.get("axes") if isinstance(raw.get("axes"), dict) else {}
    for axis in axes or {}:
        if matrix.forbidden_field(axis):
            problems.append(doc.problem(("matrix", "axes", axis), f"'{axis}' cannot be a matrix axis"))
    for kind in ("include", "exclude"):
        entries = raw.get(kind)
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict):
                continue
            for key in entry:
                if matrix.forbidden_field(key) or not matrix.AXIS_FORM.fullmatch(key):
                    problems.append(
                        doc.problem(("matrix", kind, i), f"'{key}' cannot be set by a matrix {kind} entry")
                    )
                elif kind == "exclude" and key not in (axes or {}):
                    problems.append(
                        doc.problem(("matrix", kind, i), f"exclude names '{key}', which is not an axis of the matrix")
                    )
    return problems


def _relocate(problem: Problem, doc: TomlDocument, point: dict[str, Any]) -> Problem:
    """A problem caused by a matrix value is shown where that value is written (an axis, or the
    include entry that sets it), naming the point."""
    for key in point:
        if problem.field == key or problem.field.startswith((key + ".", key + "[")):
            where = _matrix_position(doc, key, point[key])
            return Problem(
                problem.path, where[0], where[1], problem.field,
                f"at matrix point {matrix.point_label(point)}: {problem.message}", problem.severity,
            )
    return problem


def _matrix_position(doc: TomlDocument, key: str, value: Any) -> tuple[int, int]:
    raw: dict[str, Any] = doc.data["matrix"] if isinstance(doc.data.get("matrix"), dict) else {}
    axes: dict[str, Any] = raw["axes"] if isinstance(raw.get("axes"), dict) else {}
    if key in axes and isinstance(axes[key], list) and value in axes[key]:
        return doc.positions.find(("matrix", "axes", key))
    includes: list[Any] = raw["include"] if isinstance(raw.get("include"), list) else []
    for i, entry in enumerate(includes):
        if isinstance(entry, dict) and entry.get(key) == value:
            return doc.positions.find(("matrix", "include", i, key))
    return doc.positions.find(("matrix",))


def _outside_link_problem(descriptor: Path, repo_root: Path, shown: str) -> Problem | None:
    """A descriptor inside the repository whose real file is outside it (a link to ``/dev/zero``, to
    ``/etc/passwd``, to another checkout) is refused before it is read."""
    lexical, root = Path(os.path.abspath(descriptor)), Path(os.path.abspath(repo_root))
    if root not in lexical.parents:
        return None
    real, real_root = Path(os.path.realpath(lexical)), Path(os.path.realpath(root))
    if real_root in real.parents:
        return None
    return Problem(shown, 1, 1, "", f"is a link to '{real}', outside the repository; commit the descriptor itself")


def _value_problems(doc: TomlDocument, data: Any, where: tuple[str | int, ...] = ()) -> list[Problem]:
    """TOML dates and times (no field takes one, and JSON cannot carry them) and nan/inf (JSON cannot
    either) anywhere in the descriptor, ``custom_params`` included. Depth is bounded by the loader."""
    problems: list[Problem] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
        elif isinstance(node, (datetime.date, datetime.time)):  # datetime is a date
            problems.append(doc.problem(path, f"is a TOML date or time ({node.isoformat()}); no field takes one: quote it"
                                              " as a string"))
        elif isinstance(node, float) and not math.isfinite(node):
            problems.append(doc.problem(path, f"is {node}; only finite numbers are allowed"))
    return sorted(problems, key=lambda p: (p.line, p.column, p.field))


def _points_problem(doc: TomlDocument, raw: dict[str, Any] | None) -> Problem | None:
    """The number of matrix points, counted before anything is expanded."""
    count = matrix.point_count(raw)
    if count <= matrix.MAX_POINTS:
        return None
    return doc.problem(
        ("matrix", "axes"),
        f"the matrix has {count if count < 10**12 else 'more than 10^12'} points; at most {matrix.MAX_POINTS} are"
        " allowed: use fewer axes or values, or split the benchmark",
    )


def check_descriptor(
    descriptor: Path,
    *,
    repo_root: Path,
    environment: str | None = None,
    overrides: Sequence[str] = (),
    source: Source | None = None,
    catalog: Catalog | None = None,
    missing_scripts: Severity = "error",
    render: bool = False,
) -> Planned:
    """``missing_scripts="warning"``: a descriptor checked on its own (``anubis validate``) whose
    script-mode folder is not beside it is warned about; rendering and running refuse it.
    ``render``: also render each cluster run's manifests, once (``Planned.manifests``), as ``anubis
    render`` writes them; the checks and their messages are the same either way."""
    catalog = catalog or Catalog(repo_root)
    shown = display_path(descriptor, repo_root)
    link = _outside_link_problem(descriptor, repo_root, shown)
    if link is not None:
        raise DescriptorError([link])
    doc = read_toml(descriptor, shown)
    data = matrix.copy_tree(doc.data)
    problems: list[Problem] = list(legacy.upgrade(doc, data))
    for name, value in parse_overrides(overrides, data):
        try:
            matrix.set_field(data, name, value)
        except ValueError as e:
            problems.append(Problem("--set", 1, 1, name, str(e)))
    problems.extend(_value_problems(doc, data))
    problems.extend(schema_problems(doc, "descriptor", data))
    raw_matrix = data.get("matrix") if isinstance(data.get("matrix"), dict) else None
    problems.extend(_matrix_problems(doc, raw_matrix))
    errors = [p for p in problems if p.severity == "error"]
    too_many = _points_problem(doc, raw_matrix) if not errors else None
    if too_many is not None:
        raise DescriptorError([too_many])
    points = matrix.expand(raw_matrix) if not errors else [{}]
    collect = functools.cache(_collect_or_problem)
    base_problems = list(problems)  # of the file as written; each point adds its own
    benchmark = benchmark_name(descriptor)
    runs: list[RunSpec] = []
    script: CollectedScript | None = None
    script_spec = None
    for point in points:
        effective = matrix.apply_point(data, point) if point else {k: v for k, v in data.items() if k != "matrix"}
        point_problems: list[Problem] = []
        if point:
            point_problems.extend(schema_problems(doc, "descriptor", effective))
        env, env_problems = _environment_for(doc, effective, catalog, environment)
        point_problems.extend(env_problems)
        rejected = {p.field for p in base_problems + point_problems if p.severity == "error" and p.field}
        point_problems.extend(
            p for p in run_rules(Context(doc, effective, env, descriptor.parent, collect=_collector(collect)))
            if not any(p.field == f or p.field.startswith((f + ".", f + "[")) for f in rejected)
        )
        problems.extend(_relocate(_soften(p, missing_scripts), doc, point) for p in point_problems)
        if any(p.severity == "error" for p in problems) or env is None:
            continue
        if script is None:
            declared = effective.get("ml", {}).get("script", {}).get("script")
            found = collect(descriptor.parent, declared)
            if isinstance(found, ScriptProblem):  # reported by the rules
                continue
            script = found
            script_spec = script.spec(repo_root) if script else None
        runs.append(
            build_runspec(
                benchmark=benchmark,
                descriptor_path=shown,
                raw=data,
                effective=effective,
                point=point,
                env=env,
                script=script,
                script_spec=script_spec,
                source=source or Source(),
            )
        )
    unique: dict[tuple[int, int, str, str, str], Problem] = {}
    for p in problems:
        unique.setdefault((p.line, p.column, p.field, p.message, p.severity), p)
    ordered = sorted(unique.values(), key=lambda p: (p.path, p.line, p.column, p.field))
    errors = [p for p in ordered if p.severity == "error"]
    if errors:
        raise DescriptorError(ordered)
    if overrides:  # a variant: its own baseline, never the unmodified benchmark's (docs/regressions.md)
        mark = identity.sha256(json.dumps(sorted(overrides)))[:10]
        runs = [dataclasses.replace(run, labels={**run.labels, OVERRIDES_LABEL: mark}) for run in runs]
    manifests: dict[str, RenderedRun] = {}
    problem = _render_problems(doc, runs, catalog, script, manifests if render else None)
    if problem is not None:
        raise DescriptorError([problem])
    seen_ids: set[str] = set()
    for run in runs:
        if run.run_id in seen_ids:
            raise DescriptorError(
                [doc.problem(("matrix",), f"two matrix points give the same run ({run.run_id}); remove the duplicate")]
            )
        seen_ids.add(run.run_id)
    return Planned(shown, benchmark, runs, [p for p in ordered if p.severity == "warning"], script, manifests)


_ENVIRONMENT_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")  # as the schema's info.environment (fullmatch)
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")  # fullmatch
# what ``anubis publish`` and ``anubis preview`` put in a run's Source, at its longest (GitHub: owner 39
# characters, repository 100; preview branches 200): a run that renders with it renders with theirs
_LONGEST_EXTRA_ANNOTATIONS = {"argocd.argoproj.io/sync-options": "ServerSideApply=true"}  # the scripts ConfigMap's
_LONGEST_SOURCE = Source(
    repository="https://github.com/" + "o" * 39 + "/" + "r" * 100, commit="0" * 40, pull_request=10**9, branch="b" * 200
)


def _render_problems(
    doc: TomlDocument,
    runs: Sequence[RunSpec],
    catalog: Catalog,
    script: CollectedScript | None,
    manifests: dict[str, RenderedRun] | None,
) -> Problem | None:
    """The first run the renderer refuses, as a problem (see :func:`_render_problem`). With
    ``manifests`` (``anubis render``) every cluster run is rendered for real, once, into it (run id →
    manifests); what depends on the source (a publish's or a preview's, longer than this render's) is
    checked on the objects' labels and annotations alone, and a refusal is reported as a trial render
    with the longest source reports it, so that ``render`` and ``validate`` say the same."""
    tried: set[str] = set()  # environments with one run rendered in full
    contents = script.contents() if script else {}
    for run in runs:
        first = run.environment not in tried
        tried.add(run.environment)
        env = catalog.get(run.environment)
        if manifests is None or env.kind != "kubernetes":
            problem = _render_problem(doc, run, catalog, script, full=first)
        else:
            problem = _render_problem(doc, run, catalog, script, full=False)
            if problem is None:
                from renderer.manifests import render_run  # templates: loaded only when a cluster run is rendered

                try:
                    manifests[run.run_id] = render_run(run, env, contents)
                except RenderError as e:
                    problem = _render_problem(doc, run, catalog, script, full=True) or _refusal(doc, env, e)
            elif first:
                problem = _render_problem(doc, run, catalog, script, full=True) or problem
        if problem is not None:
            return problem
    return None


def _refusal(doc: TomlDocument, env: Environment, error: RenderError) -> Problem:
    field: tuple[str, ...] = ("info", "description") if "annotations" in str(error) else ()
    return doc.problem(field, f"cannot be rendered for environment '{env.name}': {error}")


def _render_problem(
    doc: TomlDocument, run: RunSpec, catalog: Catalog, script: CollectedScript | None, *, full: bool
) -> Problem | None:
    """Whatever the renderer would refuse for a cluster run, said now: ``validate`` passes only what
    ``render`` renders (the same code, with the longest source a publish or a preview gives).

    ``full``: render the run's manifests (the first run of each environment); otherwise only what
    differs between the points of a matrix — the objects' labels and annotations (a matrix value, the
    RunSpec's size) — since every other refusal of the renderer depends on the environment, the
    strategy, the data and the script sources, which the rules check the same at every point. A full
    render costs about 10 ms; a matrix has up to 256 points."""
    env = catalog.get(run.environment)
    if env.kind != "kubernetes":
        return None
    from renderer.manifests import render_run  # templates: loaded only when a cluster run is planned
    from renderer.objects import object_annotations, object_labels

    if not (len(run.benchmark) <= 63 and _LABEL_VALUE.fullmatch(run.benchmark)):
        return doc.problem((), f"the benchmark's name '{run.benchmark}' (its folder's) labels its objects on the cluster,"
                               " so it must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a"
                               " letter or digit: rename the folder")
    trial = replace(run, source=_LONGEST_SOURCE)
    try:
        if full:
            render_run(trial, env, script.contents() if script else {})
        else:
            object_labels(trial)
            object_annotations(trial, _LONGEST_EXTRA_ANNOTATIONS)
    except RenderError as e:
        return _refusal(doc, env, e)
    return None


def _collect_or_problem(folder: Path, declared: str | None) -> CollectedScript | ScriptProblem | None:
    try:
        return collect_script(folder, declared)
    except ScriptProblem as e:
        return e


def _collector(
    cached: Callable[[Path, str | None], CollectedScript | ScriptProblem | None],
) -> Callable[[Path, str | None], CollectedScript | None]:
    """``collect_script`` over a cache: the sources are read once for every matrix point."""

    def collect(folder: Path, declared: str | None) -> CollectedScript | None:
        found = cached(folder, declared)
        if isinstance(found, ScriptProblem):
            raise found.with_traceback(None)  # the same instance at every point: no growing traceback
        return found

    return collect


def _soften(problem: Problem, missing_scripts: Severity) -> Problem:
    if missing_scripts == "warning" and problem.message.startswith(MISSING_SCRIPTS):
        return problem._replace(severity="warning",
                                message=problem.message + " (`anubis render` and `anubis run` refuse it)")
    return problem


def plan_runs(
    target: Path,
    *,
    repo_root: Path,
    environment: str | None = None,
    overrides: Sequence[str] = (),
    source: Source | None = None,
) -> list[RunSpec]:
    """The RunSpecs of one descriptor file or benchmark folder. Raises DescriptorError."""
    catalog = Catalog(repo_root)
    runs: list[RunSpec] = []
    for descriptor in find_descriptors([target], repo_root):
        runs.extend(
            check_descriptor(
                descriptor, repo_root=repo_root, environment=environment, overrides=overrides, source=source,
                catalog=catalog,
            ).runs
        )
    return runs


__all__ = ["Catalog", "Planned", "check_descriptor", "dotted", "find_descriptors", "plan_runs"]
