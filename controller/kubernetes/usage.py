"""What a finished run used on the cluster: its GPUs' telemetry and its cost, added to its record.

The recorder (:mod:`.recording`) builds a run's record from its logs; :class:`UsageRecorder` then asks
Prometheus for the dcgm-exporter series of the run's pods over the run's window
(:class:`controller.gpu_telemetry.PrometheusTelemetry`) and prices the nodes it held
(:mod:`controller.costs`). Neither can fail a run: what cannot be read is left out of the record and
logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from controller.costs import DEFAULT_REGION, PriceTable, run_cost, shipped_prices, with_efficiency
from controller.gpu_telemetry import PrometheusTelemetry, RunTelemetry, TelemetryUnavailable
from controller.kubernetes.observed import RunState
from controller.kubernetes.settings import ControllerSettings
from schemas.results import ResultRecord
from schemas.runspec import RunSpec

log = logging.getLogger(__name__)


class TelemetrySource(Protocol):
    def collect(self, namespace: str, pods: list[str], start: float, end: float) -> RunTelemetry: ...


@dataclass
class UsageRecorder:
    """Adds ``telemetry`` (runs with GPUs, when a Prometheus is configured) and ``cost`` to records.

    ``region``: where the cluster runs (the price table's region); ``environment_prices``: per
    environment, instance type → price an hour that wins over the table (reserved, spot).
    """

    telemetry: TelemetrySource | None = None
    region: str = DEFAULT_REGION
    environment_prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    prices: Callable[[], PriceTable] = shipped_prices

    def annotate(
        self, record: ResultRecord, state: RunState, spec: RunSpec, node_types: Mapping[str, str | None]
    ) -> ResultRecord:
        """``record`` with its telemetry and cost; ``node_types`` maps each node the run's pods ran on to
        its instance type (None where unknown)."""
        annotated = replace(record, telemetry=self._telemetry(record, state, spec), cost=self._cost(record, spec, node_types))
        return with_efficiency(annotated, spec)

    def _telemetry(self, record: ResultRecord, state: RunState, spec: RunSpec) -> dict[str, object] | None:
        if self.telemetry is None or spec.placement.gpus <= 0:
            return None
        if record.started_at is None or record.finished_at is None or record.finished_at <= record.started_at:
            return None
        pods = sorted(p.name for p in state.pods)
        try:
            found = self.telemetry.collect(state.namespace, pods, record.started_at, record.finished_at)
        except TelemetryUnavailable as e:
            log.warning("no GPU telemetry for %s: %s", record.execution_id, e)
            return None
        if not found.gpus:
            log.info("no dcgm-exporter series for the pods of %s (%s)", record.execution_id, ", ".join(pods))
            return None
        return found.to_dict()

    def _cost(self, record: ResultRecord, spec: RunSpec, node_types: Mapping[str, str | None]) -> dict[str, object] | None:
        instance_type = spec.placement.instance_type
        if not instance_type:
            return None
        table = self.prices()
        overrides = self.environment_prices.get(record.environment)
        if overrides:
            table = table.with_overrides(overrides, f"environment {record.environment}")
        nodes = sum(1 for kind in node_types.values() if kind == instance_type) or spec.num_instances
        cost = run_cost(table, instance_type, nodes, record.duration, self.region)
        return cost.to_dict() if cost is not None else None


def usage_recorder(settings: ControllerSettings) -> UsageRecorder:
    """The usage recorder the controller's settings describe (telemetry only with a Prometheus URL)."""
    return UsageRecorder(
        telemetry=PrometheusTelemetry(settings.telemetry_url) if settings.telemetry_url else None,
        region=settings.pricing_region,
        environment_prices=settings.prices,
    )
