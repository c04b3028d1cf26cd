"""The code as a reviewer would check it: mypy --strict on the packages and ruff's rules (both configured in
pyproject.toml, where the rule set is argued), run by the suite so a finding fails it like a test. The
import contracts (import-linter) are checked in test_repository.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)


def test_mypy_strict_finds_nothing() -> None:
    result = _run("mypy", "--no-error-summary")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checks_fail_on_a_finding(tmp_path: Path) -> None:
    """Each check does fail: an unused import and a wrong type in a scratch module are both found."""
    module = tmp_path / "scratch.py"
    module.write_text("import os\n\n\ndef f() -> int:\n    return 'x'\n", encoding="utf-8")
    ruff = _run("ruff", "check", "--no-cache", "--isolated", "--select", "F", str(module))
    assert ruff.returncode == 1 and "F401" in ruff.stdout
    mypy = _run("mypy", "--strict", "--no-error-summary", str(module))
    assert mypy.returncode == 1 and "Incompatible return value type" in mypy.stdout
