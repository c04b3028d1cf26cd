"""Following one cluster run from the terminal: find it, see its status, watch it to its end.

Read-only, through :class:`~controller.kubernetes.client.KubeClient` (list, get, watch): what
``anubis status --cluster`` and ``anubis logs --cluster`` need. The status is the controller's own,
:func:`~controller.kubernetes.statuses.decide` applied to the Job (or MPIJob) and its pods as they are
now, so the terminal and the controller never disagree on a run's status or its sentence.

A run is found by its run id (its newest execution: each CronJob firing is a new Job) or by one
execution id, ``<run_id>-<first 8 hex of the uid>``, with the label ``anubis.dev/run-id`` in each of
the given namespaces. Pods belong to a Job by their controller's uid, to an MPIJob by run id and role
``launcher``/``worker`` (as in :mod:`controller.kubernetes.reconciler`).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from controller.kubernetes.client import JOBS, MPIJOBS, PODS, KubeClient, Resource
from controller.kubernetes.observed import (
    RUN_ID_LABEL,
    SELECTOR,
    SERVER_CONTAINER,
    PodState,
    RunState,
    pod_from_object,
    run_from_object,
)
from controller.kubernetes.queueing import with_queue_state
from controller.kubernetes.statuses import Decision, StatusPolicy, decide
from controller.kubernetes.watching import Watcher
from schemas.errors import NotFoundError

EXECUTION_ID = re.compile(r"^(?P<run>.+)-(?P<uid>[0-9a-f]{8})$")
BENCHMARK_LABEL = "anubis.dev/benchmark"
COMMIT_ANNOTATION = "anubis.dev/source-commit"
RUN_KINDS = (JOBS, MPIJOBS)


@dataclass(frozen=True)
class ClusterRun:
    """One execution on the cluster as seen now: its object's state with its pods."""

    resource: Resource
    state: RunState
    benchmark: str
    commit: str | None

    @property
    def execution_id(self) -> str:
        return self.state.execution_id

    @property
    def inference(self) -> bool:
        """An inference run (a server beside the benchmark): its containers are labelled client/server."""
        if any(c.name == SERVER_CONTAINER for p in self.state.pods for c in p.containers):
            return True
        try:
            spec = json.loads(self.state.runspec) if self.state.runspec else {}
        except ValueError:
            return False
        return isinstance(spec, dict) and spec.get("server") is not None

    def decision(self, now: float, policy: StatusPolicy = StatusPolicy()) -> Decision:
        return decide(self.state, now, policy)


def _uid8(state: RunState) -> str:
    return state.uid.replace("-", "")[:8]


def pods_of(state: RunState, objects: Iterable[dict[str, Any]]) -> tuple[PodState, ...]:
    """The pods among ``objects`` that belong to the run (a Job's by owner uid, an MPIJob's by role)."""
    pods: list[PodState] = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        if meta.get("namespace", state.namespace) != state.namespace:
            continue
        pod = pod_from_object(obj)
        if state.kind == "MPIJob":
            if pod.role in ("launcher", "worker") and labels.get(RUN_ID_LABEL) == state.run_id:
                pods.append(pod)
        elif pod.owner_uid == state.uid:
            pods.append(pod)
    return tuple(sorted(pods, key=lambda p: p.name))


def cluster_run(resource: Resource, obj: dict[str, Any], pod_objects: Iterable[dict[str, Any]]) -> ClusterRun | None:
    state = run_from_object(obj)
    if state is None:
        return None
    meta = obj.get("metadata") or {}
    return ClusterRun(
        resource=resource,
        state=state.with_pods(pods_of(state, pod_objects)),
        benchmark=(meta.get("labels") or {}).get(BENCHMARK_LABEL, ""),
        commit=(meta.get("annotations") or {}).get(COMMIT_ANNOTATION) or None,
    )


def _lookup(client: KubeClient, run_id: str, namespaces: Iterable[str]) -> list[tuple[str, Resource, dict[str, Any]]]:
    selector = f"{RUN_ID_LABEL}={run_id}"
    found: list[tuple[str, Resource, dict[str, Any]]] = []
    for namespace in namespaces:
        for resource in RUN_KINDS:
            try:
                items = client.find_by_label(resource, namespace, selector)
            except NotFoundError:  # the MPIJob CRD is not installed
                continue
            found.extend((namespace, resource, item) for item in items)
    return found


def find_run(client: KubeClient, ref: str, namespaces: tuple[str, ...]) -> ClusterRun:
    """The newest execution of run id ``ref``, or execution ``ref``; :class:`NotFoundError` if none."""
    wanted: str | None = None
    found = _lookup(client, ref, namespaces)
    match = EXECUTION_ID.match(ref)
    if not found and match:
        wanted = match["uid"]
        found = _lookup(client, match["run"], namespaces)
    states = [(ns, r, o, s) for ns, r, o in found if (s := run_from_object(o)) is not None
              and (wanted is None or _uid8(s) == wanted)]
    if not states:
        raise NotFoundError(
            f"no run or execution {ref!r} on the cluster (namespaces {', '.join(namespaces)}): give a whole run id "
            "or execution id (the cluster is searched by label, not by prefix); check the namespace with --namespace"
        )
    namespace, resource, obj, state = max(states, key=lambda t: (t[3].created or 0.0, t[3].name))
    pods, _ = client.list_all(PODS, namespace, f"{RUN_ID_LABEL}={state.run_id}")
    run = cluster_run(resource, obj, pods)
    assert run is not None
    return queued(client, run)


def observe(client: KubeClient, run: ClusterRun) -> ClusterRun:
    """The run as it is now (a deleted object is marked deleted, its last state kept)."""
    state = run.state
    try:
        obj = client.get(run.resource, state.namespace, state.name)
    except NotFoundError:
        return replace(run, state=replace(state, deleted=True, pods=()))
    obj.setdefault("kind", run.resource.kind)
    pods, _ = client.list_all(PODS, state.namespace, f"{RUN_ID_LABEL}={state.run_id}")
    fresh = cluster_run(run.resource, obj, pods)
    if fresh is None or fresh.state.uid != state.uid:  # replaced by another object of the same name
        return replace(run, state=replace(state, deleted=True, pods=()))
    return queued(client, fresh)


def list_cluster_runs(client: KubeClient, namespaces: tuple[str, ...]) -> list[ClusterRun]:
    """Every run (Job or MPIJob) Anubis manages in ``namespaces``, with its pods (two lists per kind)."""
    runs: list[ClusterRun] = []
    for namespace in namespaces:
        pods, _ = client.list_all(PODS, namespace, SELECTOR)
        for resource in RUN_KINDS:
            try:
                objects, _ = client.list_all(resource, namespace, SELECTOR)
            except NotFoundError:
                continue
            for obj in objects:
                run = cluster_run(resource, obj, pods)
                if run is not None:
                    runs.append(queued(client, run))
    return runs


def queued(client: KubeClient, run: ClusterRun) -> ClusterRun:
    """A run Kueue holds, with what its Workload says (why it waits); any other run as it is."""
    state = run.state
    if state.suspended and state.queue and not state.outcome:
        return replace(run, state=with_queue_state(client, state))
    return run


class _RunSink:
    """What the two watches (the run's object, its pods) saw; a change wakes the follower."""

    def __init__(self, run: ClusterRun) -> None:
        self.run = run
        self.changed = threading.Condition()
        self.version = 0
        self._pods: dict[str, dict[str, Any]] = {}
        self._obj: dict[str, Any] | None = None
        self._deleted = False

    def _bump(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def snapshot(self, resource: Resource, namespace: str | None, objects: Iterable[dict[str, Any]]) -> None:
        with self.changed:
            if resource is PODS:
                self._pods = {o["metadata"]["name"]: o for o in objects}
            else:
                own = [o for o in objects if (o.get("metadata") or {}).get("uid") == self.run.state.uid]
                self._obj, self._deleted = (own[0], False) if own else (None, True)
            self._bump()

    def event(self, resource: Resource, kind: str, obj: dict[str, Any]) -> None:
        with self.changed:
            name = (obj.get("metadata") or {}).get("name", "")
            if resource is PODS:
                if kind == "DELETED":  # kept, as deleting: a preempted or evicted pod says why the run ended
                    meta = dict(obj.get("metadata") or {})
                    meta.setdefault("deletionTimestamp", meta.get("creationTimestamp") or "deleted")
                    self._pods[name] = {**obj, "metadata": meta}
                else:
                    self._pods[name] = obj
            elif (obj.get("metadata") or {}).get("uid") == self.run.state.uid:
                if kind == "DELETED":
                    self._deleted = True
                else:
                    self._obj = obj
            self._bump()

    def current(self) -> ClusterRun:
        """The run from what the watches hold (lock held by the caller)."""
        state = self.run.state
        if self._obj is not None:
            self._obj.setdefault("kind", self.run.resource.kind)
            fresh = cluster_run(self.run.resource, self._obj, self._pods.values())
            if fresh is not None:
                self.run = fresh
                state = fresh.state
        else:
            state = state.with_pods(pods_of(state, self._pods.values()))
        if self._deleted:
            state = replace(state, deleted=True)
        return replace(self.run, state=state)


class RunWatch:
    """Follows one run through watches of its object and its pods (list → watch → list again on
    ``410 Gone`` or a dropped connection, as the controller's watchers do) and answers each change of
    status, until the final one."""

    def __init__(self, client: KubeClient, run: ClusterRun, *, policy: StatusPolicy = StatusPolicy(),
                 clock: Callable[[], float] = time.time, resync_seconds: int = 60, recheck: float = 1.0) -> None:
        self.client = client
        self.run = run
        self.policy = policy
        self.clock = clock
        self.resync_seconds = resync_seconds
        self.recheck = recheck  # deadlines ("unschedulable for 16m") move with the clock, not events

    def transitions(self) -> Iterator[tuple[float, ClusterRun, Decision]]:
        """``(time, run, decision)`` for each new status, the current one first; ends after a final one."""
        sink = _RunSink(self.run)
        stop = threading.Event()
        selector = f"{RUN_ID_LABEL}={self.run.state.run_id}"
        watchers = [Watcher(self.client, resource, self.run.state.namespace, selector, sink, stop=stop,
                            resync_seconds=self.resync_seconds) for resource in (self.run.resource, PODS)]
        threads = [threading.Thread(target=w.run, name=f"watch-{w.resource.plural}", daemon=True) for w in watchers]
        for thread in threads:
            thread.start()
        last = None
        seen = -1
        try:
            while True:
                with sink.changed:
                    if sink.version == seen:
                        sink.changed.wait(self.recheck)
                    seen = sink.version
                    synced = all(w.synced.is_set() for w in watchers)
                    run = sink.current()
                if not synced:
                    continue
                decision = run.decision(self.clock(), self.policy)
                if decision.status is not last:
                    last = decision.status
                    yield self.clock(), run, decision
                if decision.final:
                    return
        finally:
            stop.set()
