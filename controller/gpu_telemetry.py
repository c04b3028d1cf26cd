"""What the GPUs did during a run: per-GPU utilisation, memory, power and energy.

Two sources give the same :class:`RunTelemetry`:

* :class:`PrometheusTelemetry` — on a cluster, NVIDIA's dcgm-exporter publishes one series per GPU
  and metric to Prometheus; after a run the controller asks Prometheus (``/api/v1/query_range``) for
  the series of the run's pods over the run's window. The metric names are dcgm-exporter's own
  (``etc/default-counters.csv`` and ``etc/dcp-metrics-included.csv`` in NVIDIA/dcgm-exporter; copies
  in ``../shared/reference/``); the Kubernetes attributes it attaches to a GPU in use by a pod are the
  labels ``pod``, ``namespace`` and ``container`` (``internal/pkg/transformation/const.go``; older
  releases with ``--use-old-namespace`` wrote ``pod_name``/``pod_namespace``, also accepted here), and
  every series carries ``gpu`` (index), ``UUID``, ``modelName`` and ``Hostname``.
* :class:`NvidiaSmiSampler` — on one machine, where ``nvidia-smi`` exists, a thread samples
  ``nvidia-smi --query-gpu=… --format=csv,noheader,nounits`` once a second while ``anubis run`` runs.

Units as dcgm-exporter reports them: utilisation in percent (``DCGM_FI_DEV_GPU_UTIL``), framebuffer
memory in MiB (``DCGM_FI_DEV_FB_USED``), power in watts (``DCGM_FI_DEV_POWER_USAGE``), energy as a
counter of millijoules since the driver loaded (``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION``) and the
graphics engine's active ratio 0–1 where profiling metrics are enabled (``DCGM_FI_PROF_GR_ENGINE_ACTIVE``).
Energy comes from the counter's increase over the window (resets handled as Prometheus's
``increase()`` does); without the counter (``nvidia-smi``), from the power samples integrated over time.

Telemetry never decides a run's status: a Prometheus that cannot be reached gives a
:class:`TelemetryUnavailable` that the caller records as a note.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:  # urllib.request (http.client, ssl, email: ~30 ms) only where Prometheus is read
    import urllib.error
    import urllib.request

from schemas.errors import AnubisError

log = logging.getLogger(__name__)

#: dcgm-exporter's metric for each field of a sample.
DCGM_METRICS: Mapping[str, str] = {
    "utilization": "DCGM_FI_DEV_GPU_UTIL",
    "memory_used": "DCGM_FI_DEV_FB_USED",
    "power": "DCGM_FI_DEV_POWER_USAGE",
    "energy": "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "engine_active": "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
}

#: A run whose every GPU averaged less than this utilisation (percent) is flagged as idle.
IDLE_UTILIZATION = 10.0

#: Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 11_000


class TelemetryUnavailable(AnubisError):
    """The GPU telemetry of a run could not be read (Prometheus down, nvidia-smi failed)."""


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment. ``None`` where the source does not report a field."""

    time: float
    gpu: str
    utilization: float | None = None
    memory_used: float | None = None
    power: float | None = None
    energy_mj: float | None = None
    engine_active: float | None = None


@dataclass(frozen=True)
class GpuIdentity:
    """Which GPU: its UUID (the key), index on its host, model, host and the pod that used it."""

    uuid: str
    index: str = ""
    model: str = ""
    host: str = ""
    pod: str = ""


@dataclass(frozen=True)
class GpuSummary:
    """One GPU over one run."""

    gpu: GpuIdentity
    samples: int
    utilization_mean: float | None
    utilization_p95: float | None
    memory_peak_mib: float | None
    power_mean_w: float | None
    energy_j: float | None
    engine_active_mean: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.gpu.uuid,
            "index": self.gpu.index,
            "model": self.gpu.model,
            "host": self.gpu.host,
            "pod": self.gpu.pod,
            "samples": self.samples,
            "utilization_mean": self.utilization_mean,
            "utilization_p95": self.utilization_p95,
            "memory_peak_mib": self.memory_peak_mib,
            "power_mean_w": self.power_mean_w,
            "energy_j": self.energy_j,
            "engine_active_mean": self.engine_active_mean,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GpuSummary:
        identity = GpuIdentity(
            uuid=str(data["uuid"]),
            index=str(data.get("index", "")),
            model=str(data.get("model", "")),
            host=str(data.get("host", "")),
            pod=str(data.get("pod", "")),
        )
        return cls(
            gpu=identity,
            samples=int(data.get("samples", 0)),
            utilization_mean=_opt(data.get("utilization_mean")),
            utilization_p95=_opt(data.get("utilization_p95")),
            memory_peak_mib=_opt(data.get("memory_peak_mib")),
            power_mean_w=_opt(data.get("power_mean_w")),
            energy_j=_opt(data.get("energy_j")),
            engine_active_mean=_opt(data.get("engine_active_mean")),
        )


@dataclass(frozen=True)
class RunTelemetry:
    """The GPUs of one run: a summary each, the total energy and whether they sat idle."""

    source: str
    gpus: tuple[GpuSummary, ...]
    window: tuple[float, float]

    @property
    def energy_j(self) -> float | None:
        known = [g.energy_j for g in self.gpus if g.energy_j is not None]
        return sum(known) if known and len(known) == len(self.gpus) else None

    @property
    def idle(self) -> bool:
        """Every GPU with utilisation samples averaged under :data:`IDLE_UTILIZATION` percent."""
        means = [g.utilization_mean for g in self.gpus if g.utilization_mean is not None]
        return bool(means) and all(m < IDLE_UTILIZATION for m in means)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "window": list(self.window),
            "gpus": [g.to_dict() for g in self.gpus],
            "energy_j": self.energy_j,
            "idle": self.idle,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunTelemetry:
        start, end = data.get("window") or (0.0, 0.0)
        return cls(
            source=str(data.get("source", "")),
            gpus=tuple(GpuSummary.from_dict(g) for g in data.get("gpus", [])),
            window=(float(start), float(end)),
        )


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


# -- summaries ----------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between order statistics (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def counter_increase(points: Sequence[tuple[float, float]]) -> float:
    """How much a counter grew over ``points`` (time, value), a drop read as a reset to zero.

    This is Prometheus's ``increase()`` without its extrapolation to the window's edges: the run's
    window is what was asked for, and the samples at its edges are the ones that exist.
    """
    total = 0.0
    for (_, before), (_, after) in zip(points, points[1:]):
        total += after - before if after >= before else after
    return total


def integrate(points: Sequence[tuple[float, float]]) -> float:
    """The time integral of ``points`` (time, value) by the trapezoid rule."""
    return sum((t1 - t0) * (v0 + v1) / 2.0 for (t0, v0), (t1, v1) in zip(points, points[1:]))


def summarize(
    samples: Iterable[GpuSample],
    identities: Mapping[str, GpuIdentity] | None = None,
    *,
    source: str,
    window: tuple[float, float],
) -> RunTelemetry:
    """Per-GPU summaries of ``samples``, in GPU order (host, then index, then UUID)."""
    by_gpu: dict[str, list[GpuSample]] = {}
    for sample in samples:
        by_gpu.setdefault(sample.gpu, []).append(sample)
    identities = identities or {}
    summaries = []
    for uuid, gpu_samples in by_gpu.items():
        gpu_samples.sort(key=lambda s: s.time)
        summaries.append(_summarize_gpu(identities.get(uuid, GpuIdentity(uuid=uuid)), gpu_samples))
    summaries.sort(key=lambda s: (s.gpu.host, _index_key(s.gpu.index), s.gpu.uuid))
    return RunTelemetry(source=source, gpus=tuple(summaries), window=window)


def _index_key(index: str) -> tuple[int, str]:
    return (int(index), "") if index.isdigit() else (1 << 30, index)


def _series(samples: Sequence[GpuSample], name: str) -> list[tuple[float, float]]:
    points = []
    for s in samples:
        value = getattr(s, name)
        if value is not None and math.isfinite(value):
            points.append((s.time, float(value)))
    return points


def _summarize_gpu(gpu: GpuIdentity, samples: Sequence[GpuSample]) -> GpuSummary:
    util = [v for _, v in _series(samples, "utilization")]
    memory = [v for _, v in _series(samples, "memory_used")]
    power_points = _series(samples, "power")
    energy_points = _series(samples, "energy_mj")
    engine = [v for _, v in _series(samples, "engine_active")]
    if len(energy_points) >= 2:
        energy: float | None = counter_increase(energy_points) / 1000.0
    elif len(power_points) >= 2:
        energy = integrate(power_points)
    else:
        energy = None
    return GpuSummary(
        gpu=gpu,
        samples=len(samples),
        utilization_mean=sum(util) / len(util) if util else None,
        utilization_p95=percentile(util, 95) if util else None,
        memory_peak_mib=max(memory) if memory else None,
        power_mean_w=sum(v for _, v in power_points) / len(power_points) if power_points else None,
        energy_j=energy,
        engine_active_mean=sum(engine) / len(engine) if engine else None,
    )


# -- Prometheus (dcgm-exporter) ---------------------------------------------------------------------------

Opener: TypeAlias = "Callable[[urllib.request.Request, float], Any]"


def _open(request: urllib.request.Request, timeout: float) -> Any:
    import urllib.request

    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (a configured http(s) URL)


@dataclass
class PrometheusTelemetry:
    """Reads dcgm-exporter's series of a run's pods from Prometheus's HTTP API."""

    url: str
    timeout: float = 10.0
    opener: Opener = field(default=_open, repr=False)

    def collect(self, namespace: str, pods: Sequence[str], start: float, end: float) -> RunTelemetry:
        """The telemetry of ``pods`` in ``namespace`` between ``start`` and ``end`` (Unix seconds)."""
        if end <= start:
            raise TelemetryUnavailable(f"the run's window is empty ({start} to {end}); there is no telemetry to read")
        if not pods:
            return RunTelemetry(source="dcgm-exporter", gpus=(), window=(start, end))
        step = max(1.0, math.ceil((end - start) / (MAX_POINTS - 1)))
        samples: dict[tuple[str, float], dict[str, float]] = {}
        identities: dict[str, GpuIdentity] = {}
        for field_name, metric in DCGM_METRICS.items():
            for labels, points in self._query_range(selector(metric, namespace, pods), start, end, step):
                uuid = labels.get("UUID") or labels.get("uuid") or f"{labels.get('Hostname', '')}/{labels.get('gpu', '')}"
                identities.setdefault(uuid, identity_from_labels(uuid, labels))
                for t, value in points:
                    samples.setdefault((uuid, t), {})[field_name] = value
        flat = [
            GpuSample(
                time=t,
                gpu=uuid,
                utilization=values.get("utilization"),
                memory_used=values.get("memory_used"),
                power=values.get("power"),
                energy_mj=values.get("energy"),
                engine_active=values.get("engine_active"),
            )
            for (uuid, t), values in samples.items()
        ]
        return summarize(flat, identities, source="dcgm-exporter", window=(start, end))

    def _query_range(
        self, query: str, start: float, end: float, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        import urllib.error
        import urllib.parse
        import urllib.request

        params = urllib.parse.urlencode({"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
        request = urllib.request.Request(
            f"{self.url.rstrip('/')}/api/v1/query_range",
            data=params.encode(),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        try:
            with self.opener(request, self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as e:
            detail = _error_detail(e)
            raise TelemetryUnavailable(f"Prometheus at {self.url} refused the query {query!r}: HTTP {e.code} {detail}") from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise TelemetryUnavailable(f"Prometheus at {self.url} could not be read: {e}") from e
        if body.get("status") != "success":
            raise TelemetryUnavailable(f"Prometheus at {self.url} answered {body.get('errorType')}: {body.get('error')}")
        data = body.get("data") or {}
        if data.get("resultType") != "matrix":
            raise TelemetryUnavailable(f"Prometheus answered a {data.get('resultType')!r} to a range query; expected a matrix")
        series = []
        for item in data.get("result", []):
            points = []
            for t, value in item.get("values", []):
                number = float(value)  # Prometheus writes "NaN", "+Inf" as strings; float() reads them
                if math.isfinite(number):
                    points.append((float(t), number))
            series.append(({str(k): str(v) for k, v in item.get("metric", {}).items()}, points))
        return series


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read())
        return f"{body.get('errorType', '')}: {body.get('error', '')}".strip(": ")
    except (ValueError, OSError):
        return error.reason if isinstance(error.reason, str) else ""


_PROMQL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


def promql_string(value: str) -> str:
    """``value`` as a double-quoted PromQL string literal."""
    return '"' + value.translate(_PROMQL_ESCAPES) + '"'


def selector(metric: str, namespace: str, pods: Sequence[str]) -> str:
    """A series selector for ``metric`` of exactly ``pods`` in ``namespace``.

    Pod names are escaped for the RE2 regular expression Prometheus anchors at both ends; both the
    current (``pod``/``namespace``) and the old (``pod_name``/``pod_namespace``) label names match.
    """
    pod_regex = "|".join(re.escape(p) for p in sorted(set(pods)))
    current = f"{metric}{{namespace={promql_string(namespace)},pod=~{promql_string(pod_regex)}}}"
    old = f"{metric}{{pod_namespace={promql_string(namespace)},pod_name=~{promql_string(pod_regex)}}}"
    return f"{current} or {old}"


def identity_from_labels(uuid: str, labels: Mapping[str, str]) -> GpuIdentity:
    return GpuIdentity(
        uuid=uuid,
        index=labels.get("gpu", ""),
        model=labels.get("modelName", ""),
        host=labels.get("Hostname", ""),
        pod=labels.get("pod") or labels.get("pod_name", ""),
    )


# -- nvidia-smi on one machine ----------------------------------------------------------------------------

#: ``nvidia-smi --help-query-gpu`` names; the order is the order of the CSV columns.
NVIDIA_SMI_FIELDS = ("index", "uuid", "name", "utilization.gpu", "memory.used", "power.draw")


def parse_nvidia_smi_line(line: str, at: float) -> tuple[GpuIdentity, GpuSample] | None:
    """One CSV line of ``nvidia-smi --query-gpu=<NVIDIA_SMI_FIELDS> --format=csv,noheader,nounits``.

    nvidia-smi writes ``[N/A]`` or ``[Not Supported]`` for a field a GPU cannot report (read here as
    unknown); a line with the wrong number of fields is skipped.
    """
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != len(NVIDIA_SMI_FIELDS) or not parts[1]:
        return None
    index, uuid, name, util, memory, power = parts
    identity = GpuIdentity(uuid=uuid, index=index, model=name, host="localhost")
    return identity, GpuSample(time=at, gpu=uuid, utilization=_number(util), memory_used=_number(memory), power=_number(power))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class NvidiaSmiSampler:
    """Samples every GPU once per ``interval`` seconds with ``nvidia-smi`` while a local run runs.

    ``start()`` returns False where there is no ``nvidia-smi``; ``stop()`` returns the run's telemetry,
    or ``None`` when nothing was sampled. Use as a context manager around the run.
    """

    def __init__(self, interval: float = 1.0, command: str = "nvidia-smi", clock: Callable[[], float] = time.time) -> None:
        self.interval = interval
        self.command = command
        self.clock = clock
        self._process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._samples: list[GpuSample] = []
        self._identities: dict[str, GpuIdentity] = {}
        self._started = 0.0

    def available(self) -> bool:
        return shutil.which(self.command) is not None

    def start(self) -> bool:
        if not self.available():
            return False
        argv = [
            self.command,
            f"--query-gpu={','.join(NVIDIA_SMI_FIELDS)}",
            "--format=csv,noheader,nounits",
            f"--loop-ms={max(100, int(self.interval * 1000))}",
        ]
        try:
            self._process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError as e:
            log.warning("nvidia-smi could not be started (%s); the run has no GPU telemetry", e)
            return False
        self._started = self.clock()
        self._thread = threading.Thread(target=self._read, name="nvidia-smi-sampler", daemon=True)
        self._thread.start()
        return True

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            parsed = parse_nvidia_smi_line(line, self.clock())
            if parsed is not None:
                identity, sample = parsed
                self._identities.setdefault(identity.uuid, identity)
                self._samples.append(sample)

    def stop(self) -> RunTelemetry | None:
        if self._process is None:
            return None
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._process = None
        if not self._samples:
            return None
        return summarize(self._samples, self._identities, source="nvidia-smi", window=(self._started, self.clock()))

    def __enter__(self) -> NvidiaSmiSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self.stop()
