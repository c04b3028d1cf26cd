"""The emitter behind :func:`client_lib.emit` (standard library only).

The protocol with the runner, chosen by environment variables read at every call:

``BENCHMARK_AI``
    unset, empty or ``stdout``: stdout mode. Anything else than ``fifo`` (or its alias ``file``) is
    treated as stdout, with one warning on stderr.
``BENCHMARK_AI_FIFO_FILEPATH``
    fifo mode: where the events go. A FIFO (made by the runner with ``mkfifo``) or a regular file.
``BENCHMARK_AI_FIFO_MAX_WAIT_TIME``
    fifo mode: seconds to wait, at the first emit, for a reader to open the FIFO (default 1.0).

Stdout mode prints one line per call, flushed::

    ANUBIS_METRICS {"accuracy": 0.93, "loss": 0.21}

Fifo mode writes one JSON line per call, with one ``write`` (atomic on a pipe up to 4096 bytes, and
appended atomically to a regular file opened with ``O_APPEND``)::

    {"timestamp": 1700000000.25, "metrics": {"accuracy": 0.93, "loss": 0.21}}

Non-finite values are written as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` so that
every line is strict JSON (``schemas/metric_event.schema.json``).

Fifo mode never holds the benchmark up for long: the FIFO is opened without blocking; if no reader
has opened it within the wait time, the event goes to stdout instead (which the runner reads too)
with one warning on stderr, and later calls try the FIFO again without waiting. A reader that goes
away, or a pipe that stays full for the wait time, also sends events to stdout.
"""

from __future__ import annotations

import errno
import json
import math
import numbers
import os
import stat
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping

MARKER = "ANUBIS_METRICS"
MODE_VARIABLE = "BENCHMARK_AI"
PATH_VARIABLE = "BENCHMARK_AI_FIFO_FILEPATH"
WAIT_VARIABLE = "BENCHMARK_AI_FIFO_MAX_WAIT_TIME"
DEFAULT_MAX_WAIT = 1.0

_POLL = 0.01  # seconds between tries while waiting for a reader or for room in the pipe


def encode_metrics(metrics: Mapping[str, float | int]) -> dict[str, float | int | str]:
    """Check ``metrics`` and return it ready for JSON; raises TypeError/ValueError saying what is wrong."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"emit() takes a mapping of metric names to numbers, not {type(metrics).__name__}.")
    encoded: dict[str, float | int | str] = {}
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise TypeError(f"Metric names must be strings; got {name!r} ({type(name).__name__}).")
        if not name:
            raise ValueError("Metric names must not be empty.")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"Metric {name!r} must be a number (int or float), not {type(value).__name__} {value!r};"
                " convert tensors and arrays with float() or .item()."
            )
        if isinstance(value, numbers.Integral):
            integer = int(value)
            try:
                float(integer)
            except OverflowError as e:
                raise ValueError(f"Metric {name!r} is too large to be a number: {integer}.") from e
            encoded[name] = integer
            continue
        number = float(value)
        if math.isnan(number):
            encoded[name] = "NaN"
        elif math.isinf(number):
            encoded[name] = "Infinity" if number > 0 else "-Infinity"
        else:
            encoded[name] = number
    return encoded


class Emitter:
    """Sends metric events to the runner. One per process is enough (:func:`client_lib.emit`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fifo_path: str | None = None
        self._fifo_fd: int | None = None
        self._waited: set[str] = set()  # FIFOs already waited for once
        self._warned: set[str] = set()
        self._stalled = False  # the last write found the pipe full: do not wait for it again
        ref = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: _call(ref))

    def emit(self, metrics: Mapping[str, float | int]) -> None:
        """Send one event; see the module's description for the modes."""
        encoded = encode_metrics(metrics)
        if not encoded:
            return
        mode = os.environ.get(MODE_VARIABLE, "").strip().lower()
        with self._lock:
            if mode in ("fifo", "file"):
                path = os.environ.get(PATH_VARIABLE, "")
                if not path:
                    self._warn("no-path", f"{MODE_VARIABLE}={mode} but {PATH_VARIABLE} is not set")
                elif self._write_record(path, encoded):
                    return
            elif mode not in ("", "stdout"):
                self._warn(f"mode:{mode}", f"unknown {MODE_VARIABLE} mode {mode!r}; using stdout")
            self._write_stdout(encoded)

    def close(self) -> None:
        """Close the FIFO if one is open (it is reopened at the next emit)."""
        with self._lock:
            self._close_fifo()

    # -- stdout -----------------------------------------------------------------------------------

    def _write_stdout(self, encoded: dict[str, float | int | str]) -> None:
        line = f"{MARKER} {json.dumps(encoded, allow_nan=False)}\n"
        out = sys.stdout
        if out is None:  # pythonw and friends
            return
        out.write(line)
        out.flush()

    # -- fifo / file ------------------------------------------------------------------------------

    def _write_record(self, path: str, encoded: dict[str, float | int | str]) -> bool:
        record = {"timestamp": time.time(), "metrics": encoded}
        data = (json.dumps(record, allow_nan=False) + "\n").encode("utf-8")
        try:
            is_fifo = stat.S_ISFIFO(os.stat(path).st_mode)
        except FileNotFoundError:
            is_fifo = False
        except OSError as e:
            self._warn(f"stat:{path}", f"cannot use {path} ({e}); using stdout")
            return False
        if is_fifo:
            return self._write_fifo(path, data)
        return self._append_file(path, data)

    def _append_file(self, path: str, data: bytes) -> bool:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as e:
            self._warn(f"open:{path}", f"cannot open {path} ({e}); using stdout")
            return False
        try:
            view = memoryview(data)
            while view:  # one write on any local file system; the loop only covers the odd short write
                view = view[os.write(fd, view) :]
        except OSError as e:
            self._warn(f"write:{path}", f"cannot write to {path} ({e}); using stdout")
            return False
        finally:
            os.close(fd)
        return True

    def _write_fifo(self, path: str, data: bytes) -> bool:
        max_wait = self._max_wait()
        if self._fifo_path != path:
            self._close_fifo()
        if self._fifo_fd is None:
            wait = 0.0 if path in self._waited else max_wait
            self._waited.add(path)
            fd = self._open_fifo(path, wait)
            if fd is None:
                self._warn(
                    f"reader:{path}",
                    f"no reader opened the FIFO {path} within {wait:g}s; metrics go to stdout",
                )
                return False
            self._fifo_fd, self._fifo_path = fd, path
        fd = self._fifo_fd
        wait = 0.0 if self._stalled else max_wait
        deadline = time.monotonic() + wait
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:  # the pipe is full: the reader is behind
                    now = time.monotonic()
                    if now >= deadline and len(view) == len(data):
                        self._stalled = True
                        self._warn(f"full:{path}", f"the FIFO {path} stayed full for {wait:g}s; metrics go to stdout")
                        return False
                    if now >= deadline + max_wait:  # half a line (> 4096 bytes) in a pipe that stays full
                        raise BrokenPipeError(errno.EPIPE, "the reader stopped reading") from None
                    time.sleep(_POLL)
        except OSError as e:  # BrokenPipeError: the reader went away
            self._close_fifo()
            self._warn(f"broken:{path}", f"cannot write to the FIFO {path} ({e}); metrics go to stdout")
            return False
        self._stalled = False
        return True

    def _open_fifo(self, path: str, wait: float) -> int | None:
        deadline = time.monotonic() + wait
        while True:
            try:
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            except OSError as e:
                if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                    self._warn(f"open:{path}", f"cannot open the FIFO {path} ({e})")
                    return None
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))

    def _close_fifo(self) -> None:
        self._stalled = False
        if self._fifo_fd is not None:
            try:
                os.close(self._fifo_fd)
            except OSError:
                pass
        self._fifo_fd = None
        self._fifo_path = None

    def _max_wait(self) -> float:
        raw = os.environ.get(WAIT_VARIABLE, "")
        if not raw.strip():
            return DEFAULT_MAX_WAIT
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            self._warn(f"wait:{raw}", f"{WAIT_VARIABLE}={raw!r} is not a number of seconds; using {DEFAULT_MAX_WAIT}")
            return DEFAULT_MAX_WAIT
        return value

    def _warn(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        err = sys.stderr
        if err is not None:
            err.write(f"benchmarkai: warning: {message}\n")
            err.flush()

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by another thread at fork; the FIFO fd is shared and
        # still valid, so the child keeps writing to it.
        self._lock = threading.Lock()


def _call(ref: weakref.WeakMethod[Callable[[], None]]) -> None:
    method = ref()
    if method is not None:
        method()
