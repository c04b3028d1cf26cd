"""Confirmation before alarm on a cluster: a suspected change asks for a confirmation run, once per run
the policy allows, through the path ``/anubis rerun`` takes.

A metric's verdict is ``suspected`` while the change rests on fewer than ``1 + confirm`` runs
(:mod:`controller.analysis`). When an execution's verdict is suspected, the controller opens a
:class:`Chain` keyed by that execution (the *root*) and asks GitHub for a ``repository_dispatch`` of
type :data:`EVENT_TYPE`; the ``commands`` workflow answers it with ``anubis respond``, through the
same decision and the same rendering as ``/anubis rerun`` (:mod:`controller.reporting.commands`): a
pull request's preview is rendered again with ``info.rerun`` bumped, a run of the default branch gets a
bot commit bumping ``info.rerun`` that ``anubis publish`` renders.

The next executions of the same *series* (benchmark, environment, matrix point, descriptor content,
and the pull request's head — or the branch, where a rerun is a new commit) are the chain's evidence:
each is judged with the root and the earlier evidence, so a pull request's confirmation counts the
suspected run even though a pull request's runs never join its baseline. Then:

* still ``suspected`` and fewer than ``confirm`` runs asked for: one more is asked for;
* still ``suspected`` with every allowed run spent: the chain ends ``unresolved`` (nothing more is asked);
* the change holds (``regression``/``improvement``): ``confirmed``; it does not: ``not_confirmed``;
* the run ended without results (FAILED, ERROR, TIMED_OUT: a node lost, an image pull that failed, a
  flaky step): it is no evidence either way, so the same confirmation is asked for again, at most
  ``confirm`` times in a chain (a benchmark that fails every time stops asking); a run someone
  CANCELED ends the chain ``unresolved`` (they did not want it).

Loop guard: a request's key is ``confirm:<benchmark>:<root execution>:<n>`` with ``n`` at most twice
the policy's ``confirm`` (the runs allowed, and as many asked again for failed ones); a confirmation
run is evidence of its root's chain and never roots one of its own, and the outbox makes each key at
most once (it survives restarts). :func:`decide` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from controller.reporting.runreport import MetricVerdict, point_label
from schemas.results import ResultRecord
from schemas.status import RunStatus

#: The ``repository_dispatch`` event type the ``commands`` workflow answers.
EVENT_TYPE = "anubis-confirm"
#: GitHub accepts at most 10 top-level properties in ``client_payload`` (REST "Create a repository
#: dispatch event").
MAX_PAYLOAD_PROPERTIES = 10

Outcome = Literal["confirming", "confirmed", "not_confirmed", "unresolved"]


@dataclass(frozen=True)
class Chain:
    """A suspected change and the confirmation runs asked for and seen."""

    root: str  # the suspected execution's id
    benchmark: str
    series: str  # see series_key
    commit: str  # the root's source commit (its status and comment show the outcome)
    pull_request: int | None  # the root's pull request (a preview), None on a branch
    run_id: str
    limit: int  # the policy's ``confirm``: confirmation runs allowed
    metrics: tuple[str, ...]  # the suspected metrics
    requested: int = 0  # confirmation runs asked for, those asked again after a failed one included
    evidence: tuple[str, ...] = ()  # execution ids of the runs that landed since, oldest first
    outcome: Outcome = "confirming"
    failed: tuple[str, ...] = ()  # execution ids of the runs since that ended without results
    stopped: str = ""  # why an ``unresolved`` chain ended before its runs were spent

    @property
    def is_open(self) -> bool:
        return self.outcome == "confirming"

    @property
    def members(self) -> tuple[str, ...]:
        """The runs the change is judged on: the suspected one and the evidence."""
        return (self.root, *self.evidence)

    @property
    def seen(self) -> tuple[str, ...]:
        """Every run of the chain, the failed ones included (an event seen again changes nothing)."""
        return (*self.members, *self.failed)

    def key(self, n: int) -> str:
        """The outbox key of the ``n``-th confirmation request (its dedupe key)."""
        return f"confirm:{self.benchmark}:{self.root}:{n}"

    def describe(self) -> str:
        """One line for the pull-request comment."""
        shown = ", ".join(f"`{m.replace('`', '')}`" for m in self.metrics)
        last = self.evidence[-1] if self.evidence else None
        if self.outcome == "confirmed":
            return f"{shown}: the change suspected in `{self.root}` was **confirmed** by run `{last}`."
        if self.outcome == "not_confirmed":
            return f"{shown}: the change suspected in `{self.root}` was **not confirmed** by run `{last}`."
        if self.outcome == "unresolved" and self.stopped:
            return f"{shown}: the change suspected in `{self.root}` is still only suspected: {self.stopped}."
        if self.outcome == "unresolved":
            return (f"{shown}: the change suspected in `{self.root}` is still only suspected after "
                    f"{len(self.evidence)} confirmation run(s); no more are asked for (policy `confirm = {self.limit}`).")
        seen = f"; {len(self.evidence)} landed" if self.evidence else ""
        if self.failed:
            seen += (f"; run `{self.failed[-1]}` ended without results, so it was asked for again"
                     if len(self.failed) == 1 else
                     f"; {len(self.failed)} runs ended without results (the last `{self.failed[-1]}`), each asked for again")
        return (f"{shown}: a change is suspected in `{self.root}` — confirmation run {len(self.evidence) + 1} of "
                f"{self.limit} asked for{seen}.")


@dataclass(frozen=True)
class Request:
    """Ask for one confirmation run: a ``repository_dispatch`` made once under ``key``."""

    key: str
    payload: dict[str, object]


def series_key(record: ResultRecord) -> str:
    """What makes executions runs of one thing: benchmark, environment, matrix point, descriptor
    content (``info.rerun`` left out), and the pull request and its head commit, else the branch."""
    where = (f"pr-{record.pull_request}@{record.commit or ''}" if record.pull_request is not None
             else f"branch:{record.branch or ''}")
    return "|".join((record.benchmark, record.environment, point_label(record.matrix_point),
                     record.reproducibility.descriptor_hash, where))


def suspected(verdicts: Mapping[str, MetricVerdict]) -> tuple[str, ...]:
    return tuple(sorted(name for name, v in verdicts.items() if v.verdict == "suspected"))


def decide(chain: Chain | None, record: ResultRecord, verdicts: Mapping[str, MetricVerdict],
           confirm: int) -> tuple[Chain | None, list[Request]]:
    """The chain after ``record`` finished with ``verdicts`` (judged with the chain's members), and the
    confirmation runs to ask for. ``chain``: the open chain of ``record``'s series, or the chain
    ``record`` already belongs to (then nothing changes: an event seen again after a restart);
    ``confirm``: the largest ``confirm`` of the policies of the suspected metrics."""
    if chain is not None and record.execution_id in chain.seen:
        return chain, []
    if record.status is not RunStatus.SUCCEEDED:
        return _without_results(chain, record)
    doubt = suspected(verdicts)
    if chain is not None and chain.is_open:
        grown = replace(chain, evidence=(*chain.evidence, record.execution_id))
        if doubt:
            if len(grown.evidence) < grown.limit:
                asked = replace(grown, requested=grown.requested + 1)
                return asked, [_request(asked, record)]
            return replace(grown, outcome="unresolved"), []
        held = any(verdicts.get(m) is not None and verdicts[m].verdict in ("regression", "improvement")
                   for m in chain.metrics)
        return replace(grown, outcome="confirmed" if held else "not_confirmed"), []
    if not doubt or confirm < 1:
        return None, []
    root = Chain(root=record.execution_id, benchmark=record.benchmark, series=series_key(record),
                 commit=record.commit or "", pull_request=record.pull_request, run_id=record.run_id,
                 limit=confirm, metrics=doubt, requested=1)
    return root, [_request(root, record)]


def _without_results(chain: Chain | None, record: ResultRecord) -> tuple[Chain | None, list[Request]]:
    """``record`` ended without results (no evidence either way): the open chain of its series asks
    for the same confirmation again, ``limit`` times at most in all; a CANCELED run ends it."""
    if chain is None or not chain.is_open:
        return chain, []
    failed = replace(chain, failed=(*chain.failed, record.execution_id))
    ended = f"confirmation run `{record.execution_id}` ended {record.status.value}"
    if record.status is RunStatus.CANCELED:
        return replace(failed, outcome="unresolved", stopped=f"{ended}; no more are asked for"), []
    if len(failed.failed) > failed.limit:
        return replace(failed, outcome="unresolved",
                       stopped=f"{ended}; {len(failed.failed)} confirmation runs ended without results, so no more "
                               f"are asked for (`/anubis rerun {chain.benchmark}` asks by hand)"), []
    asked = replace(failed, requested=failed.requested + 1)
    return asked, [_request(asked, record)]


def _request(chain: Chain, record: ResultRecord) -> Request:
    payload: dict[str, object] = {
        "key": chain.key(chain.requested),
        "benchmark": chain.benchmark,
        "execution": chain.root,
        "run_id": chain.run_id,
        "commit": chain.commit,
        "pull_request": chain.pull_request,
        "environment": record.environment,
        "confirmation": len(chain.evidence) + 1,  # which of the ``limit`` runs (a failed one is asked again)
        "of": chain.limit,
        "metrics": ",".join(chain.metrics),
    }
    return Request(chain.key(chain.requested), payload)
