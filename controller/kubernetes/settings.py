"""Settings of the cluster controller: where to watch and each environment's policy.

The RunSpec carries no policy, so the controller is told each environment's
``unschedulable_deadline_seconds``: from a settings file (TOML, mounted from the controller's
ConfigMap) or, by ``anubis controller``, from the repository's ``environments/*.toml``::

    namespaces = ["anubis-runs", "anubis-gpu-runs"]
    namespace_selector = "anubis.dev/preview=true"   # and the previews' namespaces, as they come and go
    namespace_pattern = "anubis-pr-*"
    resync_seconds = 300
    workers = 8
    one_cpu = true                                   # every thread on one CPU (see affinity.py)
    default_unschedulable_deadline_seconds = 900

    [environments.cpu-cluster]
    unschedulable_deadline_seconds = 900

    [telemetry]
    prometheus_url = "http://prometheus-operated.monitoring:9090"   # dcgm-exporter's series of GPU runs

    [pricing]
    region = "us-east-1"                      # the on-demand price table's region (docs/gpu-fleet.md)

    [environments.gpu-cluster.prices]         # instance type = price an hour, over the table's
    "p3.2xlarge" = 0.918
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.kubernetes.statuses import StatusPolicy
from schemas.errors import BackendError


@dataclass(frozen=True)
class ControllerSettings:
    namespaces: tuple[str, ...] = ()  # empty (and no selector or pattern): every namespace (cluster-wide rights)
    # Namespaces that come and go (pull-request previews): those with these labels and/or this name pattern
    namespace_selector: str = ""  # e.g. "anubis.dev/preview=true"
    namespace_pattern: str = ""  # e.g. "anubis-pr-*"
    policies: Mapping[str, StatusPolicy] = field(default_factory=dict)  # environment -> policy
    default_policy: StatusPolicy = StatusPolicy()
    resync_seconds: int = 300
    workers: int = 8
    tick_seconds: float = 5.0  # how often runs waiting on a deadline are looked at again
    watch_mpijobs: bool = True
    one_cpu: bool = False  # every controller thread on one CPU (controller/kubernetes/affinity.py)
    telemetry_url: str = ""  # Prometheus with dcgm-exporter's series; empty: no GPU telemetry
    pricing_region: str = "us-east-1"
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # environment -> type -> $/h

    @property
    def dynamic_namespaces(self) -> bool:
        return bool(self.namespace_selector or self.namespace_pattern)

    def policy_for(self, environment: str) -> StatusPolicy:
        return self.policies.get(environment, self.default_policy)


def read_settings_file(path: Path) -> dict[str, Any]:
    """The settings file, read once and checked against ``schemas/controller-settings.schema.json``: every
    problem named by its field, in one error (never a traceback from a bad value later)."""
    import jsonschema

    from schemas.loading import load_schema

    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BackendError(f"cannot read the controller settings {path} ({e}); fix or remove the file") from e
    validator = jsonschema.Draft202012Validator(load_schema("controller-settings"))
    problems = sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    if problems:
        lines = [f"  {'.'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}" for e in problems]
        raise BackendError(f"the controller settings {path} are not valid (docs/operations.md lists every key):\n"
                           + "\n".join(lines))
    return raw


def load_settings(path: Path, raw: dict[str, Any] | None = None, **overrides: Any) -> ControllerSettings:
    """Settings from a TOML file (see the module's description), or from its already read contents
    ``raw``; ``overrides`` win."""
    if raw is None:
        raw = read_settings_file(path)
    # the watcher's keys may sit at the top level or in a [controller] table (as the ConfigMap has them)
    data = {**raw, **(raw.get("controller") or {})}
    default = StatusPolicy(
        int(data.get("default_unschedulable_deadline_seconds", 900)),
        int(data.get("image_pull_grace_seconds", StatusPolicy.image_pull_grace_seconds)),
        int(data.get("workers_ready_deadline_seconds", StatusPolicy.workers_ready_deadline_seconds)),
    )
    policies = {
        name: StatusPolicy(
            int(env.get("unschedulable_deadline_seconds", default.unschedulable_deadline_seconds)),
            int(env.get("image_pull_grace_seconds", default.image_pull_grace_seconds)),
            int(env.get("workers_ready_deadline_seconds", default.workers_ready_deadline_seconds)),
        )
        for name, env in (data.get("environments") or {}).items()
    }
    values: dict[str, Any] = {
        "namespaces": tuple(data.get("namespaces", ())),
        "namespace_selector": str(data.get("namespace_selector", "")),
        "namespace_pattern": str(data.get("namespace_pattern", "")),
        "policies": policies,
        "default_policy": default,
        "resync_seconds": int(data.get("resync_seconds", 300)),
        "workers": int(data.get("workers", 8)),
        "tick_seconds": float(data.get("tick_seconds", 5.0)),
        "watch_mpijobs": bool(data.get("watch_mpijobs", True)),
        "one_cpu": bool(data.get("one_cpu", False)),
        "telemetry_url": str((raw.get("telemetry") or {}).get("prometheus_url", "")),
        "pricing_region": str((raw.get("pricing") or {}).get("region", "us-east-1")),
        "prices": {
            name: _prices(path, name, env.get("prices"))
            for name, env in (data.get("environments") or {}).items()
            if env.get("prices") is not None
        },
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ControllerSettings(**values)


def _prices(path: Path, environment: str, raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in raw.values()
    ):
        raise BackendError(
            f"{path}: [environments.{environment}.prices] must map instance types to prices an hour, 0 or more "
            '(e.g. "p3.2xlarge" = 0.918)'
        )
    return {str(k): float(v) for k, v in raw.items()}
