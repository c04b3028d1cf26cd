"""The rendered alert rules in a real Prometheus, fed by a real Pushgateway, firing into a real
Alertmanager: a regressed verdict pushed the way the controller pushes it is seen as an alert
through Alertmanager's API."""

from __future__ import annotations

import time
from typing import Any

import pytest
from services import observability
from unit.renderer.test_alerts import spec

from renderer.alerts import RULES_FILE, render_alert_rules

WAIT_S = 40.0

RUN_LABELS = {
    "benchmark": "speedy",
    "environment": "local",
    "run_id": "speedy-0001",
    "execution_id": "speedy-0001-abcdef12",
    "family_id": "speedy-fam",
    "action_id": "speedy-0001-abcdef12",
    "task_name": "speedy",
}


def _line(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {value}\n"


def _series(name: str, labels: dict[str, str], value: float) -> str:
    """One gauge in the text format, typed as the controller's exporter types it."""
    return f"# TYPE {name} gauge\n" + _line(name, labels, value)


def _alerts(alertmanager: observability.Server) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = alertmanager.get_json("/api/v2/alerts?active=true")
    return found


def test_a_pushed_regression_fires_through_alertmanager(
    pushgateway: observability.Server, alertmanager: observability.Server
) -> None:
    if observability.binaries_missing("prometheus"):
        pytest.skip("prometheus not installed (.ci/run installs the Debian package)")
    rules = render_alert_rules([spec(schedule=None)], regression_for="1s")
    push_labels = {k: v for k, v in RUN_LABELS.items() if k not in ("benchmark", "environment", "run_id")}
    body = (
        _series("anubis_verdict", {**push_labels, "metric": "throughput", "verdict": "regression"}, 1)
        + _line("anubis_verdict", {**push_labels, "metric": "loss", "verdict": "no_change"}, 1)
        + _series("anubis_metric_change_ratio", {**push_labels, "metric": "throughput"}, -0.2)
        + _series("anubis_run_status", {**push_labels, "status": "SUCCEEDED"}, 1)
    )
    # The controller's grouping key: job="anubis", benchmark, environment, run_id.
    pushgateway.post("/metrics/job/anubis/benchmark/speedy/environment/local/run_id/speedy-0001", body.encode(), "text/plain")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [pushgateway.url.removeprefix("http://")]}],
            }
        ],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager.url.removeprefix("http://")]}]}]},
    }
    with observability.prometheus(config, rule_files={RULES_FILE: rules[RULES_FILE]}) as prom:
        deadline = time.monotonic() + WAIT_S
        firing: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not firing:
            firing = [a for a in _alerts(alertmanager) if a["labels"].get("alertname") == "AnubisRegression"]
            if not firing:
                time.sleep(0.5)
        assert firing, f"no AnubisRegression alert in Alertmanager within {WAIT_S} s:\n{prom.log()[-3000:]}"
        [alert] = firing
        assert alert["labels"]["benchmark"] == "speedy" and alert["labels"]["metric"] == "throughput"
        assert alert["labels"]["execution_id"] == "speedy-0001-abcdef12"
        assert alert["labels"]["severity"] == "critical"  # throughput's policy fails on regression
        assert alert["status"]["state"] == "active"
        assert "anubis baseline reset speedy" in alert["annotations"]["description"]
        # Only the regression fired: the succeeded run and the unchanged metric raised nothing.
        names = {a["labels"]["alertname"] for a in _alerts(alertmanager)}
        assert names == {"AnubisRegression"}
