"""Prometheus: the controller's own ``/metrics``, and the runs' series pushed to a Pushgateway.

Two different things live here:

* :class:`ControllerMetrics` — counters and gauges about the controller itself (runs by final
  status, transitions, run durations, watch restarts, API errors, runs tracked), in a registry of its
  own (never the process-wide default), served on ``/metrics`` by :meth:`ControllerMetrics.serve` or
  mounted as a WSGI app.
* :class:`PushgatewayExporter` — an :class:`~controller.exporting.base.Exporter` that pushes the
  series of a finished execution (names in docs/dev/contracts.md, "Exported Prometheus series") to a
  Pushgateway, grouped by ``job="anubis"``, ``benchmark``, ``environment`` and ``run_id``.
  :func:`run_status_push` pushes ``anubis_run_status`` while an execution runs.

Grouping and overwriting: the finished export replaces the whole group (HTTP PUT), so the latest
execution of a run overwrites the previous one's values and a second export of the same execution
writes the same values again (idempotent). The status push while running adds to the group (HTTP
POST replaces only ``anubis_run_status``), so the previous execution's metrics stay visible until
the new one finishes. Prometheus must scrape the Pushgateway with ``honor_labels: true``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import exposition as _exposition
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.exporting.base import ExportContext, VerdictLike, run_labels, sanitize_metric_name, spec_labels
from schemas.errors import ReporterError
from schemas.results import ResultRecord
from schemas.runspec import RunSpec
from schemas.status import FINAL_STATUSES, RunStatus

log = logging.getLogger(__name__)

JOB = "anubis"
#: The labels of a Pushgateway group, besides ``job``.
GROUPING_LABELS = ("benchmark", "environment", "run_id")
VERDICTS = ("regression", "improvement", "suspected", "no_change", "insufficient_data")

#: Buckets of ``anubis_controller_run_duration_seconds``: a minute to a day.
DURATION_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0)

PushHandler = Callable[..., Callable[[], None]]


# -- the controller's own metrics -------------------------------------------------------------------


@dataclass
class MetricsServer:
    """A running ``/metrics`` HTTP server (a thread); :meth:`stop` shuts it down."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class ControllerMetrics:
    """The controller's counters, in a registry of their own (pass one to share it)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._runs = Counter(
            "anubis_controller_runs", "Executions that reached a final status, by that status.",
            ["status"], registry=self.registry,
        )  # fmt: skip
        self._transitions = Counter(
            "anubis_controller_transitions", "Status transitions the controller observed, by the new status.",
            ["status"], registry=self.registry,
        )  # fmt: skip
        self._duration = Histogram(
            "anubis_controller_run_duration_seconds", "Duration of finished executions, start to finish.",
            buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self._watch_restarts = Counter(
            "anubis_controller_watch_restarts", "Watches restarted, by object kind and reason (expired, error, closed).",
            ["kind", "reason"], registry=self.registry,
        )  # fmt: skip
        self._api_errors = Counter(
            "anubis_controller_api_errors", "Kubernetes API calls that failed, by operation.",
            ["operation"], registry=self.registry,
        )  # fmt: skip
        self._tracked = Gauge(
            "anubis_controller_tracked_runs", "Executions the controller follows now.", registry=self.registry
        )
        for status in RunStatus:  # every status is exported from the start, so rate() sees the first one
            self._transitions.labels(status.value)
            if status in FINAL_STATUSES:
                self._runs.labels(status.value)

    def transition(self, status: RunStatus) -> None:
        self._transitions.labels(RunStatus(status).value).inc()

    def run_finished(self, status: RunStatus, duration: float | None) -> None:
        """Count an execution that reached final ``status``; ``duration`` (seconds) when known."""
        self._runs.labels(RunStatus(status).value).inc()
        if duration is not None and math.isfinite(duration) and duration >= 0:
            self._duration.observe(duration)

    def watch_restart(self, kind: str, reason: str) -> None:
        self._watch_restarts.labels(kind, reason).inc()

    def api_error(self, operation: str) -> None:
        self._api_errors.labels(operation).inc()

    def tracked(self, n: int) -> None:
        self._tracked.set(n)

    def exposition(self) -> bytes:
        """The text exposition format of every series, as ``/metrics`` answers."""
        return generate_latest(self.registry)

    def wsgi_app(self) -> Callable[..., Iterable[bytes]]:
        """A WSGI app serving the metrics (to mount beside other endpoints)."""
        app: Callable[..., Iterable[bytes]] = _exposition.make_wsgi_app(self.registry)
        return app

    def serve(self, port: int, addr: str = "0.0.0.0") -> MetricsServer:
        """Serve ``/metrics`` on ``addr:port`` (0: any free port) in a daemon thread."""
        server, thread = _exposition.start_http_server(port, addr=addr, registry=self.registry)
        log.info("serving controller metrics on http://%s:%s/metrics", addr, server.server_port)
        return MetricsServer(server, thread)


# -- run series -------------------------------------------------------------------------------------


HELP = {
    "anubis_metric": "Last value of a benchmark metric of the latest finished execution of a run.",
    "anubis_metric_mean": "Mean of the values of a benchmark metric of the latest finished execution of a run.",
    "anubis_run_finished_timestamp_seconds": "Unix time the execution finished.",
    "anubis_run_duration_seconds": "Duration of the execution, start to finish.",
    "anubis_run_status": "1 for the current status of the execution.",
    "anubis_verdict": "1 for the regression verdict of a metric of the execution.",
    "anubis_metric_change_ratio": "Relative change of a metric against its baseline.",
}


def alias_name(metric: str) -> str:
    """The original Anubis' series name of a user metric: ``BAI_METRICS_<metric>``."""
    return sanitize_metric_name(f"BAI_METRICS_{metric}")


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _family(name: str, labels: Mapping[str, str], extra: Mapping[str, str] | None = None) -> GaugeMetricFamily:
    names = [*labels, *(extra or {})]
    return GaugeMetricFamily(name, HELP.get(name, ""), labels=names)


def _add(family: GaugeMetricFamily, labels: Mapping[str, str], value: float, extra: Mapping[str, str] | None = None) -> None:
    family.add_metric([*labels.values(), *(extra or {}).values()], value)


def status_families(labels: Mapping[str, str], status: RunStatus) -> list[Metric]:
    family = _family("anubis_run_status", labels, {"status": ""})
    _add(family, labels, 1.0, {"status": RunStatus(status).value})
    return [family]


def run_families(
    spec: RunSpec, record: ResultRecord, verdicts: Mapping[str, VerdictLike] | None = None
) -> list[Metric]:
    """Every series of a finished execution (pure): what :class:`PushgatewayExporter` pushes."""
    labels = run_labels(spec, record)
    metric = _family("anubis_metric", labels, {"metric": "", "unit": ""})
    mean = _family("anubis_metric_mean", labels, {"metric": "", "unit": ""})
    aliases: list[Metric] = []
    for name, result in record.metrics.items():
        summary = result.summary()
        if summary is None:  # no finite value: nothing to say
            continue
        extra = {"metric": name, "unit": result.unit}
        _add(metric, labels, summary.last, extra)
        _add(mean, labels, summary.mean, extra)
        alias = GaugeMetricFamily(
            alias_name(name), f"Last value of benchmark metric {name} (the original Anubis' name).",
            labels=list(labels),
        )  # fmt: skip
        alias.add_metric(list(labels.values()), summary.last)
        aliases.append(alias)
    families: list[Metric] = [metric, mean, *aliases]
    status = {"status": record.status.value}
    if record.finished_at is not None:
        finished = _family("anubis_run_finished_timestamp_seconds", labels, status)
        _add(finished, labels, record.finished_at, status)
        families.append(finished)
    if record.duration is not None:
        duration = _family("anubis_run_duration_seconds", labels, status)
        _add(duration, labels, record.duration, status)
        families.append(duration)
    families += status_families(labels, record.status)
    if verdicts:
        families += verdict_families(labels, verdicts)
    return families


def verdict_families(labels: Mapping[str, str], verdicts: Mapping[str, VerdictLike]) -> list[Metric]:
    verdict = _family("anubis_verdict", labels, {"metric": "", "verdict": ""})
    ratio = _family("anubis_metric_change_ratio", labels, {"metric": ""})
    for name, v in verdicts.items():
        if v.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {v.verdict!r} for metric {name!r}; expected one of {VERDICTS}")
        _add(verdict, labels, 1.0, {"metric": name, "verdict": v.verdict})
        if v.change is not None and math.isfinite(v.change):
            _add(ratio, labels, v.change, {"metric": name})
    return [verdict, ratio]


def _registry(families: list[Metric]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return registry


def grouping_key(labels: Mapping[str, str]) -> dict[str, str]:
    return {name: labels[name] for name in GROUPING_LABELS}


def _push(
    method: Callable[..., None], url: str, families: list[Metric], labels: Mapping[str, str],
    timeout: float, handler: PushHandler | None,
) -> None:  # fmt: skip
    kwargs: dict[str, Any] = {"grouping_key": grouping_key(labels), "timeout": timeout}
    if handler is not None:
        kwargs["handler"] = handler
    try:
        method(url, JOB, _registry(families), **kwargs)
    except (URLError, OSError) as e:
        raise ReporterError(
            f"The Pushgateway at {url} refused or did not answer the series of run {labels['run_id']} "
            f"(execution {labels['execution_id']}): {e}. Check the pushgateway URL in the controller's "
            "settings and that the Pushgateway is up; the export is retried on the next reconcile."
        ) from e


def run_status_push(
    spec: RunSpec, status: RunStatus, *, execution_id: str, gateway: str, timeout: float = 10.0,
    handler: PushHandler | None = None,
) -> None:  # fmt: skip
    """Push ``anubis_run_status`` of an execution that is still going (adds to its run's group)."""
    labels = spec_labels(spec, execution_id)
    _push(_exposition.pushadd_to_gateway, gateway, status_families(labels, status), labels, timeout, handler)


class PushgatewayExporter:
    """Pushes the series of finished executions to the Pushgateway at ``url``."""

    name = "pushgateway"

    def __init__(self, url: str, *, timeout: float = 10.0, handler: PushHandler | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._handler = handler

    def __repr__(self) -> str:
        return f"PushgatewayExporter({self.url!r})"

    def export(self, context: ExportContext) -> None:
        """Replace the run's group with this execution's series and verdicts (log lines are not used)."""
        spec, record = context.spec, context.record
        families = run_families(spec, record, context.verdicts)
        _push(_exposition.push_to_gateway, self.url, families, run_labels(spec, record), self.timeout, self._handler)
        log.debug("pushed the series of execution %s to %s", record.execution_id, self.url)

    def push_status(self, spec: RunSpec, execution_id: str, status: RunStatus) -> None:
        """:func:`run_status_push` to this exporter's Pushgateway."""
        run_status_push(spec, status, execution_id=execution_id, gateway=self.url, timeout=self.timeout, handler=self._handler)

    def push_verdicts(self, spec: RunSpec, record: ResultRecord, verdicts: Mapping[str, VerdictLike]) -> None:
        """Add the verdict series of an execution already exported (replaces only those series)."""
        labels = run_labels(spec, record)
        _push(_exposition.pushadd_to_gateway, self.url, verdict_families(labels, verdicts), labels, self.timeout, self._handler)

    def delete(self, spec: RunSpec, record: ResultRecord) -> None:
        """Remove the run's group from the Pushgateway (for a run that is gone for good)."""
        labels = run_labels(spec, record)
        kwargs: dict[str, Any] = {"grouping_key": grouping_key(labels), "timeout": self.timeout}
        if self._handler is not None:
            kwargs["handler"] = self._handler
        try:
            _exposition.delete_from_gateway(self.url, JOB, **kwargs)
        except (URLError, OSError) as e:
            raise ReporterError(f"The Pushgateway at {self.url} did not delete run {labels['run_id']}: {e}.") from e
