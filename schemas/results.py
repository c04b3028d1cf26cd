"""The result record: what one execution of a run produced, as stored and as reported.

A run id names *what* runs (content-derived); an execution id names *one time* it ran. Repeating a
run (``anubis run --repeat 3``, a CronJob firing daily) gives several executions of one run id, and
each is its own result.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cached_property
from typing import Any

from schemas.status import RunStatus
from schemas.summaries import finite_mean, finite_median, sample_stdev

RESULT_VERSION = 1


@dataclass(frozen=True)
class Summary:
    n: int
    last: float
    mean: float
    median: float
    min: float
    max: float
    stdev: float


@dataclass(frozen=True)
class MetricResult:
    name: str
    unit: str
    direction: str  # "higher" | "lower"
    values: tuple[float, ...]
    times: tuple[float, ...]  # unix seconds, one per value
    # Values found past the cap on stored values (controller.extraction.MAX_VALUES): not kept, but
    # counted in ``totals``, the summary over every value found (its median is the kept values').
    values_dropped: int = 0
    totals: Summary | None = None

    def summary(self) -> Summary | None:
        """Over the finite values (the totals when some were dropped); computed once (a record is
        summarised when stored, written, shown and judged)."""
        return self._summary

    @cached_property
    def _summary(self) -> Summary | None:
        if self.values_dropped and self.totals is not None:
            return self.totals
        finite = [v for v in self.values if math.isfinite(v)]
        if not finite:
            return None
        mean = finite_mean(finite)
        return Summary(
            n=len(finite),
            last=finite[-1],
            mean=mean,
            median=finite_median(finite),
            min=min(finite),
            max=max(finite),
            stdev=sample_stdev(finite, mean),
        )

    def to_dict(self) -> dict[str, Any]:
        s = self.summary()
        return {
            "unit": self.unit,
            "direction": self.direction,
            "values": list(self.values),
            "times": list(self.times),
            **({"values_dropped": self.values_dropped} if self.values_dropped else {}),
            **(plain(s) if s else {"n": 0}),
        }


@dataclass(frozen=True)
class Reproducibility:
    descriptor_hash: str
    image: str
    image_digest: str | None = None
    source_commit: str | None = None
    source_dirty: bool = False
    dataset_checksums: dict[str, str] = field(default_factory=dict)  # data path -> "algo:hex"
    python_version: str | None = None
    platform: str | None = None
    cpu_model: str | None = None
    cpu_count: int | None = None
    memory_bytes: int | None = None
    gpus: tuple[str, ...] = ()
    instance_type: str | None = None
    accelerator: str | None = None
    node: str | None = None
    host_environment: bool = False  # True when the run used the host instead of its image


@dataclass(frozen=True)
class ResultRecord:
    execution_id: str
    run_id: str
    family_id: str
    benchmark: str
    environment: str
    backend: str  # "local" | "kubernetes"
    status: RunStatus
    reason: str
    started_at: float | None
    finished_at: float | None
    metrics: dict[str, MetricResult]
    reproducibility: Reproducibility
    matrix_point: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    repository: str | None = None
    commit: str | None = None
    branch: str | None = None
    pull_request: int | None = None
    descriptor_path: str = ""
    # What the GPUs did (controller.gpu_telemetry.RunTelemetry.to_dict()) and what the run cost
    # (controller.costs.RunCost.to_dict()); None where unknown (no GPU telemetry, no price).
    telemetry: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    # Each metric's regression policy as the run had it (RegressionPolicy fields), so that every verdict on
    # this execution — `anubis results`, the pull-request comment, the controller, the alert — uses the
    # same policy, whatever the checkout says later. None in records written before it was kept.
    policies: dict[str, dict[str, Any]] | None = None
    version: int = RESULT_VERSION

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        # asdict() of the whole record would deep-copy every metric value one by one (seconds for a
        # run with a million samples) only for them to be replaced below.
        raw: dict[str, Any] = {
            f.name: None if f.name == "metrics" else plain(getattr(self, f.name)) for f in fields(self)
        }
        raw["status"] = self.status.value
        raw["metrics"] = {name: m.to_dict() for name, m in self.metrics.items()}
        raw["reproducibility"]["gpus"] = list(self.reproducibility.gpus)
        raw["duration"] = self.duration
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ResultRecord:
        data = {k: v for k, v in raw.items() if k != "duration"}
        data["status"] = RunStatus(data["status"])
        data["metrics"] = {
            name: MetricResult(
                name=name,
                unit=m["unit"],
                direction=m["direction"],
                values=tuple(map(float, m["values"])),
                times=tuple(map(float, m["times"])),
                values_dropped=int(m.get("values_dropped", 0)),
                totals=_totals_of(m),
            )
            for name, m in data["metrics"].items()
        }
        repro = dict(data["reproducibility"])
        repro["gpus"] = tuple(repro.get("gpus", ()))
        data["reproducibility"] = Reproducibility(**repro)
        return cls(**data)


def _totals_of(raw: dict[str, Any]) -> Summary | None:
    """The stored summary of a metric whose values were capped (None when nothing was dropped)."""
    if not raw.get("values_dropped") or not raw.get("n"):
        return None
    return Summary(n=int(raw["n"]), **{k: float(raw[k]) for k in ("last", "mean", "median", "min", "max", "stdev")})


_ATOMS = frozenset((str, int, float, bool, type(None)))


def plain(value: Any) -> Any:
    """What :func:`dataclasses.asdict` makes of a value (a record's field, a policy), made without its generic walk:
    immutable values as they are, dicts, lists and tuples copied, dataclasses as dicts, anything
    else deep-copied (asdict's and deepcopy's dispatch on every value was most of storing a record
    in the controller, whose records hold strings, numbers and small dicts of them)."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {plain(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if kind is tuple:
        return tuple(plain(v) for v in value)
    names = _FIELD_NAMES.get(kind)
    if names is None and is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES.setdefault(kind, tuple(f.name for f in fields(value)))
    if names is not None:
        return {name: plain(getattr(value, name)) for name in names}
    return copy.deepcopy(value)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # a dataclass's field names, looked up once
