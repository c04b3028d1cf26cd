"""Log → metric extraction, shared by the local runner and the cluster controller.

A :class:`MetricExtractor` is fed the raw bytes of a run's log, in chunks of any size split anywhere,
and keeps the values its metrics' patterns find, with the time of the feed that completed the line.
Lines of ``client_lib``'s stdout mode (``ANUBIS_METRICS {...}``) anywhere in the stream are events,
and :meth:`MetricExtractor.add_event` takes events read from elsewhere (the fifo-mode FIFO). The
cluster controller feeds a pod's log through the same :meth:`MetricExtractor.feed`, a chunk at a
time, with each chunk's time taken from the log's own timestamps (:mod:`controller.kubernetes.stamps`).

How the log is read:

- ``\\n`` and ``\\r`` both end a line, so each redraw of a ``\\r`` progress bar (tqdm) is a line;
- the bytes are read as they are (never decoded); no input makes ``feed`` raise;
- a pattern runs on a linear-time engine (:mod:`controller.matching`: RE2, or Python's ``re`` for
  shapes proven linear on it), so no pattern and no line can stall the reader. It is applied to each
  line with ``finditer`` semantics: every non-overlapping match on the line gives a value, a match
  never spans two lines, ``^``/``$`` are the line's ends, ``\\d`` is ``[0-9]``. The first capture
  group is the value (the whole match when the pattern has no group);
- a value is a number when it is one in ASCII: ``[+-]digits[.digits][e[+-]digits]``, possibly with
  spaces or tabs around it, finite. Anything else (``1_000``, Arabic-Indic digits, ``nan``, ``inf``,
  ``1e999``) is not a value: it is skipped and counted (:attr:`MetricExtractor.skipped`);
- memory does not grow with the log: only the unfinished last line is kept, and a line longer than
  :data:`MAX_LINE` bytes is read in consecutive windows of that size (a match that straddles a cut
  is lost);
- each metric stores at most ``max_values`` values (:data:`MAX_VALUES` by default: the first ones
  found) with their times; the values past the cap are counted in ``values_dropped`` and in the
  summary (count, last, mean, min, max, stdev over every value found; the median is the stored
  values'), so a log that repeats a metric millions of times stores a bounded record.

Results do not depend on how the stream was chunked (apart from the times, which are feed times).

Speed (``bench/extract.py``, ``docs/performance.md``): a pattern of the shape ``L(X{m,n})S`` (a
literal, one group of one repeated class, a literal: ``loss=([0-9.]+)``) is run by a C scanner
(:mod:`controller.matching`, ``controller/_linescan.c``) that finds the literal with ``memchr`` and
converts the values to floats itself, over the bytes as they are: no copy, no Python object per
value. Other patterns go through ``re``/RE2 on a copy of the buffer with ``\\n`` for ``\\r``, made
only when one of them runs. Without the scanner (no C compiler at install), ``re`` runs those shapes
with the same values, about 5x slower on a log dense in values.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from itertools import chain, repeat

from controller.events import EVENT_MARKER, parse_event_line, parse_event_record, parse_event_text
from controller.matching import LineMatcher, ascii_numbers, literal_positions
from schemas.results import MetricResult, Summary
from schemas.runspec import MetricSpec

__all__ = [
    "MAX_LINE",
    "MAX_VALUES",
    "MetricExtractor",
    "ascii_numbers",
    "parse_event_line",
    "parse_event_record",
]

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20  # bytes: longer lines are read in windows of this size
MAX_VALUES = 100_000  # values stored per metric; those past it are counted and summarised
_SUM_BATCH = 1 << 16  # values summed at once past the cap (numpy's cost per call is paid per batch)
_UNDECLARED_DIRECTION = "higher"
_MARKER = EVENT_MARKER.encode("ascii")
def _line_end(buf: bytes, start: int, stop: int) -> int:
    """The position of the first ``\\n`` or ``\\r`` in ``buf[start:stop]``, -1 if none."""
    newline = buf.find(b"\n", start, stop)
    ret = buf.find(b"\r", start, stop if newline < 0 else newline)
    return newline if ret < 0 else ret


class _Totals:
    """Count, last, mean, min, max and stdev over every finite value added, in constant memory
    (stdev from sums of the values shifted by the first one, which keeps it accurate). A metric
    keeps them from its first value past the cap on; below it, its stored values are all there is.
    numpy does the arithmetic (imported here only: a run that stays under the cap never needs it)."""

    def __init__(self) -> None:
        self.n = 0
        self.shift = 0.0
        self.sum = 0.0  # of value - shift
        self.squares = 0.0  # of (value - shift) ** 2
        self.low = math.inf
        self.high = -math.inf
        self.last = math.nan

    def add(self, numbers: Sequence[float]) -> None:
        import numpy as np

        batch = np.array(numbers, dtype=np.float64)
        if not np.isfinite(batch).all():
            batch = batch[np.isfinite(batch)]
        if not batch.size:
            return
        if not self.n:
            self.shift = float(batch[0])
        shifted = batch - self.shift
        self.n += int(batch.size)
        self.sum += float(shifted.sum())
        self.squares += float((shifted * shifted).sum())  # not "@": BLAS threads cost more than they save here
        self.low = min(self.low, float(batch.min()))
        self.high = max(self.high, float(batch.max()))
        self.last = float(batch[-1])

    def summary(self, median: float) -> Summary:
        mean = self.shift + self.sum / self.n
        variance = (self.squares - self.sum * self.sum / self.n) / (self.n - 1) if self.n > 1 else 0.0
        return Summary(n=self.n, last=self.last, mean=mean, median=median, min=self.low, max=self.high,
                       stdev=math.sqrt(max(variance, 0.0)))


@functools.lru_cache(maxsize=512)
def line_matcher(pattern: str, use_re: bool = True, native: bool = True) -> LineMatcher:
    """The :class:`LineMatcher` of ``pattern``, built once per process (a matcher holds compiled
    patterns only and is never changed by matching, so extractors in any thread share it). Building
    one parses the pattern three times (its engine, its C form, its required literal): about 0.1 ms,
    paid by every report of the cluster controller before it was kept. A pattern that cannot be used
    raises ``ValueError`` each time (errors are not kept)."""
    return LineMatcher(pattern, use_re=use_re, native=native)


class _Metric:
    """One metric: its pattern's matcher, its stored values, the totals over all values."""

    def __init__(self, name: str, unit: str, direction: str, pattern: str | None, max_values: int,
                 use_re: bool = True, native: bool = True) -> None:
        self.name = name
        self.unit = unit
        self.direction = direction
        self.values = array("d")
        self._time_runs: list[list[float]] = []  # [time, count] of consecutive stored values (feeds share times)
        self.max_values = max_values
        self.dropped = 0
        self.totals = _Totals()
        self._unsummed = array("d")  # values past the cap not yet in the totals (summed in batches)
        self.matcher: LineMatcher | None = None
        if pattern is not None:
            try:
                self.matcher = line_matcher(pattern, use_re, native)
            except ValueError as e:
                raise ValueError(f"The pattern of metric {name!r} cannot be used: {e}.") from e

    def add(self, numbers: Sequence[float], at: float) -> None:
        if not numbers:
            return
        room = self.max_values - len(self.values)
        if len(numbers) <= room and not self.dropped:
            self.values.extend(numbers)
            self._add_times(at, len(numbers))
            return
        if not self.dropped:  # the first values past the cap: the totals start with the stored ones
            self.totals.add(self.values)
        self._unsummed.extend(numbers)
        if len(self._unsummed) >= _SUM_BATCH:
            self.totals.add(self._unsummed)
            self._unsummed = array("d")
        kept = numbers[: max(room, 0)]
        self.values.extend(kept)
        self._add_times(at, len(kept))
        self.dropped += len(numbers) - len(kept)

    def _add_times(self, at: float, count: int) -> None:
        if not count:
            return
        runs = self._time_runs
        if runs and runs[-1][0] == at and (at or math.copysign(1.0, at) == math.copysign(1.0, runs[-1][0])):
            runs[-1][1] += count
        else:
            runs.append([at, count])

    def result(self) -> MetricResult:
        if self._unsummed:
            self.totals.add(self._unsummed)
            self._unsummed = array("d")
        totals = None
        if self.dropped and self.totals.n:
            import numpy as np

            stored = np.array(self.values, dtype=np.float64)
            finite = stored[np.isfinite(stored)]
            totals = self.totals.summary(float(np.median(finite)) if finite.size else math.nan)
        return MetricResult(
            name=self.name,
            unit=self.unit,
            direction=self.direction,
            values=tuple(self.values),
            times=tuple(chain.from_iterable(repeat(at, int(n)) for at, n in self._time_runs)),
            values_dropped=self.dropped,
            totals=totals,
        )


class MetricExtractor:
    """Reads a run's log stream and events into per-metric values (see the module's description).

    Thread-safe: the log and the events may be fed from different threads.
    """

    def __init__(self, metrics: Sequence[MetricSpec], clock: Callable[[], float] = time.time, *,
                 max_values: int = MAX_VALUES, use_re: bool = True, native: bool = True) -> None:
        """``max_values``: the cap on each metric's stored values; ``use_re=False``: every pattern on
        RE2, none on ``re``; ``native=False``: no pattern on the C scanner (see :mod:`controller.matching`;
        for measuring and testing: the values are the same)."""
        if max_values < 0:
            raise ValueError(f"max_values must be 0 or more, not {max_values}.")
        self._clock = clock
        self._max_values = max_values
        self._metrics: dict[str, _Metric] = {}
        for spec in metrics:
            if spec.name in self._metrics:
                raise ValueError(f"Metric {spec.name!r} is declared twice; give each metric one name.")
            self._metrics[spec.name] = _Metric(spec.name, spec.units, spec.direction, spec.pattern, max_values,
                                               use_re, native)
        self._patterned = [(m, m.matcher) for m in self._metrics.values() if m.matcher is not None]
        self._partial = b""
        self._lock = threading.Lock()
        self._closed = False
        self.skipped = 0  # matched values that are not numbers
        self.bytes_fed = 0

    # -- input ------------------------------------------------------------------------------------

    def feed(self, chunk: bytes, at: float | None = None) -> None:
        """Read the next bytes of the log; their lines get the time ``at`` (now if None). Never
        raises on any bytes; raises after :meth:`close`."""
        if not chunk:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("This MetricExtractor is closed; make a new one for another log.")
            now = self._clock() if at is None else at
            self.bytes_fed += len(chunk)
            data = bytes(chunk)
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

    def close(self, at: float | None = None) -> None:
        """End of the log: read its last line if it had no line break (at ``at``, now if None). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._partial:
                self._process(self._partial, 0, len(self._partial), self._clock() if at is None else at)
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
            metric = self._metrics[name] = _Metric(name, "", _UNDECLARED_DIRECTION, None, self._max_values)
        return metric

    def _feed_piece(self, piece: bytes, now: float) -> None:
        """Read at most MAX_LINE new bytes (so that only the first line can be over-long). The
        buffer is read in place (positions, not slices: a copy of each MiB costs more than a scan)."""
        buf, start = piece, 0
        if self._partial:
            room = MAX_LINE + 1 - len(self._partial)
            ends = _line_end(piece, 0, room) if room > 0 else -1
            if ends >= 0:  # the unfinished line ends here: read it alone, the rest in place
                head = self._partial + piece[: ends + 1]
                self._partial = b""
                self._process(head, 0, len(head), now)
                start = ends + 1
            else:
                buf = self._partial + piece
        while len(buf) - start > MAX_LINE and _line_end(buf, start, start + MAX_LINE + 1) < 0:
            self._process(buf, start, start + MAX_LINE, now)  # a window of an over-long line
            start += MAX_LINE
        last = buf.rfind(b"\n", start)
        last = max(last, buf.rfind(b"\r", max(last, start)))
        if last < 0:
            self._partial = buf[start:] if start else buf
            return
        if last + 1 > start:
            self._process(buf, start, last + 1, now)
        self._partial = buf[last + 1 :]

    def _process(self, text: bytes, pos: int, end: int, now: float) -> None:
        """Read the lines of ``text[pos:end]`` (ended by ``\\n`` or ``\\r``). The C scanner reads the
        bytes as they are (its patterns hold neither); the rest read a copy with ``\\n`` for ``\\r``,
        made only when one of them has work here."""
        emitted: set[str] = set()
        markers = literal_positions(text, _MARKER, pos, end)
        if markers:
            events = self._events(text, pos, end, markers)
            emitted = self._merge_events(text, pos, end, events, now) if events else emitted
        lines: bytes | None = None
        for metric, matcher in self._patterned:
            if metric.name in emitted:
                continue
            if matcher.native:
                numbers, refused = matcher.numbers(text, pos, end)
            else:
                lines = text[pos:end].replace(b"\r", b"\n") if lines is None else lines
                numbers, refused = matcher.numbers(lines)
            self._refused(metric.name, refused)
            metric.add(numbers, now)

    def _events(self, text: bytes, pos: int, end: int, markers: list[int]) -> list[tuple[int, dict[str, float]]]:
        """``(start of its line, values)`` of each event line in ``text[pos:end]``, whose markers
        start at ``markers``."""
        events: list[tuple[int, dict[str, float]]] = []
        line_end = pos
        for at in markers:
            if at < line_end:  # a second marker on the line read already
                continue
            line_start = max(text.rfind(b"\n", pos, at), text.rfind(b"\r", pos, at)) + 1 or pos
            line_end = _line_end(text, at, end)
            line_end = end if line_end < 0 else line_end
            values = parse_event_text(text[at:line_end].decode("utf-8", "replace"))
            if values:
                events.append((line_start, values))
        return events

    def _merge_events(self, text: bytes, pos: int, end: int, events: list[tuple[int, dict[str, float]]],
                      now: float) -> set[str]:
        """Add the buffer's events; a metric that its pattern also finds gets both in log order.
        Returns the names of the metrics added."""
        by_name: dict[str, list[tuple[int, float]]] = {}
        for position, values in events:
            for name, value in values.items():
                by_name.setdefault(name, []).append((position, value))
        lines: bytes | None = None
        for name, emitted in by_name.items():
            metric = self._metric(name)
            if metric.matcher is None:
                metric.add([v for _, v in emitted], now)
                continue
            lines = text[pos:end].replace(b"\r", b"\n") if lines is None else lines
            matched: list[tuple[int, float]] = []
            for position, raw in metric.matcher.positioned(lines):
                numbers, refused = ascii_numbers([raw])
                self._refused(name, refused)
                matched += [(pos + position, v) for v in numbers]
            merged = sorted(matched + emitted, key=lambda pv: pv[0])  # stable: a line's match first
            metric.add([v for _, v in merged], now)
        return set(by_name)

    def _refused(self, name: str, refused: int) -> None:
        if refused:
            self.skipped += refused
            log.debug("metric %s: %d matched values are not ASCII numbers; skipped", name, refused)
