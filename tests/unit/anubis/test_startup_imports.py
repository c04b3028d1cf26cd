"""`anubis --help` and `anubis validate` stay light: no cluster, cloud or GitHub client is imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("kubernetes", "boto3", "botocore", "github", "elasticsearch", "git", "moto")

PROBE = """
import json, sys
from anubis.cli import cli
try:
    cli({args!r}, prog_name="anubis")
except SystemExit as e:
    code = e.code
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "benchmarks/hello-world"], ["validate", "--help"]],
    ids=["help", "validate", "validate-help"],
)
def test_command_does_not_import_heavy_clients(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=["--repo", str(ROOT), *args], heavy=HEAVY)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    loaded = json.loads(result.stderr.strip().splitlines()[-1])
    assert loaded == [], f"anubis {' '.join(args)} imported {loaded}"
