"""Static checks of infra/terraform (no terraform binary can run here): every .tf file parsed with
python-hcl2, then the structure asserted — pinned providers, modules and charts; typed, described and
validated variables; no credentials; encrypted, versioned, private, TLS-only buckets; no IAM
statement allowing every action on every resource; the URL outputs; and the node pools, namespaces
and service accounts that environments/*.toml expect."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is a test dependency (pip install -e '.[test]')")

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "infra" / "terraform"
OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
CONSTRAINT = re.compile(r"^(~>|>=|=)?\s*\d+\.\d+(\.\d+)?(,\s*<\s*\d+\.\d+(\.\d+)?)?$")
REF = re.compile(r"^\$\{(var|local)\.([A-Za-z0-9_.]+)\}$")


def _load(path: Path) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(path.read_text(), serialization_options=OPTIONS)
    return parsed


FILES = sorted(ROOT.rglob("*.tf"))
PARSED = {path: _load(path) for path in FILES}
MODULE_DIRS = sorted({p.parent for p in FILES})


def _blocks(kind: str, folder: Path | None = None) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """(file, name, body) of each ``kind`` block (variable, output, module, locals...)."""
    for path, parsed in PARSED.items():
        if folder is not None and path.parent != folder:
            continue
        for entry in parsed.get(kind, []):
            for name, body in entry.items():
                yield path, name, body


def _resources(kind: str = "resource") -> Iterator[tuple[Path, str, str, dict[str, Any]]]:
    """(file, type, name, body) of each resource (or data source)."""
    for path, parsed in PARSED.items():
        for entry in parsed.get(kind, []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    yield path, rtype, name, body


def _variables(folder: Path) -> dict[str, dict[str, Any]]:
    return {name: body for _, name, body in _blocks("variable", folder)}


def _locals(folder: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path, parsed in PARSED.items():
        if path.parent == folder:
            for entry in parsed.get("locals", []):
                merged.update(entry)
    return merged


def _env(name: str) -> dict[str, Any]:
    return tomllib.loads((REPO / "environments" / f"{name}.toml").read_text())


CLUSTER_ENVS = {n: _env(n) for n in ("cpu-cluster", "gpu-cluster")}


def test_every_file_parses_and_every_module_is_used() -> None:
    assert len(FILES) > 20
    used = {ROOT / body["source"] for _, _, body in _blocks("module", ROOT) if body["source"].startswith("./")}
    assert {d for d in MODULE_DIRS if d != ROOT} == {p.resolve() for p in used}
    for module in ("network", "eks", "argocd", "observability", "logging", "storage", "iam", "mpi-operator"):
        assert (ROOT / "modules" / module).is_dir(), module


@pytest.mark.parametrize("folder", MODULE_DIRS, ids=lambda p: str(p.relative_to(ROOT)))
def test_terraform_and_providers_are_pinned(folder: Path) -> None:
    blocks = [body for _, _, body in ((p, "", t) for p, parsed in PARSED.items() if p.parent == folder for t in parsed.get("terraform", []))]
    assert len(blocks) == 1, "one terraform block per module (versions.tf)"
    block = blocks[0]
    assert CONSTRAINT.match(block["required_version"]) or ">=" in block["required_version"]
    providers: dict[str, Any] = {}
    for entry in block["required_providers"]:
        providers.update(entry)
    for name, spec in providers.items():
        assert spec["source"].startswith("hashicorp/"), name
        assert CONSTRAINT.match(spec["version"]), f"{name}: version '{spec['version']}' is not a pinned constraint"
        assert not spec["version"].startswith(">="), f"{name}: an open lower bound lets a new major version in"
    # Every provider a resource of the module uses is declared there.
    used = {rtype.split("_", 1)[0] for p, rtype, _, _ in _resources() if p.parent == folder}
    used |= {rtype.split("_", 1)[0] for p, rtype, _, _ in _resources("data") if p.parent == folder}
    assert used <= set(providers), f"undeclared providers: {used - set(providers)}"


def test_module_sources_and_helm_charts_are_pinned() -> None:
    for path, name, body in _blocks("module"):
        source = body["source"]
        if source.startswith("./") or source.startswith("../"):
            assert (path.parent / source).resolve().is_dir(), f"{name}: {source} does not exist"
        elif "git::" in source or source.startswith("github.com/"):
            assert re.search(r"\?ref=[0-9a-f]{40}$|\?ref=v?\d+\.\d+\.\d+$", source), f"{name}: {source} has no pinned ref"
        else:
            assert EXACT_VERSION.match(str(body.get("version", ""))), f"{name}: registry module {source} needs an exact version"
    charts = _locals(ROOT)["charts"]
    for chart, version in charts.items():
        assert EXACT_VERSION.match(version), f"chart {chart}: '{version}' is not an exact version"
    releases = [(p, n, b) for p, t, n, b in _resources() if t == "helm_release"]
    assert len(releases) >= 9
    for path, name, body in releases:
        version = body.get("version")
        assert version, f"{path.name}:{name} has no chart version"
        assert EXACT_VERSION.match(version) or REF.match(version), f"{name}: {version}"
        # A chart repository over TLS: an HTTPS index, or an OCI registry (Helm pulls over HTTPS).
        assert body["repository"].startswith(("https://", "oci://")), name


@pytest.mark.parametrize("folder", MODULE_DIRS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_variable_is_typed_and_described(folder: Path) -> None:
    for name, body in _variables(folder).items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(body.get("description", "")) >= 10, f"variable {name} has no description"
        for validation in body.get("validation", []):
            assert "var." + name in validation["condition"]
            assert validation["error_message"].endswith(".")


def test_the_inputs_a_person_types_are_validated() -> None:
    variables = _variables(ROOT)
    for name in ("name", "region", "availability_zones", "kubernetes_version", "api_allowed_cidrs",
                 "ingress_allowed_cidrs", "argocd_hostname", "grafana_hostname", "certificate_arn", "repo_url"):
        assert variables[name].get("validation"), f"root variable {name} has no validation"
    for name in ("dataset_bucket_name", "results_bucket_name"):
        assert _variables(ROOT / "modules" / "storage")[name].get("validation")


# ---------------------------------------------------------------- credentials

_SECRET_KEYS = re.compile(r"(^|[_-])(password|secret|token|access_key|secret_key|private_key)$", re.IGNORECASE)
_SECRET_VALUE_OUTPUT = re.compile(r"random_password|\.result\b|password|token|private_key")


def _attributes(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "__comments__":
                continue
            yield path, str(key), value
            yield from _attributes(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _attributes(item, path)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_credentials_in_code(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}", text), "an AWS access key id"
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
    for where, key, value in _attributes(PARSED[path]):
        if key in ("access_key", "secret_key", "token") and where.split(".")[-1] in ("", "provider", "aws"):
            pytest.fail(f"provider credential '{key}' in {where}")
        if _SECRET_KEYS.search(key) and isinstance(value, str) and "${" not in value and value not in ("", "admin"):
            if key not in ("passwordKey", "userKey"):  # names of Secret keys, not values
                pytest.fail(f"{where}.{key} = a literal secret")
    for provider in PARSED[path].get("provider", []):
        for name, body in provider.items():
            for banned in ("access_key", "secret_key", "token", "shared_credentials_files", "profile"):
                assert banned not in body, f"provider {name} sets {banned}: credentials come from the environment"


def test_outputs_that_carry_secrets_are_sensitive() -> None:
    outputs = list(_blocks("output"))
    assert outputs
    for _path, name, body in outputs:
        assert body.get("description"), f"output {name} has no description"
        if _SECRET_VALUE_OUTPUT.search(str(body["value"])):
            assert body.get("sensitive") is True, f"output {name} exposes a secret without sensitive = true"


def test_argocd_and_grafana_urls_are_outputs() -> None:
    outputs = {name: body for _, name, body in _blocks("output", ROOT)}
    assert outputs["argocd_url"]["value"] == "${module.argocd.url}"
    assert outputs["grafana_url"]["value"] == "${module.observability.grafana_url}"
    argocd = {n: b for _, n, b in _blocks("output", ROOT / "modules" / "argocd")}
    grafana = {n: b for _, n, b in _blocks("output", ROOT / "modules" / "observability")}
    assert argocd["url"]["value"].startswith("https://")
    assert grafana["grafana_url"]["value"].startswith("https://")


# ---------------------------------------------------------------- buckets


def _referenced_buckets(body: dict[str, Any]) -> set[str]:
    text = f"{body.get('bucket', '')} {body.get('for_each', '')}"
    return set(re.findall(r"aws_s3_bucket\.([A-Za-z0-9_]+)", text))


def test_every_bucket_is_encrypted_versioned_private_tls_only_and_has_lifecycle_rules() -> None:
    buckets = {name for _, t, name, _ in _resources() if t == "aws_s3_bucket"}
    assert buckets >= {"data", "logs"}
    companions: dict[str, dict[str, dict[str, Any]]] = {}
    for _, rtype, _, body in _resources():
        if rtype.startswith("aws_s3_bucket_"):
            for bucket in _referenced_buckets(body):
                companions.setdefault(bucket, {})[rtype] = body
    policies = {name: body for _, t, name, body in _resources("data") if t == "aws_iam_policy_document"}
    for bucket in buckets:
        parts = companions.get(bucket, {})
        block = parts.get("aws_s3_bucket_public_access_block")
        assert block, f"{bucket}: no public access block"
        for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
            assert block[flag] is True, f"{bucket}: {flag} is not true"
        versioning = parts.get("aws_s3_bucket_versioning")
        assert versioning and versioning["versioning_configuration"][0]["status"] == "Enabled", f"{bucket}: not versioned"
        sse = parts.get("aws_s3_bucket_server_side_encryption_configuration")
        assert sse, f"{bucket}: not encrypted"
        algorithm = sse["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"]
        assert algorithm in ("aws:kms", "aws:kms:dsse", "AES256")
        assert parts.get("aws_s3_bucket_lifecycle_configuration"), f"{bucket}: no lifecycle rules"
        assert parts.get("aws_s3_bucket_ownership_controls", {}).get("rule", [{}])[0].get("object_ownership") == "BucketOwnerEnforced"
        policy = parts.get("aws_s3_bucket_policy")
        assert policy, f"{bucket}: no bucket policy"
        (document,) = re.findall(r"data\.aws_iam_policy_document\.([A-Za-z0-9_]+)", policy["policy"])
        statements = policies[document]["statement"]
        assert any(
            s.get("effect") == "Deny"
            and any(c["variable"] == "aws:SecureTransport" and c["values"] == ["false"] for c in s.get("condition", []))
            for s in statements
        ), f"{bucket}: the policy does not deny plain HTTP"
    for _, rtype, name, body in _resources():
        if rtype == "aws_s3_bucket":
            assert "acl" not in body and "website" not in body, f"{name}: ACLs or website hosting"


# ---------------------------------------------------------------- IAM


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _jsonencode_documents(value: str) -> list[dict[str, Any]]:
    """The object literals inside jsonencode(...) of an HCL expression, parsed as HCL."""
    documents: list[dict[str, Any]] = []
    for match in re.finditer(r"jsonencode\(", value):
        depth, start = 0, match.end()
        for index in range(start, len(value)):
            depth += {"(": 1, ")": -1}.get(value[index], 0)
            if depth < 0:
                parsed = hcl2.loads(f"x = {value[start:index]}\n", serialization_options=OPTIONS)
                documents.append(parsed["x"])
                break
    return documents


def _statements() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement: policy documents (data sources) and jsonencode'd policies, normalised."""
    for path, rtype, name, body in _resources("data"):
        if rtype == "aws_iam_policy_document":
            for s in body.get("statement", []):
                yield f"{path.parent.name}/{name}", {
                    "Effect": s.get("effect", "Allow"),
                    "Action": _as_list(s.get("actions", [])),
                    "NotAction": _as_list(s.get("not_actions", [])),
                    "Resource": _as_list(s.get("resources", [])),
                }
    for path, rtype, name, body in list(_resources()) + list(_resources("data")):
        for _, key, value in _attributes(body):
            if isinstance(value, str) and "jsonencode(" in value:
                for document in _jsonencode_documents(value):
                    for s in _as_list(document.get("Statement", [])):
                        if isinstance(s, dict):
                            yield f"{path.parent.name}/{rtype}.{name}.{key}", {
                                "Effect": s.get("Effect", "Allow"),
                                "Action": _as_list(s.get("Action", [])),
                                "NotAction": _as_list(s.get("NotAction", [])),
                                "Resource": _as_list(s.get("Resource", [])),
                            }


def _allows_everything(statement: dict[str, Any]) -> bool:
    if statement["Effect"] != "Allow":
        return False
    every_action = any(a in ("*", "*:*") for a in statement["Action"]) or bool(statement["NotAction"])
    return every_action and "*" in statement["Resource"]


def test_no_iam_statement_allows_every_action_on_every_resource() -> None:
    statements = list(_statements())
    assert len(statements) > 10
    offenders = [where for where, s in statements if _allows_everything(s)]
    assert not offenders, offenders


def test_the_iam_check_sees_jsonencoded_policies() -> None:
    value = '${jsonencode({Version = "2012-10-17", Statement = [{Effect = "Allow", Action = "*", Resource = "*"}]})}'
    (document,) = _jsonencode_documents(value)
    (statement,) = document["Statement"]
    assert _allows_everything({"Effect": statement["Effect"], "Action": [statement["Action"]], "NotAction": [], "Resource": [statement["Resource"]]})


def test_roles_are_least_privilege() -> None:
    documents = {(p.parent.name, n): b for p, t, n, b in _resources("data") if t == "aws_iam_policy_document"}
    controller = documents[("iam", "controller")]["statement"]
    actions = {a for s in controller for a in s["actions"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey",
                       "cloudwatch:PutMetricData"}  # run logs: the in-cluster Elasticsearch's own users, no IAM
    (objects,) = [s for s in controller if "s3:PutObject" in s["actions"]]
    assert objects["resources"] == ["${var.results_bucket_arn}/${var.results_prefix}*"]
    (metrics,) = [s for s in controller if s["actions"] == ["cloudwatch:PutMetricData"]]
    assert metrics["condition"][0]["variable"] == "cloudwatch:namespace"
    fetcher = documents[("iam", "fetcher")]["statement"]
    (writes,) = [s for s in fetcher if "s3:PutObject" in s["actions"]]
    assert writes["resources"] == ["${var.dataset_bucket_arn}/${var.dataset_cache_prefix}*"]
    assert not any(a.startswith("s3:Delete") for s in fetcher + controller for a in s["actions"])
    trust = documents[("iam", "trust")]["statement"][0]
    assert {c["variable"].rsplit(":", 1)[-1] for c in trust["condition"]} == {"aud", "sub"}


# ---------------------------------------------------------------- agreement with environments/ and manifests/


def test_node_groups_match_the_environments() -> None:
    """Every node group's instance type is offered by its environment (by name or by pattern), on
    that group's pool, with the GPU count the environment resolves for it (from the EC2 catalogue)."""
    from renderer.environments import load_environment

    variables = _variables(ROOT)
    eks = _locals(ROOT / "modules" / "eks")
    for env_name, pool, groups in (("cpu-cluster", "cpu", variables["cpu_node_groups"]["default"]),
                                   ("gpu-cluster", "gpu", variables["gpu_node_groups"]["default"])):
        env = load_environment(ROOT.parents[1], env_name)
        for itype, group in groups.items():
            offered = env.instance_type(itype)
            assert offered is not None, f"{env_name} does not offer node group type {itype}"
            assert offered.node_selector[eks["node_pool_label"]] == pool
            assert offered.node_selector["node.kubernetes.io/instance-type"] == itype
            assert offered.gpus == group.get("gpus", 0), itype
            for toleration in offered.tolerations:
                assert toleration["key"] == eks["gpu_taint_key"] and toleration["effect"] == "NoSchedule"
    main = next(b for p, n, b in _blocks("module") if n == "eks" and p.parent.name == "eks")
    groups_text = main["eks_managed_node_groups"]
    assert 'effect = "NO_SCHEDULE"' in groups_text and "min_size = 0" in groups_text and "AL2023_x86_64_NVIDIA" in groups_text


def test_namespaces_service_accounts_and_cache_match_the_environments() -> None:
    variables = _variables(ROOT)
    namespaces = variables["run_namespaces"]["default"]
    runs = _variables(ROOT / "modules" / "runs")
    for env in CLUSTER_ENVS.values():
        namespace = env["destination"]["namespace"]
        assert namespace in namespaces
        expected = "privileged" if env["policy"]["allow_privileged"] else "baseline"
        assert namespaces[namespace]["pod_security"] == expected
        assert runs["run_service_account"]["default"] == env["service_account"]
        assert runs["fetcher_service_account"]["default"] == env.get("fetcher_service_account", "anubis-fetcher")
        assert runs["dataset_cache_claim"]["default"] == env["dataset_cache"]["claim_name"]
        assert variables["results_prefix"]["default"] == env["result_store"]["prefix"]
        assert variables["region"]["default"] == env["result_store"]["region"]
    assert 'local.fetcher_service_accounts' in str(next(b for p, n, b in _blocks("module", ROOT) if n == "iam"))
    example = (ROOT / "terraform.tfvars.example").read_text()
    bucket = CLUSTER_ENVS["cpu-cluster"]["result_store"]["bucket"]
    assert f'results_bucket_name   = "{bucket}"' in example


def test_argocd_is_bootstrapped_with_the_app_of_apps() -> None:
    (body,) = [b for p, t, n, b in _resources() if t == "helm_release" and n == "bootstrap"]
    values = body["values"][0]
    assert 'path = "manifests/argocd"' in values and 'path = "manifests/system"' in values
    assert (REPO / "manifests" / "argocd").is_dir()
    assert "argocd-cm-patch.yaml" in str(_locals(ROOT)["argocd_cm_patch"])
    assert (REPO / "manifests" / "argocd" / "argocd-cm-patch.yaml").is_file()
    argocd_ns = _variables(ROOT / "modules" / "argocd")["namespace"]["default"]
    for application in (REPO / "manifests" / "argocd").glob("application-*.yaml"):
        assert f'namespace: "{argocd_ns}"' in application.read_text()


def test_grafana_loads_the_rendered_dashboards() -> None:
    (body,) = [b for p, t, n, b in _resources() if t == "helm_release" and n == "kube_prometheus_stack"]
    values = body["values"][0]
    for needle in ('label = "grafana_dashboard"', 'labelValue = "1"', 'searchNamespace = "ALL"', "metricLabelsAllowlist"):
        assert needle in values, needle
    labels = _variables(ROOT / "modules" / "observability")["run_pod_labels"]["default"]
    assert {"anubis.dev/run-id", "anubis.dev/benchmark"} <= set(labels)


def test_only_the_fetch_jobs_account_has_the_fetchers_role() -> None:
    """Issue 15 item 10: on EKS every container of a pod gets its service account's IRSA credentials,
    so the runs' own service account carries no role; only the fetch Jobs' account does, and the
    fetcher role trusts only that account."""
    accounts = {name: body for _, rtype, name, body in _resources() if rtype == "kubernetes_service_account_v1"}
    assert "eks.amazonaws.com/role-arn" not in str(accounts["run"])
    assert "var.fetcher_role_arn" in str(accounts["fetcher"]) and "var.fetcher_service_account" in str(accounts["fetcher"])
    locals_ = _locals(ROOT)
    assert ":anubis-fetcher" in str(locals_["fetcher_service_accounts"])
    assert "anubis-run" not in str(locals_["fetcher_service_accounts"])
