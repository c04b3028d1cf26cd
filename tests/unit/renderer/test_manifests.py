"""renderer.manifests: RunSpec + Environment → Kubernetes manifests, and the Argo CD hand-off files.

Golden files: ``cases/<case>/expected.yaml`` and ``cases/argocd/<file>``; ``ANUBIS_REGENERATE=1`` rewrites
them (review the diff like code).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml
from manifest_cases import (
    CPU_ENV,
    GPU_ENV,
    LOCAL_ENV,
    RENDER_CASES,
    SCRIPTS,
    base_spec,
    horovod_case,
    inference_case,
    scheduled_case,
    script_spec,
    single_node_case,
)

from controller.fetching import parse_sources
from controller.kubernetes.observed import run_from_object
from renderer.manifests import RenderedRun, render_argocd, render_run
from renderer.previews import preview_namespace, support_objects
from schemas.environment import DatasetCache, Policy
from schemas.errors import RenderError
from schemas.runspec import DataSource, RunSpec, cache_key

CASES = Path(__file__).parent / "cases"
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "k8s"
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
REPO_URL = "https://github.com/anubis-bench/benchmarks.git"
REGENERATE = os.environ.get("ANUBIS_REGENERATE") == "1"
CUSTOM_SCHEMAS = {
    ("kubeflow.org/v2beta1", "MPIJob"): "mpijob",
    ("argoproj.io/v1alpha1", "Application"): "application",
    ("argoproj.io/v1alpha1", "ApplicationSet"): "applicationset",
    ("argoproj.io/v1alpha1", "AppProject"): "appproject",
}


def render_case(name: str) -> RenderedRun:
    spec, env, scripts = RENDER_CASES[name]()
    return render_run(spec, env, scripts)


def compare_golden(path: Path, text: str) -> None:
    if REGENERATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with ANUBIS_REGENERATE=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: run with ANUBIS_REGENERATE=1 and review the diff"


def _registry() -> referencing.Registry:  # type: ignore[type-arg]
    resources = []
    for file in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(file.read_text(encoding="utf-8"))
        resources.append((schema["$id"], referencing.Resource.from_contents(schema)))
    return referencing.Registry().with_resources(resources)


def validate_custom(obj: dict[str, Any]) -> None:
    name = CUSTOM_SCHEMAS[(obj["apiVersion"], obj["kind"])]
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema, registry=_registry()).validate(obj)


def pod_templates(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = obj["kind"]
    if kind == "Job":
        yield obj["spec"]["template"]
    elif kind == "CronJob":
        yield obj["spec"]["jobTemplate"]["spec"]["template"]
    elif kind == "MPIJob":
        for replica in obj["spec"]["mpiReplicaSpecs"].values():
            yield replica["template"]


def validate_everything(obj: dict[str, Any]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    for version in K8S_VERSIONS:
        if key in CUSTOM_SCHEMAS:
            for template in pod_templates(obj):  # the pods inside a custom kind are plain Kubernetes
                wrapped = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}
                kubernetes_validate.validate(wrapped, version, strict=True)
        else:
            kubernetes_validate.validate(obj, version, strict=True)
    if key in CUSTOM_SCHEMAS:
        validate_custom(obj)


# ---- golden files, validity, determinism -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDER_CASES))
def test_render_matches_golden_file(name: str) -> None:
    rendered = render_case(name)
    compare_golden(CASES / name / "expected.yaml", rendered.text)


@pytest.mark.parametrize("name", sorted(RENDER_CASES))
def test_every_object_is_valid_for_kubernetes_and_our_schemas(name: str) -> None:
    for obj in render_case(name).objects:
        validate_everything(obj)


@pytest.mark.parametrize("name", sorted(RENDER_CASES))
def test_rendering_is_byte_deterministic(name: str) -> None:
    spec, env, scripts = RENDER_CASES[name]()
    first = render_run(spec, env, scripts)
    again = render_run(RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))), env, dict(reversed(scripts.items())))
    assert first.text == again.text
    assert first.objects == list(yaml.safe_load_all(first.text))


@pytest.mark.parametrize("name", sorted(RENDER_CASES))
def test_identity_on_every_object_and_pod_template(name: str) -> None:
    spec, env, scripts = RENDER_CASES[name]()
    rendered = render_run(spec, env, scripts)
    assert rendered.filename == f"{spec.run_id}.yaml"
    assert rendered.text.startswith(f"# Generated by anubis render from {spec.descriptor_path}. Do not edit.\n")
    identity = {
        "app.kubernetes.io/managed-by": "anubis",
        "anubis.dev/benchmark": spec.benchmark,
        "anubis.dev/run-id": spec.run_id,
        "anubis.dev/family": spec.family_id,
        "anubis.dev/environment": spec.environment,
        **spec.labels,
    }
    for obj in rendered.objects:
        meta = obj["metadata"]
        assert meta["namespace"] == env.destination.namespace
        if meta["labels"].get("anubis.dev/role") == "fetch":
            continue  # not a run: see test_data_is_fetched_by_a_job_of_its_own
        assert identity.items() <= meta["labels"].items()
        assert json.loads(meta["annotations"]["anubis.dev/runspec"]) == spec.to_dict()
        assert meta["annotations"]["anubis.dev/descriptor-path"] == spec.descriptor_path
        assert meta["annotations"]["anubis.dev/source-commit"] == (spec.source.commit or "")
        for template in pod_templates(obj):
            assert identity.items() <= template["metadata"]["labels"].items()
            # pod templates of Jobs are immutable: nothing there may change without the run id changing
            assert "annotations" not in template["metadata"]


@pytest.mark.parametrize("name", sorted(RENDER_CASES))
def test_pods_are_consistent(name: str) -> None:
    """What a schema cannot see: every mount has its volume, names fit, ServiceAccount tokens stay out."""
    for obj in render_case(name).objects:
        assert len(obj["metadata"]["name"]) <= 63
        for template in pod_templates(obj):
            pod = template["spec"]
            volumes = {v["name"] for v in pod["volumes"]}
            assert pod["automountServiceAccountToken"] is False
            assert pod["restartPolicy"] == "Never"
            for c in pod.get("initContainers", []) + pod["containers"]:
                assert {m["name"] for m in c.get("volumeMounts", [])} <= volumes, c["name"]
                assert len({m["mountPath"] for m in c.get("volumeMounts", [])}) == len(c.get("volumeMounts", []))


# ---- single node -------------------------------------------------------------------------------------------


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The one object of ``kind`` that is the run (a fetch Job beside it is not)."""
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["labels"].get("anubis.dev/role") != "fetch"]
    assert len(found) == 1, [o["kind"] for o in objects]
    return found[0]


def containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod.get("initContainers", []) + pod["containers"]}


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "<ref>") for e in c.get("env", [])}


def test_single_node_job() -> None:
    spec, env, scripts = single_node_case()
    job = only(render_run(spec, env, scripts).objects, "Job")
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == spec.timeout_seconds
    assert "ttlSecondsAfterFinished" not in job["spec"]  # Argo CD would re-create a deleted Job
    assert "suspend" not in job["spec"]  # left to the controller (cancel) without Argo CD undoing it
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == env.service_account
    assert pod["nodeSelector"] == {**spec.placement.node_selector, "topology.kubernetes.io/zone": "us-east-1a"}
    assert pod["tolerations"] == [dict(t) for t in spec.placement.tolerations]
    main = containers(pod)["benchmark"]
    assert main["command"] == list(spec.command) and "args" not in main
    assert main["resources"] == {
        "requests": {"cpu": "31", "memory": "230Gi"},
        "limits": {"memory": "230Gi", "nvidia.com/gpu": 4},
    }
    variables = env_of(main)
    assert variables["BENCHMARK_AI"] == "stdout"  # the pod log is what the controller reads
    assert "BENCHMARK_AI_FIFO_FILEPATH" not in variables
    assert variables["BAI_SCRIPTS_PATH"] == "/opt/anubis/scripts"
    assert variables["ANUBIS_RUN_ID"] == spec.run_id
    assert list(variables)[-2:] == list(spec.env)  # the user's last, in their order
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    assert mounts["/dev/shm"]["name"] == "dshm"
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]


def test_empty_command_keeps_the_image_entrypoint() -> None:
    spec, env, scripts = scheduled_case()
    cron = only(render_run(spec, env, scripts).objects, "CronJob")
    main = containers(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"])["benchmark"]
    assert "command" not in main and "args" not in main


def test_data_sources_are_fetched_then_mounted_read_only() -> None:
    spec, env, scripts = single_node_case()
    pod = only(render_run(spec, env, scripts).objects, "Job")["spec"]["template"]["spec"]
    fetch = containers(pod)["fetch-data"]
    assert fetch["image"] == env.fetcher_image
    assert fetch["command"] == ["anubis", "fetch", "--cache-dir", "/var/cache/anubis"]
    assert fetch["terminationMessagePolicy"] == "FallbackToLogsOnError"
    raw = env_of(fetch)["ANUBIS_SOURCES"]
    assert sorted(json.loads(raw), key=lambda s: s["path"]) == [
        {"src": "s3://anubis-datasets/imagenet/train.tar", "path": "/data/imagenet/train.tar",
         "checksum": "md5:5d41402abc4b2a76b9719d911017c592", "key": cache_key(spec.data[0]), "id": "train"},
        {"src": "https://example.com/labels.json", "path": "/data/labels.json", "checksum": None,
         "key": cache_key(spec.data[1]), "id": None},
    ]  # fmt: skip
    # the fetcher (controller/fetching.py) reads exactly this
    assert {r.key: r.source for r in parse_sources(raw)} == {cache_key(d): d for d in spec.data}
    main = containers(pod)["benchmark"]
    for source in spec.data:
        mount = next(m for m in main["volumeMounts"] if m["mountPath"] == source.path)
        expected = {"name": "anubis-cache", "mountPath": source.path, "subPath": cache_key(source), "readOnly": True}
        assert mount == expected
    assert {"name": "anubis-cache", "emptyDir": {"sizeLimit": "200Gi"}} in pod["volumes"]


def test_dataset_cache_kinds() -> None:
    spec, _, _ = scheduled_case()
    pod = only(render_run(spec, CPU_ENV, {}).objects, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert {"name": "anubis-cache", "persistentVolumeClaim": {"claimName": "anubis-dataset-cache"}} in pod["volumes"]
    host = replace(CPU_ENV, dataset_cache=DatasetCache(kind="host", path="/mnt/anubis"))
    with pytest.raises(RenderError, match="does not allow host paths"):
        render_run(spec, host, {})
    allowed = replace(host, policy=Policy(allow_host_path=True))
    pod = only(render_run(spec, allowed, {}).objects, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert {"name": "anubis-cache", "hostPath": {"path": "/mnt/anubis", "type": "DirectoryOrCreate"}} in pod["volumes"]
    with pytest.raises(RenderError, match="claim_name"):
        render_run(spec, replace(CPU_ENV, dataset_cache=DatasetCache(kind="pvc")), {})


# ---- script mode ----------------------------------------------------------------------------------------


def test_scripts_configmap_holds_the_files_and_the_volume_places_them() -> None:
    spec, env, scripts = single_node_case()
    objects = render_run(spec, env, scripts).objects
    configmap = only(objects, "ConfigMap")
    assert configmap["metadata"]["name"] == f"{spec.run_id}-scripts"
    assert configmap["immutable"] is True
    pod = only(objects, "Job")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "anubis-scripts")["configMap"]
    assert volume["name"] == configmap["metadata"]["name"]
    placed = {i["path"]: (base64.b64decode(configmap["binaryData"][i["key"]]), i["mode"]) for i in volume["items"]}
    assert placed == {p: (b, 0o755 if p == "run.sh" else 0o644) for p, b in SCRIPTS.items()}
    mount = next(m for m in containers(pod)["benchmark"]["volumeMounts"] if m["name"] == "anubis-scripts")
    assert mount == {"name": "anubis-scripts", "mountPath": "/opt/anubis/scripts", "readOnly": True}


def test_scripts_over_the_limit_are_refused_with_advice() -> None:
    big = {"model.bin": bytes(800 * 1024)}
    spec = base_spec(script=script_spec(big, frozenset()))
    with pytest.raises(RenderError, match=r"800 KiB.*768 KiB.*\[data\] sources"):
        render_run(spec, CPU_ENV, big)


def test_scripts_that_changed_or_are_missing_are_refused() -> None:
    spec, env, scripts = single_node_case()
    with pytest.raises(RenderError, match="changed after the run was planned"):
        render_run(spec, env, {**scripts, "train.py": b"print('changed')\n"})
    with pytest.raises(RenderError, match="missing: \\['train.py'\\]"):
        render_run(spec, env, {k: v for k, v in scripts.items() if k != "train.py"})


# ---- inference ------------------------------------------------------------------------------------------


def test_inference_server_is_a_native_sidecar_of_the_client() -> None:
    spec, env, scripts = inference_case()
    assert spec.server is not None
    objects = render_run(spec, env, scripts).objects
    job, service = only(objects, "Job"), only(objects, "Service")
    pod = job["spec"]["template"]["spec"]
    init = [c["name"] for c in pod["initContainers"]]
    assert init == ["fetch-data", "inference-server"]  # models are fetched before the server starts
    server = containers(pod)["inference-server"]
    assert server["restartPolicy"] == "Always"
    assert server["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8000, "scheme": "HTTP"}
    budget = server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"]
    assert 0 < budget <= spec.timeout_seconds
    assert server["readinessProbe"]["failureThreshold"] == 3
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert any(m["mountPath"] == "/models/bert/1/model.onnx" for m in server["volumeMounts"])
    client = containers(pod)["benchmark"]
    assert "resources" not in client
    assert {k: v for k, v in env_of(client).items() if k.startswith("INFERENCE")} == {
        "INFERENCE_SERVER_HOST": "127.0.0.1",
        "INFERENCE_SERVER_PORT": "8000",
        "INFERENCE_SERVER_PORT_1": "8002",
    }
    assert pod["nodeSelector"]["node.kubernetes.io/instance-type"] == "p3.8xlarge"
    assert service["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert [p["port"] for p in service["spec"]["ports"]] == [8000, 8002]


def test_inference_client_cannot_ask_for_gpus() -> None:
    spec, env, scripts = inference_case()
    with pytest.raises(RenderError, match="cannot ask for GPUs"):
        render_run(replace(spec, placement=replace(spec.placement, gpus=1)), env, scripts)


# ---- horovod ----------------------------------------------------------------------------------------------


def test_horovod_is_an_mpijob() -> None:
    spec, env, scripts = horovod_case()
    mpijob = only(render_run(spec, env, scripts).objects, "MPIJob")
    assert mpijob["spec"]["slotsPerWorker"] == 4  # "gpus" → the instance type's GPUs
    assert mpijob["spec"]["launcherCreationPolicy"] == "WaitForWorkersReady"
    run_policy = {"activeDeadlineSeconds": 7200, "backoffLimit": 0, "cleanPodPolicy": "Running"}
    assert mpijob["spec"]["runPolicy"] == run_policy
    replicas = mpijob["spec"]["mpiReplicaSpecs"]
    assert replicas["Launcher"]["replicas"] == 1 and replicas["Worker"]["replicas"] == spec.num_instances
    launcher = containers(replicas["Launcher"]["template"]["spec"])["benchmark"]
    worker = containers(replicas["Worker"]["template"]["spec"])["benchmark"]
    assert launcher["command"] == list(spec.command) and "command" not in worker
    assert "nvidia.com/gpu" not in str(launcher["resources"]) and worker["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert replicas["Worker"]["template"]["spec"]["nodeSelector"]["topology.k8s.aws/zone-id"] == "use1-az4"


def test_horovod_launch_line() -> None:
    spec, env, scripts = horovod_case()
    spec = replace(spec, command=("python", "/examples/pytorch_synthetic_benchmark.py"), args=("--batch", "64"))
    launcher = _launcher(render_run(spec, env, scripts))
    slots = only(render_run(spec, env, scripts).objects, "MPIJob")["spec"]["slotsPerWorker"]
    expected = ["mpirun", "-np", str(slots * spec.num_instances), *spec.command, *spec.args]
    assert launcher["command"] == expected and "args" not in launcher
    # a command that starts its own launcher runs as written
    own = replace(spec, command=("horovodrun", "-np", "3", "python", "t.py"), args=())
    assert _launcher(render_run(own, env, scripts))["command"] == ["horovodrun", "-np", "3", "python", "t.py"]
    # no command: the image's entrypoint (which starts MPI itself, as the original's images did) gets the args
    bare = _launcher(render_run(replace(spec, command=(), args=("8",)), env, scripts))
    assert "command" not in bare and bare["args"] == ["8"]


def _launcher(rendered: object) -> dict[str, object]:
    mpijob = only(rendered.objects, "MPIJob")  # type: ignore[attr-defined]
    [container] = mpijob["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def test_horovod_has_no_schedule() -> None:
    spec, env, scripts = horovod_case()
    with pytest.raises(RenderError, match="scheduled horovod"):
        render_run(replace(spec, schedule="0 * * * *"), env, scripts)


def test_long_run_ids_still_give_valid_names() -> None:
    run_id = "a-very-long-benchmark-name-for-testing-limits-0123456789"
    assert len(run_id) == 56
    spec, env, scripts = horovod_case()
    mpijob = only(render_run(replace(spec, run_id=run_id, num_instances=12), env, scripts).objects, "MPIJob")
    name = mpijob["metadata"]["name"]
    assert len(f"{name}-launcher") <= 63 and len(f"{name}-worker-11") <= 63
    spec, env, scripts = single_node_case()
    objects = render_run(replace(spec, run_id=run_id), env, scripts).objects
    assert len(only(objects, "ConfigMap")["metadata"]["name"]) <= 63
    spec, env, scripts = scheduled_case()
    cron = only(render_run(replace(spec, run_id=run_id), env, scripts).objects, "CronJob")
    assert len(cron["metadata"]["name"]) <= 52
    spec, env, scripts = inference_case()
    for obj in render_run(replace(spec, run_id=run_id), env, scripts).objects:
        validate_everything(obj)


# ---- schedule -------------------------------------------------------------------------------------------


def test_scheduled_run_is_a_cronjob_whose_jobs_are_labelled() -> None:
    spec, env, scripts = scheduled_case()
    cron = only(render_run(spec, env, scripts).objects, "CronJob")
    assert cron["spec"]["schedule"] == "0 3 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["startingDeadlineSeconds"] > 0
    assert cron["spec"]["successfulJobsHistoryLimit"] <= 5 and cron["spec"]["failedJobsHistoryLimit"] <= 5
    spawned = cron["spec"]["jobTemplate"]["metadata"]
    for key in ("anubis.dev/run-id", "anubis.dev/family", "anubis.dev/benchmark"):
        assert spawned["labels"][key] == cron["metadata"]["labels"][key]
    assert json.loads(spawned["annotations"]["anubis.dev/runspec"]) == spec.to_dict()
    assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


# ---- refusals, escaping ---------------------------------------------------------------------------------


def test_unsupported_targets_are_refused_clearly() -> None:
    spec, _, _ = scheduled_case()
    with pytest.raises(RenderError, match="not supported yet"):
        render_run(replace(spec, execution_engine="aws.sagemaker"), CPU_ENV, {})
    with pytest.raises(RenderError, match="only kubernetes environments"):
        render_run(spec, LOCAL_ENV, {})
    with pytest.raises(RenderError, match="reserves"):
        render_run(replace(spec, labels={"anubis.dev/run-id": "x"}), CPU_ENV, {})
    with pytest.raises(RenderError, match="not a valid Kubernetes label"):
        render_run(replace(spec, labels={"team": "ml perf"}), CPU_ENV, {})
    with pytest.raises(RenderError, match="which Anubis sets"):
        render_run(replace(spec, env={"BENCHMARK_AI": "stdout"}), CPU_ENV, {})


NASTY = [
    "plain: colon",
    "{braces} [brackets] # hash & anchor * alias ! tag | pipe > fold",
    "'single' \"double\" % percent @ at ` backtick",
    "line one\nline two\r\nthree\ttab",
    "- dash",
    "---",
    "...",
    "yes",
    "null",
    "0o755",
    "1e3",
    "~",
    " leading and trailing ",
    "unicode: é ü ✓ 😀 \u2028 separator \x85 nel \x7f del \ufeff bom",
    "{{ jinja }} {% tag %}",
    "$(VAR) ${VAR}",
    "",
]


@pytest.mark.parametrize("value", NASTY)
def test_user_strings_round_trip_exactly(value: str) -> None:
    spec = base_spec(
        env={"NASTY": value},
        command=("sh", "-c", value),
        description=value,
        descriptor_path=f"benchmarks/x/{value}descriptor.toml",
        data=(DataSource(src=f"https://example.com/{value}", path="/data/file"),),
    )
    rendered = render_run(spec, CPU_ENV, {})
    job = only(rendered.objects, "Job")
    main = containers(job["spec"]["template"]["spec"])["benchmark"]
    assert main["command"] == ["sh", "-c", value]
    assert env_of(main)["NASTY"] == value
    assert RunSpec.from_dict(json.loads(job["metadata"]["annotations"]["anubis.dev/runspec"])) == spec
    sources = json.loads(env_of(containers(job["spec"]["template"]["spec"])["fetch-data"])["ANUBIS_SOURCES"])
    assert sources[0]["src"] == f"https://example.com/{value}"
    assert rendered.text.splitlines()[1] == "---"  # the header stayed one comment line
    validate_everything(job)


# ---- Argo CD --------------------------------------------------------------------------------------------


def argocd_files() -> dict[str, str]:
    return render_argocd([GPU_ENV, LOCAL_ENV, CPU_ENV], REPO_URL)


def test_argocd_files_match_golden_files() -> None:
    files = argocd_files()
    assert sorted(files) == [
        "application-cpu-cluster.yaml",
        "application-gpu-cluster.yaml",
        "applicationset-previews-cpu-cluster.yaml",
        "applicationset-previews-gpu-cluster.yaml",
        "appproject-anubis.yaml",
        "argocd-cm-patch.yaml",
    ]
    for name, text in files.items():
        compare_golden(CASES / "argocd" / name, text)
    assert files == argocd_files()


def test_argocd_files_parse_and_match_schemas() -> None:
    for name, text in argocd_files().items():
        objects = [o for o in yaml.load_all(text, Loader=yaml.CSafeLoader) if o]
        assert len(objects) == 1, name
        validate_everything(objects[0])


def test_argocd_application_syncs_the_environment_folder() -> None:
    app = yaml.safe_load(argocd_files()["application-cpu-cluster.yaml"])
    assert app["spec"]["source"] == {
        "repoURL": REPO_URL,
        "targetRevision": "main",
        "path": "manifests/cpu-cluster",
        "directory": {"recurse": True, "include": "*.yaml"},
    }
    assert app["spec"]["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "anubis-runs"}
    options = app["spec"]["syncPolicy"]["syncOptions"]
    assert not any(o.startswith(("Replace=", "Force=")) for o in options)  # never delete/re-create Jobs
    assert app["spec"]["syncPolicy"]["automated"]["prune"] is True


def test_argocd_project_allows_only_what_runs_use() -> None:
    project = yaml.safe_load(argocd_files()["appproject-anubis.yaml"])
    # no cluster-scoped kind but the previews' own namespaces (CreateNamespace)
    assert project["spec"]["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace", "name": "anubis-pr-*"}]
    allowed = {(k["group"], k["kind"]) for k in project["spec"]["namespaceResourceWhitelist"]}
    emitted = set()
    for name in RENDER_CASES:
        for obj in render_case(name).objects:
            group = obj["apiVersion"].rpartition("/")[0]
            emitted.add((group, obj["kind"]))
    # and the preview namespaces' support objects (`anubis preview`), which runs never hold
    # (with a Kueue LocalQueue where the preview's runs name a queue)
    support = {(o["apiVersion"].rpartition("/")[0], o["kind"])
               for o in support_objects("anubis-pr-1", [CPU_ENV, GPU_ENV], ["anubis-p3-8xlarge"])}
    assert support == {("", "ServiceAccount"), ("kueue.x-k8s.io", "LocalQueue"), ("rbac.authorization.k8s.io", "RoleBinding")}
    assert not emitted & support
    assert emitted | support == allowed
    assert {d["namespace"] for d in project["spec"]["destinations"]} == {"anubis-runs", "anubis-gpu-runs", "anubis-pr-*"}


def test_argocd_previews_use_the_bot_branch_not_the_pull_request_head() -> None:
    appset = yaml.safe_load(argocd_files()["applicationset-previews-gpu-cluster.yaml"])
    [matrix] = appset["spec"]["generators"]
    pulls, folders = matrix["matrix"]["generators"]
    assert pulls["pullRequest"]["github"] == {"owner": "anubis-bench", "repo": "benchmarks", "labels": ["anubis-preview"]}
    source = appset["spec"]["template"]["spec"]["source"]
    assert source["targetRevision"] == "anubis-previews"
    assert source["path"] == "manifests-preview/pr-{{.number}}/gpu-cluster"
    # an Application only where the preview has this environment's folder, on that same branch (the
    # pull-request generator's parameters come first, so the git generator can use {{.number}})
    assert folders["git"] == {
        "repoURL": REPO_URL,
        "revision": "anubis-previews",
        "directories": [{"path": source["path"]}],
        "requeueAfterSeconds": pulls["pullRequest"]["requeueAfterSeconds"],
    }
    # deleted with its folder (label removed, pull request closed): its runs go with it
    assert appset["spec"]["template"]["metadata"]["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
    spec = appset["spec"]["template"]["spec"]
    assert spec["destination"]["namespace"] == "anubis-pr-{{.number}}-gpu-cluster"  # where `anubis preview` renders them
    assert preview_namespace(7, "gpu-cluster") == spec["destination"]["namespace"].replace("{{.number}}", "7")
    assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]
    labels = spec["syncPolicy"]["managedNamespaceMetadata"]["labels"]
    assert labels["anubis.dev/preview"] == "true" and labels["pod-security.kubernetes.io/warn"] == "baseline"
    assert labels["anubis.dev/environment"] == "gpu-cluster"


def test_argocd_preview_namespaces_enforce_their_own_environments_pod_security() -> None:
    # one namespace per environment: the CPU environment's previews stay at baseline even though the
    # GPU environment on the same cluster allows privileged containers
    levels = {}
    for env in ("cpu-cluster", "gpu-cluster"):
        appset = yaml.safe_load(argocd_files()[f"applicationset-previews-{env}.yaml"])
        labels = appset["spec"]["template"]["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
        levels[env] = labels["pod-security.kubernetes.io/enforce"]
    assert GPU_ENV.policy.allow_privileged and not CPU_ENV.policy.allow_privileged
    assert levels == {"cpu-cluster": "baseline", "gpu-cluster": "privileged"}


def test_argocd_needs_a_github_repository() -> None:
    with pytest.raises(RenderError, match="not a GitHub repository"):
        render_argocd([CPU_ENV], "https://gitlab.example.com/x/y.git")
    with pytest.raises(RenderError, match="no kubernetes environment"):
        render_argocd([LOCAL_ENV], REPO_URL)


def mpijob_health(status: dict[str, Any] | None) -> dict[str, str]:
    lupa = pytest.importorskip("lupa")
    cm = yaml.safe_load(argocd_files()["argocd-cm-patch.yaml"])
    script = cm["data"]["resource.customizations.health.kubeflow.org_MPIJob"]
    runtime = lupa.LuaRuntime()
    obj = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob"} | ({"status": status} if status else {})
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute(script)
    return {"status": result["status"], "message": result["message"]}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        (None, "Progressing"),
        ([{"type": "Created", "status": "True"}], "Progressing"),
        ([{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}], "Progressing"),
        ([{"type": "Running", "status": "False"}, {"type": "Succeeded", "status": "True"}], "Healthy"),
        ([{"type": "Running", "status": "False"}, {"type": "Failed", "status": "True", "message": "boom"}], "Degraded"),
        ([{"type": "Suspended", "status": "True"}], "Suspended"),
    ],
)
def test_mpijob_health_check(conditions: list[dict[str, str]] | None, expected: str) -> None:
    health = mpijob_health({"conditions": conditions} if conditions else None)
    assert health["status"] == expected
    if expected == "Degraded":
        assert health["message"] == "boom"


# ---- data: a fetch Job of its own (issue 15 item 10) ------------------------------------------------------

SHARED_CACHE = DatasetCache(kind="pvc", claim_name="anubis-dataset-cache")


def _fetch_jobs(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "Job" and o["metadata"]["labels"].get("anubis.dev/role") == "fetch"]


@pytest.mark.parametrize("name", sorted(RENDER_CASES))
def test_data_is_fetched_by_a_job_of_its_own_and_the_benchmark_has_no_cloud_role(name: str) -> None:
    """The run's pods never run under the fetcher's ServiceAccount (on EKS every container of a pod
    gets its IRSA credentials): with a shared cache, a fetch Job does the fetching under the fetcher's
    account, and the pods wait for its verified result without credentials, the cache read-only."""
    spec, env, scripts = RENDER_CASES[name]()
    env = replace(env, dataset_cache=SHARED_CACHE)
    rendered = render_run(spec, env, scripts)
    sources = [*spec.data, *(spec.server.models if spec.server else ())]
    fetch_jobs = _fetch_jobs(rendered.objects)
    if not sources:
        assert fetch_jobs == []
        return
    [job] = fetch_jobs
    validate_everything(job)
    assert job["metadata"]["name"] == f"{spec.run_id}-fetch"
    labels = job["metadata"]["labels"]
    assert "anubis.dev/run-id" not in labels and "app.kubernetes.io/managed-by" not in labels  # not a run
    assert run_from_object(job) is None  # the controller does not follow it as a run
    fetch_pod = job["spec"]["template"]["spec"]
    assert fetch_pod["serviceAccountName"] == env.fetcher_service_account != env.service_account
    [fetcher_container] = fetch_pod["containers"]
    status_file = fetcher_container["command"][fetcher_container["command"].index("--status-file") + 1]
    assert fetcher_container["volumeMounts"] == [{"name": "anubis-cache", "mountPath": "/var/cache/anubis"}]
    assert {s.key for s in parse_sources(env_of(fetcher_container)["ANUBIS_SOURCES"])} == {cache_key(s) for s in sources}
    for obj in rendered.objects:
        if obj is job:
            continue
        for template in pod_templates(obj):
            pod = template["spec"]
            assert pod["serviceAccountName"] == env.service_account
            for c in pod.get("initContainers", []) + pod["containers"]:
                for mount in c.get("volumeMounts", []):
                    if mount["name"] == "anubis-cache":
                        assert mount.get("readOnly") is True, (c["name"], mount)
                if c["name"] == "fetch-data":
                    command = c["command"]
                    assert "--wait" in command and command[command.index("--status-file") + 1] == status_file
                    assert int(command[command.index("--timeout") + 1]) < spec.timeout_seconds


@pytest.mark.parametrize("name", sorted(RENDER_CASES))
def test_a_pod_local_cache_fetches_in_the_pod_under_the_runs_account(name: str) -> None:
    """emptyDir (previews) and hostPath caches cannot be written by another pod: the fetch stays an init
    container of the run's pods, whose ServiceAccount has no cloud role."""
    spec, env, scripts = RENDER_CASES[name]()
    env = replace(env, dataset_cache=DatasetCache(kind="emptyDir", size="20Gi"))
    rendered = render_run(spec, env, scripts)
    assert _fetch_jobs(rendered.objects) == []
    for obj in rendered.objects:
        for template in pod_templates(obj):
            assert template["spec"]["serviceAccountName"] == env.service_account
            for c in template["spec"].get("initContainers", []):
                assert "--wait" not in (c.get("command") or [])
