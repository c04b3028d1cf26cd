"""Times as every command shows them; a stored time beyond the years 1-9999 is shown, not a failure."""

from __future__ import annotations

import math

from anubis.presenting.formatting import MISSING, format_time


def test_a_time_is_shown_in_utc_to_the_second() -> None:
    assert format_time(1_700_000_000.4) == "2023-11-14 22:13:20Z"


def test_no_time_is_shown_as_missing() -> None:
    assert format_time(None) == MISSING and format_time(math.nan) == MISSING


def test_a_time_beyond_the_calendar_is_shown_as_its_number() -> None:
    # (a history imported before times were checked could hold one; `anubis list` failed on it)
    assert format_time(1e20) == "1e+20 s"
