"""Checks on metric patterns: they run on RE2, compile, and their first group can capture a number."""

from __future__ import annotations

import functools

from schemas.metric_patterns import compile_line_pattern, unsupported_construct

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


@functools.lru_cache(maxsize=512)  # the same few patterns in every descriptor and at every matrix point
def pattern_problem(pattern: str) -> str | None:
    """A sentence saying what is wrong with ``pattern``, or None when it is usable.

    Patterns run on RE2, whose time is linear in the text (see :mod:`schemas.metric_patterns`): what
    it cannot run (backreferences, lookaround, …) is refused here, with what to write instead."""
    why = unsupported_construct(pattern)
    if why is not None:
        return f"pattern cannot run on the linear-time engine (RE2) that reads logs: {why}"
    try:
        compiled = compile_line_pattern(pattern)
    except ValueError as e:
        return f"pattern does not compile: {e}; remember TOML needs '\\\\' for a backslash in \"…\" strings, or use '…'"
    if compiled.groups < 1:
        return "pattern has no capture group; put the number in parentheses, e.g. 'accuracy=([-+]?\\d*\\.?\\d+)'"
    source = first_group_source(pattern)
    if source is None:  # pragma: no cover - groups >= 1 means there is one
        return "pattern has no capture group"
    try:
        group = compile_line_pattern(source)
    except ValueError:
        return None  # not a pattern on its own (flags set outside it): trust the author
    if not any(group.fullmatch(candidate.encode("ascii")) for candidate in _NUMBERS):
        return (
            f"the first capture group ({source}) never matches a number such as 42 or 3.14; "
            "the value of a metric is the first group"
        )
    if compiled.fullmatch(b""):
        return "pattern matches an empty line; anchor it on the text around the number"
    return None
