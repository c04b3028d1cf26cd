"""One import convention for the tests, so that `pytest` and `python -m pytest` collect the same tests.

The tests folder is on sys.path (pyproject's ``[tool.pytest.ini_options] pythonpath``); test folders
are not packages, so pytest imports each test module by its file name ("prepend" import mode). Hence:
helpers are imported from the tests folder (``from fakes import ...``, ``from e2e.conftest import ...``),
never as ``tests.``, which only resolves when the repository root happens to be on sys.path (``python -m``);
and no two test modules share a file name, which makes collection fail in both."""

from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts and "cases" not in p.parts)


def test_the_tests_folder_is_on_pytest_s_path() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert options.get("pythonpath") == ["tests"]


def test_no_test_imports_the_tests_folder_as_a_package() -> None:
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                          if n == "tests" or n.startswith("tests.")]
    assert not offenders, "import from the tests folder instead (`from fakes import ...`):\n" + "\n".join(offenders)


def test_test_modules_have_unique_file_names() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in _python_files():
        if path.name.startswith("test_") and "fakes" not in path.parts and "services" not in path.parts:
            by_name[path.name].append(str(path.relative_to(ROOT)))
    clashes = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert not clashes, f"pytest cannot import two test modules of one name; rename one: {clashes}"
