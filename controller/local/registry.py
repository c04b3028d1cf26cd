"""The runs active on this machine, so that ``anubis cancel`` can find and stop them.

Each running execution has ``<data_dir>/active/<execution_id>.json``: its ids, the ``anubis run``
process (pid), the benchmark's process group, the host, when it started. The file is written when the
execution starts and removed when it ends; an entry whose ``anubis run`` process is gone is stale and
is cleaned up when seen.

Cancelling writes ``<execution_id>.cancel`` beside the entry and sends SIGTERM to the ``anubis run``
process, which stops the benchmark's group and records CANCELED ("canceled by anubis cancel").

An entry whose ``anubis run`` process is gone (killed outright, ``kill -9``) is an *orphan*: whoever
reads the registry next (``anubis list``, ``status``, ``logs``, ``cancel``) stops what is left of its
benchmark (its group, and the processes carrying its tag: see :mod:`controller.local.lifeline`;
normally the watchdog already has), hands it to ``on_orphan`` (which records the final status ERROR,
:data:`ORPHAN_REASON`, in the journal) and removes the entry. An orphan is never shown as running.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from controller.journal import ExecutionInfo, Journal
from controller.lazy_logging import ModuleLogger
from schemas.errors import BackendError, NotFoundError
from schemas.status import RunStatus

log = ModuleLogger(__name__)  # logging imported on the first message

CANCEL_REASON = "canceled by anubis cancel"
ORPHAN_REASON = "anubis run was killed: its process {pid} ended without recording a final status{stopped}"


class ActiveRun(NamedTuple):  # (not a frozen dataclass: `anubis list` imports this, a named tuple is quicker to define)
    execution_id: str
    run_id: str
    benchmark: str
    pid: int  # the `anubis run` process
    pgid: int | None  # the benchmark's process group, once started
    host: str
    started_at: float
    tag: str | None = None  # the benchmark's process tag (ANUBIS_PROCESS_TAG), once started
    pid_started: int | None = None  # when `anubis run` started (clock ticks): a reused pid is not it

    @classmethod
    def of_this_process(cls, execution_id: str, run_id: str, benchmark: str, pgid: int | None, host: str,
                        started_at: float, tag: str | None = None) -> ActiveRun:
        """The entry of an execution that this process (``anubis run``) runs."""
        from controller.local.processes import start_ticks

        pid = os.getpid()
        return cls(execution_id, run_id, benchmark, pid, pgid, host, started_at, tag, start_ticks(pid))

    def owner_alive(self) -> bool:
        """Whether its ``anubis run`` process is still there (not a later process with its pid)."""
        # the process and lifeline modules (ctypes, secrets) only when there is a run to check:
        # `anubis list` with nothing running imports neither
        from controller.local.processes import same_process_alive

        return same_process_alive(self.pid, self.pid_started)


#: Told each orphan found, with the reason of its final status.
OrphanHandler = Callable[[ActiveRun, str], None]


class Registry:
    def __init__(self, data_dir: Path, on_orphan: OrphanHandler | None = None) -> None:
        self.folder = data_dir / "active"
        self.on_orphan = on_orphan

    def _entry(self, execution_id: str) -> Path:
        return self.folder / f"{execution_id}.json"

    def _marker(self, execution_id: str) -> Path:
        return self.folder / f"{execution_id}.cancel"

    def register(self, run: ActiveRun) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._entry(run.execution_id)
        tmp = path.with_name(f".{path.name}.tmp")
        import json

        tmp.write_text(json.dumps(run._asdict()), encoding="utf-8")
        os.replace(tmp, path)

    def unregister(self, execution_id: str) -> None:
        for path in (self._entry(execution_id), self._marker(execution_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def cancel_requested(self, execution_id: str) -> bool:
        return self._marker(execution_id).exists()

    def active(self) -> list[ActiveRun]:
        """The live entries of this host; stale ones are removed."""
        runs: list[ActiveRun] = []
        if not self.folder.is_dir():
            return runs
        host = platform.node()
        for path in sorted(self.folder.glob("*.json")):
            try:
                run = _read_entry(path)
            except (OSError, ValueError, TypeError):
                continue
            if run.host != host:
                continue
            if not run.owner_alive():
                self.settle_orphan(run)
                continue
            runs.append(run)
        return runs

    def settle_orphan(self, run: ActiveRun) -> None:
        """``run``'s ``anubis run`` is gone: stop what is left of its benchmark, report it to
        ``on_orphan``, remove its entry."""
        stopped = ""
        if run.tag:
            # By its tag only: long after the group ended its id may be another program's group.
            from controller.local.lifeline import stop_tagged

            left = bool(stop_tagged(run.tag, 0.0))
        else:  # an entry written before processes were tagged
            left = run.pgid is not None and _group_alive(run.pgid)
            if left and run.pgid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    import signal  # (only to stop an orphan's benchmark)

                    os.killpg(run.pgid, signal.SIGKILL)
        if left:
            stopped = "; its benchmark, still running unsupervised, was stopped"
            log.warning("the anubis run process of %s is gone; stopped its benchmark", run.execution_id)
        if self.on_orphan is not None:
            self.on_orphan(run, ORPHAN_REASON.format(pid=run.pid, stopped=stopped))
        log.debug("removing the entry of orphaned execution %s", run.execution_id)
        self.unregister(run.execution_id)

    def resolve(self, ref: str) -> list[ActiveRun]:
        """The active executions ``ref`` names: an execution id, a run id (all its executions), or a
        unique prefix of one."""
        runs = self.active()
        exact = [r for r in runs if r.execution_id == ref] or [r for r in runs if r.run_id == ref]
        if exact:
            return exact
        by_execution = [r for r in runs if r.execution_id.startswith(ref)]
        by_run = {r.run_id for r in runs if r.run_id.startswith(ref)}
        if len(by_run) == 1 and not [r for r in by_execution if r.run_id not in by_run]:
            return [r for r in runs if r.run_id in by_run]
        if len(by_execution) == 1:
            return by_execution
        if not by_execution and not by_run:
            listing = ", ".join(r.execution_id for r in runs) or "none"
            raise NotFoundError(
                f"no active local run matches {ref!r} (active on this machine: {listing}). "
                "A run on a cluster is stopped by removing its manifest."
            )
        names = sorted({r.execution_id for r in by_execution} | by_run)
        raise NotFoundError(f"{ref!r} is ambiguous: it starts {', '.join(names)}. Give more characters.")

    def cancel(self, run: ActiveRun) -> None:
        """Ask the owning ``anubis run`` to cancel ``run`` (or settle it as an orphan)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._marker(run.execution_id).write_text(str(time.time()), encoding="utf-8")
        if run.owner_alive():
            import signal  # (not for the commands that only read the registry)

            try:
                os.kill(run.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            except PermissionError as e:
                raise BackendError(
                    f"not allowed to signal the `anubis run` process {run.pid} of {run.execution_id}: "
                    "it belongs to another user"
                ) from e
            return
        self.settle_orphan(run)

    def wait_finished(self, execution_id: str, timeout: float) -> bool:
        """Wait until ``execution_id`` is no longer active; True if it ended within ``timeout``."""
        deadline = time.monotonic() + timeout
        while self._entry(execution_id).exists():
            if time.monotonic() >= deadline:
                return False
            with contextlib.suppress(OSError, ValueError, TypeError):
                run = _read_entry(self._entry(execution_id))
                if not run.owner_alive():
                    self.settle_orphan(run)
                    return True
            time.sleep(0.1)
        return True


def _read_entry(path: Path) -> ActiveRun:
    import json  # here: `anubis list` with nothing running reads no entry

    return ActiveRun(**json.loads(path.read_text(encoding="utf-8")))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def journal_orphans(journal: Journal | None) -> OrphanHandler | None:
    """An ``on_orphan`` that records the final status ERROR in ``journal`` (when the journal's last
    word on the execution is not final already)."""
    if journal is None:
        return None

    def record(run: ActiveRun, reason: str) -> None:
        try:
            entry = journal.get(run.execution_id)
        except NotFoundError:
            return
        if entry.status.is_final:
            return
        info = ExecutionInfo(entry.execution_id, entry.run_id, entry.benchmark, entry.environment, entry.backend,
                             entry.commit)
        journal.record_transition(info, RunStatus.ERROR, reason)

    return record
