"""Environments: the built-in local one, instance types by pattern resolved through the catalogue,
and the choice of one environment for a descriptor whose pods need different node pools."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_validation import descriptor, errors, make_repo, plan, write_descriptor

from renderer.environments import builtin_path, environment_names, load_environment
from schemas.environment import INSTANCE_TYPE_LABEL, Environment, InstanceTypeRule
from schemas.errors import NotFoundError


def check(repo: Path, text: str, **kwargs: object) -> list[str]:
    return errors(repo, write_descriptor(repo, text), **kwargs)


def ok(repo: Path, text: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return plan(repo, write_descriptor(repo, text), **kwargs)


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def test_local_is_built_in(tmp_path: Path) -> None:
    assert environment_names(tmp_path) == ["local"]
    assert environment_names(None) == ["local"]
    env = load_environment(tmp_path, "local")
    assert env.kind == "local" and env.source_path == "<built-in>/environments/local.toml"
    with pytest.raises(NotFoundError, match="known environments: local"):
        load_environment(tmp_path, "gpu-cluster")


def test_a_repository_may_replace_the_built_in_local(tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    text = builtin_path("local").read_text().replace('default_timeout = "1h"', 'default_timeout = "5m"')
    (tmp_path / "environments" / "local.toml").write_text(text)
    env = load_environment(tmp_path, "local")
    assert env.policy.default_timeout_seconds == 300 and env.source_path == "environments/local.toml"


def test_this_repository_keeps_its_local_identical_to_the_built_in() -> None:
    root = Path(__file__).resolve().parents[3]
    assert (root / "environments" / "local.toml").read_text() == builtin_path("local").read_text()


def cluster(**rules: InstanceTypeRule) -> Environment:
    return Environment(name="c", kind="kubernetes", instance_types=dict(rules))


def test_a_pattern_takes_resources_and_gpus_from_the_catalogue() -> None:
    env = cluster(**{"p3.*": InstanceTypeRule(node_selector={"pool": "gpu"}, tolerations=(GPU_TOLERATION,))})
    offered = env.instance_type("p3.8xlarge")
    assert offered is not None
    assert (offered.cpu, offered.memory, offered.gpus, offered.gpu_model) == ("31", "234352Mi", 4, "NVIDIA V100")
    assert offered.node_selector == {INSTANCE_TYPE_LABEL: "p3.8xlarge", "pool": "gpu"}
    assert offered.tolerations == (GPU_TOLERATION,)
    assert env.instance_type("p3dn.24xlarge") is None  # "p3.*" is the p3 family only


def test_the_most_specific_entry_wins_and_overrides_only_what_it_sets() -> None:
    env = cluster(**{
        "*": InstanceTypeRule(node_selector={"pool": "any"}),
        "c5.*": InstanceTypeRule(node_selector={"pool": "cpu"}),
        "c5.18xlarge": InstanceTypeRule(node_selector={"pool": "big"}, memory="120Gi"),
    })
    big = env.instance_type("c5.18xlarge")
    assert big is not None and (big.node_selector["pool"], big.cpu, big.memory) == ("big", "70", "120Gi")
    small = env.instance_type("c5.xlarge")
    assert small is not None and small.node_selector["pool"] == "cpu"
    other = env.instance_type("m5.large")
    assert other is not None and other.node_selector["pool"] == "any"


def test_a_pattern_does_not_cover_an_unknown_type_and_the_reason_names_the_nearest() -> None:
    env = cluster(**{"p3.*": InstanceTypeRule()})
    assert env.instance_type("p3.4xlarge") is None
    assert env.unavailable_reason("p3.4xlarge") == (
        "'p3.4xlarge' is not a known EC2 instance type; nearest: p3.8xlarge, p3.2xlarge, p3dn.24xlarge;"
        " environment 'c' offers p3.*"
    )
    assert env.unavailable_reason("g5.xlarge") == "instance type 'g5.xlarge' is not offered by environment 'c'; offered: p3.*"


def test_a_type_listed_on_its_own_may_be_any_name_with_its_resources() -> None:
    env = cluster(**{"on-prem-a100": InstanceTypeRule(cpu="60", memory="400Gi", gpus=8)})
    offered = env.instance_type("on-prem-a100")
    assert offered is not None and (offered.cpu, offered.memory, offered.gpus) == ("60", "400Gi", 8)


def test_the_local_environment_hands_out_gpus_only_when_its_entry_says_so() -> None:
    env = Environment(name="local", kind="local", instance_types={"*": InstanceTypeRule()})
    offered = env.instance_type("p3.8xlarge")
    assert offered is not None and offered.gpus == 0 and offered.node_selector == {}


def test_an_unknown_type_in_the_local_environment_is_a_warning(repo: Path) -> None:
    planned = ok(repo, descriptor(hardware='instance_type = "t3.smal"'), environment="local")
    assert [w.message for w in planned.warnings] == [
        "'t3.smal' is not a known EC2 instance type; nearest: t3.small, t2.small, t3.nano; a cluster environment"
        " will refuse it"
    ]


def test_any_real_type_of_a_family_is_offered(repo: Path) -> None:
    for name, env, gpus in [("m7i.48xlarge", "cpu-cluster", 0), ("p3dn.24xlarge", "gpu-cluster", 8),
                            ("g6.12xlarge", "gpu-cluster", 4), ("c5n.9xlarge", "cpu-cluster", 0)]:
        image = 'docker_image = "nvcr.io/x:1"' if gpus else 'docker_image = "python:3.11"'
        [run] = ok(repo, descriptor(hardware=f'instance_type = "{name}"', env=image)).runs
        assert (run.environment, run.placement.gpus) == (env, gpus), name


def test_processes_per_instance_gpus_counts_the_catalogue_gpus(repo: Path) -> None:
    text = descriptor(
        hardware='instance_type = "p4d.24xlarge"\nstrategy = "horovod"\n\n[hardware.distributed]\n'
                 'num_instances = 2\nprocesses_per_instance = "gpus"',
        env='docker_image = "nvcr.io/x:1"',
    )
    [run] = ok(repo, text).runs
    assert (run.placement.gpus, run.processes_per_instance, run.num_instances) == (8, "gpus", 2)


INFERENCE = 'instance_type = "t3.medium"\nstrategy = "inference"'
GPU_SERVER = """
[server.hardware]
instance_type = "p3.8xlarge"

[server.env]
docker_image = "nvcr.io/x/server:1"
start_command = ""
ports = [8080]
"""


def test_a_gpu_server_and_a_cpu_client_land_in_one_environment(repo: Path) -> None:
    [run] = ok(repo, descriptor(hardware=INFERENCE, tail=GPU_SERVER)).runs
    assert run.environment == "gpu-cluster"
    assert run.server is not None and run.server.command == ()  # empty start_command: the image's entrypoint


def test_no_one_environment_offering_both_is_said(repo: Path) -> None:
    (repo / "environments" / "gpu-cluster.toml").write_text(
        (repo / "environments" / "gpu-cluster.toml").read_text().split('[instance_types."t3.*"]')[0]
        + "\n[policy]\nmax_gpus = 32\nallow_privileged = true\n"
    )
    [problem] = check(repo, descriptor(hardware=INFERENCE, tail=GPU_SERVER))
    assert problem.endswith(
        "server.hardware.instance_type: no one environment offers both 't3.medium' and 'p3.8xlarge' (environments:"
        " cpu-cluster, gpu-cluster); add both to one environment or set info.environment"
    )
