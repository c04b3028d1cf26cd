"""Kueue queueing in rendered runs: the queue label on what Kueue admits (Jobs, CronJobs' jobs, MPIJobs),
nothing else touched, Argo CD told to leave ``suspend`` to Kueue, and preview namespaces given the
LocalQueues their runs name. LocalQueues are checked against Kueue's CRD (tests/infra/test_kueue.py)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from manifest_cases import GPU_ENV, horovod_case, scheduled_case, single_node_case

from renderer.manifests import render_argocd, render_run
from renderer.objects import QUEUE_NAME_LABEL, queue_name
from renderer.previews import preview_support_objects
from schemas.errors import RenderError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "infra"))
from test_kueue import VALIDATORS, crd_validator  # noqa: E402

QUEUED = replace(GPU_ENV, queue="anubis-{instance_type}")


def _objects(text: str) -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(text) if o]


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("labels") or {}


def test_mpijob_carries_the_queue_of_its_instance_type() -> None:
    spec, _, scripts = horovod_case()
    objects = _objects(render_run(spec, QUEUED, scripts).text)
    mpijob = next(o for o in objects if o["kind"] == "MPIJob")
    assert _labels(mpijob)[QUEUE_NAME_LABEL] == "anubis-" + spec.placement.instance_type.replace(".", "-")
    # Kueue's webhook suspends it at creation and admits it whole; the manifest sets no suspend.
    assert "suspend" not in mpijob["spec"]["runPolicy"]
    for other in objects:
        if other["kind"] != "MPIJob":
            assert QUEUE_NAME_LABEL not in _labels(other), other["kind"]
    # The pods are not queued one by one: only the MPIJob is.
    for replica in mpijob["spec"]["mpiReplicaSpecs"].values():
        assert QUEUE_NAME_LABEL not in replica["template"]["metadata"]["labels"]


def test_job_and_cronjob_jobs_carry_the_queue() -> None:
    spec, _, scripts = single_node_case()
    env = replace(QUEUED, instance_types={**QUEUED.instance_types})
    spec = replace(spec, placement=replace(spec.placement, instance_type="g5.xlarge"))
    job = next(o for o in _objects(render_run(spec, env, scripts).text) if o["kind"] == "Job")
    assert _labels(job)[QUEUE_NAME_LABEL] == "anubis-g5-xlarge" and "suspend" not in job["spec"]
    cron_spec, _, cron_scripts = scheduled_case()
    cron = next(o for o in _objects(render_run(cron_spec, QUEUED, cron_scripts).text) if o["kind"] == "CronJob")
    # Kueue manages the Jobs a CronJob creates when the job template carries the label.
    assert QUEUE_NAME_LABEL in cron["spec"]["jobTemplate"]["metadata"]["labels"]


def test_no_queue_no_label() -> None:
    spec, env, scripts = horovod_case()
    assert QUEUE_NAME_LABEL not in render_run(spec, env, scripts).text


def test_a_queue_that_is_no_name_is_refused() -> None:
    spec, _, _ = horovod_case()
    with pytest.raises(RenderError, match="not a Kubernetes name"):
        queue_name(replace(spec, placement=replace(spec.placement, instance_type="P3_8XL")), QUEUED)


def test_argocd_leaves_suspend_to_kueue() -> None:
    files = render_argocd([QUEUED], "https://github.com/example/benchmarks")
    for name in ("application-gpu-cluster.yaml", "applicationset-previews-gpu-cluster.yaml"):
        document = _objects(files[name])[0]
        spec = document["spec"] if document["kind"] == "Application" else document["spec"]["template"]["spec"]
        ignored = {(d["group"], d["kind"]): d["jsonPointers"] for d in spec["ignoreDifferences"]}
        assert ignored == {("batch", "Job"): ["/spec/suspend"], ("kubeflow.org", "MPIJob"): ["/spec/runPolicy/suspend"]}
        # without this a sync would re-apply the ignored field's desired value
        assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]
    plain = render_argocd([GPU_ENV], "https://github.com/example/benchmarks")
    assert "ignoreDifferences" not in plain["application-gpu-cluster.yaml"]


def test_preview_namespace_gets_the_local_queues_its_runs_name() -> None:
    text = preview_support_objects("anubis-pr-7-gpu-cluster", [QUEUED], ["anubis-p3-8xlarge", "anubis-g5-xlarge"])
    queues = [o for o in _objects(text) if o["kind"] == "LocalQueue"]
    assert [q["metadata"]["name"] for q in queues] == ["anubis-g5-xlarge", "anubis-p3-8xlarge"]
    validator = crd_validator(*VALIDATORS["LocalQueue"])
    for queue in queues:
        assert queue["spec"] == {"clusterQueue": queue["metadata"]["name"]}
        assert queue["metadata"]["namespace"] == "anubis-pr-7-gpu-cluster"
        assert not list(validator.iter_errors(queue))


def test_a_descriptor_cannot_choose_its_queue() -> None:
    spec, env, scripts = horovod_case()
    with pytest.raises(RenderError, match="reserves"):
        render_run(replace(spec, labels={QUEUE_NAME_LABEL: "someone-elses-queue"}), env, scripts)
