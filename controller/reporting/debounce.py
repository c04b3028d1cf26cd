"""When a queued write is due: after a quiet spell, but never later than a bound.

A comment edited on every run event would cost a write per event; waiting ``delay`` seconds after
the latest change folds a burst into one write, and ``max_wait`` (from the first change still queued)
keeps a steady stream of changes from postponing it for ever. A write that failed is due again after
:data:`RETRY`'s back-off.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.retrying import RetryPolicy


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

#: A queued write that failed waits 5 s, doubled after each further failure up to 5 minutes, and is
#: kept until it succeeds or GitHub refuses it for good (no bound on the tries).
RETRY = RetryPolicy(attempts=0, base_delay=5.0, max_delay=300.0, jitter=0.0)
