"""``anubis init``: what it writes, that it overwrites nothing, and ``--check``'s drift report."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anubis.cli import cli
from anubis.extras import missing_extra_message
from anubis.scaffolding import REQUIREMENT_FILE, InitOptions, installed_version, options_of, scaffold

ROOT = Path(__file__).resolve().parents[3]


def init(*args: str) -> Result:
    return CliRunner().invoke(cli, ["init", *args])


@pytest.fixture
def team(tmp_path: Path) -> Path:
    result = init(str(tmp_path / "team"), "--url", "https://github.com/acme/benchmarks")
    assert result.exit_code == 0, result.output
    return tmp_path / "team"


def test_it_writes_a_whole_repository(team: Path) -> None:
    written = sorted(str(p.relative_to(team)) for p in team.rglob("*") if p.is_file())
    for path in [".github/anubis-requirement.txt", ".github/workflows/pull-request.yml", ".github/workflows/publish.yml",
                 "README.md", "anubis.toml", "benchmarks/hello/descriptor.toml", "benchmarks/hello/src/bench.py",
                 "environments/cpu-cluster.toml", "environments/gpu-cluster.toml", "environments/local.toml",
                 "manifests/argocd/appproject-anubis.yaml", "manifests/argocd/application-cpu-cluster.yaml"]:
        assert path in written
    assert ".github/workflows/release.yml" not in written  # Anubis's own releases only
    assert 'url = "https://github.com/acme/benchmarks"' in (team / "anubis.toml").read_text()
    assert "https://github.com/acme/benchmarks" in (team / "manifests/argocd/application-cpu-cluster.yaml").read_text()
    pin = (team / REQUIREMENT_FILE).read_text().splitlines()[-1]
    assert pin == f"anubis-bench[github]=={installed_version()}"


def test_the_workflows_are_this_repositorys_own(team: Path) -> None:
    for path in (ROOT / ".github" / "workflows").glob("*.yml"):
        if path.name != "release.yml":
            assert (team / ".github" / "workflows" / path.name).read_bytes() == path.read_bytes(), path.name
    for path in (ROOT / "environments").glob("*.toml"):
        assert (team / "environments" / path.name).read_bytes() == path.read_bytes(), path.name


def test_the_example_benchmark_validates(team: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(team / "benchmarks")])
    assert result.exit_code == 0, result.output
    assert "benchmarks/hello/descriptor.toml: ok (1 run in cpu-cluster)" in result.stdout


def test_it_overwrites_nothing(team: Path) -> None:
    readme = team / "README.md"
    readme.write_text("ours\n")
    result = init(str(team))
    assert result.exit_code == 1
    assert "overwrites nothing" in result.stderr and "Traceback" not in result.output
    assert readme.read_text() == "ours\n"


def test_a_git_pin_at_the_release_tag(tmp_path: Path) -> None:
    result = init(str(tmp_path / "t"), "--install", "git", "--anubis-version", "1.2.3", "--url", "https://github.com/x/y")
    assert result.exit_code == 0, result.output
    pin = (tmp_path / "t" / REQUIREMENT_FILE).read_text().splitlines()[-1]
    assert pin == "anubis-bench[github] @ git+https://github.com/anubis-bench/anubis@v1.2.3"
    assert options_of(tmp_path / "t").source == "git"


def test_a_url_that_is_not_githubs_writes_nothing(tmp_path: Path) -> None:
    result = init(str(tmp_path / "t"), "--url", "https://example.com/x/y")
    assert result.exit_code == 2 and "not a GitHub repository URL" in result.output
    assert not (tmp_path / "t").exists()


def test_check_passes_on_a_fresh_repository_and_lists_the_teams_own_edits(team: Path) -> None:
    result = init("--check", str(team))
    assert result.exit_code == 0, result.output
    (team / "environments" / "cpu-cluster.toml").write_text("# ours\n")
    result = init("--check", str(team))
    assert result.exit_code == 0
    assert "changed  environments/cpu-cluster.toml  (yours)" in result.stdout


def test_check_fails_when_anubis_files_drift(team: Path) -> None:
    workflow = team / ".github" / "workflows" / "publish.yml"
    workflow.write_text(workflow.read_text() + "# edited\n")
    (team / ".github" / "workflows" / "preview.yml").unlink()
    result = init("--check", str(team))
    assert result.exit_code == 1
    assert "changed  .github/workflows/publish.yml  (Anubis's)" in result.stdout
    assert "missing  .github/workflows/preview.yml  (Anubis's)" in result.stdout


def test_check_against_another_release_reports_the_pin(team: Path) -> None:
    result = init("--check", "--anubis-version", "9.9.9", str(team))
    assert result.exit_code == 1
    assert f"changed  {REQUIREMENT_FILE}  (Anubis's)" in result.stdout


def test_scaffold_is_sorted_and_marks_anubis_files() -> None:
    files = scaffold(InitOptions(url="https://x/y", version="1.0.0"))
    assert [f.path for f in files] == sorted(f.path for f in files)
    assert {f.path for f in files if f.managed} == {REQUIREMENT_FILE} | {
        f".github/workflows/{p.name}" for p in (ROOT / ".github" / "workflows").glob("*.yml") if p.name != "release.yml"
    }


@pytest.mark.parametrize(("module", "extra"), [("kubernetes", "cluster"), ("elasticsearch", "cluster"),
                                               ("orjson", "cluster"), ("boto3", "s3"), ("github", "github")])
def test_a_missing_client_names_its_extra(module: str, extra: str) -> None:
    message = missing_extra_message(ModuleNotFoundError(f"No module named '{module}'", name=module))
    assert message is not None and f"pip install 'anubis-bench[{extra}]'" in message
    assert missing_extra_message(ModuleNotFoundError("No module named 'yaml'", name="yaml")) is None
