"""``anubis validate``: exit codes, text, JSON and GitHub annotations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anubis.cli import cli
from anubis.diagnostics import github_annotation
from schemas.errors import Problem

PROJECT_ROOT = Path(__file__).resolve().parents[3]

GOOD = """\
spec_version = "0.1.0"

[info]
description = "A test benchmark."

[info.labels]
task_name = "t"

[hardware]
instance_type = "c5.xlarge"

[env]
docker_image = "python:3.11"

[ml]
benchmark_code = "python3 -c pass"
"""
BAD = GOOD.replace('description = "A test benchmark."', 'description = "A test benchmark."\nscheduling = "@often"')
MACROS = "@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT / "environments", repo / "environments")
    (repo / "benchmarks").mkdir()
    return repo


def write(repo: Path, name: str, text: str) -> Path:
    folder = repo / "benchmarks" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "descriptor.toml").write_text(text)
    return folder / "descriptor.toml"


def validate(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--repo", str(repo), "validate", *args])


def test_valid_descriptors_exit_0(repo: Path) -> None:
    write(repo, "a", GOOD)
    write(repo, "b", GOOD + '\n[matrix.axes]\n"env.vars.X" = ["1", "2"]\n')
    result = validate(repo)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "benchmarks/a/descriptor.toml: ok (1 run in cpu-cluster)",
        "benchmarks/b/descriptor.toml: ok (2 runs in cpu-cluster)",
    ]
    assert result.stderr == ""


def test_errors_exit_1_and_name_the_line(repo: Path) -> None:
    write(repo, "a", GOOD)
    write(repo, "b", BAD)
    result = validate(repo)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["benchmarks/a/descriptor.toml: ok (1 run in cpu-cluster)"]
    assert result.stderr.splitlines() == [
        f"benchmarks/b/descriptor.toml:5:1: info.scheduling: unknown schedule macro '@often'; use one of {MACROS}"
    ]
    assert "Traceback" not in result.output


def test_warnings_alone_exit_0(repo: Path) -> None:
    write(repo, "a", GOOD.replace('[ml]\nbenchmark_code = "python3 -c pass"\n', ""))
    result = validate(repo)
    assert result.exit_code == 0
    assert result.stderr.startswith("benchmarks/a/descriptor.toml:13:1: warning: env.docker_image: no ml.benchmark_code")


def test_paths_select_descriptors(repo: Path) -> None:
    write(repo, "a", GOOD)
    bad = write(repo, "b", BAD)
    assert validate(repo, str(repo / "benchmarks" / "a")).exit_code == 0
    assert validate(repo, str(bad)).exit_code == 1


def test_a_missing_path_is_an_error_without_traceback(repo: Path) -> None:
    result = validate(repo, str(repo / "benchmarks" / "nope"))
    assert result.exit_code == 1
    assert result.stderr == f"error: {repo / 'benchmarks' / 'nope'}:1:1: no such file or folder\n"


def test_env_option_checks_against_another_environment(repo: Path) -> None:
    write(repo, "a", GOOD.replace('docker_image = "python:3.11"', 'docker_image = "quay.io/x/y:1"'))
    assert validate(repo).exit_code == 1
    result = validate(repo, "--env", "local")
    assert result.exit_code == 0
    assert result.stdout == "benchmarks/a/descriptor.toml: ok (1 run in local)\n"


def test_json_output(repo: Path) -> None:
    write(repo, "a", GOOD)
    write(repo, "b", BAD)
    result = validate(repo, "--output", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    [run_id] = report["descriptors"][0]["runs"]
    assert run_id.startswith("a-")
    assert report == {
        "valid": False,
        "descriptors": [
            {
                "descriptor": "benchmarks/a/descriptor.toml",
                "valid": True,
                "runs": [run_id],
                "environments": ["cpu-cluster"],
                "problems": [],
            },
            {
                "descriptor": "benchmarks/b/descriptor.toml",
                "valid": False,
                "runs": [],
                "environments": [],
                "problems": [
                    {
                        "path": "benchmarks/b/descriptor.toml",
                        "line": 5,
                        "column": 1,
                        "field": "info.scheduling",
                        "message": f"unknown schedule macro '@often'; use one of {MACROS}",
                        "severity": "error",
                    }
                ],
            },
        ],
    }


def test_json_output_when_valid(repo: Path) -> None:
    write(repo, "a", GOOD + '\n[matrix.axes]\n"env.vars.X" = ["1", "2"]\n')
    result = validate(repo, "--output", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert len(report["descriptors"][0]["runs"]) == 2


def test_github_annotations(repo: Path) -> None:
    write(repo, "b", BAD)
    result = validate(repo, "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "::error file=benchmarks/b/descriptor.toml,line=5,col=1,title=info.scheduling::unknown schedule macro"
        f" '@often'; use one of {MACROS}"
    ]
    assert result.stderr.splitlines() == [
        f"benchmarks/b/descriptor.toml:5:1: info.scheduling: unknown schedule macro '@often'; use one of {MACROS}"
    ]


def test_github_annotations_escape_percent_in_messages(repo: Path) -> None:
    # the message quotes the value with repr(), so its newline arrives as the two characters \\n
    write(repo, "b", BAD.replace('"@often"', '"@50%\\nnow"'))
    result = validate(repo, "--format", "github")
    assert result.stdout.splitlines() == [
        "::error file=benchmarks/b/descriptor.toml,line=5,col=1,title=info.scheduling::the value '@50%25\\nnow'"
        " holds the control character '\\n'; it must be one line of printable text: remove it"
    ]


def test_github_annotations_escape_commas_and_colons_in_properties(repo: Path) -> None:
    write(repo, "x,y:z", GOOD.replace('task_name = "t"', 'task_name = "t"\n"a,b:c" = "v"'))
    result = validate(repo, "--format", "github")
    [line] = result.stdout.splitlines()
    assert line.startswith(
        "::error file=benchmarks/x%2Cy%3Az/descriptor.toml,line=8,col=1,title=info.labels.a%2Cb%3Ac::label key 'a,b:c'"
        " is not valid: "
    )


def test_github_warning_annotation(repo: Path) -> None:
    write(repo, "a", GOOD + '\n[[data.sources]]\nuri = "https://e.com/a"\npath = "/data/a"\n')
    result = validate(repo, "--format", "github")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == (
        "::warning file=benchmarks/a/descriptor.toml,line=19,col=1,title=data.sources[0].uri::'uri' is deprecated;"
        " rename it to 'src' (it still works)"
    )


@pytest.mark.parametrize(
    ("problem", "line"),
    [
        (Problem("p.toml", 3, 7, "f.g", "m"), "::error file=p.toml,line=3,col=7,title=f.g::m"),
        (Problem("p.toml", 1, 1, "", "no field"), "::error file=p.toml,line=1,col=1::no field"),
        (Problem("a:b,c%.toml", 1, 1, "x:y,z", "100% sure\r\nnext: a, b", "warning"),
         "::warning file=a%3Ab%2Cc%25.toml,line=1,col=1,title=x%3Ay%2Cz::100%25 sure%0D%0Anext: a, b"),
    ],
)
def test_github_annotation_escaping(problem: Problem, line: str) -> None:
    assert github_annotation(problem) == line


def test_repo_is_found_from_the_current_folder(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, "a", GOOD)
    monkeypatch.delenv("ANUBIS_REPO", raising=False)
    monkeypatch.chdir(repo / "benchmarks" / "a")
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 0
    assert result.stdout == "benchmarks/a/descriptor.toml: ok (1 run in cpu-cluster)\n"


def test_repo_option_wins_over_the_current_folder(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, "a", BAD)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(repo, elsewhere)
    write(elsewhere, "a", GOOD)
    monkeypatch.chdir(repo)
    assert CliRunner().invoke(cli, ["validate"]).exit_code == 1
    assert CliRunner().invoke(cli, ["--repo", str(elsewhere), "validate"]).exit_code == 0
