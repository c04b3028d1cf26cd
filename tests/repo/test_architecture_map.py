"""docs/architecture.md is the map of the code: every file, folder and module it names in backticks
exists, and nothing it calls planned or empty is already there. docs/dev/contracts.md points only at
files inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "architecture.md"
PACKAGES = ("anubis", "renderer", "controller", "schemas", "client_lib", "benchmarkai")
_SPAN = re.compile(r"`([^`\n]+)`")
_PATH = re.compile(r"^\.?[A-Za-z0-9_-]+(?:\.[a-z]+)?(?:/[A-Za-z0-9_.-]+)*/?$")
_MODULE = re.compile(rf"^(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_FILE_SUFFIXES = (".py", ".md", ".toml", ".yaml", ".yml", ".json", ".tf", ".j2")


def named_paths(text: str, root: Path) -> list[str]:
    """The repository paths a page names in backticks: spans that look like a path and start at a
    top-level entry of the repository (``anubis.dev/runspec`` is an annotation, ``result.json`` a file of
    an execution's folder: neither is a path of the repository)."""
    top = {p.name for p in root.iterdir()} | {"docs", "controller", "anubis", "renderer", "schemas", "tests"}
    return [span for span in _SPAN.findall(text)
            if _PATH.match(span) and ("/" in span or span.endswith(_FILE_SUFFIXES)) and span.split("/")[0] in top]


def named_modules(text: str) -> list[str]:
    return [span for span in _SPAN.findall(text) if _MODULE.match(span)]


def missing(text: str, root: Path) -> list[str]:
    gone = [p for p in named_paths(text, root) if not (root / p.rstrip("/")).exists()]
    for module in named_modules(text):
        if not _module_exists(root, module):
            gone.append(module)
    return gone


def _module_exists(root: Path, dotted: str) -> bool:
    """``a.b.c`` is a module or package under ``root``, or ``c`` is defined in module ``a.b``."""
    base = root.joinpath(*dotted.split("."))
    if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
        return True
    parent, name = base.parent, base.name
    source = parent.with_suffix(".py") if parent.with_suffix(".py").exists() else parent / "__init__.py"
    if not source.exists():
        return False
    pattern = rf"^(?:def|class)\s+{name}\b|^{name}\s*[:=]|^from\s+\S+\s+import\s+.*\b{name}\b"
    return re.search(pattern, source.read_text(), re.M) is not None


def test_every_path_and_module_the_map_names_exists() -> None:
    text = MAP.read_text()
    assert len(named_paths(text, ROOT)) > 60  # the map names the modules, not only the packages
    assert missing(text, ROOT) == [], "docs/architecture.md names what does not exist (update the map)"


def test_every_package_and_controller_area_is_on_the_map() -> None:
    text = MAP.read_text()
    named = set(named_paths(text, ROOT))
    for package in PACKAGES:
        assert f"`{package}/`" in text, f"the map does not describe the package {package}/"
    for path in sorted((ROOT / "controller").iterdir()):
        if path.name.startswith("__") or path.name == "data" or path.name.endswith((".so", ".pyd")):
            continue  # a built extension is placed by its source (controller/_linescan.c)
        rel = f"controller/{path.name}" + ("/" if path.is_dir() else "")
        assert any(n == rel or n.startswith(rel) for n in named), f"the map does not place {rel}"


def test_the_map_calls_nothing_planned_or_empty() -> None:
    text = MAP.read_text().lower()
    assert "planned" not in text and "is empty" not in text and "not present in this repository" not in text


def test_a_stale_name_is_caught(tmp_path: Path) -> None:
    (tmp_path / "controller").mkdir()
    (tmp_path / "controller" / "__init__.py").write_text("")
    (tmp_path / "controller" / "store.py").write_text("class ResultStore:\n    pass\n")
    page = ("`controller/store.py` and `controller/gone.py`, `controller.store`, `controller.vanished`, "
            "`controller.store.ResultStore`, `controller.store.Gone`, `docs/nowhere.md`, the annotation "
            "`anubis.dev/runspec`, `manifests/<env>/x.yaml`, a run's `result.json`")
    assert missing(page, tmp_path) == ["controller/gone.py", "docs/nowhere.md", "controller.vanished",
                                       "controller.store.Gone"]


@pytest.mark.parametrize("page", ["docs/dev/contracts.md", "docs/architecture.md"])
def test_developer_docs_point_only_inside_the_repository(page: str) -> None:
    text = (ROOT / page).read_text()
    assert "../shared" not in text and "/work/" not in text
    for target in re.findall(r"\]\(([^)#\s]+)", text):
        if "://" in target:
            continue
        resolved = ((ROOT / page).parent / target).resolve()
        assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{page} links to {target}"
