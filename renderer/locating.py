"""Where each key of a TOML document is: ``(key, key, index, …) -> (line, column)``.

``tomllib`` parses but forgets positions; error messages must name the line of the offending key.
This scanner walks the document once, following table headers, arrays of tables, dotted and quoted
keys, multi-line strings and multi-line arrays, and records the position of every key it meets. It
never decides validity (``tomllib`` does that first): on a document ``tomllib`` accepted it only has
to be right about positions, and for anything it cannot place a lookup falls back to the nearest
enclosing key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field

PathKey = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class KeyPositions:
    """Line and column of each key path of a TOML document."""

    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def find(self, path: Sequence[str | int]) -> tuple[int, int]:
        """Position of ``path``, or of its nearest ancestor that has one; (1, 1) for the document."""
        key = tuple(path)
        while key:
            if key in self.positions:
                return self.positions[key]
            key = key[:-1]
        return (1, 1)


def _decode_basic(raw: str) -> str:
    """The value of a basic-string key, escapes decoded exactly as TOML does."""
    if "\\" not in raw:
        return raw
    try:
        return str(tomllib.loads(f'k = "{raw}"')["k"])
    except tomllib.TOMLDecodeError:
        return raw


def _parse_key(text: str, pos: int) -> tuple[list[str], int]:
    """Parse a (possibly dotted, possibly quoted) key at ``pos``; return the parts and the end."""
    parts: list[str] = []
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos >= n:
            break
        ch = text[pos]
        if ch == '"':
            end = pos + 1
            buf = []
            while end < n and text[end] != '"':
                if text[end] == "\\" and end + 1 < n:
                    buf.append(text[end : end + 2])
                    end += 2
                    continue
                buf.append(text[end])
                end += 1
            raw = "".join(buf)
            parts.append(_decode_basic(raw))
            pos = end + 1
        elif ch == "'":
            end = text.find("'", pos + 1)
            end = n if end < 0 else end
            parts.append(text[pos + 1 : end])
            pos = end + 1
        else:
            m = _BARE.match(text, pos)
            if not m:
                break
            parts.append(m.group(0))
            pos = m.end()
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == ".":
            pos += 1
            continue
        break
    return parts, pos


class _ValueScanner:
    """Tracks strings and brackets across lines so a value's continuation lines are skipped."""

    def __init__(self) -> None:
        self.depth = 0
        self.in_multiline: str | None = None  # '"""' or "'''"

    @property
    def open(self) -> bool:
        return self.depth > 0 or self.in_multiline is not None

    def _closing(self, text: str, pos: int) -> int:
        """Index of the delimiter that closes the current multi-line string, or -1."""
        assert self.in_multiline is not None
        if self.in_multiline == "'''":  # literal: no escapes
            return text.find(self.in_multiline, pos)
        n = len(text)
        while pos < n:
            if text[pos] == "\\":
                pos += 2
                continue
            if text.startswith(self.in_multiline, pos):
                return pos
            pos += 1
        return -1

    def scan(self, text: str, pos: int = 0) -> None:
        n = len(text)
        while pos < n:
            if self.in_multiline:
                end = self._closing(text, pos)
                if end < 0:
                    return
                end += 3
                extra = 0  # up to two quotes right before the delimiter belong to the string
                while end < n and extra < 2 and text[end] == self.in_multiline[0]:
                    end += 1
                    extra += 1
                self.in_multiline = None
                pos = end
                continue
            ch = text[pos]
            if ch == "#":
                return
            if text.startswith('"""', pos) or text.startswith("'''", pos):
                self.in_multiline = text[pos : pos + 3]
                pos += 3
                continue
            if ch == '"':
                pos += 1
                while pos < n and text[pos] != '"':
                    pos += 2 if text[pos] == "\\" else 1
                pos += 1
                continue
            if ch == "'":
                end = text.find("'", pos + 1)
                pos = n if end < 0 else end + 1
                continue
            if ch in "[{":
                self.depth += 1
            elif ch in "]}":
                self.depth = max(0, self.depth - 1)
            pos += 1


def locate_keys(text: str) -> KeyPositions:
    """Scan a TOML document and return the position of every key and table header."""
    result = KeyPositions()
    table: PathKey = ()
    aot_index: dict[tuple[str, ...], int] = {}
    scanner = _ValueScanner()

    def resolve(keys: list[str], *, array_header: bool) -> PathKey:
        resolved: list[str | int] = []
        for i, key in enumerate(keys, start=1):
            resolved.append(key)
            prefix = tuple(keys[:i])
            if prefix in aot_index and (i < len(keys) or not array_header):
                resolved.append(aot_index[prefix])
        return tuple(resolved)

    for lineno, line in enumerate(text.splitlines(), start=1):
        if scanner.open:
            scanner.scan(line)
            continue
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            keys, _ = _parse_key(stripped, 2)
            base = tuple(keys)
            aot_index[base] = aot_index.get(base, -1) + 1
            for other in [k for k in aot_index if len(k) > len(base) and k[: len(base)] == base]:
                del aot_index[other]
            table = resolve(keys, array_header=True) + (aot_index[base],)
            for i in range(1, len(table)):
                result.positions.setdefault(table[:i], (lineno, indent + 1))
            result.positions[table] = (lineno, indent + 1)
            continue
        if stripped.startswith("["):
            keys, _ = _parse_key(stripped, 1)
            table = resolve(keys, array_header=False)
            result.positions[table] = (lineno, indent + 1)
            for i in range(1, len(table)):
                result.positions.setdefault(table[:i], (lineno, indent + 1))
            continue
        keys, end = _parse_key(line, indent)
        if not keys:
            continue
        path = table + tuple(keys)
        result.positions[path] = (lineno, indent + 1)
        for i in range(1, len(keys)):
            result.positions.setdefault(table + tuple(keys[:i]), (lineno, indent + 1))
        eq = line.find("=", end)
        if eq >= 0:
            scanner.scan(line, eq + 1)
    return result
