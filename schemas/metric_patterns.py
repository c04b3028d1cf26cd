"""Metric patterns and the engine that runs them: RE2, whose running time is linear in the text.

A metric's ``pattern`` is written by whoever writes a descriptor and runs over whatever a benchmark
prints, so it must not be able to stall the reader: Python's ``re`` backtracks, and a pattern such as
``^(\\d+)+!`` takes time exponential in the length of a line of digits (minutes for 40 of them,
holding the GIL, deaf to signals). RE2 (PyPI ``google-re2``) runs in time linear in the text for
every pattern it accepts; it accepts Python's syntax except for what needs backtracking:
backreferences (``\\1``, ``(?P=name)``), lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``),
atomic groups and possessive repeats, conditionals, ``\\Z``, and verbose mode ``(?x)``.

This module is shared by the renderer (``validate`` refuses what RE2 cannot run, saying why and what
to write instead) and the controller (:mod:`controller.matching` runs the patterns). How a pattern
reads a log: each line on its own (``^`` and ``$`` are the line's ends, a match never contains a line
break), on bytes, with ``\\d``, ``\\w``, ``\\s`` and ``\\b`` in their ASCII sense (``\\d`` is ``[0-9]``).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["compile_line_pattern", "unsupported_construct"]

# What RE2 refuses, found in the pattern's text (outside classes), and what to write instead.
_UNSUPPORTED: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\\(?![1-7][0-7]{2})[1-9]|\(\?P="), "a backreference (\\1, (?P=name)) needs a backtracking engine; "
     "match the repeated text again explicitly"),
    (re.compile(r"\(\?<?[=!]"), "lookaround ((?=…), (?!…), (?<=…), (?<!…)) needs a backtracking engine; "
     "match the surrounding text instead, e.g. 'loss=([0-9.]+) ' rather than 'loss=([0-9.]+)(?= )'"),
    (re.compile(r"\(\?>|[*+?}]\+"), "atomic groups and possessive repeats ((?>…), a++) are not needed here: "
     "every pattern already runs in linear time; drop the '>' or the second '+'"),
    (re.compile(r"\(\?\("), "a conditional ((?(1)…|…)) needs a backtracking engine; write the alternatives out"),
    (re.compile(r"\\Z|\\A|\\z"), "each line is matched on its own: use ^ and $ for its start and end, "
     "not \\A, \\Z or \\z"),
    (re.compile(r"\(\?[aiLmsux]*x"), "verbose mode (?x) is not supported; write the pattern without spaces "
     "or comments"),
)

MAX_PATTERN_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern (its default)


def _outside_classes(pattern: str) -> str:
    """``pattern`` with the insides of ``[…]`` blanked, so that ``[?=]`` is not read as lookahead."""
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            pair = pattern[i : i + 2]
            out.append(pair if not in_class and pair[1:].isalnum() else "  ")  # "\\(" is no group
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
                out.append(ch)
            else:
                out.append(" ")
        else:
            if ch == "[":
                in_class = True
                out.append(ch)
                if pattern.startswith("^", i + 1):
                    out.append(" ")
                    i += 1
                if pattern.startswith("]", i + 1):
                    out.append(" ")
                    i += 1
            else:
                out.append(ch)
        i += 1
    return "".join(out)


def unsupported_construct(pattern: str) -> str | None:
    """A sentence naming the construct of ``pattern`` that RE2 cannot run and what to write instead,
    or None when there is none (the pattern may still fail to compile for another reason)."""
    text = _outside_classes(pattern)
    for finder, why in _UNSUPPORTED:
        if finder.search(text):
            return why
    return None


def _options() -> Any:
    import re2

    options = re2.Options()
    options.never_nl = True  # a match never contains "\n": lines are read one at a time
    options.log_errors = False  # errors are reported by the caller, not printed by RE2
    options.max_mem = MAX_PATTERN_MEMORY
    return options


def compile_line_pattern(pattern: str) -> Any:
    """``pattern`` compiled with RE2 for reading lines of bytes (``(?m)``: ``^``/``$`` at line ends).
    Raises ``ValueError`` with a sentence saying what is wrong and what to write instead."""
    import re2

    why = unsupported_construct(pattern)
    if why is not None:
        raise ValueError(why)
    try:
        return re2.compile("(?m)" + pattern, _options())
    except re2.error as e:
        detail = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        detail = detail.replace("(?m)", "", 1)  # the flag added above is no part of what was written
        raise ValueError(f"RE2 cannot compile it ({detail})") from e
