"""`anubis controller` is built in one place (`build_controller`), from its flags and a settings file read
once and checked against schemas/controller-settings.schema.json: a bad value is an error naming its field,
never a traceback later."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from fakes.kubernetes_api import FakeKubernetes

from anubis.cli import cli
from anubis.controller_wiring import ControllerConfig, build_controller
from anubis.settings import Settings
from controller.kubernetes.settings import read_settings_file
from schemas.errors import BackendError

REPO = Path(__file__).resolve().parents[3]


def _shipped(tmp_path: Path) -> Path:
    for doc in yaml.safe_load_all((REPO / "manifests" / "system" / "controller" / "configmap.yaml").read_text()):
        if doc and doc.get("kind") == "ConfigMap":
            path = tmp_path / "controller.toml"
            path.write_text(doc["data"]["controller.toml"], encoding="utf-8")
            return path
    raise AssertionError("no ConfigMap")


def test_the_shipped_settings_are_valid(tmp_path: Path) -> None:
    raw = read_settings_file(_shipped(tmp_path))
    assert raw["controller"]["namespaces"] == ["anubis-runs", "anubis-gpu-runs"]


@pytest.mark.parametrize(("text", "field"), [
    ('[controller]\nworkers = "many"\n', "controller.workers: 'many' is not of type 'integer'"),
    ('[controller]\nwokers = 4\n', "controller: Additional properties are not allowed ('wokers' was unexpected)"),
    ('[environments.gpu-cluster]\nunschedulable_deadline_seconds = -5\n',
     "environments.gpu-cluster.unschedulable_deadline_seconds: -5 is less than the minimum of 1"),
    ('[telemetry]\nprometheus_url = "prometheus:9090"\n', "telemetry.prometheus_url: 'prometheus:9090' does not match"),
])
def test_a_bad_value_names_its_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BackendError) as raised:
        read_settings_file(path)
    assert str(path) in str(raised.value) and field in str(raised.value)


def test_the_command_says_so_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[controller]\nresync_seconds = "often"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["controller", "--settings", str(path)], env={"ANUBIS_DATA_DIR": str(tmp_path)})
    assert result.exit_code != 0
    assert "controller.resync_seconds: 'often' is not of type 'integer'" in result.output
    assert "Traceback" not in result.output


def test_build_controller_from_flags_and_the_settings_file(tmp_path: Path) -> None:
    import os

    allowed = os.sched_getaffinity(0)  # the shipped settings pin the controller's threads (one_cpu): given back after
    api = FakeKubernetes().start()
    try:
        settings = Settings(repo_root=REPO, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
        config = ControllerConfig(kubeconfig=api.write_kubeconfig(tmp_path / "kubeconfig"), workers=2,
                                  settings_file=_shipped(tmp_path), store_url=f"sqlite:{tmp_path / 'results.sqlite3'}",
                                  pushgateway=None)
        built = build_controller(settings, config)
        assert built.settings.namespaces == ("anubis-runs", "anubis-gpu-runs")
        assert built.settings.workers == 2  # the flag wins over the file
        assert built.settings.telemetry_url.startswith("http://kube-prometheus-stack-prometheus")
        assert built.settings.one_cpu is True
        assert [type(e).__name__ for e in built.controller.exporters] == ["PushgatewayExporter", "ElasticsearchExporter"]
        built.start()
        assert built.controller.wait_synced(10)
        built.stop()
    finally:
        api.drop_watches()
        api.stop()
        for task in Path("/proc/self/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), allowed)
            except ProcessLookupError:
                pass
