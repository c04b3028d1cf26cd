"""Real Prometheus, Pushgateway and Alertmanager (Debian packages) started on 127.0.0.1 for tests.

Each server runs in a temporary folder on a free port and is stopped when the context ends. Tests
that need them use the fixtures in tests/conftest.py (``prometheus_server``, ``pushgateway``,
``alertmanager``), which skip with a clear reason where the binaries are not installed (.ci/run
installs them).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    folder: Path

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.load(response)

    def post(self, path: str, data: bytes = b"", content_type: str = "application/x-www-form-urlencoded") -> Any:
        request = urllib.request.Request(self.url + path, data=data, method="POST", headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _wait_ready(server: Server, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} was not ready within {timeout} s:\n{server.log()}")


@contextlib.contextmanager
def _run(name: str, argv: list[str], folder: Path, url: str, ready: str) -> Iterator[Server]:
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    server = Server(name, url, process, folder)
    try:
        _wait_ready(server, ready)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def binaries_missing(*names: str) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


@contextlib.contextmanager
def prometheus(config: dict[str, Any] | None = None, rule_files: dict[str, str] | None = None) -> Iterator[Server]:
    """Prometheus with ``config`` (prometheus.yml as a dict); ``rule_files`` name → YAML text are
    written beside it and listed under ``rule_files``."""
    with tempfile.TemporaryDirectory(prefix="anubis-prometheus-") as tmp:
        folder = Path(tmp)
        config = dict(config or {})
        config.setdefault("global", {"scrape_interval": "1s", "evaluation_interval": "1s"})
        if rule_files:
            for file_name, text in rule_files.items():
                (folder / file_name).write_text(text)
            config["rule_files"] = [str(folder / n) for n in rule_files]
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        argv = [
            "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ]
        with _run("prometheus", argv, folder, f"http://127.0.0.1:{port}", "/-/ready") as server:
            yield server


@contextlib.contextmanager
def pushgateway() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="anubis-pushgateway-") as tmp:
        port = free_port()
        # The Debian build persists to /var/lib/prometheus/pushgateway.data by default: one file
        # shared by every test's gateway. Each gets its own.
        argv = [
            "prometheus-pushgateway",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={Path(tmp) / 'pushgateway.data'}",
        ]
        with _run("pushgateway", argv, Path(tmp), f"http://127.0.0.1:{port}", "/-/ready") as server:
            yield server


@contextlib.contextmanager
def alertmanager(config: dict[str, Any] | None = None) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="anubis-alertmanager-") as tmp:
        folder = Path(tmp)
        config = config or {"route": {"receiver": "null", "group_wait": "0s", "group_interval": "1s"},
                            "receivers": [{"name": "null"}]}
        (folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        argv = [
            "prometheus-alertmanager",
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ]
        with _run("alertmanager", argv, folder, f"http://127.0.0.1:{port}", "/-/ready") as server:
            yield server
