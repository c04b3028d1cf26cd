"""ResultRecord.to_dict makes what dataclasses.asdict makes of every field (without its generic walk),
and shares nothing mutable with the record."""

from __future__ import annotations

from dataclasses import asdict, fields

from schemas.results import MetricResult, Reproducibility, ResultRecord, Summary
from schemas.status import RunStatus


def _record() -> ResultRecord:
    metric = MetricResult("loss", "", "lower", values=(0.5, 0.25, float("nan")), times=(1.0, 2.0, 3.0),
                          values_dropped=4, totals=Summary(n=7, last=0.1, mean=0.3, median=0.25, min=0.1, max=0.5,
                                                            stdev=0.1))
    repro = Reproducibility("sha256:abc", "img:1", dataset_checksums={"s3://b/x": "md5:00"}, gpus=("A100", "A100"),
                            instance_type="p4d.24xlarge", cpu_count=96)
    return ResultRecord(
        execution_id="e-1", run_id="r", family_id="f", benchmark="b", environment="env", backend="kubernetes",
        status=RunStatus.SUCCEEDED, reason="", started_at=1.0, finished_at=5.0, metrics={"loss": metric},
        reproducibility=repro, matrix_point={"batch": 32, "opt": ["adam", {"lr": 0.1}]}, labels={"team": "x"},
        pull_request=7, telemetry={"gpus": [{"util": [1, 2]}]}, cost=None,
        policies={"loss": {"confidence": 0.99, "window": (5, 10)}},
    )


def test_to_dict_is_asdict_of_each_field() -> None:
    record = _record()
    raw = record.to_dict()
    for f in fields(record):
        if f.name in ("status", "metrics", "reproducibility"):
            continue
        assert raw[f.name] == asdict(record)[f.name], f.name
        assert type(raw[f.name]) is type(asdict(record)[f.name]), f.name
    expected_repro = asdict(record.reproducibility)
    expected_repro["gpus"] = ["A100", "A100"]
    assert raw["reproducibility"] == expected_repro
    assert raw["status"] == RunStatus.SUCCEEDED.value and raw["duration"] == 4.0
    assert raw["metrics"]["loss"]["values_dropped"] == 4 and raw["metrics"]["loss"]["n"] == 7
    assert raw["policies"]["loss"]["window"] == (5, 10)  # a tuple stays a tuple, as asdict keeps it


def test_to_dict_shares_nothing_mutable_with_the_record() -> None:
    record = _record()
    raw = record.to_dict()
    raw["matrix_point"]["opt"][1]["lr"] = 9
    raw["telemetry"]["gpus"][0]["util"].append(3)
    raw["reproducibility"]["dataset_checksums"]["s3://b/x"] = "changed"
    raw["policies"]["loss"]["confidence"] = 0.5
    assert record.matrix_point["opt"][1] == {"lr": 0.1}
    assert record.telemetry == {"gpus": [{"util": [1, 2]}]}
    assert record.reproducibility.dataset_checksums == {"s3://b/x": "md5:00"}
    assert record.policies == {"loss": {"confidence": 0.99, "window": (5, 10)}}
    assert ResultRecord.from_dict(record.to_dict()).metrics["loss"].values_dropped == 4
