"""How fast the GitHub client may go: writes spaced and budgeted, and a shared pause after a limit.

GitHub's documentation ("Rate limits for the REST API", secondary rate limits; "Best practices for using
the REST API", docs.github.com) asks a client

* to make requests serially, not concurrently;
* to wait at least one second between POST, PATCH, PUT and DELETE requests;
* to stay under 80 content-generating requests a minute and 500 an hour (secondary limits: beyond
  them GitHub answers 403 or 429);
* after a 403/429 with ``retry-after``, to send nothing before that many seconds have passed; when
  ``x-ratelimit-remaining`` is 0, nothing before ``x-ratelimit-reset`` (UTC epoch seconds).

:class:`Pacer` keeps those rules for every request of one client: :meth:`Pacer.wait_before` says how
long to wait before a request (the gap since the last write, the rolling minute's and hour's budgets,
and any pause GitHub asked for), :meth:`Pacer.sent` records a write, :meth:`Pacer.pause_until` makes
every later request wait. Clock and sleeper are injected, so tests pace on a fake clock without
sleeping.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class WriteBudget:
    min_interval: float = 1.0  # seconds between two writes
    per_minute: int = 80  # writes in any 60 s
    per_hour: int = 500  # writes in any 3,600 s


class Pacer:
    """The pacing state of one client (thread-safe; the client also serialises its requests)."""

    def __init__(self, budget: WriteBudget | None = None) -> None:
        self.budget = budget or WriteBudget()
        self._writes: deque[float] = deque()  # times of the writes of the last hour, oldest first
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def wait_before(self, method: str, now: float) -> float:
        """Seconds to wait before sending a ``method`` request at ``now`` (0 when it may go at once)."""
        with self._lock:
            wait = max(0.0, self._paused_until - now)
            if method.upper() not in WRITE_METHODS:
                return wait
            self._forget(now)
            b = self.budget
            if self._writes:
                wait = max(wait, self._writes[-1] + b.min_interval - now)
            if b.per_hour > 0 and len(self._writes) >= b.per_hour:
                wait = max(wait, self._writes[-b.per_hour] + 3600.0 - now)
            in_minute = [t for t in self._writes if t > now - 60.0]
            if b.per_minute > 0 and len(in_minute) >= b.per_minute:
                wait = max(wait, in_minute[-b.per_minute] + 60.0 - now)
            return wait

    def sent(self, method: str, at: float) -> None:
        """Record a request sent at ``at`` (only writes count against the budgets)."""
        if method.upper() not in WRITE_METHODS:
            return
        with self._lock:
            self._writes.append(at)
            self._forget(at)

    def pause_until(self, when: float) -> None:
        """No request before ``when`` (a secondary limit's Retry-After, an exhausted primary limit)."""
        with self._lock:
            self._paused_until = max(self._paused_until, when)

    @property
    def paused_until(self) -> float:
        return self._paused_until

    def _forget(self, now: float) -> None:
        while self._writes and self._writes[0] <= now - 3600.0:
            self._writes.popleft()
