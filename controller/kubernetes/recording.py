"""Recording a finished run on Kubernetes: its logs read (every pod of an MPIJob, the client and the
server of an inference run, the ``benchmark`` container otherwise), its metrics extracted with each
line's own time, its result stored (``put`` refuses an execution id already stored), judged against
its baseline and handed to the exporters. :class:`RunRecorder` does it; the reconcile loop
(:mod:`.reconciler`) decides when, and marks the run reported afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from controller.exporting.base import ExportContext, Exporter, LogLine, VerdictLike
from controller.extraction import MetricExtractor
from controller.kubernetes.client import NODES, KubeClient
from controller.kubernetes.observed import (
    MAIN_CONTAINER,
    SERVER_CONTAINER,
    PodState,
    RunState,
)
from controller.kubernetes.sinks import MetricsSink
from controller.kubernetes.stamps import StampedText, iter_log_lines
from controller.kubernetes.statuses import Decision
from controller.kubernetes.storing import GroupCommit
from controller.kubernetes.usage import UsageRecorder
from controller.records import Outcome, record_of
from controller.store import ResultStore
from schemas.errors import AnubisError
from schemas.results import Reproducibility, ResultRecord
from schemas.runspec import RunSpec
from schemas.status import RunStatus
from schemas.vocabulary import ROLE_ORDER

log = logging.getLogger(__name__)

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ACCELERATOR_LABEL = "nvidia.com/gpu.product"


@dataclass(frozen=True)
class Reported:
    """What one report did (for tests and the benchmark)."""

    execution_id: str
    status: RunStatus
    stored: bool
    at: float


class RunRecorder:
    """Records finished runs: one call of :meth:`record` per final decision."""

    def __init__(
        self,
        client: KubeClient,
        store: ResultStore,
        *,
        exporters: Sequence[Exporter],
        metrics: MetricsSink,
        clock: Callable[[], float],
        on_report: Callable[[Reported], None] | None = None,
        usage: UsageRecorder | None = None,
    ) -> None:
        self.client = client
        self.usage = usage
        self.store = store
        self.commits = GroupCommit(store)  # workers finishing together share a transaction
        self.exporters = tuple(exporters)
        self.metrics = metrics
        self.clock = clock
        self.on_report = on_report
        self._nodes: dict[str, tuple[str | None, str | None]] = {}  # node name -> (instance type, accelerator)

    def record(self, state: RunState, decision: Decision) -> None:
        """Read the run's logs, extract its metrics, store its result (once), judge and export it."""
        spec = runspec_of(state)
        execution_id = state.execution_id
        if spec is None:
            log.error("%s %s/%s has no readable %s annotation; its result cannot be recorded",
                      state.kind, state.namespace, state.name, "anubis.dev/runspec")
        else:
            sources = self._log_sources(state, spec)
            line_time = [self.clock()]
            extractor = MetricExtractor(spec.all_metrics(), clock=lambda: line_time[0])
            for pod, container in sources:
                self._extract(extractor, line_time, state.namespace, pod, container)
            extractor.close()
            record = self._record(state, spec, decision, extractor)
            stored = self.commits.put(record)
            if not stored:
                log.info("the result of %s was already stored; exporting it again and marking it", execution_id)
            if self.exporters:  # the verdicts are for the exporters: judging reads the baseline history
                lines = _LogLines(self.client, state.namespace, sources)
                context = ExportContext(spec, record, lines, self._verdicts(spec, record))
                for exporter in self.exporters:
                    try:
                        exporter.export(context)
                    except AnubisError as e:
                        log.warning("exporter %s failed for %s: %s", exporter.name, execution_id, e)
            self.metrics.run_finished(decision.status, record.duration)
            if self.on_report is not None:
                self.on_report(Reported(execution_id, decision.status, stored, self.clock()))

    def _log_sources(self, state: RunState, spec: RunSpec) -> list[tuple[PodState, str]]:
        """The (pod, container) logs that hold the metrics: every MPIJob pod (launcher first), the
        client and the server of an inference run, else the main container of the newest pod."""
        pods = [p for p in state.pods if p.node_name]
        if state.kind == "MPIJob":
            ordered = sorted(pods, key=lambda p: (p.role != "launcher", p.name))
            return [(p, MAIN_CONTAINER) for p in ordered]
        if not pods:
            return []
        newest = max(pods, key=lambda p: (p.created or 0.0, p.name))
        sources = [(newest, MAIN_CONTAINER)]
        if spec.server is not None and newest.container(SERVER_CONTAINER) is not None:
            sources.append((newest, SERVER_CONTAINER))
        return sources

    def _extract(self, extractor: MetricExtractor, line_time: list[float], namespace: str, pod: PodState,
                 container: str) -> None:
        """Feed one container's log a chunk at a time (as ``anubis run`` feeds a local run's output),
        each piece with the time of its lines (:class:`StampedText`)."""
        stamped = StampedText()
        ended = True  # the text fed so far ends a line
        for chunk in self.client.read_log(namespace, pod.name, container):
            for when, text in stamped.feed(chunk):
                if when is not None:
                    line_time[0] = when
                if text:
                    extractor.feed(text)
                    ended = text.endswith((b"\n", b"\r"))
        for when, text in stamped.close():
            if when is not None:
                line_time[0] = when
            if text:
                extractor.feed(text)
                ended = text.endswith((b"\n", b"\r"))
        if not ended:  # the container's last line has no line break: it ends with its log
            extractor.feed(b"\n")

    def _node_facts(self, node_name: str) -> tuple[str | None, str | None]:
        if not node_name:
            return None, None
        cached = self._nodes.get(node_name)
        if cached is not None:
            return cached
        try:
            labels = (self.client.get(NODES, None, node_name).get("metadata") or {}).get("labels") or {}
        except AnubisError as e:
            log.info("cannot read node %s (%s); the record has no instance type", node_name, e)
            return None, None
        facts = (labels.get(INSTANCE_TYPE_LABEL), labels.get(ACCELERATOR_LABEL))
        self._nodes[node_name] = facts
        return facts

    def _record(self, state: RunState, spec: RunSpec, decision: Decision, extractor: MetricExtractor) -> ResultRecord:
        main = _main_pod(state)
        container = main.container(MAIN_CONTAINER) if main else None
        instance_type, accelerator = self._node_facts(main.node_name if main else "")
        now = self.clock()
        started = state.started or (main.created if main else None) or state.created or now
        finished = state.completed or _final_time(state) or now
        repro = Reproducibility(
            descriptor_hash=spec.descriptor_hash,
            image=spec.image,
            image_digest=image_digest(container.image_id) if container else None,
            source_commit=spec.source.commit,
            source_dirty=spec.source.dirty,
            dataset_checksums={d.path: str(d.checksum) for d in spec.data if d.checksum},
            instance_type=instance_type or spec.placement.instance_type or None,
            accelerator=accelerator,
            gpus=(accelerator,) * spec.placement.gpus if accelerator else (),
            node=main.node_name if main and main.node_name else None,
        )
        outcome = Outcome(state.execution_id, decision.status, decision.reason, started, max(started, finished))
        record = record_of(spec, outcome, backend="kubernetes", metrics=extractor.results(), reproducibility=repro,
                           commit=spec.source.commit, branch=spec.source.branch)
        if self.usage is None:
            return record
        nodes = {p.node_name: self._node_facts(p.node_name)[0] for p in state.pods if p.node_name}
        return self.usage.annotate(record, state, spec, nodes)

    def _verdicts(self, spec: RunSpec, record: ResultRecord) -> dict[str, VerdictLike]:
        """Each metric's regression verdict against its baseline (exported as ``anubis_verdict``, which
        the alert rules watch); none when the history cannot be read."""
        from controller.baselines import judge_record

        try:
            judged = judge_record(self.store, record, {m.name: m.policy for m in spec.all_metrics()})
        except (AnubisError, ValueError) as e:
            log.warning("no verdicts for %s: %s", record.execution_id, e)
            return {}
        return {name: judgement.verdict for name, judgement in judged.items()}


def runspec_of(state: RunState) -> RunSpec | None:
    """The RunSpec a run's object carries (its ``anubis.dev/runspec`` annotation); ``None`` if unreadable."""
    from orjson import loads  # (a third of json's time on a RunSpec: every report reads one)

    try:
        return RunSpec.from_dict(loads(state.runspec))
    except (ValueError, KeyError, TypeError):
        return None


def _main_pod(state: RunState) -> PodState | None:
    order = ROLE_ORDER
    pods = sorted(state.pods, key=lambda p: (order.get(p.role, 2), -(p.created or 0.0), p.name))
    return pods[0] if pods else None


def _final_time(state: RunState) -> float | None:
    for name in ("Complete", "Succeeded", "Failed", "Suspended"):
        cond = state.condition(name)
        if cond is not None and cond.since is not None:
            return cond.since
    return None


def image_digest(image_id: str) -> str | None:
    """``sha256:…`` of a container status's ``imageID`` (``docker-pullable://repo@sha256:…``)."""
    if "@" in image_id:
        return image_id.rsplit("@", 1)[1]
    if image_id.startswith("sha256:"):
        return image_id
    return None


class _LogLines:
    """The run's log lines for exporters, read again from the API each time it is iterated."""

    def __init__(self, client: KubeClient, namespace: str, sources: list[tuple[PodState, str]]) -> None:
        self._client = client
        self._namespace = namespace
        self._sources = sources

    def __iter__(self) -> Iterator[LogLine]:
        for pod, container in self._sources:
            source = f"{pod.name}/{container}"
            for when, text in iter_log_lines(self._client.read_log(self._namespace, pod.name, container)):
                yield LogLine(when or 0.0, source, text.decode("utf-8", "replace"))
