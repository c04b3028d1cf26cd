"""Every custom object Anubis renders or installs, checked against the upstream CRD of the version that
``infra/`` installs (``../shared/crds/``, copied unchanged from the projects that own the kinds).

The API server validates a custom object against its CRD's ``openAPIV3Schema`` and *prunes* fields the
schema does not know (structural schemas,
https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning):
a misspelt or too-new field does not fail the apply, it silently disappears. That is how an AppProject's
``clusterResourceWhitelist[].name`` (Argo CD ≥ v3.3) would vanish on Argo CD v2.13 and whitelist *every*
Namespace. Here an unknown field is an error, like ``kubectl apply --validate=strict``.

The objects are discovered, not listed: every YAML document under ``manifests/``, every golden render
under ``tests/**/cases/``, fresh renders of the renderer's cases, and the Applications that
``infra/terraform`` creates through the argocd-apps chart (the bootstrap and the MPI Operator). Any
object whose API group is not a built-in one is custom and must have a CRD here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
CRDS = REPO.parent / "shared" / "crds"
TERRAFORM = REPO / "infra" / "terraform"

if not CRDS.is_dir():  # pragma: no cover - depends on the checkout
    pytest.skip(f"the upstream CRDs are not here ({CRDS} is missing: the shared reference data sits beside the "
                "repository); nothing to check the custom objects against", allow_module_level=True)

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is a test dependency (pip install -e '.[test]')")
HCL = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)

#: Helm chart argo-cd → the Argo CD it installs (the chart's appVersion; argo-helm's Chart.yaml and
#: release notes: 7.7.11 → v2.13.2, 9.4.4 → "Update dependency argoproj/argo-cd to v3.3.2").
ARGO_CD_CHARTS = {"7.7.11": "v2.13.2", "9.4.4": "v3.3.2"}
#: Argo CD version → the suffix of its stored CRDs. The 3.x files are the default branch (late 2026),
#: the stored schema closest to v3.3 (the fields rendered here are in v3.3's CRD: `name` came in v3.3).
ARGO_CD_CRDS = {"v2.13.2": "-v2.13.2", "v3.3.2": ""}
#: ObjectMeta fields a manifest may set (k8s.io/apimachinery/pkg/apis/meta/v1 ObjectMeta; the rest is
#: written by the server). The API server checks metadata itself, not through the CRD.
OBJECT_META = {"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences"}


# ---- the schemas -------------------------------------------------------------------------------------


def structural(schema: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    """A CRD's OpenAPI v3 schema as a JSON Schema that rejects what the API server would prune.

    * ``x-kubernetes-preserve-unknown-fields: true``: anything goes below (apart from listed properties);
    * ``x-kubernetes-int-or-string``: an integer or a string;
    * ``x-kubernetes-embedded-resource``: ``apiVersion``, ``kind`` and ``metadata`` are implied;
    * ``nullable``: null is allowed too;
    * an object with ``properties`` is closed to other keys (that is pruning) — except inside
      ``anyOf``/``allOf``/``oneOf``/``not``, which structural schemas use for value checks only.

    ``x-kubernetes-validations`` (CEL rules) are not evaluated here."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: structural(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = structural(value)
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = structural(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [structural(sub, closed=False) for sub in value]
        elif key == "not":
            out[key] = structural(value, closed=False)
        elif key.startswith("x-kubernetes-") or key in ("description", "nullable", "example", "externalDocs"):
            continue
        else:
            out[key] = copy.deepcopy(value)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        for implied in ("apiVersion", "kind"):
            props.setdefault(implied, {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if closed and "properties" in out and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@dataclass(frozen=True)
class Crd:
    group: str
    kind: str
    source: str  # the file, for messages
    versions: dict[str, dict[str, Any]]  # served version → its JSON Schema


def load_crd(filename: str) -> Crd:
    path = CRDS / filename
    if not path.is_file():
        raise AssertionError(f"{path} is missing: add the CRD of the version infra/ installs to ../shared/crds/")
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert len(docs) == 1 and docs[0]["kind"] == "CustomResourceDefinition", f"{filename}: not one CRD"
    spec = docs[0]["spec"]
    versions = {v["name"]: structural(v["schema"]["openAPIV3Schema"]) for v in spec["versions"] if v.get("served")}
    return Crd(spec["group"], spec["names"]["kind"], filename, versions)


def _terraform(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(path.read_text(encoding="utf-8"), serialization_options=HCL)
    return parsed


def _locals(path: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in _terraform(path).get("locals", []):
        merged.update(block)
    return merged


def _variable_default(path: Path, name: str) -> Any:
    for block in _terraform(path).get("variable", []):
        if name in block:
            return block[name]["default"]
    raise AssertionError(f"{path}: no variable {name}")


def installed_crds() -> dict[tuple[str, str], Crd]:
    """The CRDs of the versions infra/terraform pins, by (group, kind)."""
    charts = _locals(TERRAFORM / "main.tf")["charts"]
    argo_cd = ARGO_CD_CHARTS.get(charts["argo_cd"])
    assert argo_cd is not None, (
        f"infra/terraform pins Helm chart argo-cd {charts['argo_cd']}, whose Argo CD version this test does not "
        "know: add it to ARGO_CD_CHARTS (the chart's appVersion) and its CRDs to ../shared/crds/")
    suffix = ARGO_CD_CRDS[argo_cd]
    mpi = _variable_default(TERRAFORM / "variables.tf", "mpi_operator_version")
    files = [f"application{suffix}.yaml", f"applicationset{suffix}.yaml", f"appproject{suffix}.yaml",
             f"mpijobs-{mpi}.yaml",
             # kube-prometheus-stack's prometheus-operator: only the default branch's CRD is stored
             # (monitoring.coreos.com/v1 PrometheusRule has been stable since 2019).
             "prometheusrules.yaml"]
    crds = [load_crd(f) for f in files]
    return {(c.group, c.kind): c for c in crds}


def crd_errors(obj: dict[str, Any], crds: dict[tuple[str, str], Crd]) -> list[str]:
    """What the API server would refuse (or prune) in ``obj``, as sentences; empty when it fits."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    kind = str(obj.get("kind", ""))
    crd = crds.get((group, kind))
    if crd is None:
        return [f"no CRD for {kind} in {group}: add the upstream CRD of the installed version to ../shared/crds/ "
                "and to installed_crds()"]
    schema = crd.versions.get(version)
    if schema is None:
        return [f"{crd.source} does not serve {group}/{version} (it serves {', '.join(sorted(crd.versions))})"]
    errors = [f"metadata.{key}: not an ObjectMeta field a manifest sets"
              for key in sorted(set(obj.get("metadata") or {}) - OBJECT_META)]
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in error.absolute_path) or "(root)"
        errors.append(f"{where}: {error.message}")
    return errors


# ---- the objects ---------------------------------------------------------------------------------------


def _is_custom(obj: dict[str, Any]) -> bool:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    # every CRD group has a dot; the built-in groups with one end in .k8s.io
    return "." in group and not group.endswith(".k8s.io")


def _yaml_objects(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if isinstance(doc, dict) and doc.get("kind") == "List":
            yield from doc.get("items") or []
        elif isinstance(doc, dict):
            yield doc


_REF = re.compile(r"\$\{(var|local)\.([A-Za-z0-9_]+)\}")


def _resolve(value: Any, local: dict[str, Any]) -> Any:
    """Terraform references in parsed HCL: ``local.x`` by its value, ``var.x`` by a sample string."""
    if isinstance(value, dict):
        return {k: _resolve(v, local) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, local) for v in value]
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole and whole.group(1) == "local":
            return _resolve(local[whole.group(2)], local)
        return _REF.sub(lambda m: f"sample-{m.group(2).replace('_', '-')}", value)
    return value


#: What argocd-apps 2.x reads of each `applications.<name>` entry (argo-helm charts/argocd-apps/
#: templates/applications.yaml); anything else in the values is silently dropped by the chart.
ARGOCD_APPS_KEYS = {"namespace", "additionalLabels", "additionalAnnotations", "finalizers", "project", "source",
                    "sources", "destination", "syncPolicy", "revisionHistoryLimit", "ignoreDifferences", "info"}


def bootstrap_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    """The Applications infra/terraform creates with the argocd-apps chart, as the chart renders them."""
    for path in sorted(TERRAFORM.rglob("*.tf")):
        parsed = _terraform(path)
        local = _locals(path)
        for block in parsed.get("resource", []):
            for name, release in (block.get("helm_release") or {}).items():
                if release.get("chart") != "argocd-apps":
                    continue
                for text in release.get("values", []):
                    inner = re.fullmatch(r"\$\{yamlencode\((.*)\)\}", text, re.S)
                    assert inner, f"{path}: helm_release.{name} values are not yamlencode({{...}})"
                    values = _resolve(hcl2.loads(f"v = {inner.group(1)}\n", serialization_options=HCL)["v"], local)
                    for app_name, app in (values.get("applications") or {}).items():
                        unknown = set(app) - ARGOCD_APPS_KEYS
                        assert not unknown, f"{path}: {app_name}: argocd-apps ignores {sorted(unknown)}"
                        metadata = {"name": app_name, **{k: app[k] for k in ("namespace", "finalizers") if k in app}}
                        if "additionalLabels" in app:
                            metadata["labels"] = app["additionalLabels"]
                        if "additionalAnnotations" in app:
                            metadata["annotations"] = app["additionalAnnotations"]
                        spec = {k: v for k, v in app.items() if k not in {"namespace", "finalizers", "additionalLabels",
                                                                          "additionalAnnotations"}}
                        yield (f"{path.relative_to(REPO)} helm_release.{name} {app_name}",
                               {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                                "metadata": metadata, "spec": spec})


def rendered_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    import importlib.util

    from renderer.manifests import parse_documents, render_argocd, render_run

    spec_ = importlib.util.spec_from_file_location("crd_manifest_cases", REPO / "tests/unit/renderer/manifest_cases.py")
    assert spec_ is not None and spec_.loader is not None
    cases = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(cases)
    for name, case in sorted(cases.RENDER_CASES.items()):
        spec, env, scripts = case()
        for obj in render_run(spec, env, scripts).objects:
            yield f"render of case {name}", obj
    files = render_argocd([cases.CPU_ENV, cases.GPU_ENV], "https://github.com/anubis-bench/anubis")
    for filename, text in files.items():
        for obj in parse_documents(text, filename):
            yield f"render_argocd {filename}", obj


def all_custom_objects() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    files = sorted((REPO / "manifests").rglob("*.yaml")) + sorted((REPO / "tests").rglob("cases/**/*.yaml"))
    for path in files:
        found += [(str(path.relative_to(REPO)), obj) for obj in _yaml_objects(path)]
    found += list(rendered_objects())
    found += list(bootstrap_objects())
    return [(where, obj) for where, obj in found if _is_custom(obj)]


CRDS_INSTALLED = installed_crds()
OBJECTS = all_custom_objects()


def _id(item: tuple[str, dict[str, Any]]) -> str:
    where, obj = item
    return f"{where}:{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


# ---- the checks ----------------------------------------------------------------------------------------


def test_every_kind_anubis_renders_is_found() -> None:
    kinds = {obj["kind"] for _, obj in OBJECTS}
    assert {"MPIJob", "Application", "ApplicationSet", "AppProject", "PrometheusRule"} <= kinds
    assert any("helm_release.bootstrap" in where for where, _ in OBJECTS), "the bootstrap Applications were not found"


@pytest.mark.parametrize("item", OBJECTS, ids=[_id(i) for i in OBJECTS])
def test_the_installed_crd_accepts_the_object(item: tuple[str, dict[str, Any]]) -> None:
    where, obj = item
    errors = crd_errors(obj, CRDS_INSTALLED)
    assert not errors, f"{_id(item)} does not fit its CRD:\n  " + "\n  ".join(errors)


def _first(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(obj for _, obj in OBJECTS if obj["kind"] == kind))


def test_a_misspelt_field_is_refused_not_pruned() -> None:
    mpijob = _first("MPIJob")
    mpijob["spec"]["mpiReplicaSpecs"]["Worker"]["replica"] = 2  # for `replicas`: the server would drop it
    assert any("'replica' was unexpected" in e for e in crd_errors(mpijob, CRDS_INSTALLED))
    app = _first("Application")
    app["spec"]["syncPolicy"]["syncOption"] = ["Prune=false"]
    assert any("syncPolicy" in e and "'syncOption' was unexpected" in e for e in crd_errors(app, CRDS_INSTALLED))


def test_a_wrong_type_a_wrong_value_and_a_missing_field_are_refused() -> None:
    mpijob = _first("MPIJob")
    mpijob["spec"]["slotsPerWorker"] = "1"
    assert any(e.startswith("spec.slotsPerWorker:") for e in crd_errors(mpijob, CRDS_INSTALLED))
    mpijob = _first("MPIJob")
    mpijob["spec"]["mpiImplementation"] = "OpenMP"
    assert any("mpiImplementation" in e and "is not one of" in e for e in crd_errors(mpijob, CRDS_INSTALLED))
    rule = _first("PrometheusRule")
    del rule["spec"]["groups"][0]["name"]
    assert any("'name' is a required property" in e for e in crd_errors(rule, CRDS_INSTALLED))
    project = _first("AppProject")
    project["metadata"]["uid"] = "x"
    assert "metadata.uid: not an ObjectMeta field a manifest sets" in crd_errors(project, CRDS_INSTALLED)


def test_int_or_string_and_preserved_fields_follow_the_api_server() -> None:
    schema = structural({"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "closed": {"type": "object", "properties": {"a": {"type": "string"}}}}})
    validator = jsonschema.Draft7Validator(schema)
    assert validator.is_valid({"port": 8080, "free": {"anything": [1]}, "closed": {"a": "x"}})
    assert validator.is_valid({"port": "http"})
    assert not validator.is_valid({"port": 1.5})
    assert not validator.is_valid({"closed": {"b": "x"}})
    assert not validator.is_valid({"other": 1})


def test_argo_cd_2_13_would_prune_the_namespace_restriction() -> None:
    """Why infra/ pins Argo CD ≥ v3.3: v2.13's AppProject has no clusterResourceWhitelist[].name, so the
    API server would drop it and leave every Namespace whitelisted for the project's Applications."""
    project = _first("AppProject")
    assert {"group": "", "kind": "Namespace", "name": "anubis-pr-*"} in project["spec"]["clusterResourceWhitelist"]
    old = load_crd("appproject-v2.13.2.yaml")
    errors = crd_errors(project, {(old.group, old.kind): old})
    assert any("clusterResourceWhitelist" in e and "'name' was unexpected" in e for e in errors)
    charts = _locals(TERRAFORM / "main.tf")["charts"]
    assert ARGO_CD_CHARTS[charts["argo_cd"]] != "v2.13.2"


def test_an_unknown_custom_kind_is_an_error() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert _is_custom(obj)
    assert "no CRD for Widget" in crd_errors(obj, CRDS_INSTALLED)[0]
    assert not _is_custom({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding"})
    assert not _is_custom({"apiVersion": "batch/v1", "kind": "Job"})
