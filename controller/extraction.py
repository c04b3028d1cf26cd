"""Log → metric extraction, shared by the local runner and the cluster controller.

A :class:`MetricExtractor` is fed the raw bytes of a run's log, in chunks of any size split anywhere,
and keeps every value its metrics' patterns find, with the time of the feed that completed the line.
Lines of ``client_lib``'s stdout mode (``ANUBIS_METRICS {...}``) anywhere in the stream are events,
and :meth:`MetricExtractor.add_event` takes events read from elsewhere (the fifo-mode FIFO).

How the log is read:

- ``\\n`` and ``\\r`` both end a line, so each redraw of a ``\\r`` progress bar (tqdm) is a line;
- invalid UTF-8 is decoded with replacement characters, and no input makes ``feed`` raise;
- a pattern is applied to each line with :meth:`re.Pattern.finditer` semantics: every
  non-overlapping match on the line gives a value, a match never spans two lines, ``^``/``$`` are the
  line's ends. The first capture group is the value (the whole match when the pattern has no group);
  a value that ``float()`` refuses is skipped and counted (:attr:`MetricExtractor.skipped`);
- memory does not grow with the log: only the unfinished last line is kept, and a line longer than
  :data:`MAX_LINE` bytes is cut into consecutive windows of that size, each read as a line (a match
  that straddles a cut is lost);
- values are kept, all of them, in ``array('d')`` (16 bytes per value with its time): a metric
  printed on every line of a 1 GB log costs about as much memory as the log had lines.

Results do not depend on how the stream was chunked (apart from the times, which are feed times).

Speed (``bench/extract.py``): text is decoded a buffer at a time and each pattern runs over the
whole buffer in C (``findall``/``finditer`` with ``re.MULTILINE``). A literal that every match must
contain is extracted from each pattern; a buffer without it is skipped with one ``str.count``, and
when it is rare the pattern runs only over the lines that contain it.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.events import EVENT_MARKER, parse_event_line, parse_event_record, parse_event_text
from schemas.results import MetricResult
from schemas.runspec import MetricSpec

__all__ = [
    "MAX_LINE",
    "MetricExtractor",
    "parse_event_line",
    "parse_event_record",
]

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20  # bytes: longer lines are read in windows of this size
_SPARSE = 512  # a literal rarer than one in this many characters: run the pattern on its lines only
_UNDECLARED_DIRECTION = "higher"


@dataclass(frozen=True)
class _PatternInfo:
    literal: str | None  # a literal every match contains (case-sensitive patterns only)
    single_line: bool  # no match can contain a newline, so whole-buffer matches are line matches


def analyse_pattern(pattern: str) -> tuple[str | None, bool]:
    """``(literal, single_line)`` for a pattern: a literal substring every match contains (None when
    none is known) and whether a match can never contain ``\\n``. Conservative: unknown → None/False.
    """
    info = _analyse(pattern)
    return info.literal, info.single_line


def _analyse(pattern: str) -> _PatternInfo:
    try:
        parser: Any = importlib.import_module("re._parser")
        constants: Any = importlib.import_module("re._constants")
        parsed = parser.parse(pattern, re.MULTILINE)
        flags = int(parsed.state.flags)
        literals: list[str] = []
        if not flags & re.IGNORECASE:
            _required_literals(parsed, constants, literals)
        single_line = not _may_match_newline(parsed, constants, bool(flags & re.DOTALL))
    except Exception:  # noqa: BLE001 - a private module: whatever it does, fall back to the safe answer
        return _PatternInfo(None, False)
    literal = max(literals, key=len) if literals else None
    return _PatternInfo(literal or None, single_line)


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
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and av[0] >= 1:
            _required_literals(av[2], c, out)
        elif op is c.ATOMIC_GROUP:
            _required_literals(av, c, out)
    if run:
        out.append("".join(run))


_NEWLINE = 10


def _may_match_newline(seq: Any, c: Any, dotall: bool) -> bool:
    for op, av in seq:
        if op is c.LITERAL:
            if av == _NEWLINE:
                return True
        elif op is c.NOT_LITERAL:
            if av != _NEWLINE:
                return True
        elif op is c.ANY:
            if dotall:
                return True
        elif op is c.IN:
            if _set_matches_newline(av, c):
                return True
        elif op is c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            inner = (dotall or bool(add_flags & re.DOTALL)) and not del_flags & re.DOTALL
            if _may_match_newline(sub, c, inner):
                return True
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            if _may_match_newline(av[2], c, dotall):
                return True
        elif op is c.BRANCH:
            if any(_may_match_newline(branch, c, dotall) for branch in av[1]):
                return True
        elif op is c.ATOMIC_GROUP:
            if _may_match_newline(av, c, dotall):
                return True
        elif op is c.GROUPREF_EXISTS:
            _group, yes, no = av
            if _may_match_newline(yes, c, dotall) or (no is not None and _may_match_newline(no, c, dotall)):
                return True
        elif op in (c.AT, c.ASSERT, c.ASSERT_NOT, c.GROUPREF):
            continue  # consume nothing, or repeat a group already checked
        else:
            return True
    return False


def _set_matches_newline(items: Any, c: Any) -> bool:
    negate = bool(items) and items[0][0] is c.NEGATE
    contains = False
    for op, av in items[1:] if negate else items:
        if op is c.LITERAL:
            contains = contains or av == _NEWLINE
        elif op is c.RANGE:
            contains = contains or av[0] <= _NEWLINE <= av[1]
        elif op is c.CATEGORY:
            if av in (c.CATEGORY_DIGIT, c.CATEGORY_NOT_SPACE, c.CATEGORY_WORD):
                continue
            if av in (c.CATEGORY_SPACE, c.CATEGORY_NOT_DIGIT, c.CATEGORY_NOT_WORD):
                contains = True
            else:
                return True  # unknown: assume the worst
        else:
            return True
    return contains != negate


class _Metric:
    """One metric: its pattern compiled and analysed, its values so far."""

    def __init__(self, name: str, unit: str, direction: str, pattern: str | None) -> None:
        self.name = name
        self.unit = unit
        self.direction = direction
        self.values = array("d")
        self.times = array("d")
        self.regex: re.Pattern[str] | None = None
        self.literal: str | None = None
        self.single_line = False
        self.group = 0
        if pattern is not None:
            try:
                self.regex = re.compile(pattern, re.MULTILINE)
            except re.error as e:
                raise ValueError(f"The pattern of metric {name!r} is not a valid regular expression ({e}).") from e
            info = _analyse(pattern)
            self.literal, self.single_line = info.literal, info.single_line
            self.group = 1 if self.regex.groups else 0

    def find(self, text: str) -> list[str]:
        """The raw value strings of every match in ``text`` (lines ended by ``\\n``), in order."""
        regex = self.regex
        if regex is None:
            return []
        if self.literal is not None:
            first = text.find(self.literal)
            if first < 0:
                return []
            # A rare literal (hits can cluster, so count them all): match on its lines only.
            if text.count(self.literal, first) * _SPARSE < len(text):
                return [s for _, s in self._on_lines_with_literal(text, self.literal, first)]
        if self.single_line:
            found = regex.findall(text)
            if found and regex.groups > 1:
                return [t[0] for t in found]
            return found
        return [s for _, s in self.find_positioned(text)]

    def find_positioned(self, text: str) -> list[tuple[int, str]]:
        """``(position, raw value)`` of every match in ``text``; slower than :meth:`find`."""
        regex = self.regex
        if regex is None:
            return []
        out: list[tuple[int, str]] = []
        group = self.group
        pos, end = 0, len(text)
        while pos <= end:
            restart = -1
            for m in regex.finditer(text, pos):
                start, stop = m.span()
                if self.single_line or text.find("\n", start, stop) < 0:
                    out.append((start, m.group(group) or ""))
                    continue
                # The match spans lines: read the line it starts on on its own, go on after it.
                line_end = text.find("\n", start)
                line_end = end if line_end < 0 else line_end
                for m2 in regex.finditer(text, start, line_end):
                    out.append((m2.start(), m2.group(group) or ""))
                restart = line_end + 1
                break
            if restart < 0:
                break
            pos = restart
        return out

    def _on_lines_with_literal(self, text: str, literal: str, at: int) -> list[tuple[int, str]]:
        """Matches on the lines that contain ``literal``, the first of them at ``at``."""
        regex = self.regex
        assert regex is not None
        out: list[tuple[int, str]] = []
        group = self.group
        find, rfind, finditer = text.find, text.rfind, regex.finditer
        end = len(text)
        while at >= 0:
            line_start = rfind("\n", 0, at) + 1
            line_end = find("\n", at)
            line_end = end if line_end < 0 else line_end
            for m in finditer(text, line_start, line_end):
                out.append((m.start(), m.group(group) or ""))
            at = find(literal, line_end + 1)
        return out

    def add(self, numbers: Iterable[float], at: float) -> None:
        before = len(self.values)
        self.values.extend(numbers)
        self.times.extend(array("d", (at,)) * (len(self.values) - before))

    def result(self) -> MetricResult:
        return MetricResult(
            name=self.name,
            unit=self.unit,
            direction=self.direction,
            values=tuple(self.values),
            times=tuple(self.times),
        )


class MetricExtractor:
    """Reads a run's log stream and events into per-metric values (see the module's description).

    Thread-safe: the log and the events may be fed from different threads.
    """

    def __init__(self, metrics: Sequence[MetricSpec], clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._metrics: dict[str, _Metric] = {}
        for spec in metrics:
            if spec.name in self._metrics:
                raise ValueError(f"Metric {spec.name!r} is declared twice; give each metric one name.")
            self._metrics[spec.name] = _Metric(spec.name, spec.units, spec.direction, spec.pattern)
        self._patterned = [m for m in self._metrics.values() if m.regex is not None]
        self._partial = b""
        self._lock = threading.Lock()
        self._closed = False
        self.skipped = 0  # matched values that are not numbers
        self.bytes_fed = 0

    # -- input ------------------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Read the next bytes of the log. Never raises on any bytes; raises after :meth:`close`."""
        if not chunk:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("This MetricExtractor is closed; make a new one for another log.")
            now = self._clock()
            self.bytes_fed += len(chunk)
            data = bytes(chunk).replace(b"\r", b"\n")
            if len(data) <= MAX_LINE:
                self._feed_piece(data, now)
            else:
                for offset in range(0, len(data), MAX_LINE):
                    self._feed_piece(data[offset : offset + MAX_LINE], now)

    def add_event(self, values: Mapping[str, float], at: float | None = None) -> None:
        """Add emitted values (``name -> number``) read from outside the log, at ``at`` (now if None)."""
        with self._lock:
            when = self._clock() if at is None else at
            for name, value in values.items():
                self._metric(name).add((float(value),), when)

    def add_record(self, line: bytes) -> bool:
        """Add one fifo-mode line (``{"timestamp": t, "metrics": {...}}``); False if it is not one."""
        record = parse_event_record(line)
        if record is None:
            return False
        timestamp, values = record
        self.add_event(values, at=timestamp)
        return True

    def close(self) -> None:
        """End of the log: read its last line if it had no line break. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._partial:
                self._process(memoryview(self._partial), self._clock())
                self._partial = b""

    # -- output -----------------------------------------------------------------------------------

    def results(self) -> dict[str, MetricResult]:
        """Every declared metric (values or not), then every undeclared emitted one, by name."""
        with self._lock:
            return {name: metric.result() for name, metric in self._metrics.items()}

    # -- internals --------------------------------------------------------------------------------

    def _metric(self, name: str) -> _Metric:
        metric = self._metrics.get(name)
        if metric is None:
            metric = self._metrics[name] = _Metric(name, "", _UNDECLARED_DIRECTION, None)
        return metric

    def _feed_piece(self, piece: bytes, now: float) -> None:
        """Read at most MAX_LINE new bytes (so that only the first line can be over-long)."""
        buf = self._partial + piece if self._partial else piece
        view = memoryview(buf)
        start = 0
        while buf.find(b"\n", start, start + MAX_LINE + 1) < 0 and len(buf) - start > MAX_LINE:
            self._process(view[start : start + MAX_LINE], now)  # a window of an over-long line
            start += MAX_LINE
        last = buf.rfind(b"\n", start)
        if last < 0:
            self._partial = buf[start:]
            return
        self._process(view[start : last + 1], now)
        self._partial = buf[last + 1 :]

    def _process(self, data: memoryview, now: float) -> None:
        text = str(data, "utf-8", "replace")
        found: dict[str, list[str]] = {}
        for metric in self._patterned:
            raw = metric.find(text)
            if raw:
                found[metric.name] = raw
        events = self._events(text) if EVENT_MARKER in text else []
        if events:
            self._merge_events(text, found, events, now)
        for name, raw in found.items():
            self._metrics[name].add(self._numbers(name, raw), now)

    def _events(self, text: str) -> list[tuple[int, dict[str, float]]]:
        events: list[tuple[int, dict[str, float]]] = []
        at = text.find(EVENT_MARKER)
        while at >= 0:
            line_start = text.rfind("\n", 0, at) + 1
            line_end = text.find("\n", at)
            line_end = len(text) if line_end < 0 else line_end
            values = parse_event_text(text[at:line_end])
            if values:
                events.append((line_start, values))
            at = text.find(EVENT_MARKER, line_end + 1)
        return events

    def _merge_events(
        self, text: str, found: dict[str, list[str]], events: list[tuple[int, dict[str, float]]], now: float
    ) -> None:
        """Add the buffer's events; a metric that its pattern also found gets both in log order."""
        by_name: dict[str, list[tuple[int, float]]] = {}
        for position, values in events:
            for name, value in values.items():
                by_name.setdefault(name, []).append((position, value))
        for name, emitted in by_name.items():
            raw = found.pop(name, None)
            if raw is None:
                self._metric(name).add([v for _, v in emitted], now)
                continue
            metric = self._metrics[name]
            matched = [(p, v) for p, s in metric.find_positioned(text) for v in self._numbers(name, [s])]
            merged = sorted(matched + emitted, key=lambda pv: pv[0])  # stable: a line's match first
            metric.add([v for _, v in merged], now)

    def _numbers(self, name: str, raw: list[str]) -> array[float]:
        try:
            return array("d", map(float, raw))
        except ValueError:
            pass
        numbers = array("d")
        for s in raw:
            try:
                numbers.append(float(s))
            except ValueError:
                self.skipped += 1
                log.debug("metric %s: %r is not a number; skipped", name, s[:80])
        return numbers
