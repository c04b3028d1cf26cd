"""What a local run keeps of its output, and how it reads the metrics a benchmark emits.

* :class:`CappedLog` — the run's output, gzip-compressed, up to a size cap (of uncompressed bytes);
  past it a note says so and the rest is dropped (metrics are still extracted from all of it). It is
  flushed (``Z_SYNC_FLUSH``) at most :data:`LOG_FLUSH_INTERVAL` seconds after each write, so that
  ``anubis logs --follow`` reads it as it grows and a run killed with ``kill -9`` leaves a readable log
  up to about that long before the kill. Compressed with ISA-L (``isal``: the same gzip format, read
  by any gzip reader) at its level 1, on a thread of its own that runs beside the reader (ISA-L lets
  go of the GIL): 250 MB/s on the bench machine against zlib level 1's 96 MB/s, and a smaller file
  (20 % of the text against 22.5 %) — at zlib level 1, compression alone was the slowest stage of a
  100 MB run's output (bench/run_output.py).
* :class:`EventTail` — follows the file that ``client_lib.emit`` appends to (one JSON object a line),
  handing each complete line to a callback, live and once more at the end.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from isal import isal_zlib

log = logging.getLogger(__name__)

DEFAULT_LOG_CAP = 256 * 1024 * 1024  # bytes of output kept per run (uncompressed)
TAIL_INTERVAL = 0.5
LOG_FLUSH_INTERVAL = 1.0  # seconds
COMPRESS_LEVEL = 1  # ISA-L's levels are 0 to 3
QUEUE_BYTES = 16 * 1024 * 1024  # output waiting for the compressor, at most
GZIP_WBITS = 31  # a gzip header and trailer around the deflate stream (zlib's convention)


class GzipWriter:
    """A gzip file written with ISA-L: :meth:`write`, :meth:`flush` (``Z_SYNC_FLUSH``: a reader can
    decompress everything written so far) and :meth:`close` (the trailer)."""

    def __init__(self, path: Path, level: int = COMPRESS_LEVEL) -> None:
        self._file: BinaryIO = path.open("wb")
        self._compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, GZIP_WBITS)

    def write(self, data: bytes) -> None:
        self._file.write(self._compressor.compress(data))

    def flush(self) -> None:
        self._file.write(self._compressor.flush(isal_zlib.Z_SYNC_FLUSH))
        self._file.flush()

    def close(self) -> None:
        try:
            self._file.write(self._compressor.flush(isal_zlib.Z_FINISH))
        finally:
            self._file.close()


class CappedLog:
    """The kept log (see the module's docstring). :meth:`write` only counts and queues; a thread of
    its own compresses and writes (ISA-L lets go of the GIL while it compresses, so on a machine with
    two cores the benchmark's output is read, scanned and journaled meanwhile). At most
    :data:`QUEUE_BYTES` wait for it: past that, :meth:`write` waits (constant memory)."""

    def __init__(self, path: Path, cap_bytes: int = DEFAULT_LOG_CAP, *, flush_interval: float = LOG_FLUSH_INTERVAL) -> None:
        self.path = path
        self.cap = cap_bytes
        self.written = 0
        self.dropped = 0
        self.flush_interval = flush_interval
        self._file = GzipWriter(path)
        self._lock = threading.Lock()
        self._closed = False
        self._failed = False
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._queued = 0  # bytes in the queue
        self._drained = threading.Condition(threading.Lock())
        self._writer = threading.Thread(target=self._write_loop, name=f"write-{path.name}", daemon=True)
        self._writer.start()

    def write(self, chunk: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            room = self.cap - self.written
            if room <= 0:
                self.dropped += len(chunk)
                return
            kept = chunk[:room]
            self.written += len(kept)
            self.dropped += len(chunk) - len(kept)
            if kept:
                with self._drained:  # the compressor is QUEUE_BYTES behind: wait for it
                    while self._queued >= QUEUE_BYTES and self._writer.is_alive():
                        self._drained.wait(0.5)  # woken as the compressor takes its queue
                    if not self._writer.is_alive():  # it died: nothing would take what is queued
                        return
                    self._queued += len(kept)
                self._queue.put(kept)  # under the lock: nothing is queued after close()'s end marker

    def _write_loop(self) -> None:
        """Compress and write what is queued; flush (``Z_SYNC_FLUSH``) at most ``flush_interval``
        after a write, also when the benchmark has gone quiet; stop at the end marker."""
        dirty = False
        flushed_at = time.monotonic()
        done = False
        while not done:
            wait = max(0.0, self.flush_interval - (time.monotonic() - flushed_at)) if dirty else None
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = b""  # time to flush
            parts = []
            if item is None:
                done = True
            elif item:
                parts.append(item)
                while True:  # take what else is waiting: one larger write
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        done = True
                        break
                    parts.append(more)
            if parts:
                with self._drained:
                    self._queued -= sum(len(p) for p in parts)
                    self._drained.notify_all()
            try:
                if parts:
                    self._file.write(b"".join(parts) if len(parts) > 1 else parts[0])
                    dirty = True
                if dirty and (done or time.monotonic() - flushed_at >= self.flush_interval):
                    self._file.flush()  # zlib.Z_SYNC_FLUSH: a reader can decompress up to here
                    dirty = False
                    flushed_at = time.monotonic()
            except OSError as e:  # a full disk must not stop the run: the rest of the log is lost
                if not self._failed:
                    self._failed = True
                    log.error("could not write the log %s: %s; the rest of this run's output is not kept", self.path, e)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._writer.join()
        try:
            if self.dropped:
                note = (
                    f"\n[anubis: the log was cut at {self.cap} bytes; "
                    f"{self.dropped} more bytes of output were not kept]\n"
                )
                self._file.write(note.encode())
            self._file.close()
        except OSError as e:
            log.error("could not finish the log %s: %s", self.path, e)


class EventTail:
    """Follows an append-only file of lines on a thread; ``on_line`` gets each complete line."""

    def __init__(self, path: Path, on_line: Callable[[bytes], None], interval: float = TAIL_INTERVAL) -> None:
        self.path = path
        self.on_line = on_line
        self.interval = interval
        self._offset = 0
        self._partial = b""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"tail-{path.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop following and read what is left, including a last line without a newline."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._read()
        with self._lock:
            rest, self._partial = self._partial, b""
        if rest.strip():
            self._emit(rest)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._read()

    def _read(self) -> None:
        with self._lock:
            try:
                with self.path.open("rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                return
            self._offset += len(data)
            data = self._partial + data
            *lines, self._partial = data.split(b"\n")
        for line in lines:
            if line.strip():
                self._emit(line)

    def _emit(self, line: bytes) -> None:
        try:
            self.on_line(line)
        except Exception:
            log.exception("could not handle an emitted metrics line")
