"""Fixtures shared by every test folder: real observability servers (see tests/services/) and moto's
AWS server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from services import observability  # the tests folder is on sys.path (pyproject: pytest's pythonpath)


def _need(*names: str) -> None:
    missing = observability.binaries_missing(*names)
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs the Debian packages)")


@pytest.fixture
def prometheus_server() -> Iterator[observability.Server]:
    _need("prometheus")
    with observability.prometheus() as server:
        yield server


@pytest.fixture
def pushgateway() -> Iterator[observability.Server]:
    _need("prometheus-pushgateway")
    with observability.pushgateway() as server:
        yield server


@pytest.fixture
def alertmanager() -> Iterator[observability.Server]:
    _need("prometheus-alertmanager")
    with observability.alertmanager() as server:
        yield server


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's AWS server (S3, CloudWatch) over HTTP on a free port, one per test module."""
    from moto.server import ThreadedMotoServer

    port = observability.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
