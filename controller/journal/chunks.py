"""Chunks of output lines, as writers hand them to the journal and as it splits them into lines.

A writer (``anubis run``'s :class:`~controller.local.journaling.JournalTap`) stores what a stream
printed as *chunks*: runs of whole lines, each ending with a newline (the last line of a stream that
ended without one is a chunk of its own without it). Storing a chunk is one row whatever it holds, so
a benchmark printing megabytes a second costs the journal a few inserts a second; the lines are split
out and indexed later, in bulk (:meth:`~controller.journal.writing.JournalWriting.index_pending`), and
read straight from the chunks until then (:meth:`~controller.journal.reading.JournalReading.lines`).
"""

from __future__ import annotations

from collections.abc import Iterator

#: At most this many bytes of a line are indexed; a longer one is cut and marked with :data:`CUT`.
MAX_LINE_BYTES = 64 * 1024
CUT = " …"
CUT_BYTES = CUT.encode("utf-8")


def chunk_lines(data: bytes) -> list[bytes]:
    """The lines of a chunk, without their newlines (a final line without one is a line too)."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts


def line_text(line: bytes) -> str:
    """What the journal keeps of one line: without a trailing carriage return, at most
    :data:`MAX_LINE_BYTES` bytes (then marked with :data:`CUT`), decoded as UTF-8 (bad bytes replaced)."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) > MAX_LINE_BYTES:
        if line.endswith(CUT_BYTES) and len(line) == MAX_LINE_BYTES + len(CUT_BYTES):
            line = line[:MAX_LINE_BYTES]  # already cut by the writer
        return line[:MAX_LINE_BYTES].decode("utf-8", errors="replace") + CUT
    return line.decode("utf-8", errors="replace")


def split_chunk(data: bytes, first_line: int) -> Iterator[tuple[int, str]]:
    """``(number, text)`` of each line of a chunk whose first line is number ``first_line``."""
    for offset, line in enumerate(chunk_lines(data)):
        yield first_line + offset, line_text(line)
