"""The hand-written controller deployment (manifests/system/controller/): valid for Kubernetes 1.29
and the newest version kubernetes-validate knows (``--strict``: no unknown fields), the least RBAC
(no wildcards, no secrets, nothing it does not use), and a pod that meets Pod Security "restricted"
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, restricted profile)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

FOLDER = Path(__file__).resolve().parents[3] / "manifests" / "system" / "controller"
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
NAMESPACE = "anubis-system"
WATCHED = {"anubis-runs", "anubis-gpu-runs"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}

#: Everything the controller may do: (apiGroup, resource) → verbs. A change here is a review item.
EXPECTED_RULES = {
    "anubis-controller-runs": {
        ("batch", "jobs"): {"get", "list", "watch", "patch"},
        ("batch", "cronjobs"): {"get", "list", "watch"},
        ("kubeflow.org", "mpijobs"): {"get", "list", "watch", "patch"},
        ("", "pods"): {"get", "list", "watch"},
        ("", "pods/log"): {"get"},
        ("", "events"): {"get", "list", "watch"},
        # Kueue: a queued run's Workload (read; deactivated when the run is stopped), queue, position
        ("kueue.x-k8s.io", "workloads"): {"get", "list", "patch"},
        ("kueue.x-k8s.io", "localqueues"): {"get"},
        ("visibility.kueue.x-k8s.io", "localqueues/pendingworkloads"): {"get"},
    },
    "anubis-controller-nodes": {("", "nodes"): {"get", "list"}, ("", "namespaces"): {"list", "watch"},
                                ("kueue.x-k8s.io", "clusterqueues"): {"get"}},
}


def load() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(FOLDER.glob("*.yaml")):
        objects += [o for o in yaml.safe_load_all(path.read_text()) if o]
    return objects


OBJECTS = load()


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [o for o in OBJECTS if o["kind"] == kind]


def test_the_folder_holds_what_a_deployment_needs() -> None:
    kinds = sorted(o["kind"] for o in OBJECTS)
    assert kinds == sorted(
        ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "RoleBinding",
         "RoleBinding", "ConfigMap", "Deployment", "Service", "PersistentVolumeClaim"]
    )  # fmt: skip
    for o in OBJECTS:
        assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "anubis"
        if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert o["metadata"]["namespace"] in {NAMESPACE, *WATCHED}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o['kind']}-{o['metadata'].get('namespace', '')}-{o['metadata']['name']}")
def test_valid_for_kubernetes(obj: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(obj, version, strict=True)


def test_rbac_has_no_wildcards_no_secrets_and_only_what_is_needed() -> None:
    roles = by_kind("ClusterRole") + by_kind("Role")
    assert {r["metadata"]["name"] for r in roles} == set(EXPECTED_RULES)
    for role in roles:
        granted: dict[tuple[str, str], set[str]] = {}
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field] and not any("*" in v for v in rule[field]), (role["metadata"]["name"], rule)
            assert "secrets" not in rule["resources"]
            assert "nonResourceURLs" not in rule and "resourceNames" not in rule
            assert not set(rule["verbs"]) & {"create", "delete", "deletecollection", "escalate", "bind", "impersonate", "update"}
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
        assert granted == EXPECTED_RULES[role["metadata"]["name"]]


def test_bindings_give_the_service_account_the_roles_where_runs_are() -> None:
    subject = [{"kind": "ServiceAccount", "name": "anubis-controller", "namespace": NAMESPACE}]
    bindings = by_kind("RoleBinding")
    assert {b["metadata"]["namespace"] for b in bindings} == WATCHED
    for b in bindings:
        assert b["roleRef"]["name"] == "anubis-controller-runs" and b["subjects"] == subject
    (cluster,) = by_kind("ClusterRoleBinding")
    assert cluster["roleRef"]["name"] == "anubis-controller-nodes" and cluster["subjects"] == subject


def test_watched_namespaces_match_the_environments_and_the_settings() -> None:
    repo = FOLDER.parents[2]
    namespaces = {}
    for path in (repo / "environments").glob("*.toml"):
        env = tomllib.loads(path.read_text())
        if env.get("kind") == "kubernetes":
            namespaces[path.stem] = env["destination"]["namespace"]
    assert set(namespaces.values()) == WATCHED
    (config_map,) = by_kind("ConfigMap")
    settings = tomllib.loads(config_map["data"]["controller.toml"])
    assert set(settings["controller"]["namespaces"]) == WATCHED
    assert {name: e["namespace"] for name, e in settings["environments"].items()} == namespaces
    assert settings["store"]["url"].startswith("s3://")


def test_the_controller_stores_where_the_environments_say_results_are() -> None:
    # `anubis results --store cpu-cluster` reads the environment's [result_store]: the controller must
    # write there, or people would read an empty store
    from controller.store_location import environment_location, parse_location
    from renderer.environments import load_environment

    repo = FOLDER.parents[2]
    (config_map,) = by_kind("ConfigMap")
    store = tomllib.loads(config_map["data"]["controller.toml"])["store"]
    written = parse_location(store["url"], region=store.get("region"), endpoint_url=store.get("endpoint_url"))
    for path in (repo / "environments").glob("*.toml"):
        env = load_environment(repo, path.stem)
        if env.kind == "kubernetes":
            assert environment_location(env.name, env.result_store, Path("unused")) == written, env.name


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    spec = pod["spec"]
    found = []
    pod_context = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"pod: {field}")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {kinds}")
    if pod_context.get("runAsUser") == 0:
        found.append("pod: runAsUser 0")
    for c in spec.get("initContainers", []) + spec["containers"]:
        context = c.get("securityContext") or {}
        name = c["name"]
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: capabilities not all dropped")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities added")
        seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccomp {seccomp}")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                found.append(f"{name}: hostPort")
    return found


def test_deployment_meets_pod_security_restricted() -> None:
    (deployment,) = by_kind("Deployment")
    pod = deployment["spec"]["template"]
    assert restricted_violations(pod) == []
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == "ghcr.io/anubis-bench/anubis:0.1.0"
    assert container["args"][0] == "controller"
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert "/tmp" in writable  # Python and boto3 need a writable temporary folder
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert pod["spec"]["serviceAccountName"] == "anubis-controller"
    (namespace,) = by_kind("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_restricted_check_catches_what_it_should() -> None:
    bad = {"spec": {"hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
                    "containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}}  # fmt: skip
    assert restricted_violations(bad) == [
        "pod: hostNetwork",
        "volume h: {'hostPath'}",
        "c: allowPrivilegeEscalation is not false",
        "c: runAsNonRoot is not true",
        "c: capabilities not all dropped",
        "c: capabilities added",
        "c: seccomp None",
    ]


def test_the_data_folder_outlives_the_pod() -> None:
    # the GitHub outbox lives in the data folder: on an emptyDir a restart would lose queued writes
    (deployment,) = by_kind("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (mount,) = [m for m in spec["containers"][0]["volumeMounts"] if m["mountPath"] == "/var/lib/anubis"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    (claim,) = by_kind("PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["ANUBIS_DATA_DIR"] == mount["mountPath"]
    # one pod at a time may hold a ReadWriteOnce volume
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"] and deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"]  # writable by the user


def test_service_is_scraped_on_the_metrics_port() -> None:
    (service,) = by_kind("Service")
    (deployment,) = by_kind("Deployment")
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    (port,) = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"]) == str(service["spec"]["ports"][0]["port"])
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (config_map,) = by_kind("ConfigMap")
    assert tomllib.loads(config_map["data"]["controller.toml"])["controller"]["metrics_port"] == port["containerPort"]


def test_dockerfile_builds_every_package_as_a_non_root_user() -> None:
    repo = FOLDER.parents[2]
    text = (repo / "Dockerfile").read_text()
    project = tomllib.loads((repo / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {name for line in text.splitlines() if line.startswith("COPY ") and "--from" not in line for name in line.split()[1:-1]}
    assert packages <= copied and {"pyproject.toml", "README.md"} <= copied
    allowed = {line.strip("!/") for line in (repo / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    assert copied <= allowed
    assert "FROM python:3.11-slim" in text and 'ENTRYPOINT ["anubis"]' in text
    (user,) = [line for line in text.splitlines() if line.startswith("USER ")]
    (deployment,) = by_kind("Deployment")
    assert user.split()[1] == "{0}:{0}".format(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"])


def test_the_elasticsearch_credentials_come_from_the_secret_infra_writes() -> None:
    """infra/terraform/modules/logging writes the controller's URL (with its user) into this Secret."""
    (deployment,) = by_kind("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (env,) = [e for e in spec["containers"][0]["env"] if e["name"] == "ANUBIS_ELASTICSEARCH_URL"]
    ref = env["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "anubis-elasticsearch", "key": "url", "optional": True}
    logging_module = (FOLDER.parents[2] / "infra/terraform/modules/logging/main.tf").read_text(encoding="utf-8")
    assert 'name      = "anubis-elasticsearch"' in logging_module and "namespace = var.controller_namespace" in logging_module
