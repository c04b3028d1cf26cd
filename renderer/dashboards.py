"""Grafana dashboards for ``manifests/system/grafana/``, as ConfigMaps Grafana's sidecar loads.

* one dashboard per benchmark (``dashboard-<benchmark>.yaml``): each user metric over time, one line
  per environment and run (a run id is one matrix point of one descriptor version; the legend names
  the matrix point for the runs being rendered), every finished execution as an annotation, and the
  regression verdicts and change ratios;
* one operational dashboard (``dashboard-anubis-runs.yaml``, uid ``anubis-runs``, the environments'
  ``links.grafana_url``): CPU, memory and GPU use by run, from cAdvisor and the DCGM exporter joined to
  the runs' pods through ``kube_pod_labels``, and the controller's own counters.

The series are those of docs/dev/contracts.md ("Exported Prometheus series"); kube-state-metrics must
expose the pods' ``anubis.dev/*`` labels (infra/terraform's observability module allows them), which
it names ``label_anubis_dev_run_id`` and so on.

Pure: the same runs give the same bytes (no clock, no environment, keys sorted).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

from schemas.runspec import MetricSpec, RunSpec

SCHEMA_VERSION = 39  # Grafana 11
UID_MAX = 40  # Grafana's limit on dashboard uids
OPERATIONAL_UID = "anubis-runs"
DASHBOARD_LABEL = "grafana_dashboard"
FOLDER_ANNOTATION = "grafana_folder"
FOLDER = "Anubis"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24

# Labels kube-state-metrics gives the pods' anubis.dev/* labels in kube_pod_labels.
RUN_ID_LABEL = "label_anubis_dev_run_id"
BENCHMARK_LABEL = "label_anubis_dev_benchmark"

_UNITS = {
    "s": "s", "sec": "s", "second": "s", "seconds": "s",
    "ms": "ms", "millisecond": "ms", "milliseconds": "ms",
    "us": "µs", "µs": "µs", "microseconds": "µs", "ns": "ns",
    "%": "percent", "percent": "percent",
    "b": "bytes", "byte": "bytes", "bytes": "bytes",
    "ops/s": "ops", "ops": "ops", "req/s": "reqps", "requests/s": "reqps",
}  # fmt: skip
_UID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def render_dashboards(runs: Sequence[RunSpec]) -> dict[str, str]:
    """File name (in ``manifests/system/grafana/``) → YAML text of a ConfigMap holding one dashboard."""
    by_benchmark: dict[str, list[RunSpec]] = {}
    for run in runs:
        by_benchmark.setdefault(run.benchmark, []).append(run)
    files: dict[str, str] = {}
    for benchmark in sorted(by_benchmark):
        group = sorted(by_benchmark[benchmark], key=lambda r: (r.environment, r.run_id))
        paths = sorted({r.descriptor_path for r in group})
        dashboard = benchmark_dashboard(benchmark, group)
        files[f"dashboard-{benchmark}.yaml"] = _configmap(
            f"grafana-dashboard-{benchmark}", dashboard, benchmark=benchmark, origin=", ".join(paths)
        )
    files[f"dashboard-{OPERATIONAL_UID}.yaml"] = _configmap(
        f"grafana-dashboard-{OPERATIONAL_UID}", operational_dashboard(), benchmark=None, origin=None
    )
    return files


def dashboard_uid(benchmark: str) -> str:
    """``anubis-<benchmark>``, shortened with a stable hash where it would pass Grafana's 40 characters."""
    uid = "anubis-" + _UID_UNSAFE.sub("-", benchmark)
    if len(uid) <= UID_MAX:
        return uid
    digest = hashlib.sha256(benchmark.encode()).hexdigest()[:8]
    return f"{uid[: UID_MAX - 9]}-{digest}"


# ---------------------------------------------------------------- the benchmark's dashboard


def benchmark_dashboard(benchmark: str, runs: Sequence[RunSpec]) -> dict[str, Any]:
    selector = f'benchmark="{_escape(benchmark)}", environment=~"$environment"'
    metrics = _metrics(runs)
    panels: list[dict[str, Any]] = [_row("Metrics", y=0)]
    y = 1
    for index, metric in enumerate(metrics):
        x = (index % 2) * 12
        panels.append(_metric_panel(metric, runs, selector, x=x, y=y))
        if index % 2 == 1 or index == len(metrics) - 1:
            y += 8
    panels.append(_row("Verdicts", y=y))
    panels.append(_verdict_table(selector, y=y + 1))
    panels.append(_change_ratio_panel(selector, y=y + 1))
    panels.append(_status_panel(selector, y=y + 9))
    panels.extend(_gpu_panels(runs, y=y + 17))
    for panel_id, panel in enumerate(panels, start=1):
        panel["id"] = panel_id
    description = next((r.description for r in runs if r.description), "")
    return _dashboard(
        uid=dashboard_uid(benchmark),
        title=f"Anubis · {benchmark}",
        description=description or f"Metrics, runs and verdicts of the benchmark {benchmark}.",
        tags=["anubis", "benchmark", benchmark],
        templating=[
            _datasource_variable(),
            _query_variable(
                "environment",
                "Environment",
                f'label_values(anubis_run_status{{benchmark="{_escape(benchmark)}"}}, environment)',
            ),
        ],
        annotations=[_finished_annotation(selector)],
        panels=panels,
    )


#: dcgm-exporter's series of a GPU a pod holds carry the pod's name (docs/gpu-fleet.md).
GPU_SERIES = (
    ("GPU utilisation", "DCGM_FI_DEV_GPU_UTIL", "percent"),
    ("GPU memory used", "DCGM_FI_DEV_FB_USED", "decmbytes"),
    ("GPU power", "DCGM_FI_DEV_POWER_USAGE", "watt"),
)


def _gpu_panels(runs: Sequence[RunSpec], *, y: int) -> list[dict[str, Any]]:
    """For a benchmark whose runs have GPUs: dcgm-exporter's utilisation, memory and power of the runs'
    pods (whose names start with their run id), one series per pod and GPU."""
    gpu_runs = sorted({r.run_id for r in runs if r.placement.gpus > 0})
    if not gpu_runs:
        return []
    pods = _escape("(" + "|".join(re.escape(run_id) for run_id in gpu_runs) + ")-.*")
    panels: list[dict[str, Any]] = [_row("GPUs", y=y)]
    for index, (title, series, unit) in enumerate(GPU_SERIES):
        panels.append(
            _timeseries(
                title,
                f'max by (pod, gpu) ({series}{{pod=~"{pods}"}})',
                "{{pod}} GPU {{gpu}}",
                unit=unit,
                x=(index % 2) * 12,
                y=y + 1 + (index // 2) * 8,
                description=f"dcgm-exporter's {series} of the GPUs this benchmark's pods held.",
            )
        )
    return panels


def _metrics(runs: Sequence[RunSpec]) -> list[MetricSpec]:
    """The benchmark's metrics, in descriptor order, each once (the first definition wins)."""
    seen: dict[str, MetricSpec] = {}
    for run in runs:
        for metric in run.all_metrics():
            seen.setdefault(metric.name, metric)
    return list(seen.values())


def _metric_panel(metric: MetricSpec, runs: Sequence[RunSpec], selector: str, *, x: int, y: int) -> dict[str, Any]:
    matcher = f'{selector}, metric="{_escape(metric.name)}"'
    better = "higher" if metric.direction == "higher" else "lower"
    overrides = [
        {
            "matcher": {"id": "byName", "options": f"{run.environment} · {run.run_id}"},
            "properties": [{"id": "displayName", "value": _run_title(run)}],
        }
        for run in runs
        if any(m.name == metric.name for m in run.all_metrics())
    ]
    return {
        "type": "timeseries",
        "title": f"{metric.name} ({metric.units})" if metric.units else metric.name,
        "description": f"Last value of {metric.name} in each execution; {better} is better.",
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "expr": f"max by (environment, run_id) (anubis_metric{{{matcher}}})",
                "legendFormat": "{{environment}} · {{run_id}}",
            }
        ],
        "fieldConfig": {
            "defaults": {
                "unit": _UNITS.get(metric.units.strip().lower(), "short"),
                "custom": {"drawStyle": "line", "lineInterpolation": "stepAfter", "showPoints": "always"},
            },
            "overrides": overrides,
        },
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "min", "max"]}},
    }


def _run_title(run: RunSpec) -> str:
    point = ", ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in sorted(run.matrix_point.items()))
    return f"{run.environment} · {point}" if point else f"{run.environment} · {run.placement.instance_type}"


def _verdict_table(selector: str, *, y: int) -> dict[str, Any]:
    return {
        "type": "table",
        "title": "Verdicts of the latest executions",
        "description": "regression, improvement, suspected (one run so far: a confirmation run is asked for), no_change "
                       "or insufficient_data, per run and metric.",
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 0, "y": y},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "expr": f"max by (environment, run_id, execution_id, metric, verdict) (anubis_verdict{{{selector}}}) == 1",
                "format": "table",
                "instant": True,
            }
        ],
        "transformations": [
            {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}},
        ],
        "fieldConfig": {
            "defaults": {},
            "overrides": [
                {
                    "matcher": {"id": "byName", "options": "verdict"},
                    "properties": [
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                        {
                            "id": "mappings",
                            "value": [
                                {
                                    "type": "value",
                                    "options": {
                                        "regression": {"color": "red", "index": 0},
                                        "improvement": {"color": "green", "index": 1},
                                        "no_change": {"color": "transparent", "index": 2},
                                        "insufficient_data": {"color": "gray", "index": 3},
                                        "suspected": {"color": "orange", "index": 4, "text": "suspected — confirming"},
                                    },
                                }
                            ],
                        },
                    ],
                }
            ],
        },
        "options": {"showHeader": True},
    }


def _change_ratio_panel(selector: str, *, y: int) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": "Change against the baseline",
        "description": "Relative change of each metric against its baseline (0.1 = 10 % more).",
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12, "y": y},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "expr": f"max by (environment, run_id, metric) (anubis_metric_change_ratio{{{selector}}})",
                "legendFormat": "{{metric}} · {{environment}} · {{run_id}}",
            }
        ],
        "fieldConfig": {"defaults": {"unit": "percentunit"}, "overrides": []},
    }


def _status_panel(selector: str, *, y: int) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": "Executions by status",
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": GRID_WIDTH, "x": 0, "y": y},
        "targets": [
            {
                "refId": "A",
                "datasource": DATASOURCE,
                "expr": f"count by (status) (anubis_run_status{{{selector}}} == 1)",
                "legendFormat": "{{status}}",
            }
        ],
        "fieldConfig": {"defaults": {"unit": "short", "custom": {"drawStyle": "bars", "stacking": {"mode": "normal"}}}, "overrides": []},
    }


def _finished_annotation(selector: str) -> dict[str, Any]:
    """One annotation per finished execution, at the time it finished (the series' value)."""
    return {
        "name": "Finished runs",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "rgba(255, 96, 96, 1)",
        "expr": (
            "max by (environment, run_id, execution_id, status) "
            f"(anubis_run_finished_timestamp_seconds{{{selector}}}) * 1000"
        ),
        "useValueForTime": True,
        "step": "60s",
        "titleFormat": "{{status}}",
        "textFormat": "{{environment}} · run {{run_id}} · execution {{execution_id}}",
        "tagKeys": "environment,status",
    }


# ---------------------------------------------------------------- the operational dashboard


def _by_run(series: str, *, how: str = "sum") -> str:
    """``series`` (with namespace and pod labels) summed per run through the pods' labels."""
    pods = (
        f"max by (namespace, pod, {RUN_ID_LABEL}, {BENCHMARK_LABEL}) "
        f'(kube_pod_labels{{{RUN_ID_LABEL}!="", {BENCHMARK_LABEL}=~"$benchmark", namespace=~"$namespace"}})'
    )
    return (
        f"{how} by ({RUN_ID_LABEL}) ({series} "
        f"* on (namespace, pod) group_left ({RUN_ID_LABEL}, {BENCHMARK_LABEL}) {pods})"
    )


def operational_dashboard() -> dict[str, Any]:
    containers = 'container!="", container!="POD", namespace=~"$namespace"'
    run_legend = "{{" + RUN_ID_LABEL + "}}"
    panels: list[dict[str, Any]] = [
        _row("Resources by run", y=0),
        _timeseries(
            "CPU by run",
            _by_run(f"rate(container_cpu_usage_seconds_total{{{containers}}}[$__rate_interval])"),
            run_legend, unit="short", x=0, y=1,
            description="CPU cores used by the containers of each run (cAdvisor).",
        ),
        _timeseries(
            "Memory by run",
            _by_run(f"container_memory_working_set_bytes{{{containers}}}"),
            run_legend, unit="bytes", x=12, y=1,
            description="Working set of the containers of each run (what the OOM killer looks at).",
        ),
        _timeseries(
            "GPU utilisation by run",
            _by_run('DCGM_FI_DEV_GPU_UTIL{namespace=~"$namespace"}', how="avg"),
            run_legend, unit="percent", x=0, y=9,
            description="Mean utilisation of the GPUs each run holds (DCGM exporter).",
        ),
        _timeseries(
            "GPU memory by run",
            _by_run('DCGM_FI_DEV_FB_USED{namespace=~"$namespace"}'),
            run_legend, unit="decmbytes", x=12, y=9,
            description="Frame buffer memory used on the GPUs of each run (DCGM exporter).",
        ),
        _row("Runs and the controller", y=17),
        _timeseries(
            "Executions by status",
            'count by (status) (anubis_run_status{benchmark=~"$benchmark"} == 1)',
            "{{status}}", unit="short", x=0, y=18,
        ),
        _timeseries(
            "Finished runs per hour",
            "sum by (status) (increase(anubis_controller_runs_total[1h]))",
            "{{status}}", unit="short", x=12, y=18,
        ),
        _timeseries(
            "Tracked runs",
            "sum(anubis_controller_tracked_runs)",
            "tracked", unit="short", x=0, y=26,
        ),
        _timeseries(
            "Controller API errors and watch restarts",
            "sum by (operation) (rate(anubis_controller_api_errors_total[$__rate_interval])) "
            "or sum by (reason) (rate(anubis_controller_watch_restarts_total[$__rate_interval]))",
            "{{operation}}{{reason}}", unit="ops", x=12, y=26,
        ),
    ]
    for panel_id, panel in enumerate(panels, start=1):
        panel["id"] = panel_id
    return _dashboard(
        uid=OPERATIONAL_UID,
        title="Anubis · runs",
        description="CPU, memory and GPU use of the benchmark runs, and the controller's health.",
        tags=["anubis", "operations"],
        templating=[
            _datasource_variable(),
            _query_variable("namespace", "Namespace", f'label_values(kube_pod_labels{{{RUN_ID_LABEL}!=""}}, namespace)'),
            _query_variable(
                "benchmark", "Benchmark", f'label_values(kube_pod_labels{{{RUN_ID_LABEL}!=""}}, {BENCHMARK_LABEL})'
            ),
        ],
        annotations=[],
        panels=panels,
    )


# ---------------------------------------------------------------- building blocks


def _dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    tags: list[str],
    templating: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    panels: list[dict[str, Any]],
) -> dict[str, Any]:
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,
        "timezone": "utc",
        "refresh": "1m",
        "time": {"from": "now-30d", "to": "now"},
        "templating": {"list": templating},
        "annotations": {"list": [builtin, *annotations]},
        "links": [],
        "panels": panels,
    }


def _row(title: str, *, y: int) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}, "panels": []}


def _timeseries(
    title: str, expr: str, legend: str, *, unit: str, x: int, y: int, description: str = ""
) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "targets": [{"refId": "A", "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
    }


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {"text": "Prometheus", "value": "prometheus"},
        "hide": 0,
        "refresh": 1,
    }


def _query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,  # on time range change
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
    }


def _escape(value: str) -> str:
    """A PromQL string literal's content."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def indented_json(value: Any) -> str:
    """``json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)``, the same text: the standard
    library writes indented JSON in pure Python, one generator per container, several times slower."""
    out: list[str] = []
    try:
        _write_json(value, out, "\n")
    except _NotPlain:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return "".join(out)


class _NotPlain(Exception):
    """A value :func:`indented_json` leaves to ``json.dumps`` (a key that is not a string, a subclass)."""


_encode_string: Any = json.encoder.encode_basestring  # what json.dumps uses with ensure_ascii=False


def _write_json(value: Any, out: list[str], newline: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(_encode_string(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        opening = "{" + inner
        for key in sorted(value):
            if type(key) is not str:
                raise _NotPlain
            item = value[key]
            if type(item) is str:  # most values: no call of their own
                out.append(opening + _encode_string(key) + ": " + _encode_string(item))
            else:
                out.append(opening + _encode_string(key) + ": ")
                _write_json(item, out, inner)
            opening = "," + inner
        out.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        opening = "[" + inner
        for item in value:
            out.append(opening)
            opening = "," + inner
            _write_json(item, out, inner)
        out.append(newline + "]")
    elif value is None:
        out.append("null")
    elif kind is bool:
        out.append("true" if value else "false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float and value == value and value not in (float("inf"), float("-inf")):
        out.append(float.__repr__(value))
    else:
        raise _NotPlain


# libyaml's emitter (``CSafeDumper``) writes the same bytes as the pure-Python ``SafeDumper`` for
# these documents, 28-30 times faster (bench/render.py); PyYAML built without libyaml falls back.
_Base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[misc]
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _configmap(name: str, dashboard: dict[str, Any], *, benchmark: str | None, origin: str | None) -> str:
    labels = {
        DASHBOARD_LABEL: "1",
        "app.kubernetes.io/managed-by": "anubis",
        "app.kubernetes.io/part-of": "anubis",
    }
    if benchmark is not None:
        labels["anubis.dev/benchmark"] = benchmark
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels, "annotations": {FOLDER_ANNOTATION: FOLDER}},
        "data": {f"{dashboard['uid']}.json": indented_json(dashboard) + "\n"},
    }
    header = f"# Generated by anubis render from {origin}. Do not edit." if origin else "# Generated by anubis render. Do not edit."
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=4096, default_flow_style=False)
    return f"{header}\n---\n{body}"
