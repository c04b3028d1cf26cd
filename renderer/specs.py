"""Building a :class:`~schemas.runspec.RunSpec` from a valid descriptor at one matrix point."""

from __future__ import annotations

import re
from typing import Any

from renderer import identity
from renderer.commands import split_command
from renderer.durations import parse_duration
from renderer.scripts import CollectedScript
from schemas.environment import Environment
from schemas.runspec import (
    Checksum,
    DataSource,
    Direction,
    MetricSpec,
    Placement,
    Probe,
    RegressionPolicy,
    RunSpec,
    ScriptSpec,
    ServerSpec,
    Source,
)

_LOWER_UNITS = re.compile(
    r"^(s|sec|secs|second|seconds|ms|msec|millis|milliseconds|us|µs|usec|microseconds|ns|nanoseconds|"
    r"min|mins|minute|minutes|h|hr|hrs|hour|hours|bytes|b|kb|mb|gb|kib|mib|gib|joules?|j|watts?|w)$",
    re.IGNORECASE,
)
_LOWER_NAMES = {
    "loss", "error", "err", "errors", "latency", "time", "duration", "elapsed", "perplexity", "ppl", "wer", "cer",
    "memory", "mem", "rss", "p50", "p90", "p95", "p99", "seconds", "ms", "failures", "misses",
}
_TIME_PER = re.compile(
    r"^(s|sec|secs|seconds?|ms|msec|millis|milliseconds?|us|µs|usec|microseconds?|ns|nanoseconds?|"
    r"min|mins|minutes?|h|hr|hrs|hours?)\s*/",
    re.I,
)


def infer_direction(name: str, units: str) -> Direction:
    """Higher or lower is better, from the units (time and sizes: lower) and then the name."""
    u = units.strip()
    if _TIME_PER.match(u):  # time per unit of work (ms/step, s/it): less is better
        return "lower"
    if "/" in u or u.lower().startswith(("per ", "ops", "img", "samples", "tokens", "requests")):
        return "higher"
    if _LOWER_UNITS.match(u):
        return "lower"
    if any(word in _LOWER_NAMES for word in re.split(r"[^a-z0-9]+", name.lower())):
        return "lower"
    return "higher"


def _checksum(raw: str | None) -> Checksum | None:
    if not raw:
        return None
    if ":" in raw:
        algorithm, digest = raw.split(":", 1)
        return Checksum(algorithm.lower(), digest.lower())
    return Checksum("md5", raw.lower())


def _downloads(items: list[dict[str, Any]] | None) -> tuple[DataSource, ...]:
    return tuple(
        DataSource(
            src=item.get("src", item.get("uri", "")),
            path=item["path"],
            checksum=_checksum(item.get("md5")),
            id=item.get("id"),
        )
        for item in items or ()
    )


def warmup_fields(warmup: int | str | None) -> dict[str, Any]:
    """A metric's ``warmup`` (N values, or "30s", "2m", "1h") as the policy's warm-up fields."""
    if warmup is None:
        return {}
    if isinstance(warmup, int):
        return {"warmup_values": warmup}
    unit = {"s": 1.0, "m": 60.0, "h": 3600.0}[warmup[-1]]
    return {"warmup_seconds": float(warmup[:-1]) * unit}


def _metrics(items: list[dict[str, Any]] | None) -> tuple[MetricSpec, ...]:
    return tuple(
        MetricSpec(
            name=m["name"],
            units=m["units"],
            pattern=m.get("pattern"),
            direction=m.get("direction") or infer_direction(m["name"], m["units"]),
            policy=RegressionPolicy(**m.get("regression", {}), **warmup_fields(m.get("warmup"))),
            required=bool(m.get("required", False)),
            efficiency=tuple(m.get("efficiency", ())),
        )
        for m in items or ()
    )


def _placement(env: Environment, instance_type: str) -> Placement:
    offered = env.instance_type(instance_type)
    if offered is None:  # rules reported it; keep a neutral placement
        return Placement(instance_type=instance_type)
    return Placement(
        instance_type=instance_type,
        node_selector=dict(offered.node_selector),
        tolerations=offered.tolerations,
        cpu=offered.cpu,
        memory=offered.memory,
        gpus=offered.gpus,
    )


def _command(code: str | None, args: str | None) -> tuple[str, ...]:
    words = split_command(code) if code else []
    words += split_command(args) if args else []
    return tuple(words)


def _server(data: dict[str, Any] | None, env: Environment) -> ServerSpec | None:
    if not data:
        return None
    senv = data["env"]
    ports = tuple(int(p) for p in senv["ports"])
    probe_raw = senv.get("readiness_probe")
    probe = None
    if probe_raw:
        probe = Probe(
            path=probe_raw["path"],
            port=int(probe_raw.get("port", ports[0])),
            scheme=probe_raw.get("scheme", "http"),
            initial_delay_seconds=probe_raw.get("initial_delay_seconds", 10),
            period_seconds=probe_raw.get("period_seconds", 10),
            timeout_seconds=probe_raw.get("timeout_seconds", 1),
            success_threshold=probe_raw.get("success_threshold", 1),
            failure_threshold=probe_raw.get("failure_threshold", 3),
        )
    return ServerSpec(
        image=senv["docker_image"],
        command=_command(senv["start_command"], senv.get("start_command_args")),
        ports=ports,
        env=dict(senv.get("vars", {})),  # in file order: $(VAR) may refer to earlier ones
        privileged=bool(senv.get("privileged", False)),
        extended_shm=bool(senv.get("extended_shm", True)),
        instance_type=data["hardware"]["instance_type"],
        readiness_probe=probe,
        models=_downloads(data.get("models")),
        metrics=_metrics(data.get("output", {}).get("metrics")),
    )


def build_runspec(
    *,
    benchmark: str,
    descriptor_path: str,
    raw: dict[str, Any],
    effective: dict[str, Any],
    point: dict[str, Any],
    env: Environment,
    script: CollectedScript | None,
    script_spec: ScriptSpec | None,
    source: Source,
) -> RunSpec:
    """``raw``: the descriptor as written (for the family); ``effective``: with the matrix point applied."""
    info = effective["info"]
    hardware = effective["hardware"]
    denv = effective["env"]
    ml = effective.get("ml", {})
    distributed = hardware.get("distributed", {})
    ppi_raw = distributed.get("processes_per_instance", 1)
    processes: int | str = "gpus" if ppi_raw == "gpus" else int(ppi_raw)
    scheduling = info.get("scheduling", "single_run")
    rerun = int(info.get("rerun", 0))
    digest = identity.descriptor_hash(effective)
    script_digest = script_spec.digest if script_spec else None
    timeout = parse_duration(info["timeout"]) if "timeout" in info else env.policy.default_timeout_seconds
    labels = dict(sorted(info.get("labels", {}).items())) or {"task_name": identity.slug(benchmark)}
    return RunSpec(
        run_id=identity.run_id(benchmark, digest, script_digest, env, rerun),
        family_id=identity.family_id(benchmark, raw, script_digest),
        benchmark=benchmark,
        descriptor_path=descriptor_path,
        descriptor_hash=digest,
        environment=env.name,
        matrix_point=dict(point),
        strategy=hardware.get("strategy", "single_node"),
        execution_engine=info.get("execution_engine", "default"),
        schedule=None if scheduling == "single_run" else scheduling,
        image=denv["docker_image"],
        command=_command(ml.get("benchmark_code"), None),
        args=_command(None, ml.get("args")),
        env=dict(denv.get("vars", {})),  # in file order: $(VAR) may refer to earlier ones
        privileged=bool(denv.get("privileged", False)),
        extended_shm=bool(denv.get("extended_shm", True)),
        placement=_placement(env, hardware["instance_type"]),
        num_instances=int(distributed.get("num_instances", 1)),
        processes_per_instance=processes,  # type: ignore[arg-type]
        availability_zone=hardware.get("availability_zone"),
        aws_zone_id=hardware.get("aws_zone_id"),
        timeout_seconds=timeout,
        data=_downloads(effective.get("data", {}).get("sources")),
        metrics=_metrics(effective.get("output", {}).get("metrics")),
        labels=labels,
        description=" ".join(info.get("description", "").split()),
        framework=ml.get("framework", ""),
        framework_version=ml.get("framework_version", ""),
        custom_params=effective.get("custom_params", {}),
        script=script_spec,
        server=_server(effective.get("server"), env),
        rerun=rerun,
        source=source,
    )
