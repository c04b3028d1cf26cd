"""Following local runs end to end: `anubis status [--watch]`, `logs [--follow|--tail]`, `search`,
`list`, `purge`, with real `anubis run` processes and one data folder."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import Repo, script_descriptor

STEPS = """
import sys
for i in range(5):
    print(f"step {i} speed={i + 1}.0 loss=0.{i}", flush=True)
print("CUDA_ERROR_OUT_OF_MEMORY at step 4" if len(sys.argv) > 1 else "all done", flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""

# Prints a line, waits for the test to create GO (or 60 s), prints more lines, ends.
GATED = """
import os, sys, time
print("first line speed=1.0", flush=True)
go = os.environ["GO_FILE"]
deadline = time.time() + 60
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.05)
for i in range(3):
    print(f"later line {i} speed=2.0", flush=True)
"""

SLEEPER = """
import time
print("sleeping speed=1.0", flush=True)
time.sleep(300)
"""


def _wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _json(repo: Repo, *args: str) -> Any:
    done = repo.anubis(*args, "--output", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _status(repo: Repo, ref: str | None = None) -> dict[str, Any] | None:
    done = repo.anubis("status", *([ref] if ref else []), "--output", "json")
    return json.loads(done.stdout) if done.returncode == 0 else None


def _run(repo: Repo, name: str, code: str, *args: str, env: dict[str, str] | None = None) -> str:
    repo.benchmark(name, script_descriptor(name, f"python3 $(BAI_SCRIPTS_PATH)/src/main.py{''.join(' ' + a for a in args)}"), {"main.py": code})
    done = subprocess.run(
        repo.command("run", f"benchmarks/{name}", "--output", "json"),
        cwd=repo.root, env={**repo.env, **(env or {})}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    [execution] = json.loads(done.stdout)["executions"]
    return str(execution["execution_id"])


def _start(repo: Repo, name: str, code: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start `anubis run` in the background; return it and its execution id once it is RUNNING."""
    repo.benchmark(name, script_descriptor(name, "python3 $(BAI_SCRIPTS_PATH)/src/main.py"), {"main.py": code})
    process = subprocess.Popen(
        repo.command("run", f"benchmarks/{name}"), cwd=repo.root, env={**repo.env, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip

    def running() -> str | None:
        document = _status(repo)
        if document and document["benchmark"] == name and document["status"] == "RUNNING":
            return str(document["execution_id"])
        return None

    return process, _wait_for(running, what=f"{name} to be RUNNING")


def test_status_history_of_a_success_and_a_failure(repo: Repo) -> None:
    ok = _run(repo, "good", STEPS)
    bad = _run(repo, "bad", STEPS, "3")
    document = _status(repo, ok)
    assert document is not None
    assert [h["status"] for h in document["history"]] == ["PENDING", "INITIALIZING", "RUNNING", "SUCCEEDED"]
    assert document["final"] and document["benchmark"] == "good"
    times = [h["at"] for h in document["history"]]
    assert times == sorted(times)
    failed = _status(repo, bad)
    assert failed is not None and failed["history"][-1] == {
        "status": "FAILED", "reason": "benchmark exited with code 3", "at": failed["history"][-1]["at"],
    }  # fmt: skip
    table = repo.anubis("status", bad)
    assert table.returncode == 0
    assert "FAILED" in table.stdout and "benchmark exited with code 3" in table.stdout and "RUNNING" in table.stdout
    # the latest run by default; --watch on a finished run exits at once with its code
    assert _status(repo)["execution_id"] == bad  # type: ignore[index]
    assert repo.anubis("status", ok, "--watch").returncode == 0
    assert repo.anubis("status", bad, "--watch").returncode == 1
    missing = repo.anubis("status", "no-such-run")
    assert missing.returncode == 2 and "no execution matching 'no-such-run'" in missing.stderr


def test_watch_follows_until_canceled(repo: Repo) -> None:
    process, execution_id = _start(repo, "sleepy", SLEEPER)
    try:
        watcher = repo.start("status", execution_id, "--watch")
        time.sleep(0.5)
        assert watcher.poll() is None  # still watching
        assert repo.anubis("cancel", execution_id).returncode == 0
        out, err = watcher.communicate(timeout=60)
        assert watcher.returncode == 3, err
        assert "CANCELED" in out and "canceled by anubis cancel" in out
    finally:
        process.kill() if process.poll() is None else None
        process.wait(timeout=60)


def test_watch_exits_0_on_success(repo: Repo, tmp_path: Path) -> None:
    go = tmp_path / "go"
    process, execution_id = _start(repo, "gated", GATED, env={"GO_FILE": str(go)})
    watcher = repo.start("status", execution_id, "--watch", "--output", "json")
    go.touch()
    out, err = watcher.communicate(timeout=60)
    process.wait(timeout=60)
    assert watcher.returncode == 0, err
    assert json.loads(out)["history"][-1]["status"] == "SUCCEEDED"


def test_logs_follow_a_run_in_progress(repo: Repo, tmp_path: Path) -> None:
    go = tmp_path / "go"
    process, execution_id = _start(repo, "gated", GATED, env={"GO_FILE": str(go)})
    follower = subprocess.Popen(
        repo.command("logs", execution_id, "--follow"), cwd=repo.root, env=repo.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert follower.stdout is not None
    # the first line arrives while the run waits (from the journal: the gzip file has not flushed it)
    assert follower.stdout.readline() == "first line speed=1.0\n"
    assert follower.poll() is None and process.poll() is None
    go.touch()
    rest, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert rest == "".join(f"later line {i} speed=2.0\n" for i in range(3))  # each line once, in order
    assert process.wait(timeout=60) == 0
    whole = repo.anubis("logs", execution_id)
    assert whole.stdout == "first line speed=1.0\n" + rest


def test_logs_tail_and_container(repo: Repo) -> None:
    execution_id = _run(repo, "steps", STEPS)
    assert repo.anubis("logs", execution_id).stdout.splitlines()[0] == "step 0 speed=1.0 loss=0.0"
    tail = repo.anubis("logs", execution_id, "--tail", "2")
    assert tail.stdout == "step 4 speed=5.0 loss=0.4\nall done\n"
    assert repo.anubis("logs", execution_id, "--tail", "0").stdout == ""
    assert repo.anubis("logs", execution_id, "--container", "output", "--tail", "1").stdout == "all done\n"
    wrong = repo.anubis("logs", execution_id, "--container", "server")
    assert wrong.returncode == 2 and "has no stream 'server'; it has output" in wrong.stderr


def test_search_hits_and_misses(repo: Repo) -> None:
    good = _run(repo, "good", STEPS)
    bad = _run(repo, "bad", STEPS, "1")
    hits = _json(repo, "search", "CUDA_ERROR_OUT_OF_MEMORY")["hits"]
    assert [(h["execution_id"], h["benchmark"], h["stream"], h["line"]) for h in hits] == [(bad, "bad", "output", 6)]
    assert hits[0]["text"] == "CUDA_ERROR_OUT_OF_MEMORY at step 4" and hits[0]["at"] > 0
    assert len(_json(repo, "search", "speed")["hits"]) == 10  # both runs, newest first
    assert {h["execution_id"] for h in _json(repo, "search", "speed", "--benchmark", "good")["hits"]} == {good}
    assert {h["execution_id"] for h in _json(repo, "search", "speed", "--run", bad)["hits"]} == {bad}
    assert len(_json(repo, "search", "speed", "--limit", "3")["hits"]) == 3
    assert _json(repo, "search", "spe*", "--since", "1h")["hits"]  # FTS5 prefix query
    phrase = _json(repo, "search", '"step 4"')["hits"]
    assert {h["line"] for h in phrase} == {5, 6}  # "step 4 speed…" and "…at step 4"
    odd = _json(repo, "search", "loss=0.3")  # not FTS5: searched for as words
    assert odd["quoted"] and {h["line"] for h in odd["hits"]} == {4}
    miss = repo.anubis("search", "nowhere-to-be-found")
    assert miss.returncode == 1 and "No log line matches" in miss.stdout
    future = repo.anubis("search", "speed", "--since", "2999-01-01", "--output", "json")
    assert future.returncode == 1 and json.loads(future.stdout)["hits"] == []


def test_list_filters(repo: Repo) -> None:
    good = _run(repo, "good", STEPS)
    bad = _run(repo, "bad", STEPS, "2")
    runs = _json(repo, "list")["runs"]
    assert [r["execution_id"] for r in runs] == [bad, good]
    assert runs[0]["status"] == "FAILED" and runs[0]["environment"] == "local" and runs[0]["duration_seconds"] >= 0
    assert [r["execution_id"] for r in _json(repo, "list", "--benchmark", "good")["runs"]] == [good]
    assert [r["execution_id"] for r in _json(repo, "list", "--status", "failed")["runs"]] == [bad]
    assert _json(repo, "list", "--since", "2h")["runs"] and not _json(repo, "list", "--since", "2999-01-01")["runs"]
    assert len(_json(repo, "list", "--limit", "1")["runs"]) == 1
    table = repo.anubis("list")
    assert "execution id" in table.stdout and good in table.stdout and "FAILED" in table.stdout
    bad_since = repo.anubis("list", "--since", "yesterday-ish")
    assert bad_since.returncode == 2 and "is not a time" in bad_since.stderr


def test_list_shows_a_run_in_progress(repo: Repo) -> None:
    process, execution_id = _start(repo, "sleepy", SLEEPER)
    try:
        [run] = _json(repo, "list")["runs"]
        assert run["execution_id"] == execution_id and run["status"] == "RUNNING" and run["active"]
        assert run["finished_at"] is None
    finally:
        process.kill()
        process.wait(timeout=60)


ORPHAN_MAKER = """
import os, subprocess, sys, time
daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
open(os.environ["PIDS_FILE"], "w").write(f"{os.getpid()} {daemon.pid}")
print("sleeping speed=1.0", flush=True)
time.sleep(300)
"""


def test_a_killed_anubis_run_takes_its_benchmark_along_and_is_marked(repo: Repo, tmp_path: Path) -> None:
    """Issue 15 item 11: ``kill -9`` of ``anubis run`` leaves nothing running unsupervised (the
    benchmark and its daemonised grandchild die), and ``list``/``status`` record the run as ERROR
    "anubis run was killed" instead of showing it RUNNING."""
    pids_file = tmp_path / "pids"
    process, execution_id = _start(repo, "orphan", ORPHAN_MAKER, env={"PIDS_FILE": str(pids_file)})
    pids: list[int] = []
    try:
        pids = [int(p) for p in _wait_for(lambda: pids_file.exists() and pids_file.read_text(), what="pids").split()]
        process.kill()
        process.wait(timeout=60)
        for pid in pids:
            _wait_for(lambda pid=pid: not _alive(pid), timeout=30, what=f"process {pid} to die with anubis run")
        [lost] = _json(repo, "list")["runs"]
        assert lost["execution_id"] == execution_id and lost["status"] == "ERROR" and not lost["active"]
        assert "anubis run was killed" in lost["reason"]
        status = _status(repo, execution_id)
        assert status is not None and status["history"][-1]["status"] == "ERROR"  # recorded, not only shown
        assert "anubis run was killed" in status["history"][-1]["reason"]
    finally:
        process.kill()
        process.wait(timeout=60)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_purge(repo: Repo) -> None:
    execution_id = _run(repo, "good", STEPS)
    refused = repo.anubis("purge", execution_id)
    assert refused.returncode == 1 and "add --yes" in refused.stderr
    done = repo.anubis("purge", execution_id, "--yes")
    assert done.returncode == 0 and "kept files, journal, stored result" in done.stdout
    assert not (repo.data_dir / "executions" / execution_id).exists()
    assert repo.anubis("search", "speed").returncode == 1
    assert repo.anubis("status", execution_id).returncode == 2
    assert _json(repo, "list")["runs"] == []


def test_schedule_stop_prepares_the_change(repo: Repo) -> None:
    repo.benchmark("nightly", script_descriptor("nightly", "python3 x.py").replace('timeout = "5m"', 'timeout = "5m"\nscheduling = "@daily"'))
    done = repo.anubis("schedule", "stop", "nightly")
    assert done.returncode == 0, done.stderr
    assert '-scheduling = "@daily"' in done.stdout and '+scheduling = "single_run"' in done.stdout
    text = (repo.root / "benchmarks" / "nightly" / "descriptor.toml").read_text()
    assert 'scheduling = "single_run"' in text and 'it was "@daily"' in text
    again = repo.anubis("schedule", "stop", "nightly")
    assert again.returncode == 0 and "nothing to stop" in again.stdout


# -- 1 GB of output --------------------------------------------------------------------------------

GIB = 1024**3
MIB = 1024**2


def _write_large_log(path: Path) -> int:
    """A gzip log of 1 GiB of output, made fast: one 1 MiB member compressed once, written 1024 times."""
    block = b"".join(b"line %07d of a very chatty benchmark: loss=0.1234 speed=42.0\n" % i for i in range(16_000))
    block = (block * (MIB // len(block) + 1))[:MIB]
    block = block[: block.rfind(b"\n") + 1]
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    member = compressor.compress(block) + compressor.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for _ in range(GIB // MIB):
            f.write(member)
    assert gzip.decompress(member) == block
    return len(block) * (GIB // MIB)


RSS_LIMIT = 256 * MIB  # a fraction of the 1 GiB log: it is streamed, never held (measured ~30-190 MiB)


def _peak_rss_bytes(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int, bytes, int]:
    """Run ``command``; return (exit status, bytes it printed, its last 200 bytes, its peak RSS)."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    total, last = 0, b""
    while chunk := process.stdout.read(4 * MIB):
        total += len(chunk)
        last = (last + chunk)[-200:]
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, total, last, usage.ru_maxrss * 1024  # kilobytes on Linux


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in kilobytes is Linux's")
def test_one_gigabyte_log_streams_in_constant_memory(repo: Repo) -> None:
    execution_id = _run(repo, "steps", STEPS)
    path = repo.data_dir / "executions" / execution_id / "output.log.gz"
    size = _write_large_log(path)
    code, printed, last, rss = _peak_rss_bytes(repo.command("logs", execution_id), repo.env, repo.root)
    assert code == 0 and printed == size > GIB - 64 * 1024
    assert rss < RSS_LIMIT, f"peak RSS {rss / MIB:.0f} MiB for 1 GiB of log"
    code, printed, last, rss = _peak_rss_bytes(repo.command("logs", execution_id, "--tail", "3"), repo.env, repo.root)
    assert code == 0 and printed == len(last) and last.count(b"\n") == 3
    assert rss < RSS_LIMIT, f"peak RSS {rss / MIB:.0f} MiB for the tail of 1 GiB of log"


HOSTILE = r"""
import sys
sys.stdout.write("\x1b]0;pwned\x07title \x1b[2Jclear \x1b[31mred\x1b[0m\rbar 50%\rbar 100%\x07bell\tend speed=1.0\n")
"""
NEUTRAL = "title clear red\nbar 50%\nbar 100%\\x07bell\tend speed=1.0\n"
RAW = "\x1b]0;pwned\x07title \x1b[2Jclear \x1b[31mred\x1b[0m\rbar 50%\rbar 100%\x07bell\tend speed=1.0\n"


def _on_a_terminal(repo: Repo, *args: str, timeout: float = 120) -> tuple[int, str]:
    """Run anubis with stdout and stderr on a pseudo-terminal; its exit code and what it showed."""
    import pty
    import select

    master, slave = pty.openpty()
    process = subprocess.Popen(repo.command(*args), cwd=repo.root, env={**repo.env, "TERM": "xterm"},
                               stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's other side closed
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
        return process.wait(timeout=30), shown.decode("utf-8", "replace").replace("\r\n", "\n")
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_terminal_control_sequences_are_neutralised_on_a_terminal_only(repo: Repo) -> None:
    """Issue 13 §6 / issue 15 item 11: the benchmark's escape sequences never reach a terminal
    (run, logs, search); piped and stored output stays the benchmark's bytes."""
    repo.benchmark("hostile", script_descriptor("hostile", "python3 $(BAI_SCRIPTS_PATH)/src/main.py"),
                   {"main.py": HOSTILE})
    code, shown = _on_a_terminal(repo, "run", "benchmarks/hostile")
    assert code == 0, shown
    assert "\x1b]0;pwned" not in shown and "\x1b[2J" not in shown and "\x07" not in shown
    assert "bar 50%\nbar 100%\\x07bell" in shown
    execution_id = _status(repo)["execution_id"]  # type: ignore[index]
    code, shown = _on_a_terminal(repo, "logs", execution_id)
    assert code == 0 and shown == NEUTRAL
    piped = subprocess.run(repo.command("logs", execution_id), cwd=repo.root, env=repo.env, capture_output=True,
                           timeout=60, check=False)
    assert piped.returncode == 0 and piped.stdout == RAW.encode()
    code, shown = _on_a_terminal(repo, "search", "bell")
    assert code == 0 and "\x1b]0;pwned" not in shown and "\x07" not in shown and "\\x07bell" in shown


def test_ctrl_c_ends_logs_follow_quietly_with_130(repo: Repo) -> None:
    import select

    process, execution_id = _start(repo, "sleepy", SLEEPER)
    follower = subprocess.Popen(repo.command("logs", "--follow", execution_id), cwd=repo.root, env=repo.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert follower.stdout is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"sleeping" not in seen:
            assert time.monotonic() < deadline and follower.poll() is None, "logs --follow printed nothing"
            if select.select([follower.stdout], [], [], 0.5)[0]:
                seen += os.read(follower.stdout.fileno(), 4096)
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=60)
        assert follower.returncode == 130, err
        assert b"Aborted" not in err and b"Traceback" not in err
    finally:
        for p in (follower, process):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=60)
