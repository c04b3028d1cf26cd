"""How a record is laid out in the store's rows: the record as JSON, each metric's summary in
``metrics`` and its values and their times in ``metric_samples``, one row per metric: two BLOBs of
little-endian IEEE doubles (NaN as NaN; a missing time as NaN). One row per value took ~0.5 s to
store 100,000 values and as long to read them back for every judged run (bench/run_output.py)."""

from __future__ import annotations

import math
import sqlite3
import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from schemas.errors import StoreError

if TYPE_CHECKING:  # a type only: the reading commands list and find runs without the record's classes
    from schemas.results import ResultRecord


METRICS_INSERT = "INSERT INTO metrics (execution_id, name, unit, direction, n, last, mean, median, min, max, stdev) VALUES "
SAMPLES_INSERT = 'INSERT INTO metric_samples (execution_id, name, "values", times) VALUES '


def metric_rows(execution_id: str, record: ResultRecord) -> Iterator[tuple[tuple[object, ...], tuple[object, ...]]]:
    """Each metric's row of ``metrics`` (its summary) and of ``metric_samples`` (values and times)."""
    for name, metric in record.metrics.items():
        s = metric.summary()
        summary = (s.last, s.mean, s.median, s.min, s.max, s.stdev) if s else (None,) * 6
        times = list(metric.times[: len(metric.values)]) + [math.nan] * (len(metric.values) - len(metric.times))
        yield ((execution_id, name, metric.unit, metric.direction, s.n if s else 0, *summary),
               (execution_id, name, pack_doubles(metric.values), pack_doubles(times)))


def pack_doubles(numbers: Sequence[float]) -> bytes:
    """``numbers`` as little-endian IEEE doubles."""
    packed = array("d", numbers)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def unpack_doubles(data: bytes) -> tuple[float, ...]:
    numbers = array("d")
    numbers.frombytes(data)
    if sys.byteorder != "little":
        numbers.byteswap()
    return tuple(numbers)


def record_text(record: ResultRecord) -> str:
    """The record as stored in ``runs.record``: JSON, each metric's values and times left out
    (``"packed": true``: they are in ``metric_samples``; one JSON number per sample took longer to
    write, and far longer to read back for every judged run, than the rest of the record)."""
    import json  # (json: only where a record is written or read, not to list runs)

    raw = record.to_dict()
    for metric in raw["metrics"].values():
        metric.update(values=[], times=[], packed=True)
    return json.dumps(raw, separators=(",", ":"))  # key order kept: metric order


def decode_record(execution_id: str, text: str, conn: sqlite3.Connection | None = None) -> ResultRecord:
    """The record stored as ``text``; ``conn`` reads its packed samples (records stored before
    version 5 hold theirs in the JSON)."""
    import json

    from schemas.results import ResultRecord  # here: `anubis list` and `status` open the store, decode no record

    try:
        raw = json.loads(text)
        for name, metric in raw["metrics"].items():
            if metric.pop("packed", False):
                if conn is None:
                    raise KeyError(f"the samples of {name!r} are in metric_samples")
                row = conn.execute(
                    'SELECT "values", times FROM metric_samples WHERE execution_id = ? AND name = ?',
                    (execution_id, name),
                ).fetchone()
                metric["values"], metric["times"] = (unpack_doubles(row[0]), unpack_doubles(row[1])) if row else ((), ())
        return ResultRecord.from_dict(raw)
    except (ValueError, KeyError, TypeError) as e:
        raise StoreError(
            f"The stored result of execution {execution_id!r} cannot be read ({e!r}); the store may "
            "have been written by a newer version of Anubis or edited by hand."
        ) from e
