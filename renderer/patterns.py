"""Checks on metric patterns: they compile and their first group can capture a number."""

from __future__ import annotations

import re
import warnings

_NUMBERS = ("0", "7", "42", "3.14", "0.5", ".5", "-1.5", "+2", "1e-3", "2.5E+10", "1,024", "12345")


def first_group_source(pattern: str) -> str | None:
    """The source text of the first capturing group of ``pattern`` (numbered by its opening
    parenthesis, as Python numbers groups), or None if it has none."""
    stack: list[tuple[int, bool]] = []  # (index of "(", capturing?)
    first: int | None = None  # index of the first capturing "(" and its depth
    i, n, in_class = 0, len(pattern), False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            i += 1
            continue
        if ch == "[":
            in_class = True
            # a ']' right after '[' or '[^' is literal
            if pattern.startswith("]", i + 1):
                i += 1
            elif pattern.startswith("^]", i + 1):
                i += 2
        elif ch == "(":
            capturing = not pattern.startswith("?", i + 1) or pattern.startswith("?P<", i + 1)
            if pattern.startswith("?<", i + 1) and not pattern.startswith(("?<=", "?<!"), i + 1):
                capturing = True
            if capturing and first is None:
                first = i
            stack.append((i, capturing))
        elif ch == ")" and stack:
            start, _ = stack.pop()
            if start == first:
                inner = pattern[start + 1 : i]
                if inner.startswith("?P<") or inner.startswith("?<"):
                    inner = inner[inner.index(">") + 1 :]
                return inner
        i += 1
    return None


def pattern_problem(pattern: str) -> str | None:
    """A sentence saying what is wrong with ``pattern``, or None when it is usable."""
    try:
        with warnings.catch_warnings():  # "possible nested set" is Python's note about future syntax
            warnings.simplefilter("ignore", FutureWarning)
            compiled = re.compile(pattern)
    except re.error as e:
        return f"pattern does not compile: {e}; remember TOML needs '\\\\' for a backslash in \"…\" strings, or use '…'"
    if compiled.groups < 1:
        return "pattern has no capture group; put the number in parentheses, e.g. 'accuracy=([-+]?\\d*\\.?\\d+)'"
    source = first_group_source(pattern)
    if source is None:  # pragma: no cover - groups >= 1 means there is one
        return "pattern has no capture group"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            group = re.compile(source)
    except re.error:
        return None  # a backreference or similar: trust the author
    if not any(group.fullmatch(candidate) for candidate in _NUMBERS):
        return (
            f"the first capture group ({source}) never matches a number such as 42 or 3.14; "
            "the value of a metric is the first group"
        )
    if compiled.fullmatch(""):
        return "pattern matches an empty line; anchor it on the text around the number"
    return None
