"""``anubis validate PATH``: a folder without a descriptor, and links that lead nowhere, are errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner, Result

from anubis.cli import cli

GOOD = """\
spec_version = "0.1.0"

[info]
description = "A lone benchmark."

[info.labels]
task_name = "t"

[hardware]
instance_type = "t3.small"

[env]
docker_image = "python:3.11"

[ml]
benchmark_code = "python3 -c pass"
"""


def validate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["validate", *args])


def test_a_folder_without_a_descriptor_says_what_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = validate(str(tmp_path / "empty"))
    assert result.exit_code == 1
    assert "no descriptor in this folder: looked for descriptor.toml in it and in its subfolders" in result.stderr
    as_json = validate("--output", "json", str(tmp_path / "empty"))
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["valid"] is False and report["descriptors"][0]["valid"] is False


def test_a_file_of_any_name_is_a_descriptor(tmp_path: Path) -> None:
    (tmp_path / "descriptor_cpu.toml").write_text(GOOD)
    result = validate(str(tmp_path / "descriptor_cpu.toml"))
    assert result.exit_code == 0, result.output
    assert result.stdout == "descriptor_cpu.toml: ok (1 run in local)\n"


def test_a_dangling_link_is_an_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone.toml", tmp_path / "descriptor.toml")
    result = validate(str(tmp_path))
    assert result.exit_code == 1
    assert f"this link points to {tmp_path / 'gone.toml'}, which does not exist; fix or remove it" in result.stderr
    assert "Traceback" not in result.output


def test_a_looping_link_is_an_error(tmp_path: Path) -> None:
    os.symlink(tmp_path / "b.toml", tmp_path / "a.toml")
    os.symlink(tmp_path / "a.toml", tmp_path / "b.toml")
    result = validate(str(tmp_path / "a.toml"))
    assert result.exit_code == 1
    assert "this link loops (it leads back to itself); point it at a descriptor file" in result.stderr
    assert "Traceback" not in result.output


def test_a_dangling_link_found_in_a_tree_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "benchmarks" / "x").mkdir(parents=True)
    os.symlink(tmp_path / "nowhere", tmp_path / "benchmarks" / "x" / "descriptor.toml")
    result = validate(str(tmp_path / "benchmarks"))
    assert result.exit_code == 1
    assert "which does not exist; fix or remove it" in result.stderr
