"""The metric events that benchmark code emits with ``client_lib.emit``, as the controller reads them.

Two line formats exist (``docs/client-lib.md`` and ``schemas/metric_event.schema.json``):

- in the log stream (stdout mode): ``ANUBIS_METRICS {"accuracy": 0.93}``. The marker may be preceded
  by anything on its line (``mpirun``'s ``[1,0]<stdout>:`` prefix, a timestamp), and the JSON object
  may be followed by anything (a colour reset);
- in the FIFO or file (fifo mode): ``{"timestamp": 1700000000.5, "metrics": {"accuracy": 0.93}}``.

Values are JSON numbers; non-finite values are written as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` (the bare tokens Python's ``json`` writes are accepted too). Booleans are not values.
Parsing never raises: a line that is not an event gives ``None``; entries that are not a non-empty
name with a number are left out.

``client_lib`` (standard library only, imports nothing of ours) writes the same formats; a unit test
keeps its marker and this one equal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

EVENT_MARKER = "ANUBIS_METRICS"

_NON_FINITE = {
    "NaN": math.nan,
    "nan": math.nan,
    "Infinity": math.inf,
    "inf": math.inf,
    "-Infinity": -math.inf,
    "-inf": -math.inf,
}
_decoder = json.JSONDecoder()


def coerce_value(value: object) -> float | None:
    """The float of an event value, or None when it is not a number (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float's range
            return None
    if isinstance(value, str):
        return _NON_FINITE.get(value)
    return None


def coerce_metrics(raw: object) -> dict[str, float] | None:
    """The valid ``name -> value`` entries of a decoded metrics object, or None when there are none."""
    if not isinstance(raw, Mapping):
        return None
    values: dict[str, float] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name:
            continue
        number = coerce_value(value)
        if number is not None:
            values[name] = number
    return values or None


def parse_event_text(line: str) -> dict[str, float] | None:
    """Like :func:`parse_event_line`, for a line already decoded."""
    at = line.find(EVENT_MARKER)
    if at < 0:
        return None
    rest = line[at + len(EVENT_MARKER) :].lstrip()
    if not rest.startswith("{"):
        return None
    try:
        raw, _ = _decoder.raw_decode(rest)
    except (ValueError, RecursionError):
        return None
    return coerce_metrics(raw)


def parse_event_line(line: bytes) -> dict[str, float] | None:
    """The metrics of a stdout-mode event line (``... ANUBIS_METRICS {"name": value, ...} ...``).

    Returns None for any other line, garbage included; invalid UTF-8 is decoded with replacement.
    """
    if EVENT_MARKER.encode("ascii") not in line:
        return None
    return parse_event_text(line.decode("utf-8", errors="replace"))


def parse_event_record(line: bytes) -> tuple[float, dict[str, float]] | None:
    """The ``(timestamp, metrics)`` of a fifo-mode line (``{"timestamp": t, "metrics": {...}}``).

    Returns None for a line that is not such a record (an empty line, garbage, a partial write).
    """
    try:
        raw = json.loads(line.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict):
        return None
    timestamp = coerce_value(raw.get("timestamp"))
    metrics = coerce_metrics(raw.get("metrics"))
    if timestamp is None or not math.isfinite(timestamp) or metrics is None:
        return None
    return timestamp, metrics
