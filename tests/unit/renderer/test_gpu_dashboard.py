"""The GPU row of a benchmark's dashboard: dcgm-exporter's series of the pods of the benchmark's GPU runs
(the PromQL itself is checked by a real Prometheus in test_dashboards.py)."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import yaml
from manifest_cases import horovod_case, single_node_case

from renderer.dashboards import GPU_SERIES, render_dashboards


def _dashboard(runs: list) -> dict:  # type: ignore[type-arg]
    files = render_dashboards(runs)
    name = next(n for n in files if n != "dashboard-anubis-operations.yaml" and "operations" not in n)
    (configmap,) = [d for d in yaml.safe_load_all(files[name]) if d]
    return json.loads(next(iter(configmap["data"].values())))  # type: ignore[no-any-return]


def test_gpu_runs_get_utilisation_memory_and_power_of_their_pods() -> None:
    spec, _, _ = horovod_case()
    other = replace(spec, run_id=spec.run_id[:-1] + "f", matrix_point={"batch": 2})
    dashboard = _dashboard([spec, other])
    titles = [p["title"] for p in dashboard["panels"]]
    assert "GPUs" in titles
    gpu_panels = [p for p in dashboard["panels"] if p["title"] in {t for t, _, _ in GPU_SERIES}]
    assert [p["fieldConfig"]["defaults"]["unit"] for p in gpu_panels] == ["percent", "decmbytes", "watt"]
    expr = gpu_panels[0]["targets"][0]["expr"]
    assert expr.startswith("max by (pod, gpu) (DCGM_FI_DEV_GPU_UTIL{pod=~")
    pods = re.search(r'pod=~"(.*)"', expr).group(1).replace("\\\\", "\\")  # type: ignore[union-attr]
    # Prometheus anchors a label regex at both ends; the pods of both runs match, another run's not.
    assert re.fullmatch(pods, f"{spec.run_id}-worker-0") and re.fullmatch(pods, f"{other.run_id}-launcher-abcde")
    assert not re.fullmatch(pods, "unrelated-0123456789-worker-0")
    ids = [p["id"] for p in dashboard["panels"]]
    assert ids == list(range(1, len(ids) + 1))


def test_cpu_only_benchmarks_have_no_gpu_row() -> None:
    spec, _, _ = single_node_case()
    spec = replace(spec, placement=replace(spec.placement, gpus=0))
    assert "GPUs" not in [p["title"] for p in _dashboard([spec])["panels"]]
