"""The controller's GitHub reporter: run events in, queued commit statuses and the one comment out.

:class:`GitHubExporter` is an :class:`~controller.exporting.base.Exporter` (``export`` when an
execution finished) that also publishes transitions (``push_status``, as the Pushgateway's does). It
never talks to GitHub itself: each event becomes a :meth:`Reporter.update` that queues

* the run's commit status on its source commit (context ``anubis/<benchmark>``): ``pending`` on a
  transition (debounced, so a run that finishes quickly never shows it), the final state when it ends;
* the comment summing every run of the commit, on the pull request the run belongs to (a preview), or
  on each pull request that brought the commit (a run of a merged commit; commit → pulls when the
  outbox flushes).

A finished execution whose verdict is ``suspected`` asks for a confirmation run
(:mod:`controller.reporting.confirming`: a ``repository_dispatch`` queued in the outbox once, answered
by the ``commands`` workflow as ``/anubis rerun`` is); the runs of one suspected change are shown as
one, the newest, with a line saying whether it was confirmed, on the suspected run's commit.

The durable outbox folds the writes (one status per check, one comment body) and keeps them while
GitHub is down; :class:`Flusher` flushes it on a timer and once more, forced, at shutdown. The
verdicts of a finished execution come from :func:`controller.baselines.judge_record` (main branch up
to the merge base, baseline resets) — the same verdicts ``anubis results`` shows — and the comment's
chart from the same baseline executions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from controller.baselines import MAIN_BRANCH, judge_record, record_policies
from controller.exporting.base import ExportContext
from controller.reporting import confirming
from controller.reporting.comment import HISTORY_POINTS
from controller.reporting.confirming import series_key
from controller.reporting.outbox import FlushResult, Outbox
from controller.reporting.reporter import Reporter
from controller.reporting.runreport import MetricVerdict, RunReport
from controller.store import ResultStore
from schemas.environment import Links
from schemas.errors import AnubisError
from schemas.results import ResultRecord
from schemas.runspec import RegressionPolicy, RunSpec
from schemas.status import RunStatus

log = logging.getLogger(__name__)

#: How many of the store's newest executions are read to find the other runs of a commit.
COMMIT_SCAN = 1000
#: Judged reports kept in memory (each is judged once; past this many the memory starts afresh).
MAX_REMEMBERED = 5000


def judged_report(
    store: ResultStore,
    record: ResultRecord,
    policies: Mapping[str, RegressionPolicy],
    *,
    links: Links | None = None,
    main_branch: str = MAIN_BRANCH,
    evidence: Sequence[ResultRecord] = (),
) -> RunReport:
    """The report of a stored execution: verdicts against its baseline (``judge_record``: the main
    branch, up to the merge base, after resets; with ``evidence``, the earlier runs of the suspected
    change it confirms) and each metric's baseline values for the chart."""
    verdicts: dict[str, MetricVerdict] = {}
    history: dict[str, tuple[float, ...]] = {}
    if record.status is RunStatus.SUCCEEDED:
        judged = judge_record(store, record, policies, main_branch=main_branch, evidence=evidence)
        for name, judgement in judged.items():
            verdicts[name] = MetricVerdict.from_analysis(judgement.verdict)
            summaries = (r.metrics[name].summary() for r in judgement.history.executions)
            history[name] = tuple(s.mean for s in summaries if s is not None)[-HISTORY_POINTS:]
    fail = frozenset(n for n in record.metrics if policies.get(n, RegressionPolicy()).fail_on_regression)
    return RunReport.from_record(record, verdicts=verdicts, fail_on_regression=fail, links=links, history=history)


@dataclass(frozen=True)
class _Live:
    execution_id: str
    report: RunReport
    pull_request: int | None


class GitHubExporter:
    """Turns the controller's events into queued GitHub writes (see the module's description)."""

    name = "github"

    def __init__(
        self,
        reporter: Reporter,
        store: ResultStore,
        *,
        links: Mapping[str, Links] | None = None,
        main_branch: str = MAIN_BRANCH,
    ) -> None:
        self.reporter = reporter
        self.store = store
        self.links = dict(links or {})
        self.main_branch = main_branch
        self._lock = threading.Lock()
        self._live: dict[str, dict[str, _Live]] = {}  # commit -> run id -> the latest unfinished execution
        self._judged: dict[str, RunReport] = {}  # execution id -> report (a stored result never changes)
        self._policies: dict[str, dict[str, RegressionPolicy]] = {}  # run id -> metric -> policy
        self._update_lock = threading.Lock()  # one update at a time: the last one queued saw every stored result
        self._confirm_lock = threading.Lock()  # one chain decision at a time

    # -- the controller's events --------------------------------------------------------------------

    def push_status(self, spec: RunSpec, execution_id: str, status: RunStatus) -> None:
        commit = spec.source.commit
        if not commit:
            return
        with self._lock:
            self._policies[spec.run_id] = {m.name: m.policy for m in spec.all_metrics()}
        report = RunReport(benchmark=spec.benchmark, run_id=spec.run_id, status=status, environment=spec.environment,
                           matrix_point=dict(spec.matrix_point), links=self._links(spec.environment))
        with self._lock:
            self._live.setdefault(commit, {})[spec.run_id] = _Live(execution_id, report, spec.source.pull_request)
        self._update(commit, spec.source.pull_request)

    def export(self, context: ExportContext) -> None:
        spec, record = context.spec, context.record
        commit = record.commit or spec.source.commit
        if not commit:
            log.info("github: %s has no source commit; nothing to report", record.execution_id)
            return
        report = self._report(record, spec)
        self._confirm(record, report)
        with self._lock:
            live = self._live.get(commit, {})
            if spec.run_id in live and live[spec.run_id].execution_id == record.execution_id:
                del live[spec.run_id]
            if not live:
                self._live.pop(commit, None)
        self._update(commit, spec.source.pull_request if spec.source.pull_request is not None
                     else record.pull_request)

    def flush(self, *, force: bool = False) -> FlushResult:
        return self.reporter.flush(force=force)

    # -- building the reports -------------------------------------------------------------------------

    def _links(self, environment: str) -> Links:
        return self.links.get(environment, Links())

    def _report(self, record: ResultRecord, spec: RunSpec | None = None) -> RunReport:
        with self._lock:
            known = self._judged.get(record.execution_id)
        if known is not None:
            return known
        with self._lock:
            if spec is not None:
                self._policies[record.run_id] = {m.name: m.policy for m in spec.all_metrics()}
            # a run seen only in the store (after a restart) is judged with the default policies
            policies = self._policies.get(record.run_id, {})
        try:
            chain = self._ledger.chain_for(self.reporter.writer.repo, record.execution_id, series_key(record))
        except AnubisError as e:  # the outbox file: judged alone
            log.warning("github: could not read the confirmations of %s: %s", record.execution_id, e)
            chain = None
        evidence = self._records(chain.members if chain is not None else ())
        report = judged_report(self.store, record, policies, links=self._links(record.environment),
                               main_branch=self.main_branch, evidence=evidence)
        with self._lock:
            if len(self._judged) >= MAX_REMEMBERED:
                self._judged.clear()
            self._judged[record.execution_id] = report
        return report

    def reports(self, commit: str) -> list[RunReport]:
        """Every run of ``commit``: the newest stored execution of each, unless a newer one is running."""
        latest: dict[str, ResultRecord] = {}
        for record in self.store.list_runs(limit=COMMIT_SCAN):  # newest first
            if record.commit == commit and record.run_id not in latest:
                latest[record.run_id] = record
        with self._lock:
            live = dict(self._live.get(commit, {}))
        reports: dict[str, RunReport] = {}
        for run_id, record in latest.items():
            reports[run_id] = self._report(record)
        for run_id, running in live.items():
            stored = latest.get(run_id)
            if stored is None or stored.execution_id != running.execution_id:
                reports[run_id] = running.report
        return self._with_confirmations(commit, reports)

    # -- confirmation runs ----------------------------------------------------------------------------

    @property
    def _ledger(self) -> Outbox:
        return self.reporter.outbox

    def _records(self, execution_ids: Sequence[str]) -> list[ResultRecord]:
        found = []
        for execution_id in execution_ids:
            try:
                found.append(self.store.get(execution_id))
            except AnubisError:  # purged meanwhile: judged without it
                log.info("github: execution %s of a confirmation is not stored any more", execution_id)
        return found

    def _confirm(self, record: ResultRecord, report: RunReport) -> None:
        """Open, grow or close the chain of a suspected change (:func:`confirming.decide`) and queue the
        confirmation run it asks for; the chain's root commit is reported again when it changed. A run
        that ended without results asks for its confirmation again (:func:`confirming.decide`)."""
        repo = self.reporter.writer.repo
        with self._lock:
            policies = record_policies(record) or self._policies.get(record.run_id, {})
        confirm = max((policies.get(m, RegressionPolicy()).confirm for m in confirming.suspected(report.verdicts)),
                      default=0)
        try:
            with self._confirm_lock:
                before = self._ledger.chain_for(repo, record.execution_id, series_key(record))
                chain, requests = confirming.decide(before, record, report.verdicts, confirm)
                if chain is None or chain == before:
                    return
                self._ledger.save_chain(repo, chain, requests)
        except AnubisError as e:  # the outbox file
            log.warning("github: could not record the confirmation of %s: %s", record.execution_id, e)
            return
        for request in requests:
            log.info("github: %s of %s is suspected; confirmation run %s of %s asked for (%s)", ", ".join(chain.metrics),
                     chain.root, request.payload["confirmation"], chain.limit, request.key)
        if not chain.is_open:
            log.info("github: the change suspected in %s: %s", chain.root, chain.outcome)
        if chain.commit and chain.commit != (record.commit or ""):
            self._update(chain.commit, chain.pull_request)

    def _with_confirmations(self, commit: str, reports: dict[str, RunReport]) -> list[RunReport]:
        """``reports`` with each suspected change's runs shown as one: its newest run, with the chain's
        line (a confirmation run of a branch is a new commit: it is shown on the root's commit too, as
        long as the root is that commit's latest execution of its run)."""
        executions = {r.record.execution_id: run_id for run_id, r in reports.items() if r.record is not None}
        try:
            chains = self._ledger.chains(self.reporter.writer.repo, list(executions))
        except AnubisError as e:
            log.warning("github: could not read the confirmations of %s: %s", commit[:12], e)
            return list(reports.values())
        for chain in chains:
            newest = self._records(chain.members[-1:])
            if not newest:
                continue
            shown = self._report(newest[0])
            slot = next((executions[m] for m in chain.members if m in executions), shown.run_id)
            for member in chain.seen:  # a failed confirmation run is told of in the chain's line
                reports.pop(executions.get(member, ""), None)
            short = {"confirmed": "confirmed by run {}", "not_confirmed": "not confirmed by run {}",
                     "unresolved": "still suspected after run {}"}.get(chain.outcome, "confirming")
            if chain.stopped:  # ended by a confirmation run without results
                short = "still suspected: confirmation run {} ended without results"
            reports[slot] = replace(shown, confirmation=chain.describe(),
                                    confirmation_short=short.format(chain.seen[-1] if chain.stopped else chain.members[-1]))
        return list(reports.values())

    def _update(self, commit: str, pull_request: int | None) -> None:
        with self._update_lock:
            reports = self.reports(commit)
            if not reports:
                return
            try:
                self.reporter.update(commit, reports,
                                     pull_requests=[pull_request] if pull_request is not None else None)
            except AnubisError as e:  # GitHub, or the outbox file (a StoreError)
                log.warning("github: could not queue the report of %s: %s", commit[:12], e)


class Flusher:
    """Flushes the outbox every ``interval`` seconds on a thread, and once more (forced) on :meth:`stop`."""

    def __init__(self, flush: Callable[..., FlushResult], interval: float = 5.0) -> None:
        self._flush = flush
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="github-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush_now(force=False)

    def flush_now(self, *, force: bool) -> FlushResult | None:
        try:
            result = self._flush(force=force)
        except (AnubisError, OSError) as e:  # GitHub or the outbox file: the queue keeps everything
            log.warning("github: flushing the outbox failed, it is tried again: %s", e)
            return None
        if result.sent or result.failed or result.dropped:
            log.info("github: %s write(s) made, %s kept for a later try, %s dropped, %s queued",
                     result.sent, result.failed, result.dropped, result.remaining)
        return result

    def stop(self, timeout: float = 30.0) -> FlushResult | None:
        """Stop the timer and make every queued write now (what GitHub refuses stays in the outbox)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.flush_now(force=True)
