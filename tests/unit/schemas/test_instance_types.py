"""schemas/instance_types.py: the shipped EC2 catalogue, its headroom rule and its suggestions."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from schemas.instance_types import InstanceSpec, allocatable, catalogue


def test_the_catalogue_names_its_source_and_date() -> None:
    doc = json.loads(resources.files("schemas").joinpath("data", "ec2-instance-types.json").read_text())
    assert doc["source"].startswith("Amazon EC2 instance type specifications, https://docs.aws.amazon.com/")
    assert doc["compiled"] == catalogue().compiled and len(doc["compiled"]) == 10


@pytest.mark.parametrize(
    ("name", "vcpus", "memory_gib", "gpus", "model"),
    [
        ("t3.small", 2, 2, 0, None),
        ("c5.18xlarge", 72, 144, 0, None),
        ("m5.xlarge", 4, 16, 0, None),
        ("p3.2xlarge", 8, 61, 1, "NVIDIA V100"),
        ("p3.8xlarge", 32, 244, 4, "NVIDIA V100"),
        ("p3dn.24xlarge", 96, 768, 8, "NVIDIA V100"),
        ("p4d.24xlarge", 96, 1152, 8, "NVIDIA A100"),
        ("p5.48xlarge", 192, 2048, 8, "NVIDIA H100"),
        ("g4dn.12xlarge", 48, 192, 4, "NVIDIA T4"),
        ("g5.48xlarge", 192, 768, 8, "NVIDIA A10G"),
        ("g6.xlarge", 4, 16, 1, "NVIDIA L4"),
    ],
)
def test_published_figures(name: str, vcpus: int, memory_gib: int, gpus: int, model: str | None) -> None:
    spec = catalogue().get(name)
    assert spec is not None
    assert (spec.vcpus, spec.memory_mib, spec.gpus, spec.gpu_model) == (vcpus, memory_gib * 1024, gpus, model)


def test_every_family_in_use_is_there() -> None:
    families = {spec.family for spec in catalogue().types.values()}
    assert families >= {"c5", "c5n", "c6i", "c7i", "m5", "m6i", "m7i", "r5", "t3", "g4dn", "g5", "g6", "p3", "p3dn",
                        "p4d", "p5"}
    for spec in catalogue().types.values():
        assert spec.vcpus > 0 and spec.memory_mib > 0
        assert (spec.gpus > 0) == (spec.gpu_model is not None), spec.name


@pytest.mark.parametrize(
    ("vcpus", "memory_gib", "cpu", "memory"),
    [
        (2, 2, "1500m", "1413Mi"),  # t3.small: 500m and 512 MiB + 6 % kept back
        (4, 8, "3500m", "7188Mi"),  # c5.xlarge
        (32, 244, "31", "234352Mi"),  # p3.8xlarge: 1 vCPU kept back from 9 up to 64
        (96, 768, "94", "738734Mi"),  # p3dn.24xlarge: 2 vCPUs above 64
    ],
)
def test_headroom_rule(vcpus: int, memory_gib: int, cpu: str, memory: str) -> None:
    fitted = allocatable(InstanceSpec("x.y", vcpus, memory_gib * 1024))
    assert (fitted.cpu, fitted.memory) == (cpu, memory)


def test_an_unknown_type_names_the_nearest_real_ones() -> None:
    assert catalogue().unknown_message("p3.4xlarge") == (
        "'p3.4xlarge' is not a known EC2 instance type; nearest: p3.8xlarge, p3.2xlarge, p3dn.24xlarge"
    )
    assert catalogue().nearest("t3.smal")[0] == "t3.small"
    assert catalogue().nearest("zz") == []


def test_a_name_longer_than_any_type_is_not_repeated() -> None:
    # Found by the validate → render fuzz test: a 65,260-character instance type was quoted whole.
    message = catalogue().unknown_message("p3." + "x" * 65_257)
    assert message == f"'p3.{'x' * 61}…' (65260 characters) is not a known EC2 instance type"
