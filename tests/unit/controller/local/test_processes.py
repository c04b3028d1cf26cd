"""Process groups: output through sinks, stop with grace then SIGKILL, nothing left behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.local.processes import CHUNK_SIZE, PIPE_SIZE, ProcessGroup, StartError, process_alive, wait_gone


def test_output_reaches_every_sink_in_order(tmp_path: Path) -> None:
    a: list[bytes] = []
    b: list[bytes] = []
    code = "import sys\nfor i in range(2000): print(i)\nprint('err', file=sys.stderr)"
    group = ProcessGroup([sys.executable, "-c", code], env=os.environ, cwd=tmp_path, sinks=[a.append, b.append])
    exit_ = group.finish()
    assert exit_.returncode == 0 and not exit_.stopped_by_us
    text = b"".join(a).decode()
    assert text.splitlines()[:3] == ["0", "1", "2"] and text.rstrip().endswith("err")
    assert b"".join(a) == b"".join(b)


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are a Linux feature")
def test_a_chatty_benchmark_is_read_in_large_blocks(tmp_path: Path) -> None:
    """The pipe is widened (where the system allows) and read up to 1 MiB at a time: a benchmark that
    writes 8 MiB at once reaches the sinks in far fewer than the 128 reads of 64 KiB."""
    reads: list[int] = []

    def slow_sink(chunk: bytes) -> None:  # the benchmark fills the pipe meanwhile
        reads.append(len(chunk))
        time.sleep(0.02)

    code = "import sys, time\nsys.stdout.buffer.write(b'x' * (8 << 20)); sys.stdout.flush(); time.sleep(0.2)"
    group = ProcessGroup([sys.executable, "-c", code], env=os.environ, cwd=tmp_path, sinks=[slow_sink])
    assert fcntl.fcntl(group._fd, fcntl.F_GETPIPE_SZ) == min(PIPE_SIZE, _pipe_max())
    group.finish()
    assert sum(reads) == 8 << 20 and max(reads) <= CHUNK_SIZE
    if _pipe_max() >= PIPE_SIZE:
        assert max(reads) > 64 * 1024


def _pipe_max() -> int:
    return int(Path("/proc/sys/fs/pipe-max-size").read_text())


def test_a_failing_sink_does_not_stop_the_others(tmp_path: Path) -> None:
    seen: list[bytes] = []

    def broken(chunk: bytes) -> None:
        raise RuntimeError("sink broke")

    group = ProcessGroup([sys.executable, "-c", "print('hi')"], env=os.environ, cwd=tmp_path, sinks=[broken, seen.append])
    assert group.finish().returncode == 0
    assert b"".join(seen) == b"hi\n"


def test_stop_sends_sigterm_then_sigkill(tmp_path: Path) -> None:
    code = (
        "import signal, time, sys\n"
        "signal.signal(signal.SIGTERM, lambda *a: print('got TERM', flush=True))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)"
    )
    seen: list[bytes] = []
    group = ProcessGroup([sys.executable, "-u", "-c", code], env=os.environ, cwd=tmp_path, sinks=[seen.append])
    while b"ready" not in b"".join(seen):
        assert group.returncode is None
        group.wait(0.05)
    group.stop(grace_seconds=0.5)
    exit_ = group.finish()
    assert exit_.stopped_by_us and exit_.returncode == -signal.SIGKILL and exit_.signal_name == "SIGKILL"
    assert b"got TERM" in b"".join(seen)


def test_grandchildren_die_with_the_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(c.pid))\n"
        "time.sleep(300)"
    )
    group = ProcessGroup([sys.executable, "-c", code], env=os.environ, cwd=tmp_path)
    while not (pid_file.exists() and pid_file.read_text()):
        group.wait(0.05)
    group.stop(grace_seconds=5)
    assert group.finish().returncode == -signal.SIGTERM
    assert wait_gone(int(pid_file.read_text()), 5)


def test_start_errors(tmp_path: Path) -> None:
    with pytest.raises(StartError, match="not found"):
        ProcessGroup(["/no/such/program"], env=os.environ, cwd=tmp_path)
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(StartError, match="not executable"):
        ProcessGroup([str(script)], env=os.environ, cwd=tmp_path)
    with pytest.raises(StartError, match="empty"):
        ProcessGroup([], env=os.environ, cwd=tmp_path)


# ---- issue 15 item 11: nothing outlives its supervisor or its group --------------------------------

DAEMON = (
    "import subprocess, sys, time\n"
    "d = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)\n"
    "open(sys.argv[1], 'w').write(str(d.pid))\n"
)


def _read_pid(path: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.05)
    return int(path.read_text())


def test_a_setsid_grandchild_is_stopped_when_the_leader_exits(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    group = ProcessGroup([sys.executable, "-c", DAEMON, str(pid_file)], env=os.environ, cwd=tmp_path)
    try:
        exit_ = group.finish(drain_timeout=30)
        assert exit_.returncode == 0
        assert wait_gone(_read_pid(pid_file), 10), "the daemonised grandchild outlived its benchmark"
    finally:
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_setsid_grandchild_gets_sigterm_on_stop(tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    code = DAEMON + "time.sleep(300)\n"
    group = ProcessGroup([sys.executable, "-c", code, str(pid_file)], env=os.environ, cwd=tmp_path)
    daemon = _read_pid(pid_file)
    try:
        group.stop(grace_seconds=5)
        assert group.finish().returncode == -signal.SIGTERM
        assert wait_gone(daemon, 10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon, signal.SIGKILL)


SUPERVISOR = """
import os, sys, time
from pathlib import Path
from controller.local.processes import ProcessGroup
folder = Path(sys.argv[1])
child = (
    "import subprocess, sys, time\\n"
    "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\\n"
    "d = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)\\n"
    "open(sys.argv[1], 'w').write(f'{c.pid} {d.pid}')\\n"
    "time.sleep(300)\\n"
)
group = ProcessGroup([sys.executable, "-c", child, str(folder / "kids")], env=os.environ, cwd=folder,
                     grace_seconds=1.0)
(folder / "leader").write_text(str(group.pid))
time.sleep(300)
"""


def test_the_benchmark_dies_with_a_killed_supervisor(tmp_path: Path) -> None:
    """``kill -9`` of the process that runs the benchmark (``anubis run``): the leader, its child and
    its daemonised grandchild all go (parent-death signal, then the watchdog)."""
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(tmp_path)], cwd=Path(__file__).parents[4])
    pids: list[int] = []
    try:
        leader = _read_pid(tmp_path / "leader")
        deadline = time.monotonic() + 30
        while not ((tmp_path / "kids").exists() and (tmp_path / "kids").read_text()):
            assert time.monotonic() < deadline and supervisor.poll() is None
            time.sleep(0.05)
        pids = [leader, *map(int, (tmp_path / "kids").read_text().split())]
        assert all(process_alive(pid) for pid in pids)
        supervisor.kill()
        supervisor.wait(10)
        survivors = [pid for pid in pids if not wait_gone(pid, 15)]
        assert survivors == [], f"outlived their supervisor: {survivors}"
    finally:
        supervisor.kill()
        supervisor.wait(10)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
