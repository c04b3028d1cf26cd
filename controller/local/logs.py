"""What a local run keeps of its output, and how it reads the metrics a benchmark emits.

* :class:`CappedLog` — the run's output, gzip-compressed, up to a size cap (of uncompressed bytes);
  past it a note says so and the rest is dropped (metrics are still extracted from all of it). It is
  flushed (``Z_SYNC_FLUSH``) at most :data:`LOG_FLUSH_INTERVAL` seconds after each write, so that
  ``anubis logs --follow`` reads it as it grows and a run killed with ``kill -9`` leaves a readable log
  up to about that long before the kill. Compression level 1: ~2.5x the rate of level 6 (88 against
  34 MB/s on the bench machine) for a file ~25 % larger — at level 6, gzip alone took 3 s of a 100 MB
  run's output.
* :class:`EventTail` — follows the file that ``client_lib.emit`` appends to (one JSON object a line),
  handing each complete line to a callback, live and once more at the end.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_LOG_CAP = 256 * 1024 * 1024  # bytes of output kept per run (uncompressed)
TAIL_INTERVAL = 0.5
LOG_FLUSH_INTERVAL = 1.0  # seconds
COMPRESS_LEVEL = 1


class CappedLog:
    def __init__(self, path: Path, cap_bytes: int = DEFAULT_LOG_CAP, *, flush_interval: float = LOG_FLUSH_INTERVAL) -> None:
        self.path = path
        self.cap = cap_bytes
        self.written = 0
        self.dropped = 0
        self.flush_interval = flush_interval
        self._file = gzip.open(path, "wb", compresslevel=COMPRESS_LEVEL)
        self._lock = threading.Lock()
        self._dirty = False
        self._flushed_at = time.monotonic()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name=f"flush-{path.name}", daemon=True)
        self._flusher.start()

    def write(self, chunk: bytes) -> None:
        with self._lock:
            if self._file.closed:
                return
            room = self.cap - self.written
            if room <= 0:
                self.dropped += len(chunk)
                return
            kept = chunk[:room]
            self._file.write(kept)
            self.written += len(kept)
            self.dropped += len(chunk) - len(kept)
            self._dirty = True
            if time.monotonic() - self._flushed_at >= self.flush_interval:
                self._flush()

    def _flush(self) -> None:
        """Everything written so far, compressed and handed to the file system (the lock is held)."""
        self._file.flush()  # zlib.Z_SYNC_FLUSH: a reader can decompress up to here
        self._dirty = False
        self._flushed_at = time.monotonic()

    def _flush_loop(self) -> None:
        """Flushes what a write left pending once the benchmark goes quiet."""
        while not self._stop.wait(self.flush_interval / 2):
            with self._lock:
                if self._file.closed:
                    return
                if self._dirty and time.monotonic() - self._flushed_at >= self.flush_interval:
                    self._flush()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._file.closed:
                return
            if self.dropped:
                note = (
                    f"\n[anubis: the log was cut at {self.cap} bytes; "
                    f"{self.dropped} more bytes of output were not kept]\n"
                )
                self._file.write(note.encode())
            self._file.close()
        if self._flusher is not threading.current_thread():
            self._flusher.join()


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
