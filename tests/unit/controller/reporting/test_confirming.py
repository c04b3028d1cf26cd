"""Confirmation runs (controller/reporting/confirming.py): when a chain opens, how many runs it asks
for (never more than the policy's ``confirm``), what a confirmation run decides, and the dispatch
request as ``anubis respond`` reads it (controller/reporting/commands.py)."""

from __future__ import annotations

from dataclasses import replace

from fakes.runs import make_record

from controller.reporting import commands
from controller.reporting.confirming import MAX_PAYLOAD_PROPERTIES, decide, series_key
from controller.reporting.runreport import MetricVerdict
from schemas.status import RunStatus

SUSPECTED = {"latency": MetricVerdict("suspected", change=0.3), "throughput": MetricVerdict("no_change")}
REGRESSION = {"latency": MetricVerdict("regression", change=0.3), "throughput": MetricVerdict("no_change")}
UNCHANGED = {"latency": MetricVerdict("no_change"), "throughput": MetricVerdict("no_change")}


def _run(n: int, **kw: object) -> object:
    return make_record(execution_id=f"resnet-0123456789-{n:08x}", commit="c" * 40, pull_request=7, **kw)


def test_a_suspected_run_opens_a_chain_and_asks_for_one_run() -> None:
    chain, requests = decide(None, _run(1), SUSPECTED, confirm=1)
    assert chain is not None and chain.root == "resnet-0123456789-00000001" and chain.metrics == ("latency",)
    assert chain.requested == 1 and chain.is_open and chain.pull_request == 7
    [request] = requests
    assert request.key == "confirm:resnet:resnet-0123456789-00000001:1"
    assert request.payload["key"] == request.key and request.payload["pull_request"] == 7
    assert len(request.payload) <= MAX_PAYLOAD_PROPERTIES  # GitHub refuses more top-level properties
    assert "confirmation run 1 of 1 asked for" in chain.describe()


def test_nothing_is_asked_without_a_suspect_or_with_confirm_0() -> None:
    assert decide(None, _run(1), UNCHANGED, confirm=1) == (None, [])
    assert decide(None, _run(1), REGRESSION, confirm=1) == (None, [])
    assert decide(None, _run(1), SUSPECTED, confirm=0) == (None, [])


def test_seeing_a_member_again_changes_nothing() -> None:
    """After a restart the controller may export an execution again: no second request."""
    chain, _ = decide(None, _run(1), SUSPECTED, confirm=1)
    assert decide(chain, _run(1), SUSPECTED, confirm=1) == (chain, [])
    grown, _ = decide(chain, _run(2), REGRESSION, confirm=1)
    assert decide(grown, _run(2), REGRESSION, confirm=1) == (grown, [])


def test_a_confirmation_that_holds_confirms_and_one_that_does_not_clears() -> None:
    chain, _ = decide(None, _run(1), SUSPECTED, confirm=1)
    confirmed, more = decide(chain, _run(2), REGRESSION, confirm=1)
    assert confirmed is not None and confirmed.outcome == "confirmed" and more == []
    assert confirmed.evidence == ("resnet-0123456789-00000002",)
    assert "**confirmed** by run `resnet-0123456789-00000002`" in confirmed.describe()
    cleared, more = decide(chain, _run(2), UNCHANGED, confirm=1)
    assert cleared is not None and cleared.outcome == "not_confirmed" and more == []
    assert "**not confirmed** by run" in cleared.describe()


def test_at_most_confirm_runs_are_asked_for_and_a_confirmation_never_roots_a_chain() -> None:
    chain, first = decide(None, _run(1), SUSPECTED, confirm=2)
    chain, second = decide(chain, _run(2), SUSPECTED, confirm=2)
    assert chain is not None and chain.requested == 2 and chain.is_open
    assert [r.key for r in first + second] == ["confirm:resnet:resnet-0123456789-00000001:1",
                                              "confirm:resnet:resnet-0123456789-00000001:2"]
    ended, third = decide(chain, _run(3), SUSPECTED, confirm=2)
    assert ended is not None and ended.outcome == "unresolved" and third == []
    assert ended.root == "resnet-0123456789-00000001" and len(ended.evidence) == 2
    # a run seen again (a member) or the policy raised meanwhile: still nothing more for this chain
    assert decide(ended, _run(3), SUSPECTED, confirm=5) == (ended, [])


def test_the_series_tells_a_pull_requests_head_and_a_branch_apart() -> None:
    pr = _run(1)
    assert series_key(pr) != series_key(replace(pr, commit="d" * 40))  # a new head: a new series
    main = make_record(execution_id="a", commit="1" * 40, pull_request=None, branch="main")
    assert series_key(main) == series_key(replace(main, commit="2" * 40, run_id="other"))  # a rerun commit
    assert series_key(main) != series_key(replace(main, environment="gpu-cluster"))


def test_the_dispatch_request_is_checked_before_it_names_anything() -> None:
    chain, [request] = decide(None, _run(1), SUSPECTED, confirm=1)
    parsed = commands.parse_dispatch(request.payload)
    assert parsed == commands.Confirm(request.key, "resnet", "resnet-0123456789-00000001", 7, 1, 1)
    for bad in ({**request.payload, "benchmark": "../etc"}, {**request.payload, "key": "confirm:other:x:1"},
                {**request.payload, "pull_request": "7; rm -rf"}, {**request.payload, "confirmation": 3},
                "not an object"):
        assert isinstance(commands.parse_dispatch(bad), commands.Invalid), bad


def test_a_confirmation_request_is_a_rerun_of_one_benchmark() -> None:
    request = commands.Confirm("confirm:resnet:e1:1", "resnet", "e1", 7, 1, 1)
    actions = commands.decide_confirmation(request, state="open", merged=False, previewed=True)
    assert actions[0] == commands.RerunPreview(7, "resnet")
    assert "re-running it to confirm (confirmation run 1 of 1)" in actions[1].text  # type: ignore[union-attr]
    closed = commands.decide_confirmation(request, state="closed", merged=True, previewed=True)
    assert [type(a) for a in closed] == [commands.Reply]
    unlabelled = commands.decide_confirmation(request, state="open", merged=False, previewed=False)
    assert [type(a) for a in unlabelled] == [commands.Reply]
    main = replace(request, pull_request=None)
    assert commands.decide_confirmation(main, state=None, merged=False, previewed=False) == [commands.RerunMain("resnet")]


def test_a_run_without_results_asks_again_within_the_budget_and_never_opens_a_chain() -> None:
    failed = {"status": RunStatus.FAILED, "metrics": {}}
    assert decide(None, _run(9, **failed), {}, confirm=1) == (None, [])  # a failed run is no suspect
    chain, _ = decide(None, _run(1), SUSPECTED, confirm=1)
    again, [request] = decide(chain, _run(2, **failed), {}, confirm=1)
    assert again is not None and again.is_open and again.failed == ("resnet-0123456789-00000002",)
    assert again.members == ("resnet-0123456789-00000001",)  # judged on the runs with results only
    assert request.key.endswith(":2") and request.payload["confirmation"] == 1
    assert decide(again, _run(2, **failed), {}, confirm=1) == (again, [])  # seen again: nothing more
    ended, more = decide(again, _run(3, **failed), {}, confirm=1)
    assert ended is not None and ended.outcome == "unresolved" and more == [] and "2 confirmation runs" in ended.stopped
    assert decide(ended, _run(4, **failed), {}, confirm=1) == (ended, [])  # a closed chain stays closed
    canceled, more = decide(chain, _run(2, status=RunStatus.CANCELED, metrics={}), {}, confirm=1)
    assert canceled is not None and canceled.outcome == "unresolved" and more == []
