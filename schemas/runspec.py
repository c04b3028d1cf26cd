"""The RunSpec: the contract between the renderer and everything that runs or watches a run.

The renderer turns one descriptor (at one matrix point, in one environment) into one RunSpec; it is
put, as JSON, on every Kubernetes object of the run (annotation ``anubis.dev/runspec``) and handed to
the local backend as it is. Whoever executes or follows a run reads nothing else: never the
descriptor repository.

``to_dict``/``from_dict`` round-trip exactly; ``schemas/runspec.schema.json`` describes the JSON.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal, NewType

from schemas.policy import OVERRIDES_LABEL as OVERRIDES_LABEL
from schemas.policy import RegressionPolicy as RegressionPolicy
from schemas.units import efficiency_unit

RunId = NewType("RunId", str)
FamilyId = NewType("FamilyId", str)
CommitSha = NewType("CommitSha", str)

Direction = Literal["higher", "lower"]
Strategy = Literal["single_node", "horovod", "inference"]
Engine = Literal["default", "aws.sagemaker"]

RUNSPEC_VERSION = 1


@dataclass(frozen=True)
class Checksum:
    """A data source's expected digest."""

    algorithm: str  # hashlib name: md5, sha1, sha256, ...
    hexdigest: str  # lower-case

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


@dataclass(frozen=True)
class DataSource:
    """A file or folder fetched before the run, and where the run sees it."""

    src: str  # http(s)://, s3://, file:// (local only)
    path: str  # absolute path where the run sees it
    checksum: Checksum | None = None
    id: str | None = None




@dataclass(frozen=True)
class MetricSpec:
    """A metric to extract from the output, and how it is judged."""

    name: str
    units: str
    pattern: str | None  # regex whose first group captures the number; None: emitted events only
    direction: Direction
    policy: RegressionPolicy = field(default_factory=RegressionPolicy)
    required: bool = False  # no value at all fails the run; serialized only when true (older RunSpecs unchanged)
    # a throughput's work per joule / per dollar, judged like any metric (schemas.units.EFFICIENCIES);
    # serialized only when asked for
    efficiency: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probe:
    """An HTTP readiness probe of an inference server."""

    path: str
    port: int
    scheme: Literal["http", "https"] = "http"
    initial_delay_seconds: int = 10
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class ScriptFile:
    """One file of a RunSpec's script-mode sources."""

    path: str  # relative to the script root, forward slashes
    sha256: str
    size: int
    executable: bool = False


@dataclass(frozen=True)
class ScriptSpec:
    """Script mode: the folder beside the descriptor that the run sees at ``BAI_SCRIPTS_PATH``."""

    source_dir: str  # relative to the repository root (forward slashes)
    digest: str  # sha256 over the sorted (path, sha256, executable) list
    files: tuple[ScriptFile, ...]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class ServerSpec:
    """The inference server of an ``inference`` run."""

    image: str
    command: tuple[str, ...]
    ports: tuple[int, ...]
    env: dict[str, str]
    privileged: bool
    extended_shm: bool
    instance_type: str
    readiness_probe: Probe | None
    models: tuple[DataSource, ...] = ()
    metrics: tuple[MetricSpec, ...] = ()


@dataclass(frozen=True)
class Placement:
    """Where a pod of the run goes: from the environment's instance type table."""

    instance_type: str
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    cpu: str | None = None
    memory: str | None = None
    gpus: int = 0


@dataclass(frozen=True)
class Source:
    """Where the descriptor came from (not part of the run's identity)."""

    repository: str | None = None
    commit: str | None = None  # the commit that last changed the benchmark's folder
    pull_request: int | None = None
    dirty: bool = False
    branch: str | None = None  # the branch the runs belong to: the default branch, or a pull request's head


@dataclass(frozen=True)
class RunSpec:
    """One run of a benchmark at one matrix point in one environment: everything a backend needs."""

    run_id: str
    family_id: str
    benchmark: str
    descriptor_path: str
    descriptor_hash: str
    environment: str
    matrix_point: dict[str, Any]
    strategy: Strategy
    execution_engine: Engine
    schedule: str | None  # cron expression; None for single_run
    image: str
    command: tuple[str, ...]  # ml.benchmark_code, split; empty: the image's own entrypoint
    env: dict[str, str]
    privileged: bool
    extended_shm: bool
    placement: Placement
    num_instances: int
    processes_per_instance: int | Literal["gpus"]
    availability_zone: str | None
    aws_zone_id: str | None
    timeout_seconds: int
    data: tuple[DataSource, ...]
    metrics: tuple[MetricSpec, ...]
    labels: dict[str, str]
    description: str = ""
    framework: str = ""
    framework_version: str = ""
    custom_params: dict[str, Any] = field(default_factory=dict)
    script: ScriptSpec | None = None
    server: ServerSpec | None = None
    rerun: int = 0
    source: Source = field(default_factory=Source)
    args: tuple[str, ...] = ()  # ml.args, split: appended to the command, or given to the entrypoint
    version: int = RUNSPEC_VERSION

    @property
    def argv(self) -> tuple[str, ...]:
        """What runs: the command and its arguments (only arguments when the image's entrypoint runs)."""
        return self.command + self.args

    @property
    def task_name(self) -> str:
        return self.labels.get("task_name", self.benchmark)

    def all_metrics(self) -> tuple[MetricSpec, ...]:
        """Every metric judged: the benchmark's, the inference server's, and the efficiency figures a
        throughput asks for (``<name>_per_joule``, ``<name>_per_dollar``: no pattern, computed from the
        run's GPU energy and cost, higher is better, the throughput's policy)."""
        declared = self.metrics + (self.server.metrics if self.server else ())
        derived = tuple(
            MetricSpec(name=f"{m.name}_{e}", units=efficiency_unit(m.units, e), pattern=None, direction="higher",
                       policy=m.policy)
            for m in declared
            for e in m.efficiency
        )
        return declared + derived

    def to_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain_fields(self)
        for metrics in (plain["metrics"], (plain.get("server") or {}).get("metrics", [])):
            for metric in metrics:
                if not metric.get("required"):
                    metric.pop("required", None)
                if not metric.get("efficiency"):
                    metric.pop("efficiency", None)
        return plain

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunSpec:
        return _runspec_from_dict(raw)


def _plain(value: Any) -> Any:
    """Tuples become lists, so the dict is exactly what JSON gives back."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _plain_fields(value: Any) -> Any:
    """``_plain(asdict(value))`` in one pass, without ``asdict``'s deep copies of every string (a
    RunSpec is put on each object of its run): dataclasses become dicts of their fields, tuples lists;
    every container is new."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is dict:
        return {k: _plain_fields(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain_fields(v) for v in value]
    names = _FIELD_NAMES.get(kind)
    if names is None and is_dataclass(value):
        names = _FIELD_NAMES.setdefault(kind, tuple(f.name for f in fields(value)))
    if names is not None:
        return {name: _plain_fields(getattr(value, name)) for name in names}
    return _plain(copy.deepcopy(value))  # anything else, as asdict copies it


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _checksum(raw: dict[str, Any] | None) -> Checksum | None:
    return Checksum(**raw) if raw else None


def _source(raw: dict[str, Any]) -> DataSource:
    return DataSource(src=raw["src"], path=raw["path"], checksum=_checksum(raw.get("checksum")), id=raw.get("id"))


def _metric(raw: dict[str, Any]) -> MetricSpec:
    return MetricSpec(
        name=raw["name"],
        units=raw["units"],
        pattern=raw.get("pattern"),
        direction=raw["direction"],
        policy=RegressionPolicy(**raw.get("policy", {})),
        required=bool(raw.get("required", False)),
        efficiency=tuple(raw.get("efficiency", ())),
    )


def _runspec_from_dict(raw: dict[str, Any]) -> RunSpec:
    data = dict(raw)
    data["command"] = tuple(data["command"])
    data["args"] = tuple(data.get("args", ()))
    data["placement"] = Placement(
        **{**data["placement"], "tolerations": tuple(data["placement"].get("tolerations", ()))}
    )
    data["data"] = tuple(_source(d) for d in data["data"])
    data["metrics"] = tuple(_metric(m) for m in data["metrics"])
    if data.get("script"):
        s = data["script"]
        data["script"] = ScriptSpec(
            source_dir=s["source_dir"], digest=s["digest"], files=tuple(ScriptFile(**f) for f in s["files"])
        )
    if data.get("server"):
        s = dict(data["server"])
        s["command"] = tuple(s["command"])
        s["ports"] = tuple(s["ports"])
        s["readiness_probe"] = Probe(**s["readiness_probe"]) if s.get("readiness_probe") else None
        s["models"] = tuple(_source(m) for m in s.get("models", ()))
        s["metrics"] = tuple(_metric(m) for m in s.get("metrics", ()))
        data["server"] = ServerSpec(**s)
    data["source"] = Source(**data.get("source", {}))
    return RunSpec(**data)


MPI_LAUNCHERS = ("mpirun", "mpiexec", "horovodrun")


def mpi_argv(argv: Sequence[str], processes: int, program: str = "mpirun") -> tuple[str, ...]:
    """The launch line of a horovod run: the command as written when it already starts an MPI
    launcher, else ``mpirun -np <processes> <command>``. Both backends launch the same way."""
    if argv and argv[0].rsplit("/", 1)[-1] in MPI_LAUNCHERS:
        return tuple(argv)
    return (program, "-np", str(processes), *argv)


def total_processes(spec: RunSpec, gpus_per_instance: int) -> int:
    """Processes of a horovod run: ``processes_per_instance`` ("gpus": one per GPU) × instances."""
    per_instance = max(1, gpus_per_instance) if spec.processes_per_instance == "gpus" else int(spec.processes_per_instance)
    return max(1, spec.num_instances) * per_instance


def cache_key(source: DataSource) -> str:
    """The dataset cache entry of a source: the same source and checksum share one entry.

    Used by the local fetcher (a folder under the user's cache) and by the rendered init container
    (a file on the cache volume, mounted with ``subPath``), so both agree.
    """
    import hashlib

    identity = f"{source.src}\n{source.checksum or ''}"
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
