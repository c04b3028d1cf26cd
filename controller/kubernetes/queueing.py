"""Why a queued run waits: reading Kueue's Workload of a run.

With Kueue, a Job or MPIJob that carries the label ``kueue.x-k8s.io/queue-name`` is created suspended
and stays so until Kueue admits its Workload (``kueue.x-k8s.io/v1beta2`` in Kueue 0.19; v1beta1 is
still served). Until then no pod exists, so the run's pods say nothing: the Workload is where the
reason lives (Kueue's ``pkg/workload/workload.go`` and the scheduler in ``pkg/scheduler``):

* ``QuotaReserved`` False, reason ``Pending``: waiting for quota, with a message such as
  ``couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor
  gpu-a100, 2 more needed``; reason ``Inadmissible`` (or a message about a missing LocalQueue or an
  inactive ClusterQueue): it cannot be admitted as things stand.
* ``QuotaReserved`` and ``Admitted`` True: admitted, ``status.admission.clusterQueue`` names the queue;
  Kueue then clears the Job's ``spec.suspend`` (``runPolicy.suspend`` for an MPIJob).
* ``Evicted`` True (preempted, PodsReady timeout, ClusterQueue stopped): the job is suspended again and
  requeued; ``Finished`` True: the workload is done.

The position in the queue comes from Kueue's visibility API (``pendingworkloads`` of a LocalQueue,
``positionInClusterQueue``), the quota in use from the ClusterQueue's ``status.flavorsUsage`` against
its ``spec.resourceGroups[].flavors[].resources[].nominalQuota``. Each is optional: without it the
message says less, never something false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from controller.kubernetes.client import KubeClient
    from controller.kubernetes.observed import RunState

QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
#: Kueue labels the Workload it makes for a Job with the Job's UID.
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"

QueueStateName = Literal["queued", "inadmissible", "admitted", "evicted", "deactivated", "finished", "unknown"]


@dataclass(frozen=True)
class QueueState:
    state: QueueStateName
    message: str
    cluster_queue: str | None = None


def _condition(workload: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in (workload.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def _true(condition: Mapping[str, Any] | None) -> bool:
    return condition is not None and condition.get("status") == "True"


def workload_for(owner_uid: str, workloads: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The Workload Kueue made for the object with ``owner_uid`` (by owner reference, then by label)."""
    for workload in workloads:
        metadata = workload.get("metadata") or {}
        if any(ref.get("uid") == owner_uid for ref in metadata.get("ownerReferences") or []):
            return workload
        if (metadata.get("labels") or {}).get(JOB_UID_LABEL) == owner_uid:
            return workload
    return None


def quota_in_use(cluster_queue: Mapping[str, Any], resource: str) -> tuple[str, str] | None:
    """(in use, nominal) of ``resource`` summed over the ClusterQueue's flavors, as Kubernetes quantities."""
    used = [
        r.get("total")
        for flavor in (cluster_queue.get("status") or {}).get("flavorsUsage") or []
        for r in flavor.get("resources") or []
        if r.get("name") == resource
    ]
    nominal = [
        r.get("nominalQuota")
        for group in (cluster_queue.get("spec") or {}).get("resourceGroups") or []
        for flavor in group.get("flavors") or []
        for r in flavor.get("resources") or []
        if r.get("name") == resource
    ]
    if not used and not nominal:
        return None
    return _sum_quantities(used), _sum_quantities(nominal)


def _sum_quantities(values: Sequence[Any]) -> str:
    """Whole-number quantities add up exactly; anything else is shown as written, joined by '+'."""
    texts = [str(v) for v in values if v is not None]
    if all(t.isdigit() for t in texts):
        return str(sum(int(t) for t in texts))
    return "+".join(texts) if texts else "0"


def _resource_of(message: str) -> str | None:
    """The resource a Kueue 'insufficient … quota for R in flavor F' message is about."""
    marker = " quota for "
    at = message.find(marker)
    if at < 0:
        return None
    rest = message[at + len(marker) :]
    return rest.split(" in flavor")[0].split(",")[0].strip() or None


def queue_state(
    workload: Mapping[str, Any] | None,
    *,
    local_queue: Mapping[str, Any] | None = None,
    cluster_queue: Mapping[str, Any] | None = None,
    position: int | None = None,
    queue_name: str | None = None,
) -> QueueState:
    """What the run's Workload says, in words for the run's status message."""
    if workload is None:
        where = f"local queue {queue_name}" if queue_name else "its queue"
        return QueueState("unknown", f"waiting for Kueue to take the run into {where} (no Workload yet)")
    status = workload.get("status") or {}
    admitted_to = ((status.get("admission") or {}).get("clusterQueue")) or None
    cq_name = admitted_to or ((local_queue or {}).get("spec") or {}).get("clusterQueue") or None
    if (workload.get("spec") or {}).get("active") is False:
        return QueueState("deactivated", "its Kueue workload is deactivated (spec.active: false)", cq_name)
    if _true(_condition(workload, "Finished")):
        return QueueState("finished", "Kueue reports the workload finished", cq_name)
    evicted = _condition(workload, "Evicted")
    if _true(evicted):
        reason = (evicted or {}).get("reason", "")
        message = (evicted or {}).get("message", "")
        return QueueState("evicted", f"evicted by Kueue ({reason}): {message}; it waits to be admitted again".replace(" ()", ""), cq_name)
    if _true(_condition(workload, "Admitted")):
        return QueueState("admitted", f"admitted by Kueue to cluster queue {cq_name}", cq_name)
    reserved = _condition(workload, "QuotaReserved")
    detail = (reserved or {}).get("message", "") if reserved is not None else ""
    reason = (reserved or {}).get("reason", "") if reserved is not None else ""
    if reason == "Inadmissible" or "doesn't exist" in detail or "is inactive" in detail:
        return QueueState("inadmissible", f"Kueue cannot admit the run: {detail or reason}", cq_name)
    parts = [f"queued in cluster queue {cq_name}" if cq_name else f"queued in local queue {queue_name or (workload.get('spec') or {}).get('queueName', '?')}"]
    facts = []
    if position is not None:
        facts.append(f"{position} workload{'s' if position != 1 else ''} ahead")
    resource = _resource_of(detail) if detail else None
    if cluster_queue is not None and resource:
        usage = quota_in_use(cluster_queue, resource)
        if usage is not None:
            facts.append(f"quota {usage[0]} of {usage[1]} {resource} in use")
    message = parts[0] + (": " + ", ".join(facts) if facts else "")
    if detail:
        message += f" ({detail})"
    return QueueState("queued", message, cq_name)


# -- reading a queued run's Workload from the cluster ------------------------------------------------


def read_queue_state(client: KubeClient, namespace: str, owner_uid: str, queue_name: str) -> QueueState:
    """Kueue's view of the run whose object has ``owner_uid``, read from the API: its Workload, the
    LocalQueue and ClusterQueue, and its position from the visibility API. Only the Workload is
    required; what else cannot be read (no rights, no visibility API) is left out of the message."""
    from controller.kubernetes.client import CLUSTERQUEUES, LOCALQUEUES, PENDING_WORKLOADS, WORKLOADS

    items, _version = client.list_all(WORKLOADS, namespace, f"{JOB_UID_LABEL}={owner_uid}")
    workload = workload_for(owner_uid, items)
    if workload is None:
        return queue_state(None, queue_name=queue_name)
    local_queue = _optional(lambda: client.get(LOCALQUEUES, namespace, queue_name))
    cq_name = ((workload.get("status") or {}).get("admission") or {}).get("clusterQueue") or (
        ((local_queue or {}).get("spec") or {}).get("clusterQueue"))
    cluster_queue = _optional(lambda: client.get(CLUSTERQUEUES, None, cq_name)) if cq_name else None
    position = None
    summary = _optional(lambda: client.get(PENDING_WORKLOADS, namespace, f"{queue_name}/pendingworkloads"))
    name = (workload.get("metadata") or {}).get("name")
    for item in (summary or {}).get("items") or []:
        if (item.get("metadata") or {}).get("name") == name and isinstance(item.get("positionInClusterQueue"), int):
            position = int(item["positionInClusterQueue"])
    return queue_state(workload, local_queue=local_queue, cluster_queue=cluster_queue, position=position,
                       queue_name=queue_name)


def _optional(read: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    from schemas.errors import AnubisError

    try:
        return read()
    except AnubisError:
        return None


def deactivate(client: KubeClient, namespace: str, owner_uid: str) -> int:
    """Deactivate the Workload(s) of the run whose object has ``owner_uid`` (``spec.active: false``):
    how a Kueue-managed run is stopped for good. Suspending the job alone is not enough: Kueue's job
    reconciler starts an admitted job again while its Workload is active. Returns how many it patched."""
    from controller.kubernetes.client import WORKLOADS

    items, _version = client.list_all(WORKLOADS, namespace, f"{JOB_UID_LABEL}={owner_uid}")
    patched = 0
    for workload in items:
        name = (workload.get("metadata") or {}).get("name")
        if name and (workload.get("spec") or {}).get("active") is not False:
            client.patch(WORKLOADS, namespace, name, {"spec": {"active": False}})
            patched += 1
    return patched


def with_queue_state(client: KubeClient, state: RunState) -> RunState:
    """``state`` of a run Kueue holds, with what its Workload says (or why that could not be read)."""
    from schemas.errors import AnubisError

    assert state.queue is not None
    try:
        found = read_queue_state(client, state.namespace, state.uid, state.queue)
    except AnubisError as e:
        return replace(state, queue_state="unknown",
                       queue_message=f"queued in Kueue (local queue {state.queue}); its Workload could not be read: {e}")
    return replace(state, queue_state=found.state, queue_message=found.message)
