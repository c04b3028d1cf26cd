"""Turns Jobs and MPIJobs in a :class:`FakeKubernetes` into Pods and moves them through the phase,
condition and container-state sequences that the kubelet, the scheduler, the Job controller and the
MPI Operator produce, as their source does.

Each run follows a scenario: a list of steps (functions of the simulator and the run), advanced one
step per run by :meth:`ClusterSimulator.step`, so a test decides when things happen and nothing
depends on timing. Builders give the sequences of each case: :func:`succeed`, :func:`image_pull_failure`,
:func:`image_error`, :func:`crash_loop`, :func:`exit_code`, :func:`oom_killed`, :func:`sidecar_oom_killed`,
:func:`unschedulable`, :func:`scheduling_gated`, :func:`fetch_failure`, :func:`deadline_exceeded`,
:func:`evicted`, :func:`preempted`, :func:`rejected`, :func:`workers_never_ready`, :func:`hang`.

What the real controllers do, and where (kubernetes v1.29–v1.33, kubeflow/mpi-operator v0.6.0):

* **Job controller** (``pkg/controller/job/job_controller.go``). A Job whose pods failed past
  ``backoffLimit`` or whose ``activeDeadlineSeconds`` passed fails; on Kubernetes < 1.31 the
  ``Failed`` condition is written in the same sync that deletes the active pods. From 1.31
  (``delayTerminalCondition()``: the ``JobManagedBy`` or ``JobPodReplacementPolicy`` gate, on by
  default) the controller first adds ``FailureTarget`` (or ``SuccessCriteriaMet`` on success), lets
  the pods terminate (``deletionTimestamp`` set, ``status.terminating``), and only then adds ``Failed``
  (``Complete``). Choose with ``ClusterSimulator(k8s_version=(1, 31))``. Suspending a Job deletes its
  pods and sets ``Suspended``; deleting a Job deletes its pods.
* **MPI Operator** (``pkg/controller/mpi_job_controller.go``, ``syncHandler``). Worker pods are
  created by the operator itself (owned by the MPIJob, ``getOrCreateWorker``: only when *missing*, so
  a failed worker is never re-created). The launcher Job is created once ``countReadyWorkerPods`` equals
  the worker count under ``launcherCreationPolicy: WaitForWorkersReady`` (at start-up under
  ``AtStartup``); ``newLauncherJob`` copies ``runPolicy.activeDeadlineSeconds`` and ``backoffLimit``
  to the launcher Job only (the workers have no deadline). ``updateMPIJobStatus`` marks the MPIJob
  ``Failed`` when its launcher Job has ``Failed`` (``updateMPIJobFailedStatus``: reason
  ``BackoffLimitExceeded/<pod reason>``) and, for the workers, **only on eviction**
  (``MPIJobEvicted``, ``"%d/%d workers are evicted"``); ``Running`` once the launcher pod and every
  worker run. Suspending (``runPolicy.suspend``) deletes the workers and suspends the launcher.
  Not modelled: ``cleanPodPolicy`` deleting workers after the end, the Service/ConfigMap/Secret.
* **Kubelet**. Images (``pkg/kubelet/images/types.go``, ``image_manager.go``): ``ErrImagePull`` then
  ``ImagePullBackOff`` alternate while the back-off grows; ``InvalidImageName``, ``ErrImageNeverPull``,
  ``ImageInspectError`` and ``SignatureValidationFailed`` (``k8s.io/cri-api/pkg/errors``) are what
  they say; ``CreateContainerConfigError`` (``pkg/kubelet/kuberuntime/kuberuntime_container.go``) for a
  missing Secret/ConfigMap key. Admission (``pkg/kubelet/lifecycle/predicate.go``, ``kubelet.go``
  ``rejectPod``): the pod goes ``Failed`` with ``status.reason`` ``UnexpectedAdmissionError`` or
  ``OutOf<resource>`` and ``Pod was rejected: …`` as its message, no container having run.
  Node-pressure eviction (``pkg/kubelet/eviction/eviction_manager.go``): phase ``Failed``, reason
  ``Evicted``, ``The node was low on resource: memory. …``, and (KEP-3329, GA 1.31) the
  ``DisruptionTarget`` condition with reason ``TerminationByKubelet``; the containers are killed (137).
* **Scheduler**. Preemption (``pkg/scheduler/framework/preemption/preemption.go``) adds
  ``DisruptionTarget``/``PreemptionByScheduler`` to the victim, then deletes it (the containers get
  SIGTERM: 143, the pod ends ``Failed``). A pod with ``spec.schedulingGates`` is never tried:
  ``PodScheduled=False``, reason ``SchedulingGated`` (``pkg/scheduler/schedule_one.go``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes.kubernetes_api import FakeKubernetes, clone, rfc3339

Step = Callable[["ClusterSimulator", "SimRun"], None]

FETCH = "fetch-data"
MAIN = "benchmark"
SERVER = "inference-server"


@dataclass
class SimRun:
    plural: str  # jobs | mpijobs
    namespace: str
    name: str
    uid: str
    steps: list[Step]
    pods: list[str] = field(default_factory=list)
    node: str = "node-1"
    logs: dict[str, list[str]] = field(default_factory=dict)  # container (or "worker") -> lines
    done: bool = False
    launcher: str | None = None  # an MPIJob's launcher Job, once the operator has created it
    launcher_uid: str = ""
    finished_at: float | None = None  # time.monotonic() once its last step was applied
    terminating_since: float | None = None  # its pods were deleted (suspend) at this monotonic time, still there


class ClusterSimulator:
    def __init__(self, api: FakeKubernetes, clock: Callable[[], float] = time.time, *,
                 k8s_version: tuple[int, int] = (1, 29)) -> None:
        self.api = api
        self.clock = clock
        self.k8s_version = k8s_version
        self.runs: dict[tuple[str, str], SimRun] = {}
        self._lock = threading.RLock()
        # other controllers of the cluster (Kueue: tests/fakes/kueue.py), synced before every step
        self.controllers: list[Callable[[], None]] = []
        api.on_delete.append(self._deleted)

    # -- setting up ---------------------------------------------------------------------------------

    def add_node(self, name: str, instance_type: str, gpu_product: str | None = None) -> None:
        labels = {"node.kubernetes.io/instance-type": instance_type, "kubernetes.io/hostname": name}
        if gpu_product:
            labels["nvidia.com/gpu.product"] = gpu_product
        self.api.create("nodes", {"metadata": {"name": name, "labels": labels}})

    def submit(self, obj: dict[str, Any], steps: list[Step], *, node: str = "node-1",
               logs: dict[str, list[str]] | None = None) -> SimRun:
        """Create a Job, MPIJob or CronJob (as Argo CD would) with the scenario its run follows."""
        plural = {"Job": "jobs", "MPIJob": "mpijobs", "CronJob": "cronjobs"}[obj["kind"]]
        created = self.api.create(plural, obj)
        run = SimRun(plural, created["metadata"]["namespace"], created["metadata"]["name"],
                     created["metadata"]["uid"], list(steps), node=node, logs=dict(logs or {}))
        with self._lock:
            self.runs[(run.namespace, run.name)] = run
        return run

    def adopt(self, plural: str, namespace: str, name: str, steps: list[Step], *, node: str = "node-1",
              logs: dict[str, list[str]] | None = None) -> SimRun:
        """Follow a Job or MPIJob that was created over HTTP (as Argo CD creates them)."""
        obj = self.api.get(plural, namespace, name)
        assert obj is not None, f"no {plural} {namespace}/{name}"
        run = SimRun(plural, namespace, name, obj["metadata"]["uid"], list(steps), node=node, logs=dict(logs or {}))
        with self._lock:
            self.runs[(namespace, name)] = run
        return run

    def fire(self, cronjob: SimRun, suffix: str, steps: list[Step], *, logs: dict[str, list[str]] | None = None) -> SimRun:
        """The CronJob controller creating one Job from ``jobTemplate``."""
        cron = self.api.get("cronjobs", cronjob.namespace, cronjob.name)
        assert cron is not None
        template = clone(cron["spec"]["jobTemplate"])
        meta = template.setdefault("metadata", {})
        meta.update({"name": f"{cronjob.name}-{suffix}", "namespace": cronjob.namespace,
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob.name,
                                          "uid": cronjob.uid, "controller": True}]})
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": template["spec"]}
        return self.submit(job, steps, node=cronjob.node, logs=logs)

    # -- driving ------------------------------------------------------------------------------------

    def step(self) -> bool:
        """Advance every run by one step; False when no run had a step left."""
        moved = False
        for sync in self.controllers:
            sync()
        with self._lock:
            runs = [r for r in self.runs.values() if not r.done]
        for run in runs:
            if run.steps and self._queued(run):
                moved = True  # a queued job has no pods: its scenario waits for Kueue to admit it
                continue
            if run.steps:
                step = run.steps.pop(0)
                if self.api.exists(run.plural, run.namespace, run.name):
                    step(self, run)
                    if run.plural == "mpijobs":
                        self.mpi_operator_sync(run)
                if not run.steps:
                    run.finished_at = time.monotonic()
                moved = True
            else:
                run.done = True
        return moved

    def _queued(self, run: SimRun) -> bool:
        """Suspended from its creation by Kueue's webhook and not admitted yet (no pod ever made)."""
        if run.pods:
            return False
        obj = self.api.get(run.plural, run.namespace, run.name)
        if obj is None or not ((obj.get("metadata") or {}).get("labels") or {}).get("kueue.x-k8s.io/queue-name"):
            return False
        spec = obj.get("spec", {})
        return bool(spec.get("runPolicy", {}).get("suspend") if run.plural == "mpijobs" else spec.get("suspend"))

    @property
    def delays_terminal_conditions(self) -> bool:
        """Kubernetes >= 1.31: ``FailureTarget``/``SuccessCriteriaMet`` before ``Failed``/``Complete``."""
        return self.k8s_version >= (1, 31)

    def run_all(self, max_steps: int = 100) -> None:
        for _ in range(max_steps):
            if not self.step():
                return

    # -- helpers steps use --------------------------------------------------------------------------

    def obj(self, run: SimRun) -> dict[str, Any]:
        obj = self.api.get(run.plural, run.namespace, run.name)
        assert obj is not None
        return obj

    def pod_templates(self, run: SimRun) -> list[tuple[str, dict[str, Any], str]]:
        """(pod name, template, owner uid) of every pod the run has."""
        obj = self.obj(run)
        if run.plural == "jobs":
            return [(f"{run.name}-p{len(run.pods)}x", obj["spec"]["template"], run.uid)]
        specs = obj["spec"]["mpiReplicaSpecs"]  # workers only: the launcher comes with mpi_operator_sync
        return [(f"{run.name}-worker-{i}", specs["Worker"]["template"], run.uid)
                for i in range(int(specs["Worker"].get("replicas", 1)))]

    def mutate_pods(self, run: SimRun, change: Callable[[dict[str, Any]], None], *, only: str | None = None) -> None:
        for name in run.pods:
            if only is None or only in name:
                if self.api.exists("pods", run.namespace, name):
                    self.api.apply("pods", run.namespace, name, change)

    def set_condition(self, run: SimRun, type_: str, reason: str = "", message: str = "", *,
                      plural: str | None = None, name: str | None = None) -> None:
        """Add (or replace) a True condition on the run's object (or on ``plural``/``name``: a launcher Job)."""
        now = rfc3339(self.clock())

        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            conds = [c for c in status.get("conditions", []) if c["type"] != type_]
            conds.append({"type": type_, "status": "True", "reason": reason, "message": message,
                          "lastTransitionTime": now, "lastProbeTime": now})
            status["conditions"] = conds
            if type_ in ("Complete", "Succeeded"):
                status["completionTime"] = now

        self.api.apply(plural or run.plural, run.namespace, name or run.name, change)

    def job_of(self, run: SimRun) -> tuple[str, str] | None:
        """The Job the Job controller runs for ``run``: its own, or an MPIJob's launcher Job (if created)."""
        if run.plural == "jobs":
            return "jobs", run.name
        return ("jobs", run.launcher) if run.launcher else None

    # -- the MPI Operator ---------------------------------------------------------------------------

    def mpi_operator_sync(self, run: SimRun) -> None:
        """One ``syncHandler`` pass of the MPI Operator for ``run`` (see the module docstring)."""
        obj = self.api.get("mpijobs", run.namespace, run.name)
        if obj is None:
            return
        spec, status = obj["spec"], obj.get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions", []) if c.get("status") == "True"}
        if "Succeeded" in conditions or "Failed" in conditions or spec.get("runPolicy", {}).get("suspend"):
            return
        workers = [self.api.get("pods", run.namespace, n) for n in run.pods if "-worker-" in n]
        present = [w for w in workers if w is not None]
        ready = sum(1 for w in present if any(c["type"] == "Ready" and c["status"] == "True"
                                              for c in w["status"].get("conditions", [])))
        replicas = int(spec["mpiReplicaSpecs"]["Worker"].get("replicas", 1))
        policy = spec.get("launcherCreationPolicy", "AtStartup")
        if run.launcher is None and present and (policy == "AtStartup" or ready == replicas):
            self._create_launcher(run, obj)
        evicted = sum(1 for w in present if w["status"].get("phase") == "Failed" and w["status"].get("reason") == "Evicted")
        if evicted:
            self.set_condition(run, "Failed", "MPIJobEvicted", f"{evicted}/{len(present)} workers are evicted")
            return
        launcher = self.api.get("jobs", run.namespace, run.launcher) if run.launcher else None
        if launcher is None:
            return
        done = {c["type"]: c for c in (launcher.get("status") or {}).get("conditions", []) if c.get("status") == "True"}
        if "Complete" in done:
            self.set_condition(run, "Succeeded", "MPIJobSucceeded",
                               f"MPIJob {run.namespace}/{run.name} successfully completed.")
        elif "Failed" in done:  # FailureTarget alone is not read (isJobFailed looks for Failed)
            reason, message = done["Failed"].get("reason") or "MPIJobFailed", done["Failed"].get("message", "")
            if reason == "BackoffLimitExceeded":
                failed = [p for n in run.pods if "-launcher-" in n and (p := self.api.get("pods", run.namespace, n))
                          and p["status"].get("phase") == "Failed"]
                if failed:
                    reason += "/" + failed[-1]["status"].get("reason", "")
                    message += ": " + failed[-1]["status"].get("message", "")
            self.set_condition(run, "Failed", reason, message)

    def _create_launcher(self, run: SimRun, mpijob: dict[str, Any]) -> None:
        policy = mpijob["spec"].get("runPolicy") or {}
        name = f"{run.name}-launcher"
        job_spec: dict[str, Any] = {"template": clone(mpijob["spec"]["mpiReplicaSpecs"]["Launcher"]["template"])}
        for key in ("activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
            if key in policy:
                job_spec[key] = policy[key]
        launcher = self.api.create("jobs", {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": run.namespace, "labels": {"app": run.name},
                         "ownerReferences": [{"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": run.name,
                                              "uid": run.uid, "controller": True, "blockOwnerDeletion": True}]},
            "spec": job_spec,
        })
        run.launcher, run.launcher_uid = name, launcher["metadata"]["uid"]
        template = job_spec["template"]
        _create_pod(self, run, f"{name}-x1", template, ("Job", name, run.launcher_uid))
        for change in (_scheduled_change(self, run), _started_change(self)):
            self.api.apply("pods", run.namespace, f"{name}-x1", change)

    # -- what the Job controller does on suspend and delete -----------------------------------------

    SUSPEND_GRACE_S = 1.0
    """How long a pod deleted for a suspend stays (terminating) before the kubelet removes it."""

    def watch_suspend(self) -> None:
        """Apply suspends made over HTTP (by the controller or `anubis cancel`): pods go, Suspended.

        The Job controller deletes the active pods of a suspended Job with their grace period and
        sets ``Suspended`` in the same sync (``job_controller.go``, ``syncJob``: ``jobSuspended``,
        ``deleteActivePods``): the API server sets ``deletionTimestamp`` and the pod stays, its log
        readable, until the kubelet has stopped its containers (SIGTERM, at most
        ``terminationGracePeriodSeconds``, 30 s by default) and removes it. Here the pod is removed
        by the first call at least :attr:`SUSPEND_GRACE_S` after the suspend (``time.monotonic``: the
        kubelet's time passes whatever a test does with :attr:`clock`)."""
        for sync in self.controllers:
            sync()
        with self._lock:
            runs = list(self.runs.values())
        now = time.monotonic()
        for run in runs:
            if run.terminating_since is not None and now - run.terminating_since >= self.SUSPEND_GRACE_S:
                run.terminating_since = None
                for pod in list(run.pods):
                    self.api.delete("pods", run.namespace, pod)
            obj = self.api.get(run.plural, run.namespace, run.name)
            if obj is None:
                continue
            spec = obj.get("spec", {})
            suspended = spec.get("suspend") if run.plural == "jobs" else spec.get("runPolicy", {}).get("suspend")
            conds = {c["type"] for c in obj.get("status", {}).get("conditions", [])}
            if suspended and "Suspended" not in conds and not self._queued(run):
                run.steps.clear()
                if run.launcher and self.api.exists("jobs", run.namespace, run.launcher):
                    self.api.apply("jobs", run.namespace, run.launcher, lambda o: o["spec"].update(suspend=True))
                deleting = _deleting(rfc3339(self.clock()))
                for pod in list(run.pods):
                    if self.api.exists("pods", run.namespace, pod):
                        self.api.apply("pods", run.namespace, pod, deleting)
                run.terminating_since = now
                self.set_condition(run, "Suspended", "JobSuspended", "Job suspended")

    def _deleted(self, plural: str, obj: dict[str, Any]) -> None:
        if plural not in ("jobs", "mpijobs"):
            return
        with self._lock:
            run = self.runs.get((obj["metadata"]["namespace"], obj["metadata"]["name"]))
        if run is None:
            return
        run.steps.clear()
        if run.launcher:  # the garbage collector removes what the MPIJob owns
            self.api.delete("jobs", run.namespace, run.launcher)
        for pod in list(run.pods):
            self.api.delete("pods", run.namespace, pod)


def _deleting(stamp: str) -> Callable[[dict[str, Any]], None]:
    """A graceful delete as the API server applies it: ``deletionTimestamp`` set, the object kept."""

    def change(obj: dict[str, Any]) -> None:
        obj["metadata"].setdefault("deletionTimestamp", stamp)
    return change


# -- pod states ------------------------------------------------------------------------------------

def _statuses(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status = pod["status"]
    out: dict[str, dict[str, Any]] = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for c in status.get(key, []):
            out[c["name"]] = c
    return out


def _set_container(pod: dict[str, Any], name: str, state: dict[str, Any], **extra: Any) -> None:
    c = _statuses(pod)[name]
    c["state"] = state
    c.update(extra)


def _create_pod(sim: ClusterSimulator, run: SimRun, name: str, template: dict[str, Any],
                owner: tuple[str, str, str]) -> None:
    """A pod from ``template``, owned by ``owner`` (kind, name, uid), as its controller creates it."""
    spec = clone(template["spec"])
    init = spec.get("initContainers", [])
    kind, owner_name, owner_uid = owner
    labels = dict(template["metadata"]["labels"])
    if kind == "Job":
        labels.update({"batch.kubernetes.io/job-name": owner_name, "batch.kubernetes.io/controller-uid": owner_uid})
    else:  # mpi-operator's defaultLabels and the replica index of a worker
        labels.update({"training.kubeflow.org/job-name": run.name, "training.kubeflow.org/job-role": "worker",
                       "training.kubeflow.org/operator-name": "mpi-operator",
                       "training.kubeflow.org/replica-index": name.rsplit("-", 1)[-1]})
    pod = {
        "metadata": {"name": name, "namespace": run.namespace, "labels": labels,
                     "ownerReferences": [{"apiVersion": "batch/v1" if kind == "Job" else "kubeflow.org/v2beta1",
                                          "kind": kind, "name": owner_name, "uid": owner_uid, "controller": True}]},
        "spec": spec,
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "restartCount": 0,
                 "started": False, "state": {"waiting": {"reason": "PodInitializing"}}} for c in init],
            "containerStatuses": [
                {"name": c["name"], "image": c["image"], "imageID": "", "ready": False, "restartCount": 0,
                 "started": False, "state": {"waiting": {"reason": "PodInitializing" if init else "ContainerCreating"}}}
                for c in spec["containers"]],
        },
    }
    if spec.get("schedulingGates"):
        now = rfc3339(sim.clock())
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                                        "message": "Scheduling is blocked due to non-empty scheduling gates",
                                        "lastTransitionTime": now}]
    sim.api.create("pods", pod)
    run.pods.append(name)


def _create_pods(sim: ClusterSimulator, run: SimRun) -> None:
    owner = ("Job", run.name, run.uid) if run.plural == "jobs" else ("MPIJob", run.name, run.uid)
    for name, template, _ in sim.pod_templates(run):
        _create_pod(sim, run, name, template, owner)
    now = rfc3339(sim.clock())
    status: dict[str, Any] = {"startTime": now}
    if run.plural == "jobs":
        status["active"] = len(run.pods)
    else:
        status["conditions"] = [{"type": "Created", "status": "True", "reason": "MPIJobCreated",
                                 "message": f"MPIJob {run.namespace}/{run.name} is created.",
                                 "lastTransitionTime": now}]
    sim.api.apply(run.plural, run.namespace, run.name, lambda o: o.setdefault("status", {}).update(status))


def _scheduled_change(sim: ClusterSimulator, run: SimRun) -> Callable[[dict[str, Any]], None]:
    now = rfc3339(sim.clock())

    def change(pod: dict[str, Any]) -> None:
        pod["spec"]["nodeName"] = run.node
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}]
        if any(c["name"] == FETCH for c in pod["status"]["initContainerStatuses"]):
            _set_container(pod, FETCH, {"running": {"startedAt": now}}, started=True)
        pod["status"]["phase"] = "Pending"

    return change


def _schedule(sim: ClusterSimulator, run: SimRun) -> None:
    sim.mutate_pods(run, _scheduled_change(sim, run))


def _started_change(sim: ClusterSimulator, *, ready: bool = True) -> Callable[[dict[str, Any]], None]:
    """Init done, sidecar started, main containers running; Ready unless ``ready`` is False (a
    readiness probe that never passes)."""
    now = rfc3339(sim.clock())

    def change(pod: dict[str, Any]) -> None:
        for c in pod["status"]["initContainerStatuses"]:
            if c["name"] == FETCH:
                c["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}
            else:  # native sidecar
                c.update(state={"running": {"startedAt": now}}, started=True, ready=True,
                         imageID=f"{c['image']}@sha256:{'5' * 64}")
        for c in pod["status"]["containerStatuses"]:
            c.update(state={"running": {"startedAt": now}}, started=True, ready=ready,
                     imageID=f"docker-pullable://{c['image']}@sha256:{'d' * 64}")
        pod["status"]["phase"] = "Running"
        flag = "True" if ready else "False"
        conds = [c for c in pod["status"].get("conditions", []) if c["type"] not in ("Initialized", "ContainersReady", "Ready")]
        conds += [{"type": "Initialized", "status": "True", "lastTransitionTime": now},
                  {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
                  {"type": "Ready", "status": flag, "lastTransitionTime": now}]
        pod["status"]["conditions"] = conds

    return change


def _start(sim: ClusterSimulator, run: SimRun) -> None:
    sim.mutate_pods(run, _started_change(sim))


def _write_logs(sim: ClusterSimulator, run: SimRun) -> None:
    for pod in run.pods:
        for container, lines in run.logs.items():
            if container == "worker":
                if "-worker-" in pod:
                    sim.api.set_log(run.namespace, pod, MAIN, lines)
            elif "-worker-" not in pod:
                sim.api.set_log(run.namespace, pod, container, lines)


def _terminate(sim: ClusterSimulator, run: SimRun, container: str, code: int, reason: str, message: str = "",
               only: str | None = None) -> None:
    now = rfc3339(sim.clock())
    _write_logs(sim, run)

    def change(pod: dict[str, Any]) -> None:
        statuses = _statuses(pod)
        if container in statuses:
            statuses[container].update(state={"terminated": {"exitCode": code, "reason": reason, "message": message,
                                                             "startedAt": now, "finishedAt": now}}, ready=False)
        for c in pod["status"]["initContainerStatuses"]:
            if c["name"] != FETCH and c.get("state", {}).get("running"):  # the kubelet stops the sidecar
                c.update(state={"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
        pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"

    sim.mutate_pods(run, change, only=only)


# -- scenario builders -----------------------------------------------------------------------------

def _active(sim: ClusterSimulator, run: SimRun) -> list[str]:
    """The pods of the run's Job (a Job's, or an MPIJob's launcher's) that have not finished."""
    names = run.pods if run.plural == "jobs" else [n for n in run.pods if "-launcher-" in n]
    out = []
    for name in names:
        pod = sim.api.get("pods", run.namespace, name)
        if pod is not None and pod["status"].get("phase") not in ("Succeeded", "Failed"):
            out.append(name)
    return out


def _job_done(type_: str, reason: str = "", message: str = "", *, kill_active: bool = False) -> Step:
    """The Job controller ending the run's Job (an MPIJob's launcher Job; nothing while there is
    none): ``Failed``/``Complete`` at once before 1.31, ``FailureTarget``/``SuccessCriteriaMet`` first,
    the active pods terminating, and ``Failed``/``Complete`` one step later from 1.31."""
    def step(sim: ClusterSimulator, run: SimRun) -> None:
        target = sim.job_of(run)
        if target is None:
            return
        plural, name = target
        active = _active(sim, run) if kill_active else []
        if not sim.delays_terminal_conditions:
            sim.set_condition(run, type_, reason, message, plural=plural, name=name)
            for pod in active:
                sim.api.delete("pods", run.namespace, pod)
            return
        interim = "SuccessCriteriaMet" if type_ == "Complete" else "FailureTarget"
        final_reason = "CompletionsReached" if type_ == "Complete" else reason
        final_message = "Reached expected number of succeeded pods" if type_ == "Complete" else message
        sim.set_condition(run, interim, final_reason, final_message, plural=plural, name=name)
        stamp = rfc3339(sim.clock())
        for pod in active:  # deleted with a grace period: terminating, still there
            sim.api.apply("pods", run.namespace, pod, lambda o: o["metadata"].update(deletionTimestamp=stamp))

        def finish(sim: ClusterSimulator, run: SimRun) -> None:
            for pod in active:
                sim.api.delete("pods", run.namespace, pod)
            sim.set_condition(run, type_, final_reason, final_message, plural=plural, name=name)

        run.steps.insert(0, finish)
    return step


def _backoff_limit() -> Step:
    return _job_done("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")


def _mpi_running(sim: ClusterSimulator, run: SimRun) -> None:
    if run.plural == "mpijobs" and run.launcher:
        sim.set_condition(run, "Running", "MPIJobRunning", f"MPIJob {run.namespace}/{run.name} is running.")


def _main_pods(run: SimRun) -> str | None:
    """Which pods a failure of the benchmark shows in: all of a Job's, an MPIJob's launcher (mpirun
    exits non-zero; the workers' sshd goes on)."""
    return None if run.plural == "jobs" else "-launcher-"


def succeed() -> list[Step]:
    def finish(sim: ClusterSimulator, run: SimRun) -> None:
        _terminate(sim, run, MAIN, 0, "Completed")

    return [_create_pods, _schedule, _start, _mpi_running, finish, _job_done("Complete")]


def exit_code(code: int, container: str = MAIN) -> list[Step]:
    def finish(sim: ClusterSimulator, run: SimRun) -> None:
        _terminate(sim, run, container, code, "Error", only=_main_pods(run))

    return [_create_pods, _schedule, _start, _mpi_running, finish, _backoff_limit()]


def oom_killed(container: str = MAIN, only: str | None = None) -> list[Step]:
    def finish(sim: ClusterSimulator, run: SimRun) -> None:
        _terminate(sim, run, container, 137, "OOMKilled", only=only or _main_pods(run))

    return [_create_pods, _schedule, _start, _mpi_running, finish, _backoff_limit()]


def sidecar_oom_killed(sidecar: str = SERVER) -> list[Step]:
    """A native sidecar (the inference server) killed for memory: the kubelet restarts it (its
    ``restartPolicy: Always``), ``lastState`` keeps the OOMKilled; the client then fails."""
    def oom(sim: ClusterSimulator, run: SimRun) -> None:
        now = rfc3339(sim.clock())

        def change(pod: dict[str, Any]) -> None:
            _set_container(pod, sidecar, {"running": {"startedAt": now}}, restartCount=1,
                           lastState={"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": now,
                                                     "finishedAt": now}})
        sim.mutate_pods(run, change)

    def client_fails(sim: ClusterSimulator, run: SimRun) -> None:
        _terminate(sim, run, MAIN, 1, "Error", message="connection refused")

    return [_create_pods, _schedule, _start, oom, client_fails, _backoff_limit()]


def image_pull_failure(image_message: str = "", rounds: int = 1) -> list[Step]:
    """``ErrImagePull`` then ``ImagePullBackOff``, ``rounds`` times (the kubelet's back-off between)."""
    def pulling(reason: str) -> Step:
        def step(sim: ClusterSimulator, run: SimRun) -> None:
            def change(pod: dict[str, Any]) -> None:
                for c in pod["status"]["initContainerStatuses"]:
                    if c["name"] == FETCH:
                        c["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
                msg = image_message or f'Back-off pulling image "{_statuses(pod)[MAIN]["image"]}"'
                _set_container(pod, MAIN, {"waiting": {"reason": reason, "message": msg}})
            sim.mutate_pods(run, change)
        return step

    steps: list[Step] = [_create_pods, _schedule]
    for _ in range(rounds):
        steps += [pulling("ErrImagePull"), pulling("ImagePullBackOff")]
    return steps


def image_error(reason: str, message: str) -> list[Step]:
    """The main container waiting with one of the kubelet's image or create reasons."""
    def fail(sim: ClusterSimulator, run: SimRun) -> None:
        def change(pod: dict[str, Any]) -> None:
            for c in pod["status"]["initContainerStatuses"]:
                if c["name"] == FETCH:
                    c["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
            _set_container(pod, MAIN, {"waiting": {"reason": reason, "message": message}})
        sim.mutate_pods(run, change)

    return [_create_pods, _schedule, fail]


def crash_loop(container: str = SERVER, restarts: int = 3) -> list[Step]:
    """The container (a native sidecar, which restarts) exits 1 again and again."""
    def crash(sim: ClusterSimulator, run: SimRun) -> None:
        def change(pod: dict[str, Any]) -> None:
            for c in pod["status"]["initContainerStatuses"]:
                if c["name"] == FETCH:
                    c["state"] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
            _set_container(pod, container, {"waiting": {"reason": "CrashLoopBackOff",
                                                        "message": f"back-off 40s restarting failed container={container}"}},
                           restartCount=restarts, lastState={"terminated": {"exitCode": 1, "reason": "Error"}})
        sim.mutate_pods(run, change)

    return [_create_pods, _schedule, crash]


def unschedulable(since_seconds: float, message: str) -> list[Step]:
    def stuck(sim: ClusterSimulator, run: SimRun) -> None:
        since = rfc3339(sim.clock() - since_seconds)

        def change(pod: dict[str, Any]) -> None:
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                            "message": message, "lastTransitionTime": since}]
        sim.mutate_pods(run, change)

    return [_create_pods, stuck]


def scheduling_gated(gate: str = "example.com/quota") -> list[Step]:
    """Pods created with ``spec.schedulingGates`` (a webhook's or queue's) that are never lifted."""
    def gated(sim: ClusterSimulator, run: SimRun) -> None:
        now = rfc3339(sim.clock())

        def change(pod: dict[str, Any]) -> None:
            pod["spec"]["schedulingGates"] = [{"name": gate}]
            pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                                            "message": "Scheduling is blocked due to non-empty scheduling gates",
                                            "lastTransitionTime": now}]
        sim.mutate_pods(run, change)

    return [_create_pods, gated]


def fetch_failure(message: str) -> list[Step]:
    """The data fetch of every pod (of every worker of an MPIJob) fails; ``restartPolicy: Never`` so
    the pod fails. A Job fails at its backoff limit; an MPIJob never gets its launcher and is never
    marked failed by the operator."""
    def fail(sim: ClusterSimulator, run: SimRun) -> None:
        now = rfc3339(sim.clock())

        def change(pod: dict[str, Any]) -> None:
            _set_container(pod, FETCH, {"terminated": {"exitCode": 1, "reason": "Error", "message": message,
                                                       "startedAt": now, "finishedAt": now}})
            pod["status"]["phase"] = "Failed"
        sim.mutate_pods(run, change)

    return [_create_pods, _schedule, fail, _backoff_limit()]


def deadline_exceeded() -> list[Step]:
    return [_create_pods, _schedule, _start, _mpi_running,
            _job_done("Failed", "DeadlineExceeded", "Job was active longer than specified deadline", kill_active=True)]


def evicted(only: str | None = None, message: str = "The node was low on resource: memory. Threshold quantity: "
                                                    "100Mi, available: 42Mi. ") -> list[Step]:
    """The kubelet evicting running pods for node pressure (``only``: a name part, e.g. ``-worker-1``)."""
    def evict(sim: ClusterSimulator, run: SimRun) -> None:
        now = rfc3339(sim.clock())

        def change(pod: dict[str, Any]) -> None:
            for c in _statuses(pod).values():
                if "running" in c.get("state", {}):
                    c.update(state={"terminated": {"exitCode": 137, "reason": "Error", "startedAt": now,
                                                   "finishedAt": now}}, ready=False)
            pod["status"].update(phase="Failed", reason="Evicted", message=message)
            pod["status"].setdefault("conditions", []).append(
                {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                 "message": message, "lastTransitionTime": now})
        sim.mutate_pods(run, change, only=only)

    return [_create_pods, _schedule, _start, _mpi_running, evict, _backoff_limit()]


def preempted() -> list[Step]:
    """The scheduler preempting the run's pods for a pod of higher priority: ``DisruptionTarget``
    and a deletion with a grace period; the containers end on SIGTERM (143); the pod ends ``Failed``
    and is removed once the Job controller has counted it."""
    message = "default-scheduler: preempting to accommodate a higher priority pod"

    def mark(sim: ClusterSimulator, run: SimRun) -> None:
        now = rfc3339(sim.clock())

        def change(pod: dict[str, Any]) -> None:
            pod["metadata"]["deletionTimestamp"] = now
            pod["status"].setdefault("conditions", []).append(
                {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                 "message": message, "lastTransitionTime": now})
        sim.mutate_pods(run, change)

    def killed(sim: ClusterSimulator, run: SimRun) -> None:
        _terminate(sim, run, MAIN, 143, "Error")

    def removed(sim: ClusterSimulator, run: SimRun) -> None:
        for pod in list(run.pods):
            sim.api.delete("pods", run.namespace, pod)

    return [_create_pods, _schedule, _start, _mpi_running, mark, killed, _backoff_limit(), removed]


def rejected(reason: str, message: str) -> list[Step]:
    """The kubelet refusing the pod at admission (``UnexpectedAdmissionError``, ``OutOfcpu`` …)."""
    def reject(sim: ClusterSimulator, run: SimRun) -> None:
        def change(pod: dict[str, Any]) -> None:
            pod["status"].update(phase="Failed", reason=reason, message=message)
        sim.mutate_pods(run, change, only=None if run.plural == "jobs" else "-worker-1")

    return [_create_pods, _schedule, reject, _backoff_limit()]


def workers_never_ready() -> list[Step]:
    """Every container runs, one worker's readiness never passes: no launcher, ever."""
    def start(sim: ClusterSimulator, run: SimRun) -> None:
        sim.mutate_pods(run, _started_change(sim), only="-worker-0")
        sim.mutate_pods(run, _started_change(sim, ready=False), only="-worker-1")

    return [_create_pods, _schedule, start]


def hang() -> list[Step]:
    return [_create_pods, _schedule, _start, _mpi_running]
