"""What a run's Kubernetes objects hold: names, labels, containers, volumes — as plain values.

This module decides; the templates under ``renderer/templates/`` only lay the values out as YAML.
Everything here is a pure function of the RunSpec, the Environment and the script bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from renderer.pod_paths import CACHE_DIR, SCRIPTS_DIR
from schemas.environment import Environment
from schemas.errors import RenderError
from schemas.runspec import DataSource, Probe, RunSpec, ScriptSpec, cache_key

# ---- fixed paths and names (a contract with client_lib, the fetcher and the controller) ----------
MANAGED_BY = "anubis"
MAIN_CONTAINER = "benchmark"  # the user's command: single node, launcher, worker, inference client
FETCH_CONTAINER = "fetch-data"
SERVER_CONTAINER = "inference-server"
FETCH_COMMAND = ("anubis", "fetch", "--cache-dir", CACHE_DIR)
GPU_RESOURCE = "nvidia.com/gpu"
ZONE_LABEL = "topology.kubernetes.io/zone"
ZONE_ID_LABEL = "topology.k8s.aws/zone-id"

SCRIPTS_LIMIT_BYTES = 768 * 1024  # a ConfigMap holds at most 1 MiB; keep room for metadata
ANNOTATIONS_LIMIT_BYTES = 256 * 1024  # the API server's limit on one object's annotations
SERVER_STARTUP_BUDGET_SECONDS = 1800  # how long the client waits for the server to come up

# kueue.x-k8s.io/: a descriptor must not choose its own queue (or jump one) — the environment does.
RESERVED_LABEL_PREFIXES = (
    "anubis.dev/", "app.kubernetes.io/", "argocd.argoproj.io/", "kubernetes.io/", "k8s.io/", "kueue.x-k8s.io/"
)

# always used with fullmatch: '$' also matches before a final newline
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


# ---- names -------------------------------------------------------------------------------------------


def object_name(run_id: str, suffix: str = "", limit: int = 63) -> str:
    """``<run_id><suffix>``, shortened with a stable hash when it would pass ``limit`` characters."""
    name = f"{run_id}{suffix}"
    if len(name) > limit:
        digest = hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:8]
        head = run_id[: limit - len(suffix) - len(digest) - 1].rstrip("-")
        name = f"{head}-{digest}{suffix}"
    if not _DNS_LABEL.fullmatch(name):
        raise RenderError(
            f"cannot name a Kubernetes object after run id '{run_id}': '{name}' is not a DNS-1123 label; "
            "run ids are lower-case letters, digits and '-' (this is a bug in planning, please report it)"
        )
    return name


def service_name(run_id: str) -> str:
    """Service names must also start with a letter (RFC 1035)."""
    name = object_name(run_id, "-server")
    return name if name[0].isalpha() else object_name(f"r{run_id}", "-server")


def mpijob_name(spec: RunSpec) -> str:
    """The operator names worker pods ``<name>-worker-<i>`` (hostnames, ≤ 63) and the launcher Job
    ``<name>-launcher`` (its pods carry that name as a label value, ≤ 63)."""
    longest_worker = len(f"-worker-{max(spec.num_instances - 1, 0)}")
    return object_name(spec.run_id, limit=min(63 - len("-launcher"), 63 - longest_worker))


# ---- labels and annotations ----------------------------------------------------------------------------


def _check_label(key: str, value: str, what: str) -> None:
    prefix, _, name = key.rpartition("/")
    key_ok = (
        bool(_LABEL_NAME.fullmatch(name))
        and len(name) <= 63
        and (not prefix or (len(prefix) <= 253 and bool(_LABEL_PREFIX.fullmatch(prefix))))
    )
    value_ok = value == "" or (len(value) <= 63 and bool(_LABEL_NAME.fullmatch(value)))
    if not (key_ok and value_ok):
        raise RenderError(
            f"{what} '{key}: {value}' is not a valid Kubernetes label: keys are an optional DNS prefix and '/' "
            "then up to 63 letters, digits, '-', '_' or '.'; values are up to 63 of those, starting and ending "
            "with a letter or digit. Change it in the descriptor."
        )


def identity_labels(spec: RunSpec) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "anubis.dev/benchmark": spec.benchmark,
        "anubis.dev/run-id": spec.run_id,
        "anubis.dev/family": spec.family_id,
        "anubis.dev/environment": spec.environment,
    }
    for key, value in labels.items():
        _check_label(key, value, "the label")
    return labels


def object_labels(spec: RunSpec) -> dict[str, str]:
    """The labels of every object of the run (checked; a fresh dict each call)."""
    global _last_labels
    last = _last_labels
    if last[0] is spec:
        return dict(last[1])
    labels = _object_labels(spec)
    _last_labels = (spec, labels)
    return dict(labels)


# The last RunSpec's labels and RunSpec JSON: the objects of one run each ask for them (a RunSpec is
# frozen, so the same object gives the same answer; one entry, replaced as a whole).
_last_labels: tuple[RunSpec | None, dict[str, str]] = (None, {})
_last_json: tuple[RunSpec | None, str] = (None, "")


def _object_labels(spec: RunSpec) -> dict[str, str]:
    labels = dict(identity_labels(spec))
    for key, value in spec.labels.items():
        if key.startswith(RESERVED_LABEL_PREFIXES):
            raise RenderError(
                f"info.labels sets '{key}', which Anubis or Kubernetes reserves "
                f"({', '.join(RESERVED_LABEL_PREFIXES)}); choose another key."
            )
        _check_label(key, value, "info.labels entry")
        labels[key] = value
    return dict(sorted(labels.items()))


QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"


def queue_name(spec: RunSpec, env: Environment) -> str | None:
    """The Kueue LocalQueue of a run: the environment's ``queue``, with ``{instance_type}`` replaced by
    the run's instance type, dots as dashes (``anubis-{instance_type}`` → ``anubis-p3-8xlarge``)."""
    if not env.queue:
        return None
    name = env.queue.replace("{instance_type}", spec.placement.instance_type.replace(".", "-").lower())
    if not _DNS_LABEL.fullmatch(name):
        raise RenderError(
            f"environment '{env.name}': queue '{env.queue}' gives '{name}' for instance type "
            f"'{spec.placement.instance_type}', which is not a Kubernetes name; fix the environment's queue"
        )
    return name


def pod_labels(spec: RunSpec, role: str) -> dict[str, str]:
    return dict(sorted({**object_labels(spec), "anubis.dev/role": role}.items()))


def runspec_json(spec: RunSpec) -> str:
    """The ``anubis.dev/runspec`` annotation: the RunSpec as compact JSON, keys sorted."""
    global _last_json
    last = _last_json
    if last[0] is spec:
        return last[1]
    text = json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    _last_json = (spec, text)
    return text


def object_annotations(spec: RunSpec, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    source = spec.source
    annotations = {
        "anubis.dev/descriptor-path": spec.descriptor_path,
        "anubis.dev/pull-request": "" if source.pull_request is None else str(source.pull_request),
        "anubis.dev/runspec": runspec_json(spec),
        "anubis.dev/source-commit": source.commit or "",
        "anubis.dev/source-repository": source.repository or "",
        **(extra or {}),
    }
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_LIMIT_BYTES // 2:  # client-side apply copies them into last-applied-configuration
        raise RenderError(
            f"the run's annotations take {size} bytes, more than Kubernetes can store with room for Argo CD; "
            "shorten the descriptor (long descriptions, many metrics or matrix values)"
        )
    return dict(sorted(annotations.items()))


# ---- containers ---------------------------------------------------------------------------------------


@dataclass
class Pod:
    """One pod template: what the ``_pod.yaml.j2`` macro lays out."""

    labels: dict[str, str]
    service_account: str
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    containers: list[dict[str, Any]]
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    restart_policy: str = "Never"


def env_var(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def anubis_env(spec: RunSpec, *, scripts: bool = True) -> list[dict[str, Any]]:
    """The variables every user container gets, before the descriptor's own."""
    env = [
        env_var("ANUBIS_RUN_ID", spec.run_id),
        env_var("ANUBIS_FAMILY_ID", spec.family_id),
        env_var("ANUBIS_BENCHMARK", spec.benchmark),
        env_var("ANUBIS_ENVIRONMENT", spec.environment),
        _field_env("ANUBIS_POD_NAME", "metadata.name"),
        _field_env("ANUBIS_NODE_NAME", "spec.nodeName"),
        # emit() prints its events to stdout: the pod's log is the one channel the controller can
        # still read after the pod ends (a file on an emptyDir would go with the pod)
        env_var("BENCHMARK_AI", "stdout"),
    ]
    if scripts and spec.script is not None:
        env.append(env_var("BAI_SCRIPTS_PATH", SCRIPTS_DIR))
    return env


def with_user_env(base: list[dict[str, Any]], user: Mapping[str, str], where: str) -> list[dict[str, Any]]:
    """Anubis' variables first, then the user's in their order (so ``$(VAR)`` can refer back)."""
    reserved = {e["name"] for e in base}
    env = list(base)
    for name, value in user.items():
        if name in reserved:
            raise RenderError(f"{where} sets {name}, which Anubis sets for every run; remove it from the descriptor")
        if not _ENV_NAME.fullmatch(name):
            raise RenderError(
                f"{where} has the variable name '{name}', which Kubernetes refuses: use letters, digits, '_', '-' "
                "and '.', not starting with a digit"
            )
        env.append(env_var(name, value))
    return env


def resources(cpu: str | None, memory: str | None, gpus: int) -> dict[str, Any]:
    """CPU and memory are requested (memory also capped, so an OOM is reported as such); CPU is not
    limited, to keep CFS throttling out of the measurements. GPUs are extended resources: limits."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    limits: dict[str, Any] = {"memory": memory} if memory else {}
    if gpus:
        limits[GPU_RESOURCE] = gpus
    return {k: v for k, v in (("limits", limits), ("requests", requests)) if v}


def user_security(privileged: bool) -> dict[str, Any]:
    return {"privileged": True} if privileged else {"allowPrivilegeEscalation": False, "privileged": False}


FETCHER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def container(
    name: str,
    image: str,
    command: Sequence[str],
    env: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    res: dict[str, Any],
    security: dict[str, Any],
    *,
    args: Sequence[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A container as the template wants it; an empty command keeps the image's entrypoint, which then
    gets ``args``."""
    return {
        "name": name,
        "image": image,
        "command": list(command) or None,
        "args": list(args) or None,
        "env": env,
        "ports": [],
        "resources": res,
        "volumeMounts": mounts,
        "securityContext": security,
        **extra,
    }


# ---- volumes --------------------------------------------------------------------------------------------

SHM_VOLUME: dict[str, Any] = {"name": "dshm", "emptyDir": {"medium": "Memory"}}
SHM_MOUNT: dict[str, Any] = {"name": "dshm", "mountPath": "/dev/shm"}
SCRIPTS_MOUNT: dict[str, Any] = {"name": "anubis-scripts", "mountPath": SCRIPTS_DIR, "readOnly": True}


def cache_volume(env: Environment) -> dict[str, Any]:
    cache = env.dataset_cache
    if cache.kind == "pvc":
        if not cache.claim_name:
            raise RenderError(
                f"environment '{env.name}' keeps datasets on a PVC but names no claim: "
                "set dataset_cache.claim_name in its file"
            )
        return {"name": "anubis-cache", "persistentVolumeClaim": {"claimName": cache.claim_name}}
    if cache.kind == "host":
        if not env.policy.allow_host_path or not cache.path:
            raise RenderError(
                f"environment '{env.name}' keeps datasets on the node (dataset_cache.kind = \"host\") but "
                "its policy does not allow host paths or no dataset_cache.path is set: use \"pvc\" or \"emptyDir\""
            )
        return {"name": "anubis-cache", "hostPath": {"path": cache.path, "type": "DirectoryOrCreate"}}
    return {"name": "anubis-cache", "emptyDir": {"sizeLimit": cache.size} if cache.size else {}}


def data_mounts(sources: Sequence[DataSource], where: str) -> list[dict[str, Any]]:
    """Each source is one file on the cache volume, mounted read-only where the run expects it."""
    mounts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for source in sources:
        path = source.path
        if not path.startswith("/") or posixpath.normpath(path) != path or path in seen:
            raise RenderError(
                f"{where}: data path '{path}' must be an absolute, normalised path used by one source only"
            )
        seen.add(path)
        mounts.append({"name": "anubis-cache", "mountPath": path, "subPath": cache_key(source), "readOnly": True})
    return mounts


def fetcher(sources: Sequence[DataSource], env: Environment) -> dict[str, Any]:
    """The init container that downloads and verifies every source into the cache volume."""
    items: dict[str, dict[str, Any]] = {}
    for source in sources:
        key = cache_key(source)
        items.setdefault(
            key,
            {
                "src": source.src,
                "path": source.path,
                "checksum": str(source.checksum) if source.checksum else None,
                "key": key,
                "id": source.id,
            },
        )
    sources_json = json.dumps(
        sorted(items.values(), key=lambda i: i["key"]), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return container(
        FETCH_CONTAINER,
        env.fetcher_image,
        FETCH_COMMAND,
        [env_var("ANUBIS_SOURCES", sources_json)],
        [{"name": "anubis-cache", "mountPath": CACHE_DIR}],
        {"limits": {"memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "256Mi"}},
        FETCHER_SECURITY,
        terminationMessagePolicy="FallbackToLogsOnError",
    )


# ---- script mode ---------------------------------------------------------------------------------------


def scripts_data(script: ScriptSpec, scripts: Mapping[str, bytes]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """``binaryData`` (``f0``…) of the scripts ConfigMap and the volume ``items`` that place each file."""
    expected = {f.path for f in script.files}
    missing, unexpected = sorted(expected - scripts.keys()), sorted(scripts.keys() - expected)
    if missing or unexpected:
        raise RenderError(
            f"the script files handed to the renderer do not match the run's {script.source_dir}/ "
            f"(missing: {missing or 'none'}, unexpected: {unexpected or 'none'}); render again from a clean checkout"
        )
    total = sum(len(b) for b in scripts.values())
    if total > SCRIPTS_LIMIT_BYTES:
        raise RenderError(
            f"script mode: {script.source_dir}/ holds {-(-total // 1024)} KiB, more than the "
            f"{SCRIPTS_LIMIT_BYTES // 1024} KiB Anubis puts in a ConfigMap (Kubernetes stores at most 1 MiB). "
            "Move data and model files out of it into [data] sources (fetched and cached for the run) "
            "or into the image, and keep only code there."
        )
    binary: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    for index, file in enumerate(sorted(script.files, key=lambda f: f.path)):
        path = file.path
        if path.startswith("/") or ".." in path.split("/") or posixpath.normpath(path) != path:
            raise RenderError(f"script mode: '{path}' is not a plain relative path inside {script.source_dir}/")
        content = scripts[path]
        if hashlib.sha256(content).hexdigest() != file.sha256:
            raise RenderError(
                f"script mode: {script.source_dir}/{path} changed after the run was planned; render again"
            )
        key = f"f{index}"
        binary[key] = base64.b64encode(content).decode("ascii")
        items.append({"key": key, "path": path, "mode": 0o755 if file.executable else 0o644})
    return binary, items


def scripts_volume(configmap: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "anubis-scripts", "configMap": {"name": configmap, "defaultMode": 0o644, "items": items}}


# ---- probes and placement -------------------------------------------------------------------------------


def probes(probe: Probe | None, ports: Sequence[int]) -> dict[str, Any]:
    """``startupProbe`` (holds the client back until the server answers, for a bounded time) and
    ``readinessProbe`` for the server sidecar; a TCP check on the first port without a probe."""
    if probe is not None:
        action: dict[str, Any] = {"httpGet": {"path": probe.path, "port": probe.port, "scheme": probe.scheme.upper()}}
        period, timeout, delay = probe.period_seconds, probe.timeout_seconds, probe.initial_delay_seconds
        readiness = {
            **action,
            "initialDelaySeconds": delay,
            "periodSeconds": period,
            "timeoutSeconds": timeout,
            "successThreshold": probe.success_threshold,
            "failureThreshold": probe.failure_threshold,
        }
    elif ports:
        action, period, timeout, delay, readiness = {"tcpSocket": {"port": ports[0]}}, 5, 1, 0, {}
    else:
        return {}
    startup = {
        **action,
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": max(1, -(-SERVER_STARTUP_BUDGET_SECONDS // period)),
    }
    return {"startupProbe": startup, **({"readinessProbe": readiness} if readiness else {})}


def zone_selector(spec: RunSpec) -> dict[str, str]:
    selector: dict[str, str] = {}
    if spec.availability_zone:
        selector[ZONE_LABEL] = spec.availability_zone
    if spec.aws_zone_id:
        selector[ZONE_ID_LABEL] = spec.aws_zone_id
    return selector


def merged_tolerations(*groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tolerations of several instance types, without repeats, in a stable order."""
    seen: dict[str, dict[str, Any]] = {}
    for group in groups:
        for toleration in group:
            seen.setdefault(json.dumps(toleration, sort_keys=True), dict(toleration))
    return [seen[k] for k in sorted(seen)]
