"""Words both backends use, so that a run reads the same whether it ran here or on a cluster: how a
duration is written, why a run that passed its time limit stopped, which pod of a run speaks first,
and the variables an inference run's client is given."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Pods of a run, most telling first: the one that runs the benchmark, then the workers.
ROLE_ORDER = {"launcher": 0, "main": 0, "inference": 0, "worker": 1}


def compact_duration(seconds: float, *, days: bool = False) -> str:
    """``1h30m``, ``45s``, ``2d3h`` (with ``days``; Prometheus's form): whole seconds, zero parts left out."""
    left = max(0, int(seconds))
    parts = []
    for unit, size in ((("d", 86400),) if days else ()) + (("h", 3600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def human_duration(seconds: float, *, fine: bool = False) -> str:
    """``45s``, ``4m 05s``, ``1h 02m``; ``fine``: tenths under a minute and seconds past an hour
    (``45.3s``, ``1h 02m 03s``), for tables of results."""
    if fine and seconds < 60:
        return f"{seconds:.1f}s"
    whole = max(0, int(round(seconds)))
    if whole < 60:
        return f"{whole}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if not hours:
        return f"{minutes}m {secs:02d}s"
    return f"{hours}h {minutes:02d}m {secs:02d}s" if fine else f"{hours}h {minutes:02d}m"


def time_limit_reason(limit_seconds: float | None) -> str:
    """Why a run that passed its time limit was stopped, on either backend."""
    if limit_seconds is None or not math.isfinite(limit_seconds):
        return "the run passed its time limit and was stopped"
    return f"the run passed its time limit of {compact_duration(limit_seconds)} and was stopped"


def inference_variables(host: str, ports: Sequence[int]) -> dict[str, str]:
    """What an inference run's client is told of its server: ``INFERENCE_SERVER_HOST``,
    ``INFERENCE_SERVER_PORT`` (the first port) and ``INFERENCE_SERVER_PORT_<n>`` for the others (1 for
    the second)."""
    variables = {"INFERENCE_SERVER_HOST": host}
    if ports:
        variables["INFERENCE_SERVER_PORT"] = str(ports[0])
    for n, port in enumerate(ports[1:], start=1):
        variables[f"INFERENCE_SERVER_PORT_{n}"] = str(port)
    return variables
