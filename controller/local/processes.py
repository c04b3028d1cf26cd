"""Process groups: start a command in its own session, stream its output, stop all of it.

A benchmark runs as the leader of a new session (``start_new_session=True``), so the whole tree it
spawns shares one process group and can be signalled at once, and a Ctrl-C on the terminal reaches
only ``anubis`` (which then decides how to stop the group). Stopping is SIGTERM to the group, a grace
period, then SIGKILL. When the leader exits on its own, whatever it left behind in its group is
killed, as a container's processes die with its main process; so is every process that left the
group (``setsid``) but carries the group's tag, and a group whose ``anubis run`` dies is stopped by
its watchdog (:mod:`controller.local.lifeline`).

Output (stdout and stderr together, as in ``kubectl logs``) is read from one pipe, in chunks, on a
thread, and handed to every sink: constant memory whatever the benchmark prints. The pipe is widened
to :data:`PIPE_SIZE` (``F_SETPIPE_SZ``, where the system allows) and read in blocks of up to
:data:`CHUNK_SIZE`, so a chatty benchmark costs each sink a call per MiB, not per 64 KiB.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.local.lifeline import (
    TAG_VARIABLE,
    die_with_parent,
    release_watchdog,
    signal_tagged,
    start_watchdog,
    stop_tagged,
)

log = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024  # bytes read at most at once
PIPE_SIZE = 1024 * 1024  # what the pipe is asked to hold (Linux's default for unprivileged users' maximum)
Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class Exit:
    """How a process group's leader ended."""

    returncode: int  # negative: killed by that signal (subprocess convention)
    stopped_by_us: bool  # we sent the signals (timeout, cancel)

    @property
    def signal_name(self) -> str | None:
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


class StartError(Exception):
    """The command could not be started at all (not found, not executable)."""


class ProcessGroup:
    """One command running as the leader of its own process group."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        sinks: Sequence[Sink] = (),
        on_exit: Callable[[], None] | None = None,
        grace_seconds: float = 10.0,
        kill_argv: Sequence[str] = (),
    ) -> None:
        """``grace_seconds`` and ``kill_argv`` (the container engine's kill command, when the
        command runs in a container) are the watchdog's, should this process die first."""
        if not argv:
            raise StartError("the command is empty")
        self.tag = secrets.token_hex(8)
        try:
            self._proc = subprocess.Popen(
                list(argv),
                env={**env, TAG_VARIABLE: self.tag},
                cwd=str(cwd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                preexec_fn=die_with_parent(),
            )
        except FileNotFoundError as e:
            raise StartError(f"command {argv[0]!r} not found (PATH or working folder {cwd})") from e
        except PermissionError as e:
            raise StartError(f"command {argv[0]!r} is not executable") from e
        except OSError as e:
            raise StartError(f"command {argv[0]!r} could not be started: {e.strerror}") from e
        self.pid = self._proc.pid
        self.pgid = self._proc.pid  # the session leader leads its group
        self._sinks = list(sinks)
        self._stopping = threading.Event()
        self._stopped_by_us = False
        self._exited = threading.Event()
        self._on_exit = on_exit
        assert self._proc.stdout is not None
        self._fd = self._proc.stdout.fileno()
        widen_pipe(self._fd)
        self._reader = threading.Thread(target=self._pump, name=f"output-{self.pid}", daemon=True)
        self._reader.start()
        self._waiter = threading.Thread(target=self._wait, name=f"wait-{self.pid}", daemon=True)
        self._waiter.start()
        self._lifeline: int | None = None
        try:
            self.watchdog_pid, self._lifeline = start_watchdog(self.pgid, self.tag, grace_seconds, kill_argv)
        except OSError as e:  # the benchmark runs, only without that safety net
            log.warning("could not start the watchdog of process group %s: %s", self.pgid, e)

    # ---- observation -------------------------------------------------------------------------

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._exited.is_set() else None

    def wait(self, timeout: float | None = None) -> bool:
        """True once the leader has exited (within ``timeout``)."""
        return self._exited.wait(timeout)

    def finish(self, drain_timeout: float = 5.0) -> Exit:
        """After the leader exited: kill what it left behind, drain the output, say how it ended."""
        self._exited.wait()
        self.kill_group(signal.SIGKILL)
        escaped = stop_tagged(self.tag, 0.0, exclude=(self.pid,))
        if escaped:
            log.info("stopped %d process(es) that had left the benchmark's group: %s", len(escaped), escaped)
        if self._lifeline is not None:
            release_watchdog(self._lifeline)
            self._lifeline = None
        self._reader.join(drain_timeout)
        if self._reader.is_alive():
            # A process that left our group (setsid) still holds the pipe: stop reading it.
            log.warning("a process outside the benchmark's group still holds its output; not waiting for it")
            self._stopping.set()
            self._reader.join(1.0)
        assert self._proc.returncode is not None
        return Exit(self._proc.returncode, self._stopped_by_us)

    # ---- control -----------------------------------------------------------------------------

    def kill_group(self, sig: signal.Signals) -> bool:
        """Send ``sig`` to every process of the group; False when none is left."""
        try:
            os.killpg(self.pgid, sig)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - group taken over by another user's process
            return False

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM to the group, wait up to ``grace_seconds`` for the leader, then SIGKILL the group."""
        self._stopped_by_us = True
        signal_tagged(self.tag, signal.SIGTERM, exclude=(self.pid,))  # those that left the group too
        if self.kill_group(signal.SIGTERM) and not self._exited.wait(grace_seconds):
            log.info("process group %s ignored SIGTERM for %.0f s; sending SIGKILL", self.pgid, grace_seconds)
        self.kill_group(signal.SIGKILL)
        self._exited.wait()

    def kill(self) -> None:
        self._stopped_by_us = True
        self.kill_group(signal.SIGKILL)
        self._exited.wait()

    # ---- threads -----------------------------------------------------------------------------

    def _wait(self) -> None:
        self._proc.wait()
        self._exited.set()
        if self._on_exit is not None:
            self._on_exit()

    def _pump(self) -> None:
        fd = self._fd
        try:
            while True:
                if self._stopping.is_set():
                    return
                ready, _, _ = select.select([fd], [], [], 0.5)
                if not ready:
                    continue
                try:
                    chunk = os.read(fd, CHUNK_SIZE)
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    raise
                if not chunk:
                    return
                for sink in self._sinks:
                    try:
                        sink(chunk)
                    except Exception:  # a broken sink must not stop the others or block the child
                        log.exception("an output sink failed")
        finally:
            assert self._proc.stdout is not None
            with contextlib.suppress(OSError):
                self._proc.stdout.close()


def widen_pipe(fd: int) -> None:
    """Ask the kernel for a :data:`PIPE_SIZE` pipe buffer (Linux ``F_SETPIPE_SZ``); keep the default
    where that is refused or unknown (other systems, a lower ``/proc/sys/fs/pipe-max-size``)."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, setpipe, PIPE_SIZE)


def process_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat`` field 22, proc(5)): with
    the pid, it names one process, never a later one that reused the number. ``None`` where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process_alive(pid: int, started: int | None) -> bool:
    """``pid`` is alive and is the process that started at ``started`` (when known)."""
    if not process_alive(pid):
        return False
    return started is None or start_ticks(pid) in (None, started)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone (or a zombie); True if it went within ``timeout``."""
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
