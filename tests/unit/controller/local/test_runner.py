"""The local runner with real processes: statuses, output, metrics, data, timeouts, cancelling."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from unit.controller.local.building import Recorder, make_spec, py

from controller.local.processes import process_alive, wait_gone
from controller.local.registry import CANCEL_REASON, Registry
from controller.local.runner import LocalRunner, new_execution_id
from schemas.errors import BackendError
from schemas.runspec import Checksum, DataSource, MetricSpec, ScriptSpec
from schemas.status import RunStatus

MakeRunner = Callable[..., LocalRunner]

# A benchmark that starts a grandchild, writes its pid, then waits (ignoring SIGTERM if told to).
SPAWNER = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    if len(sys.argv) > 2 and sys.argv[2] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(sys.argv[1], "w") as f:
        f.write(str(child.pid))
    print("started", flush=True)
    time.sleep(300)
    """
)


def _grandchild(pid_file: Path) -> int:
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the benchmark never started its child"
        time.sleep(0.05)
    return int(pid_file.read_text())


def test_success_statuses_output_metrics_and_log(make_runner: MakeRunner, recorder: Recorder) -> None:
    code = "import sys\nfor i in range(3): print(f'step {i} speed={i + 1}.5', flush=True)\nprint('oops', file=sys.stderr)"
    record = make_runner().run(make_spec(py(code)))
    assert record.status is RunStatus.SUCCEEDED and record.reason == ""
    assert recorder.sequence == [RunStatus.PENDING, RunStatus.INITIALIZING, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert "step 2 speed=3.5" in recorder.text and "oops" in recorder.text
    assert record.metrics["speed"].values == (1.5, 2.5, 3.5)
    assert record.reproducibility.host_environment is True
    assert recorder.notices == [
        "no container engine here: running on this machine's own Python/environment instead of image python:3.11-slim"
    ]
    assert record.reproducibility.cpu_count == os.cpu_count()
    assert record.reproducibility.python_version
    log_file = make_runner().config.data_dir / "executions" / record.execution_id / "output.log.gz"
    assert b"step 0 speed=1.5" in gzip.decompress(log_file.read_bytes())
    assert not Registry(make_runner().config.data_dir).active()


def test_nonzero_exit_is_failed(make_runner: MakeRunner) -> None:
    record = make_runner().run(make_spec(py("import sys; sys.exit(3)")))
    assert record.status is RunStatus.FAILED
    assert record.reason == "benchmark exited with code 3"


def test_a_missing_file_on_the_host_says_the_image_may_hold_it(make_runner: MakeRunner) -> None:
    """Without a container engine the command runs here; a file the image would have is missing."""
    record = make_runner().run(make_spec([sys.executable, "hello-world.py"]))
    assert record.status is RunStatus.FAILED
    assert record.reason == ("benchmark exited with code 2 (it ran on this machine, not in image python:3.11-slim: "
                             "if it needs a file, a command or a library the image holds, install Docker or Podman "
                             "to run it there)")


def test_killed_by_a_signal_not_ours(make_runner: MakeRunner) -> None:
    record = make_runner().run(make_spec(py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")))
    assert record.status is RunStatus.FAILED
    assert record.reason.startswith("killed by SIGKILL")
    assert "out-of-memory" in record.reason or "out of memory" in record.reason


def test_missing_program_is_an_error(make_runner: MakeRunner) -> None:
    record = make_runner().run(make_spec(["no-such-program-anubis"]))
    assert record.status is RunStatus.ERROR
    assert "command 'no-such-program-anubis' not found" in record.reason


def test_timeout_kills_the_whole_group(make_runner: MakeRunner, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    spec = make_spec(py(SPAWNER) + [str(pid_file), "stubborn"], timeout_seconds=2)
    record = make_runner(grace_seconds=0.5).run(spec)
    assert record.status is RunStatus.TIMED_OUT
    assert record.reason == "the run passed its time limit of 2s and was stopped"  # the same words as on a cluster
    assert wait_gone(_grandchild(pid_file), 5), "the grandchild survived the timeout"


def test_cancel_through_the_registry(make_runner: MakeRunner, recorder: Recorder, tmp_path: Path) -> None:
    """What `anubis cancel` does, minus the SIGTERM to another process: the runner's cancellation."""
    pid_file = tmp_path / "child.pid"
    runner = make_runner()
    registry = runner.registry

    def cancel_when_running(status: RunStatus) -> None:
        if status is RunStatus.RUNNING:
            def later() -> None:
                _grandchild(pid_file)
                [active] = registry.resolve("r0123")
                assert active.pgid is not None and active.pid == os.getpid()
                runner.cancellation.cancel(CANCEL_REASON, stop_all=False, run_id=active.run_id)
            threading.Thread(target=later, daemon=True).start()

    recorder.on_status = cancel_when_running
    record = runner.run(make_spec(py(SPAWNER) + [str(pid_file)]))
    assert record.status is RunStatus.CANCELED
    assert record.reason == CANCEL_REASON
    assert wait_gone(_grandchild(pid_file), 5)
    assert runner.cancellation.should_skip("r0123456789a")
    assert not runner.cancellation.should_skip("other")


def test_children_left_behind_are_killed(make_runner: MakeRunner, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], "
        f"stdout=subprocess.DEVNULL); open({str(pid_file)!r}, 'w').write(str(child.pid))"
    )
    record = make_runner().run(make_spec(py(code)))
    assert record.status is RunStatus.SUCCEEDED
    assert wait_gone(int(pid_file.read_text()), 5)


def test_expansion_env_and_script_mode(make_runner: MakeRunner, tmp_path: Path) -> None:
    scripts = tmp_path / "repo" / "benchmarks" / "unit" / "src"
    scripts.mkdir(parents=True)
    (scripts / "show.py").write_text(
        "import os, sys\nprint('argv', sys.argv[1:])\n"
        "print('cwd', os.getcwd())\n"
        "print('greeting', os.environ['GREETING'])\n"
        "print('mode', os.environ['BENCHMARK_AI'], os.path.isfile(os.environ['BENCHMARK_AI_FIFO_FILEPATH']))\n"
    )
    spec = make_spec(
        [sys.executable, "$(BAI_SCRIPTS_PATH)/show.py", "$(NAME)", "$$(NAME)", "$(UNKNOWN)", "$"],
        env={"NAME": "world", "GREETING": "hello $(NAME)"},
        script=ScriptSpec(source_dir="benchmarks/unit/src", digest="sha256:00", files=()),
    )
    recorder = Recorder()
    runner = make_runner()
    runner.observer = recorder
    record = runner.run(spec)
    assert record.status is RunStatus.SUCCEEDED, record.reason
    assert "argv ['world', '$(NAME)', '$(UNKNOWN)', '$']" in recorder.text
    assert f"cwd {scripts.resolve()}" in recorder.text
    assert "greeting hello world" in recorder.text
    assert "mode fifo True" in recorder.text


def test_emit_through_the_runner(make_runner: MakeRunner) -> None:
    code = "from client_lib import emit\nfor v in (1, 2, 3): emit({'accuracy': v / 4, 'speed': v})"
    spec = make_spec(
        py(code),
        metrics=(
            MetricSpec(name="accuracy", units="ratio", pattern=None, direction="higher"),
            MetricSpec(name="speed", units="it/s", pattern=None, direction="higher"),
        ),
    )
    record = make_runner().run(spec)
    assert record.status is RunStatus.SUCCEEDED, record.reason
    assert record.metrics["accuracy"].values == (0.25, 0.5, 0.75)
    assert record.metrics["speed"].values == (1.0, 2.0, 3.0)


def test_data_is_linked_under_the_data_root(make_runner: MakeRunner, tmp_path: Path, recorder: Recorder) -> None:
    payload = b"hello data\n"
    original = tmp_path / "train.csv"
    original.write_bytes(payload)
    digest = hashlib.md5(payload).hexdigest()
    code = (
        "import os; root = os.environ['ANUBIS_DATA_ROOT']; "
        "print(open(root + '/data/train.csv').read().strip(), open(os.environ['ANUBIS_DATA_TRAIN_SET']).read().strip())"
    )
    spec = make_spec(
        py(code),
        data=(DataSource(src=original.as_uri(), path="/data/train.csv", checksum=Checksum("md5", digest), id="train-set"),),
    )
    record = make_runner().run(spec)
    assert record.status is RunStatus.SUCCEEDED, record.reason
    assert recorder.sequence[:3] == [RunStatus.PENDING, RunStatus.FETCHING_DATA, RunStatus.INITIALIZING]
    assert "hello data hello data" in recorder.text
    assert record.reproducibility.dataset_checksums == {"/data/train.csv": f"md5:{digest}"}


def test_fetch_failure_is_an_error(make_runner: MakeRunner, tmp_path: Path) -> None:
    original = tmp_path / "train.csv"
    original.write_bytes(b"x")
    spec = make_spec(py("print(1)"), data=(DataSource(src=str(original), path="/d", checksum=Checksum("md5", "0" * 32)),))
    record = make_runner().run(spec)
    assert record.status is RunStatus.ERROR
    assert record.reason.startswith(f"data fetch failed: checksum mismatch for {original}: expected md5:")


def test_log_cap(make_runner: MakeRunner) -> None:
    record = make_runner(log_cap_bytes=1000).run(make_spec(py("print('x' * 5000)")))
    kept = gzip.decompress(
        (make_runner().config.data_dir / "executions" / record.execution_id / "output.log.gz").read_bytes()
    )
    assert kept.startswith(b"x" * 1000)
    assert b"the log was cut at 1000 bytes; 4001 more bytes" in kept


def test_horovod_without_mpi(make_runner: MakeRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BackendError, match=r"horovod runs need an MPI launcher \(mpirun\) on this machine"):
        make_runner().preflight(make_spec(["train"], strategy="horovod"))


def test_no_command_without_engine(make_runner: MakeRunner) -> None:
    with pytest.raises(BackendError, match="needs a container engine"):
        make_runner().preflight(make_spec([]))


def test_execution_ids() -> None:
    first = new_execution_id("abc", now=0)
    assert first.startswith("abc-19700101T000000-") and len(first) == len("abc-19700101T000000-") + 4
    assert len({new_execution_id("abc", now=0) for _ in range(20)}) > 1  # a random suffix


def test_records_are_stored_and_written(make_runner: MakeRunner) -> None:
    runner = make_runner()
    record = runner.run(make_spec(py("print('speed=2')")))
    written = json.loads((runner.config.data_dir / "executions" / record.execution_id / "result.json").read_text())
    assert written["execution_id"] == record.execution_id and written["status"] == "SUCCEEDED"


def test_process_alive_helpers() -> None:
    assert process_alive(os.getpid())
    assert not process_alive(2**22 + 12345)


def test_horovod_uses_the_mpi_launcher(make_runner: MakeRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `mpirun` on the PATH that prints its arguments and runs the command once."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "mpirun"
    launcher.write_text('#!/bin/sh\necho "launcher $1 $2"\nshift 2\nexec "$@"\n')
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    runner = make_runner(host_environ=dict(os.environ))
    recorder = Recorder()
    runner.observer = recorder
    spec = make_spec(py("print('speed=4')"), strategy="horovod", num_instances=2, processes_per_instance=3)
    runner.preflight(spec)
    record = runner.run(spec)
    assert record.status is RunStatus.SUCCEEDED, record.reason
    assert "launcher -np 6" in recorder.text
    assert record.metrics["speed"].values == (4.0,)
