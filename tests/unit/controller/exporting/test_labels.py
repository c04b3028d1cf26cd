"""RUN_LABELS of a run: the fixed names of docs/dev/contracts.md, then the user's, valid for Prometheus."""

from __future__ import annotations

import re

from fakes.runs import make_record, make_spec
from hypothesis import given
from hypothesis import strategies as st

from controller.exporting.base import (
    RUN_LABEL_NAMES,
    Exporter,
    run_labels,
    sanitize_label_name,
    sanitize_metric_name,
    spec_labels,
)
from controller.exporting.prometheus import PushgatewayExporter, alias_name

VALID_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def test_fixed_labels_then_user_labels() -> None:
    spec = make_spec()
    labels = run_labels(spec, make_record(spec))
    assert labels == {
        "benchmark": "resnet",
        "environment": "cpu-cluster",
        "run_id": "r0123456789a",
        "execution_id": "r0123456789a-1a2b3c4d",
        "family_id": "f0123456789a",
        "action_id": "r0123456789a-1a2b3c4d",
        "task_name": "resnet-train",
        "example_com_tier": "gold",
        "team": "vision",
    }
    assert tuple(labels)[: len(RUN_LABEL_NAMES)] == RUN_LABEL_NAMES


def test_task_name_defaults_to_the_benchmark() -> None:
    spec = make_spec(labels={})
    assert run_labels(spec, make_record(spec, labels={}))["task_name"] == "resnet"


def test_spec_labels_equal_the_record_labels() -> None:
    spec = make_spec()
    record = make_record(spec)
    assert spec_labels(spec, record.execution_id) == run_labels(spec, record)


def test_user_labels_never_replace_fixed_or_reserved_names() -> None:
    spec = make_spec(labels={"run_id": "mine", "status": "s", "metric": "m", "job": "j", "run-id": "x", "run.id": "y"})
    labels = run_labels(spec, make_record(spec, labels={}))
    assert labels["run_id"] == "r0123456789a"
    # keys are taken in sorted order: "run-id" < "run.id" < "run_id"
    assert (labels["label_run_id"], labels["label_run_id_2"], labels["label_run_id_3"]) == ("x", "y", "mine")
    assert labels["label_status"] == "s" and labels["label_metric"] == "m" and labels["label_job"] == "j"
    assert "status" not in labels and "job" not in labels


def test_record_labels_fill_in_what_the_spec_lacks() -> None:
    spec = make_spec(labels={"team": "vision"})
    labels = run_labels(spec, make_record(spec, labels={"team": "other", "extra": "1"}))
    assert labels["team"] == "vision" and labels["extra"] == "1"


def test_sanitize_names() -> None:
    assert sanitize_label_name("example.com/team") == "example_com_team"
    assert sanitize_label_name("9lives") == "_9lives"
    assert sanitize_label_name("__meta") == "label__meta"
    assert sanitize_label_name("") == "_"
    assert sanitize_metric_name("top-1 accuracy") == "top_1_accuracy"
    assert alias_name("accuracy") == "BAI_METRICS_accuracy"
    assert alias_name("top-1.acc") == "BAI_METRICS_top_1_acc"


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=10), max_size=12))
def test_every_label_name_is_valid_and_every_value_kept(user: dict[str, str]) -> None:
    spec = make_spec(labels=user)
    labels = run_labels(spec, make_record(spec, labels={}))
    assert all(VALID_LABEL.match(name) and not name.startswith("__") for name in labels)
    kept = len(labels) - len(RUN_LABEL_NAMES)
    dropped = 1 if user.get("task_name") == labels["task_name"] and "task_name" in user else 0
    assert kept == len(user) - dropped


def test_exporters_meet_the_protocol() -> None:
    assert isinstance(PushgatewayExporter("http://127.0.0.1:1"), Exporter)
