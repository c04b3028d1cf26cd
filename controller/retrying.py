"""How Anubis waits before trying again: one retry policy, one formula, one ``Retry-After`` reader.

Every place that retries a call — the Kubernetes client's ``_request``, the GitHub client's
``request``, the GitHub outbox's queued writes, opening a SQLite file that another process is
setting up — holds a :class:`RetryPolicy` (plain data, as kopf keeps its back-offs) and asks it
:meth:`RetryPolicy.delay` for the wait after each failure. The formula is capped exponential
back-off with "equal jitter": after failure ``n`` the wait is ``min(max_delay, base_delay * 2**(n-1))``,
of which the ``jitter`` part is drawn at random, so that many controllers that failed together do not
retry together (AWS Architecture Blog, "Exponential Backoff And Jitter").

A server that says how long to wait is obeyed: ``Retry-After`` (RFC 9110 §10.2.3: delay-seconds or an
HTTP-date), read by :func:`retry_after_seconds`, replaces the computed wait and is not cut to
``max_delay``; a caller that will not block that long (the GitHub client) compares the wait with
``max_delay`` itself and fails fast instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC
from typing import NamedTuple

_MAX_DOUBLINGS = 64  # 2**64 times any useful base is past any cap; more would overflow a float


class _Fields(NamedTuple):
    attempts: int  # tries in all, the first included; 0: no bound (a deadline or a durable queue ends it)
    base_delay: float  # the wait after the first failure, doubled after each further one
    max_delay: float  # the longest computed wait (``math.inf``: no cap)
    jitter: float  # the part of each wait drawn at random: a wait lies in [(1 - jitter) * d, d]


class RetryPolicy(_Fields):
    """How often and how long to retry a call that failed for a passing reason. (A named tuple that
    checks its fields, rather than a frozen dataclass: the reading commands import it to open SQLite
    files, and Python 3.11 compiles a dataclass's methods at import.)"""

    __slots__ = ()

    def __new__(cls, attempts: int = 6, base_delay: float = 1.0, max_delay: float = 30.0,
                jitter: float = 0.5) -> RetryPolicy:
        if attempts < 0:
            raise ValueError(f"a retry policy's attempts must be 0 (no bound) or more, not {attempts}")
        if base_delay < 0 or math.isnan(base_delay) or max_delay < 0 or math.isnan(max_delay):
            raise ValueError(f"a retry policy's delays must be 0 or more, not {base_delay} and {max_delay}")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"a retry policy's jitter is a fraction from 0 to 1, not {jitter}")
        return super().__new__(cls, attempts, base_delay, max_delay, jitter)

    def delay(self, attempt: int, *, retry_after: float | None = None,
              rng: Callable[[], float] | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1 for the first failure; less counts as 1).

        ``retry_after``: what the server asked for (seconds), used as it is. ``rng`` draws the jitter
        (a number in [0, 1); tests pass a fixed one; by default :func:`random.random`, imported here:
        the reading commands import this module to open SQLite files, and never wait)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        doublings = min(max(1, attempt) - 1, _MAX_DOUBLINGS)
        wait = min(self.max_delay, self.base_delay * 2.0**doublings)
        if self.jitter > 0.0 and wait > 0.0:
            if rng is None:
                import random

                rng = random.random
            wait *= (1.0 - self.jitter) + self.jitter * rng()  # noqa: S311 - jitter, not security
        return float(wait)

    def may_retry(self, attempt: int) -> bool:
        """Whether failed try number ``attempt`` may be followed by another."""
        return self.attempts == 0 or attempt < self.attempts


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` header's wait in seconds from ``now`` (unix seconds): delay-seconds or an
    HTTP-date (a date in the past is 0); ``None`` when the header is missing or unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime  # the email package: only for an HTTP-date

        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": RFC 9110's dates are GMT in any case
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
