"""Kueue's admission of Jobs and MPIJobs, as its controllers do it, on a :class:`FakeKubernetes`.

What kubernetes-sigs/kueue (v0.19) does, and where:

* **The job webhooks** (``pkg/controller/jobs/job/job_webhook.go``, ``mpijob_webhook.go``): a Job or
  MPIJob that carries ``kueue.x-k8s.io/queue-name`` is created suspended (``spec.suspend``,
  ``spec.runPolicy.suspend``); without the label it is left alone (``manageJobsWithoutQueueName:
  false``). :meth:`FakeKueue.admit_on_create` is that mutation, run by the fake API on every create.
* **The job reconciler** (``pkg/controller/jobframework/reconciler.go``): a Workload is made for each
  such job, owned by it and labelled ``kueue.x-k8s.io/job-uid``, with one pod set per replica type
  (a Job's ``main``; an MPIJob's ``launcher`` and ``worker``) and their resource requests. Once the
  Workload is admitted the job is started (suspend cleared); a job that is suspended while its Workload
  is admitted and active is started again — so a user who wants a queued job stopped must deactivate
  the Workload (``spec.active: false``), after which Kueue evicts it (condition ``Evicted``, reason
  ``Deactivated``) and keeps the job suspended. A finished job's Workload gets ``Finished`` and gives
  its quota back.
* **The scheduler** (``pkg/scheduler/scheduler.go``, ``flavorassigner``): pending Workloads are taken
  in queue order (priority, then creation time); a Workload is admitted only when *all* its pod sets
  fit the ClusterQueue's unused nominal quota (all or nothing: an MPIJob is never half admitted). One
  that does not fit gets ``QuotaReserved=False``, reason ``Pending``, message ``couldn't assign flavors
  to pod set <set>: insufficient unused quota for <resource> in flavor <flavor>, <n> more needed``;
  under ``BestEffortFIFO`` the next ones may still be admitted, under ``StrictFIFO`` they wait behind it.
  A Workload whose LocalQueue does not exist is ``Inadmissible``: ``LocalQueue <name> doesn't exist``.
* **The visibility API** (``pkg/visibility``): ``GET /apis/visibility.kueue.x-k8s.io/v1beta2/
  namespaces/<ns>/localqueues/<lq>/pendingworkloads`` lists the pending Workloads of a LocalQueue with
  ``positionInClusterQueue`` and ``positionInLocalQueue``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fakes.kubernetes_api import FakeKubernetes

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
GPU = "nvidia.com/gpu"


@dataclass
class ClusterQueue:
    name: str
    flavor: str
    quota: dict[str, int]  # resource -> nominal quota (whole units: GPUs, CPUs)
    strategy: str = "BestEffortFIFO"
    used: dict[str, int] = field(default_factory=dict)


def _quantity(value: Any) -> int:
    """Whole units of a Kubernetes quantity (``2``, ``"3500m"`` → 4, ``"8"``): enough for GPUs and CPUs."""
    text = str(value)
    if text.endswith("m"):
        return -(-int(text[:-1]) // 1000)
    try:
        return int(float(text))
    except ValueError:
        return 0


def _requests(template: Mapping[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for container in (template.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        for name in ("cpu", GPU):
            if name in merged:
                totals[name] = totals.get(name, 0) + _quantity(merged[name])
    return totals


def pod_sets(plural: str, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if plural == "mpijobs":
        sets = []
        for role, replica in (spec.get("mpiReplicaSpecs") or {}).items():
            sets.append({"name": role.lower(), "count": int(replica.get("replicas", 1)),
                         "requests": _requests(replica.get("template") or {})})
        return sets
    return [{"name": "main", "count": int(spec.get("parallelism", 1)), "requests": _requests(spec.get("template") or {})}]


class FakeKueue:
    """Kueue on a fake cluster: ``local_queues`` maps (namespace, name) to a ClusterQueue's name."""

    def __init__(self, api: FakeKubernetes, cluster_queues: list[ClusterQueue],
                 local_queues: Mapping[tuple[str, str], str]) -> None:
        self.api = api
        self.cluster_queues = {q.name: q for q in cluster_queues}
        self.local_queues = dict(local_queues)
        self._lock = threading.RLock()
        api.on_create.append(self.admit_on_create)
        api.visibility = self.pending_workloads
        for (namespace, name), cq in self.local_queues.items():
            api.create("localqueues", {"metadata": {"name": name, "namespace": namespace}, "spec": {"clusterQueue": cq}})
        for queue in self.cluster_queues.values():
            api.create("clusterqueues", self._cluster_queue_object(queue))

    # -- the webhook -------------------------------------------------------------------------------

    def admit_on_create(self, plural: str, obj: dict[str, Any]) -> None:
        if plural not in ("jobs", "mpijobs") or not ((obj.get("metadata") or {}).get("labels") or {}).get(QUEUE_LABEL):
            return
        spec = obj.setdefault("spec", {})
        if plural == "mpijobs":
            spec.setdefault("runPolicy", {})["suspend"] = True
        else:
            spec["suspend"] = True

    # -- the reconcilers and the scheduler ---------------------------------------------------------

    def sync(self) -> None:
        with self._lock:
            self._make_workloads()
            self._follow_jobs()
            self._schedule()
            for queue in self.cluster_queues.values():
                self.api.apply("clusterqueues", "", queue.name,
                                lambda o, q=queue: o.__setitem__("status", self._cluster_queue_object(q)["status"]))

    def _jobs(self) -> list[tuple[str, dict[str, Any]]]:
        return [(plural, o) for plural in ("jobs", "mpijobs") for o in self.api.objects(plural)
                if ((o["metadata"].get("labels") or {}).get(QUEUE_LABEL))]

    def _workload_of(self, uid: str) -> dict[str, Any] | None:
        for workload in self.api.objects("workloads"):
            if (workload["metadata"].get("labels") or {}).get(JOB_UID_LABEL) == uid:
                return workload
        return None

    def _make_workloads(self) -> None:
        for plural, job in self._jobs():
            meta = job["metadata"]
            if self._workload_of(meta["uid"]) is not None:
                continue
            kind = "MPIJob" if plural == "mpijobs" else "Job"
            self.api.create("workloads", {
                "metadata": {
                    "name": f"{kind.lower()}-{meta['name']}-{meta['uid'][:5]}", "namespace": meta["namespace"],
                    "labels": {JOB_UID_LABEL: meta["uid"]},
                    "ownerReferences": [{"apiVersion": job["apiVersion"], "kind": kind, "name": meta["name"],
                                         "uid": meta["uid"], "controller": True}],
                },
                "spec": {"queueName": meta["labels"][QUEUE_LABEL], "podSets": pod_sets(plural, job), "active": True},
                "status": {"conditions": []},
            })

    def _suspended(self, plural: str, job: Mapping[str, Any]) -> bool:
        spec = job.get("spec") or {}
        return bool((spec.get("runPolicy") or {}).get("suspend") if plural == "mpijobs" else spec.get("suspend"))

    def _set_suspend(self, plural: str, job: Mapping[str, Any], value: bool) -> None:
        def change(o: dict[str, Any]) -> None:
            if plural == "mpijobs":
                o["spec"].setdefault("runPolicy", {})["suspend"] = value
            else:
                o["spec"]["suspend"] = value
        self.api.apply(plural, job["metadata"]["namespace"], job["metadata"]["name"], change)

    def _follow_jobs(self) -> None:
        jobs = {o["metadata"]["uid"]: (p, o) for p, o in self._jobs()}
        for workload in self.api.objects("workloads"):
            uid = workload["metadata"]["labels"][JOB_UID_LABEL]
            found = jobs.get(uid)
            conditions = {c["type"]: c for c in workload["status"].get("conditions", [])}
            if "Finished" in conditions and conditions["Finished"]["status"] == "True":
                continue
            admitted = conditions.get("Admitted", {}).get("status") == "True"
            if found is None:  # the job was deleted: its quota goes back
                if admitted:
                    self._release(workload)
                self.api.delete("workloads", workload["metadata"]["namespace"], workload["metadata"]["name"])
                continue
            plural, job = found
            finished = {c["type"] for c in (job.get("status") or {}).get("conditions") or []
                        if c.get("status") == "True"} & {"Complete", "Failed", "Succeeded"}
            if finished:
                if admitted:
                    self._release(workload)
                self._conditions(workload, {"Finished": ("True", "JobFinished", "Job finished")})
                continue
            if admitted and workload["spec"].get("active", True) is False:
                self._release(workload)
                self._set_suspend(plural, job, True)
                self._conditions(workload, {
                    "Evicted": ("True", "Deactivated", "The workload is deactivated"),
                    "Admitted": ("False", "NoReservation", "The workload has no reservation"),
                    "QuotaReserved": ("False", "Pending", "The workload is deactivated"),
                }, admission=None)
                continue
            if admitted and self._suspended(plural, job):
                self._set_suspend(plural, job, False)  # Kueue starts an admitted job again

    def _demand(self, workload: Mapping[str, Any]) -> dict[str, int]:
        demand: dict[str, int] = {}
        for pod_set in workload["spec"]["podSets"]:
            for name, amount in pod_set["requests"].items():
                demand[name] = demand.get(name, 0) + amount * pod_set["count"]
        return demand

    def _release(self, workload: Mapping[str, Any]) -> None:
        queue = self.cluster_queues.get(((workload.get("status") or {}).get("admission") or {}).get("clusterQueue", ""))
        if queue is None:
            return
        for name, amount in self._demand(workload).items():
            queue.used[name] = queue.used.get(name, 0) - amount

    def pending(self) -> list[dict[str, Any]]:
        """Workloads waiting for quota, in queue order."""
        waiting = []
        for workload in self.api.objects("workloads"):
            conditions = {c["type"]: c["status"] for c in workload["status"].get("conditions", [])}
            if conditions.get("Admitted") == "True" or conditions.get("Finished") == "True":
                continue
            if workload["spec"].get("active", True) is False:
                continue
            waiting.append(workload)
        return sorted(waiting, key=lambda w: (w["metadata"]["creationTimestamp"], w["metadata"]["resourceVersion"].zfill(12)))

    def _schedule(self) -> None:
        blocked: set[str] = set()
        for workload in self.pending():
            namespace = workload["metadata"]["namespace"]
            queue_name = self.local_queues.get((namespace, workload["spec"]["queueName"]))
            if queue_name is None:
                self._conditions(workload, {"QuotaReserved": (
                    "False", "Inadmissible", f"LocalQueue {workload['spec']['queueName']} doesn't exist")})
                continue
            queue = self.cluster_queues[queue_name]
            if queue.name in blocked:
                continue
            demand = self._demand(workload)
            short = {r: queue.used.get(r, 0) + n - queue.quota.get(r, 0) for r, n in demand.items()}
            lacking = [(r, n) for r, n in sorted(short.items()) if n > 0]
            if lacking:
                resource, more = lacking[0]
                main = workload["spec"]["podSets"][-1]["name"]
                self._conditions(workload, {"QuotaReserved": (
                    "False", "Pending",
                    f"couldn't assign flavors to pod set {main}: insufficient unused quota for {resource} in flavor "
                    f"{queue.flavor}, {more} more needed")})
                if queue.strategy == "StrictFIFO":
                    blocked.add(queue.name)
                continue
            for name, amount in demand.items():
                queue.used[name] = queue.used.get(name, 0) + amount
            self._conditions(workload, {
                "QuotaReserved": ("True", "QuotaReserved", f"Quota reserved in ClusterQueue {queue.name}"),
                "Admitted": ("True", "Admitted", "The workload is admitted"),
            }, admission={"clusterQueue": queue.name,
                          "podSetAssignments": [{"name": p["name"], "count": p["count"], "flavors": {r: queue.flavor for r in p["requests"]}}
                                                for p in workload["spec"]["podSets"]]})
            owner = workload["metadata"]["ownerReferences"][0]
            plural = "mpijobs" if owner["kind"] == "MPIJob" else "jobs"
            job = self.api.get(plural, namespace, owner["name"])
            if job is not None:
                self._set_suspend(plural, job, False)

    def _conditions(self, workload: Mapping[str, Any], updates: Mapping[str, tuple[str, str, str]],
                    admission: Any = ...) -> None:
        def change(o: dict[str, Any]) -> None:
            status = o.setdefault("status", {})
            conditions = {c["type"]: c for c in status.get("conditions", [])}
            for kind, (value, reason, message) in updates.items():
                conditions[kind] = {"type": kind, "status": value, "reason": reason, "message": message,
                                    "lastTransitionTime": "2026-01-01T00:00:00Z"}
            status["conditions"] = list(conditions.values())
            if admission is None:
                status.pop("admission", None)
            elif admission is not ...:
                status["admission"] = admission
        self.api.apply("workloads", workload["metadata"]["namespace"], workload["metadata"]["name"], change)

    # -- read models -------------------------------------------------------------------------------

    def _cluster_queue_object(self, queue: ClusterQueue) -> dict[str, Any]:
        return {
            "metadata": {"name": queue.name},
            "spec": {"queueingStrategy": queue.strategy, "resourceGroups": [{
                "coveredResources": sorted(queue.quota),
                "flavors": [{"name": queue.flavor, "resources": [{"name": r, "nominalQuota": str(n)}
                                                                 for r, n in sorted(queue.quota.items())]}]}]},
            "status": {"flavorsUsage": [{"name": queue.flavor, "resources": [
                {"name": r, "total": str(queue.used.get(r, 0))} for r in sorted(queue.quota)]}]},
        }

    def pending_workloads(self, namespace: str, local_queue: str) -> dict[str, Any]:
        """The visibility API's PendingWorkloadsSummary of a LocalQueue."""
        with self._lock:
            order = self.pending()
            queue = self.local_queues.get((namespace, local_queue))
            in_cluster = [w for w in order if self.local_queues.get(
                (w["metadata"]["namespace"], w["spec"]["queueName"])) == queue]
            mine = [w for w in in_cluster if w["metadata"]["namespace"] == namespace and w["spec"]["queueName"] == local_queue]
            items = [{"metadata": {"name": w["metadata"]["name"], "namespace": namespace,
                                   "ownerReferences": w["metadata"]["ownerReferences"]},
                      "priority": 0, "localQueueName": local_queue,
                      "positionInClusterQueue": in_cluster.index(w), "positionInLocalQueue": i}
                     for i, w in enumerate(mine)]
        return {"kind": "PendingWorkloadsSummary", "apiVersion": "visibility.kueue.x-k8s.io/v1beta2",
                "metadata": {}, "items": items}
