"""Run statuses and which of them are final."""

from __future__ import annotations

import enum


class RunStatus(str, enum.Enum):
    PENDING = "PENDING"
    FETCHING_DATA = "FETCHING_DATA"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ERROR = "ERROR"
    CANCELED = "CANCELED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    def __str__(self) -> str:
        return self.value


FINAL_STATUSES = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ERROR, RunStatus.CANCELED, RunStatus.TIMED_OUT}
)
