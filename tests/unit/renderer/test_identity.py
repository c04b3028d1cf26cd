"""renderer/identity.py through planning: the same content gives the same run id, any change a new one."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from helpers_validation import descriptor, make_repo, plan, write_descriptor

from renderer.identity import SLUG_MAX, slug
from schemas.runspec import RunSpec

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SCRIPTED = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"')


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def one_run(repo: Path, text: str = SCRIPTED, name: str = "t", **kwargs: object) -> RunSpec:
    path = write_descriptor(repo, text, name=name)
    src = path.parent / "src"
    if "BAI_SCRIPTS_PATH" in text and not src.exists():
        src.mkdir()
        (src / "a.py").write_text("print('accuracy=0.5')\n")
    [run] = plan(repo, path, **kwargs).runs
    return run


def as_bytes(run: RunSpec) -> bytes:
    return json.dumps(run.to_dict(), sort_keys=True).encode()


def test_same_content_same_run_and_identical_runspec(repo: Path) -> None:
    first = one_run(repo)
    second = one_run(repo)
    assert first.run_id == second.run_id
    assert as_bytes(first) == as_bytes(second)
    assert RunSpec.from_dict(first.to_dict()) == first


def test_same_content_in_another_checkout_same_run(tmp_path: Path) -> None:
    a = one_run(make_repo(tmp_path / "a"))
    b = one_run(make_repo(tmp_path / "b"))
    assert as_bytes(a) == as_bytes(b)


def test_comments_and_layout_do_not_change_the_run(repo: Path) -> None:
    first = one_run(repo)
    second = one_run(repo, "# a comment\n\n" + SCRIPTED.replace(" = ", "   =   "))
    assert (first.run_id, first.descriptor_hash) == (second.run_id, second.descriptor_hash)


def test_descriptor_change_gives_a_new_run(repo: Path) -> None:
    first = one_run(repo)
    second = one_run(repo, SCRIPTED.replace('description = "A test benchmark."', 'description = "Changed."'))
    assert first.run_id != second.run_id
    assert first.descriptor_hash != second.descriptor_hash


def test_script_content_change_gives_a_new_run(repo: Path) -> None:
    first = one_run(repo)
    (repo / "benchmarks" / "t" / "src" / "a.py").write_text("print('accuracy=0.6')\n")
    second = one_run(repo)
    assert first.run_id != second.run_id
    assert first.descriptor_hash == second.descriptor_hash
    assert first.script is not None and second.script is not None
    assert first.script.digest != second.script.digest


def test_new_script_file_gives_a_new_run(repo: Path) -> None:
    first = one_run(repo)
    (repo / "benchmarks" / "t" / "src" / "b.py").write_text("")
    assert one_run(repo).run_id != first.run_id


def test_ignored_files_do_not_change_the_run(repo: Path) -> None:
    first = one_run(repo)
    cache = repo / "benchmarks" / "t" / "src" / "__pycache__"
    cache.mkdir()
    (cache / "a.cpython-311.pyc").write_bytes(b"\0")
    (repo / "benchmarks" / "t" / "src" / "a.py.swp").write_bytes(b"\0")
    assert one_run(repo).run_id == first.run_id


def test_executable_bit_gives_a_new_run(repo: Path) -> None:
    first = one_run(repo)
    script = repo / "benchmarks" / "t" / "src" / "a.py"
    os.chmod(script, 0o755)
    second = one_run(repo)
    assert first.run_id != second.run_id
    assert second.script is not None and second.script.files[0].executable is True


def test_environment_change_gives_a_new_run(repo: Path) -> None:
    first = one_run(repo)
    env = repo / "environments" / "cpu-cluster.toml"
    text = env.read_text()
    assert '[instance_types."c5.*"]' in text
    env.write_text(text.replace('[instance_types."c5.*"]', '[instance_types."c5.xlarge"]\ncpu = "3"\n\n[instance_types."c5.*"]'))
    second = one_run(repo)
    assert first.run_id != second.run_id
    assert first.descriptor_hash == second.descriptor_hash


def test_environment_description_and_links_do_not_change_the_run(repo: Path) -> None:
    first = one_run(repo)
    env = repo / "environments" / "cpu-cluster.toml"
    env.write_text(
        env.read_text()
        .replace('description = "EKS CPU', 'description = "Renamed EKS CPU')
        .replace("https://grafana.example.com", "https://grafana.other.example.com")
    )
    assert one_run(repo).run_id == first.run_id


def test_another_environment_gives_a_new_run(repo: Path) -> None:
    assert one_run(repo).run_id != one_run(repo, environment="local").run_id


def test_each_matrix_point_is_a_different_run(repo: Path) -> None:
    text = SCRIPTED + '\n[matrix.axes]\n"env.vars.X" = ["1", "2", "3"]\n'
    path = write_descriptor(repo, text)
    (path.parent / "src").mkdir()
    (path.parent / "src" / "a.py").write_text("")
    runs = plan(repo, path).runs
    assert len({r.run_id for r in runs}) == 3
    assert len({r.descriptor_hash for r in runs}) == 3


def test_a_matrix_point_equal_to_a_plain_descriptor_is_the_same_run(repo: Path) -> None:
    plain = one_run(repo, descriptor(env='docker_image = "python:3.11"\nvars = { X = "1" }'))
    with_matrix = one_run(repo, descriptor() + '\n[matrix.axes]\n"env.vars.X" = ["1"]\n')
    assert plain.descriptor_hash == with_matrix.descriptor_hash
    assert plain.run_id == with_matrix.run_id


def test_rerun_gives_a_new_run_id_with_the_same_content_hash(repo: Path) -> None:
    first = one_run(repo)
    second = one_run(repo, SCRIPTED.replace('description = "A test benchmark."', 'description = "A test benchmark."\nrerun = 1'))
    assert first.run_id != second.run_id
    assert first.descriptor_hash == second.descriptor_hash
    assert first.family_id == second.family_id
    assert (first.rerun, second.rerun) == (0, 1)


def test_rerun_zero_is_the_same_as_none(repo: Path) -> None:
    first = one_run(repo)
    second = one_run(repo, SCRIPTED.replace('description = "A test benchmark."', 'description = "A test benchmark."\nrerun = 0'))
    assert first.run_id == second.run_id


def test_source_is_not_part_of_the_identity(repo: Path) -> None:
    from schemas.runspec import Source

    first = one_run(repo)
    second = one_run(repo, source=Source(repository="o/r", commit="a" * 40, pull_request=7))
    assert first.run_id == second.run_id
    assert first.source != second.source


@pytest.mark.parametrize("name", ["x" * 200, "A_Very.Long--Benchmark_Name" * 6, "Ünïcode-ß-bench", "---", "9" * 80])
def test_run_ids_are_dns_labels_of_at_most_56_characters(repo: Path, name: str) -> None:
    # local: a cluster refuses a benchmark folder name that is not a label value (test_render_refusals)
    run = one_run(repo, descriptor(), name=name, environment="local")
    assert DNS_1123_LABEL.match(run.run_id), run.run_id
    assert len(run.run_id) <= 56
    assert DNS_1123_LABEL.match(run.family_id) and len(run.family_id) <= 56


@pytest.mark.parametrize(
    ("name", "expected"),
    [("hello-world", "hello-world"), ("Hello_World", "hello-world"), ("a..b", "a-b"), ("--", "benchmark"),
     ("x" * 100, "x" * SLUG_MAX), ("a" * 39 + "-b", "a" * 39)],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected
