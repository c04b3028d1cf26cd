"""The local backend: one RunSpec executed on this machine, giving one ResultRecord.

An execution goes PENDING → FETCHING_DATA (when it has data) → INITIALIZING → RUNNING → a final
status, in its own folder ``<data_dir>/executions/<execution_id>/``:

* ``root/`` — the data, each cached file linked at ``root/<path from the descriptor>``
  (``ANUBIS_DATA_ROOT`` points here; ``ANUBIS_DATA_<ID>`` at each file that has an id);
* ``metrics.jsonl`` — where ``client_lib.emit`` appends events (``BENCHMARK_AI=fifo``,
  ``BENCHMARK_AI_FIFO_FILEPATH``: a regular file here, so emitting never blocks);
* ``output.log.gz`` (and ``server.log.gz`` for inference) — the output, capped;
* ``runspec.json`` and ``result.json``.

The benchmark runs without a shell, in its own process group, with this machine's environment plus
the run's variables; in its image when a container engine works, else on the host (said once, and
recorded as ``host_environment``). Its output is streamed to the observer, into the log and into
metric extraction as it comes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import platform
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from controller.extraction import MetricExtractor, parse_event_line
from controller.fetching import FetchCanceled, S3ClientFactory, fetch_entry
from controller.local import inference
from controller.local.cancellation import Cancellation, CancelRequest
from controller.local.containers import (
    CONTAINER_EXECUTION_DIR,
    CONTAINER_SCRIPTS_PATH,
    ContainerCommand,
    ContainerEngine,
    Mount,
)
from controller.local.expansion import expand_all, expand_env
from controller.local.logs import DEFAULT_LOG_CAP, CappedLog, EventTail
from controller.local.machine import gpu_count, oom_kills
from controller.local.processes import Exit, ProcessGroup, StartError
from controller.local.records import Outcome, build_record
from controller.local.registry import CANCEL_REASON, ActiveRun, Registry
from controller.store import ResultStore
from schemas.errors import AnubisError, BackendError, FetchError
from schemas.results import MetricResult, ResultRecord
from schemas.runspec import MPI_LAUNCHERS, DataSource, RunSpec, mpi_argv, total_processes
from schemas.status import RunStatus

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 10.0


class RunObserver(Protocol):
    """What a runner tells the person watching (the command line implements it)."""

    def status(self, execution_id: str, status: RunStatus, detail: str) -> None: ...

    def output(self, chunk: bytes) -> None: ...

    def notice(self, message: str) -> None: ...


class ExecutionTap(Protocol):
    """Something that records executions as they go (the journal): told each status with its
    RunSpec, and handed each process's output with its role (``output``, ``server``)."""

    def status(self, spec: RunSpec, execution_id: str, status: RunStatus, detail: str) -> None: ...

    def output_sink(self, spec: RunSpec, execution_id: str, role: str) -> Callable[[bytes], None]: ...


class QuietObserver:
    def status(self, execution_id: str, status: RunStatus, detail: str) -> None:
        log.info("%s: %s %s", execution_id, status, detail)

    def output(self, chunk: bytes) -> None:
        pass

    def notice(self, message: str) -> None:
        log.warning("%s", message)


@dataclass(frozen=True)
class LocalConfig:
    repo_root: Path
    data_dir: Path
    cache_dir: Path
    engine: ContainerEngine | None = None
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    log_cap_bytes: int = DEFAULT_LOG_CAP
    s3_client_factory: S3ClientFactory | None = None
    host_environ: Mapping[str, str] = field(default_factory=lambda: host_environment(os.environ, sys.executable))


def host_environment(environ: Mapping[str, str], python: str) -> dict[str, str]:
    """This machine's environment for a benchmark run on the host, with the folder of the Python that
    runs anubis first on PATH: ``python3`` in a descriptor then means the environment anubis is
    installed in (its virtual environment, with NumPy and the client library), not whichever Python
    the shell would find first."""
    env = dict(environ)
    folder = str(Path(python).parent)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    if not parts or parts[0] != folder:
        env["PATH"] = os.pathsep.join([folder, *(p for p in parts if p != folder)])
    return env


def new_execution_id(run_id: str, now: float | None = None) -> str:
    """``<run_id>-<YYYYmmddTHHMMSS>-<4 hex>`` (UTC)."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{run_id}-{stamp}-{secrets.token_hex(2)}"


def data_variable(source_id: str) -> str:
    return "ANUBIS_DATA_" + re.sub(r"[^A-Za-z0-9]", "_", source_id).upper()


class _Stopped(Exception):
    """Internal: the execution ends with this status and reason."""

    def __init__(self, status: RunStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class LocalRunner:
    """Runs RunSpecs one at a time on this machine."""

    def __init__(
        self,
        config: LocalConfig,
        *,
        store: ResultStore | None = None,
        observer: RunObserver | None = None,
        cancellation: Cancellation | None = None,
        taps: Sequence[ExecutionTap] = (),
    ) -> None:
        self.config = config
        self.taps = tuple(taps)
        self.store = store
        self.observer: RunObserver = observer or QuietObserver()
        self.cancellation = cancellation or Cancellation()
        self.registry = Registry(config.data_dir)
        self.current: tuple[str, str] | None = None  # (execution id, run id) running now
        self._said_host_environment = False

    # ---- before anything runs ------------------------------------------------------------------

    def preflight(self, spec: RunSpec) -> None:
        """Refuse, before running anything, what this machine cannot run at all."""
        if spec.strategy == "horovod" and self.config.engine is None and _mpi_launcher() is None:
            raise BackendError(
                "horovod runs need an MPI launcher (mpirun) on this machine; "
                "install OpenMPI or run on a cluster environment"
            )
        if spec.execution_engine != "default":
            raise BackendError(
                f"{spec.benchmark} uses the execution engine {spec.execution_engine!r}, which runs only on "
                "a cluster environment; run it with the default engine to try it here"
            )
        if not spec.command and self.config.engine is None:
            raise BackendError(
                f"{spec.benchmark} has no command and relies on the entrypoint of {spec.image}, which needs a "
                "container engine (docker or podman) on this machine; give the descriptor a command to run "
                "it on the host"
            )

    # ---- one execution -------------------------------------------------------------------------

    def run(self, spec: RunSpec) -> ResultRecord:
        execution_id = new_execution_id(spec.run_id)
        execution = _Execution(self, spec, execution_id)
        self.current = (execution_id, spec.run_id)
        try:
            record = execution.run()
        finally:
            self.current = None
            self.registry.unregister(execution_id)
            self.cancellation.next_execution()
        (execution.dir / "result.json").write_text(json.dumps(record.to_dict(), indent=2), encoding="utf-8")
        if self.store is not None:
            self.store.put(record)
        return record

    def host_environment_notice(self, image: str) -> None:
        if not self._said_host_environment:
            self._said_host_environment = True
            self.observer.notice(
                f"no container engine here: running on this machine's own Python/environment instead of image {image}"
            )


def _mpi_launcher() -> str | None:
    for name in MPI_LAUNCHERS:
        program = shutil.which(name)
        if program:
            return program
    return None


class _Execution:
    def __init__(self, runner: LocalRunner, spec: RunSpec, execution_id: str) -> None:
        self.runner = runner
        self.config = runner.config
        self.spec = spec
        self.id = execution_id
        self.dir = self.config.data_dir / "executions" / execution_id
        self.root = self.dir / "root"
        self.metrics_file = self.dir / "metrics.jsonl"
        self.wake = threading.Event()
        self.groups: list[ProcessGroup] = []
        self.containers: list[ContainerCommand] = []
        self.deadline: float | None = None
        self.dataset_checksums: dict[str, str] = {}
        self.data_paths: dict[str, Path] = {}  # descriptor path -> host path
        self.extractor = MetricExtractor(spec.metrics)
        self.server_extractor = MetricExtractor(spec.server.metrics) if spec.server else None
        self.extract_lock = threading.Lock()
        self.logs: list[CappedLog] = []

    # ---- the life of an execution -------------------------------------------------------------

    def run(self) -> ResultRecord:
        spec = self.spec
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "runspec.json").write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")
        started_at = time.time()
        self.runner.registry.register(
            ActiveRun(self.id, spec.run_id, spec.benchmark, os.getpid(), None, _node(), started_at)
        )
        self.status(RunStatus.PENDING, "")
        unsubscribe = self.runner.cancellation.subscribe(self.on_cancel)
        status, reason = RunStatus.SUCCEEDED, ""
        try:
            self.check_cancel()
            self.fetch_data()
            self.status(RunStatus.INITIALIZING, "")
            self.deadline = time.monotonic() + spec.timeout_seconds
            if spec.strategy == "inference":
                self.run_inference()
            else:
                self.run_benchmark()
        except _Stopped as stop:
            status, reason = stop.status, stop.reason
        except AnubisError as e:
            status, reason = RunStatus.ERROR, str(e)
        finally:
            unsubscribe()
            self.stop_all(grace=self.config.grace_seconds)
            for capped in self.logs:
                capped.close()
        finished_at = time.time()
        self.status(status, reason)
        return self.record(status, reason, started_at, finished_at)

    def status(self, status: RunStatus, detail: str) -> None:
        for tap in self.runner.taps:
            tap.status(self.spec, self.id, status, detail)
        self.runner.observer.status(self.id, status, detail)

    def on_cancel(self, request: CancelRequest) -> None:
        self.wake.set()
        if request.force:
            for group in list(self.groups):
                group.kill_group(signal.SIGKILL)

    def check_cancel(self) -> None:
        request = self.runner.cancellation.request
        if request is not None:
            raise _Stopped(RunStatus.CANCELED, request.reason)

    # ---- data -----------------------------------------------------------------------------------

    def fetch_data(self) -> None:
        sources: list[DataSource] = list(self.spec.data)
        if self.spec.server:
            sources += list(self.spec.server.models)
        if not sources:
            return
        self.status(RunStatus.FETCHING_DATA, f"{len(sources)} source(s)")
        for source in sources:
            self.check_cancel()
            try:
                entry = fetch_entry(
                    source,
                    self.config.cache_dir,
                    s3_client_factory=self.config.s3_client_factory,
                    should_stop=lambda: self.runner.cancellation.request is not None,
                )
            except FetchCanceled:
                self.check_cancel()
                raise
            except FetchError as e:
                raise _Stopped(RunStatus.ERROR, f"data fetch failed: {e}") from e
            relative = source.path.lstrip("/")
            if not relative:
                raise _Stopped(RunStatus.ERROR, f"the data source {source.src} has no path to put it at")
            link = self.root / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
            link.symlink_to(entry.path.resolve())
            self.data_paths[source.path] = link
            self.dataset_checksums[source.path] = str(entry.checksum)

    # ---- the process environment ------------------------------------------------------------------

    def run_variables(self, extra: Mapping[str, str], env: Mapping[str, str], *, in_container: bool) -> dict[str, str]:
        """The run's own variables (what ``$(VAR)`` sees): Anubis's, then the descriptor's ``env``."""
        spec = self.spec
        anubis: dict[str, str] = {"ANUBIS_RUN_ID": spec.run_id, "ANUBIS_EXECUTION_ID": self.id}
        if in_container:
            anubis["ANUBIS_DATA_ROOT"] = ""
        elif self.data_paths:
            anubis["ANUBIS_DATA_ROOT"] = str(self.root)
        for source in (*spec.data, *(spec.server.models if spec.server else ())):
            if source.id and source.path in self.data_paths:
                anubis[data_variable(source.id)] = source.path if in_container else str(self.data_paths[source.path])
        if spec.script is not None:
            anubis["BAI_SCRIPTS_PATH"] = (
                CONTAINER_SCRIPTS_PATH if in_container else str((self.config.repo_root / spec.script.source_dir).resolve())
            )
        anubis.update(extra)
        variables = expand_env(anubis, env)
        metrics_path = f"{CONTAINER_EXECUTION_DIR}/metrics.jsonl" if in_container else str(self.metrics_file)
        variables.update({"BENCHMARK_AI": "fifo", "BENCHMARK_AI_FIFO_FILEPATH": metrics_path})
        return variables

    def working_folder(self) -> Path:
        if self.spec.script is not None:
            return (self.config.repo_root / self.spec.script.source_dir).resolve()
        work = self.dir / "work"
        work.mkdir(exist_ok=True)
        return work

    def start(
        self,
        role: str,
        *,
        image: str,
        command: Sequence[str],
        env: Mapping[str, str],
        extra: Mapping[str, str],
        extractor: MetricExtractor,
        privileged: bool = False,
        extended_shm: bool = False,
        gpus: int = 0,
    ) -> ProcessGroup:
        engine = self.config.engine
        variables = self.run_variables(extra, env, in_container=engine is not None)
        argv = expand_all(command, variables)
        capped = CappedLog(self.dir / f"{role}.log.gz", self.config.log_cap_bytes)
        self.logs.append(capped)

        def extract(chunk: bytes) -> None:
            with self.extract_lock:
                extractor.feed(chunk)

        sinks: list[Callable[[bytes], None]] = [self.runner.observer.output, capped.write, extract]
        sinks += [tap.output_sink(self.spec, self.id, role) for tap in self.runner.taps]
        if engine is None:
            self.runner.host_environment_notice(image)
            process_env = {**self.config.host_environ, **variables}
            cwd = self.working_folder()
        else:
            container = ContainerCommand(
                engine=engine,
                name=f"anubis-{self.id}-{role}",
                image=image,
                command=tuple(argv),
                env=variables,
                mounts=self.container_mounts(),
                privileged=privileged,
                extended_shm=extended_shm,
                gpus=gpus,
                labels={"app.kubernetes.io/managed-by": "anubis", "anubis.dev/run-id": self.spec.run_id},
            )
            self.containers.append(container)
            argv = container.argv()
            process_env = dict(self.config.host_environ)
            cwd = self.dir
        try:
            group = ProcessGroup(argv, env=process_env, cwd=cwd, sinks=sinks, on_exit=self.wake.set)
        except StartError as e:
            what = "inference server" if role == "server" else "benchmark"
            raise _Stopped(RunStatus.ERROR, f"cannot start the {what}: {e}") from e
        self.groups.append(group)
        self.runner.registry.register(
            ActiveRun(self.id, self.spec.run_id, self.spec.benchmark, os.getpid(), group.pgid, _node(), time.time())
        )
        return group

    def container_mounts(self) -> tuple[Mount, ...]:
        mounts = [Mount(self.dir, CONTAINER_EXECUTION_DIR, read_only=False)]
        for path, link in self.data_paths.items():
            mounts.append(Mount(link.resolve(), path))
        if self.spec.script is not None:
            mounts.append(Mount((self.config.repo_root / self.spec.script.source_dir).resolve(), CONTAINER_SCRIPTS_PATH))
        return tuple(mounts)

    # ---- strategies -------------------------------------------------------------------------------

    def command(self) -> tuple[str, ...]:
        """The benchmark's argv; a horovod run launched through MPI exactly as the cluster's launcher does."""
        spec = self.spec
        if spec.strategy != "horovod" or not spec.command:
            return spec.argv
        program = _mpi_launcher() if self.config.engine is None else "mpirun"
        if program is None:
            raise BackendError(
                "horovod runs need an MPI launcher (mpirun) on this machine; "
                "install OpenMPI or run on a cluster environment"
            )
        return mpi_argv(spec.argv, total_processes(spec, gpu_count()), program)

    def run_benchmark(self) -> None:
        spec = self.spec
        self.metrics_file.touch()
        tail = EventTail(self.metrics_file, self.on_event_line)
        tail.start()
        try:
            group = self.start(
                "output",
                image=spec.image,
                command=self.command(),
                env=spec.env,
                extra={},
                extractor=self.extractor,
                privileged=spec.privileged,
                extended_shm=spec.extended_shm,
                gpus=spec.placement.gpus,
            )
            self.status(RunStatus.RUNNING, "")
            self.supervise(group)
        finally:
            tail.stop()

    def run_inference(self) -> None:
        spec = self.spec
        server = spec.server
        if server is None:
            raise BackendError(f"{spec.benchmark} is an inference run without a server section")
        assert self.server_extractor is not None
        server_group = self.start(
            "server",
            image=server.image,
            command=server.command,
            env=server.env,
            extra={},
            extractor=self.server_extractor,
            privileged=server.privileged,
            extended_shm=server.extended_shm,
        )

        def stopped() -> bool:
            return server_group.returncode is not None or self.interruption() is not None

        def sleep(seconds: float) -> None:
            self.wake.wait(seconds)
            self.wake.clear()

        outcome = inference.wait_ready(server, stopped=stopped, sleep=sleep)
        if not outcome.ready:
            self.raise_interruption()
            if server_group.returncode is not None:
                raise _Stopped(RunStatus.FAILED, _server_exit_reason(server_group.finish(), "before it became ready"))
            raise _Stopped(RunStatus.FAILED, outcome.detail)
        self.metrics_file.touch()
        tail = EventTail(self.metrics_file, self.on_event_line)
        tail.start()
        try:
            client = self.start(
                "output",
                image=spec.image,
                command=spec.argv,
                env=spec.env,
                extra=inference.client_variables(server),
                extractor=self.extractor,
                privileged=spec.privileged,
                extended_shm=spec.extended_shm,
            )
            self.status(RunStatus.RUNNING, "")
            self.supervise(client, server=server_group)
        finally:
            tail.stop()

    # ---- supervision -------------------------------------------------------------------------------

    def interruption(self) -> tuple[RunStatus, str] | None:
        request = self.runner.cancellation.request
        if request is not None:
            return RunStatus.CANCELED, request.reason
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return RunStatus.TIMED_OUT, f"exceeded its timeout of {self.spec.timeout_seconds} s"
        return None

    def raise_interruption(self) -> None:
        interruption = self.interruption()
        if interruption is not None:
            self.stop_all(grace=self.config.grace_seconds)
            raise _Stopped(*interruption)

    def supervise(self, group: ProcessGroup, server: ProcessGroup | None = None) -> None:
        oom_before = oom_kills()
        while True:
            self.wake.clear()
            if group.returncode is not None:
                break
            if server is not None and server.returncode is not None:
                self.stop_all(grace=self.config.grace_seconds)
                raise _Stopped(RunStatus.FAILED, _server_exit_reason(server.finish(), "while the client was running"))
            self.raise_interruption()
            assert self.deadline is not None
            self.wake.wait(max(0.0, self.deadline - time.monotonic()))
        exit_ = group.finish()
        if exit_.returncode == 0:
            return
        if exit_.returncode > 0:
            raise _Stopped(RunStatus.FAILED, f"benchmark exited with code {exit_.returncode}")
        reason = f"killed by {exit_.signal_name}"
        if exit_.returncode == -signal.SIGKILL and not exit_.stopped_by_us:
            oom_after = oom_kills()
            if oom_before is not None and oom_after is not None and oom_after > oom_before:
                reason += ": out of memory (the kernel's OOM killer stopped it)"
            else:
                reason += " (not by Anubis: most often the kernel's out-of-memory killer)"
        raise _Stopped(RunStatus.FAILED, reason)

    def stop_all(self, grace: float) -> None:
        """Stop every process group still running (clients first), and their containers."""
        for container in self.containers:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    container.kill_argv(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=grace + 5,
                    check=False,
                )
        for group in reversed(self.groups):
            if group.returncode is None:
                group.stop(grace)
            group.finish()
        self.containers.clear()

    # ---- metrics ---------------------------------------------------------------------------------

    def on_event_line(self, line: bytes) -> None:
        if not self.extractor.add_record(line):
            values = parse_event_line(line)  # tolerate stdout-mode lines written to the file
            if values:
                self.extractor.add_event(values)

    def metric_results(self) -> dict[str, MetricResult]:
        with self.extract_lock:
            self.extractor.close()
            results = dict(self.extractor.results())
            if self.server_extractor is not None:
                self.server_extractor.close()
                results.update(self.server_extractor.results())
        return results

    # ---- the record --------------------------------------------------------------------------------

    def record(self, status: RunStatus, reason: str, started_at: float, finished_at: float) -> ResultRecord:
        return build_record(
            self.spec,
            Outcome(self.id, status, reason, started_at, finished_at),
            metrics=self.metric_results(),
            dataset_checksums=self.dataset_checksums,
            repo_root=self.config.repo_root,
            host_environment=self.config.engine is None,
        )


def _server_exit_reason(exit_: Exit, when: str) -> str:
    if exit_.returncode >= 0:
        return f"the inference server exited with code {exit_.returncode} {when}"
    return f"the inference server was killed by {exit_.signal_name} {when}"



def _node() -> str:
    return platform.node()


__all__ = [
    "CANCEL_REASON",
    "ExecutionTap",
    "LocalConfig",
    "LocalRunner",
    "QuietObserver",
    "RunObserver",
    "data_variable",
    "new_execution_id",
]
