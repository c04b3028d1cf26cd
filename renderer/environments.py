"""Loading ``environments/<name>.toml`` into :class:`~schemas.environment.Environment`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from renderer.durations import parse_duration
from renderer.loading import display_path, raise_if_errors, read_toml, schema_problems
from schemas.environment import (
    DatasetCache,
    Destination,
    Environment,
    InstanceType,
    Links,
    Policy,
    ResultStoreSettings,
)
from schemas.errors import DescriptorError, NotFoundError


def environment_names(repo_root: Path) -> list[str]:
    folder = repo_root / "environments"
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def load_environment(repo_root: Path, name: str) -> Environment:
    path = repo_root / "environments" / f"{name}.toml"
    if not path.is_file():
        known = environment_names(repo_root)
        choices = f"; known environments: {', '.join(known)}" if known else "; the folder environments/ has none"
        raise NotFoundError(f"environment '{name}' not found (no {display_path(path, repo_root)}){choices}")
    doc = read_toml(path, display_path(path, repo_root))
    raise_if_errors(schema_problems(doc, "environment"))
    try:
        env = _build(name, doc.data, doc.path)
    except ValueError as e:  # pragma: no cover - the schema checks the forms first
        raise DescriptorError([doc.problem(("policy",), str(e))]) from e
    if env.policy.default_timeout_seconds > env.policy.max_timeout_seconds:
        raise DescriptorError(
            [doc.problem(("policy", "default_timeout"), "default_timeout is longer than max_timeout; shorten it")]
        )
    return env


def load_all(repo_root: Path) -> list[Environment]:
    return [load_environment(repo_root, name) for name in environment_names(repo_root)]


def _build(name: str, data: dict[str, Any], source_path: str) -> Environment:
    policy = data.get("policy", {})
    defaults = Policy()
    return Environment(
        name=name,
        kind=data["kind"],
        description=data.get("description", ""),
        default=bool(data.get("default", False)),
        destination=Destination(**data.get("destination", {})),
        argocd_project=data.get("argocd_project", "anubis"),
        service_account=data.get("service_account", "anubis-run"),
        fetcher_service_account=data.get("fetcher_service_account", Environment.fetcher_service_account),
        fetcher_image=data.get("fetcher_image", Environment.fetcher_image),
        queue=data.get("queue"),
        instance_types={
            key: InstanceType(
                node_selector=dict(value.get("node_selector", {})),
                tolerations=tuple(value.get("tolerations", ())),
                cpu=value.get("cpu"),
                memory=value.get("memory"),
                gpus=int(value.get("gpus", 0)),
            )
            for key, value in sorted(data.get("instance_types", {}).items())
        },
        policy=Policy(
            allow_privileged=policy.get("allow_privileged", defaults.allow_privileged),
            allow_host_network=policy.get("allow_host_network", defaults.allow_host_network),
            allow_host_path=policy.get("allow_host_path", defaults.allow_host_path),
            allowed_registries=tuple(policy.get("allowed_registries", ())),
            max_gpus=policy.get("max_gpus", defaults.max_gpus),
            max_instances=policy.get("max_instances", defaults.max_instances),
            default_timeout_seconds=parse_duration(policy.get("default_timeout", defaults.default_timeout_seconds)),
            max_timeout_seconds=parse_duration(policy.get("max_timeout", defaults.max_timeout_seconds)),
            unschedulable_deadline_seconds=parse_duration(
                policy.get("unschedulable_deadline", defaults.unschedulable_deadline_seconds)
            ),
        ),
        dataset_cache=DatasetCache(**data.get("dataset_cache", {"kind": "emptyDir"})),
        result_store=ResultStoreSettings(**data.get("result_store", {"kind": "sqlite"})),
        links=Links(**data.get("links", {})),
        source_path=source_path,
    )
