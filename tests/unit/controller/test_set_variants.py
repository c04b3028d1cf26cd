"""``anubis run --set``: a variant of the benchmark, marked, with its own baseline and history series;
never judged against, nor part of, the unmodified benchmark's baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from anubis.cli import cli
from controller.baselines import baseline_history
from controller.sqlite_store import SqliteResultStore
from schemas.runspec import OVERRIDES_LABEL

DESCRIPTOR = """\
spec_version = "0.1.0"

[info]
description = "Variants."

[info.labels]
task_name = "v"

[hardware]
instance_type = "t3.small"

[env]
docker_image = "python:3.11-slim"

[env.vars]
SPEED = "3"

[ml]
benchmark_code = "python3 -c \\"import os; print('speed=' + os.environ['SPEED'])\\""

[[output.metrics]]
name = "speed"
units = "it/s"
pattern = 'speed=([0-9.]+)'
"""


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANUBIS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ANUBIS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ANUBIS_CONTAINER_ENGINE", "none")
    monkeypatch.delenv("ANUBIS_REPO", raising=False)
    (tmp_path / "v.toml").write_text(DESCRIPTOR)
    return tmp_path


def run(folder: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["run", "--output", "json", *args, str(folder / "v.toml")])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)["executions"]
    return str(record["execution_id"])


def test_a_set_run_has_its_own_baseline(data: Path) -> None:
    plain = [run(data), run(data)]
    variant = [run(data, "--set", "env.vars.SPEED=30"), run(data, "--set", "env.vars.SPEED=30")]
    latest_plain = run(data)
    with SqliteResultStore(data / "data" / "results.sqlite3") as store:
        records = {r.execution_id: r for r in store.list_runs(limit=10)}
        assert OVERRIDES_LABEL not in records[plain[0]].labels
        assert records[variant[0]].labels[OVERRIDES_LABEL] == records[variant[1]].labels[OVERRIDES_LABEL]
        judged_plain = baseline_history(store, records[latest_plain])
        assert {r.execution_id for r in judged_plain.executions} == set(plain)
        judged_variant = baseline_history(store, records[variant[1]])
        assert {r.execution_id for r in judged_variant.executions} == {variant[0]}


def test_history_shows_the_variant_as_a_series_of_its_own(data: Path) -> None:
    run(data)
    run(data, "--set", "env.vars.SPEED=30")
    benchmark = f"{data.name}-v"
    shown = CliRunner().invoke(cli, ["history", benchmark])
    assert shown.exit_code == 0, shown.output
    assert f"{benchmark}: 2 series (matrix points, environments, --set variants)" in shown.stdout
    assert "--set=" in shown.stdout
