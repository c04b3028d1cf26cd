"""Chunks of output lines, as writers hand them to the journal, and the pieces the index holds.

A writer (``anubis run``'s :class:`~controller.local.journaling.JournalTap`) stores what a stream
printed as *chunks*: runs of whole lines, each ending with a newline (the last line of a stream that
ended without one is a chunk of its own without it). Storing a chunk is one row whatever it holds, so
a benchmark printing megabytes a second costs the journal a few inserts a second. Lines are read
straight from the chunks (:meth:`~controller.journal.reading.JournalReading.lines`).

The full-text index holds *pieces*: each chunk's lines, :data:`PIECE_LINES` at a time, one index row
per piece (FTS5 costs a few microseconds per row whatever it holds: a row per line indexed ~130k lines
a second, a row per 100 lines ~600k — bench/run_output.py). Piece ``k`` of chunk ``c`` is index row
``c << PIECE_SHIFT | k``; a search finds pieces and then the lines in them
(:mod:`controller.journal.search`).
"""

from __future__ import annotations

from collections.abc import Iterator

#: At most this many bytes of a line are indexed; a longer one is cut and marked with :data:`CUT`.
MAX_LINE_BYTES = 64 * 1024
CUT = " …"
CUT_BYTES = CUT.encode("utf-8")


#: Lines per index row.
PIECE_LINES = 100
#: Index row ``chunk << PIECE_SHIFT | piece``: a chunk may hold up to 2**24 pieces (1.6 billion lines).
PIECE_SHIFT = 24


def piece_row(chunk_id: int, piece: int) -> int:
    return chunk_id << PIECE_SHIFT | piece


def row_piece(row: int) -> tuple[int, int]:
    """``(chunk id, piece number)`` of an index row."""
    return row >> PIECE_SHIFT, row & ((1 << PIECE_SHIFT) - 1)


def chunk_pieces(data: bytes) -> list[str]:
    """The text the index holds for a chunk: its lines, :data:`PIECE_LINES` to a piece, joined by
    newlines. Decoding the chunk whole gives the same text as decoding its lines one by one (a
    newline is never inside a UTF-8 sequence, so an invalid one is replaced the same way); a carriage
    return, which :func:`line_text` takes off a line, separates words like the newline it is next to."""
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return ["\n".join(lines[start : start + PIECE_LINES]) for start in range(0, len(lines), PIECE_LINES)]


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
