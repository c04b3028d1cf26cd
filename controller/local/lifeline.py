"""What keeps a local benchmark from outliving its ``anubis run``: the parent-death signal, the child
subreaper, the process tag, and the watchdog that stops a group whose ``anubis run`` died.

* **Parent-death signal.** A benchmark's leader is started with ``PR_SET_PDEATHSIG`` = SIGTERM
  (prctl(2)): when ``anubis run`` dies, even by SIGKILL, the kernel signals the leader at once.
  (The kernel sends it when the *thread* that forked the child ends; ``anubis run`` starts its
  processes from its main thread.)
* **Watchdog.** The parent-death signal reaches the leader only. Beside each process group runs a
  small watchdog (``python -m controller.local.lifeline``), in its own session, reading a pipe whose
  only writer is ``anubis run``. When ``anubis run`` ends normally it writes one byte first and the
  watchdog exits; when it dies, the pipe closes without that byte and the watchdog stops the group:
  SIGTERM, a grace period, SIGKILL, and the container's kill command when the benchmark runs in one.
* **Process tag.** Every process of a group inherits ``ANUBIS_PROCESS_TAG`` in its environment, so a
  process that left the group (``setsid``, a daemon's double fork) is still found, by its
  environment, when the group ends (see ``/proc/<pid>/environ`` in proc(5)), and stopped with it.
* **Child subreaper.** ``anubis run`` makes itself a subreaper (``PR_SET_CHILD_SUBREAPER``): an
  orphaned descendant of a benchmark is re-parented to ``anubis run`` rather than to init, so it stays
  in ``anubis run``'s tree and is reaped by it once stopped.

All of this is Linux's; elsewhere (macOS) the calls do nothing and only the process group and the
watchdog apply.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

TAG_VARIABLE = "ANUBIS_PROCESS_TAG"
#: What ``anubis run`` writes to the watchdog before closing the pipe: "all is well, go".
RELEASE = b"R"
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up once: in the symbols already loaded (``dlopen(NULL)``), else in the
    C library ``ctypes.util.find_library`` names (which runs ``ldconfig -p``: a process per call)."""
    if not sys.platform.startswith("linux"):
        return None
    names: list[Callable[[], str | None]] = [lambda: None, lambda: ctypes.util.find_library("c") or "libc.so.6"]
    for name in names:  # the second only when the first fails
        try:
            function: Callable[..., int] = ctypes.CDLL(name(), use_errno=True).prctl
        except (OSError, AttributeError):
            continue
        return function
    return None


def enable_subreaper() -> bool:
    """Make this process the subreaper of its descendants (Linux); True when it is one."""
    prctl = _prctl()
    return prctl is not None and prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def is_subreaper() -> bool:
    prctl = _prctl()
    if prctl is None:
        return False
    value = ctypes.c_int(0)
    return prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0) == 0 and value.value == 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks the kernel to send ``sig`` to the child when its parent dies, and
    sends it at once if the parent is already gone (resolved here, in the parent: the child only
    calls it). ``None`` where there is no prctl."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), sig)

    return preexec


def tagged(tag: str, *, exclude: Sequence[int] = ()) -> list[int]:
    """The processes of this user whose environment carries ``ANUBIS_PROCESS_TAG=tag``."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    found = []
    me = os.getpid()
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit() or int(name) in (me, *exclude):
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except OSError:  # gone, or another user's
            continue
        if needle in environ.split(b"\0"):
            found.append(int(name))
    return found


def _signal(pid: int, sig: int, *, group: bool) -> bool:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def signal_tagged(tag: str, sig: int, *, exclude: Sequence[int] = ()) -> list[int]:
    """Send ``sig`` to every process tagged ``tag`` but ``exclude``; returns their pids."""
    found = tagged(tag, exclude=exclude)
    for pid in found:
        _signal(pid, sig, group=False)
    return found


def _reap(pids: Sequence[int]) -> None:
    """Collect those of ``pids`` that are this process's children (adopted as a subreaper)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def stop_tagged(tag: str, grace_seconds: float, *, exclude: Sequence[int] = (), pgid: int | None = None) -> list[int]:
    """Stop the process group ``pgid`` (when given) and every process tagged ``tag`` but ``exclude``:
    SIGTERM, up to ``grace_seconds`` for them to go, then SIGKILL. Returns the tagged pids found."""
    found = tagged(tag, exclude=exclude)
    if pgid is not None:
        _signal(pgid, signal.SIGTERM, group=True)
    for pid in found:
        _signal(pid, signal.SIGTERM, group=False)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        _reap(found)
        group_left = pgid is not None and _signal(pgid, 0, group=True)
        if not group_left and not any(_alive(pid) for pid in found):
            break
        time.sleep(0.05)
    if pgid is not None:
        _signal(pgid, signal.SIGKILL, group=True)
    # a process may have forked again while we waited: look once more
    found = sorted(set(found) | set(tagged(tag, exclude=exclude)))
    for pid in found:
        _signal(pid, signal.SIGKILL, group=False)
    _reap(found)
    return found


def start_watchdog(pgid: int, tag: str, grace_seconds: float, kill_argv: Sequence[str] = ()) -> tuple[int, int]:
    """Start the watchdog of group ``pgid``; returns (its pid, the pipe's write end). Write
    :data:`RELEASE` and close the pipe to let it go; if this process dies first, it stops the group."""
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, False)
    # -P: the working folder is not put on sys.path (a benchmark repository's own `controller/` folder
    # must not shadow this package); -S: no `site` (the watchdog needs the standard library and this
    # package, found through PYTHONPATH below; site and an editable install's finder cost ~20 ms of a
    # core on every run); cwd "/": the watchdog holds no folder busy.
    argv = [sys.executable, "-P", "-S", "-m", "controller.local.lifeline", str(pgid), tag, repr(grace_seconds), *kill_argv]
    package_root = str(Path(__file__).resolve().parents[2])  # where this `controller` package is found
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    try:
        process = subprocess.Popen(
            argv, stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
            env={**os.environ, "PYTHONPATH": path},
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    except OSError:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return process.pid, write_end


def release_watchdog(write_end: int) -> None:
    with contextlib.suppress(OSError):
        os.write(write_end, RELEASE)
    with contextlib.suppress(OSError):
        os.close(write_end)


def watch(pgid: int, tag: str, grace_seconds: float, kill_argv: Sequence[str]) -> int:
    """The watchdog: wait for ``anubis run`` to release it or die (standard input closes)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is anubis run's to handle
    data = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(0, 64):
            data += chunk
    if RELEASE in data:
        return 0
    stop_tagged(tag, grace_seconds, pgid=pgid)
    if kill_argv:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(list(kill_argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=grace_seconds + 30, check=False)
    return 1


if __name__ == "__main__":  # pragma: no cover - exercised through real processes in the tests
    sys.exit(watch(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4:]))
