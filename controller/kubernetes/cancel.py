"""Cancelling a run on a cluster: suspend it, never delete it (and deactivate its Kueue Workload, when
Kueue queues it).

Argo CD re-creates what Git still holds, so a deleted Job would simply run again; a suspended one
(``spec.suspend`` on a Job or CronJob, ``spec.runPolicy.suspend`` on an MPIJob — fields the
manifests never set, so Argo CD leaves them alone) stops its pods and stays. The same patch writes
``anubis.dev/outcome`` (CANCELED and who asked), which the controller records as the final status,
keeping the result and whatever metrics the logs hold.
"""

from __future__ import annotations

import getpass
import platform
import re
from dataclasses import dataclass
from typing import Any

from controller.kubernetes.client import CRONJOBS, JOBS, MPIJOBS, KubeClient, Resource
from controller.kubernetes.observed import OUTCOME_ANNOTATION, RUN_ID_LABEL, run_from_object
from controller.kubernetes.queueing import deactivate
from controller.kubernetes.statuses import outcome_annotation
from schemas.errors import NotFoundError
from schemas.status import RunStatus

_EXECUTION = re.compile(r"^(?P<run>.+)-(?P<uid>[0-9a-f]{8})$")


@dataclass(frozen=True)
class Canceled:
    kind: str
    namespace: str
    name: str
    execution_id: str | None  # None for a CronJob (its future firings are what stops)


def cancel_reason() -> str:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "someone"
    return f"canceled by anubis cancel ({who}@{platform.node()})"


def cancel_on_cluster(client: KubeClient, ref: str, namespaces: tuple[str, ...]) -> list[Canceled]:
    """Suspend every unfinished Job/MPIJob (and the CronJob) of run id ``ref``, or the one Job of
    execution id ``ref``. Raises :class:`NotFoundError` when nothing unfinished matches."""
    wanted_uid: str | None = None
    found = _lookup(client, ref, namespaces)
    if not found:
        match = _EXECUTION.match(ref)
        if match:
            wanted_uid = match["uid"]
            found = _lookup(client, match["run"], namespaces)
    reason = cancel_reason()
    canceled: list[Canceled] = []
    finished = 0
    for resource, obj in found:
        meta = obj["metadata"]
        if resource is CRONJOBS:
            if wanted_uid is None:
                client.suspend(resource, meta["namespace"], meta["name"], {})
                canceled.append(Canceled("CronJob", meta["namespace"], meta["name"], None))
            continue
        state = run_from_object(obj)
        if state is None or (wanted_uid and state.uid.replace("-", "")[:8] != wanted_uid):
            continue
        if state.condition("Complete") or state.condition("Succeeded") or state.condition("Failed") or state.reported:
            finished += 1
            continue
        client.suspend(resource, state.namespace, state.name,
                       {OUTCOME_ANNOTATION: outcome_annotation(RunStatus.CANCELED, reason)})
        if state.queue:
            # Kueue owns spec.suspend of a queued run: it would start the job again while its Workload is
            # active (queued or admitted). Deactivating the Workload stops it for good.
            deactivate(client, state.namespace, state.uid)
        canceled.append(Canceled(state.kind, state.namespace, state.name, state.execution_id))
    if not canceled:
        where = ", ".join(namespaces)
        if finished:
            raise NotFoundError(f"{ref!r} has already finished on the cluster (namespaces {where}); nothing to cancel. "
                                "See its result with `anubis results`.")
        raise NotFoundError(f"no run {ref!r} on this machine or on the cluster (namespaces {where}). "
                            "Give a run id or execution id; check the namespace with --namespace.")
    return canceled


def _lookup(client: KubeClient, run_id: str, namespaces: tuple[str, ...]) -> list[tuple[Resource, dict[str, Any]]]:
    selector = f"{RUN_ID_LABEL}={run_id}"
    found: list[tuple[Resource, dict[str, Any]]] = []
    for namespace in namespaces:
        for resource in (JOBS, MPIJOBS, CRONJOBS):
            try:
                items = client.find_by_label(resource, namespace, selector)
            except NotFoundError:  # the MPIJob CRD is not installed
                continue
            found.extend((resource, item) for item in items)
    return found
