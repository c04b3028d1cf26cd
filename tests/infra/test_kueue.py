"""Kueue as infra/terraform installs it: the ResourceFlavors, ClusterQueues and LocalQueues, filled in
for the default GPU node groups, pass Kueue's own CRDs (../shared/crds/kueue-*-v0.19.2.yaml, the
version the pinned chart installs), and they match what environments/gpu-cluster.toml names.

No terraform binary runs here: the manifests are HCL literals whose leaves only are computed
(``each.key``, ``each.value.*``, ``var.*``); the test fills those in the way Terraform would for the
default variables and validates the result as the API server would (structural schema: unknown fields
of a closed object are errors, x-kubernetes-int-or-string is an integer or a string).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is a test dependency (pip install -e '.[test]')")

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "infra" / "terraform" / "modules" / "kueue"
CRDS = REPO.parent / "shared" / "crds"
OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
LEAF = re.compile(r"\$\{([^}]+)\}")


def _structural(schema: dict[str, Any]) -> dict[str, Any]:
    """An openAPIV3Schema as a JSON Schema with the API server's pruning made strict."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if node.pop("x-kubernetes-int-or-string", False):
            node.pop("type", None)
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
        for key in ("properties", "patternProperties"):
            if key in node:
                node[key] = {k: walk(v) for k, v in node[key].items()}
        for key in ("items", "additionalProperties", "not"):
            if isinstance(node.get(key), dict):
                node[key] = walk(node[key])
        for key in ("allOf", "anyOf", "oneOf"):
            if key in node:
                node[key] = [walk(v) for v in node[key]]
        if "properties" in node and not preserve and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node

    return walk(schema)  # type: ignore[no-any-return]


def crd_validator(kind_file: str, version: str) -> jsonschema.Draft7Validator:
    path = CRDS / kind_file
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/crds holds the upstream CRDs)")
    crd = yaml.safe_load(path.read_text())
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            return jsonschema.Draft7Validator(_structural(served["schema"]["openAPIV3Schema"]))
    raise AssertionError(f"{kind_file} serves no version {version}")


def _module() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for tf in sorted(MODULE.glob("*.tf")):
        parsed = hcl2.loads(tf.read_text(), serialization_options=OPTIONS)
        for key, value in parsed.items():
            merged.setdefault(key, []).extend(value)
    return merged


def _manifest(resource_name: str) -> dict[str, Any]:
    for entry in _module()["resource"]:
        for rtype, named in entry.items():
            if rtype == "kubernetes_manifest" and resource_name in named:
                return named[resource_name]["manifest"]  # type: ignore[no-any-return]
    raise AssertionError(f"no kubernetes_manifest.{resource_name}")


def _fill(node: Any, values: dict[str, Any]) -> Any:
    """Terraform's evaluation of leaf expressions, for the few this module uses."""
    if isinstance(node, dict):
        return {_fill(k, values): _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str):
        whole = LEAF.fullmatch(node)
        if whole:
            return values[whole.group(1)]
        return LEAF.sub(lambda m: str(values[m.group(1)]), node)
    return node


def _default(name: str) -> Any:
    for entry in _module()["variable"]:
        if name in entry:
            return entry[name]["default"]
    raise AssertionError(f"no variable {name}")


GPU_GROUPS = {"p3.8xlarge": {"max_size": 2, "gpus": 4}, "g5.xlarge": {"max_size": 4, "gpus": 1}}


def _objects() -> list[dict[str, Any]]:
    prefix, cohort = _default("queue_prefix"), _default("queue_prefix_cohort")
    objects = []
    for instance_type, group in GPU_GROUPS.items():
        key = instance_type.replace(".", "-")
        flavor = {"instance_type": instance_type, "gpus": group["max_size"] * group["gpus"], "cpu": "100000", "memory": "100000Ti"}
        values = {"each.key": key, **{f"each.value.{k}": v for k, v in flavor.items()},
                  "var.queue_prefix": prefix, "var.queue_prefix_cohort": cohort}
        objects.append(_fill(_manifest("resource_flavor"), values))
        objects.append(_fill(_manifest("cluster_queue"), values))
        local = {"each.value.flavor": key, "each.value.namespace": "anubis-gpu-runs", "var.queue_prefix": prefix}
        objects.append(_fill(_manifest("local_queue"), local))
    return objects


VALIDATORS = {
    "ResourceFlavor": ("kueue-resourceflavors-v0.19.2.yaml", "v1beta2"),
    "ClusterQueue": ("kueue-clusterqueues-v0.19.2.yaml", "v1beta2"),
    "LocalQueue": ("kueue-localqueues-v0.19.2.yaml", "v1beta2"),
}


def test_kueue_objects_pass_the_upstream_crds() -> None:
    objects = _objects()
    assert sorted({o["kind"] for o in objects}) == ["ClusterQueue", "LocalQueue", "ResourceFlavor"]
    for obj in objects:
        assert obj["apiVersion"] == "kueue.x-k8s.io/v1beta2"
        errors = sorted(crd_validator(*VALIDATORS[obj["kind"]]).iter_errors(obj), key=str)
        assert not errors, f"{obj['kind']} {obj['metadata']['name']}: " + "; ".join(e.message for e in errors)
    queue = next(o for o in objects if o["kind"] == "ClusterQueue" and o["metadata"]["name"] == "anubis-p3-8xlarge")
    gpus = queue["spec"]["resourceGroups"][0]["flavors"][0]["resources"][2]
    assert gpus == {"name": "nvidia.com/gpu", "nominalQuota": 8}  # 2 nodes x 4 GPUs by default


def test_the_conformance_check_fails_on_a_wrong_field() -> None:
    queue = next(o for o in _objects() if o["kind"] == "ClusterQueue")
    wrong = copy.deepcopy(queue)
    wrong["spec"]["cohort"] = "anubis"  # v1beta1's name; v1beta2 calls it cohortName
    assert list(crd_validator(*VALIDATORS["ClusterQueue"]).iter_errors(wrong))
    bad_strategy = copy.deepcopy(queue)
    bad_strategy["spec"]["queueingStrategy"] = "Random"
    assert list(crd_validator(*VALIDATORS["ClusterQueue"]).iter_errors(bad_strategy))


def test_the_chart_runs_only_labelled_jobs_and_waits_for_pods_ready() -> None:
    text = (MODULE / "main.tf").read_text()
    assert "manageJobsWithoutQueueName = false" in text
    assert '"batch/job", "kubeflow.org/mpijob"' in text
    assert "waitForPodsReady" in text and "blockAdmission = true" in text
    root = (REPO / "infra" / "terraform" / "main.tf").read_text()
    assert re.search(r'kueue\s+=\s+"0\.19\.2"', root), "the chart is pinned to the version of ../shared/crds"
