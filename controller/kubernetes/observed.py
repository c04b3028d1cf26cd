"""The observed state of a run on Kubernetes, typed and small, built from raw API objects.

A run is one Job (a single-node or inference run, or one firing of a CronJob) or one MPIJob, with
its pods. Only what :func:`controller.kubernetes.statuses.decide` and the result need is kept, so a
tracked run costs little memory: the raw objects are let go as soon as they are read (the watches
stream even their first list), and the RunSpec annotation, the largest part of a run (2–3 KiB of
JSON), is kept compressed and shared between runs that carry the same one (:class:`PackedText`: the
Jobs of a CronJob, a run seen again on every event) and parsed only when the run is reported.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import weakref
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Literal

MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_ID_LABEL = "anubis.dev/run-id"
ENVIRONMENT_LABEL = "anubis.dev/environment"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"  # the run waits in this Kueue LocalQueue (docs/gpu-fleet.md)
ROLE_LABEL = "anubis.dev/role"
RUNSPEC_ANNOTATION = "anubis.dev/runspec"
REPORTED_ANNOTATION = "anubis.dev/reported"
OUTCOME_ANNOTATION = "anubis.dev/outcome"
SELECTOR = f"{MANAGED_BY}=anubis"

FETCH_CONTAINER = "fetch-data"
MAIN_CONTAINER = "benchmark"
SERVER_CONTAINER = "inference-server"

RunKind = Literal["Job", "MPIJob"]
ContainerKind = Literal["init", "sidecar", "main"]


def parse_time(value: Any) -> float | None:
    """Unix seconds of an RFC 3339 time as the API writes it (``2024-01-02T03:04:05Z``)."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_time(value)


@functools.lru_cache(maxsize=4096)
def _parse_time(value: str) -> float | None:
    """(The API's times are whole seconds: in a burst, thousands of objects and every event of each
    carry the same few, so each is parsed once.)"""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class PackedText:
    """A text kept zlib-compressed; one object per distinct text while any holder is alive (an
    intern table of weak references, keyed by a digest of the text, so a text is compressed once
    however many runs and events carry it)."""

    __slots__ = ("_data", "__weakref__")
    _interned: ClassVar[weakref.WeakValueDictionary[bytes, PackedText]] = weakref.WeakValueDictionary()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, data: bytes) -> None:
        self._data = data

    @classmethod
    def of(cls, text: str) -> PackedText:
        if not text:
            return EMPTY_TEXT
        raw = text.encode("utf-8", "surrogatepass")
        digest = _digest(raw)
        with cls._lock:
            found = cls._interned.get(digest)
            if found is not None:
                return found
        packed = cls(zlib.compress(raw, 6))
        with cls._lock:
            return cls._interned.setdefault(digest, packed)

    @property
    def text(self) -> str:
        return zlib.decompress(self._data).decode("utf-8", "surrogatepass") if self._data else ""

    @property
    def packed_size(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PackedText) and other._data == self._data

    def __hash__(self) -> int:
        return hash(self._data)

    def __repr__(self) -> str:
        return f"PackedText({len(self._data)} bytes)"


EMPTY_TEXT = PackedText(b"")

_GIL_KEPT = 2047
"""hashlib gives up the GIL to hash 2,048 bytes or more at once (``HASHLIB_GIL_MINSIZE``)."""


def _digest(raw: bytes) -> bytes:
    """blake2b of ``raw`` (20 bytes), fed in pieces hashlib hashes without giving up the GIL: a
    RunSpec (2–3 KiB) is hashed on every event of its run, on the watch's thread, and in a burst of
    completions each give-up of the GIL is a wait to take it back from the reconcile workers, which
    delays every event after it. The digest is that of the whole (blake2b is a stream)."""
    if len(raw) <= _GIL_KEPT:
        return hashlib.blake2b(raw, digest_size=20).digest()
    hasher = hashlib.blake2b(digest_size=20)
    view = memoryview(raw)
    for start in range(0, len(raw), _GIL_KEPT):
        hasher.update(view[start : start + _GIL_KEPT])
    return hasher.digest()


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""
    message: str = ""
    since: float | None = None  # lastTransitionTime


@dataclass(frozen=True, slots=True)
class ContainerState:
    name: str
    kind: ContainerKind
    state: Literal["waiting", "running", "terminated", "unknown"] = "unknown"
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    restarts: int = 0
    ready: bool = False
    started: bool | None = None
    image: str = ""
    image_id: str = ""
    last_exit_code: int | None = None  # of the previous attempt (crash loops)
    last_reason: str = ""


@dataclass(frozen=True, slots=True)
class PodState:
    name: str
    uid: str
    phase: str  # Pending | Running | Succeeded | Failed | Unknown
    role: str  # main | inference | launcher | worker
    owner_uid: str
    node_name: str = ""
    reason: str = ""  # pod-level reason (DeadlineExceeded, Evicted …)
    message: str = ""
    scheduled: Condition | None = None
    containers: tuple[ContainerState, ...] = ()
    created: float | None = None
    deleting: bool = False
    ready: Condition | None = None  # PodReady (the MPI Operator waits for every worker's)
    disruption: Condition | None = None  # DisruptionTarget: evicted, preempted, node-pressure kill

    def container(self, name: str) -> ContainerState | None:
        for c in self.containers:
            if c.name == name:
                return c
        return None


@dataclass(frozen=True, slots=True)
class RunState:
    """One run (a Job or an MPIJob) as last seen, with its pods."""

    kind: RunKind
    namespace: str
    name: str
    uid: str
    run_id: str
    environment: str
    created: float | None = None
    started: float | None = None
    completed: float | None = None
    suspended: bool = False
    deleted: bool = False
    conditions: tuple[Condition, ...] = ()
    reported: str | None = None  # the execution id in anubis.dev/reported
    outcome: str | None = None  # JSON in anubis.dev/outcome (set with a suspend by Anubis)
    active_deadline_seconds: int | None = None
    packed_runspec: PackedText = EMPTY_TEXT  # the anubis.dev/runspec annotation (:attr:`runspec`)
    resource_version: str = ""
    workers: int | None = None  # an MPIJob's spec.mpiReplicaSpecs.Worker.replicas
    queue: str | None = None  # its Kueue LocalQueue: while suspended, the run is queued, not stopped
    queue_state: str = ""  # what Kueue says of it (controller.kubernetes.queueing.QueueState), when read
    queue_message: str = ""
    pods: tuple[PodState, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.uid}"

    @property
    def runspec(self) -> str:
        """The ``anubis.dev/runspec`` annotation, as JSON text ("" when the object has none)."""
        return self.packed_runspec.text

    @property
    def execution_id(self) -> str:
        """``<run_id>-<first 8 hex of the uid>``: one per Job, so each CronJob firing is its own."""
        return f"{self.run_id}-{self.uid.replace('-', '')[:8]}"

    def condition(self, type_: str) -> Condition | None:
        for c in self.conditions:
            if c.type == type_ and c.status == "True":
                return c
        return None

    def with_pods(self, pods: tuple[PodState, ...]) -> RunState:
        return replace(self, pods=pods)


def run_from_object(obj: dict[str, Any]) -> RunState | None:
    """The run of a Job or MPIJob object; None when it is not a run of its own (an MPIJob's
    launcher Job, an object without a run id)."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    run_id = labels.get(RUN_ID_LABEL)
    if not run_id:
        return None
    kind: RunKind = "MPIJob" if obj.get("kind") == "MPIJob" else "Job"
    if kind == "Job" and any(o.get("kind") == "MPIJob" for o in meta.get("ownerReferences") or ()):
        return None  # the launcher Job of an MPIJob: followed through the MPIJob
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    workers: int | None = None
    if kind == "MPIJob":
        policy = spec.get("runPolicy") or {}
        suspended = bool(policy.get("suspend"))
        deadline = policy.get("activeDeadlineSeconds")
        replicas = ((spec.get("mpiReplicaSpecs") or {}).get("Worker") or {}).get("replicas", 1)
        workers = replicas if isinstance(replicas, int) else None
    else:
        suspended = bool(spec.get("suspend"))
        deadline = spec.get("activeDeadlineSeconds")
    return RunState(
        kind=kind,
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        run_id=run_id,
        environment=labels.get(ENVIRONMENT_LABEL, ""),
        created=parse_time(meta.get("creationTimestamp")),
        started=parse_time(status.get("startTime")),
        completed=parse_time(status.get("completionTime")),
        suspended=suspended,
        deleted=bool(meta.get("deletionTimestamp")),
        conditions=tuple(_condition(c) for c in status.get("conditions") or ()),
        reported=annotations.get(REPORTED_ANNOTATION) or None,
        outcome=annotations.get(OUTCOME_ANNOTATION) or None,
        active_deadline_seconds=int(deadline) if isinstance(deadline, int) else None,
        packed_runspec=PackedText.of(str(annotations.get(RUNSPEC_ANNOTATION) or "")),
        resource_version=meta.get("resourceVersion", ""),
        workers=workers,
        queue=labels.get(QUEUE_LABEL) or None,
    )


def _condition(raw: dict[str, Any]) -> Condition:
    return Condition(
        type=str(raw.get("type", "")),
        status=str(raw.get("status", "")),
        reason=str(raw.get("reason") or ""),
        message=str(raw.get("message") or ""),
        since=parse_time(raw.get("lastTransitionTime")),
    )


def pod_from_object(obj: dict[str, Any]) -> PodState:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    owners = meta.get("ownerReferences") or ()
    owner_uid = next((o.get("uid", "") for o in owners if o.get("controller")), "")
    if not owner_uid and owners:
        owner_uid = owners[0].get("uid", "")
    sidecars = {c.get("name") for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"}
    images = {c.get("name"): c.get("image", "") for c in (*(spec.get("initContainers") or ()), *(spec.get("containers") or ()))}
    containers: list[ContainerState] = []
    for raw in status.get("initContainerStatuses") or ():
        kind: ContainerKind = "sidecar" if raw.get("name") in sidecars else "init"
        containers.append(_container(raw, kind, images))
    for raw in status.get("containerStatuses") or ():
        containers.append(_container(raw, "main", images))
    seen = {c.name for c in containers}
    for c in spec.get("initContainers") or ():  # not started yet: known from the spec
        if c.get("name") not in seen:
            containers.append(ContainerState(c.get("name", ""), "sidecar" if c.get("name") in sidecars else "init", image=c.get("image", "")))
    for c in spec.get("containers") or ():
        if c.get("name") not in seen:
            containers.append(ContainerState(c.get("name", ""), "main", image=c.get("image", "")))
    conditions = {str(c.get("type", "")): _condition(c) for c in status.get("conditions") or ()}
    disruption = conditions.get("DisruptionTarget")
    return PodState(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        phase=status.get("phase", "Pending"),
        role=(meta.get("labels") or {}).get(ROLE_LABEL, "main"),
        owner_uid=owner_uid,
        node_name=spec.get("nodeName", "") or "",
        reason=status.get("reason", "") or "",
        message=status.get("message", "") or "",
        scheduled=conditions.get("PodScheduled"),
        containers=tuple(containers),
        created=parse_time(meta.get("creationTimestamp")),
        deleting=bool(meta.get("deletionTimestamp")),
        ready=conditions.get("Ready"),
        disruption=disruption if disruption is not None and disruption.status == "True" else None,
    )


def _container(raw: dict[str, Any], kind: ContainerKind, images: dict[Any, str]) -> ContainerState:
    state = raw.get("state") or {}
    last = (raw.get("lastState") or {}).get("terminated") or {}
    name = raw.get("name", "")
    common: dict[str, Any] = {
        "restarts": int(raw.get("restartCount") or 0),
        "ready": bool(raw.get("ready")),
        "started": raw.get("started"),
        "image": images.get(name) or raw.get("image", ""),
        "image_id": raw.get("imageID", "") or "",
        "last_exit_code": last.get("exitCode"),
        "last_reason": last.get("reason", "") or "",
    }
    if "terminated" in state and state["terminated"] is not None:
        t = state["terminated"]
        return ContainerState(name, kind, "terminated", t.get("reason", "") or "", t.get("message", "") or "",
                              t.get("exitCode"), **common)
    if "waiting" in state and state["waiting"] is not None:
        w = state["waiting"]
        return ContainerState(name, kind, "waiting", w.get("reason", "") or "", w.get("message", "") or "", **common)
    if "running" in state and state["running"] is not None:
        return ContainerState(name, kind, "running", **common)
    return ContainerState(name, kind, **common)
