"""The one retry policy: its formula, its bounds, ``Retry-After``, and the policies the clients use."""

from __future__ import annotations

import math
from email.utils import formatdate

import pytest

from controller.kubernetes.client import KUBERNETES_RETRY
from controller.reporting.debounce import RETRY as OUTBOX_RETRY
from controller.reporting.github import GITHUB_RETRY, SECONDARY_LIMIT_RETRY, GitHubClient
from controller.retrying import RetryPolicy, retry_after_seconds
from controller.sqlite_files import OPEN_RETRY
from schemas.errors import ReporterError

NOW = 1_750_000_000.0


def test_the_wait_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_jitter_draws_the_given_part_of_the_wait() -> None:
    policy = RetryPolicy(base_delay=4.0, max_delay=100.0, jitter=0.25)
    assert policy.delay(2, rng=lambda: 0.0) == 6.0  # (1 - 0.25) * 8
    assert policy.delay(2, rng=lambda: 0.5) == 7.0
    assert policy.delay(2, rng=lambda: 0.999999) == pytest.approx(8.0)
    waits = {policy.delay(3) for _ in range(200)}  # the real random source: spread within the bounds
    assert len(waits) > 1 and all(12.0 <= w <= 16.0 for w in waits)


def test_attempts_below_one_count_as_the_first_failure() -> None:
    policy = RetryPolicy(base_delay=5.0, max_delay=300.0, jitter=0.0)
    assert policy.delay(0) == policy.delay(1) == 5.0


def test_a_server_s_retry_after_replaces_the_wait_and_is_not_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0)
    assert policy.delay(1, retry_after=42.0) == 42.0
    assert policy.delay(5, retry_after=0.0) == 0.0
    assert policy.delay(1, retry_after=-3.0) == 0.0


def test_attempts_bound_the_retries_and_zero_means_no_bound() -> None:
    bounded = RetryPolicy(attempts=3)
    assert [bounded.may_retry(n) for n in (1, 2, 3, 4)] == [True, True, False, False]
    unbounded = RetryPolicy(attempts=0)
    assert unbounded.may_retry(1) and unbounded.may_retry(10_000)


def test_a_very_late_attempt_is_capped_without_overflowing() -> None:
    policy = RetryPolicy(attempts=0, base_delay=5.0, max_delay=300.0, jitter=0.0)
    assert policy.delay(100_000) == 300.0
    assert RetryPolicy(base_delay=1.0, max_delay=math.inf, jitter=0.0).delay(100_000) == 2.0**64


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [({"attempts": -1}, "attempts"), ({"base_delay": -1.0}, "delays"), ({"max_delay": math.nan}, "delays"),
     ({"jitter": 1.5}, "jitter")],
)
def test_a_nonsense_policy_is_refused(kwargs: dict[str, float], what: str) -> None:
    with pytest.raises(ValueError, match=what):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 1.5 ", 1.5), ("-3", 0.0), (formatdate(NOW + 30, usegmt=True), 30.0),
     (formatdate(NOW - 600, usegmt=True), 0.0), ("soon", None), ("", None), ("inf", None), ("nan", None),
     (None, None)],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds


def test_the_clients_keep_their_former_waits() -> None:
    """The figures each client used before the policy was shared (a change here changes behaviour)."""
    half = lambda: 0.5  # noqa: E731
    assert [KUBERNETES_RETRY.delay(n, rng=half) for n in (1, 2, 9)] == [0.2 * 0.75, 0.4 * 0.75, 30.0 * 0.75]
    assert KUBERNETES_RETRY.attempts == 6 and not KUBERNETES_RETRY.may_retry(6)
    assert [GITHUB_RETRY.delay(n, rng=half) for n in (1, 3, 9)] == [0.75, 3.0, 90.0]
    assert GITHUB_RETRY.attempts == 6 and GITHUB_RETRY.max_delay == 120.0
    assert [SECONDARY_LIMIT_RETRY.delay(n) for n in (1, 2, 3)] == [60.0, 120.0, 240.0]
    # the outbox: 5 s doubled up to 5 minutes, no jitter (formerly min(300, 5 * 2 ** (attempts - 1)))
    assert [OUTBOX_RETRY.delay(n) for n in range(1, 9)] == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    assert OUTBOX_RETRY.may_retry(1_000)
    # opening a SQLite file another process sets up: 10 ms doubled up to 0.5 s
    assert [OPEN_RETRY.delay(n) for n in range(1, 8)] == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5]


def test_the_github_client_wants_a_bound_on_its_attempts() -> None:
    """An unbounded policy would block the controller on one request; the outbox is the endless retry."""
    with pytest.raises(ReporterError, match="bound on its attempts"):
        GitHubClient("acme/benchmarks", "", retry=RetryPolicy(attempts=0))
