"""``anubis show``: the RunSpecs of a descriptor with their run ids, as text or JSON."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from anubis.cli import cli

PROJECT_ROOT = Path(__file__).resolve().parents[3]
RUN_ID = re.compile(r"^t-[0-9a-f]{10}$")

GOOD = """\
spec_version = "0.1.0"

[info]
description = "A test benchmark."

[info.labels]
task_name = "t"

[hardware]
instance_type = "c5.xlarge"

[env]
docker_image = "python:3.11"

[ml]
benchmark_code = "python3 -c pass"
"""
MATRIX = GOOD + '\n[matrix.axes]\n"env.vars.X" = ["1", "2"]\n"hardware.instance_type" = ["c5.xlarge", "c5.2xlarge"]\n'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT / "environments", repo / "environments")
    (repo / "benchmarks" / "t").mkdir(parents=True)
    return repo


def show(repo: Path, text: str, *args: str) -> Result:
    path = repo / "benchmarks" / "t" / "descriptor.toml"
    path.write_text(text)
    return CliRunner().invoke(cli, ["--repo", str(repo), "show", str(path), *args])


def test_text_output(repo: Path) -> None:
    result = show(repo, GOOD)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "benchmarks/t/descriptor.toml → 1 run"
    header = re.fullmatch(r"--- (\S+)  \(environment cpu-cluster, family (\S+)\)", lines[2])
    assert header and RUN_ID.match(header.group(1)) and RUN_ID.match(header.group(2))
    spec = yaml.safe_load("\n".join(lines[3:]))
    assert spec["run_id"] == header.group(1)
    assert spec["command"] == ["python3", "-c", "pass"]
    assert result.stderr == ""


def test_json_output(repo: Path) -> None:
    result = show(repo, GOOD, "--output", "json")
    assert result.exit_code == 0
    [entry] = json.loads(result.stdout)
    assert (entry["descriptor"], entry["benchmark"]) == ("benchmarks/t/descriptor.toml", "t")
    [run] = entry["runs"]
    assert RUN_ID.match(run["run_id"])
    assert run["environment"] == "cpu-cluster"


def test_text_and_json_agree(repo: Path) -> None:
    text = show(repo, GOOD).stdout
    [entry] = json.loads(show(repo, GOOD, "--output", "json").stdout)
    assert f"--- {entry['runs'][0]['run_id']}  " in text


def test_matrix_gives_several_runs(repo: Path) -> None:
    result = show(repo, MATRIX, "--output", "json")
    [entry] = json.loads(result.stdout)
    runs = entry["runs"]
    assert [r["matrix_point"] for r in runs] == [
        {"env.vars.X": "1", "hardware.instance_type": "c5.xlarge"},
        {"env.vars.X": "1", "hardware.instance_type": "c5.2xlarge"},
        {"env.vars.X": "2", "hardware.instance_type": "c5.xlarge"},
        {"env.vars.X": "2", "hardware.instance_type": "c5.2xlarge"},
    ]
    assert len({r["run_id"] for r in runs}) == 4
    assert all(RUN_ID.match(r["run_id"]) for r in runs)
    text = show(repo, MATRIX)
    assert text.stdout.splitlines()[0] == "benchmarks/t/descriptor.toml → 4 runs"
    assert text.stdout.count("\n--- t-") == 4


def test_show_a_folder(repo: Path) -> None:
    (repo / "benchmarks" / "t" / "descriptor.toml").write_text(GOOD)
    result = CliRunner().invoke(cli, ["--repo", str(repo), "show", str(repo / "benchmarks" / "t"), "--output", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)[0]["benchmark"] == "t"


def test_env_and_set_options(repo: Path) -> None:
    result = show(repo, GOOD, "--env", "local", "--set", "ml.args=--epochs 3", "--set", 'env.vars.A="1"', "--output", "json")
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)[0]["runs"]
    assert run["environment"] == "local"
    assert run["command"] + run["args"] == ["python3", "-c", "pass", "--epochs", "3"]
    assert run["env"] == {"A": "1"}


def test_warnings_go_to_stderr(repo: Path) -> None:
    result = show(repo, GOOD + '\n[[data.sources]]\nuri = "https://e.com/a"\npath = "/data/a"\n')
    assert result.exit_code == 0
    assert result.stderr == (
        "benchmarks/t/descriptor.toml:19:1: warning: data.sources[0].uri: 'uri' is deprecated; rename it to 'src'"
        " (it still works)\n"
    )


def test_invalid_descriptor_is_an_error_without_traceback(repo: Path) -> None:
    result = show(repo, GOOD.replace('"c5.xlarge"', '"m5.lrage"'))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: benchmarks/t/descriptor.toml:10:1: hardware.instance_type: 'm5.lrage' is not a known EC2 instance"
        " type; nearest: m5.large, m5.xlarge, m5.8xlarge; add it to an environment or set info.environment\n"
    )
    assert "Traceback" not in result.output


def test_invalid_override_is_an_error(repo: Path) -> None:
    result = show(repo, GOOD, "--set", "noequals")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --set:1:1: noequals: 'noequals' is not FIELD=VALUE with a dotted field such as ml.args=--epochs 3\n"
    )


def test_toml_syntax_error(repo: Path) -> None:
    result = show(repo, GOOD + "oops = \n")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: benchmarks/t/descriptor.toml:17:8: TOML syntax error: Invalid value; fix the syntax on this line\n"
    )
    assert "Traceback" not in result.output


def test_missing_descriptor_is_a_usage_error(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["--repo", str(repo), "show", str(repo / "nope.toml")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
