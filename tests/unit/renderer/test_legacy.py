"""renderer/legacy.py: the original Anubis's forms, read the way it read them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_validation import SHOWN, descriptor, errors, line_of, make_repo, plan, write_descriptor

from renderer.legacy import home_path, label_safe


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def test_task_name_under_info_is_the_label_with_a_warning_saying_how_to_move_it(repo: Path) -> None:
    text = descriptor(info='task_name = "Example single node benchmark"', labels=None)
    planned = plan(repo, write_descriptor(repo, text))
    assert planned.runs[0].labels == {"task_name": "Example-single-node-benchmark"}
    assert [w.format() for w in planned.warnings] == [
        f"{SHOWN}:{line_of(text, 'task_name =')}:1: warning: info.task_name: task_name under [info] is deprecated;"
        ' move it to [info.labels] as task_name = "Example-single-node-benchmark"'
    ]
    assert (repo / "benchmarks" / "t" / "descriptor.toml").read_text() == text  # the file is not touched


def test_task_name_under_info_beside_other_labels(repo: Path) -> None:
    text = descriptor(info='task_name = "hello"', labels='custom = "x"')
    [run] = plan(repo, write_descriptor(repo, text)).runs
    assert run.labels == {"custom": "x", "task_name": "hello"}


def test_task_name_in_both_places_keeps_the_label(repo: Path) -> None:
    planned = plan(repo, write_descriptor(repo, descriptor(info='task_name = "other"')))
    assert planned.runs[0].labels == {"task_name": "t"}
    assert "already has one; delete this line" in planned.warnings[0].message


def test_a_home_relative_data_path_is_under_root(repo: Path) -> None:
    text = descriptor(tail='[data]\n[[data.sources]]\nsrc = "s3://b/k"\npath = "~/data/imagenet/train"\n')
    [run] = plan(repo, write_descriptor(repo, text)).runs
    assert [d.path for d in run.data] == ["/root/data/imagenet/train"]


@pytest.mark.parametrize(("given", "meant"), [("~", "/root"), ("~/x", "/root/x"), ("/x/~", "/x/~"), ("~x", "~x")])
def test_home_path(given: str, meant: str) -> None:
    assert home_path(given) == meant


def test_label_safe() -> None:
    assert label_safe("MLPerf image classification / Tensorflow") == "MLPerf-image-classification-Tensorflow"
    assert label_safe("!!!") == "benchmark"
    assert len(label_safe("x" * 100)) == 63


SERVER = """
[server.hardware]
instance_type = "c5.xlarge"

[server.env]
docker_image = "python:3.11"
start_command = ""
ports = [8080]
"""


def test_an_empty_start_command_is_the_images_entrypoint(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\nstrategy = "inference"', tail=SERVER)
    [run] = plan(repo, write_descriptor(repo, text)).runs
    assert run.server is not None and run.server.command == ()


def test_an_empty_start_command_takes_no_arguments(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\nstrategy = "inference"',
                      tail=SERVER + 'start_command_args = "--port 8080"\n')
    assert errors(repo, write_descriptor(repo, text)) == [
        f"{SHOWN}:{line_of(text, 'start_command_args')}:1: server.env.start_command_args: an empty start_command runs"
        " the image's own entrypoint, which cannot be given start_command_args here; write the entrypoint's command"
        " in start_command, or remove start_command_args"
    ]
