"""What ``anubis init`` writes: a team's benchmarks repository, and how it has drifted since.

The files come from the package (``anubis/scaffold/``): the workflows are this repository's own
``.github/workflows/`` and the environments its ``environments/`` (the scaffold folder links to them,
and the wheel carries copies), so a team's repository runs exactly the workflows Anubis tests. What
differs between the two layouts is one file: a team's repository pins the Anubis release its
workflows install in ``.github/anubis-requirement.txt``; Anubis's own repository has none and
installs itself.

Files are *Anubis's* (the workflows and the pin: ``--check`` fails when they differ from what this
version writes) or *the team's* (environments, ``anubis.toml``, the example, the README: written
once, then theirs to change; ``--check`` lists them but does not fail).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from schemas.errors import AnubisError

PACKAGE = "anubis-bench"
RELEASE_REPOSITORY = "https://github.com/anubis-bench/anubis"  # where release tags v<version> live
REQUIREMENT_FILE = ".github/anubis-requirement.txt"
EXTRAS = "github"  # what the workflows need beyond the base install (report, respond, preview)
Source = Literal["package", "git"]
ANUBIS_ONLY_WORKFLOWS = frozenset({"release.yml"})  # Anubis's own releases; a team's repository has none


@dataclass(frozen=True)
class InitOptions:
    url: str  # the team repository's URL (anubis.toml, Argo CD's repoURL)
    branch: str = "main"
    source: Source = "package"
    version: str = ""  # the Anubis release to pin (default: this one)
    git_url: str = RELEASE_REPOSITORY

    def requirement(self) -> str:
        version = self.version or installed_version()
        if self.source == "git":
            return f"{PACKAGE}[{EXTRAS}] @ git+{self.git_url}@v{version}"
        return f"{PACKAGE}[{EXTRAS}]=={version}"


@dataclass(frozen=True)
class ScaffoldFile:
    path: str  # relative, with forward slashes
    text: str
    managed: bool  # Anubis's (kept identical) rather than the team's (edited freely)


@dataclass(frozen=True)
class Drift:
    path: str
    state: Literal["same", "changed", "missing"]
    managed: bool


class ScaffoldError(AnubisError):
    """``anubis init`` cannot write where it was asked to."""


def installed_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "0.0.0"


def _scaffold() -> Traversable:
    return resources.files("anubis").joinpath("scaffold")


def _files_under(folder: Traversable, prefix: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found.extend(_files_under(entry, f"{prefix}{entry.name}/"))
        else:
            found.append((f"{prefix}{entry.name}", entry.read_text(encoding="utf-8")))
    return found


def scaffold(options: InitOptions) -> list[ScaffoldFile]:
    """Every file of a new benchmarks repository, in path order."""
    root = _scaffold()
    files = [ScaffoldFile(f".github/workflows/{name}", text, True)
             for name, text in _files_under(root.joinpath("workflows"), "")
             if name.endswith(".yml") and name not in ANUBIS_ONLY_WORKFLOWS]
    files.append(ScaffoldFile(REQUIREMENT_FILE, _requirement_text(options), True))
    files.extend(ScaffoldFile(f"environments/{name}", text, False)
                 for name, text in _files_under(root.joinpath("environments"), "") if name.endswith(".toml"))
    files.append(ScaffoldFile("anubis.toml", _project_text(options), False))
    files.extend(ScaffoldFile(name, text, False) for name, text in _files_under(root.joinpath("team"), ""))
    return sorted(files, key=lambda f: f.path)


def _requirement_text(options: InitOptions) -> str:
    return (
        "# The Anubis release this repository's workflows install (written by `anubis init`).\n"
        "# To move to another release, change it here and run `anubis init --check` with that release.\n"
        f"{options.requirement()}\n"
    )


def _project_text(options: InitOptions) -> str:
    return (
        "# This benchmarks repository (read by `anubis render`: Argo CD syncs manifests/ from it).\n"
        "[repository]\n"
        f'url = "{options.url}"\n'
        f'default_branch = "{options.branch}"\n'
    )


def write_scaffold(root: Path, files: list[ScaffoldFile]) -> list[str]:
    """Write every file under ``root``; refuses (writing nothing) when any of them exists."""
    existing = [f.path for f in files if (root / f.path).exists() or (root / f.path).is_symlink()]
    if existing:
        shown = ", ".join(existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise ScaffoldError(
            f"{root} already has {shown}; `anubis init` writes only into a new repository and overwrites"
            " nothing. Use `anubis init --check` to see how an existing one differs from this version."
        )
    for f in files:
        path = root / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.text, encoding="utf-8")
    return [f.path for f in files]


def drift(root: Path, files: list[ScaffoldFile]) -> list[Drift]:
    report = []
    for f in files:
        path = root / f.path
        if not path.is_file():
            report.append(Drift(f.path, "missing", f.managed))
        else:
            same = path.read_text(encoding="utf-8", errors="replace") == f.text
            report.append(Drift(f.path, "same" if same else "changed", f.managed))
    return report


_GIT_PIN = re.compile(r"@\s*git\+(?P<url>\S+?)@v(?P<version>\S+)\s*$")


def options_of(root: Path, version: str = "") -> InitOptions:
    """The options an existing repository was made with (its anubis.toml and its pin), to compare it
    with what this version (or ``version``) would write."""
    url, branch = "", "main"
    project = root / "anubis.toml"
    if project.is_file():
        try:
            data = tomllib.loads(project.read_text(encoding="utf-8")).get("repository", {})
        except tomllib.TOMLDecodeError as e:
            raise ScaffoldError(f"{project}: cannot read it ({e}); fix its syntax first") from e
        url, branch = str(data.get("url", "")), str(data.get("default_branch", "main"))
    source: Source = "package"
    git_url = RELEASE_REPOSITORY
    pin = root / REQUIREMENT_FILE
    if pin.is_file():
        for line in pin.read_text(encoding="utf-8").splitlines():
            match = _GIT_PIN.search(line)
            if match and not line.lstrip().startswith("#"):
                source, git_url = "git", match.group("url")
    return InitOptions(url=url, branch=branch, source=source, version=version, git_url=git_url)
