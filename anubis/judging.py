"""Verdicts for the commands that show results: which policy applies, and judging a stored result.

A metric's regression policy is in the result record itself (the RunSpec's, kept when the record is
made), so every verdict on an execution uses the policy it ran with. For a record written before
records carried it: the RunSpec kept beside its logs (``<data_dir>/executions/<execution_id>/runspec.json``),
else the descriptor in this checkout planned again when it gives the same run, else the defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import click

from anubis.settings import Settings
from controller.baselines import Judgement, judge_record, record_policies
from controller.lazy_logging import ModuleLogger
from controller.sqlite_store import SqliteResultStore
from controller.store import ResultStore
from schemas.errors import AnubisError
from schemas.policy import RegressionPolicy
from schemas.results import ResultRecord
from schemas.status import RunStatus

log = ModuleLogger(__name__)  # logging imported on the first message


def policies_for(settings: Settings, record: ResultRecord) -> dict[str, RegressionPolicy]:
    """Each metric's policy for ``record`` (metrics not named get the defaults): the ones the record
    carries; for an older record, the RunSpec kept beside its logs, else the descriptor planned again."""
    carried = record_policies(record)
    if carried is not None:
        return carried
    from schemas.runspec import RunSpec  # here: a record that carries its policies needs none of it

    kept = settings.data_dir / "executions" / record.execution_id / "runspec.json"
    try:
        spec = RunSpec.from_dict(json.loads(kept.read_text(encoding="utf-8")))
        return {m.name: m.policy for m in spec.all_metrics()}
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.debug("no kept RunSpec for %s (%s); trying the descriptor", record.execution_id, e)
    if not record.descriptor_path:
        return {}
    try:
        from renderer.planning import plan_runs

        specs = plan_runs(
            settings.repo_root / record.descriptor_path,
            repo_root=settings.repo_root,
            environment=record.environment,
        )
    except (AnubisError, OSError, ValueError) as e:
        log.debug("descriptor %s does not plan (%s); default policies", record.descriptor_path, e)
        return {}
    same = [s for s in specs if s.run_id == record.run_id] or [
        s for s in specs if s.matrix_point == record.matrix_point
    ]
    return {m.name: m.policy for m in same[0].all_metrics()} if same else {}


def judge_stored(settings: Settings, store: ResultStore, record: ResultRecord) -> dict[str, Judgement]:
    """The verdict on each metric of ``record`` (none for an execution that did not succeed)."""
    if record.status is not RunStatus.SUCCEEDED or not record.metrics:
        return {}
    return judge_record(store, record, policies_for(settings, record))


def judgements_in_context(record: ResultRecord) -> dict[str, Judgement]:
    """Verdicts for a command that did not compute them (``anubis run``'s table): the settings come
    from the running click command; outside one, or without a store, there are none."""
    context = click.get_current_context(silent=True)
    settings = context.find_object(Settings) if context is not None else None
    if settings is None or not settings.store_path.exists():
        return {}
    try:
        with SqliteResultStore(settings.store_path) as store:
            return judge_stored(settings, store, record)
    except AnubisError as e:
        log.warning("could not judge execution %s: %s", record.execution_id, e)
        return {}


def regressed(judgements: Mapping[str, Judgement], policies: Mapping[str, RegressionPolicy]) -> list[str]:
    """The metrics that regressed and whose policy fails on a regression."""
    return [
        name
        for name, j in judgements.items()
        if j.verdict.verdict == "regression" and policies.get(name, RegressionPolicy()).fail_on_regression
    ]


def confirmation_runs(
    settings: Settings, store: ResultStore, record: ResultRecord, judgements: Mapping[str, Judgement] | None = None
) -> int:
    """How many more runs ``record``'s suspected changes ask for: the largest ``confirm`` of the
    policies of its metrics whose verdict is ``suspected`` (0 when none is). ``judgements``: the
    record's, when already computed (else judged here)."""
    policies = policies_for(settings, record)
    if judgements is None:
        judgements = judge_stored(settings, store, record)
    return max(
        (policies.get(name, RegressionPolicy()).confirm for name, j in judgements.items()
         if j.verdict.verdict == "suspected"),
        default=0,
    )
