"""CloudWatch: the metrics of a finished execution as PutMetricData, namespace ``Anubis``.

Each user metric becomes one metric of that name whose data are the execution's finite values
(``Values``, at most 150 a datum, so a long series is several data), stamped with the time the
execution finished; two more metrics describe the run itself: ``RunDuration`` (seconds) and
``RunFinished`` (1, with the final status as a dimension, so failures can be counted and alarmed).

Dimensions come from the run's labels (:func:`~controller.exporting.base.run_labels`): by default
``benchmark``, ``environment``, ``task_name`` and the user's ``info.labels``, not the ids that change
with every execution (``run_id``, ``execution_id``, ``action_id``, ``family_id``): in CloudWatch each
distinct set of dimensions is a metric of its own, paid for and graphed separately, so a series per
execution would be neither useful nor cheap. CloudWatch allows 30 dimensions: beyond that the user's
labels are dropped (with a warning) in name order. Calls are batched to at most 1,000 data each.

Idempotency: CloudWatch keeps every datum it is sent, so the exporter remembers the executions it
exported (in this process); an export repeated after a restart adds the same values at the same
timestamp again, which leaves Average, Minimum and Maximum unchanged and doubles SampleCount and Sum
for that minute. Data older than two weeks are refused by CloudWatch, so such an execution is skipped
with a warning.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from controller.exporting.base import RUN_LABEL_NAMES, ExportContext, run_labels
from schemas.errors import ReporterError
from schemas.results import ResultRecord
from schemas.runspec import RunSpec

log = logging.getLogger(__name__)

NAMESPACE = "Anubis"
MAX_DIMENSIONS = 30
MAX_DATA_PER_CALL = 1000
MAX_VALUES_PER_DATUM = 150
MAX_AGE_SECONDS = 14 * 24 * 3600
#: Labels that are dimensions by default, besides the user's.
DEFAULT_DIMENSIONS = ("benchmark", "environment", "task_name")
_PER_EXECUTION = frozenset(RUN_LABEL_NAMES) - set(DEFAULT_DIMENSIONS)
#: How many exported execution ids are remembered.
REMEMBERED = 10_000

#: Units CloudWatch knows, by the spellings descriptors use.
UNITS = {
    "s": "Seconds", "sec": "Seconds", "seconds": "Seconds", "ms": "Milliseconds",
    "milliseconds": "Milliseconds", "us": "Microseconds", "µs": "Microseconds",
    "microseconds": "Microseconds", "bytes": "Bytes", "b": "Bytes", "kb": "Kilobytes",
    "mb": "Megabytes", "gb": "Gigabytes", "%": "Percent", "percent": "Percent", "count": "Count",
    "bytes/s": "Bytes/Second", "count/s": "Count/Second",
}  # fmt: skip

CloudWatchClient = Any  # boto3's client("cloudwatch")


class CloudWatchExporter:
    """Puts the metrics of finished executions into CloudWatch through ``client``."""

    name = "cloudwatch"

    def __init__(
        self,
        client: CloudWatchClient,
        *,
        namespace: str = NAMESPACE,
        dimensions: Sequence[str] | None = None,
        max_data_per_call: int = MAX_DATA_PER_CALL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``dimensions``: the label names to use; ``None``, the default ones and every user label."""
        if not 1 <= max_data_per_call <= MAX_DATA_PER_CALL:
            raise ValueError(f"max_data_per_call is between 1 and {MAX_DATA_PER_CALL}, not {max_data_per_call}")
        self.client = client
        self.namespace = namespace
        self.dimension_names = tuple(dimensions) if dimensions is not None else None
        self.max_data_per_call = max_data_per_call
        self._clock = clock
        self._exported: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CloudWatchExporter(namespace={self.namespace!r})"

    def dimensions(self, spec: RunSpec, record: ResultRecord) -> list[dict[str, str]]:
        labels = run_labels(spec, record)
        if self.dimension_names is not None:
            names = [n for n in self.dimension_names if n in labels]
        else:
            names = [n for n in labels if n not in _PER_EXECUTION]
        names = [n for n in names if labels[n]]  # CloudWatch refuses empty values
        if len(names) > MAX_DIMENSIONS:
            log.warning(
                "execution %s has %s labels; CloudWatch takes %s dimensions, dropping %s",
                record.execution_id, len(names), MAX_DIMENSIONS, ", ".join(names[MAX_DIMENSIONS:]),
            )  # fmt: skip
            names = names[:MAX_DIMENSIONS]
        return [{"Name": n[:255], "Value": labels[n][:1024]} for n in names]

    def data(self, spec: RunSpec, record: ResultRecord) -> Iterator[dict[str, Any]]:
        """The PutMetricData data of an execution (pure)."""
        dimensions = self.dimensions(spec, record)
        at = datetime.fromtimestamp(record.finished_at or record.started_at or self._clock(), tz=UTC)
        for name, metric in record.metrics.items():
            values = [v for v in metric.values if math.isfinite(v)]
            for start in range(0, len(values), MAX_VALUES_PER_DATUM):
                yield {
                    "MetricName": name[:255],
                    "Dimensions": dimensions,
                    "Timestamp": at,
                    "Values": values[start : start + MAX_VALUES_PER_DATUM],
                    "Unit": UNITS.get(metric.unit.strip().lower(), "None"),
                }
        if record.duration is not None and math.isfinite(record.duration):
            yield {"MetricName": "RunDuration", "Dimensions": dimensions, "Timestamp": at, "Value": record.duration, "Unit": "Seconds"}
        status = [*dimensions[: MAX_DIMENSIONS - 1], {"Name": "status", "Value": record.status.value}]
        yield {"MetricName": "RunFinished", "Dimensions": status, "Timestamp": at, "Value": 1.0, "Unit": "Count"}

    def export(self, context: ExportContext) -> None:
        """Put the execution's metrics (log lines are not used); once per execution in this process."""
        spec, record = context.spec, context.record
        with self._lock:
            if record.execution_id in self._exported:
                log.debug("execution %s was already exported to CloudWatch", record.execution_id)
                return
        when = record.finished_at or record.started_at
        if when is not None and self._clock() - when > MAX_AGE_SECONDS:
            log.warning(
                "not exporting execution %s to CloudWatch: it finished more than two weeks ago, "
                "older than CloudWatch accepts", record.execution_id,
            )  # fmt: skip
            return
        batch: list[dict[str, Any]] = []
        for datum in self.data(spec, record):
            batch.append(datum)
            if len(batch) == self.max_data_per_call:
                self._put(record, batch)
                batch = []
        if batch:
            self._put(record, batch)
        with self._lock:
            self._exported[record.execution_id] = None
            while len(self._exported) > REMEMBERED:
                self._exported.popitem(last=False)

    def _put(self, record: ResultRecord, data: list[dict[str, Any]]) -> None:
        try:
            self.client.put_metric_data(Namespace=self.namespace, MetricData=data)
        except (ClientError, BotoCoreError) as e:
            raise ReporterError(
                f"CloudWatch refused the metrics of execution {record.execution_id}: {e}. Check the "
                "region and that the controller's role may call cloudwatch:PutMetricData."
            ) from e
