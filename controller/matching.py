"""Running one metric pattern over lines of log bytes, in time linear in the text, whatever the pattern.

Every pattern runs on RE2 (:func:`schemas.metric_patterns.compile_line_pattern`), except the shapes
below, which Python's ``re`` runs in linear time too and faster (its ``findall`` collects the
values in C, where RE2's Python binding costs a call per match: ``bench/extract.py`` prints both).

The shape run by ``re`` (:func:`linear_form`), checked on the parsed pattern, nothing else admitted::

    L ( X1 X2 … Xk ) S

- ``L``: a literal of one or more ASCII characters, ``S``: a literal of zero or more (no line break);
- the first and only group holds single-character items ``Xi`` (an ASCII character, an ASCII class
  without negation, ``\\d`` or ``\\w``; never a line break), each with a greedy count;
- at most one ``Xi`` may repeat more than once (``+``, ``*``, ``{m,n}``), at most three are optional;
- some character of ``L`` is in none of the ``Xi``; no flags.

Why it is linear: ``re`` finds each occurrence of ``L`` with its prefix scan (linear), then the
group's one repeat runs over the characters that follow and gives them back one at a time while
``S`` fails: ``O(r)`` for a run of ``r`` characters, times at most ``2**3`` for the optional items.
Two occurrences of ``L`` whose runs overlap both lie within ``len(L)`` characters of each other
(``L`` holds a character that ends any run), so each character is in at most ``len(L)`` runs.
On these shapes both engines find the same matches (leftmost, greedy, ASCII classes); the unit
tests compare them on generated text.

The commonest of these shapes, ``L ( X{m,n} ) S`` (one item in the group, and ``S`` empty or
starting with a character outside ``X``: ``loss=([0-9.]+)``, ``, ([0-9.]+)it/s``, ``step (\\d+)``),
is run by a C scanner when it is built (:func:`native_form`, ``controller/_linescan.c``, an
optional extension: ``setup.py``). It does ``re``'s ``finditer`` for that shape and converts the
values to numbers as ``float()`` does, without a Python object per value (:meth:`LineMatcher.numbers`);
where it is not built, ``re`` runs the shape and the numbers are the same.
"""

from __future__ import annotations

import importlib
import math
import re
from array import array
from collections.abc import Callable
from typing import Any, NamedTuple

from schemas.metric_patterns import compile_line_pattern

__all__ = [
    "LineMatcher",
    "NativeForm",
    "ascii_numbers",
    "linear_form",
    "literal_positions",
    "native_form",
    "native_scanner",
    "required_literal",
]

_NUMBER_BYTES = b"0123456789.+-eE\n"
_ASCII_NUMBER = re.compile(rb"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")


def ascii_numbers(raw: list[bytes]) -> tuple[array[float], int]:
    """The values of ``raw`` that are numbers, and how many were not. A number is one in ASCII:
    ``[+-]digits[.digits][e[+-]digits]`` (or ``.digits``), possibly with spaces or tabs around it,
    finite, read as ``float()`` reads it; ``1_000``, other scripts' digits, ``nan``, ``inf`` and
    ``1e999`` are not."""
    joined = b"\n".join(raw)
    if not joined.translate(None, _NUMBER_BYTES):  # only digits, signs, dots, exponents: float() decides
        try:
            numbers = array("d", map(float, raw))
        except ValueError:
            pass
        else:
            if math.isfinite(sum(numbers)):
                return numbers, 0
    numbers = array("d")
    for s in raw:
        if _ASCII_NUMBER.fullmatch(s):
            number = float(s)
            if math.isfinite(number):
                numbers.append(number)
    return numbers, len(raw) - len(numbers)


_MAX_OPTIONAL = 3
_SPARSE = 512  # a literal rarer than one in this many bytes: match on the lines that hold it only
_PROBE = 1 << 16  # bytes in which a literal's frequency is probed first
_NEWLINE = 10
_RETURN = 13


class NativeForm(NamedTuple):
    """A pattern ``L ( X{low,high} ) S`` as the C scanner takes it (``high`` -1: no bound)."""

    literal: bytes
    table: bytes  # 256 bytes: nonzero for the bytes in X
    low: int
    high: int
    suffix: bytes


Scanner = Callable[[bytes, int, int, bytes, bytes, int, int, bytes], tuple[bytes, int]]


def native_scanner() -> Scanner | None:
    """``controller._linescan.scan`` when the extension is built, else None."""
    try:
        module: Any = importlib.import_module("controller._linescan")
    except ImportError:
        return None
    scan: Scanner = module.scan
    return scan


def _native_find() -> Callable[[bytes, int, int, bytes], list[int]] | None:
    try:
        module: Any = importlib.import_module("controller._linescan")
    except ImportError:
        return None
    find: Callable[[bytes, int, int, bytes], list[int]] = module.find
    return find


_FIND = _native_find()


def literal_positions(text: bytes, literal: bytes, pos: int = 0, end: int | None = None) -> list[int]:
    """Where ``literal`` (one byte or more) starts in ``text[pos:end]``, occurrences not overlapping."""
    end = len(text) if end is None else end
    if _FIND is not None:
        found: list[int] = _FIND(text, pos, end, literal)
        return found
    out: list[int] = []
    at = text.find(literal, pos, end)
    while at >= 0:
        out.append(at)
        at = text.find(literal, at + len(literal), end)
    return out


class LineMatcher:
    """One pattern, compiled for lines of bytes; ``values`` of its matches (the first group's text,
    the whole match's when it has no group), ``numbers`` of them. ``engine`` says which engine's
    matches are read (``re2``/``re``); ``native``, whether the C scanner reads them (same matches)."""

    def __init__(self, pattern: str, *, use_re: bool = True, native: bool = True) -> None:
        """``use_re=False``: RE2 for every shape; ``native=False``: no C scanner (``bench/extract.py``
        measures what each costs)."""
        self.pattern = pattern
        self._re2: Any = compile_line_pattern(pattern)  # raises ValueError: the caller names the metric
        self.group = 1 if self._re2.groups else 0
        self._fast = linear_form(pattern) if use_re else None
        self.engine = "re" if self._fast is not None else "re2"
        self._scan = native_scanner() if native and self._fast is not None else None
        self._native = native_form(pattern) if self._scan is not None else None
        self.native = self._native is not None
        self.literal = required_literal(pattern)
        # google-re2's Regexp keeps its compiled RE2 in ``_regexp``; ``Match`` returns the spans of
        # the match and its groups. Calling it directly saves a Match object per value.
        raw = getattr(self._re2, "_regexp", None)
        self._match: Any = getattr(raw, "Match", None)
        if self._match is not None:
            import re2

            self._anchor = re2._Anchor.UNANCHORED

    def numbers(self, text: bytes, pos: int = 0, end: int | None = None) -> tuple[array[float], int]:
        """The values in ``text[pos:end]`` that are numbers (:func:`controller.extraction.ascii_numbers`:
        finite ASCII numbers, as ``float()`` reads them), in order, and how many values were not."""
        end = len(text) if end is None else end
        if self._scan is not None and self._native is not None:
            form = self._native
            packed, refused = self._scan(text, pos, end, form.literal, form.table, form.low, form.high, form.suffix)
            numbers = array("d")
            numbers.frombytes(packed)
            return numbers, refused
        return ascii_numbers(self.values(text, pos, end))

    def values(self, text: bytes, pos: int = 0, end: int | None = None) -> list[bytes]:
        """The value of every match in ``text[pos:end]`` (lines separated by ``\\n``), in order."""
        end = len(text) if end is None else end
        literal = self.literal
        if literal is not None:
            first = text.find(literal, pos, end)
            if first < 0:
                return []
            # Rare in its first 64 KiB? Then match on its lines only (while it stays rare).
            probe = min(end - first, _PROBE)
            if text.count(literal, first, first + probe) * _SPARSE < probe:
                return self._on_lines_with(literal, text, first, pos, end)
        return self._all(text, pos, end)

    def _on_lines_with(self, literal: bytes, text: bytes, at: int, pos: int, end: int) -> list[bytes]:
        """The values on the lines of ``text[pos:end]`` that hold ``literal``, the first of them at
        ``at``; the whole rest at once as soon as the literal turns out not to be rare."""
        out: list[bytes] = []
        find, rfind = text.find, text.rfind
        lines, start = 0, at
        while at >= 0:
            line_start = rfind(b"\n", pos, at) + 1 or pos
            line_end = find(b"\n", at, end)
            line_end = end if line_end < 0 else line_end
            if lines * _SPARSE > line_end - start + _PROBE:  # not rare after all
                line_end = end
            out += self._all(text, line_start, line_end)
            lines += 1
            at = find(literal, line_end + 1, end)
        return out

    def _all(self, text: bytes, pos: int, end: int) -> list[bytes]:
        if self._fast is not None:
            found: list[bytes] = self._fast.findall(text, pos, end)
            return found
        return [value for _, value in self.positioned(text, pos, end)]

    def positioned(self, text: bytes, pos: int = 0, end: int | None = None) -> list[tuple[int, bytes]]:
        """``(start of the match, value)`` of every match in ``text[pos:end]``, in order."""
        out: list[tuple[int, bytes]] = []
        end = len(text) if end is None else end
        if self._match is None:  # another version of the binding: its public API
            for m in self._re2.finditer(text, pos, end):
                out.append((m.start(), m.group(self.group) or b""))
            return out
        match, anchor, group = self._match, self._anchor, self.group
        while pos <= end:
            spans = match(anchor, text, pos, end)
            start, stop = spans[0]
            if start < 0:
                break
            value_start, value_stop = spans[group]
            out.append((start, text[value_start:value_stop] if value_start >= 0 else b""))
            pos = stop if stop > start else stop + 1
        return out


def _parse(pattern: str) -> Any:
    parser: Any = importlib.import_module("re._parser")
    return parser.parse(pattern, 0)


def required_literal(pattern: str) -> bytes | None:
    """A literal (UTF-8) that every match of ``pattern`` contains, the longest known; None when
    none is known (a case-insensitive pattern, or one Python's parser does not read)."""
    try:
        constants: Any = importlib.import_module("re._constants")
        parsed = _parse(pattern)
        if parsed.state.flags & re.IGNORECASE:
            return None
        literals: list[str] = []
        _required_literals(parsed, constants, literals)
    except Exception:  # noqa: BLE001 - a private module: whatever it does, fall back to "none known"
        return None
    literal = max(literals, key=len) if literals else ""
    return literal.encode("utf-8") if literal and "\n" not in literal else None


def _required_literals(seq: Any, c: Any, out: list[str]) -> None:
    """Collect runs of literals that every match of the sequence ``seq`` contains."""
    run: list[str] = []
    for op, av in seq:
        if op is c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            out.append("".join(run))
            run = []
        if op is c.SUBPATTERN:
            _group, add_flags, _del_flags, sub = av
            if not add_flags & re.IGNORECASE:
                _required_literals(sub, c, out)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            _required_literals(av[2], c, out)
    if run:
        out.append("".join(run))


def linear_form(pattern: str) -> re.Pattern[bytes] | None:
    """``pattern`` compiled by ``re`` for bytes when it has the shape described in the module's
    docstring (linear time on ``re``, same matches as RE2); None otherwise."""
    try:
        c: Any = importlib.import_module("re._constants")
        parsed = _parse(pattern)
        if parsed.state.flags & ~int(re.UNICODE) or not pattern.isascii():
            return None
        head, items, tail = _literal_ends(list(parsed), c)
        if not head or len(items) != 1 or items[0][0] is not c.SUBPATTERN:
            return None
        group, add_flags, del_flags, body = items[0][1]
        if group != 1 or add_flags or del_flags or _NEWLINE in head or _NEWLINE in tail:
            return None
        union: set[int] = set()
        repeats = optional = 0
        for op, av in body:
            low, high, single = (av[0], av[1], list(av[2])) if op is c.MAX_REPEAT else (1, 1, [(op, av)])
            chars = _single_character(single, c)
            if chars is None or _NEWLINE in chars:
                return None
            union |= chars
            if high > 1:
                repeats += 1
            elif low == 0:
                optional += 1
        if repeats > 1 or optional > _MAX_OPTIONAL or all(ch in union for ch in head):
            return None
        return re.compile(pattern.encode("ascii"))
    except Exception:  # noqa: BLE001 - a private module, or a pattern re refuses: RE2 runs it
        return None


def _literal_ends(items: list[Any], c: Any) -> tuple[list[int], list[Any], list[int]]:
    """A parsed pattern's leading literal characters, the items between, and its trailing literal
    characters, last first."""
    head: list[int] = []
    while items and items[0][0] is c.LITERAL:
        head.append(items.pop(0)[1])
    tail: list[int] = []
    while items and items[-1][0] is c.LITERAL:
        tail.append(items.pop()[1])
    return head, items, tail


def native_form(pattern: str) -> NativeForm | None:
    """``pattern`` as the C scanner takes it, when it has the shape ``L ( X{m,n} ) S`` of the
    module's description (a :func:`linear_form` whose group holds one item, ``S`` empty or
    starting with a character outside ``X``, and no ``\\r`` anywhere); None otherwise."""
    if linear_form(pattern) is None:
        return None
    try:
        c: Any = importlib.import_module("re._constants")
        head, items, tail = _literal_ends(list(_parse(pattern)), c)
        body = list(items[0][1][3])
        if len(body) != 1:
            return None
        op, av = body[0]
        low, high, single = (av[0], av[1], list(av[2])) if op is c.MAX_REPEAT else (1, 1, [(op, av)])
        chars = _single_character(single, c)
        tail.reverse()
        if chars is None or (tail and tail[0] in chars) or _RETURN in chars or _RETURN in head or _RETURN in tail:
            return None  # "\r" ends a line: the scanner reads the bytes as they are, where "\r" is still there
        table = bytes(1 if ch in chars else 0 for ch in range(256))
        return NativeForm(bytes(head), table, low, -1 if high >= c.MAXREPEAT else high, bytes(tail))
    except Exception:  # noqa: BLE001 - a private module: whatever it does, the Python path runs it
        return None


_ASCII = range(128)


def _single_character(seq: list[Any], c: Any) -> set[int] | None:
    """The ASCII characters a one-item sequence matches, or None if it is not such an item."""
    if len(seq) != 1:
        return None
    op, av = seq[0]
    if op is c.LITERAL:
        return {av} if av < 128 else None
    if op is not c.IN:
        return None
    chars: set[int] = set()
    for kind, value in av:
        if kind is c.LITERAL and value < 128:
            chars.add(value)
        elif kind is c.RANGE and value[1] < 128:
            chars.update(range(value[0], value[1] + 1))
        elif kind is c.CATEGORY and value is c.CATEGORY_DIGIT:
            chars.update(range(48, 58))
        elif kind is c.CATEGORY and value is c.CATEGORY_WORD:
            chars.update(ch for ch in _ASCII if chr(ch).isalnum() or ch == 95)
        else:
            return None  # negation, \s, \D, \W, non-ASCII: not this shape
    return chars
