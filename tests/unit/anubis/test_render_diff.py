"""``anubis render --diff``: a script change reads as a diff of the script, not as base64."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

from click.testing import CliRunner, Result

from anubis.cli import cli
from anubis.manifest_diff import readable

ROOT = Path(__file__).resolve().parents[3]

DESCRIPTOR = """\
spec_version = "0.1.0"

[info]
description = "Script mode."

[info.labels]
task_name = "s"

[hardware]
instance_type = "c5.xlarge"

[env]
docker_image = "python:3.11"

[ml]
benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/src/train.py"
"""
SCRIPT = "".join(f"print('line {i}')\n" for i in range(400))  # a few KB: kilobytes of base64 once encoded


def render(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--repo", str(repo), "render", *args])


def make(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "environments", repo / "environments")
    (repo / "anubis.toml").write_text('[repository]\nurl = "https://github.com/acme/b"\n')
    src = repo / "benchmarks" / "s" / "src"
    src.mkdir(parents=True)
    (src.parent / "descriptor.toml").write_text(DESCRIPTOR)
    (src / "train.py").write_text(SCRIPT)
    (src / "weights.bin").write_bytes(bytes(range(256)))
    assert render(repo).exit_code == 0
    return repo


def test_a_script_change_is_a_diff_of_the_script(tmp_path: Path) -> None:
    repo = make(tmp_path)
    (repo / "benchmarks" / "s" / "src" / "train.py").write_text(SCRIPT.replace("line 200", "line two hundred"))
    result = render(repo, "--diff")
    assert result.exit_code == 0, result.output
    diff = result.stdout
    assert "-    | print('line 200')\n" in diff and "+    | print('line two hundred')\n" in diff
    assert base64.b64encode(SCRIPT.encode()).decode()[:60] not in diff
    assert diff.count("\n--- a/cpu-cluster/s/") + diff.startswith("--- a/cpu-cluster/s/") == 1  # one diff, old→new
    assert "+++ b/cpu-cluster/s/" in diff and "/dev/null" not in diff
    assert "weights.bin" not in [line for line in diff.splitlines() if line.startswith(("+", "-"))]
    assert len(diff) < 20_000


def test_binary_sources_are_named_not_dumped() -> None:
    text = ('      items:\n        - key: "f0"\n          mode: 420\n          path: "src/w.bin"\n'
            f'binaryData:\n  f0: "{base64.b64encode(bytes(range(256))).decode()}"\n')
    lines = readable(text)
    assert lines[-1].startswith("  f0: # src/w.bin: 256 bytes, sha256 40aff2e9") and "(binary, not shown)" in lines[-1]
