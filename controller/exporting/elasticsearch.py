"""Elasticsearch: the log lines of an execution, bulk-indexed with the run's labels.

Indices: one per day, ``<prefix>-YYYY.MM.DD`` (UTC day of the line's time; default prefix
``anubis-logs``). Logs grow with time, not with benchmarks, so a day is the unit a retention policy
deletes or an ILM policy rolls over; a run or a benchmark is a filter (``execution_id``,
``benchmark``), never an index. :data:`MAPPINGS` is the mapping, installed as the index template
``<prefix>`` by :meth:`ElasticsearchExporter.put_template`:

====================  ==========  ================================================================
field                 type        what
====================  ==========  ================================================================
``@timestamp``        date        when the line was read (epoch milliseconds)
``message``           text        the line, without its end of line
``source``            keyword     ``pod/container`` it came from (``pod`` and ``container`` too)
``line``              long        its number within that source, from 1
``benchmark`` …       keyword     the run's labels (RUN_LABELS: benchmark, environment, run_id,
                                  execution_id, family_id, action_id, task_name)
``status``            keyword     the execution's final status
``labels``            flattened   the user's ``info.labels`` under their own names
====================  ==========  ================================================================

Idempotent: a document's ``_id`` is ``<execution_id>:<source>:<line>`` and the action is ``index``,
so exporting an execution again overwrites its documents instead of adding copies (a line's index
depends only on its own time, so it lands in the same index). Lines stream through
``elasticsearch.helpers.streaming_bulk`` in chunks, so memory stays bounded whatever the log's
size; documents refused with 429 are retried with exponential backoff, and what still fails is
reported as one :class:`~schemas.errors.ReporterError` after the rest is indexed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch
from elasticsearch.helpers import streaming_bulk

from controller.exporting.base import ExportContext, LogLine, run_labels, user_labels
from schemas.errors import ReporterError
from schemas.results import ResultRecord
from schemas.runspec import RunSpec

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "anubis-logs"
#: How many failed documents an error message names.
ERRORS_SHOWN = 3

_KEYWORDS = ("benchmark", "environment", "run_id", "execution_id", "family_id", "action_id", "task_name")

MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "@timestamp": {"type": "date", "format": "epoch_millis"},
        "message": {"type": "text"},
        "source": {"type": "keyword"},
        "pod": {"type": "keyword"},
        "container": {"type": "keyword"},
        "line": {"type": "long"},
        "status": {"type": "keyword"},
        "labels": {"type": "flattened"},
        **{name: {"type": "keyword"} for name in _KEYWORDS},
    },
}


class ElasticsearchExporter:
    """Indexes the log lines of finished executions through ``client``."""

    name = "elasticsearch"

    def __init__(
        self,
        client: Elasticsearch,
        *,
        index_prefix: str = DEFAULT_PREFIX,
        chunk_size: int = 500,
        max_chunk_bytes: int = 5 * 1024 * 1024,
        max_retries: int = 5,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        if index_prefix != index_prefix.lower() or not index_prefix:
            raise ValueError(f"an Elasticsearch index prefix is lower case and not empty, not {index_prefix!r}")
        self.client = client
        self.index_prefix = index_prefix
        self.chunk_size = chunk_size
        self.max_chunk_bytes = max_chunk_bytes
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff

    def __repr__(self) -> str:
        return f"ElasticsearchExporter(index_prefix={self.index_prefix!r})"

    def index_name(self, at: float) -> str:
        day = datetime.fromtimestamp(at, tz=UTC)
        return f"{self.index_prefix}-{day:%Y.%m.%d}"

    def put_template(self) -> None:
        """Install (or update) the index template that maps ``<prefix>-*`` indices."""
        try:
            self.client.indices.put_index_template(
                name=self.index_prefix,
                index_patterns=[f"{self.index_prefix}-*"],
                template={"mappings": MAPPINGS},
                meta={"managed_by": "anubis"},
            )
        except (ApiError, TransportError) as e:
            raise ReporterError(
                f"Elasticsearch refused the index template {self.index_prefix!r}: {e}. Check the "
                "Elasticsearch URL in the controller's settings and that its user may manage templates."
            ) from e

    def actions(self, spec: RunSpec, record: ResultRecord, lines: Iterable[LogLine]) -> Iterator[dict[str, Any]]:
        """The bulk actions of an execution's lines, one at a time (nothing is held in memory)."""
        labels = run_labels(spec, record)
        fixed = {name: labels[name] for name in _KEYWORDS}
        user = user_labels(spec, record)
        counts: dict[str, int] = {}
        for line in lines:
            n = counts[line.source] = counts.get(line.source, 0) + 1
            pod, _, container = line.source.partition("/")
            yield {
                "_op_type": "index",
                "_index": self.index_name(line.time),
                "_id": f"{record.execution_id}:{line.source}:{n}",
                "_source": {
                    "@timestamp": round(line.time * 1000),
                    "message": line.text.rstrip("\r\n"),
                    "source": line.source,
                    "pod": pod,
                    "container": container,
                    "line": n,
                    "status": record.status.value,
                    **fixed,
                    "labels": user,
                },
            }

    def export(self, context: ExportContext) -> None:
        spec, record, lines = context.spec, context.record, context.lines
        indexed = 0
        failed: list[str] = []
        started = time.monotonic()
        try:
            for ok, item in streaming_bulk(
                self.client,
                self.actions(spec, record, lines),
                chunk_size=self.chunk_size,
                max_chunk_bytes=self.max_chunk_bytes,
                raise_on_error=False,
                raise_on_exception=True,
                max_retries=self.max_retries,
                initial_backoff=self.initial_backoff,
                max_backoff=self.max_backoff,
            ):
                if ok:
                    indexed += 1
                else:
                    failed.append(_describe(item))
        except (ApiError, TransportError) as e:
            raise ReporterError(
                f"Elasticsearch refused the log lines of execution {record.execution_id} after "
                f"{indexed} were indexed: {e}. Check the Elasticsearch URL and credentials in the "
                "controller's settings; exporting again overwrites what was indexed."
            ) from e
        if failed:
            shown = "; ".join(failed[:ERRORS_SHOWN]) + ("; …" if len(failed) > ERRORS_SHOWN else "")
            raise ReporterError(
                f"Elasticsearch refused {len(failed)} of the {indexed + len(failed)} log lines of "
                f"execution {record.execution_id} ({shown}). Exporting again overwrites what was indexed."
            )
        log.info(
            "indexed %s log lines of execution %s in Elasticsearch (%.1f s)",
            indexed, record.execution_id, time.monotonic() - started,
        )  # fmt: skip


def _describe(item: dict[str, Any]) -> str:
    (action, info), = item.items()
    error = info.get("error")
    reason = error.get("reason", error) if isinstance(error, dict) else error
    return f"{action} {info.get('_id')}: {info.get('status')} {reason}"
