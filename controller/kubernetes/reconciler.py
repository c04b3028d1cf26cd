"""The reconcile loop of ``anubis controller``: watch, decide, act, record once.

Watchers (:mod:`.watching`) keep a small typed view of every tracked run and its pods and queue the
run's key on every change; a pool of workers takes keys from the queue, one run at a time per key
(a key being reconciled is never taken by a second worker: a change meanwhile queues it again), so
each run has one worker while it is reconciled and costs only its :class:`RunState` between times.

A final decision is reported once (:mod:`.recording`: logs read, metrics extracted, the result stored
— ``put`` refuses an execution id that is already stored — judged and exported), then the Job is annotated
``anubis.dev/reported: <execution_id>`` (by :mod:`.marking`, in the background, once no work is queued
or for a few seconds at most: the running controller forgets the run as it reports it, the mark is for
the next one). A run whose object carries that
mark is never reported again; one whose mark was not written (killed between ``put`` and the mark)
is exported and marked on the next start (exports are idempotent), never stored twice. See
``docs/controller.md``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from controller.exporting.base import Exporter
from controller.kubernetes.client import (
    JOBS,
    MPIJOBS,
    PODS,
    KubeClient,
    Resource,
)
from controller.kubernetes.marking import Mark, ReportedMarks
from controller.kubernetes.namespaces import NAMESPACES, NamespaceTracker
from controller.kubernetes.observed import (
    OUTCOME_ANNOTATION,
    ROLE_LABEL,
    RUN_ID_LABEL,
    SELECTOR,
    PodState,
    RunState,
    pod_from_object,
    run_from_object,
)
from controller.kubernetes.queueing import deactivate, with_queue_state
from controller.kubernetes.recording import Reported, RunRecorder, runspec_of
from controller.kubernetes.settings import ControllerSettings
from controller.kubernetes.sinks import MetricsSink, NullMetrics, StatusPublisher
from controller.kubernetes.statuses import (
    Decision,
    Report,
    Suspend,
    decide,
    outcome_annotation,
)
from controller.kubernetes.usage import usage_recorder
from controller.kubernetes.watching import Watcher
from controller.store import ResultStore
from schemas.errors import AnubisError, NotFoundError
from schemas.status import RunStatus

log = logging.getLogger(__name__)


@dataclass
class _Tracked:
    state: RunState
    resource: Resource
    status: RunStatus | None = None
    reason: str = ""
    retry: bool = False
    recheck: bool = False  # the last decision runs against a deadline: decide again on each tick
    behind_since: float | None = None  # monotonic time a final decision first waited for the pod watch


def pod_index_key(namespace: str, *, owner_uid: str = "", mpi_run_id: str = "") -> str:
    return f"{namespace}/mpi/{mpi_run_id}" if mpi_run_id else f"{namespace}/{owner_uid}"


class Controller:
    """Follows every run in the configured namespaces until it is reported."""


    def __init__(
        self,
        client: KubeClient,
        store: ResultStore,
        *,
        settings: ControllerSettings = ControllerSettings(),
        exporters: Sequence[Exporter] = (),
        metrics: MetricsSink | None = None,
        clock: Callable[[], float] = time.time,
        on_report: Callable[[Reported], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.exporters = tuple(exporters)
        self.metrics: MetricsSink = metrics or NullMetrics()
        self.clock = clock
        self.on_report = on_report
        self.recorder = RunRecorder(client, store, exporters=self.exporters, metrics=self.metrics, clock=clock,
                                    on_report=on_report, usage=usage_recorder(settings))
        self.marks = ReportedMarks(client, busy=self._busy)  # the marks wait while reports are due
        self._lock = threading.Lock()
        self._runs: dict[str, _Tracked] = {}
        self._pods: dict[str, dict[str, PodState]] = {}  # pod index key -> pod name -> state
        self._done: set[str] = set()  # keys of runs reported (or found reported)
        self._mpi_runs: dict[str, str] = {}  # pod index key of an MPIJob's pods -> its run key
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.watchers: list[Watcher] = []
        self._dynamic: dict[str, threading.Event] = {}  # namespaces watched as they come (previews) -> their stop
        self._pod_watchers: dict[str | None, Watcher] = {}  # namespace -> its pod watch

    # -- life -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.settings.one_cpu:  # before the threads start: each inherits its starter's CPUs
            from controller.kubernetes.affinity import pin_to_one_cpu

            pin_to_one_cpu()
        dynamic = self.settings.dynamic_namespaces
        namespaces: tuple[str | None, ...] = self.settings.namespaces or (() if dynamic else (None,))
        for namespace in namespaces:
            self._watch_namespace(namespace, self._stop)
        if dynamic:
            tracker = NamespaceTracker(self._namespace_added, self._namespace_removed,
                                       pattern=self.settings.namespace_pattern)
            watcher = Watcher(self.client, NAMESPACES, None, self.settings.namespace_selector, tracker,
                              stop=self._stop, resync_seconds=self.settings.resync_seconds, restarts=self.metrics)
            self.watchers.append(watcher)
            self._spawn(watcher.run, "watch-namespaces")
        self.marks.start()
        for i in range(max(1, self.settings.workers)):
            self._spawn(self._work, f"reconcile-{i}")
        self._spawn(self._tick, "tick")
        fixed = ", ".join(n or "all namespaces" for n in namespaces) or "no fixed namespace"
        matching = " ".join(filter(None, (self.settings.namespace_selector, self.settings.namespace_pattern)))
        log.info("controller started: watching %s%s", fixed, f", and namespaces matching {matching}" if dynamic else "")

    def _watch_namespace(self, namespace: str | None, stop: threading.Event) -> None:
        kinds = [JOBS, PODS] + ([MPIJOBS] if self.settings.watch_mpijobs else [])
        for resource in kinds:
            watcher = Watcher(self.client, resource, namespace, SELECTOR, self, stop=stop,
                              resync_seconds=self.settings.resync_seconds, restarts=self.metrics)
            with self._lock:
                self.watchers.append(watcher)
                if resource is PODS:
                    self._pod_watchers[namespace] = watcher
            self._spawn(watcher.run, f"watch-{resource.plural}-{namespace or 'all'}")

    def _namespace_added(self, namespace: str) -> None:
        if namespace in self.settings.namespaces:
            return
        with self._lock:
            if namespace in self._dynamic or self._stop.is_set():
                return
            self._dynamic[namespace] = stop = threading.Event()
        log.info("watching namespace %s", namespace)
        self._watch_namespace(namespace, stop)

    def _namespace_removed(self, namespace: str) -> None:
        with self._lock:
            stop = self._dynamic.pop(namespace, None)
            if stop is not None:
                self.watchers = [w for w in self.watchers if w.namespace != namespace]
        if stop is not None:
            log.info("namespace %s is gone; no longer watched", namespace)
            stop.set()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def wait_synced(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            watchers = list(self.watchers)
        for watcher in watchers:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not watcher.synced.wait(left):
                return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers and watchers (a watch blocked in a read ends with its connection; the
        threads are daemons, so a process that exits does not wait for them), then write the reported
        marks still due, all within ``timeout``."""
        self._stop.set()
        with self._lock:
            for stop in self._dynamic.values():
                stop.set()
        for _ in range(max(1, self.settings.workers)):
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.marks.stop(max(0.0, deadline - time.monotonic()))  # after the workers: their last marks too

    def tracked(self) -> int:
        with self._lock:
            return len(self._runs)

    def _busy(self) -> bool:
        """A run queued or being reconciled (the reported marks wait for it: reports go first)."""
        with self._lock:
            return bool(self._queued or self._active)

    def idle(self) -> bool:
        """Nothing queued, nothing being reconciled, no reported mark left to write."""
        return not self._busy() and self.marks.pending() == 0

    # -- what the watchers see (WatchSink) ---------------------------------------------------------

    def snapshot(self, resource: Resource, namespace: str | None, objects: Iterable[dict[str, Any]]) -> None:
        if resource is PODS:
            self._pod_snapshot(namespace, objects)
            return
        seen: set[str] = set()
        for obj in objects:
            key = self._run_object(resource, obj, deleted=False)
            if key:
                seen.add(key)
        kind = "MPIJob" if resource is MPIJOBS else "Job"
        with self._lock:
            gone = [k for k, t in self._runs.items() if t.state.kind == kind and k not in seen
                    and (namespace is None or t.state.namespace == namespace)]
            for key in gone:  # deleted while no watch was looking
                t = self._runs[key]
                t.state = replace(t.state, deleted=True)
        for key in gone:
            self._enqueue(key)

    def event(self, resource: Resource, kind: str, obj: dict[str, Any]) -> None:
        if resource is PODS:
            self._pod_event(kind, obj)
        elif kind != "DELETED" and self._reported(obj):
            return  # the run's own reported mark coming back, and any later change: nothing to parse
        else:
            self._run_object(resource, obj, deleted=kind == "DELETED")

    def _reported(self, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('uid', '')}"
        with self._lock:
            return key in self._done

    def _run_object(self, resource: Resource, obj: dict[str, Any], *, deleted: bool) -> str | None:
        state = run_from_object(obj)
        if state is None:
            return None
        if deleted:
            state = replace(state, deleted=True)
        key = state.key
        with self._lock:
            if key in self._done:
                if deleted:
                    self._done.discard(key)
                return key
            if state.reported == state.execution_id:  # reported before (by us or a previous life)
                self._forget(key, state)
                return key
            tracked = self._runs.get(key)
            if tracked is None:
                self._runs[key] = _Tracked(state, resource)
                if state.kind == "MPIJob":
                    self._mpi_runs[self._pod_key(state)] = key
            else:
                tracked.state = state
            count = len(self._runs)
        self.metrics.tracked(count)
        self._enqueue(key)
        return key

    def _forget(self, key: str, state: RunState) -> None:
        """Stop tracking a reported run (lock held)."""
        self._runs.pop(key, None)
        self._done.add(key)
        self._pods.pop(self._pod_key(state), None)
        if state.kind == "MPIJob":
            self._mpi_runs.pop(self._pod_key(state), None)

    @staticmethod
    def _pod_key(state: RunState) -> str:
        if state.kind == "MPIJob":
            return pod_index_key(state.namespace, mpi_run_id=state.run_id)
        return pod_index_key(state.namespace, owner_uid=state.uid)

    @staticmethod
    def _pod_key_of(obj: dict[str, Any], pod: PodState) -> str:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        namespace = meta.get("namespace", "")
        if labels.get(ROLE_LABEL) in ("launcher", "worker"):
            return pod_index_key(namespace, mpi_run_id=labels.get(RUN_ID_LABEL, ""))
        return pod_index_key(namespace, owner_uid=pod.owner_uid)

    def _pod_snapshot(self, namespace: str | None, objects: Iterable[dict[str, Any]]) -> None:
        index: dict[str, dict[str, PodState]] = {}
        for obj in objects:
            pod = pod_from_object(obj)
            index.setdefault(self._pod_key_of(obj, pod), {})[pod.name] = pod
        with self._lock:
            for key in [k for k in self._pods if namespace is None or k.startswith(f"{namespace}/")]:
                known = self._pods.pop(key)
                if key in index:  # pods gone while no watch looked: kept as deleting, as on DELETED
                    for name, pod in known.items():
                        index[key].setdefault(name, replace(pod, deleting=True))
            self._pods.update(index)
            affected = [k for k, t in self._runs.items() if namespace is None or t.state.namespace == namespace]
        for key in affected:
            self._enqueue(key)

    def _pod_event(self, kind: str, obj: dict[str, Any]) -> None:
        pod = pod_from_object(obj)
        index_key = self._pod_key_of(obj, pod)
        with self._lock:
            if kind == "DELETED":
                # Kept, marked deleting, until the run is reported: a preempted or evicted pod is often
                # gone (the Job controller removed its finalizer) before the Job's Failed arrives, and
                # it is the pod that says why.
                pods = self._pods.get(index_key)
                if pods is not None and pod.name in pods:
                    pods[pod.name] = replace(pod, deleting=True)
            else:
                self._pods.setdefault(index_key, {})[pod.name] = pod
            key = self._mpi_runs.get(index_key) if "/mpi/" in index_key else index_key
            tracked = key is not None and key in self._runs
        if key is not None and tracked:
            self._enqueue(key)

    # -- the work queue ----------------------------------------------------------------------------

    def _enqueue(self, key: str) -> None:
        with self._lock:
            if key in self._active:
                self._dirty.add(key)
                return
            if key in self._queued:
                return
            self._queued.add(key)
        self._queue.put(key)

    def _work(self) -> None:
        while not self._stop.is_set():
            key = self._queue.get()
            if key is None:
                return
            with self._lock:
                self._queued.discard(key)
                self._active.add(key)
            try:
                self.reconcile(key)
            except Exception:  # noqa: BLE001 - one run's trouble never stops the others
                log.exception("reconciling %s failed; it is tried again", key)
                with self._lock:
                    tracked = self._runs.get(key)
                    if tracked is not None:
                        tracked.retry = True
            finally:
                with self._lock:
                    self._active.discard(key)
                    again = key in self._dirty
                    self._dirty.discard(key)
                if again:
                    self._enqueue(key)

    def _tick(self) -> None:
        """Look again at runs waiting on a deadline (unschedulable, workers never Ready, a pull backing
        off) or whose last action failed."""
        while not self._stop.wait(self.settings.tick_seconds):
            with self._lock:
                keys = [k for k, t in self._runs.items()
                        if t.retry or t.recheck or t.status in (None, RunStatus.PENDING)]
            for key in keys:
                self._enqueue(key)

    # -- one run -----------------------------------------------------------------------------------

    def reconcile(self, key: str) -> Decision | None:
        with self._lock:
            tracked = self._runs.get(key)
            if tracked is None:
                return None
            pods = tuple(self._pods.get(self._pod_key(tracked.state), {}).values())
            state = tracked.state.with_pods(pods)
            resource = tracked.resource
            previous = tracked.status
            tracked.retry = False
        if state.suspended and state.queue and not state.outcome:
            state = with_queue_state(self.client, state)
            if state.queue_state == "deactivated":  # `anubis cancel` writes its outcome first: it may not be seen yet
                state = self._with_fresh_outcome(resource, state)
        policy = self.settings.policy_for(state.environment)
        decision = decide(state, self.clock(), policy)
        if decision.final and decision.actions and not self._pods_settled(state, decision):
            # Pods come on their own watch, maybe behind the Job's: read them fresh (keeping those gone
            # as deleting). A pod that explains a failure (preempted, evicted) is often deleted by then:
            # when none explains it, wait (a little) for the pod watch to reach the object's version.
            state = state.with_pods(self._fresh_pods(state))
            decision = decide(state, self.clock(), policy)
            if decision.unexplained:
                if self._pods_behind(key, state):
                    return None
                # caught up: the pod watch may have handed over (a deleted pod's last state) since the
                # pods above were taken from its cache; decide on the cache as it is now
                with self._lock:
                    cached = tuple(self._pods.get(self._pod_key(state), {}).values())
                state = state.with_pods(cached)
                state = state.with_pods(self._fresh_pods(state))
                decision = decide(state, self.clock(), policy)
        with self._lock:
            if key in self._runs:
                self._runs[key].recheck = decision.recheck
        if decision.status != previous:
            self._transition(state, previous, decision)
            with self._lock:
                if key in self._runs:
                    self._runs[key].status, self._runs[key].reason = decision.status, decision.reason
        for action in decision.actions:
            if isinstance(action, Suspend):
                self._suspend(resource, state, action)
            elif isinstance(action, Report):
                self._report(resource, state, decision)
                with self._lock:
                    self._forget(key, state)
                    count = len(self._runs)
                self.metrics.tracked(count)
        return decision

    def _pod_watch_reached(self, state: RunState) -> bool:
        """True when the pod watch of the run's namespace has handed over the run object's
        resourceVersion (one counter for every kind: every pod change before it is in the cache)."""
        with self._lock:
            watcher = self._pod_watchers.get(state.namespace) or self._pod_watchers.get(None)
        return (watcher is not None and state.resource_version.isdigit()
                and watcher.seen >= int(state.resource_version))

    def _pods_settled(self, state: RunState, decision: Decision) -> bool:
        """Whether a final decision may be reported from the cached pods, without listing them again
        (a LIST per finished run is the API server's heaviest read, and the report's slowest step):
        when the pod watch has reached the run object's version, or when a Job that completed has its
        succeeded pod in the cache. A Job runs one pod at a time and makes none after the one that
        succeeds (``completions`` 1, as rendered), and a pod that has succeeded changes no more: what
        the report reads (its node, its image, its log) is there. A failure, a cancel and an MPIJob
        (several pods, each of which may say why) are read fresh unless the watch has caught up."""
        if decision.unexplained:
            return False
        if self._pod_watch_reached(state):
            return True
        return (state.kind == "Job" and decision.status is RunStatus.SUCCEEDED
                and any(p.phase == "Succeeded" for p in state.pods))

    POD_WATCH_WAIT = 5.0
    """How long a final decision waits for the pod watch to catch up with the run's object."""

    def _pods_behind(self, key: str, state: RunState) -> bool:
        """True while the pod watch of the run's namespace has not yet handed over the run object's
        resourceVersion (the API's versions are etcd revisions: one counter for every kind), for at
        most :attr:`POD_WATCH_WAIT`; the tick looks again meanwhile."""
        with self._lock:
            watcher = self._pod_watchers.get(state.namespace) or self._pod_watchers.get(None)
            tracked = self._runs.get(key)
            if watcher is None or tracked is None or not state.resource_version.isdigit():
                return False
            if watcher.seen >= int(state.resource_version):
                tracked.behind_since = None
                return False
            now = time.monotonic()
            if tracked.behind_since is None:
                tracked.behind_since = now
            if now - tracked.behind_since >= self.POD_WATCH_WAIT:
                log.info("the pod watch of %s is still behind %s %s; deciding without it",
                         state.namespace, state.kind, state.name)
                return False
            tracked.retry = True
            return True

    def _fresh_pods(self, state: RunState) -> tuple[PodState, ...]:
        """The run's pods read now, with those seen before and gone since kept as deleting."""
        objects, _ = self.client.list_all(PODS, state.namespace, f"{RUN_ID_LABEL}={state.run_id}")
        own = self._pod_key(state)
        pods = {p.name: replace(p, deleting=True) for p in state.pods}
        for obj in objects:
            pod = pod_from_object(obj)
            if self._pod_key_of(obj, pod) == own:
                pods[pod.name] = pod
        return tuple(pods.values())

    def _transition(self, state: RunState, previous: RunStatus | None, decision: Decision) -> None:
        what = f"{state.kind} {state.namespace}/{state.name} (execution {state.execution_id})"
        because = f": {decision.reason}" if decision.reason else ""
        if decision.final:
            log.info("%s finished %s%s", what, decision.status.value, because)
        elif previous is None:
            log.info("%s is %s%s", what, decision.status.value, because)
        else:
            log.info("%s went from %s to %s%s", what, previous.value, decision.status.value, because)
        self.metrics.transition(decision.status)
        publishers = [e for e in self.exporters if isinstance(e, StatusPublisher)]
        if publishers and not decision.final:
            spec = runspec_of(state)
            for publisher in publishers:
                if spec is not None:
                    try:
                        publisher.push_status(spec, state.execution_id, decision.status)
                    except AnubisError as e:
                        log.warning("publishing the status of %s failed: %s", state.execution_id, e)

    def _with_fresh_outcome(self, resource: Resource, state: RunState) -> RunState:
        """``state`` with the outcome annotation the object has now (the watch may be behind the API)."""
        try:
            obj = self.client.get(resource, state.namespace, state.name)
        except AnubisError:
            return state
        outcome = ((obj.get("metadata") or {}).get("annotations") or {}).get(OUTCOME_ANNOTATION)
        return replace(state, outcome=outcome) if outcome else state

    def _suspend(self, resource: Resource, state: RunState, action: Suspend) -> None:
        if state.suspended and state.outcome:
            return
        log.info("stopping %s %s/%s: %s", state.kind, state.namespace, state.name, action.reason)
        try:
            self.client.suspend(resource, state.namespace, state.name,
                                {OUTCOME_ANNOTATION: outcome_annotation(action.status, action.reason)})
        except NotFoundError:
            log.info("%s %s/%s is already gone", state.kind, state.namespace, state.name)
            return
        if state.queue:  # Kueue would start it again while its Workload is active
            try:
                deactivate(self.client, state.namespace, state.uid)
            except AnubisError as e:
                log.warning("could not deactivate the Kueue workload of %s/%s (%s): Kueue may start it again",
                            state.namespace, state.name, e)

    # -- reporting ---------------------------------------------------------------------------------

    def _report(self, resource: Resource, state: RunState, decision: Decision) -> None:
        self.recorder.record(state, decision)
        if not state.deleted:  # marked in the background (marking.py): the next report need not wait
            self.marks.add(Mark(resource, state.namespace, state.name, state.execution_id))


