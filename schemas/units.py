"""Units of metrics that both the renderer and the controller reason about."""

from __future__ import annotations

import re

#: A unit "per second": ``samples/s``, ``images/sec``, ``tokens / second``, ``it/s``, ``req/s``.
_PER_SECOND = re.compile(r"^\s*(?P<what>[^/]+?)\s*/\s*(?:s|sec|secs|second|seconds)\s*$", re.IGNORECASE)

#: What a throughput's efficiency can be: work per joule (with GPU energy) or per dollar (with a cost).
EFFICIENCIES = ("per_joule", "per_dollar")


def throughput_unit(unit: str) -> str | None:
    """What a throughput counts (``samples`` for ``samples/s``), or None for any other unit."""
    match = _PER_SECOND.fullmatch(unit)
    return match.group("what") if match else None


def efficiency_unit(unit: str, efficiency: str) -> str:
    """``images/J`` or ``images/$`` for a throughput in ``images/s``."""
    what = throughput_unit(unit) or unit
    return f"{what}/J" if efficiency == "per_joule" else f"{what}/$"
