"""Process groups: output through sinks, stop with grace then SIGKILL, nothing left behind."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from controller.local.processes import ProcessGroup, StartError, wait_gone


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
