"""Every kind of schema message: the exact sentence, at the exact line of the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_validation import SHOWN, descriptor, errors, line_of, make_repo, write_descriptor


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def check(repo: Path, text: str) -> list[str]:
    return errors(repo, write_descriptor(repo, text))


INFERENCE = """
[server.hardware]
instance_type = "c5.xlarge"

[server.env]
docker_image = "python:3.11"
start_command = "python3 -m http.server 8080"
ports = [8080]
"""


# --- required fields ------------------------------------------------------------------------------


def test_missing_top_level_field_is_reported_at_the_start_of_the_file(repo: Path) -> None:
    assert check(repo, descriptor(head="")) == [
        f"{SHOWN}:1:1: spec_version: missing required field 'spec_version'; add it"
    ]


def test_missing_top_level_table(repo: Path) -> None:
    assert check(repo, descriptor(env=None)) == [f"{SHOWN}:1:1: env: missing required field 'env'; add it"]


def test_missing_nested_field_is_reported_at_its_table_header(repo: Path) -> None:
    text = descriptor(env="privileged = false")
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, '[env]')}:1: env: missing required field 'docker_image'; add it under [env]"
    ]


def test_missing_task_name_label(repo: Path) -> None:
    text = descriptor(labels='team = "perf"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, '[info.labels]')}:1: info.labels: missing required field 'task_name';"
        " add it under [info.labels]"
    ]


def test_missing_src_of_a_data_source(repo: Path) -> None:
    text = descriptor(tail='[[data.sources]]\npath = "/data/a"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, '[[data.sources]]')}:1: data.sources[0]: missing required field 'src'"
        " (the URL to download); add it"
    ]


def test_src_and_uri_together(repo: Path) -> None:
    text = descriptor(tail='[[data.sources]]\nsrc = "https://e.com/a"\nuri = "https://e.com/a"\npath = "/data/a"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, '[[data.sources]]')}:1: data.sources[0]: give either src or the deprecated uri, not both"
    ]


# --- unknown fields ------------------------------------------------------------------------------


def test_unknown_field_with_a_suggestion(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\nstrateg = "horovod"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'strateg =')}:1: hardware.strateg: unknown field 'strateg'; did you mean 'strategy'?"
    ]


def test_unknown_field_without_a_close_match_lists_the_allowed_ones(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\ncolour = "red"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'colour =')}:1: hardware.colour: unknown field 'colour';"
        " allowed: availability_zone, aws_zone_id, distributed, instance_type, strategy"
    ]


def test_unknown_table_is_reported_at_its_header(repo: Path) -> None:
    text = descriptor(tail='[outputs]\n[[outputs.metrics]]\nname = "a"\nunits = "ms"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, '[outputs]')}:1: outputs: unknown field 'outputs'; did you mean 'output'?"
    ]


def test_unknown_table_named_only_by_a_sub_table_header(repo: Path) -> None:
    text = descriptor(tail='[[outputs.metrics]]\nname = "a"\nunits = "ms"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, '[[outputs.metrics]]')}:1: outputs: unknown field 'outputs'; did you mean 'output'?"
    ]


def test_unknown_field_in_an_array_of_tables_element(repo: Path) -> None:
    text = descriptor(tail='[[output.metrics]]\nname = "a"\nunits = "ms"\n\n[[output.metrics]]\nname = "b"\nunit = "ms"')
    problems = check(repo, text)
    assert problems == [
        f"{SHOWN}:{line_of(text, '[[output.metrics]]', 2)}:1: output.metrics[1]: missing required field 'units';"
        " add it under [output.metrics[1]]",
        f"{SHOWN}:{line_of(text, 'unit = ')}:1: output.metrics[1].unit: unknown field 'unit'; did you mean 'units'?",
    ]


# --- enums and types -----------------------------------------------------------------------------


def test_enum(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\nstrategy = "mpi"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'strategy =')}:1: hardware.strategy: must be one of 'single_node', 'horovod',"
        " 'inference' (got 'mpi')"
    ]


def test_spec_version_enum(repo: Path) -> None:
    assert check(repo, descriptor(head='spec_version = "0.2.0"')) == [
        f"{SHOWN}:1:1: spec_version: must be one of '0.1.0' (got '0.2.0')"
    ]


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        ("hardware", 'instance_type = 4', "hardware.instance_type: must be a string, not an integer"),
        ("env", 'docker_image = "python:3.11"\nprivileged = "yes"', "env.privileged: must be true or false, not a string"),
        ("env", 'docker_image = "python:3.11"\nvars = ["A=1"]', "env.vars: must be a table, not an array"),
        ("env", 'docker_image = "python:3.11"\nvars = { A = 1 }', "env.vars.A: must be a string, not an integer"),
        ("env", 'docker_image = "python:3.11"\nextended_shm = 1.5', "env.extended_shm: must be true or false, not a number"),
    ],
)
def test_type(repo: Path, section: str, line: str, expected: str) -> None:
    text = descriptor(**{section: line})
    key = line.splitlines()[-1].split(" =")[0]
    assert check(repo, text) == [f"{SHOWN}:{line_of(text, key + ' =')}:1: {expected}"]


def test_minimum(repo: Path) -> None:
    text = descriptor(info="rerun = -1")
    assert check(repo, text) == [f"{SHOWN}:{line_of(text, 'rerun =')}:1: info.rerun: must be at least 0 (got -1)"]


def test_exclusive_bounds(repo: Path) -> None:
    text = descriptor(tail='[[output.metrics]]\nname = "a"\nunits = "ms"\n[output.metrics.regression]\nconfidence = 1.0')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'confidence =')}:1: output.metrics[0].regression.confidence: must be less than 1"
        " (got 1.0)"
    ]


def test_empty_string(repo: Path) -> None:
    text = descriptor(hardware='instance_type = ""')
    line = line_of(text, "instance_type =")
    assert check(repo, text) == [
        f"{SHOWN}:{line}:1: hardware.instance_type: must not be empty",
    ]


def test_empty_ports(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\nstrategy = "inference"', tail=INFERENCE.replace("[8080]", "[]"))
    assert check(repo, text) == [f"{SHOWN}:{line_of(text, 'ports =')}:1: server.env.ports: needs at least 1 item(s)"]


def test_empty_matrix_axes(repo: Path) -> None:
    text = descriptor(tail="[matrix.axes]")
    assert check(repo, text) == [f"{SHOWN}:{line_of(text, '[matrix.axes]')}:1: matrix.axes: needs at least 1 entry"]


def test_generic_pattern_message_names_the_pattern(repo: Path) -> None:
    text = descriptor(
        hardware='instance_type = "c5.xlarge"\nstrategy = "inference"',
        tail=INFERENCE + '\n[server.env.readiness_probe]\npath = "ping"',
    )
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'path = ')}:1: server.env.readiness_probe.path: 'ping' does not match the expected"
        " form (^/)"
    ]


# --- labels ---------------------------------------------------------------------------------------

LABEL_RULE = "use at most 63 characters, letters, digits, '-', '_' and '.', starting and ending with a letter or digit"


def test_label_key_syntax(repo: Path) -> None:
    text = descriptor(labels='task_name = "t"\n"bad key!" = "x"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'bad key!')}:1: info.labels.bad key!: label key 'bad key!' is not valid: {LABEL_RULE}"
    ]


def test_label_value_syntax(repo: Path) -> None:
    text = descriptor(labels='task_name = "t"\nteam = "-perf"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'team =')}:1: info.labels.team: label value '-perf' is not valid: {LABEL_RULE}"
    ]


def test_label_value_too_long(repo: Path) -> None:
    text = descriptor(labels=f'task_name = "{"a" * 64}"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'task_name =')}:1: info.labels.task_name: label value '{'a' * 64}' is not valid:"
        f" {LABEL_RULE}"
    ]


def test_at_most_ten_labels(repo: Path) -> None:
    labels = 'task_name = "t"\n' + "\n".join(f'k{i} = "v"' for i in range(10))
    text = descriptor(labels=labels)
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, '[info.labels]')}:1: info.labels: has 11 entries; at most 10 are allowed"
    ]


def test_ten_labels_are_fine(repo: Path) -> None:
    labels = 'task_name = "t"\n' + "\n".join(f'k{i} = "v"' for i in range(9))
    path = write_descriptor(repo, descriptor(labels=labels))
    from helpers_validation import plan

    assert len(plan(repo, path).runs[0].labels) == 10


# --- forms of particular fields -------------------------------------------------------------------


@pytest.mark.parametrize("md5", ["abc", "sha256", "ab cd", "0123456789abcdef0123456789abcdeg"])
def test_md5_form(repo: Path, md5: str) -> None:
    text = descriptor(tail=f'[[data.sources]]\nsrc = "https://e.com/a"\npath = "/data/a"\nmd5 = "{md5}"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'md5 =')}:1: data.sources[0].md5: checksum '{md5}' is not valid: give 32 hex digits"
        " (MD5) or 'algorithm:hexdigest' such as 'sha256:…'"
    ]


def test_empty_md5_means_no_checksum(repo: Path) -> None:
    from helpers_validation import plan

    text = descriptor(tail='[[data.sources]]\nsrc = "https://e.com/a"\npath = "/data/a"\nmd5 = ""')
    assert plan(repo, write_descriptor(repo, text)).runs[0].data[0].checksum is None


def test_duration_form_points_at_the_field_and_shows_the_forms(repo: Path) -> None:
    text = descriptor(info='timeout = "10 minutes"')
    [problem] = check(repo, text)
    assert problem.startswith(f"{SHOWN}:{line_of(text, 'timeout =')}:1: info.timeout: ")
    assert "'10 minutes'" in problem and "30m" in problem


def test_duration_form_has_its_own_sentence(repo: Path) -> None:
    text = descriptor(info='timeout = "10 minutes"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'timeout =')}:1: info.timeout: duration '10 minutes' is not valid: give seconds, or a"
        " number with s, m, h or d such as '30m'"
    ]


def test_metric_name(repo: Path) -> None:
    text = descriptor(tail='[[output.metrics]]\nname = "1st-loss"\nunits = "nats"')
    line = line_of(text, 'name = "1st')
    assert check(repo, text) == [
        f"{SHOWN}:{line}:1: output.metrics[0].name: metric name '1st-loss' must start with a letter"
        " or '_' and hold only letters, digits and '_'"
    ]


def test_environment_name(repo: Path) -> None:
    text = descriptor(info='environment = "GPU"')
    line = line_of(text, "environment =")
    assert check(repo, text) == [
        # a name of the wrong form is not looked up as a file (it could be too long for one): one problem
        f"{SHOWN}:{line}:1: info.environment: environment name 'GPU' must be lower-case letters, digits and '-'",
    ]


def test_processes_per_instance_form_points_at_the_field(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\n[hardware.distributed]\nprocesses_per_instance = "all"')
    [problem] = check(repo, text)
    assert problem.startswith(
        f"{SHOWN}:{line_of(text, 'processes_per_instance =')}:1: hardware.distributed.processes_per_instance: "
    )
    assert "'all'" in problem


def test_processes_per_instance_form_says_what_to_write(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\n[hardware.distributed]\nprocesses_per_instance = "all"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'processes_per_instance =')}:1: hardware.distributed.processes_per_instance: must be"
        " \"gpus\" or a positive number (got 'all')"
    ]


def test_matrix_axis_form_points_at_the_axis(repo: Path) -> None:
    text = descriptor(tail='[matrix.axes]\nhardware = ["c5.xlarge"]')
    [problem] = check(repo, text)
    assert problem.startswith(f"{SHOWN}:{line_of(text, 'hardware = [')}:1: matrix.axes.hardware: ")


def test_matrix_axis_form_says_matrix_axis(repo: Path) -> None:
    text = descriptor(tail='[matrix.axes]\nhardware = ["c5.xlarge"]')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'hardware = [')}:1: matrix.axes.hardware: matrix axis 'hardware' must be a dotted"
        " descriptor field such as 'hardware.instance_type'"
    ]


def test_matrix_axis_values_must_be_scalars(repo: Path) -> None:
    text = descriptor(tail='[matrix.axes]\n"env.vars.X" = [["1"]]')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'env.vars.X')}:1: matrix.axes.env.vars.X[0]: must be a string or an integer or a"
        " number or true or false, not an array"
    ]


def test_one_message_per_key_and_line(repo: Path) -> None:
    # Two schema branches fail on the same value: one sentence is enough.
    text = descriptor(info="timeout = true")
    assert len(check(repo, text)) == 1
