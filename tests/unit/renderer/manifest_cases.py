"""RunSpecs and Environments for the manifest tests, built directly (no descriptor, no planning).

``RENDER_CASES`` names one (spec, environment, scripts) per thing the renderer emits; the golden files
under ``cases/<name>/expected.yaml`` are their renders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

import pytest

from schemas.environment import DatasetCache, Destination, Environment, InstanceType, Policy
from schemas.runspec import (
    Checksum,
    DataSource,
    MetricSpec,
    Placement,
    Probe,
    RunSpec,
    ScriptFile,
    ScriptSpec,
    ServerSpec,
    Source,
)

GPU_TOLERATION = {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}

CPU_ENV = Environment(
    name="cpu-cluster",
    kind="kubernetes",
    destination=Destination(namespace="anubis-runs"),
    fetcher_image="ghcr.io/anubis-bench/anubis:0.1.0",
    instance_types={
        "c5.xlarge": InstanceType(
            node_selector={"node.kubernetes.io/instance-type": "c5.xlarge", "anubis.dev/node-pool": "cpu"},
            cpu="3500m",
            memory="6Gi",
        ),
        "c5.2xlarge": InstanceType(
            node_selector={"node.kubernetes.io/instance-type": "c5.2xlarge", "anubis.dev/node-pool": "cpu"},
            cpu="7500m",
            memory="13Gi",
        ),
    },
    dataset_cache=DatasetCache(kind="pvc", claim_name="anubis-dataset-cache"),
)

GPU_ENV = Environment(
    name="gpu-cluster",
    kind="kubernetes",
    destination=Destination(namespace="anubis-gpu-runs"),
    fetcher_image="ghcr.io/anubis-bench/anubis:0.1.0",
    instance_types={
        "p3.8xlarge": InstanceType(
            node_selector={"node.kubernetes.io/instance-type": "p3.8xlarge", "anubis.dev/node-pool": "gpu"},
            tolerations=(GPU_TOLERATION,),
            cpu="31",
            memory="230Gi",
            gpus=4,
        ),
        "c5.xlarge": InstanceType(
            node_selector={"node.kubernetes.io/instance-type": "c5.xlarge", "anubis.dev/node-pool": "cpu"},
            cpu="3500m",
            memory="6Gi",
        ),
    },
    policy=Policy(allow_privileged=True, max_gpus=32),
    dataset_cache=DatasetCache(kind="emptyDir", size="200Gi"),
)

LOCAL_ENV = Environment(name="local", kind="local", instance_types={"*": InstanceType()})

SCRIPTS: dict[str, bytes] = {
    "train.py": b"import benchmarkai\nprint('hello')\n",
    "run.sh": b"#!/bin/sh\nexec python3 \"$BAI_SCRIPTS_PATH/train.py\" \"$@\"\n",
    "data/labels.txt": b"cat\ndog\n",
}


def script_spec(files: dict[str, bytes], executable: frozenset[str] = frozenset({"run.sh"})) -> ScriptSpec:
    entries = tuple(
        ScriptFile(path=p, sha256=hashlib.sha256(b).hexdigest(), size=len(b), executable=p in executable)
        for p, b in sorted(files.items())
    )
    digest = hashlib.sha256(repr([(f.path, f.sha256, f.executable) for f in entries]).encode()).hexdigest()
    return ScriptSpec(source_dir="benchmarks/hello-world/src", digest=digest, files=entries)


def placement(env: Environment, name: str) -> Placement:
    it = env.instance_types[name]
    return Placement(
        instance_type=name,
        node_selector=dict(it.node_selector),
        tolerations=it.tolerations,
        cpu=it.cpu,
        memory=it.memory,
        gpus=it.gpus,
    )


METRICS = (
    MetricSpec(name="throughput", units="images/s", pattern=r"throughput=([-+]?\d*\.?\d+)", direction="higher"),
    MetricSpec(name="loss", units="", pattern=None, direction="lower"),
)


def base_spec(**changes: object) -> RunSpec:
    spec = RunSpec(
        run_id="hello-world-0f3a9c1b7d",
        family_id="hello-world-6b2e41",
        benchmark="hello-world",
        descriptor_path="benchmarks/hello-world/descriptor.toml",
        descriptor_hash="sha256:" + "ab" * 32,
        environment="cpu-cluster",
        matrix_point={},
        strategy="single_node",
        execution_engine="default",
        schedule=None,
        image="docker.io/library/python:3.11-slim",
        command=("python3", "$(BAI_SCRIPTS_PATH)/train.py", "--epochs", "1"),
        env={"PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "4"},
        privileged=False,
        extended_shm=False,
        placement=placement(CPU_ENV, "c5.xlarge"),
        num_instances=1,
        processes_per_instance=1,
        availability_zone=None,
        aws_zone_id=None,
        timeout_seconds=7200,
        data=(),
        metrics=METRICS,
        labels={"team": "ml-perf", "task_name": "hello-world"},
        description="A benchmark that prints its throughput.",
        framework="pytorch",
        framework_version="2.3",
        source=Source(repository="https://github.com/anubis-bench/benchmarks", commit="c0ffee" * 6 + "c0ff"),
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


def single_node_case() -> tuple[RunSpec, Environment, dict[str, bytes]]:
    """GPU, data sources (one without a checksum), script mode, shared memory, an availability zone."""
    spec = base_spec(
        run_id="resnet-train-4d1c7e2a90",
        family_id="resnet-train-9a8b7c",
        benchmark="resnet-train",
        descriptor_path="benchmarks/resnet-train/descriptor.toml",
        environment="gpu-cluster",
        image="nvcr.io/nvidia/pytorch:24.05-py3",
        command=("$(BAI_SCRIPTS_PATH)/run.sh", "--batch-size", "256"),
        extended_shm=True,
        placement=placement(GPU_ENV, "p3.8xlarge"),
        availability_zone="us-east-1a",
        data=(
            DataSource(
                src="s3://anubis-datasets/imagenet/train.tar",
                path="/data/imagenet/train.tar",
                checksum=Checksum("md5", "5d41402abc4b2a76b9719d911017c592"),
                id="train",
            ),
            DataSource(src="https://example.com/labels.json", path="/data/labels.json"),
        ),
        script=script_spec(SCRIPTS),
        source=Source(repository="https://github.com/anubis-bench/benchmarks", commit="ab" * 20, pull_request=42),
    )
    return spec, GPU_ENV, SCRIPTS


def horovod_case() -> tuple[RunSpec, Environment, dict[str, bytes]]:
    spec = base_spec(
        run_id="horovod-resnet-77aa01bc3d",
        family_id="horovod-resnet-1f2e3d",
        benchmark="horovod-resnet",
        descriptor_path="benchmarks/horovod-resnet/descriptor.toml",
        environment="gpu-cluster",
        strategy="horovod",
        image="docker.io/horovod/horovod:0.28.1",
        command=("horovodrun", "-np", "8", "python", "/examples/pytorch_synthetic_benchmark.py"),
        env={"NCCL_DEBUG": "INFO"},
        privileged=True,
        extended_shm=True,
        placement=placement(GPU_ENV, "p3.8xlarge"),
        num_instances=2,
        processes_per_instance="gpus",
        aws_zone_id="use1-az4",
        data=(DataSource(src="s3://anubis-datasets/synthetic.bin", path="/data/synthetic.bin"),),
        matrix_point={"batch_size": 64},
    )
    return spec, GPU_ENV, {}


def inference_case() -> tuple[RunSpec, Environment, dict[str, bytes]]:
    spec = base_spec(
        run_id="bert-serving-5e6f7a8b9c",
        family_id="bert-serving-0a1b2c",
        benchmark="bert-serving",
        descriptor_path="benchmarks/bert-serving/descriptor.toml",
        environment="gpu-cluster",
        strategy="inference",
        image="docker.io/anubis/load-generator:1.0",
        command=("loadgen", "--url", "http://$(INFERENCE_SERVER_HOST):$(INFERENCE_SERVER_PORT)/predict"),
        env={},
        placement=placement(GPU_ENV, "c5.xlarge"),
        server=ServerSpec(
            image="nvcr.io/nvidia/tritonserver:24.05-py3",
            command=("tritonserver", "--model-repository=/models"),
            ports=(8000, 8002),
            env={"CUDA_VISIBLE_DEVICES": "0"},
            privileged=False,
            extended_shm=True,
            instance_type="p3.8xlarge",
            readiness_probe=Probe(path="/v2/health/ready", port=8000),
            models=(
                DataSource(
                    src="s3://anubis-models/bert/model.onnx",
                    path="/models/bert/1/model.onnx",
                    checksum=Checksum("sha256", "e3" * 32),
                ),
            ),
            metrics=(MetricSpec(name="server_latency", units="ms", pattern=r"latency=(\d+)", direction="lower"),),
        ),
    )
    return spec, GPU_ENV, {}


def scheduled_case() -> tuple[RunSpec, Environment, dict[str, bytes]]:
    spec = base_spec(
        run_id="nightly-cpu-12ab34cd56",
        family_id="nightly-cpu-aa11bb",
        benchmark="nightly-cpu",
        descriptor_path="benchmarks/nightly-cpu/descriptor.toml",
        schedule="0 3 * * *",
        command=(),
        env={},
        data=(DataSource(src="https://example.com/corpus.txt", path="/data/corpus.txt"),),
    )
    return spec, CPU_ENV, {}


RENDER_CASES: dict[str, Callable[[], tuple[RunSpec, Environment, dict[str, bytes]]]] = {
    "single-node-gpu-data-script": single_node_case,
    "horovod": horovod_case,
    "inference": inference_case,
    "scheduled": scheduled_case,
}


@pytest.fixture(params=sorted(RENDER_CASES))
def render_case(request: pytest.FixtureRequest) -> tuple[str, RunSpec, Environment, dict[str, bytes]]:
    spec, env, scripts = RENDER_CASES[request.param]()
    return request.param, spec, env, scripts
