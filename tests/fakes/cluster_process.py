"""A :class:`FakeKubernetes` and a :class:`ClusterSimulator` in a process of their own.

A controller under measurement (``bench/controller_load.py``) must not share its interpreter, and so
its GIL and its heap, with the fake it talks to: the fake's work (deep copies of every object it
stores and sends, label scans, JSON encoding of every watch event) would be counted as the
controller's, and its objects as the controller's memory. Here the fake serves HTTP from a child
process (``python -m fakes.cluster_process``), exactly as in the tests (the same class, just as
strict), and the simulator is driven over the child's stdin/stdout, one JSON document per line:

``{"op": "node", ...}``, ``{"op": "submit", "objects": [...], "scenario": "succeed", "logs": {...}}``,
``{"op": "run"}`` (step every run until no run has a step left), ``{"op": "stats"}``, ``{"op": "stop"}``.

Scenarios are named (a scenario is a list of functions: it cannot cross a pipe): the builders of
:mod:`fakes.cluster_simulator` that take no argument. ``run`` answers each run's name, uid and the
time (``time.monotonic``: one clock for every process of the machine, ``CLOCK_MONOTONIC``) its last
step was applied: for :func:`~fakes.cluster_simulator.succeed`, the Job's ``Complete``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from fakes import cluster_simulator as scenarios
from fakes.cluster_simulator import ClusterSimulator
from fakes.kubernetes_api import FakeKubernetes, api_client_for

SCENARIOS = {"succeed": scenarios.succeed, "hang": scenarios.hang}
TESTS = Path(__file__).resolve().parents[1]


class ClusterProcessError(RuntimeError):
    """The child process answered with an error, or died."""


class ClusterProcess:
    """The parent's handle on the child: start it, send it operations, stop it."""

    def __init__(self, *, watch_chunk_wait: float = 0.05, bookmark_interval: float = 1.0) -> None:
        self._options = {"watch_chunk_wait": watch_chunk_wait, "bookmark_interval": bookmark_interval}
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.pid = 0

    def start(self) -> ClusterProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(TESTS), env.get("PYTHONPATH"))))
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "fakes.cluster_process", json.dumps(self._options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.pid = self._proc.pid
        self.url = str(self._read()["url"])
        return self

    def api_client(self) -> Any:
        return api_client_for(self.url)

    def call(self, op: str, **args: Any) -> Any:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise ClusterProcessError("the cluster process is not running")
        proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        proc.stdin.flush()
        return self._read()["result"]

    def _read(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise ClusterProcessError(f"the cluster process ended (exit status {self._proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise ClusterProcessError(str(answer["error"]))
        return answer

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.write(json.dumps({"op": "stop"}) + "\n")
                proc.stdin.close()
            proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def __enter__(self) -> ClusterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(options: dict[str, Any], commands: IO[str], answers: IO[str]) -> None:
    """The child's loop: one operation per line of ``commands``, one answer per line of ``answers``."""
    api = FakeKubernetes(watch_chunk_wait=float(options.get("watch_chunk_wait", 0.05)),
                         bookmark_interval=float(options.get("bookmark_interval", 1.0))).start()
    sim = ClusterSimulator(api)

    def answer(message: dict[str, Any]) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    answer({"url": api.url})
    try:
        for line in commands:
            request = json.loads(line)
            op = request.pop("op")
            if op == "stop":
                break
            try:
                answer({"result": _operate(api, sim, op, request)})
            except (KeyError, ValueError, TypeError) as e:
                answer({"error": f"{op}: {type(e).__name__}: {e}"})
    finally:
        api.stop()


def _operate(api: FakeKubernetes, sim: ClusterSimulator, op: str, request: dict[str, Any]) -> Any:
    if op == "node":
        sim.add_node(request["name"], request["instance_type"], request.get("gpu_product"))
        return None
    if op == "submit":
        build = SCENARIOS[request["scenario"]]
        for obj in request["objects"]:
            sim.submit(obj, build(), logs=request.get("logs"))
        return len(request["objects"])
    if op == "run":
        while sim.step():
            pass
        return [[r.name, r.uid, r.finished_at] for r in sim.runs.values() if r.finished_at is not None]
    if op == "forget":  # runs already answered for: not stepped nor answered again
        sim.runs.clear()
        return None
    if op == "stats":
        return {"requests": api.stats.requests, "lists": api.stats.lists, "watches": api.stats.watches,
                "patches": len(api.stats.patches), "unexpected": list(api.unexpected)}
    raise ValueError(f"unknown operation {op!r}")


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}, sys.stdin, sys.stdout)
