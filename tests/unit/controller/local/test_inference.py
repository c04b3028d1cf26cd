"""Inference runs: a real HTTP server, its readiness probe, and a client on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import socket
import sys
from collections.abc import Callable

import pytest
from unit.controller.local.building import Recorder, make_spec, py

from controller.local.inference import client_variables
from controller.local.runner import LocalRunner
from schemas.runspec import MetricSpec, Probe, ServerSpec
from schemas.status import RunStatus

MakeRunner = Callable[..., LocalRunner]

CLIENT = (
    "import os, urllib.request\n"
    "host, port = os.environ['INFERENCE_SERVER_HOST'], os.environ['INFERENCE_SERVER_PORT']\n"
    "assert 'INFERENCE_SERVER_PORT_0' not in os.environ\n"
    "for _ in range(3):\n"
    "    body = urllib.request.urlopen(f'http://{host}:{port}/', timeout=5).read()\n"
    "    print(f'latency=1.5 bytes={len(body)}', flush=True)\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_spec(command: list[str], port: int, probe: Probe | None) -> ServerSpec:
    return ServerSpec(
        image="python:3.11-slim",
        command=tuple(command),
        ports=(port,),
        env={"PORT": str(port)},
        privileged=False,
        extended_shm=False,
        instance_type="local",
        readiness_probe=probe,
        metrics=(MetricSpec(name="server_status", units="code", pattern=r'HTTP/1\.[01]" (\d+)', direction="higher"),),
    )


def http_server(port_var: str = "$(PORT)") -> list[str]:
    return [sys.executable, "-u", "-m", "http.server", port_var, "--bind", "127.0.0.1"]


def test_client_variables_match_the_rendered_pod() -> None:
    spec = dataclasses.replace(server_spec(["x"], 8080, None), ports=(8080, 9090, 9191))
    assert client_variables(spec) == {
        "INFERENCE_SERVER_HOST": "127.0.0.1",
        "INFERENCE_SERVER_PORT": "8080",
        "INFERENCE_SERVER_PORT_1": "9090",
        "INFERENCE_SERVER_PORT_2": "9191",
    }


def test_inference_with_probe(make_runner: MakeRunner, recorder: Recorder) -> None:
    port = free_port()
    probe = Probe(path="/", port=port, initial_delay_seconds=0, period_seconds=1, failure_threshold=30)
    spec = make_spec(
        py(CLIENT),
        strategy="inference",
        metrics=(MetricSpec(name="latency", units="ms", pattern=r"latency=([0-9.]+)", direction="lower"),),
        server=server_spec(http_server(), port, probe),
    )
    record = make_runner().run(spec)
    assert record.status is RunStatus.SUCCEEDED, record.reason
    assert record.metrics["latency"].values == (1.5, 1.5, 1.5)
    # The probe's GETs and the client's three: all answered 200, read from the server's own log.
    values = record.metrics["server_status"].values
    assert len(values) >= 4 and set(values) == {200.0}
    # The server is stopped at the end: nothing listens on its port any more.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_inference_without_probe_waits_for_the_port(make_runner: MakeRunner) -> None:
    port = free_port()
    spec = make_spec(py(CLIENT), strategy="inference", server=server_spec(http_server(), port, None))
    record = make_runner().run(spec)
    assert record.status is RunStatus.SUCCEEDED, record.reason


def test_server_exiting_early_fails_the_run(make_runner: MakeRunner) -> None:
    port = free_port()
    probe = Probe(path="/", port=port, initial_delay_seconds=0, period_seconds=1, failure_threshold=30)
    spec = make_spec(
        py("print('client ran')"),
        strategy="inference",
        server=server_spec(py("import sys; print('bad model'); sys.exit(7)"), port, probe),
    )
    record = make_runner().run(spec)
    assert record.status is RunStatus.FAILED
    assert record.reason == "the inference server exited with code 7 before it became ready"


def test_probe_failure_threshold(make_runner: MakeRunner) -> None:
    port = free_port()
    probe = Probe(path="/health", port=port, initial_delay_seconds=0, period_seconds=1, failure_threshold=2)
    spec = make_spec(
        py("print('client ran')"),
        strategy="inference",
        server=server_spec(py("import time; time.sleep(60)"), port, probe),
    )
    record = make_runner(grace_seconds=1).run(spec)
    assert record.status is RunStatus.FAILED
    assert record.reason.startswith("the inference server did not become ready: the readiness probe failed 2 times")
    assert "GET /health failed" in record.reason
