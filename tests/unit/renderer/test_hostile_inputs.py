"""Hostile descriptors and benchmark folders (issue 15, items 1 and 3–7): each test fails on the code
before the fix. What is refused, and the sentence that says so; never a traceback, a hang or a leak."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_validation import SHOWN, descriptor, errors, line_of, make_repo, plan, write_descriptor

from anubis.cli import cli
from renderer import scripts
from renderer.environments import load_environment
from renderer.images import ImageReferenceError, parse_image, registry_allowed
from renderer.manifests import render_run
from renderer.planning import Catalog, check_descriptor
from renderer.scripts import ScriptProblem, ScriptTooLarge, collect_script
from schemas.errors import DescriptorError
from schemas.loading import load_schema

SCRIPTED = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/src/a.py"')


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def scripted(repo: Path, text: str = SCRIPTED) -> Path:
    path = write_descriptor(repo, text)
    (path.parent / "src").mkdir()
    (path.parent / "src" / "a.py").write_text("print('a=1')\n")
    return path


def only_error(repo: Path, path: Path, **kwargs: object) -> str:
    [message] = errors(repo, path, **kwargs)
    return message


# --- 1. script sources: no link out of src/, regular files only, real bytes counted -------------------


@pytest.mark.parametrize("target", ["/proc/self/environ", "/etc/passwd"])
def test_a_link_out_of_src_to_host_files_is_refused(repo: Path, target: str) -> None:
    path = scripted(repo)
    (path.parent / "src" / "env.txt").symlink_to(target)
    assert only_error(repo, path) == (
        f"{SHOWN}:{line_of(SCRIPTED, '[ml]')}:1: ml: 'src/env.txt' is a link to '{target}', which leaves src/; links"
        " are not followed out of the script-mode sources: commit the file itself (or fetch it as a [[data.sources]]"
        " entry)"
    )


def test_a_relative_link_out_of_src_is_refused_even_inside_the_repository(repo: Path) -> None:
    path = scripted(repo)
    (repo / "secret.txt").write_text("token\n")
    (path.parent / "src" / "up.txt").symlink_to("../../../secret.txt")
    assert "'src/up.txt' is a link to '../../../secret.txt', which leaves src/" in only_error(repo, path)


def test_the_rendered_configmap_never_holds_what_a_link_points_at(repo: Path) -> None:
    path = scripted(repo)
    (path.parent / "src" / "env.txt").symlink_to("/proc/self/environ")
    result = CliRunner().invoke(cli, ["--repo", str(repo), "render", "--out", str(repo / "out")])
    assert result.exit_code == 1
    assert "is a link to '/proc/self/environ'" in result.output + str(result.stderr_bytes or b"")
    assert not (repo / "out").exists() or not any((repo / "out").rglob("*.yaml"))


def test_a_link_inside_src_is_read_as_its_target(repo: Path) -> None:
    path = scripted(repo)
    (path.parent / "src" / "b.py").symlink_to("a.py")
    contents = plan(repo, path).scripts.contents()  # type: ignore[union-attr]
    assert contents == {"src/a.py": b"print('a=1')\n", "src/b.py": b"print('a=1')\n"}


def test_a_link_to_a_folder_is_refused(repo: Path) -> None:
    path = scripted(repo)
    (path.parent / "src" / "lib").symlink_to(".")
    assert "'src/lib' is a link to the folder '.'; a ConfigMap holds files only" in only_error(repo, path)


def test_src_itself_a_link_is_refused(repo: Path) -> None:
    path = write_descriptor(repo, SCRIPTED)
    (path.parent / "src").symlink_to("/etc")
    assert "'src' is a link to '/etc'; commit the script-mode sources in the folder itself" in only_error(repo, path)


def test_a_declared_script_file_that_links_out_is_refused(repo: Path) -> None:
    text = descriptor(ml='benchmark_code = "python3 $(BAI_SCRIPTS_PATH)/hello.py"\n\n[ml.script]\nscript = "hello.py"')
    path = write_descriptor(repo, text)
    (path.parent / "hello.py").symlink_to("/etc/hostname")
    assert "'hello.py' is a link to '/etc/hostname', which leaves the benchmark's folder" in only_error(repo, path)


def test_a_fifo_in_src_is_refused_without_blocking(repo: Path) -> None:
    path = scripted(repo)
    os.mkfifo(path.parent / "src" / "pipe")
    assert "'src/pipe' is a named pipe (FIFO); script-mode sources must be regular files" in only_error(repo, path)


def test_the_size_limit_counts_bytes_read_not_what_stat_says(monkeypatch: pytest.MonkeyPatch) -> None:
    # /proc files report st_size 0 whatever they hold; the limit must stop the read all the same
    monkeypatch.setattr(scripts, "SCRIPT_SIZE_LIMIT", 8)
    environ = Path("/proc/self/environ")
    assert environ.stat().st_size == 0 and len(environ.read_bytes()) > 8
    with pytest.raises(ScriptTooLarge):
        scripts._Reader(Path("/proc/self")).read(environ)


def test_the_bytes_hashed_are_the_bytes_rendered(repo: Path) -> None:
    path = scripted(repo)
    planned = plan(repo, path)
    (path.parent / "src" / "a.py").write_text("print('changed')\n")  # after planning: the ConfigMap keeps the plan's
    assert planned.scripts is not None and planned.scripts.contents() == {"src/a.py": b"print('a=1')\n"}
    [run] = planned.runs
    render_run(run, Catalog(repo).get(run.environment), planned.scripts.contents())


def test_too_many_files_are_refused(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scripts, "SCRIPT_FILE_LIMIT", 3)
    path = scripted(repo)
    for i in range(4):
        (path.parent / "src" / f"f{i}.py").write_text("")
    with pytest.raises(ScriptProblem, match="more than 3 files"):
        collect_script(path.parent, None)


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../outside"])
def test_plan_on_a_pull_request_with_a_link_out_says_so(repo: Path, target: str) -> None:
    path = scripted(repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    (path.parent / "src" / "env.txt").symlink_to(target)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "head")
    result = CliRunner().invoke(cli, ["--repo", str(repo), "plan", "--base", "HEAD~1", "--head", "HEAD"])
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "benchmarks/t/src/env.txt:1:1: is a link to" in result.output
    assert target in result.output


# --- 3. limits: matrix points, string lengths, descriptor files --------------------------------------


def test_a_matrix_of_a_hundred_million_points_is_refused_before_it_is_expanded(repo: Path) -> None:
    axes = "\n".join(f'"env.vars.A{i}" = [{", ".join(repr(str(v)) for v in range(10))}]' for i in range(8))
    text = descriptor(tail=f"[matrix.axes]\n{axes}")
    path = write_descriptor(repo, text)
    assert only_error(repo, path) == (
        f"{SHOWN}:{line_of(text, '[matrix.axes]')}:1: matrix.axes: the matrix has 100000000 points; at most 256 are"
        " allowed: use fewer axes or values, or split the benchmark"
    )


def test_a_huge_command_word_is_refused_by_its_length(repo: Path) -> None:
    text = descriptor(ml=f'benchmark_code = "python3 {"x" * 200_000}"')
    path = write_descriptor(repo, text)
    assert only_error(repo, path) == (
        f"{SHOWN}:{line_of(text, 'benchmark_code')}:1: ml.benchmark_code: is 200008 characters long; at most 16384 are"
        " allowed here: shorten it"
    )


def test_the_rules_and_the_schema_agree_on_the_longest_command() -> None:
    from renderer.rules import MAX_COMMAND_LENGTH

    assert load_schema("descriptor")["$defs"]["command"]["maxLength"] == MAX_COMMAND_LENGTH


def test_a_descriptor_over_the_size_limit_is_refused_unread(repo: Path) -> None:
    path = write_descriptor(repo, descriptor() + "#" * (256 * 1024))
    assert only_error(repo, path) == (
        f"{SHOWN}:1:1: the file is larger than 256 KiB; a descriptor this large is not plausible, shorten it"
    )


def test_a_descriptor_linked_to_dev_zero_is_refused_unread(repo: Path) -> None:
    folder = repo / "benchmarks" / "z"
    folder.mkdir()
    (folder / "descriptor.toml").symlink_to("/dev/zero")
    result = CliRunner().invoke(cli, ["--repo", str(repo), "validate"])
    assert result.exit_code == 1
    # refused where it is found, before anything reads it (reading /dev/zero never ends)
    assert "benchmarks/z/descriptor.toml:1:1: this link points to /dev/zero, which is not a file or folder" in result.output
    assert "Traceback" not in result.output


def test_a_fifo_named_on_the_command_line_is_not_a_descriptor(repo: Path) -> None:
    os.mkfifo(repo / "pipe.toml")
    result = CliRunner().invoke(cli, ["--repo", str(repo), "validate", str(repo / "pipe.toml")])
    assert result.exit_code == 1
    assert "pipe.toml:1:1: not a regular file or a folder" in result.output


def test_a_preview_branch_name_with_a_newline_is_not_taken() -> None:
    from anubis.previewing import preview_branch

    assert preview_branch(3, "main\n") == "pr-3"
    assert preview_branch(3, "feature/x") == "feature/x"


def test_a_descriptor_fifo_is_refused_without_blocking(repo: Path) -> None:
    folder = repo / "benchmarks" / "f"
    folder.mkdir()
    os.mkfifo(folder / "descriptor.toml")
    result = CliRunner().invoke(cli, ["--repo", str(repo), "validate"])
    assert result.exit_code == 1
    assert "benchmarks/f/descriptor.toml:1:1: not a regular file (a pipe, a device or a socket)" in result.output


# --- 4. no tracebacks ----------------------------------------------------------------------------------


def test_processes_per_instance_with_a_newline(repo: Path) -> None:
    text = descriptor(hardware='instance_type = "c5.xlarge"\n\n[hardware.distributed]\nprocesses_per_instance = "gpus\\n"')
    path = write_descriptor(repo, text)
    assert "hardware.distributed.processes_per_instance: must be \"gpus\" or a positive number" in only_error(repo, path)


@pytest.mark.parametrize(
    "tail",
    [
        "[custom_params]\nx = " + "[" * 2000 + "]" * 2000,
        "[custom_params]\nx = " + "{a = " * 2000 + "1" + "}" * 2000,
        "[custom_params]\n" + ".".join(["a"] * 3000) + " = 1",
        "[" + ".".join(["custom_params"] + ["a"] * 3000) + "]\nb = 1",
    ],
    ids=["arrays", "inline-tables", "dotted-keys", "table-header"],
)
def test_deep_nesting_is_refused(repo: Path, tail: str) -> None:
    path = write_descriptor(repo, descriptor(tail=tail))
    assert "nest more than 24 deep; flatten them" in only_error(repo, path)


def test_a_pattern_nesting_groups_too_deeply(repo: Path) -> None:
    pattern = "(" * 511 + "a" + ")" * 511
    text = descriptor(tail=f'[[output.metrics]]\nname = "m"\nunits = "ms"\npattern = "{pattern}"')
    path = write_descriptor(repo, text)
    # refused as a pattern problem (RE2 takes the nesting; the first group never holds a number), never a
    # RecursionError from a backtracking parser
    assert "output.metrics[0].pattern: the first capture group" in only_error(repo, path)


def test_an_environment_name_too_long_for_a_file_name(repo: Path) -> None:
    # found by the fuzz test: the name became a path before the schema's verdict (OSError: name too long)
    text = descriptor(info=f'environment = "{"x" * 251}"')
    path = write_descriptor(repo, text)
    assert only_error(repo, path).startswith(f"{SHOWN}:{line_of(text, 'environment =')}:1: info.environment: is 251")


@pytest.mark.parametrize("value", ["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00"])
def test_a_toml_date_in_custom_params(repo: Path, value: str) -> None:
    text = descriptor(tail=f"[custom_params]\nwhen = {value}")
    path = write_descriptor(repo, text)
    message = only_error(repo, path)
    assert message.startswith(f"{SHOWN}:{line_of(text, 'when =')}:1: custom_params.when: is a TOML date or time")
    assert message.endswith("no field takes one: quote it as a string")


def test_a_toml_date_given_with_set(repo: Path) -> None:
    path = write_descriptor(repo, descriptor())
    with pytest.raises(DescriptorError, match="is a TOML date or time"):
        check_descriptor(path, repo_root=repo, overrides=["custom_params.when=1979-05-27"])


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_numbers(repo: Path, value: str) -> None:
    path = write_descriptor(repo, descriptor(tail=f"[custom_params]\nx = {value}"))
    assert f"custom_params.x: is {float(value)}; only finite numbers are allowed" in only_error(repo, path)


# --- 5. anchors: no trailing newline, no control character ----------------------------------------------


@pytest.mark.parametrize(
    ("section", "line", "field"),
    [
        ("labels", 'task_name = "demo\\n"', "info.labels.task_name"),
        ("info", 'timeout = "30m\\n"', "info.timeout"),
        ("info", 'environment = "cpu-cluster\\n"', "info.environment"),
        ("env", 'docker_image = "python:3.11\\n"', "env.docker_image"),
        ("hardware", 'instance_type = "c5.xlarge"\naws_zone_id = "use1-az1\\n"', "hardware.aws_zone_id"),
        ("hardware", 'instance_type = "c5.xlarge"\navailability_zone = "us-east-1a\\t"', "hardware.availability_zone"),
    ],
)
def test_a_trailing_newline_or_tab_is_refused(repo: Path, section: str, line: str, field: str) -> None:
    path = write_descriptor(repo, descriptor(**{section: line}))  # type: ignore[arg-type]
    assert any(f" {field}: " in e for e in errors(repo, path)), errors(repo, path)


def test_a_metric_name_with_a_newline_never_reaches_promql(repo: Path) -> None:
    text = descriptor(tail='[[output.metrics]]\nname = "m\\"} or vector(1) #\\n"\nunits = "ms"')
    path = write_descriptor(repo, text)
    assert any("output.metrics[0].name:" in e for e in errors(repo, path))
    text = descriptor(tail='[[output.metrics]]\nname = "m\\n"\nunits = "ms"')
    path = write_descriptor(repo, text)
    assert any("holds the control character '\\n'" in e for e in errors(repo, path))


def _anchored_patterns(node: object, where: str = "") -> list[tuple[str, dict[str, object]]]:
    found: list[tuple[str, dict[str, object]]] = []
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str) and node["pattern"].endswith("$"):
            found.append((where, node))
        for key, value in node.items():
            found += _anchored_patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _anchored_patterns(value, f"{where}/{i}")
    return found


@pytest.mark.parametrize("name", ["descriptor", "environment"])
def test_every_anchored_pattern_of_the_schemas_also_refuses_control_characters(name: str) -> None:
    # JSON Schema (ECMA-262 and Python's re.search alike) lets '$' match before a final newline
    schema = load_schema(name)
    guards = ("#/$defs/line", "#/$defs/label_syntax", "#/$defs/text")
    for where, node in _anchored_patterns(schema):
        guarded = node.get("$ref") in guards or "not" in node or where.startswith("/$defs/line")
        guarded = guarded or any("not" in part for part in node.get("allOf", []))  # type: ignore[union-attr]
        assert guarded, f"{name}.schema.json{where}: '{node['pattern']}' accepts a trailing newline"


# --- 6. policy: instance counts, image references, ECR accounts ---------------------------------------


@pytest.mark.parametrize("count", [1_000_000, 2**63 - 1, 9])
def test_num_instances_is_bounded_by_the_environment(repo: Path, count: int) -> None:
    text = descriptor(
        hardware=f'instance_type = "c5.xlarge"\nstrategy = "horovod"\n\n[hardware.distributed]\nnum_instances = {count}'
    )
    path = write_descriptor(repo, text)
    assert only_error(repo, path) == (
        f"{SHOWN}:{line_of(text, 'num_instances')}:1: hardware.distributed.num_instances: num_instances = {count} is"
        " more than environment 'cpu-cluster' allows (8, its policy.max_instances)"
    )


@pytest.mark.parametrize(
    ("image", "registry", "repository"),
    [
        ("python:3.11", "docker.io", "library/python"),
        ("horovod/horovod:0.28.1", "docker.io", "horovod/horovod"),
        ("EVILHOST/x", "EVILHOST", "x"),  # an upper-case first component is a host (distribution/reference)
        ("localhost/x", "localhost", "x"),
        ("evil:5000/x", "evil:5000", "x"),
        ("index.docker.io/x", "docker.io", "library/x"),
        ("ghcr.io/a/b@sha256:" + "a" * 64, "ghcr.io", "a/b"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/bench:1", "123456789012.dkr.ecr.us-east-1.amazonaws.com", "bench"),
    ],
)
def test_image_references_follow_the_docker_grammar(image: str, registry: str, repository: str) -> None:
    reference = parse_image(image)
    assert (reference.registry, reference.repository) == (registry, repository)


@pytest.mark.parametrize(
    "image", ["docker.io/EVIL/x", "Python:3.11", "x:" + "t" * 129, "a" * 64, "x@sha256:12", "x::1", "-x", "ghcr.io/a//b", "ghcr.io/a/b:tág"]
)
def test_invalid_image_references(image: str) -> None:
    with pytest.raises(ImageReferenceError):
        parse_image(image)


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("EVILHOST/x", False),
        ("python:3.11", True),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1", True),
        ("999999999999.dkr.ecr.us-east-1.amazonaws.com/x:1", False),
        ("evil.123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", False),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.io/x:1", False),
        ("ghcr.io.evil.io/x", False),
    ],
)
def test_registries_of_the_cpu_cluster(repo: Path, image: str, allowed: bool) -> None:
    text = descriptor(env=f'docker_image = "{image}"')
    path = write_descriptor(repo, text)
    if allowed:
        assert plan(repo, path).runs
    else:
        assert "is not allowed in environment 'cpu-cluster'" in only_error(repo, path)


def test_an_allow_list_entry_with_a_path_prefix_stops_at_a_component() -> None:
    entries = ["ghcr.io/anubis-bench"]
    assert registry_allowed(parse_image("ghcr.io/anubis-bench/x:1"), entries)
    assert not registry_allowed(parse_image("ghcr.io/anubis-benchmarks/x:1"), entries)
    assert not registry_allowed(parse_image("ghcr.io/other/x:1"), entries)


def test_an_ecr_wildcard_account_is_refused_in_an_environment(repo: Path) -> None:
    path = repo / "environments" / "cpu-cluster.toml"
    path.write_text(path.read_text().replace('"123456789012.dkr.ecr.*.amazonaws.com"', '"*.dkr.ecr.*.amazonaws.com"'))
    with pytest.raises(DescriptorError, match="admits the ECR registries of every AWS account; name your account"):
        load_environment(repo, "cpu-cluster")


def test_no_shipped_environment_admits_every_ecr_account() -> None:
    root = Path(__file__).resolve().parents[3]
    for env in Catalog(root).all():
        assert not any(e.startswith("*") and ".dkr.ecr." in e for e in env.policy.allowed_registries), env.name


# --- 7. whatever render refuses, validate refuses first --------------------------------------------------


def test_a_description_over_the_annotation_limit(repo: Path) -> None:
    text = descriptor().replace('description = "A test benchmark."', f'description = "{"d" * 140_000}"')
    path = write_descriptor(repo, text)
    message = only_error(repo, path)
    assert message.startswith(f"{SHOWN}:{line_of(text, 'description =')}:1: info.description: cannot be rendered for"
                              " environment 'cpu-cluster': the run's annotations take")


def test_a_benchmark_folder_that_cannot_label_its_objects(repo: Path) -> None:
    path = write_descriptor(repo, descriptor(), name="my benchmark")
    assert "the benchmark's name 'my benchmark' (its folder's) labels its objects on the cluster" in only_error(repo, path)


def test_what_validate_accepts_the_original_examples_render(repo: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    for compat in sorted((root / "tests" / "unit" / "renderer" / "compat").glob("*.toml")):
        path = write_descriptor(repo, compat.read_text(), name=compat.stem)
        if "BAI_SCRIPTS_PATH" in compat.read_text():
            (path.parent / "src").mkdir()
            (path.parent / "src" / "entrypoint.sh").write_text("echo 1\n")
        planned = check_descriptor(path, repo_root=repo)
        for run in planned.runs:
            env = Catalog(repo).get(run.environment)
            if env.kind == "kubernetes":
                assert render_run(run, env, planned.scripts.contents() if planned.scripts else {}).text


def test_the_json_of_a_run_never_holds_a_date(repo: Path) -> None:
    # identity.canonical_json and the runspec annotation are JSON: nothing of a valid descriptor breaks them
    path = write_descriptor(repo, descriptor(tail='[custom_params]\nwhen = "1979-05-27"'))
    [run] = plan(repo, path).runs
    assert json.loads(json.dumps(run.to_dict()))["custom_params"] == {"when": "1979-05-27"}
