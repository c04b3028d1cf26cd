"""Turns Jobs and MPIJobs in a :class:`FakeKubernetes` into Pods and moves them through the phase and
container-state sequences a kubelet and the Job / MPI Operator controllers produce.

Each run follows a scenario: a list of steps (functions of the simulator and the run), advanced one
step per run by :meth:`ClusterSimulator.step`, so a test decides when things happen and nothing
depends on timing. Builders give the sequences of each case: :func:`succeed`, :func:`image_pull_failure`,
:func:`crash_loop`, :func:`exit_code`, :func:`oom_killed`, :func:`unschedulable`, :func:`fetch_failure`,
:func:`deadline_exceeded`, :func:`hang`. Suspending a Job deletes its pods and sets ``Suspended``, as the
Job controller does; deleting a Job deletes its pods.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes.kubernetes_api import FakeKubernetes, rfc3339

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


class ClusterSimulator:
    def __init__(self, api: FakeKubernetes, clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self.clock = clock
        self.runs: dict[tuple[str, str], SimRun] = {}
        self._lock = threading.RLock()
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
        template = copy.deepcopy(cron["spec"]["jobTemplate"])
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
        with self._lock:
            runs = [r for r in self.runs.values() if not r.done]
        for run in runs:
            if run.steps:
                step = run.steps.pop(0)
                if self.api.get(run.plural, run.namespace, run.name) is not None:
                    step(self, run)
                moved = True
            else:
                run.done = True
        return moved

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
        specs = obj["spec"]["mpiReplicaSpecs"]
        launcher_uid = f"{run.uid[:-4]}aaaa"
        pods = [(f"{run.name}-worker-{i}", specs["Worker"]["template"], run.uid)
                for i in range(int(specs["Worker"].get("replicas", 1)))]
        return [(f"{run.name}-launcher-x1", specs["Launcher"]["template"], launcher_uid), *pods]

    def mutate_pods(self, run: SimRun, change: Callable[[dict[str, Any]], None], *, only: str | None = None) -> None:
        for name in run.pods:
            if only is None or only in name:
                if self.api.get("pods", run.namespace, name) is not None:
                    self.api.mutate("pods", run.namespace, name, change)

    def set_condition(self, run: SimRun, type_: str, reason: str = "", message: str = "") -> None:
        now = rfc3339(self.clock())

        def change(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            conds = [c for c in status.get("conditions", []) if c["type"] != type_]
            conds.append({"type": type_, "status": "True", "reason": reason, "message": message,
                          "lastTransitionTime": now, "lastProbeTime": now})
            status["conditions"] = conds
            if type_ in ("Complete", "Succeeded"):
                status["completionTime"] = now

        self.api.mutate(run.plural, run.namespace, run.name, change)

    # -- what the Job controller does on suspend and delete -----------------------------------------

    def watch_suspend(self) -> None:
        """Apply suspends made over HTTP (by the controller or `anubis cancel`): pods go, Suspended."""
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            obj = self.api.get(run.plural, run.namespace, run.name)
            if obj is None:
                continue
            spec = obj.get("spec", {})
            suspended = spec.get("suspend") if run.plural == "jobs" else spec.get("runPolicy", {}).get("suspend")
            conds = {c["type"] for c in obj.get("status", {}).get("conditions", [])}
            if suspended and "Suspended" not in conds:
                run.steps.clear()
                for pod in list(run.pods):
                    self.api.delete("pods", run.namespace, pod)
                self.set_condition(run, "Suspended", "JobSuspended", "Job suspended")

    def _deleted(self, plural: str, obj: dict[str, Any]) -> None:
        if plural not in ("jobs", "mpijobs"):
            return
        with self._lock:
            run = self.runs.get((obj["metadata"]["namespace"], obj["metadata"]["name"]))
        if run is None:
            return
        run.steps.clear()
        for pod in list(run.pods):
            self.api.delete("pods", run.namespace, pod)


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


def _create_pods(sim: ClusterSimulator, run: SimRun) -> None:
    for name, template, owner_uid in sim.pod_templates(run):
        spec = copy.deepcopy(template["spec"])
        init = spec.get("initContainers", [])
        pod = {
            "metadata": {"name": name, "namespace": run.namespace, "labels": dict(template["metadata"]["labels"]),
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": run.name,
                                              "uid": owner_uid, "controller": True}]},
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
        if run.plural == "jobs":
            pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] = run.name
        sim.api.create("pods", pod)
        run.pods.append(name)
    now = rfc3339(sim.clock())
    sim.api.mutate(run.plural, run.namespace, run.name,
                   lambda o: o.setdefault("status", {}).update({"startTime": now, "active": len(run.pods)}))


def _schedule(sim: ClusterSimulator, run: SimRun) -> None:
    now = rfc3339(sim.clock())

    def change(pod: dict[str, Any]) -> None:
        pod["spec"]["nodeName"] = run.node
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now}]
        if any(c["name"] == FETCH for c in pod["status"]["initContainerStatuses"]):
            _set_container(pod, FETCH, {"running": {"startedAt": now}}, started=True)
        pod["status"]["phase"] = "Pending"

    sim.mutate_pods(run, change)


def _start(sim: ClusterSimulator, run: SimRun) -> None:
    """Init done, sidecar started, main containers running."""
    now = rfc3339(sim.clock())

    def change(pod: dict[str, Any]) -> None:
        for c in pod["status"]["initContainerStatuses"]:
            if c["name"] == FETCH:
                c["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}
            else:  # native sidecar
                c.update(state={"running": {"startedAt": now}}, started=True, ready=True,
                         imageID=f"{c['image']}@sha256:{'5' * 64}")
        for c in pod["status"]["containerStatuses"]:
            c.update(state={"running": {"startedAt": now}}, started=True, ready=True,
                     imageID=f"docker-pullable://{c['image']}@sha256:{'d' * 64}")
        pod["status"]["phase"] = "Running"

    sim.mutate_pods(run, change)


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

def _job_done(type_: str, reason: str = "", message: str = "") -> Step:
    def step(sim: ClusterSimulator, run: SimRun) -> None:
        if run.plural == "mpijobs":
            type_mpi = {"Complete": "Succeeded"}.get(type_, type_)
            sim.set_condition(run, type_mpi, reason or ("MPIJobSucceeded" if type_mpi == "Succeeded" else reason), message)
        else:
            sim.set_condition(run, type_, reason, message)
    return step


def _mpi_running(sim: ClusterSimulator, run: SimRun) -> None:
    if run.plural == "mpijobs":
        sim.set_condition(run, "Running", "MPIJobRunning", f"MPIJob {run.namespace}/{run.name} is running.")


def succeed() -> list[Step]:
    def finish(sim: ClusterSimulator, run: SimRun) -> None:
        _terminate(sim, run, MAIN, 0, "Completed")

    return [_create_pods, _schedule, _start, _mpi_running, finish, _job_done("Complete")]


def exit_code(code: int, container: str = MAIN) -> list[Step]:
    def finish(sim: ClusterSimulator, run: SimRun) -> None:
        _terminate(sim, run, container, code, "Error")

    return [_create_pods, _schedule, _start, _mpi_running, finish,
            _job_done("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]


def oom_killed(container: str = MAIN, only: str | None = None) -> list[Step]:
    def finish(sim: ClusterSimulator, run: SimRun) -> None:
        _terminate(sim, run, container, 137, "OOMKilled", only=only)

    return [_create_pods, _schedule, _start, _mpi_running, finish,
            _job_done("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]


def image_pull_failure(image_message: str = "") -> list[Step]:
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

    return [_create_pods, _schedule, pulling("ErrImagePull"), pulling("ImagePullBackOff")]


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


def fetch_failure(message: str) -> list[Step]:
    def fail(sim: ClusterSimulator, run: SimRun) -> None:
        now = rfc3339(sim.clock())

        def change(pod: dict[str, Any]) -> None:
            _set_container(pod, FETCH, {"terminated": {"exitCode": 1, "reason": "Error", "message": message,
                                                       "startedAt": now, "finishedAt": now}})
            pod["status"]["phase"] = "Failed"
        sim.mutate_pods(run, change, only=None if run.plural == "jobs" else "-worker-")

    return [_create_pods, _schedule, fail,
            _job_done("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]


def deadline_exceeded() -> list[Step]:
    def kill(sim: ClusterSimulator, run: SimRun) -> None:
        for pod in list(run.pods):
            sim.api.delete("pods", run.namespace, pod)

    return [_create_pods, _schedule, _start, _mpi_running,
            _job_done("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"), kill]


def hang() -> list[Step]:
    return [_create_pods, _schedule, _start, _mpi_running]
