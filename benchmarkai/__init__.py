"""The original project's name for the client library: ``from benchmarkai import emit`` still works.

Everything here is :mod:`client_lib`'s, re-exported (standard library only).
"""

from __future__ import annotations

from client_lib import (
    DEFAULT_MAX_WAIT,
    MARKER,
    MODE_VARIABLE,
    PATH_VARIABLE,
    WAIT_VARIABLE,
    Emitter,
    emit,
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
