"""Kueue Workloads read into the words a queued run's status shows (shapes from kueue v0.19 CRDs)."""

from __future__ import annotations

from typing import Any

from controller.kubernetes.queueing import queue_state, quota_in_use, workload_for

PENDING_MESSAGE = (
    "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor gpu-a100, 2 more needed"
)


def _workload(*conditions: dict[str, Any], admission: dict[str, Any] | None = None, uid: str = "job-uid-1") -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": list(conditions)}
    if admission:
        status["admission"] = admission
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "Workload",
        "metadata": {"name": "job-bench-abc-1f2e3", "namespace": "anubis-gpu-runs",
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "bench-abc", "uid": uid}]},
        "spec": {"queueName": "gpu", "podSets": [{"name": "main", "count": 1}]},
        "status": status,
    }


LOCAL_QUEUE = {"metadata": {"name": "gpu"}, "spec": {"clusterQueue": "gpu-a100"}}
CLUSTER_QUEUE = {
    "metadata": {"name": "gpu-a100"},
    "spec": {"resourceGroups": [{"coveredResources": ["cpu", "nvidia.com/gpu"], "flavors": [
        {"name": "a100", "resources": [{"name": "cpu", "nominalQuota": "96"}, {"name": "nvidia.com/gpu", "nominalQuota": 8}]}]}]},
    "status": {"flavorsUsage": [{"name": "a100", "resources": [{"name": "cpu", "total": "40"}, {"name": "nvidia.com/gpu", "total": "8"}]}]},
}


def test_pending_for_quota_names_queue_position_and_usage() -> None:
    workload = _workload({"type": "QuotaReserved", "status": "False", "reason": "Pending", "message": PENDING_MESSAGE})
    state = queue_state(workload, local_queue=LOCAL_QUEUE, cluster_queue=CLUSTER_QUEUE, position=3)
    assert state.state == "queued"
    assert state.message == (
        "queued in cluster queue gpu-a100: 3 workloads ahead, quota 8 of 8 nvidia.com/gpu in use (" + PENDING_MESSAGE + ")"
    )


def test_pending_without_visibility_says_less_not_something_false() -> None:
    workload = _workload({"type": "QuotaReserved", "status": "False", "reason": "Pending", "message": PENDING_MESSAGE})
    state = queue_state(workload, queue_name="gpu")
    assert state.message == f"queued in local queue gpu ({PENDING_MESSAGE})"


def test_admitted_evicted_finished_inadmissible() -> None:
    admitted = _workload({"type": "QuotaReserved", "status": "True"}, {"type": "Admitted", "status": "True"},
                         admission={"clusterQueue": "gpu-a100"})
    assert queue_state(admitted).state == "admitted"
    assert queue_state(admitted).message == "admitted by Kueue to cluster queue gpu-a100"
    evicted = _workload({"type": "Evicted", "status": "True", "reason": "Preempted",
                         "message": "Preempted to accommodate a higher priority Workload"}, {"type": "Admitted", "status": "False"})
    assert queue_state(evicted, local_queue=LOCAL_QUEUE).state == "evicted"
    assert "Preempted" in queue_state(evicted, local_queue=LOCAL_QUEUE).message
    finished = _workload({"type": "Finished", "status": "True"})
    assert queue_state(finished).state == "finished"
    missing = _workload({"type": "QuotaReserved", "status": "False", "reason": "Inadmissible",
                         "message": "LocalQueue gpu doesn't exist"})
    assert queue_state(missing).state == "inadmissible"
    assert "LocalQueue gpu doesn't exist" in queue_state(missing).message
    assert queue_state(None, queue_name="gpu").state == "unknown"


def test_workload_found_by_owner_or_label() -> None:
    by_owner = _workload(uid="uid-a")
    by_label = {"metadata": {"name": "w2", "labels": {"kueue.x-k8s.io/job-uid": "uid-b"}}}
    assert workload_for("uid-a", [by_label, by_owner]) is by_owner
    assert workload_for("uid-b", [by_owner, by_label]) is by_label
    assert workload_for("uid-c", [by_owner, by_label]) is None


def test_quota_in_use_adds_flavors() -> None:
    queue = {"spec": {"resourceGroups": [{"flavors": [
        {"name": "a", "resources": [{"name": "nvidia.com/gpu", "nominalQuota": 4}]},
        {"name": "b", "resources": [{"name": "nvidia.com/gpu", "nominalQuota": "4"}]}]}]},
        "status": {"flavorsUsage": [{"name": "a", "resources": [{"name": "nvidia.com/gpu", "total": "3"}]},
                                    {"name": "b", "resources": [{"name": "nvidia.com/gpu", "total": "1"}]}]}}
    assert quota_in_use(queue, "nvidia.com/gpu") == ("4", "8")
    assert quota_in_use(queue, "cpu") is None


def test_a_deactivated_workload_says_so() -> None:
    workload = _workload({"type": "Evicted", "status": "True", "reason": "Deactivated", "message": "The workload is deactivated"})
    workload["spec"]["active"] = False
    state = queue_state(workload, local_queue=LOCAL_QUEUE)
    assert state.state == "deactivated" and "deactivated" in state.message
