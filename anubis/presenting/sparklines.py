"""A series of values as one line of block characters, with ASCII for consoles that cannot draw blocks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anubis.presenting.output import Console

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_BLOCKS = "_.-=+*#@"


def sparkline(values: Sequence[float | None], *, ascii_only: bool = False) -> str:
    """One block character per value, scaled between the finite minimum and maximum.

    A missing or non-finite value is a space; when every finite value is equal, all sit mid-height.
    """
    blocks = ASCII_BLOCKS if ascii_only else BLOCKS
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    top = len(blocks) - 1
    chars = []
    for v in values:
        if v is None or not math.isfinite(v):
            chars.append(" ")
        elif high == low:
            chars.append(blocks[top // 2])
        else:
            chars.append(blocks[min(top, int((v - low) / (high - low) * top + 0.5))])
    return "".join(chars)


def can_draw_blocks(console: Console) -> bool:
    try:
        BLOCKS.encode(console.encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def marked_sparkline(
    values: Sequence[float | None], breaks: Sequence[bool], *, ascii_only: bool = False
) -> str:
    """:func:`sparkline` with a bar before each value whose ``breaks`` entry is true (a step or a
    baseline reset starts there)."""
    line = sparkline(values, ascii_only=ascii_only)
    bar = "|" if ascii_only else "┃"
    return "".join((bar if brk and i else "") + ch for i, (ch, brk) in enumerate(zip(line, breaks)))
