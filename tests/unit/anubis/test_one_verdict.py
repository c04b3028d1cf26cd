"""One execution, one verdict: `anubis results`, the pull-request comment (`anubis report`) and the
controller judge with the policy the record carries, so editing the descriptor's policy in the checkout
afterwards changes none of them (before, the first two re-planned the descriptor from the checkout)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from click.testing import CliRunner
from fakes.runs import STARTED, make_record, make_spec

from anubis.cli import cli
from anubis.commands.report import _report
from controller.baselines import judge_record, record_policies
from controller.records import Outcome, record_of
from controller.sqlite_store import SqliteResultStore
from schemas.results import MetricResult, Reproducibility
from schemas.runspec import RegressionPolicy
from schemas.status import RunStatus

STRICT = RegressionPolicy(min_change=0.05, confirm=0)
LAX = RegressionPolicy(min_change=0.9, confirm=0)  # what the descriptor says after the edit


def _descriptor(policy: RegressionPolicy) -> str:
    return (
        'spec_version = "0.1.0"\n[info]\ndescription = "d"\n[info.labels]\ntask_name = "speed"\n'
        '[hardware]\ninstance_type = "t3.small"\n[env]\ndocker_image = "python:3.11"\n'
        '[ml]\nbenchmark_code = "python3 -c pass"\n'
        '[[output.metrics]]\nname = "throughput"\nunits = "images/s"\npattern = "tp=([0-9.]+)"\n'
        f'[output.metrics.regression]\nmin_change = {policy.min_change}\nconfirm = {policy.confirm}\n'
    )


def test_every_path_judges_with_the_records_policy(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "benchmarks" / "speed").mkdir(parents=True)
    descriptor = repo / "benchmarks" / "speed" / "descriptor.toml"
    descriptor.write_text(_descriptor(STRICT), encoding="utf-8")
    data = tmp_path / "data"
    spec = make_spec(benchmark="speed", environment="local", descriptor_path="benchmarks/speed/descriptor.toml",
                     metrics=(replace(make_spec().metrics[0], policy=STRICT),))
    with SqliteResultStore(data / "results.sqlite3") as store:
        for i in range(8):
            at = STARTED + i * 3600.0
            past = record_of(spec, Outcome(f"e{i}", RunStatus.SUCCEEDED, "", at, at + 10), backend="local",
                             metrics={"throughput": MetricResult("throughput", "images/s", "higher",
                                                                 (100.0 + (i % 3) * 0.2,), (at,))},
                             reproducibility=Reproducibility("d", "i"), commit="c" * 40, branch="main")
            store.put(past)
        at = STARTED + 9 * 3600.0
        new = record_of(spec, Outcome("new", RunStatus.SUCCEEDED, "", at, at + 10), backend="local",
                        metrics={"throughput": MetricResult("throughput", "images/s", "higher", (80.0,), (at,))},
                        reproducibility=Reproducibility("d", "i"), commit="d" * 40, branch="main")
        store.put(new)
        assert record_policies(store.get("new")) == {"throughput": STRICT}

        # the descriptor's policy is loosened in the checkout afterwards: a 20 % drop is now under its min_change
        descriptor.write_text(_descriptor(LAX), encoding="utf-8")
        controller = judge_record(store, new, {m.name: m.policy for m in spec.all_metrics()})
        report = _report(store, store.get("new"), repo, "main")
        checkout_would_say = judge_record(store, replace(new, policies=None), {"throughput": LAX})

    result = CliRunner().invoke(cli, ["results", "new", "--output", "json"],
                                env={"ANUBIS_DATA_DIR": str(data), "ANUBIS_REPO": str(repo)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    cli_verdict = json.loads(result.stdout)["verdicts"]["throughput"]["verdict"]
    assert controller["throughput"].verdict.verdict == "regression"
    assert report.verdicts["throughput"].verdict == "regression"
    assert cli_verdict == "regression"
    assert checkout_would_say["throughput"].verdict.verdict == "no_change"  # what re-planning would have said


def test_older_records_without_policies_still_read(tmp_path: Path) -> None:
    record = make_record()
    raw = record.to_dict()
    raw.pop("policies", None)
    assert record_policies(type(record).from_dict(raw)) is None
    kept = replace(record, policies={"throughput": asdict(STRICT) | {"unknown_later_field": 1}})
    assert record_policies(kept) == {"throughput": STRICT}  # a field a later release adds is ignored
