"""Anubis's client library: how benchmark code reports its metrics (standard library only).

    from client_lib import emit          # or, as in the original project: from benchmarkai import emit

    emit({"accuracy": 0.93, "loss": 0.21})

The runner chooses where events go with ``BENCHMARK_AI`` (``stdout``, the default, or ``fifo``),
``BENCHMARK_AI_FIFO_FILEPATH`` and ``BENCHMARK_AI_FIFO_MAX_WAIT_TIME``, read at every call; see
:mod:`client_lib.emitter` for the protocol and ``docs/client-lib.md`` for the whole story. ``emit``
is thread-safe, validates its argument (``TypeError``/``ValueError``) and never blocks for longer than
the wait time when nobody is listening.
"""

from __future__ import annotations

from collections.abc import Mapping

from client_lib.emitter import (
    DEFAULT_MAX_WAIT,
    MARKER,
    MODE_VARIABLE,
    PATH_VARIABLE,
    WAIT_VARIABLE,
    Emitter,
    encode_metrics,
)

__all__ = [
    "DEFAULT_MAX_WAIT",
    "MARKER",
    "MODE_VARIABLE",
    "PATH_VARIABLE",
    "WAIT_VARIABLE",
    "Emitter",
    "emit",
    "encode_metrics",
]

# The process's one emitter: it holds the lock and the open FIFO that every emit() shares.
_emitter = Emitter()


def emit(metrics: Mapping[str, float | int]) -> None:
    """Report metric values, e.g. ``emit({"accuracy": 0.93})``.

    Names are non-empty strings; values are ints or floats (numpy scalars too; NaN and infinities
    are allowed; booleans are not). Raises TypeError or ValueError for anything else. An empty
    mapping does nothing.
    """
    _emitter.emit(metrics)
