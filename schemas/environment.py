"""An environment: where and how runs execute (``environments/<name>.toml``).

Loaded and validated by the renderer against ``schemas/environment.schema.json``; this is the typed
value the renderer and the runners work with.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.instance_types import allocatable, catalogue

EnvironmentKind = Literal["local", "kubernetes"]
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"  # the well-known label every node carries


@dataclass(frozen=True)
class InstanceType:
    """What an instance type means in this environment: node placement and resources."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    cpu: str | None = None
    memory: str | None = None
    gpus: int = 0
    gpu_model: str | None = None


@dataclass(frozen=True)
class InstanceTypeRule:
    """One ``[instance_types."<name or pattern>"]`` entry; unset resources come from the catalogue."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    cpu: str | None = None
    memory: str | None = None
    gpus: int | None = None


def is_pattern(key: str) -> bool:
    return any(ch in key for ch in "*?[")


@dataclass(frozen=True)
class Policy:
    """What an environment allows a run (privileges, registries, sizes, timeouts)."""

    allow_privileged: bool = False
    allow_host_network: bool = False
    allow_host_path: bool = False
    allowed_registries: tuple[str, ...] = ()  # empty: any registry
    max_gpus: int = 0
    max_instances: int = 16  # instances (pods) of one run: hardware.distributed.num_instances
    default_timeout_seconds: int = 3600
    max_timeout_seconds: int = 86400
    unschedulable_deadline_seconds: int = 900


@dataclass(frozen=True)
class Destination:
    """The cluster and namespace an environment's runs are synced to."""

    server: str = "https://kubernetes.default.svc"
    namespace: str = "anubis-runs"


@dataclass(frozen=True)
class DatasetCache:
    """Where an environment keeps fetched data sets."""

    kind: Literal["pvc", "emptyDir", "host"] = "emptyDir"
    claim_name: str | None = None  # for pvc
    size: str | None = None  # for emptyDir (sizeLimit)
    path: str | None = None  # for host (local)


@dataclass(frozen=True)
class ResultStoreSettings:
    """Where an environment's results are stored."""

    kind: Literal["sqlite", "s3"] = "sqlite"
    path: str | None = None  # sqlite file; default under the user's data dir
    bucket: str | None = None
    prefix: str = "results/"
    region: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class Links:
    """The web consoles an environment's messages link to."""

    argocd_url: str | None = None
    grafana_url: str | None = None
    logs_url: str | None = None


@dataclass(frozen=True)
class Environment:
    """An ``environments/<name>.toml``: where and under which policy runs execute."""

    name: str
    kind: EnvironmentKind
    description: str = ""
    default: bool = False  # preferred among kubernetes environments offering an instance type
    destination: Destination = field(default_factory=Destination)
    argocd_project: str = "anubis"
    service_account: str = "anubis-run"  # the runs' pods: no cloud role (docs/security.md)
    fetcher_service_account: str = "anubis-fetcher"  # the fetch Jobs: the data fetcher's cloud role
    fetcher_image: str = "ghcr.io/anubis-bench/fetcher:0.1.0"
    # Kueue LocalQueue of the runs (kubernetes only); "{instance_type}" is replaced by the run's
    # instance type, dots as dashes. None: runs are not queued.
    queue: str | None = None
    instance_types: dict[str, InstanceTypeRule] = field(default_factory=dict)  # names and patterns ("p3.*", "*")
    policy: Policy = field(default_factory=Policy)
    dataset_cache: DatasetCache = field(default_factory=DatasetCache)
    result_store: ResultStoreSettings = field(default_factory=ResultStoreSettings)
    links: Links = field(default_factory=Links)
    source_path: str = ""  # the file it was loaded from, for messages

    def rule_for(self, name: str) -> tuple[str, InstanceTypeRule] | None:
        """The entry that covers ``name``: its own, else the most specific matching pattern."""
        if name in self.instance_types:
            return name, self.instance_types[name]
        matching = [k for k in self.instance_types if is_pattern(k) and fnmatch.fnmatchcase(name, k)]
        if not matching:
            return None
        best = max(matching, key=lambda k: (len(k.rstrip("*?")), k))  # "p3.*" before "p*" before "*"
        return best, self.instance_types[best]

    def instance_type(self, name: str) -> InstanceType | None:
        """What ``name`` means here, or None when it is not offered (see :meth:`unavailable_reason`).

        A pattern only covers real instance types (those in the catalogue); a name listed on its own
        may be anything, provided its entry says what it has. A local environment takes any name.
        """
        found = self.rule_for(name)
        if found is None:
            return None
        key, rule = found
        spec = catalogue().get(name)
        if spec is None and is_pattern(key) and self.kind != "local":
            return None
        if self.kind == "local":  # one machine: the name labels the result; GPUs only when the entry says so
            return InstanceType(dict(rule.node_selector), rule.tolerations, rule.cpu, rule.memory, rule.gpus or 0,
                                spec.gpu_model if spec and rule.gpus else None)
        fitted = allocatable(spec) if spec is not None else None
        selector = {INSTANCE_TYPE_LABEL: name, **rule.node_selector}
        return InstanceType(
            node_selector=dict(sorted(selector.items())),
            tolerations=rule.tolerations,
            cpu=rule.cpu or (fitted.cpu if fitted else None),
            memory=rule.memory or (fitted.memory if fitted else None),
            gpus=rule.gpus if rule.gpus is not None else (spec.gpus if spec else 0),
            gpu_model=spec.gpu_model if spec else None,
        )

    def unavailable_reason(self, name: str) -> str:
        """Why :meth:`instance_type` gives None for ``name``: a sentence naming what would do."""
        known = catalogue()
        offered = ", ".join(k for k in self.instance_types if k != "*") or "none"
        if known.get(name) is None:
            return f"{known.unknown_message(name)}; environment '{self.name}' offers {offered}"
        return f"instance type '{name}' is not offered by environment '{self.name}'; offered: {offered}"
