"""What a schema cannot say: the semantic checks of a descriptor, one function per rule.

Each rule reads the (schema-checked, possibly matrix-applied) descriptor and yields problems located
at the offending key. Rules are defensive: on data the schema already rejected they skip silently
rather than raise, so that every problem of a file is reported at once.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from renderer.commands import split_command
from renderer.durations import format_duration, parse_duration
from renderer.images import ImageReferenceError, parse_image, registry_allowed
from renderer.loading import TomlDocument
from renderer.patterns import pattern_problem
from renderer.pod_paths import CACHE_DIR, SCRIPTS_DIR
from renderer.scripts import CollectedScript, ScriptProblem, collect_script
from schemas.environment import Environment
from schemas.errors import Problem
from schemas.instance_types import catalogue as instance_catalogue
from schemas.units import throughput_unit

MAX_PROCESSES_PER_INSTANCE = 1024  # as the schema's integer form
MAX_COMMAND_LENGTH = 16384  # the schema's $defs/command: shlex takes quadratic time on one long word
CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


@dataclass(frozen=True)
class Context:
    """What a validation rule reads: the document, its data at one matrix point, the environment."""

    doc: TomlDocument
    data: dict[str, Any]
    env: Environment | None
    folder: Path  # the descriptor's folder
    # reads the script-mode sources; check_descriptor hands in one that reads them once for every point
    collect: Callable[[Path, str | None], CollectedScript | None] = collect_script


Rule = Callable[[Context], Iterator[Problem]]


def _get(data: Any, *path: str | int) -> Any:
    node = data
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return None
        elif not isinstance(node, dict):
            return None
        node = node[part] if isinstance(part, int) else node.get(part)
    return node


def check_scheduling(ctx: Context) -> Iterator[Problem]:
    value = _get(ctx.data, "info", "scheduling")
    if not isinstance(value, str) or value == "single_run":
        return
    if value.startswith("@"):
        if value not in CRON_MACROS:
            yield ctx.doc.problem(
                ("info", "scheduling"), f"unknown schedule macro {value!r}; use one of {', '.join(CRON_MACROS)}"
            )
        return
    from croniter import croniter  # here: its import looks for `file` on PATH and runs it (a process)

    if len(value.split()) != 5 or not croniter.is_valid(value):
        yield ctx.doc.problem(
            ("info", "scheduling"),
            f"{value!r} is not a valid five-field cron expression (minute hour day month weekday),"
            " a macro such as @daily, or single_run",
        )


def check_patterns(ctx: Context) -> Iterator[Problem]:
    seen: dict[str, int] = {}  # one name space for the client's and the server's metrics
    for section in (("output",), ("server", "output")):
        metrics = _get(ctx.data, *section, "metrics")
        if not isinstance(metrics, list):
            continue
        for i, metric in enumerate(metrics):
            if not isinstance(metric, dict):
                continue
            name = metric.get("name")
            if isinstance(name, str):
                if name in seen:
                    yield ctx.doc.problem(
                        (*section, "metrics", i, "name"), f"metric '{name}' is declared twice; give each metric one entry"
                    )
                seen[name] = i
            efficiency = metric.get("efficiency")
            units = metric.get("units")
            if efficiency and isinstance(units, str) and throughput_unit(units) is None:
                yield ctx.doc.problem(
                    (*section, "metrics", i, "efficiency"),
                    f"efficiency is work per joule or per dollar, so it needs a throughput: units '{units}' are not a"
                    " unit per second (such as images/s); remove efficiency or declare the throughput",
                )
            elif efficiency and metric.get("direction") == "lower":
                yield ctx.doc.problem(
                    (*section, "metrics", i, "efficiency"),
                    "efficiency needs a throughput where higher is better; this metric's direction is 'lower'",
                )
            pattern = metric.get("pattern")
            if isinstance(pattern, str):
                try:
                    problem = pattern_problem(pattern)
                except RecursionError:  # Python's re parser recurses once per group inside a group
                    problem = "the pattern nests groups too deeply for the regular expression parser; flatten it"
                if problem:
                    yield ctx.doc.problem((*section, "metrics", i, "pattern"), problem)


def check_strategy(ctx: Context) -> Iterator[Problem]:
    strategy = _get(ctx.data, "hardware", "strategy") or "single_node"
    has_server = isinstance(ctx.data.get("server"), dict)
    if strategy == "inference" and not has_server:
        yield ctx.doc.problem(
            ("hardware", "strategy"), "strategy 'inference' needs a [server] section describing the server to benchmark"
        )
    if strategy != "inference" and has_server:
        yield ctx.doc.problem(("server",), f"a [server] section only applies to strategy 'inference', not '{strategy}'")
    instances = _get(ctx.data, "hardware", "distributed", "num_instances")
    if strategy == "horovod":
        if not isinstance(instances, int) or instances < 2:
            field = ("hardware", "distributed", "num_instances") if instances is not None else ("hardware", "strategy")
            yield ctx.doc.problem(
                field,
                "strategy 'horovod' needs at least 2 instances; set [hardware.distributed] num_instances = 2 or more",
            )
    elif isinstance(instances, int) and instances > 1:
        yield ctx.doc.problem(
            ("hardware", "distributed", "num_instances"),
            f"num_instances = {instances} only applies to strategy 'horovod'; this benchmark is '{strategy}'",
        )
    if isinstance(instances, int) and ctx.env is not None and instances > ctx.env.policy.max_instances:
        yield ctx.doc.problem(
            ("hardware", "distributed", "num_instances"),
            f"num_instances = {instances} is more than environment '{ctx.env.name}' allows"
            f" ({ctx.env.policy.max_instances}, its policy.max_instances)",
        )
    processes = _get(ctx.data, "hardware", "distributed", "processes_per_instance")
    if isinstance(processes, str) and processes.isdigit() and int(processes) > MAX_PROCESSES_PER_INSTANCE:
        yield ctx.doc.problem(
            ("hardware", "distributed", "processes_per_instance"),
            f"must be at most {MAX_PROCESSES_PER_INSTANCE} (got {processes})",
        )


def _downloads(data: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    for section in (("data", "sources"), ("server", "models")):
        items = _get(data, *section)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    yield (*section, i), item


# where a run's pod mounts its own volumes or the system's (renderer.objects): a data file cannot go there
RESERVED_PATHS = ("/dev", "/proc", "/sys", CACHE_DIR, posixpath.dirname(SCRIPTS_DIR))


def check_data(ctx: Context) -> Iterator[Problem]:
    import hashlib

    seen: list[tuple[str, tuple[str | int, ...]]] = []
    ids: dict[str, tuple[str | int, ...]] = {}
    for where, item in _downloads(ctx.data):
        if "uri" in item and "src" not in item:
            yield ctx.doc.problem(
                (*where, "uri"), "'uri' is deprecated; rename it to 'src' (it still works)", severity="warning"
            )
        src = item.get("src", item.get("uri"))
        if isinstance(src, str) and "://" in src:
            scheme = src.split("://", 1)[0].lower()
            if scheme not in ("http", "https", "s3", "file"):
                yield ctx.doc.problem(
                    (*where, "src" if "src" in item else "uri"),
                    f"unsupported scheme '{scheme}://'; use http, https or s3 (file:// for local runs only)",
                )
            elif scheme == "file" and ctx.env is not None and ctx.env.kind != "local":
                yield ctx.doc.problem(
                    (*where, "src" if "src" in item else "uri"),
                    f"file:// sources exist only on this machine; environment '{ctx.env.name}' needs http, https or s3",
                )
        path = item.get("path")
        if isinstance(path, str):
            if not path.startswith("/"):
                yield ctx.doc.problem((*where, "path"), f"path {path!r} must be absolute (start with '/')")
            elif posixpath.normpath(path) != path or path.startswith("//"):
                yield ctx.doc.problem(
                    (*where, "path"),
                    f"path {path!r} must be normalised (no '.', '..', '//' or final '/'): write"
                    f" {posixpath.normpath('/' + path.lstrip('/'))!r}",
                )
            elif path == "/" or any(path == r or path.startswith(r + "/") or r.startswith(path + "/") for r in RESERVED_PATHS):
                yield ctx.doc.problem(
                    (*where, "path"),
                    f"path {path!r} is, holds or lies in a folder every run needs ('/', {', '.join(RESERVED_PATHS)});"
                    " choose another",
                )
            else:
                norm = posixpath.normpath(path)
                for other, other_where in seen:
                    if norm == other or norm.startswith(other.rstrip("/") + "/") or other.startswith(norm.rstrip("/") + "/"):
                        from renderer.loading import dotted

                        yield ctx.doc.problem(
                            (*where, "path"), f"path {path!r} collides with {other!r} of {dotted(other_where)}"
                        )
                        break
                seen.append((norm, where))
        checksum = item.get("md5")
        if isinstance(checksum, str) and ":" in checksum:
            algorithm, digest = checksum.split(":", 1)
            try:
                expected = hashlib.new(algorithm.lower()).digest_size * 2
            except ValueError:
                yield ctx.doc.problem((*where, "md5"), f"unknown checksum algorithm '{algorithm}'; use md5, sha1 or sha256")
            else:
                if len(digest) != expected:
                    yield ctx.doc.problem(
                        (*where, "md5"), f"a {algorithm} checksum has {expected} hex digits, this one has {len(digest)}"
                    )
        ident = item.get("id")
        if isinstance(ident, str):
            if ident in ids:
                yield ctx.doc.problem((*where, "id"), f"data id '{ident}' is used twice; ids must be unique")
            ids[ident] = where


def check_ports(ctx: Context) -> Iterator[Problem]:
    ports = _get(ctx.data, "server", "env", "ports")
    if not isinstance(ports, list):
        return
    seen: set[int] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, int) or isinstance(port, bool):
            continue
        if not 1 <= port <= 65535:
            yield ctx.doc.problem(("server", "env", "ports", i), f"port {port} is out of range (1-65535)")
        elif port in seen:
            yield ctx.doc.problem(("server", "env", "ports", i), f"port {port} is listed twice")
        seen.add(port)
    probe_port = _get(ctx.data, "server", "env", "readiness_probe", "port")
    if isinstance(probe_port, int) and ports and probe_port not in ports:
        yield ctx.doc.problem(
            ("server", "env", "readiness_probe", "port"),
            f"readiness probe port {probe_port} is not one of the server's ports {ports}",
        )


def check_commands(ctx: Context) -> Iterator[Problem]:
    for path in (("ml", "benchmark_code"), ("ml", "args"), ("server", "env", "start_command"), ("server", "env", "start_command_args")):
        value = _get(ctx.data, *path)
        if isinstance(value, str) and len(value) <= MAX_COMMAND_LENGTH:  # longer: the schema said so
            try:
                split_command(value)
            except ValueError as e:
                yield ctx.doc.problem(path, str(e))
    strategy = _get(ctx.data, "hardware", "strategy") or "single_node"
    if strategy != "horovod" and not _get(ctx.data, "ml", "benchmark_code"):
        # The image's entrypoint runs; legal, but worth saying.
        with_args = " with ml.args as its arguments" if _get(ctx.data, "ml", "args") else ""
        yield ctx.doc.problem(
            ("ml",) if "ml" in ctx.data else ("env", "docker_image"),
            f"no ml.benchmark_code: the image's own entrypoint runs{with_args} (and anubis run needs a command"
            " on a host without a container engine)",
            severity="warning",
        )


_SCRIPT_REFERENCE = re.compile(r"\$\(BAI_SCRIPTS_PATH\)/([^\s'\"]+)")
_COMMAND_FIELDS = (("ml", "benchmark_code"), ("ml", "args"), ("server", "env", "start_command"), ("server", "env", "start_command_args"))


MISSING_SCRIPTS = "uses $(BAI_SCRIPTS_PATH) but there are no script-mode sources"


def check_scripts(ctx: Context) -> Iterator[Problem]:
    commands = [(path, _get(ctx.data, *path)) for path in _COMMAND_FIELDS]
    commands = [(path, value) for path, value in commands if isinstance(value, str)]
    uses_scripts = [(path, value) for path, value in commands if "BAI_SCRIPTS_PATH" in value]
    declared = _get(ctx.data, "ml", "script", "script")
    try:
        script = ctx.collect(ctx.folder, declared if isinstance(declared, str) else None)
    except ScriptProblem as e:
        yield ctx.doc.problem(("ml", "script", "script") if isinstance(declared, str) else ("ml",), str(e))
        return
    if script is None:
        if uses_scripts:
            where = declared if isinstance(declared, str) else "src"
            yield ctx.doc.problem(
                uses_scripts[0][0],
                f"{MISSING_SCRIPTS}: {where}/ is missing beside the descriptor; add the {where}/ folder with the"
                " scripts it runs, or set [ml.script] script = \"<folder>\"",
            )
        return
    names = {e.relpath for e in script.entries}
    folders = {"/".join(n.split("/")[:i]) for n in names for i in range(1, n.count("/") + 1)}
    for path, value in uses_scripts:
        for reference in _SCRIPT_REFERENCE.findall(value):
            relative = reference.rstrip("/")
            if relative not in names and relative not in folders:
                listed = ", ".join(sorted(names)[:5]) or "nothing"
                yield ctx.doc.problem(
                    path,
                    f"$(BAI_SCRIPTS_PATH)/{reference} is not among the script-mode sources ({listed})",
                    severity="warning",
                )


def check_timeout(ctx: Context) -> Iterator[Problem]:
    value = _get(ctx.data, "info", "timeout")
    if value is None or ctx.env is None:
        return
    try:
        seconds = parse_duration(value)
    except ValueError:
        return
    limit = ctx.env.policy.max_timeout_seconds
    if seconds > limit:
        yield ctx.doc.problem(
            ("info", "timeout"),
            f"timeout {format_duration(seconds)} exceeds the maximum of environment '{ctx.env.name}' ({format_duration(limit)})",
        )


def check_policy(ctx: Context) -> Iterator[Problem]:
    env = ctx.env
    if env is None:
        return
    policy = env.policy
    for section in (("env",), ("server", "env")):
        if _get(ctx.data, *section, "privileged") is True and not policy.allow_privileged:
            yield ctx.doc.problem(
                (*section, "privileged"),
                f"environment '{env.name}' does not allow privileged containers; remove privileged = true"
                " or target an environment that allows it",
            )
        image = _get(ctx.data, *section, "docker_image")
        if not isinstance(image, str):
            continue
        try:
            reference = parse_image(image)
        except ImageReferenceError as e:
            yield ctx.doc.problem((*section, "docker_image"), str(e))
            continue
        if policy.allowed_registries and not registry_allowed(reference, policy.allowed_registries):
            yield ctx.doc.problem(
                (*section, "docker_image"),
                f"registry '{reference.registry}' is not allowed in environment '{env.name}'; allowed: "
                f"{', '.join(policy.allowed_registries)}",
            )
    gpus = 0
    for section in (("hardware",), ("server", "hardware")):
        instance = _get(ctx.data, *section, "instance_type")
        if not isinstance(instance, str):
            continue
        offered = env.instance_type(instance)
        if offered is None:
            yield ctx.doc.problem((*section, "instance_type"), env.unavailable_reason(instance))
            continue
        if env.kind == "local" and instance not in env.instance_types and instance_catalogue().get(instance) is None:
            yield ctx.doc.problem(
                (*section, "instance_type"),
                f"{instance_catalogue().unknown_message(instance)}; a cluster environment will refuse it",
                severity="warning",
            )
        count = _get(ctx.data, "hardware", "distributed", "num_instances") if section == ("hardware",) else 1
        gpus += offered.gpus * (count if isinstance(count, int) else 1)
        if section == ("hardware",) and _get(ctx.data, "hardware", "distributed", "processes_per_instance") == "gpus":
            if offered.gpus == 0 and env.kind != "local":
                yield ctx.doc.problem(
                    ("hardware", "distributed", "processes_per_instance"),
                    f"processes_per_instance = \"gpus\" but '{instance}' has no GPUs in environment '{env.name}'",
                )
    if gpus > policy.max_gpus:
        yield ctx.doc.problem(
            ("hardware", "instance_type"),
            f"this run needs {gpus} GPUs; environment '{env.name}' allows at most {policy.max_gpus}",
        )


def check_engine(ctx: Context) -> Iterator[Problem]:
    if _get(ctx.data, "info", "execution_engine") != "aws.sagemaker" or ctx.env is None:
        return
    if ctx.env.kind == "local":
        yield ctx.doc.problem(
            ("info", "execution_engine"),
            "execution_engine 'aws.sagemaker' runs on SageMaker, not on this machine; use a cluster environment",
        )
    else:
        yield ctx.doc.problem(
            ("info", "execution_engine"),
            "execution_engine 'aws.sagemaker' is not supported yet (see docs/manifests.md); use 'default' to run"
            " on the cluster's own nodes",
        )


ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")  # what Kubernetes accepts as a variable name (fullmatch)
RESERVED_VARIABLES = frozenset(
    {"BENCHMARK_AI", "BENCHMARK_AI_FIFO_FILEPATH", "BAI_SCRIPTS_PATH", "OMPI_ALLOW_RUN_AS_ROOT",
     "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"}
)
RESERVED_PREFIXES = ("ANUBIS_", "INFERENCE_SERVER_")


def check_variables(ctx: Context) -> Iterator[Problem]:
    for section in (("env", "vars"), ("server", "env", "vars")):
        variables = _get(ctx.data, *section)
        if not isinstance(variables, dict):
            continue
        for name in variables:
            if not ENV_NAME.fullmatch(name):
                yield ctx.doc.problem(
                    (*section, name),
                    f"'{name}' is not a valid variable name: use letters, digits, '_', '-' and '.', not starting"
                    " with a digit",
                )
            elif name in RESERVED_VARIABLES or name.startswith(RESERVED_PREFIXES):
                yield ctx.doc.problem((*section, name), f"'{name}' is set by Anubis for every run; choose another name")


def check_cluster_limits(ctx: Context) -> Iterator[Problem]:
    """What a cluster cannot run, said at validation rather than at render."""
    strategy = _get(ctx.data, "hardware", "strategy") or "single_node"
    scheduling = _get(ctx.data, "info", "scheduling")
    if strategy == "horovod" and isinstance(scheduling, str) and scheduling != "single_run":
        yield ctx.doc.problem(
            ("info", "scheduling"),
            "scheduled horovod runs are not supported: a CronJob can only create Jobs, not MPIJobs; use single_run",
        )
    if strategy == "inference" and ctx.env is not None and ctx.env.kind == "kubernetes":
        instance = _get(ctx.data, "hardware", "instance_type")
        offered = ctx.env.instance_type(instance) if isinstance(instance, str) else None
        if offered is not None and offered.gpus:
            yield ctx.doc.problem(
                ("hardware", "instance_type"),
                "the inference client shares the server's pod, so it cannot ask for GPUs of its own; give the GPUs"
                " to the server (server.hardware.instance_type) and a CPU type to the client",
            )


RULES: tuple[Rule, ...] = (
    check_scheduling,
    check_patterns,
    check_strategy,
    check_data,
    check_ports,
    check_commands,
    check_scripts,
    check_timeout,
    check_policy,
    check_engine,
    check_variables,
    check_cluster_limits,
)


def run_rules(ctx: Context) -> list[Problem]:
    problems: list[Problem] = []
    for rule in RULES:
        try:
            problems.extend(rule(ctx))
        except (TypeError, KeyError, AttributeError, ValueError):  # malformed data the schema reported
            continue
    return problems
