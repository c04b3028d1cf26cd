"""Durations as written in descriptors and environments: seconds, or "90s", "30m", "2h", "1d"."""

from __future__ import annotations

import math

MAX_SECONDS = 10 * 365 * 86400  # ten years: anything longer is a mistake

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | float | str) -> int:
    """Whole seconds (at least 1). The schemas have already checked the form."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"not a duration: {value!r}")
        return max(1, int(value))
    text = value.strip()
    if not text or text[-1] not in _UNITS:
        raise ValueError(f"not a duration: {value!r}")
    try:
        number = float(text[:-1])
    except ValueError:
        raise ValueError(f"not a duration: {value!r}") from None
    seconds = number * _UNITS[text[-1]]
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise ValueError(f"duration {value!r} is too long")
    return max(1, int(seconds))


def format_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
