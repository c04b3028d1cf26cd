"""A container log read with ``timestamps=true``: each line starts with its RFC 3339 time and a space.

Two readers, both linear in the log whatever its lines (a ``\\r`` progress bar makes a line of tens
of MB without ``\\n``):

- :func:`iter_log_lines`: ``(time, text)`` of each line, for what shows or exports lines;
- :class:`StampedText`: the log's text without the stamps, a chunk at a time, in pieces whose lines
  were all written within :data:`RESOLUTION` seconds, each with the time of its last line. The
  metric extractor reads these pieces as it reads a local run's output (a chunk at a time, each
  with the time it arrived), so the controller and ``anubis run`` share one code path and a value
  gets the time of its line within :data:`RESOLUTION` (a local run's values get the time their
  chunk was read, no closer).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

RESOLUTION = 1.0  # seconds: the lines of one piece of StampedText were written this close together
_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z ")
_STAMP_AFTER_BREAK = re.compile(rb"\n" + _STAMP.pattern)  # a literal first: re scans for it fast
_STAMP_MAX = 40  # bytes: longer than any stamp and its space


def _python_unstamp(text: bytes) -> bytes:
    return _STAMP_AFTER_BREAK.sub(b"\n", text)


def _unstamper() -> Callable[[bytes], bytes]:
    """The stamps after line breaks taken off by controller/_linescan.c when it is built (the same
    bytes, without a regex engine's step per line), by ``re`` otherwise."""
    try:
        module: Any = importlib.import_module("controller._linescan")
    except ImportError:
        return _python_unstamp
    unstamp: Callable[[bytes], bytes] = module.unstamp
    return unstamp


unstamp = _unstamper()


def iter_log_lines(chunks: Iterable[bytes], *, max_line: int | None = None) -> Iterator[tuple[float | None, bytes]]:
    """``(time, text)`` of each line (``None`` when a line carries no readable stamp). With
    ``max_line``, a longer line comes out in pieces of that many bytes (the first with its time).
    Linear in the log: an unfinished line is kept as a list of chunks, joined once."""
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        lines = chunk.split(b"\n")
        if len(lines) > 1:
            pending.append(lines[0])
            yield split_stamp(b"".join(pending))
            for line in lines[1:-1]:
                yield split_stamp(line)
            pending, size = [], 0
        last = lines[-1]
        if last:
            pending.append(last)
            size += len(last)
        if max_line is not None and size > max_line:
            joined = b"".join(pending)
            cut = (len(joined) - 1) // max_line * max_line  # what is left: 1 to max_line bytes
            for start in range(0, cut, max_line):
                yield split_stamp(joined[start : start + max_line])
            pending = [joined[cut:]] if cut < len(joined) else []
            size = len(joined) - cut
    if pending:
        yield split_stamp(b"".join(pending))


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


class StampedText:
    """The text of a stamped log, fed a chunk at a time (see the module's description)."""

    def __init__(self) -> None:
        self._head = b""  # the start of a line whose stamp may not be complete yet
        self._in_line = False  # the next byte continues a line whose stamp was already taken off
        self.time: float | None = None  # of the latest stamped line seen

    def feed(self, chunk: bytes) -> list[tuple[float | None, bytes]]:
        """``(time, text)`` pieces of ``chunk`` without the stamps (a few bytes may be held back until
        the next chunk shows whether they start a stamp)."""
        data = self._head + chunk if self._head else chunk
        self._head = b""
        out: list[tuple[float | None, bytes]] = []
        if self._in_line:
            end = data.find(b"\n")
            if end < 0:
                return [(self.time, data)] if data else []
            out.append((self.time, data[: end + 1]))
            data = data[end + 1 :]
        # data starts at the start of a line
        tail_start = data.rfind(b"\n") + 1
        tail = data[tail_start:]
        if tail and len(tail) < _STAMP_MAX and b" " not in tail:
            self._head, data = tail, data[:tail_start]  # perhaps a stamp cut short: wait for more
            self._in_line = False
        else:
            self._in_line = bool(tail)
        if data:
            self._pieces(data, out)
        return out

    def close(self) -> list[tuple[float | None, bytes]]:
        """At the end of the log: what was held back."""
        head, self._head = self._head, b""
        if not head:
            return []
        when, text = split_stamp(head)
        if when is not None:
            self.time = when
        return [(self.time, text)]

    def _time_at(self, data: bytes, at: int) -> float | None:
        match = _STAMP.match(data, at)
        return stamp_time(match.group()[:-1]) if match else None

    def _pieces(self, data: bytes, out: list[tuple[float | None, bytes]]) -> None:
        """Split ``data`` (whole lines, but perhaps the last) until each piece's lines are within
        RESOLUTION of each other: O(log n) stamps read for a log that writes lines often."""
        first = self._time_at(data, 0)
        last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
        last = self._time_at(data, last_start) if last_start else first
        if last_start and first is not None and last is not None and last - first > RESOLUTION:
            middle = data.rfind(b"\n", 0, len(data) // 2) + 1 or data.find(b"\n", len(data) // 2) + 1
            if 0 < middle < len(data):
                self._pieces(data[:middle], out)
                self._pieces(data[middle:], out)
                return
        if last is not None:
            self.time = last
        elif first is not None:
            self.time = first
        first_stamp = _STAMP.match(data)
        text = data[first_stamp.end() :] if first_stamp else data
        out.append((self.time, unstamp(text)))
