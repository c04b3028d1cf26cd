"""How a record is laid out in the store's rows: the record as JSON, each metric's summary in
``metrics`` and its values in ``metric_values`` (NaN, which SQLite cannot hold, as NULL)."""

from __future__ import annotations

import json
import math
import sqlite3

from schemas.errors import StoreError
from schemas.results import ResultRecord


def insert_metrics(conn: sqlite3.Connection, execution_id: str, record: ResultRecord) -> None:
    for name, metric in record.metrics.items():
        s = metric.summary()
        conn.execute(
            "INSERT INTO metrics (execution_id, name, unit, direction, n, last, mean, median, min, "
            "max, stdev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                execution_id,
                name,
                metric.unit,
                metric.direction,
                s.n if s else 0,
                *((s.last, s.mean, s.median, s.min, s.max, s.stdev) if s else (None,) * 6),
            ),
        )
        times = list(metric.times) + [None] * (len(metric.values) - len(metric.times))
        conn.executemany(
            "INSERT INTO metric_values (execution_id, name, seq, value, time) VALUES (?, ?, ?, ?, ?)",
            [
                (execution_id, name, seq, None if math.isnan(value) else value, at)
                for seq, (value, at) in enumerate(zip(metric.values, times))
            ],
        )


def decode_record(execution_id: str, text: str) -> ResultRecord:
    try:
        return ResultRecord.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as e:
        raise StoreError(
            f"The stored result of execution {execution_id!r} cannot be read ({e!r}); the store may "
            "have been written by a newer version of Anubis or edited by hand."
        ) from e
