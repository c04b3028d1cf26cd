"""Every sample benchmark's RunSpecs match schemas/runspec.schema.json and round-trip through JSON."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from renderer.planning import check_descriptor, find_descriptors
from schemas.loading import load_schema
from schemas.runspec import RunSpec

ROOT = Path(__file__).resolve().parents[3]
DESCRIPTORS = find_descriptors([], ROOT)


@pytest.mark.parametrize("descriptor", DESCRIPTORS, ids=[d.parent.name for d in DESCRIPTORS])
@pytest.mark.parametrize("environment", [None, "local"])
def test_runspecs_match_the_schema_and_round_trip(descriptor: Path, environment: str | None) -> None:
    validator = jsonschema.Draft202012Validator(load_schema("runspec"))
    for spec in check_descriptor(descriptor, repo_root=ROOT, environment=environment).runs:
        raw = spec.to_dict()
        validator.validate(raw)
        again = RunSpec.from_dict(json.loads(json.dumps(raw)))
        assert again == spec
        assert again.to_dict() == raw


def test_to_dict_is_every_field_as_plain_json_values() -> None:
    """``to_dict`` converts in one pass (no ``asdict``): the same dict ``asdict`` gives, tuples as lists,
    and containers of its own (changing the dict leaves the RunSpec as it was)."""
    from dataclasses import asdict

    from schemas.runspec import DataSource, MetricSpec, Placement, Probe, ServerSpec

    spec = check_descriptor(DESCRIPTORS[0], repo_root=ROOT).runs[0]
    spec = dataclasses.replace(
        spec,
        matrix_point={"env.vars.BATCH": "16", "nested": {"a": [1, (2, 3)]}},
        placement=Placement("g5.xlarge", {"k": "v"}, ({"key": "gpu", "effect": "NoSchedule"},), "4", "16Gi", 1),
        server=ServerSpec("img", ("serve",), (8080,), {"A": "1"}, False, True, "c5.xlarge",
                          Probe("/ping", 8080), (DataSource("s3://b/m", "/m"),),
                          (MetricSpec("p99", "ms", "p99=(.*)", "lower", required=True, efficiency=("per_dollar",)),)),
        custom_params={"list": [1, 2.5, None, True], "table": {"x": "y"}},
    )
    expected = json.loads(json.dumps(asdict(spec)))
    for metric in [*expected["metrics"], *expected["server"]["metrics"]]:
        for key in ("required", "efficiency"):
            if not metric[key]:
                del metric[key]
    raw = spec.to_dict()
    assert raw == expected
    assert json.loads(json.dumps(raw)) == raw  # only JSON values: lists, not tuples
    raw["custom_params"]["table"]["x"] = "changed"
    raw["placement"]["node_selector"]["k"] = "changed"
    assert spec.custom_params["table"]["x"] == "y" and spec.placement.node_selector["k"] == "v"
