"""Numbers, changes, durations, times and statuses as people read them, with the tone to show them in."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from anubis.presenting.tables import Tone
from schemas.status import RunStatus
from schemas.vocabulary import human_duration

MISSING = "—"

#: The tone of each verdict of a statistical judgement.
VERDICT_TONES: dict[str, Tone] = {
    "regression": "bad",
    "improvement": "good",
    "suspected": "warn",
    "no_change": "muted",
    "insufficient_data": "warn",
}


def format_numbers(values: Sequence[float | None]) -> list[str]:
    """Numbers that are read side by side (a row of statistics, a column of means), with the same
    decimals: four significant digits on the largest, no exponent for everyday magnitudes."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v) and v != 0]
    magnitude = math.floor(math.log10(max(finite))) if finite else 0
    scientific = magnitude >= 9 or magnitude < -4
    decimals = max(0, 3 - magnitude)
    out = []
    for v in values:
        if v is None:
            out.append(MISSING)
        elif math.isnan(v):
            out.append("NaN")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        elif v == 0:
            out.append("0")
        elif scientific:
            out.append(f"{v:.4g}")
        else:
            out.append(f"{v:,.{decimals}f}")
    return out


def format_change(change: float | None, percent: float | None, like: Sequence[float | None] = ()) -> str:
    """``+1.50 (+14.3%)``; ``like`` are the numbers it is read beside (for the same decimals)."""
    if change is None:
        return MISSING
    text = f"{'+' if change > 0 else ''}{format_numbers([*like, change])[-1]}"
    if percent is not None:
        text += f" ({'+' if percent > 0 else ''}{percent:.1f}%)"
    return text


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    return human_duration(seconds, fine=True)


def format_time(timestamp: float | None) -> str:
    """UTC, to the second: the same on every machine of a team."""
    if timestamp is None or not math.isfinite(timestamp):
        return MISSING
    try:
        return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # beyond the years 1-9999: shown as stored, not a failure
        return f"{timestamp:.6g} s"


def status_tone(status: RunStatus) -> Tone:
    if status is RunStatus.SUCCEEDED:
        return "good"
    if status in (RunStatus.FAILED, RunStatus.ERROR, RunStatus.TIMED_OUT):
        return "bad"
    if status is RunStatus.CANCELED:
        return "warn"
    return "muted"
