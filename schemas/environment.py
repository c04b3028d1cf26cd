"""An environment: where and how runs execute (``environments/<name>.toml``).

Loaded and validated by the renderer against ``schemas/environment.schema.json``; this is the typed
value the renderer and the runners work with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EnvironmentKind = Literal["local", "kubernetes"]


@dataclass(frozen=True)
class InstanceType:
    """What an instance type means in this environment: node placement and resources."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    cpu: str | None = None
    memory: str | None = None
    gpus: int = 0


@dataclass(frozen=True)
class Policy:
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
    server: str = "https://kubernetes.default.svc"
    namespace: str = "anubis-runs"


@dataclass(frozen=True)
class DatasetCache:
    kind: Literal["pvc", "emptyDir", "host"] = "emptyDir"
    claim_name: str | None = None  # for pvc
    size: str | None = None  # for emptyDir (sizeLimit)
    path: str | None = None  # for host (local)


@dataclass(frozen=True)
class ResultStoreSettings:
    kind: Literal["sqlite", "s3"] = "sqlite"
    path: str | None = None  # sqlite file; default under the user's data dir
    bucket: str | None = None
    prefix: str = "results/"
    region: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class Links:
    argocd_url: str | None = None
    grafana_url: str | None = None
    logs_url: str | None = None


@dataclass(frozen=True)
class Environment:
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
    instance_types: dict[str, InstanceType] = field(default_factory=dict)  # "*": any other type
    policy: Policy = field(default_factory=Policy)
    dataset_cache: DatasetCache = field(default_factory=DatasetCache)
    result_store: ResultStoreSettings = field(default_factory=ResultStoreSettings)
    links: Links = field(default_factory=Links)
    source_path: str = ""  # the file it was loaded from, for messages

    def instance_type(self, name: str) -> InstanceType | None:
        return self.instance_types.get(name, self.instance_types.get("*"))
