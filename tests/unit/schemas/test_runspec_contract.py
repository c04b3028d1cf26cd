"""Every sample benchmark's RunSpecs match schemas/runspec.schema.json and round-trip through JSON."""

from __future__ import annotations

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
