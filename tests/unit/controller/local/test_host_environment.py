"""On the host, `python3` in a descriptor means the Python environment anubis runs in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from controller.local.runner import host_environment

ROOT = Path(__file__).resolve().parents[4]


def test_the_interpreters_folder_goes_first_on_path() -> None:
    assert host_environment({"PATH": "/usr/bin:/bin"}, "/w/.venv/bin/python")["PATH"] == "/w/.venv/bin:/usr/bin:/bin"
    # already first: unchanged; elsewhere on PATH: moved to the front, not repeated
    assert host_environment({"PATH": "/w/.venv/bin:/bin"}, "/w/.venv/bin/python")["PATH"] == "/w/.venv/bin:/bin"
    assert host_environment({"PATH": "/bin:/w/.venv/bin"}, "/w/.venv/bin/python")["PATH"] == "/w/.venv/bin:/bin"
    assert host_environment({}, "/w/.venv/bin/python")["PATH"] == "/w/.venv/bin"
    assert host_environment({"PATH": "/bin", "HOME": "/h"}, "/p/python")["HOME"] == "/h"


def test_a_benchmark_runs_with_anubis_own_python(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "benchmarks" / "which" / "src").mkdir(parents=True)
    (repo / "environments").mkdir()
    (repo / "environments" / "local.toml").write_text((ROOT / "environments" / "local.toml").read_text())
    (repo / "benchmarks" / "which" / "descriptor.toml").write_text(textwrap.dedent("""\
        spec_version = "0.1.0"
        [info]
        description = "Which python runs?"
        [info.labels]
        task_name = "which"
        [hardware]
        instance_type = "t3.small"
        [env]
        docker_image = "python:3.11"
        [ml]
        benchmark_code = "python3 -c 'import sys; print(\\"exe=\\" + sys.executable)'"
        """))
    env = {
        "PATH": "/usr/bin:/bin",  # a shell whose first python3 is not anubis' own
        "HOME": str(tmp_path),
        "ANUBIS_DATA_DIR": str(tmp_path / "data"),
        "ANUBIS_CACHE_DIR": str(tmp_path / "cache"),
        "ANUBIS_CONTAINER_ENGINE": "none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "anubis", "--repo", str(repo), "run", "benchmarks/which"],
        env={**env, "PYTHONPATH": os.pathsep.join(sys.path)}, cwd=repo, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [x for x in result.stdout.splitlines() if x.startswith("exe=")]
    assert Path(line.removeprefix("exe=")).parent == Path(sys.executable).parent
