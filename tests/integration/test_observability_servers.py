"""The real servers the integration tests rely on start, answer and scrape each other."""

from __future__ import annotations

import time
import urllib.parse

from services import observability


def test_prometheus_scrapes_a_pushgateway(pushgateway: observability.Server) -> None:
    if observability.binaries_missing("prometheus"):
        import pytest

        pytest.skip("prometheus not installed")
    pushgateway.post("/metrics/job/probe", b"anubis_probe_value 42\n", "text/plain")
    target = pushgateway.url.removeprefix("http://")
    config = {"scrape_configs": [{"job_name": "pushgateway", "honor_labels": True, "static_configs": [{"targets": [target]}]}]}
    with observability.prometheus(config) as prom:
        deadline = time.monotonic() + 20
        result: list[object] = []
        while time.monotonic() < deadline and not result:
            answer = prom.get_json("/api/v1/query?" + urllib.parse.urlencode({"query": "anubis_probe_value"}))
            result = answer["data"]["result"]
            time.sleep(0.5)
        assert result and result[0]["value"][1] == "42"  # type: ignore[index]


def test_alertmanager_answers(alertmanager: observability.Server) -> None:
    assert alertmanager.get_json("/api/v2/status")["cluster"]["status"] in ("disabled", "ready")
