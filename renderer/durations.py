"""Durations as written in descriptors and environments: seconds, or "90s", "30m", "2h", "1d"."""

from __future__ import annotations

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | float | str) -> int:
    """Whole seconds (at least 1). The schemas have already checked the form."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return max(1, int(value))
    text = value.strip()
    unit = text[-1]
    if unit not in _UNITS:
        raise ValueError(f"not a duration: {value!r}")
    return max(1, int(float(text[:-1]) * _UNITS[unit]))


def format_duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
