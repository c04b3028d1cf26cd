"""A throughput's work per joule and per dollar as metrics of their own (``efficiency`` on a metric):
declared, validated, computed from the run's energy and cost by hand, and judged against their history."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fakes.runs import STARTED, make_record, make_spec
from unit.renderer.helpers_validation import SHOWN, descriptor, errors, line_of, make_repo, plan, write_descriptor

from controller.baselines import judge_record
from controller.costs import run_cost, shipped_prices, with_efficiency
from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult, ResultRecord
from schemas.runspec import MetricSpec, RunSpec

THROUGHPUT = 'name = "throughput"\nunits = "images/s"\npattern = "tp=([0-9.]+)"\nefficiency = ["per_joule", "per_dollar"]'


def _spec() -> RunSpec:
    spec = make_spec(environment="gpu-cluster")
    metrics = tuple(replace(m, efficiency=("per_joule", "per_dollar")) if m.name == "throughput" else m
                    for m in spec.metrics)
    return replace(spec, metrics=metrics)


def test_declared_efficiency_becomes_metrics_judged_like_any(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    path = write_descriptor(repo, descriptor(tail=f"[[output.metrics]]\n{THROUGHPUT}"))
    [run] = plan(repo, path).runs
    names = {m.name: m for m in run.all_metrics()}
    assert names["throughput_per_joule"].units == "images/J" and names["throughput_per_dollar"].units == "images/$"
    assert names["throughput_per_dollar"].direction == "higher" and names["throughput_per_dollar"].pattern is None
    assert names["throughput_per_dollar"].policy == names["throughput"].policy
    again = RunSpec.from_dict(run.to_dict())
    assert again == run and again.metrics[0].efficiency == ("per_joule", "per_dollar")
    plain = replace(run, metrics=tuple(replace(m, efficiency=()) for m in run.metrics))
    assert "efficiency" not in plain.to_dict()["metrics"][0]  # older RunSpecs read and write unchanged


def test_efficiency_of_something_that_is_not_a_throughput_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    text = descriptor(tail='[[output.metrics]]\nname = "latency"\nunits = "ms"\npattern = "lat=([0-9.]+)"\n'
                           'efficiency = ["per_dollar"]')
    line = line_of(text, "efficiency =")
    assert errors(repo, write_descriptor(repo, text)) == [
        f"{SHOWN}:{line}:1: output.metrics[0].efficiency: efficiency is work per joule or per dollar, so it needs a"
        " throughput: units 'ms' are not a unit per second (such as images/s); remove efficiency or declare the"
        " throughput"
    ]


def test_values_by_hand() -> None:
    spec = _spec()
    cost = run_cost(shipped_prices(), "p3.2xlarge", 1, 125.0)
    assert cost is not None
    record = replace(make_record(spec), telemetry={"energy_j": 27_500.0, "gpus": []}, cost=cost.to_dict())
    out = with_efficiency(record, spec)
    # throughput mean 110 images/s over 125 s = 13,750 images; 13,750 / 27,500 J; 13,750 / (3.06 x 125 / 3600) $
    assert out.metrics["throughput_per_joule"].values == pytest.approx((0.5,))
    assert out.metrics["throughput_per_dollar"].values == pytest.approx((13_750 / (3.06 * 125 / 3600),))
    assert out.metrics["throughput_per_dollar"].unit == "images/$"
    assert out.metrics["throughput_per_dollar"].times == (STARTED + 125.0,)
    # no telemetry: no energy figure, and nothing is invented
    no_energy = with_efficiency(replace(record, telemetry=None), spec)
    assert "throughput_per_joule" not in no_energy.metrics and "throughput_per_dollar" in no_energy.metrics
    # not asked for: the record is left as it is
    assert with_efficiency(record, make_spec()) is record


def test_a_drop_in_work_per_dollar_is_a_regression(tmp_path: Path) -> None:
    """The same images/s on a dearer instance type: with_efficiency computes fewer images per dollar, and
    that metric is judged against its history like any other."""
    spec = _spec()
    policies = {m.name: replace(m.policy, confirm=0) for m in spec.all_metrics()}

    def executed(execution_id: str, start: float, instance_type: str, throughput: float) -> ResultRecord:
        record = make_record(spec, execution_id=execution_id, started_at=start, finished_at=start + 125.0)
        record = replace(record, metrics={**record.metrics, "throughput": MetricResult(
            "throughput", "images/s", "higher", (throughput,) * 3, (start,) * 3)})
        cost = run_cost(shipped_prices(), instance_type, 1, 125.0)
        assert cost is not None
        return with_efficiency(replace(record, cost=cost.to_dict()), spec)

    with SqliteResultStore(tmp_path / "s.sqlite3") as store:
        for i in range(8):
            store.put(executed(f"e{i}", STARTED + i * 3600.0, "g5.xlarge", 110.0 + 0.2 * (i % 3)))
        now = executed("new", STARTED + 9 * 3600.0, "p3.2xlarge", 110.0)  # 3.06 $/h instead of 1.006 $/h
        judged = judge_record(store, now, policies)
    assert judged["throughput"].verdict.verdict == "no_change"
    assert judged["throughput_per_dollar"].verdict.verdict == "regression"
    assert judged["throughput_per_dollar"].verdict.change == pytest.approx(1.006 / 3.06 - 1, abs=0.01)


def test_metric_spec_defaults_keep_old_specs() -> None:
    assert MetricSpec("t", "ms", None, "lower").efficiency == ()
