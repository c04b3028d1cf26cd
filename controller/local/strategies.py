"""What each strategy of a RunSpec runs on this machine: one benchmark process (``single_node``,
``horovod`` through an MPI launcher, …), or an inference server and, once it is ready, its client."""

from __future__ import annotations

import shutil

from controller.local import inference
from controller.local.execution import Execution, Stopped, Strategy, server_exit_reason
from controller.local.logs import EventTail
from controller.local.machine import gpu_count
from schemas.errors import BackendError
from schemas.runspec import MPI_LAUNCHERS, RunSpec, mpi_argv, total_processes
from schemas.status import RunStatus


def strategy_for(spec: RunSpec) -> Strategy:
    """How ``spec`` runs once its data is in place."""
    return run_inference if spec.strategy == "inference" else run_benchmark


def mpi_launcher() -> str | None:
    for name in MPI_LAUNCHERS:
        program = shutil.which(name)
        if program:
            return program
    return None


def benchmark_command(execution: Execution) -> tuple[str, ...]:
    """The benchmark's argv; a horovod run launched through MPI exactly as the cluster's launcher does."""
    spec = execution.spec
    if spec.strategy != "horovod" or not spec.command:
        return spec.argv
    program = mpi_launcher() if execution.config.engine is None else "mpirun"
    if program is None:
        raise BackendError(
            "horovod runs need an MPI launcher (mpirun) on this machine; "
            "install OpenMPI or run on a cluster environment"
        )
    return mpi_argv(spec.argv, total_processes(spec, gpu_count()), program)


def run_benchmark(execution: Execution) -> None:
    spec = execution.spec
    execution.metrics_file.touch()
    tail = EventTail(execution.metrics_file, execution.on_event_line)
    tail.start()
    try:
        group = execution.start(
            "output",
            image=spec.image,
            command=benchmark_command(execution),
            env=spec.env,
            extra={},
            extractor=execution.extractor,
            privileged=spec.privileged,
            extended_shm=spec.extended_shm,
            gpus=spec.placement.gpus,
        )
        execution.status(RunStatus.RUNNING, "")
        execution.supervise(group)
    finally:
        tail.stop()


def run_inference(execution: Execution) -> None:
    spec = execution.spec
    server = spec.server
    if server is None:
        raise BackendError(f"{spec.benchmark} is an inference run without a server section")
    assert execution.server_extractor is not None
    server_group = execution.start(
        "server",
        image=server.image,
        command=server.command,
        env=server.env,
        extra={},
        extractor=execution.server_extractor,
        privileged=server.privileged,
        extended_shm=server.extended_shm,
    )

    def stopped() -> bool:
        return server_group.returncode is not None or execution.interruption() is not None

    def sleep(seconds: float) -> None:
        execution.wake.wait(seconds)
        execution.wake.clear()

    outcome = inference.wait_ready(server, stopped=stopped, sleep=sleep)
    if not outcome.ready:
        execution.raise_interruption()
        if server_group.returncode is not None:
            raise Stopped(RunStatus.FAILED, server_exit_reason(server_group.finish(), "before it became ready"))
        raise Stopped(RunStatus.FAILED, outcome.detail)
    execution.metrics_file.touch()
    tail = EventTail(execution.metrics_file, execution.on_event_line)
    tail.start()
    try:
        client = execution.start(
            "output",
            image=spec.image,
            command=spec.argv,
            env=spec.env,
            extra=inference.client_variables(server),
            extractor=execution.extractor,
            privileged=spec.privileged,
            extended_shm=spec.extended_shm,
        )
        execution.status(RunStatus.RUNNING, "")
        execution.supervise(client, server=server_group)
    finally:
        tail.stop()
