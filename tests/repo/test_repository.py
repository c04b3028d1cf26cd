"""Checks on the repository itself: layers hold, manifests are current, workflows and schemas valid."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from anubis.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_import_layers_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_manifests_are_up_to_date() -> None:
    result = CliRunner().invoke(cli, ["--repo", str(ROOT), "render", "--check"])
    assert result.exit_code == 0, result.output + (result.stderr or "")


def test_repository_benchmarks_validate() -> None:
    result = CliRunner().invoke(cli, ["--repo", str(ROOT), "validate"])
    assert result.exit_code == 0, result.output + (result.stderr or "")


def test_every_json_schema_is_a_valid_schema() -> None:
    for path in sorted((ROOT / "schemas").rglob("*.schema.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
