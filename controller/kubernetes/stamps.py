"""Lines of a container log read with ``timestamps=true``: each line's RFC 3339 time split off."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime


def iter_log_lines(chunks: Iterable[bytes], *, max_line: int | None = None) -> Iterator[tuple[float | None, bytes]]:
    """``(time, text)`` of each line (``None`` when a line carries no readable stamp). With
    ``max_line``, a longer line comes out in pieces of that many bytes (the first with its time)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield split_stamp(line)
        while max_line is not None and len(pending) > max_line:
            piece, pending = pending[:max_line], pending[max_line:]
            yield split_stamp(piece)
    if pending:
        yield split_stamp(pending)


def split_stamp(line: bytes) -> tuple[float | None, bytes]:
    """A line's time (unix seconds) and its text; ``(None, line)`` when it starts with no stamp."""
    stamp, sep, text = line.partition(b" ")
    if sep and stamp[:2].isdigit() and stamp.endswith(b"Z"):
        when = stamp_time(stamp)
        if when is not None:
            return when, text
    return None, line


def stamp_time(stamp: bytes) -> float | None:
    """Unix seconds of an RFC 3339 timestamp (nanoseconds cut to microseconds); ``None`` if unreadable."""
    text = stamp.decode("ascii", "replace").rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        return datetime.fromisoformat(text + "+00:00").timestamp()
    except ValueError:
        return None
