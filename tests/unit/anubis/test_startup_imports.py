"""The everyday commands stay light: no cluster, cloud, GitHub or statistics library is imported by
`anubis --help`, `validate`, `list`, `search`, `status`, `results`, nor by `run` up to the first verdict
that needs one (a first run has no baseline: "insufficient data" needs neither numpy nor scipy).
Output to a pipe or a file, and machine-readable output (`-o json`), does not import rich; the reading
commands import no HTTP client (urllib.request: http, email, ssl) nor ctypes. Speed itself is measured
by bench/startup.py, not here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("kubernetes", "boto3", "botocore", "github", "elasticsearch", "git", "moto", "scipy", "numpy")
#: what a reading command (list, search, status, results) writing to a pipe does not need either
LIGHT_READING = ("rich", "http", "email", "ssl", "ctypes", "jsonschema")

PROBE = """
import sys
from anubis.cli import cli
try:
    cli({args!r}, prog_name="anubis")
except SystemExit as e:
    code = e.code
modules = sorted(sys.modules)
import json  # after the list: whether the command imported json is part of the answer
print(json.dumps(modules), file=sys.stderr)
"""

DESCRIPTOR = """\
spec_version = "0.1.0"

[info]
description = "Prints one metric."

[info.labels]
task_name = "noop"

[hardware]
instance_type = "t3.small"
strategy = "single_node"

[env]
docker_image = "python:3.11-slim"

[ml]
benchmark_code = "python3 -c 'print(\\"speed=1.0 needle\\")'"

[[output.metrics]]
name = "speed"
units = "it/s"
pattern = 'speed=([0-9.]+)'
"""


def loaded(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages imported by ``anubis ARGS`` run in a fresh interpreter."""
    return {name.split(".")[0] for name in loaded_modules(args, cwd=cwd, env=env)}


def loaded_modules(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    """The modules (dotted names) imported by ``anubis ARGS`` run in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "benchmarks/hello-world"], ["validate", "--help"]],
    ids=["help", "validate", "validate-help"],
)
def test_command_does_not_import_heavy_clients(args: list[str]) -> None:
    heavy = loaded(["--repo", str(ROOT), *args], cwd=ROOT) & {*HEAVY, "jsonschema", "fastjsonschema"}
    assert not heavy, f"anubis {' '.join(args)} imported {sorted(heavy)}"


#: what `anubis --help` leaves out beyond the heavy clients: shutil (zlib, bz2, lzma; the help's width is
#: computed without it) and dataclasses (the error classes are imported once a command runs)
NOT_FOR_HELP = ("shutil", "dataclasses")


def test_help_imports_neither_shutil_nor_dataclasses() -> None:
    modules = loaded_modules(["--repo", str(ROOT), "--help"], cwd=ROOT)
    assert "anubis.cli" in modules
    unwanted = modules & set(NOT_FOR_HELP)
    assert not unwanted, f"anubis --help imported {sorted(unwanted)}"


@pytest.fixture(scope="module")
def local_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A benchmarks repository with a no-op benchmark, and the environment of a fresh machine."""
    tmp = tmp_path_factory.mktemp("startup")
    root = tmp / "repo"
    (root / "environments").mkdir(parents=True)
    shutil.copy(ROOT / "environments" / "local.toml", root / "environments" / "local.toml")
    (root / "benchmarks" / "noop").mkdir(parents=True)
    (root / "benchmarks" / "noop" / "descriptor.toml").write_text(DESCRIPTOR, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}  # a pipe is a pipe
    env.update(
        ANUBIS_DATA_DIR=str(tmp / "data"),
        ANUBIS_CACHE_DIR=str(tmp / "cache"),
        ANUBIS_CONTAINER_ENGINE="none",
        KUBECONFIG=str(tmp / "no-kubeconfig"),
        PYTHONPATH=str(ROOT),
    )
    return root, env


def test_run_list_search_status_do_not_import_heavy_modules(local_repo: tuple[Path, dict[str, str]]) -> None:
    root, env = local_repo
    first_run = loaded(["--repo", str(root), "run", "benchmarks/noop"], cwd=root, env=env)
    assert (Path(env["ANUBIS_DATA_DIR"]) / "results.sqlite3").exists(), "the run did not complete"
    # its output goes to a pipe here: no live display, no rich; a valid descriptor and environment are
    # checked by the shipped compiled schemas (renderer/compiled/): no JSON Schema library
    unwanted = set(HEAVY) | {"rich", "jsonschema", "fastjsonschema"}
    assert not first_run & unwanted, f"a first run (insufficient data) imported {sorted(first_run & unwanted)}"
    for args in (["list"], ["search", "needle"], ["status"], ["results"], ["results", "noop"],
                 ["list", "--help"], ["search", "--help"]):
        modules = loaded(["--repo", str(root), *args], cwd=root, env=env)
        heavy = modules & (set(HEAVY) | set(LIGHT_READING))
        assert not heavy, f"anubis {' '.join(args)} imported {sorted(heavy)}"
        assert "anubis" in modules  # the probe ran the command


#: what `list`, `status` and `search` (to a pipe) do not import: the result record's classes (the store
#: lists runs from its columns; ``results`` does decode a record, the other side of the same test) and
#: the terminal-text module (escape sequences are removed on a terminal only), logging (their modules
#: import it on their first message; anubis/logging_config.py sets it up then) and dataclasses (their
#: records are named tuples: Python 3.11 compiles a dataclass's methods when the class is defined)
NOT_FOR_LISTING = ("schemas.results", "anubis.presenting.terminal_text", "logging", "dataclasses")


def test_listing_runs_decodes_no_record(local_repo: tuple[Path, dict[str, str]]) -> None:
    root, env = local_repo
    loaded(["--repo", str(root), "run", "benchmarks/noop"], cwd=root, env=env)  # something to list
    for args in (["list"], ["list", "-o", "json"], ["status"], ["search", "needle"]):
        modules = loaded_modules(["--repo", str(root), *args], cwd=root, env=env)
        assert "controller.journal" in modules  # the probe ran the command
        unwanted = modules & set(NOT_FOR_LISTING)
        assert not unwanted, f"anubis {' '.join(args)} imported {sorted(unwanted)}"
        # json writes `-o json`; a table reads no registry entry, record or matrix point as JSON
        assert ("json" in modules) == ("json" in args), f"anubis {' '.join(args)}: json imported or not?"
    judging = loaded_modules(["--repo", str(root), "results"], cwd=root, env=env)
    assert "schemas.results" in judging and "controller.baselines" in judging  # it decodes and judges
    assert "logging" not in judging  # the judging modules log through ModuleLogger too
    assert "schemas.runspec" not in judging  # a record carries its policies (schemas/policy.py)


def test_a_judged_run_imports_the_statistics(local_repo: tuple[Path, dict[str, str]]) -> None:
    """The other side: once there is a baseline, the verdict does need numpy (so the test above
    would see it if a first run computed one)."""
    root, env = local_repo
    env = {**env, "ANUBIS_DATA_DIR": str(Path(env["ANUBIS_DATA_DIR"]).parent / "judged")}
    for _ in range(5):  # the default policy's min_history
        loaded(["--repo", str(root), "run", "benchmarks/noop", "-o", "json"], cwd=root, env=env)
    judged = loaded(["--repo", str(root), "run", "benchmarks/noop", "-o", "json"], cwd=root, env=env)
    assert "numpy" in judged


def test_json_output_does_not_import_rich(local_repo: tuple[Path, dict[str, str]]) -> None:
    root, env = local_repo
    for args in (["list", "-o", "json"], ["search", "needle", "-o", "json"]):
        modules = loaded(["--repo", str(root), *args], cwd=root, env=env)
        assert "rich" not in modules, f"anubis {' '.join(args)} imported rich"
