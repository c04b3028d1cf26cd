"""One test per semantic rule (renderer/rules.py and planning): the exact sentence at the exact line."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers_validation import SHOWN, descriptor, errors, line_of, make_repo, plan, problems, write_descriptor

from renderer.planning import check_descriptor
from renderer.scripts import SCRIPT_SIZE_LIMIT
from schemas.errors import DescriptorError, NotFoundError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def check(repo: Path, text: str, **kwargs: object) -> list[str]:
    return errors(repo, write_descriptor(repo, text), **kwargs)


def ok(repo: Path, text: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return plan(repo, write_descriptor(repo, text), **kwargs)


SERVER = """
[server.hardware]
instance_type = "c5.xlarge"

[server.env]
docker_image = "python:3.11"
start_command = "python3 -m http.server 8080"
ports = [8080]
"""
INFERENCE = 'instance_type = "c5.xlarge"\nstrategy = "inference"'


# --- scheduling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["* * *", "0 3 * * * *", "61 * * * *", "0 3 * * mon-fri-sat", "every day"])
def test_bad_cron(repo: Path, value: str) -> None:
    text = descriptor(info=f'scheduling = "{value}"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'scheduling =')}:1: info.scheduling: '{value}' is not a valid five-field cron"
        " expression (minute hour day month weekday), a macro such as @daily, or single_run"
    ]


def test_unknown_macro(repo: Path) -> None:
    text = descriptor(info='scheduling = "@often"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'scheduling =')}:1: info.scheduling: unknown schedule macro '@often'; use one of"
        " @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"
    ]


@pytest.mark.parametrize(
    ("value", "schedule"),
    [("@daily", "@daily"), ("@hourly", "@hourly"), ("0 3 * * 1-5", "0 3 * * 1-5"), ("*/15 * * * *", "*/15 * * * *"),
     ("single_run", None)],
)
def test_accepted_schedules(repo: Path, value: str, schedule: str | None) -> None:
    assert ok(repo, descriptor(info=f'scheduling = "{value}"')).runs[0].schedule == schedule


# --- metric patterns ------------------------------------------------------------------------------


def _metric(pattern: str, name: str = "m") -> str:
    return f"[[output.metrics]]\nname = \"{name}\"\nunits = \"ms\"\npattern = '{pattern}'\n"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a=(", "pattern does not compile: RE2 cannot compile it (missing ): a=(); remember TOML needs"
                " '\\\\' for a backslash in \"…\" strings, or use '…'"),
        (r"x=(\d+) y=\1", "pattern cannot run on the linear-time engine (RE2) that reads logs: a backreference"
                          " (\\1, (?P=name)) needs a backtracking engine; match the repeated text again explicitly"),
        (r"a=\d+", "pattern has no capture group; put the number in parentheses, e.g. 'accuracy=([-+]?\\d*\\.?\\d+)'"),
        ("a=([a-z]+)", "the first capture group ([a-z]+) never matches a number such as 42 or 3.14; the value of a"
                       " metric is the first group"),
        (r"(\d*)", "pattern matches an empty line; anchor it on the text around the number"),
    ],
)
def test_pattern_problems(repo: Path, pattern: str, message: str) -> None:
    text = descriptor(tail=_metric(pattern))
    assert check(repo, text) == [f"{SHOWN}:{line_of(text, 'pattern =')}:1: output.metrics[0].pattern: {message}"]


def test_server_metric_patterns_are_checked_too(repo: Path) -> None:
    text = descriptor(hardware=INFERENCE, tail=SERVER + "\n[[server.output.metrics]]\nname = \"m\"\nunits = \"ms\"\npattern = 'x'")
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'pattern =')}:1: server.output.metrics[0].pattern: pattern has no capture group;"
        " put the number in parentheses, e.g. 'accuracy=([-+]?\\d*\\.?\\d+)'"
    ]


def test_duplicate_metric_names(repo: Path) -> None:
    text = descriptor(tail=_metric(r"a=(\d+)", "a") + "\n" + _metric(r"b=(\d+)", "b") + "\n" + _metric(r"c=(\d+)", "a"))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'name = ', 4)}:1: output.metrics[2].name: metric 'a' is declared twice; give each"
        " metric one entry"
    ]


def test_client_and_server_metrics_share_one_name_space(repo: Path) -> None:
    text = descriptor(
        hardware=INFERENCE,
        tail=_metric(r"a=(\d+)", "a") + SERVER + "\n" + _metric(r"b=(\d+)", "a").replace("output", "server.output"),
    )
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'name = ', 3)}:1: server.output.metrics[0].name: metric 'a' is declared twice; give"
        " each metric one entry"
    ]


# --- strategies -----------------------------------------------------------------------------------


def test_inference_without_server(repo: Path) -> None:
    text = descriptor(hardware=INFERENCE)
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'strategy =')}:1: hardware.strategy: strategy 'inference' needs a [server] section"
        " describing the server to benchmark"
    ]


def test_server_without_inference(repo: Path) -> None:
    text = descriptor(tail="[server]\n" + SERVER)
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, '[server]')}:1: server: a [server] section only applies to strategy 'inference', not"
        " 'single_node'"
    ]


def test_server_without_inference_and_without_a_server_header(repo: Path) -> None:
    text = descriptor(tail=SERVER)
    [problem] = problems(repo, write_descriptor(repo, text))
    assert problem.line == line_of(text, "[server.hardware]")


def test_horovod_without_distributed(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\nstrategy = "horovod"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'strategy =')}:1: hardware.strategy: strategy 'horovod' needs at least 2 instances;"
        " set [hardware.distributed] num_instances = 2 or more"
    ]


def test_horovod_with_one_instance(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\nstrategy = "horovod"\n\n[hardware.distributed]\nnum_instances = 1')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'num_instances =')}:1: hardware.distributed.num_instances: strategy 'horovod' needs at"
        " least 2 instances; set [hardware.distributed] num_instances = 2 or more"
    ]


def test_several_instances_on_single_node(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\n\n[hardware.distributed]\nnum_instances = 3')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'num_instances =')}:1: hardware.distributed.num_instances: num_instances = 3 only"
        " applies to strategy 'horovod'; this benchmark is 'single_node'"
    ]


# --- data sources ---------------------------------------------------------------------------------


def _source(src: str, path: str, extra: str = "") -> str:
    return f'[[data.sources]]\nsrc = "{src}"\npath = "{path}"\n{extra}\n'


def test_relative_data_path(repo: Path) -> None:
    text = descriptor(tail=_source("https://e.com/a", "data/a"))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'path = ')}:1: data.sources[0].path: path 'data/a' must be absolute (start with '/')"
    ]


@pytest.mark.parametrize(("first", "second"), [("/data/a", "/data/a"), ("/data", "/data/a"), ("/data/a", "/data")])
def test_colliding_data_paths(repo: Path, first: str, second: str) -> None:
    text = descriptor(tail=_source("https://e.com/a", first) + _source("https://e.com/b", second))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'path = ', 2)}:1: data.sources[1].path: path '{second}' collides with"
        f" '{os.path.normpath(first)}' of data.sources[0]"
    ]


@pytest.mark.parametrize(
    ("path", "normal"), [("/data/../d", "/d"), ("/data/./a", "/data/a"), ("/data/a/", "/data/a"), ("//data", "/data")]
)
def test_data_paths_must_be_normalised_as_the_renderer_needs(repo: Path, path: str, normal: str) -> None:
    # the renderer mounts at the path as written and refuses one that is not normalised: validate says so first
    text = descriptor(tail=_source("https://e.com/a", path))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'path = ')}:1: data.sources[0].path: path '{path}' must be normalised (no '.', '..',"
        f" '//' or final '/'): write '{normal}'"
    ]


@pytest.mark.parametrize("path", ["/", "/var/cache/anubis", "/var/cache/anubis/x", "/opt", "/opt/anubis/scripts/a", "/proc/x", "/dev"])
def test_data_paths_cannot_cover_the_folders_every_run_mounts(repo: Path, path: str) -> None:
    text = descriptor(tail=_source("https://e.com/a", path))
    [message] = check(repo, text)
    assert f"data.sources[0].path: path '{path}' is, holds or lies in a folder every run needs" in message


def test_sibling_data_paths_do_not_collide(repo: Path) -> None:
    text = descriptor(tail=_source("https://e.com/a", "/data/a") + _source("https://e.com/b", "/data/ab"))
    assert len(ok(repo, text).runs[0].data) == 2


def test_model_path_colliding_with_a_data_path(repo: Path) -> None:
    text = descriptor(
        hardware=INFERENCE,
        tail=_source("https://e.com/a", "/data/a") + SERVER + '\n[[server.models]]\nsrc = "s3://b/m"\npath = "/data"',
    )
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'path = ', 2)}:1: server.models[0].path: path '/data' collides with '/data/a' of"
        " data.sources[0]"
    ]


def test_unsupported_scheme(repo: Path) -> None:
    text = descriptor(tail=_source("ftp://e.com/a", "/data/a"))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'src = ')}:1: data.sources[0].src: unsupported scheme 'ftp://'; use http, https or s3"
        " (file:// for local runs only)"
    ]


@pytest.mark.parametrize("src", ["https://e.com/a", "http://e.com/a", "s3://bucket/key", "S3://bucket/key"])
def test_supported_schemes(repo: Path, src: str) -> None:
    assert ok(repo, descriptor(tail=_source(src, "/data/a"))).runs[0].data[0].src == src


def test_file_sources_only_on_this_machine(repo: Path) -> None:
    text = descriptor(tail=_source("file:///tmp/a", "/data/a"))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'src = ')}:1: data.sources[0].src: file:// sources exist only on this machine;"
        " environment 'cpu-cluster' needs http, https or s3"
    ]
    assert ok(repo, text, environment="local").runs[0].data[0].src == "file:///tmp/a"


def test_unknown_checksum_algorithm(repo: Path) -> None:
    text = descriptor(tail=_source("https://e.com/a", "/data/a", 'md5 = "whirl:abcd"'))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'md5 =')}:1: data.sources[0].md5: unknown checksum algorithm 'whirl'; use md5, sha1"
        " or sha256"
    ]


def test_checksum_of_the_wrong_length(repo: Path) -> None:
    text = descriptor(tail=_source("https://e.com/a", "/data/a", 'md5 = "sha256:abcd"'))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'md5 =')}:1: data.sources[0].md5: a sha256 checksum has 64 hex digits, this one has 4"
    ]


def test_checksums_that_plan(repo: Path) -> None:
    text = descriptor(
        tail=_source("https://e.com/a", "/data/a", f'md5 = "{"A" * 32}"')
        + _source("https://e.com/b", "/data/b", f'md5 = "SHA256:{"b" * 64}"')
    )
    checksums = [str(d.checksum) for d in ok(repo, text).runs[0].data]
    assert checksums == [f"md5:{'a' * 32}", f"sha256:{'b' * 64}"]


def test_duplicate_data_id(repo: Path) -> None:
    text = descriptor(
        tail=_source("https://e.com/a", "/data/a", 'id = "x"') + _source("https://e.com/b", "/data/b", 'id = "x"')
    )
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'id = ', 2)}:1: data.sources[1].id: data id 'x' is used twice; ids must be unique"
    ]


def test_uri_is_a_deprecation_warning_not_an_error(repo: Path) -> None:
    text = descriptor(tail='[[data.sources]]\nuri = "https://e.com/a"\npath = "/data/a"')
    planned = ok(repo, text)
    assert [w.format() for w in planned.warnings] == [
        f"{SHOWN}:{line_of(text, 'uri =')}:1: warning: data.sources[0].uri: 'uri' is deprecated; rename it to 'src'"
        " (it still works)"
    ]
    assert planned.runs[0].data[0].src == "https://e.com/a"


def test_warnings_travel_with_errors(repo: Path) -> None:
    text = descriptor(info='scheduling = "@often"', tail='[[data.sources]]\nuri = "https://e.com/a"\npath = "/data/a"')
    with pytest.raises(DescriptorError) as caught:
        plan(repo, write_descriptor(repo, text))
    assert [p.field for p in caught.value.problems] == ["info.scheduling"]
    assert [p.field for p in caught.value.warnings] == ["data.sources[0].uri"]


# --- server ports ---------------------------------------------------------------------------------


def test_ports_out_of_range_and_duplicated(repo: Path) -> None:
    text = descriptor(hardware=INFERENCE, tail=SERVER.replace("[8080]", "[8080, 0, 8080, 70000]"))
    line = line_of(text, "ports =")
    assert check(repo, text) == [
        f"{SHOWN}:{line}:1: server.env.ports[1]: port 0 is out of range (1-65535)",
        f"{SHOWN}:{line}:1: server.env.ports[2]: port 8080 is listed twice",
        f"{SHOWN}:{line}:1: server.env.ports[3]: port 70000 is out of range (1-65535)",
    ]


def test_probe_port_not_among_ports(repo: Path) -> None:
    text = descriptor(hardware=INFERENCE, tail=SERVER + '\n[server.env.readiness_probe]\npath = "/ping"\nport = 9090')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'port = 9090')}:1: server.env.readiness_probe.port: readiness probe port 9090 is not"
        " one of the server's ports [8080]"
    ]


def test_probe_port_defaults_to_the_first_port(repo: Path) -> None:
    text = descriptor(hardware=INFERENCE, tail=SERVER.replace("[8080]", "[8080, 9090]") + '\n[server.env.readiness_probe]\npath = "/ping"')
    server = ok(repo, text).runs[0].server
    assert server is not None and server.readiness_probe is not None
    assert server.readiness_probe.port == 8080


# --- commands -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "operator"),
    [("python3 a.py | tee log", "|"), ("python3 a.py && echo done", "&&"), ("python3 a.py > out.txt", ">"),
     ("cd /x; python3 a.py", ";")],
)
def test_shell_syntax_in_benchmark_code(repo: Path, code: str, operator: str) -> None:
    text = descriptor(ml=f'benchmark_code = "{code}"')
    quoted = "'" + code + "'"
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'benchmark_code =')}:1: ml.benchmark_code: uses shell syntax ('{operator}') but no"
        f" shell runs the command; write the shell explicitly, e.g. sh -c {quoted}"
    ]


@pytest.mark.parametrize(
    "code",
    ["sh -c 'python3 a.py | tee log'", "bash -c 'cd /x && python3 a.py'", "python3 -c 'print(1 | 2)'",
     "python3 a.py --sep='|'"],
)
def test_shell_syntax_when_a_shell_runs_or_quoted(repo: Path, code: str) -> None:
    run = ok(repo, descriptor(ml=f'benchmark_code = "{code}"')).runs[0]
    assert run.command[0] in ("sh", "bash", "python3")


def test_bai_scripts_path_is_not_shell_syntax(repo: Path) -> None:
    path = write_descriptor(repo, descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/src/a.py --x $(HOME)"'))
    (path.parent / "src").mkdir()
    (path.parent / "src" / "a.py").write_text("print(1)\n")
    assert plan(repo, path).runs[0].argv == ("python3", "$(BAI_SCRIPTS_PATH)/src/a.py", "--x", "$(HOME)")


def test_unbalanced_quotes(repo: Path) -> None:
    text = descriptor(ml='benchmark_code = "python3 a.py"\nargs = "--name \'unbalanced"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'args =')}:1: ml.args: cannot split the command (No closing quotation); check the quotes"
    ]


def test_shell_syntax_in_server_start_command(repo: Path) -> None:
    text = descriptor(hardware=INFERENCE, tail=SERVER.replace("python3 -m http.server 8080", "serve && wait"))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'start_command =')}:1: server.env.start_command: uses shell syntax ('&&') but no shell"
        " runs the command; write the shell explicitly, e.g. sh -c 'serve && wait'"
    ]


def test_no_benchmark_code_is_a_warning(repo: Path) -> None:
    text = descriptor(ml=None)
    planned = ok(repo, text)
    assert [w.format() for w in planned.warnings] == [
        f"{SHOWN}:{line_of(text, 'docker_image =')}:1: warning: env.docker_image: no ml.benchmark_code: the image's own"
        " entrypoint runs (and anubis run needs a command on a host without a container engine)"
    ]
    assert planned.runs[0].command == ()


# --- script mode ----------------------------------------------------------------------------------


def test_scripts_path_without_sources(repo: Path) -> None:
    text = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'benchmark_code =')}:1: ml.benchmark_code: uses $(BAI_SCRIPTS_PATH) but there are no"
        " script-mode sources: src/ is missing beside the descriptor; add the src/ folder with the scripts it runs,"
        " or set [ml.script] script = \"<folder>\""
    ]


def test_declared_script_folder_missing(repo: Path) -> None:
    text = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"\n\n[ml.script]\nscript = "code"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'script = ')}:1: ml.script.script: script-mode sources 'code' do not exist beside the"
        " descriptor"
    ]


def test_script_folder_outside_the_benchmark(repo: Path) -> None:
    (repo / "benchmarks" / "other").mkdir()
    text = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"\n\n[ml.script]\nscript = "../other"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'script = ')}:1: ml.script.script: script-mode sources '../other' must be inside the"
        " benchmark's folder"
    ]


def test_archive_as_script(repo: Path) -> None:
    text = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"\n\n[ml.script]\nscript = "code.tar.gz"')
    path = write_descriptor(repo, text)
    (path.parent / "code.tar.gz").write_bytes(b"\x1f\x8b")
    assert errors(repo, path) == [
        f"{SHOWN}:{line_of(text, 'script = ')}:1: ml.script.script: 'code.tar.gz' is an archive; commit the sources"
        " unpacked in a folder and name that folder"
    ]


def test_declared_script_folder(repo: Path) -> None:
    # As in the original Anubis, BAI_SCRIPTS_PATH holds the declared folder: $(BAI_SCRIPTS_PATH)/code/a.py.
    text = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/code/a.py"\n\n[ml.script]\nscript = "code"')
    path = write_descriptor(repo, text)
    (path.parent / "code").mkdir()
    (path.parent / "code" / "a.py").write_text("print(1)\n")
    planned = plan(repo, path)
    script = planned.runs[0].script
    assert script is not None and script.source_dir == "benchmarks/t"
    assert [f.path for f in script.files] == ["code/a.py"]
    assert planned.warnings == []


def test_command_naming_a_file_outside_the_sources_is_a_warning(repo: Path) -> None:
    text = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"')
    path = write_descriptor(repo, text)
    (path.parent / "src").mkdir()
    (path.parent / "src" / "a.py").write_text("print(1)\n")
    [warning] = plan(repo, path).warnings
    assert warning.format() == (
        f"{SHOWN}:{line_of(text, 'benchmark_code =')}:1: warning: ml.benchmark_code: $(BAI_SCRIPTS_PATH)/a.py is not"
        " among the script-mode sources (src/a.py)"
    )


@pytest.mark.parametrize("declared", [True, False])
def test_script_size_over_the_limit(repo: Path, declared: bool) -> None:
    ml = 'benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"' + ('\n\n[ml.script]\nscript = "src"' if declared else "")
    text = descriptor(ml=ml)
    path = write_descriptor(repo, text)
    (path.parent / "src").mkdir()
    (path.parent / "src" / "a.py").write_bytes(b"#" * (SCRIPT_SIZE_LIMIT + 2048))
    where = f"{line_of(text, 'script = ')}:1: ml.script.script" if declared else f"{line_of(text, '[ml]')}:1: ml"
    assert errors(repo, path) == [
        f"{SHOWN}:{where}: script-mode sources are 770 KiB; the limit is 768 KiB (they travel in a ConfigMap); move"
        " large files to [[data.sources]]"
    ]


def test_script_size_at_the_limit_is_fine(repo: Path) -> None:
    path = write_descriptor(repo, descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"'))
    (path.parent / "src").mkdir()
    (path.parent / "src" / "a.py").write_bytes(b"#" * SCRIPT_SIZE_LIMIT)
    assert plan(repo, path).runs[0].script is not None


def test_script_size_just_over_the_limit_says_more_than_the_limit(repo: Path) -> None:
    path = write_descriptor(repo, descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/a.py"'))
    (path.parent / "src").mkdir()
    (path.parent / "src" / "a.py").write_bytes(b"#" * (SCRIPT_SIZE_LIMIT + 1))
    [message] = errors(repo, path)
    assert "script-mode sources are 769 KiB; the limit is 768 KiB" in message


# --- environment policy ---------------------------------------------------------------------------


def test_timeout_over_the_environment_maximum(repo: Path) -> None:
    text = descriptor(info='timeout = "13h"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'timeout =')}:1: info.timeout: timeout 13h exceeds the maximum of environment"
        " 'cpu-cluster' (12h)"
    ]


def test_timeout_at_the_maximum_is_fine(repo: Path) -> None:
    assert ok(repo, descriptor(info="timeout = 43200")).runs[0].timeout_seconds == 43200


@pytest.mark.parametrize("value", ['""', '"1e400s"'])
def test_malformed_timeout_is_a_problem_not_a_crash(repo: Path, value: str) -> None:
    text = descriptor(info=f"timeout = {value}")
    [problem] = check(repo, text)
    assert problem.startswith(f"{SHOWN}:{line_of(text, 'timeout =')}:1: info.timeout: ")


def test_privileged_not_allowed(repo: Path) -> None:
    text = descriptor(env='docker_image = "python:3.11"\nprivileged = true')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'privileged =')}:1: env.privileged: environment 'cpu-cluster' does not allow privileged"
        " containers; remove privileged = true or target an environment that allows it"
    ]


def test_privileged_server_not_allowed(repo: Path) -> None:
    text = descriptor(hardware=INFERENCE, tail=SERVER + "privileged = true")
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'privileged =')}:1: server.env.privileged: environment 'cpu-cluster' does not allow"
        " privileged containers; remove privileged = true or target an environment that allows it"
    ]


def test_registry_not_allowed(repo: Path) -> None:
    text = descriptor(env='docker_image = "quay.io/team/image:1"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'docker_image =')}:1: env.docker_image: registry 'quay.io' is not allowed in"
        " environment 'cpu-cluster'; allowed: docker.io, ghcr.io, public.ecr.aws, 123456789012.dkr.ecr.*.amazonaws.com"
    ]


@pytest.mark.parametrize(
    "image",
    ["python:3.11", "library/python:3.11", "docker.io/horovod/horovod:0.28.1", "ghcr.io/a/b:1",
     "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/image:1"],
)
def test_registries_allowed(repo: Path, image: str) -> None:
    assert ok(repo, descriptor(env=f'docker_image = "{image}"')).runs[0].image == image


def test_any_registry_where_the_list_is_empty(repo: Path) -> None:
    text = descriptor(info='environment = "local"', env='docker_image = "quay.io/team/image:1"')
    assert ok(repo, text).runs[0].environment == "local"


def test_instance_type_not_offered(repo: Path) -> None:
    text = descriptor(info='environment = "cpu-cluster"', hardware='instance_type = "p3.8xlarge"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'instance_type =')}:1: hardware.instance_type: instance type 'p3.8xlarge' is not"
        " offered by environment 'cpu-cluster'; offered: t2.*, t3.*, c5.*, c5n.*, c6i.*, c7i.*, m5.*, m6i.*, m7i.*,"
        " r5.*"
    ]


def test_server_instance_type_not_offered(repo: Path) -> None:
    text = descriptor(hardware=INFERENCE, tail=SERVER.replace('instance_type = "c5.xlarge"', 'instance_type = "x1.huge"'))
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'x1.huge')}:1: server.hardware.instance_type: 'x1.huge' is not a known EC2 instance"
        " type; add it to an environment or set info.environment"
    ]


def test_gpu_count_over_policy(repo: Path) -> None:
    text = descriptor(
        hardware='instance_type = "p3.16xlarge"\nstrategy = "horovod"\n\n[hardware.distributed]\nnum_instances = 5',
        env='docker_image = "nvcr.io/nvidia/pytorch:24.01-py3"',
    )
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'instance_type =')}:1: hardware.instance_type: this run needs 40 GPUs; environment"
        " 'gpu-cluster' allows at most 32"
    ]


def test_gpu_count_at_policy(repo: Path) -> None:
    text = descriptor(
        hardware='instance_type = "p3.16xlarge"\nstrategy = "horovod"\n\n[hardware.distributed]\nnum_instances = 4',
        env='docker_image = "nvcr.io/nvidia/pytorch:24.01-py3"',
    )
    run = ok(repo, text).runs[0]
    assert (run.environment, run.num_instances, run.placement.gpus) == ("gpu-cluster", 4, 8)


def test_processes_per_instance_gpus_without_gpus(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\n\n[hardware.distributed]\nprocesses_per_instance = "gpus"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'processes_per_instance =')}:1: hardware.distributed.processes_per_instance:"
        " processes_per_instance = \"gpus\" but 'c5.xlarge' has no GPUs in environment 'cpu-cluster'"
    ]


def test_processes_per_instance_gpus_is_fine_locally(repo: Path) -> None:
    text = descriptor(
        info='environment = "local"',
        hardware='instance_type = "c5.xlarge"\n\n[hardware.distributed]\nprocesses_per_instance = "gpus"',
    )
    assert ok(repo, text).runs[0].processes_per_instance == "gpus"


def test_sagemaker_on_local(repo: Path) -> None:
    text = descriptor(info='environment = "local"\nexecution_engine = "aws.sagemaker"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'execution_engine =')}:1: info.execution_engine: execution_engine 'aws.sagemaker' runs"
        " on SageMaker, not on this machine; use a cluster environment"
    ]


def test_sagemaker_on_a_cluster_is_not_supported_yet(repo: Path) -> None:
    text = descriptor(info='execution_engine = "aws.sagemaker"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'execution_engine =')}:1: info.execution_engine: execution_engine 'aws.sagemaker' is"
        " not supported yet (see docs/manifests.md); use 'default' to run on the cluster's own nodes"
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("9LIVES", "'9LIVES' is not a valid variable name: use letters, digits, '_', '-' and '.', not starting with a digit"),
        ("ANUBIS_RUN_ID", "'ANUBIS_RUN_ID' is set by Anubis for every run; choose another name"),
        ("BAI_SCRIPTS_PATH", "'BAI_SCRIPTS_PATH' is set by Anubis for every run; choose another name"),
        ("INFERENCE_SERVER_PORT", "'INFERENCE_SERVER_PORT' is set by Anubis for every run; choose another name"),
    ],
)
def test_variable_names(repo: Path, name: str, message: str) -> None:
    text = descriptor(env=f'docker_image = "python:3.11"\n\n[env.vars]\n{name} = "x"')
    assert check(repo, text) == [f"{SHOWN}:{line_of(text, name + ' =')}:1: env.vars.{name}: {message}"]


def test_scheduled_horovod_is_refused(repo: Path) -> None:
    text = descriptor(
        info='scheduling = "@daily"',
        hardware='instance_type = "p3.8xlarge"\nstrategy = "horovod"\n\n[hardware.distributed]\nnum_instances = 2',
    )
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'scheduling =')}:1: info.scheduling: scheduled horovod runs are not supported: a"
        " CronJob can only create Jobs, not MPIJobs; use single_run"
    ]


# --- choosing the environment ---------------------------------------------------------------------


def test_unknown_environment_name(repo: Path) -> None:
    text = descriptor(info='environment = "nowhere"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'environment =')}:1: info.environment: environment 'nowhere' not found (no"
        " environments/nowhere.toml); known environments: cpu-cluster, gpu-cluster, local"
    ]


def test_unknown_environment_given_on_the_command_line(repo: Path) -> None:
    # A command-line mistake is not reported as a problem of the file.
    with pytest.raises(NotFoundError) as caught:
        check_descriptor(write_descriptor(repo, descriptor()), repo_root=repo, environment="nowhere")
    assert str(caught.value) == (
        "environment 'nowhere' not found (no environments/nowhere.toml); known environments: cpu-cluster,"
        " gpu-cluster, local"
    )


def test_no_environment_offers_the_instance_type(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "m5.lrage"')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'instance_type =')}:1: hardware.instance_type: 'm5.lrage' is not a known EC2 instance"
        " type; nearest: m5.large, m5.xlarge, m5.8xlarge; add it to an environment or set info.environment"
    ]


def test_the_environment_is_chosen_by_instance_type(repo: Path) -> None:
    assert ok(repo, descriptor()).runs[0].environment == "cpu-cluster"
    gpu = descriptor(hardware='instance_type = "g5.xlarge"', env='docker_image = "nvcr.io/x:1"')
    assert ok(repo, gpu).runs[0].environment == "gpu-cluster"


def test_explicit_environment_wins(repo: Path) -> None:
    assert ok(repo, descriptor(), environment="local").runs[0].environment == "local"


# --- reading the file -----------------------------------------------------------------------------


def test_toml_syntax_error_names_its_line(repo: Path) -> None:
    text = 'spec_version = "0.1.0"\n\n[info]\ndescription = "x"\nlabels = = 1\n'
    assert check(repo, text) == [
        f"{SHOWN}:5:10: TOML syntax error: Invalid value; fix the syntax on this line"
    ]


def test_toml_duplicate_key_names_its_line(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\ninstance_type = "c5.xlarge"')
    [problem] = problems(repo, write_descriptor(repo, text))
    assert problem.line == line_of(text, "instance_type =", 2)
    assert problem.message.startswith("TOML syntax error: ") and problem.message.endswith("; fix the syntax on this line")


def test_toml_error_at_the_end_of_the_document(repo: Path) -> None:
    text = 'spec_version = "0.1.0"\ndescription = """never closed\n\n'
    [problem] = problems(repo, write_descriptor(repo, text))
    assert problem.message.startswith("TOML syntax error: ")
    assert problem.line >= 2


def test_non_utf8_file(repo: Path) -> None:
    path = write_descriptor(repo, "")
    path.write_bytes(b'spec_version = "0.1.0"\n\n# caf\xe9\n')
    assert errors(repo, path) == [f"{SHOWN}:3:1: the file is not valid UTF-8; save it as UTF-8"]


def test_missing_file(repo: Path) -> None:
    with pytest.raises(DescriptorError) as caught:
        plan(repo, repo / "benchmarks" / "none" / "descriptor.toml")
    assert [p.format() for p in caught.value.problems] == ["benchmarks/none/descriptor.toml:1:1: file not found"]


# --- matrix ---------------------------------------------------------------------------------------


def test_problem_from_a_matrix_value_is_reported_at_the_axis(repo: Path) -> None:
    text = descriptor(
        tail='[matrix.axes]\n"env.vars.X" = ["1", "2"]\n"hardware.instance_type" = ["c5.xlarge", "m5.lrage"]'
    )
    line = line_of(text, '"hardware.instance_type" =')
    unknown = ("'m5.lrage' is not a known EC2 instance type; nearest: m5.large, m5.xlarge, m5.8xlarge; add it to an"
               " environment or set info.environment")
    assert check(repo, text) == [
        f"{SHOWN}:{line}:1: hardware.instance_type: at matrix point env.vars.X=1, hardware.instance_type=m5.lrage:"
        f" {unknown}",
        f"{SHOWN}:{line}:1: hardware.instance_type: at matrix point env.vars.X=2, hardware.instance_type=m5.lrage:"
        f" {unknown}",
    ]


def test_schema_problem_from_a_matrix_value(repo: Path) -> None:
    text = descriptor(tail='[matrix.axes]\n"hardware.strategy" = ["single_node", "mpi"]')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'hardware.strategy')}:1: hardware.strategy: at matrix point hardware.strategy=mpi:"
        " must be one of 'single_node', 'horovod', 'inference' (got 'mpi')"
    ]


def test_rule_problem_from_a_matrix_value(repo: Path) -> None:
    text = descriptor(tail='[matrix.axes]\n"info.timeout" = ["1h", "13h"]')
    assert check(repo, text) == [
        f"{SHOWN}:{line_of(text, 'info.timeout')}:1: info.timeout: at matrix point info.timeout=13h: timeout 13h exceeds"
        " the maximum of environment 'cpu-cluster' (12h)"
    ]


def test_problem_from_an_include_value_is_reported_at_the_include(repo: Path) -> None:
    text = descriptor(tail='[matrix.axes]\n"env.vars.X" = ["1"]\n\n[[matrix.include]]\n"env.vars.X" = "2"\n"info.timeout" = "99h"')
    [problem] = problems(repo, write_descriptor(repo, text))
    assert problem.line == line_of(text, '"info.timeout" =')


@pytest.mark.parametrize("axis", ["info.rerun", "info.labels.task_name", "matrix.axes.x"])
def test_forbidden_matrix_axes(repo: Path, axis: str) -> None:
    text = descriptor(tail=f'[matrix.axes]\n"{axis}" = ["1", "2"]')
    assert f"{SHOWN}:{line_of(text, axis)}:1: matrix.axes.{axis}: '{axis}' cannot be a matrix axis" in check(repo, text)


def test_two_points_giving_the_same_run(repo: Path) -> None:
    text = descriptor(tail='[matrix]\n[matrix.axes]\n"env.vars.X" = ["1", "1"]')
    [problem] = check(repo, text)
    assert re.fullmatch(
        rf"{SHOWN}:{line_of(text, '[matrix]')}:1: matrix: two matrix points give the same run \(t-[0-9a-f]{{10}}\);"
        r" remove the duplicate",
        problem,
    )


# --- overrides (--set) ----------------------------------------------------------------------------


def test_valid_overrides(repo: Path) -> None:
    run = ok(repo, descriptor(), overrides=["ml.args=--epochs 3", 'info.timeout="2h"', 'env.vars.BATCH="64"']).runs[0]
    assert run.argv == ("python3", "-c", "pass", "--epochs", "3")
    assert run.timeout_seconds == 7200
    assert run.env == {"BATCH": "64"}


def test_override_values_are_toml_literals_except_for_string_fields(repo: Path) -> None:
    path = write_descriptor(repo, descriptor())
    run = check_descriptor(path, repo_root=repo, overrides=["env.vars.BATCH=64", 'env.vars.Q="x y"', "info.rerun=2"]).runs[0]
    assert run.env == {"BATCH": "64", "Q": "x y"}
    assert run.rerun == 2
    text = descriptor()
    assert check(repo, text, overrides=["hardware.instance_type=64"]) == [  # a string field keeps the text
        f"{SHOWN}:{line_of(text, 'instance_type =')}:1: hardware.instance_type: '64' is not a known EC2 instance"
        " type; add it to an environment or set info.environment"
    ]
    assert check(repo, text, overrides=["env.privileged=1"]) == [
        f"{SHOWN}:{line_of(text, '[env]')}:1: env.privileged: must be true or false, not an integer"
    ]


@pytest.mark.parametrize("item", ["noequals", "=3", "a..b=1", ".a=1"])
def test_override_of_an_invalid_form(repo: Path, item: str) -> None:
    name = item.partition("=")[0]
    label = f"{name}: " if name else ""
    assert check(repo, descriptor(), overrides=[item]) == [
        f"--set:1:1: {label}'{item}' is not FIELD=VALUE with a dotted field such as ml.args=--epochs 3"
    ]


@pytest.mark.parametrize("item", ["matrix.axes.x=[1]", "spec_version=\"0.1.0\""])
def test_override_of_a_forbidden_field(repo: Path, item: str) -> None:
    [problem] = problems(repo, write_descriptor(repo, descriptor()), overrides=[item])
    field = item.partition("=")[0]
    assert (problem.path, problem.line, problem.field) == ("--set", 1, field)
    assert problem.message == f"'{field}' cannot be overridden with --set"


def test_override_through_a_non_table(repo: Path) -> None:
    assert check(repo, descriptor(), overrides=["ml.benchmark_code.x=1"]) == [
        "--set:1:1: ml.benchmark_code.x: 'ml.benchmark_code' is not a table, so 'ml.benchmark_code.x' cannot be set"
    ]


def test_override_with_an_invalid_value_is_checked_like_the_file(repo: Path) -> None:
    text = descriptor()
    assert check(repo, text, overrides=["hardware.strategy=mpi"]) == [
        f"{SHOWN}:{line_of(text, '[hardware]')}:1: hardware.strategy: must be one of 'single_node', 'horovod',"
        " 'inference' (got 'mpi')"
    ]


# --- every problem at once ------------------------------------------------------------------------

MANY = """\
spec_version = "0.1.0"

[info]
description = "Everything wrong at once."
scheduling = "@often"
timeout = "30h"

[info.labels]
task_name = "many"
"bad key" = "x"

[hardware]
instance_type = "c5.xlarge"
strateg = "single_node"

[hardware.distributed]
num_instances = 2

[env]
docker_image = "quay.io/team/image:1"
privileged = true

[ml]
benchmark_code = "python3 train.py | tee log"

[[data.sources]]
src = "ftp://example.com/a"
path = "data/a"
md5 = "sha256:abcd"

[[data.sources]]
uri = "https://example.com/b"
path = "/data/b"

[[output.metrics]]
name = "loss"
units = "nats"
pattern = 'loss=\\d+'
"""


def test_every_problem_of_a_file_is_reported_at_once_in_line_order(repo: Path) -> None:
    with pytest.raises(DescriptorError) as caught:
        plan(repo, write_descriptor(repo, MANY))
    label = "use at most 63 characters, letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
    assert [p.format() for p in caught.value.problems] == [
        f"{SHOWN}:5:1: info.scheduling: unknown schedule macro '@often'; use one of @yearly, @annually, @monthly,"
        " @weekly, @daily, @midnight, @hourly",
        f"{SHOWN}:6:1: info.timeout: timeout 30h exceeds the maximum of environment 'cpu-cluster' (12h)",
        f"{SHOWN}:10:1: info.labels.bad key: label key 'bad key' is not valid: {label}",
        f"{SHOWN}:14:1: hardware.strateg: unknown field 'strateg'; did you mean 'strategy'?",
        f"{SHOWN}:17:1: hardware.distributed.num_instances: num_instances = 2 only applies to strategy 'horovod'; this"
        " benchmark is 'single_node'",
        f"{SHOWN}:20:1: env.docker_image: registry 'quay.io' is not allowed in environment 'cpu-cluster'; allowed:"
        " docker.io, ghcr.io, public.ecr.aws, 123456789012.dkr.ecr.*.amazonaws.com",
        f"{SHOWN}:21:1: env.privileged: environment 'cpu-cluster' does not allow privileged containers; remove"
        " privileged = true or target an environment that allows it",
        f"{SHOWN}:24:1: ml.benchmark_code: uses shell syntax ('|') but no shell runs the command; write the shell"
        " explicitly, e.g. sh -c 'python3 train.py | tee log'",
        f"{SHOWN}:27:1: data.sources[0].src: unsupported scheme 'ftp://'; use http, https or s3 (file:// for local"
        " runs only)",
        f"{SHOWN}:28:1: data.sources[0].path: path 'data/a' must be absolute (start with '/')",
        f"{SHOWN}:29:1: data.sources[0].md5: a sha256 checksum has 64 hex digits, this one has 4",
        f"{SHOWN}:38:1: output.metrics[0].pattern: pattern has no capture group; put the number in parentheses, e.g."
        " 'accuracy=([-+]?\\d*\\.?\\d+)'",
    ]
    assert [p.format() for p in caught.value.warnings] == [
        f"{SHOWN}:32:1: warning: data.sources[1].uri: 'uri' is deprecated; rename it to 'src' (it still works)"
    ]
