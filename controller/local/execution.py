"""One execution of a RunSpec on this machine, from PENDING to its final status and its record.

An execution goes PENDING → FETCHING_DATA (when it has data) → INITIALIZING → RUNNING → a final
status, in its own folder ``<data_dir>/executions/<execution_id>/``:

* ``root/`` — the data, each cached file linked at ``root/<path from the descriptor>``
  (``ANUBIS_DATA_ROOT`` points here; ``ANUBIS_DATA_<ID>`` at each file that has an id);
* ``metrics.jsonl`` — where ``client_lib.emit`` appends events (``BENCHMARK_AI=fifo``,
  ``BENCHMARK_AI_FIFO_FILEPATH``: a regular file here, so emitting never blocks);
* ``output.log.gz`` (and ``server.log.gz`` for inference) — the output, capped;
* ``runspec.json`` (and ``result.json``, written by the runner).

Each process runs without a shell, in its own process group, with this machine's environment plus
the run's variables; in its image when a container engine works, else on the host. Its output is
streamed to the observer, into the log, to the taps and into metric extraction as it comes. What
processes an execution starts, and in which order, is its strategy's
(:mod:`controller.local.strategies`); this module supervises them, stops them and builds the record.
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from controller.costs import with_efficiency
from controller.extraction import MetricExtractor, parse_event_line
from controller.fetching import FetchCanceled, fetch_entry
from controller.local.cancellation import CancelRequest
from controller.local.containers import (
    CONTAINER_EXECUTION_DIR,
    CONTAINER_SCRIPTS_PATH,
    ContainerCommand,
    Mount,
)
from controller.local.expansion import expand_all, expand_env
from controller.local.hosting import ExecutionHost
from controller.local.logs import CappedLog
from controller.local.machine import oom_kills
from controller.local.processes import Exit, ProcessGroup, StartError
from controller.local.records import build_record
from controller.local.registry import ActiveRun
from controller.records import Outcome, never_matched
from schemas.errors import AnubisError, FetchError
from schemas.results import MetricResult, ResultRecord
from schemas.runspec import DataSource, RunSpec
from schemas.status import RunStatus
from schemas.vocabulary import time_limit_reason

if TYPE_CHECKING:
    from controller.gpu_telemetry import NvidiaSmiSampler

#: What an execution runs once its data is in place: starts its processes and supervises them.
Strategy = Callable[["Execution"], None]


def data_variable(source_id: str) -> str:
    return "ANUBIS_DATA_" + re.sub(r"[^A-Za-z0-9]", "_", source_id).upper()


class Stopped(Exception):
    """The execution ends with this status and reason."""

    def __init__(self, status: RunStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Execution:
    """One RunSpec running under an :class:`~controller.local.hosting.ExecutionHost` (the runner): its folder, its
    processes and containers, its deadline and its metric extraction."""

    def __init__(self, runner: ExecutionHost, spec: RunSpec, execution_id: str) -> None:
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

    def run(self, strategy: Strategy) -> ResultRecord:
        spec = self.spec
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "runspec.json").write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")
        started_at = time.time()
        self.runner.registry.register(
            ActiveRun.of_this_process(self.id, spec.run_id, spec.benchmark, None, node(), started_at)
        )
        self.status(RunStatus.PENDING, "")
        unsubscribe = self.runner.cancellation.subscribe(self.on_cancel)
        status, reason = RunStatus.SUCCEEDED, ""
        # A run that asks for GPUs is watched with nvidia-smi where there is one (docs/gpu-fleet.md).
        sampler: NvidiaSmiSampler | None = None
        if spec.placement.gpus > 0:
            from controller.gpu_telemetry import NvidiaSmiSampler  # a run without GPUs does without (~3 ms)

            sampler = NvidiaSmiSampler()
        telemetry = None
        try:
            self.check_cancel()
            self.fetch_data()
            self.status(RunStatus.INITIALIZING, "")
            self.deadline = time.monotonic() + spec.timeout_seconds
            if sampler is not None:
                sampler.start()
            strategy(self)
        except Stopped as stop:
            status, reason = stop.status, stop.reason
        except AnubisError as e:
            status, reason = RunStatus.ERROR, str(e)
        finally:
            unsubscribe()
            self.stop_all(grace=self.config.grace_seconds)
            if sampler is not None:
                found = sampler.stop()
                telemetry = found.to_dict() if found is not None else None
            for capped in self.logs:
                capped.close()
        finished_at = time.time()
        record = self.record(status, reason, started_at, finished_at)  # a required metric without a value: FAILED
        for metric in never_matched(spec, record.metrics):
            self.runner.observer.notice(
                f"metric '{metric.name}' never matched the output"
                + (f" (pattern {metric.pattern!r})" if metric.pattern else "") + ": it has no value in this result"
            )
        self.status(record.status, record.reason)
        return with_efficiency(replace(record, telemetry=telemetry), spec)

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
            raise Stopped(RunStatus.CANCELED, request.reason)

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
                raise Stopped(RunStatus.ERROR, f"data fetch failed: {e}") from e
            relative = source.path.lstrip("/")
            if not relative:
                raise Stopped(RunStatus.ERROR, f"the data source {source.src} has no path to put it at")
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
        kill_argv: tuple[str, ...] = ()
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
            kill_argv = tuple(container.kill_argv())
            process_env = dict(self.config.host_environ)
            cwd = self.dir
        try:
            group = ProcessGroup(argv, env=process_env, cwd=cwd, sinks=sinks, on_exit=self.wake.set,
                                 grace_seconds=self.config.grace_seconds, kill_argv=kill_argv)
        except StartError as e:
            what = "inference server" if role == "server" else "benchmark"
            raise Stopped(RunStatus.ERROR, f"cannot start the {what}: {e}") from e
        self.groups.append(group)
        self.runner.registry.register(
            ActiveRun.of_this_process(self.id, self.spec.run_id, self.spec.benchmark, group.pgid, node(), time.time(),
                                      group.tag)
        )
        return group

    def container_mounts(self) -> tuple[Mount, ...]:
        mounts = [Mount(self.dir, CONTAINER_EXECUTION_DIR, read_only=False)]
        for path, link in self.data_paths.items():
            mounts.append(Mount(link.resolve(), path))
        if self.spec.script is not None:
            mounts.append(Mount((self.config.repo_root / self.spec.script.source_dir).resolve(), CONTAINER_SCRIPTS_PATH))
        return tuple(mounts)

    # ---- supervision -------------------------------------------------------------------------------

    def interruption(self) -> tuple[RunStatus, str] | None:
        request = self.runner.cancellation.request
        if request is not None:
            return RunStatus.CANCELED, request.reason
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return RunStatus.TIMED_OUT, time_limit_reason(self.spec.timeout_seconds)
        return None

    def raise_interruption(self) -> None:
        interruption = self.interruption()
        if interruption is not None:
            self.stop_all(grace=self.config.grace_seconds)
            raise Stopped(*interruption)

    def supervise(self, group: ProcessGroup, server: ProcessGroup | None = None) -> None:
        oom_before = oom_kills()
        while True:
            self.wake.clear()
            if group.returncode is not None:
                break
            if server is not None and server.returncode is not None:
                self.stop_all(grace=self.config.grace_seconds)
                raise Stopped(RunStatus.FAILED, server_exit_reason(server.finish(), "while the client was running"))
            self.raise_interruption()
            assert self.deadline is not None
            self.wake.wait(max(0.0, self.deadline - time.monotonic()))
        exit_ = group.finish()
        if exit_.returncode == 0:
            return
        if exit_.returncode > 0:
            reason = f"benchmark exited with code {exit_.returncode}"
            # 127: command not found, 126: not executable (POSIX shells); 2: Python's "can't open file"
            if self.config.engine is None and self.spec.image and exit_.returncode in (2, 126, 127):
                reason += (f" (it ran on this machine, not in image {self.spec.image}: if it needs a file, a"
                           " command or a library the image holds, install Docker or Podman to run it there)")
            raise Stopped(RunStatus.FAILED, reason)
        reason = f"killed by {exit_.signal_name}"
        if exit_.returncode == -signal.SIGKILL and not exit_.stopped_by_us:
            oom_after = oom_kills()
            if oom_before is not None and oom_after is not None and oom_after > oom_before:
                reason += ": out of memory (the kernel's OOM killer stopped it)"
            else:
                reason += " (not by Anubis: most often the kernel's out-of-memory killer)"
        raise Stopped(RunStatus.FAILED, reason)

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


def server_exit_reason(exit_: Exit, when: str) -> str:
    if exit_.returncode >= 0:
        return f"the inference server exited with code {exit_.returncode} {when}"
    return f"the inference server was killed by {exit_.signal_name} {when}"


def node() -> str:
    return platform.node()
