"""When a queued write is due: after a quiet spell, but never later than a bound.

A comment edited on every run event would cost a write per event; waiting ``delay`` seconds after
the latest change folds a burst into one write, and ``max_wait`` (from the first change still queued)
keeps a steady stream of changes from postponing it for ever.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Debounce:
    delay: float  # quiet time after the latest change
    max_wait: float  # the longest a queued change waits, counted from the first one

    def due(self, first_queued: float, now: float) -> float:
        return min(now + self.delay, first_queued + self.max_wait) if self.max_wait > 0 else now + self.delay


IMMEDIATE = Debounce(0.0, 0.0)
PENDING_STATUS = Debounce(15.0, 60.0)  # a run that finishes quickly never shows "pending" at all
FINAL_STATUS = IMMEDIATE
COMMENT = Debounce(20.0, 120.0)  # runs of one pull request finishing together: one edit


def retry_delay(attempts: int) -> float:
    """How long a write that failed ``attempts`` times waits before the next try (at most 5 minutes)."""
    return float(min(300, 5 * 2 ** max(0, attempts - 1)))
