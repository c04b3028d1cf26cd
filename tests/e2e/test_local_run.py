"""`anubis run`, `anubis cancel` and Ctrl-C end to end: real descriptors, real processes, one store."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.conftest import Repo, script_descriptor

from controller.local.processes import wait_gone
from controller.sqlite_store import SqliteResultStore
from schemas.status import RunStatus

SPEED = """
import sys
for i in range(3):
    print(f"step {i} speed={i + 1}.0", flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""

SPAWNER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
with open(os.environ["PID_FILE"], "w") as f:
    f.write(str(child.pid))
print("speed=1.0", flush=True)
time.sleep(300)
"""


def _store(repo: Repo) -> SqliteResultStore:
    return SqliteResultStore(repo.data_dir / "results.sqlite3")


def _wait_for(predicate: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_run_succeeds_stores_and_shows_metrics(repo: Repo) -> None:
    repo.benchmark("speedy", script_descriptor("speedy", "python3 $(BAI_SCRIPTS_PATH)/src/speed.py"), {"speed.py": SPEED})
    done = repo.anubis("run", "benchmarks/speedy")
    assert done.returncode == 0, done.stderr
    assert "step 2 speed=3.0" in done.stdout  # the benchmark's output, streamed
    assert "SUCCEEDED" in done.stdout and "speed" in done.stdout  # the results table
    assert "no container engine here" in done.stderr
    with _store(repo) as store:
        record = store.latest("speedy")
    assert record is not None and record.status is RunStatus.SUCCEEDED
    assert record.metrics["speed"].values == (1.0, 2.0, 3.0)
    assert record.reproducibility.host_environment and record.reproducibility.descriptor_hash


def test_failure_exit_code_and_json_output(repo: Repo) -> None:
    repo.benchmark(
        "failing",
        script_descriptor("failing", "python3 $(BAI_SCRIPTS_PATH)/src/speed.py 4"),
        {"speed.py": SPEED},
    )
    done = repo.anubis("run", "benchmarks/failing", "--output", "json")
    assert done.returncode == 1
    document = json.loads(done.stdout)  # stdout is the JSON document alone
    [execution] = document["executions"]
    assert execution["status"] == "FAILED" and execution["reason"] == "benchmark exited with code 4"
    assert "step 0 speed=1.0" in done.stderr  # the benchmark's output went to stderr


def test_matrix_and_repeat(repo: Repo) -> None:
    extra = """
    [matrix.axes]
    "env.vars.SIZE" = ["1", "2"]
    """
    descriptor = script_descriptor("grid", "python3 $(BAI_SCRIPTS_PATH)/src/size.py", extra=extra)
    repo.benchmark("grid", descriptor, {"size.py": "import os\nprint(f\"speed={os.environ['SIZE']}\")\n"})
    done = repo.anubis("run", "benchmarks/grid", "--repeat", "2", "--output", "json")
    assert done.returncode == 0, done.stderr
    assert "point 2/2" in done.stderr and "repeat 2/2" in done.stderr
    executions = json.loads(done.stdout)["executions"]
    assert len(executions) == 4
    assert sorted(e["metrics"]["speed"]["values"][0] for e in executions) == [1.0, 1.0, 2.0, 2.0]
    assert len({e["run_id"] for e in executions}) == 2 and len({e["execution_id"] for e in executions}) == 4


def test_emit_from_the_benchmark(repo: Repo) -> None:
    code = "from client_lib import emit\nfor i in range(4):\n    emit({'accuracy': i / 4})\n"
    descriptor = script_descriptor(
        "emitter", "python3 $(BAI_SCRIPTS_PATH)/src/emit.py", metrics=[("accuracy", "ratio", None)]
    )
    repo.benchmark("emitter", descriptor, {"emit.py": code})
    done = repo.anubis("run", "benchmarks/emitter", "-o", "json")
    assert done.returncode == 0, done.stderr
    [execution] = json.loads(done.stdout)["executions"]
    assert execution["metrics"]["accuracy"]["values"] == [0.0, 0.25, 0.5, 0.75]


def test_timeout_override(repo: Repo, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    extra = f'[env.vars]\nPID_FILE = "{pid_file}"\n'
    descriptor = script_descriptor("slow", "python3 $(BAI_SCRIPTS_PATH)/src/spawn.py", extra=extra)
    repo.benchmark("slow", descriptor, {"spawn.py": SPAWNER})
    done = repo.anubis("run", "benchmarks/slow", "--set", 'info.timeout="2s"', "-o", "json")
    assert done.returncode == 1, done.stderr
    [execution] = json.loads(done.stdout)["executions"]
    assert execution["status"] == "TIMED_OUT"
    assert execution["reason"] == "the run passed its time limit of 2s and was stopped"
    assert wait_gone(int(pid_file.read_text()), 5)


@pytest.mark.parametrize("how", ["anubis cancel", "Ctrl-C"])
def test_cancel_and_ctrl_c(repo: Repo, tmp_path: Path, how: str) -> None:
    pid_file = tmp_path / "child.pid"
    extra = f'[env.vars]\nPID_FILE = "{pid_file}"\n'
    repo.benchmark("long", script_descriptor("long", "python3 $(BAI_SCRIPTS_PATH)/src/spawn.py", extra=extra), {"spawn.py": SPAWNER})
    process = repo.start("run", "benchmarks/long", "--repeat", "3", "-o", "json")
    try:
        _wait_for(lambda: pid_file.exists() and pid_file.read_text(), what="the benchmark to start")
        grandchild = int(pid_file.read_text())
        if how == "anubis cancel":
            [entry] = list((repo.data_dir / "active").glob("*.json"))
            run_id = json.loads(entry.read_text())["run_id"]
            canceled = repo.anubis("cancel", run_id[:-2])  # a prefix of the run id
            assert canceled.returncode == 0, canceled.stderr
            assert canceled.stdout.startswith(f"canceled {run_id}-")
        else:
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == (1 if how == "anubis cancel" else 130), stderr
    [execution] = json.loads(stdout)["executions"]  # the remaining repeats were skipped
    assert execution["status"] == "CANCELED"
    assert execution["reason"] == ("canceled by anubis cancel" if how == "anubis cancel" else "canceled by Ctrl-C")
    assert wait_gone(grandchild, 5), "a process of the benchmark survived"
    assert not list((repo.data_dir / "active").glob("*.json"))


def test_cancel_unknown_run(repo: Repo) -> None:
    done = repo.anubis("cancel", "nothing-like-this")
    assert done.returncode == 2
    assert "no active local run matches 'nothing-like-this'" in done.stderr


def test_two_runs_into_one_store(repo: Repo) -> None:
    for name in ("one", "two"):
        repo.benchmark(name, script_descriptor(name, "python3 $(BAI_SCRIPTS_PATH)/src/speed.py"), {"speed.py": SPEED})
    processes = [repo.start("run", f"benchmarks/{name}", "--repeat", "3", "-o", "json") for name in ("one", "two")]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outputs]
    with _store(repo) as store:
        stored = store.list_runs(limit=50)
    assert len(stored) == 6 and {r.benchmark for r in stored} == {"one", "two"}


# ---- data over HTTP and inference -----------------------------------------------------------------


class _Data(http.server.BaseHTTPRequestHandler):
    body = b"label,value\na,1\nb,2\n"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def data_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Data)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/table.csv"
    server.shutdown()
    server.server_close()


def test_data_sources(repo: Repo, data_url: str) -> None:
    md5 = hashlib.md5(_Data.body).hexdigest()
    extra = f"""
    [[data.sources]]
    src = "{data_url}"
    path = "/data/table.csv"
    md5 = "{md5}"
    id = "table"
    """
    code = """
    import os
    root = os.environ.get("ANUBIS_DATA_ROOT", "")
    rows = open(root + "/data/table.csv").read().splitlines()
    assert open(os.environ["ANUBIS_DATA_TABLE"]).read().splitlines() == rows
    print(f"speed={len(rows)}")
    """
    repo.benchmark("data", script_descriptor("data", "python3 $(BAI_SCRIPTS_PATH)/src/read.py", extra=extra), {"read.py": code})
    done = repo.anubis("run", "benchmarks/data", "-o", "json")
    assert done.returncode == 0, done.stderr
    [execution] = json.loads(done.stdout)["executions"]
    assert execution["metrics"]["speed"]["values"] == [3.0]
    assert execution["reproducibility"]["dataset_checksums"] == {"/data/table.csv": f"md5:{md5}"}
    assert "FETCHING_DATA" in done.stderr


def test_inference(repo: Repo) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = """
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        served = 0
        def do_GET(self):
            H.served += 1
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
            print(f"served={H.served}", flush=True)
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
    client = """
    import os, time, urllib.request
    url = f"http://{os.environ['INFERENCE_SERVER_HOST']}:{os.environ['INFERENCE_SERVER_PORT']}/predict"
    for _ in range(5):
        t = time.perf_counter(); urllib.request.urlopen(url).read()
        print(f"latency={(time.perf_counter() - t) * 1000:.3f}", flush=True)
    """
    extra = f"""
    [server]
    [server.hardware]
    instance_type = "t3.small"
    [server.env]
    docker_image = "python:3.11-slim"
    start_command = "python3 $(BAI_SCRIPTS_PATH)/src/server.py"
    start_command_args = "{port}"
    ports = [{port}]
    [server.env.readiness_probe]
    path = "/ping"
    port = {port}
    initial_delay_seconds = 0
    period_seconds = 1
    [server.output]
    [[server.output.metrics]]
    name = "served"
    units = "requests"
    pattern = 'served=(\\d+)'
    """
    descriptor = script_descriptor(
        "infer", "python3 $(BAI_SCRIPTS_PATH)/src/client.py", metrics=[("latency", "ms", r"latency=([0-9.]+)")], extra=extra
    ).replace('strategy = "single_node"', 'strategy = "inference"')
    repo.benchmark("infer", descriptor, {"server.py": server, "client.py": client})
    done = repo.anubis("run", "benchmarks/infer", "-o", "json")
    assert done.returncode == 0, done.stderr
    [execution] = json.loads(done.stdout)["executions"]
    assert len(execution["metrics"]["latency"]["values"]) == 5
    assert execution["metrics"]["served"]["max"] >= 5  # the probe's GETs count too
    assert os.path.exists(repo.data_dir / "executions" / execution["execution_id"] / "server.log.gz")
