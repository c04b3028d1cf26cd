"""Loading ``environments/<name>.toml`` into :class:`~schemas.environment.Environment`.

The ``local`` environment is built in (``renderer/defaults/local.toml``, shipped inside the package):
any descriptor runs with ``anubis run`` from any folder, inside a repository or not. A repository's
own ``environments/local.toml`` replaces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from renderer.durations import parse_duration
from renderer.loading import display_path, raise_if_errors, read_toml, schema_problems
from schemas.environment import (
    DatasetCache,
    Destination,
    Environment,
    InstanceTypeRule,
    Links,
    Policy,
    ResultStoreSettings,
)
from schemas.errors import DescriptorError, NotFoundError

BUILTIN_DIR = Path(__file__).resolve().parent / "defaults"
BUILTIN = ("local",)  # environments every installation has


def builtin_path(name: str) -> Path:
    return BUILTIN_DIR / f"{name}.toml"


def environment_names(repo_root: Path | None) -> list[str]:
    """The repository's environments and the built-in ones it does not replace."""
    folder = repo_root / "environments" if repo_root is not None else None
    own = {p.stem for p in folder.glob("*.toml")} if folder is not None and folder.is_dir() else set()
    return sorted(own | set(BUILTIN))


def environment_path(repo_root: Path | None, name: str) -> tuple[Path, str]:
    """The file an environment is read from and how messages show it. Raises NotFoundError."""
    if repo_root is not None:
        path = repo_root / "environments" / f"{name}.toml"
        if path.is_file():
            return path, display_path(path, repo_root)
    if name in BUILTIN:
        return builtin_path(name), f"<built-in>/environments/{name}.toml"
    known = environment_names(repo_root)
    where = f"no environments/{name}.toml" if repo_root is not None else "outside a repository only the built-in ones exist"
    raise NotFoundError(f"environment '{name}' not found ({where}); known environments: {', '.join(known)}")


def load_environment(repo_root: Path | None, name: str) -> Environment:
    path, shown = environment_path(repo_root, name)
    doc = read_toml(path, shown)
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


def load_all(repo_root: Path | None) -> list[Environment]:
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
            key: InstanceTypeRule(
                node_selector=dict(value.get("node_selector", {})),
                tolerations=tuple(value.get("tolerations", ())),
                cpu=value.get("cpu"),
                memory=value.get("memory"),
                gpus=int(value["gpus"]) if "gpus" in value else None,
            )
            for key, value in data.get("instance_types", {}).items()
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
