"""The watchdog beside a process group: released, it leaves; orphaned (its pipe closed without the
release byte, as when ``anubis run`` is killed), it stops the group, the tagged processes that left
it, and runs the container engine's kill command."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from controller.local.lifeline import TAG_VARIABLE, release_watchdog, start_watchdog
from controller.local.processes import process_alive, wait_gone


def _sleeper(tag: str, *, new_session: bool = True) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                            env={**os.environ, TAG_VARIABLE: tag}, start_new_session=new_session)


def test_an_orphaned_watchdog_stops_the_group_the_escapees_and_the_container(tmp_path: Path) -> None:
    leader = _sleeper("tag-a")
    escaped = _sleeper("tag-a")  # left the group (its own session) but carries the tag
    stranger = _sleeper("tag-b")
    killed = tmp_path / "container-killed"
    kill_argv = [sys.executable, "-c", f"open({str(killed)!r}, 'w').write('anubis-x-output')"]
    try:
        watchdog, lifeline = start_watchdog(leader.pid, "tag-a", 1.0, kill_argv)
        time.sleep(0.5)
        assert process_alive(watchdog)
        os.close(lifeline)  # anubis run died: no release byte
        leader.wait(timeout=30)
        escaped.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not killed.exists():
            assert time.monotonic() < deadline, "the container's kill command never ran"
            time.sleep(0.05)
        assert wait_gone(watchdog, 30)
        assert stranger.poll() is None  # another group's process is left alone
    finally:
        for p in (leader, escaped, stranger):
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait(timeout=30)


def test_a_released_watchdog_leaves_everything_alone(tmp_path: Path) -> None:
    leader = _sleeper("tag-c")
    killed = tmp_path / "container-killed"
    try:
        watchdog, lifeline = start_watchdog(leader.pid, "tag-c", 1.0, [sys.executable, "-c", f"open({str(killed)!r}, 'w')"])
        release_watchdog(lifeline)
        assert wait_gone(watchdog, 30)
        assert leader.poll() is None and not killed.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(leader.pid, signal.SIGKILL)
        leader.wait(timeout=30)
