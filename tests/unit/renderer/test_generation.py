"""The renderer generation: a release that renders different pod templates must bump it, so that a
changed template comes under a new Job name (a Job's ``spec.template`` is immutable: the apply would
fail "field is immutable" and Argo CD's sync with it), while the benchmark's history goes on."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers_validation import descriptor, make_repo, plan, write_descriptor

from controller.baselines import baseline_history
from controller.sqlite_store import SqliteResultStore
from renderer import identity, manifests
from renderer.environments import load_environment
from renderer.manifests import render_run
from schemas.results import Reproducibility, ResultRecord
from schemas.runspec import RunSpec
from schemas.status import RunStatus

CASES = Path(__file__).resolve().parent / "cases"
TEMPLATES = Path(manifests.__file__).resolve().parent / "templates"


def pod_templates(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, template) of every pod template of a Job, CronJob or MPIJob, with the Job fields the
    API server will not let change (``spec.selector``, ``spec.completionMode``)."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if kind in ("Job", "CronJob"):
        yield "template", {k: spec.get(k) for k in ("template", "selector", "completionMode")}
    elif kind == "MPIJob":
        for role, replica in sorted(spec["mpiReplicaSpecs"].items()):
            yield role, replica["template"]


def golden_digest() -> str:
    """sha256 of every pod template in the golden renders, canonical JSON, in file and object order."""
    digest = hashlib.sha256()
    for path in sorted(CASES.glob("*/expected.yaml")):
        for obj in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            for where, template in pod_templates(obj or {}):
                name = f"{path.parent.name}/{obj['kind']}/{obj['metadata']['name']}/{where}"
                digest.update(name.encode() + b"\0" + json.dumps(template, sort_keys=True).encode() + b"\0")
    return f"sha256:{digest.hexdigest()}"


def test_the_generation_is_bumped_when_the_pod_templates_change() -> None:
    digests = identity.POD_TEMPLATE_DIGESTS
    current = identity.RENDERER_GENERATION
    assert current == max(digests), f"RENDERER_GENERATION is {current}, the latest recorded generation {max(digests)}"
    assert len(set(digests.values())) == len(digests), "two generations record the same pod templates"
    found = golden_digest()
    assert digests[current] == found, (
        f"the rendered pod templates changed (tests/unit/renderer/cases/*/expected.yaml), digest {found}. "
        f"A Job's spec.template is immutable: the same Job name with another template fails to apply. In "
        f"renderer/identity.py set RENDERER_GENERATION = {current + 1} and add {current + 1}: \"{found}\" to "
        f"POD_TEMPLATE_DIGESTS (every run id changes: an upgrade re-runs every benchmark once; see "
        f"docs/operations.md)."
    )


def test_generation_one_leaves_run_ids_as_they_were(tmp_path: Path) -> None:
    env = load_environment(make_repo(tmp_path), "cpu-cluster")
    before = identity.slug("b") + "-" + identity.sha256(identity.canonical_json(
        {"descriptor": "d", "scripts": None, "environment": identity.environment_fingerprint(env), "rerun": 0}))[:10]
    assert identity.run_id("b", "d", None, env, 0, generation=1) == before
    assert identity.run_id("b", "d", None, env, 0, generation=2) != before


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path)


def planned(repo: Path) -> RunSpec:
    path = write_descriptor(repo, descriptor(), name="upgrade")
    [run] = plan(repo, path, environment="cpu-cluster").runs
    return run


def job(spec: RunSpec, repo: Path) -> dict[str, Any]:
    rendered = render_run(spec, load_environment(repo, spec.environment), {})
    [obj] = [o for o in rendered.objects if o["kind"] == "Job"]
    return dict(obj)


def result(spec: RunSpec, uid: str, at: float) -> ResultRecord:
    return ResultRecord(execution_id=f"{spec.run_id}-{uid}", run_id=spec.run_id, family_id=spec.family_id,
                        benchmark=spec.benchmark, environment=spec.environment, backend="kubernetes",
                        status=RunStatus.SUCCEEDED, reason="", started_at=at, finished_at=at + 60, metrics={},
                        reproducibility=Reproducibility(descriptor_hash=spec.descriptor_hash, image=spec.image),
                        labels=dict(spec.labels), branch="main", matrix_point=dict(spec.matrix_point))


def test_a_changed_pod_template_gets_a_new_job_name_and_the_history_goes_on(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_spec = planned(repo)
    old_job = job(old_spec, repo)

    # The next release: its pod template (laid out by manifests.pod_template) gains a field, and it bumps
    # the generation.
    laid_out = manifests.pod_template

    def released(pod: manifests.Pod) -> str:
        text = laid_out(pod)
        assert "  enableServiceLinks: false\n" in text
        return text.replace("  enableServiceLinks: false\n",
                            "  enableServiceLinks: false\n  terminationGracePeriodSeconds: 45\n", 1)

    monkeypatch.setattr(manifests, "pod_template", released)
    monkeypatch.setattr(identity, "RENDERER_GENERATION", identity.RENDERER_GENERATION + 1)
    new_spec = planned(repo)
    new_job = job(new_spec, repo)

    assert new_job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 45  # the release changed it
    assert "terminationGracePeriodSeconds" not in old_job["spec"]["template"]["spec"]
    assert new_job["metadata"]["name"] != old_job["metadata"]["name"]  # ... so it comes under a new Job name
    assert new_spec.run_id != old_spec.run_id
    assert (new_spec.family_id, new_spec.benchmark, new_spec.environment, new_spec.matrix_point) == (
        old_spec.family_id, old_spec.benchmark, old_spec.environment, old_spec.matrix_point)

    store = SqliteResultStore(tmp_path / "results.sqlite3")
    before = [result(old_spec, f"{i:08x}", 1_700_000_000.0 + i * 3600) for i in range(3)]
    for record in before:
        store.put(record)
    after = result(new_spec, "feedbeef", 1_700_100_000.0)
    store.put(after)
    history = baseline_history(store, after)  # the new run's baseline is the old run's executions
    assert sorted(r.execution_id for r in history.executions) == sorted(r.execution_id for r in before)
    assert history.branch == "main"


def test_a_changed_template_under_the_same_name_is_refused_by_the_api(repo: Path) -> None:
    """Why the generation exists: what the API server does with a changed template under one name."""
    from fakes.kubernetes_api import FakeKubernetes, InvalidError

    spec = planned(repo)
    old = job(spec, repo)
    api = FakeKubernetes()
    api.create("jobs", old)
    new = json.loads(json.dumps(old))
    new["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "ANUBIS_RELEASE", "value": "next"})
    with pytest.raises(InvalidError, match="spec.template: Invalid value: .*field is immutable"):
        api.update("jobs", old["metadata"]["namespace"], old["metadata"]["name"], new)
    renamed = replace(spec, run_id=identity.run_id(spec.benchmark, "d", None, load_environment(repo, "cpu-cluster"), 0,
                                                   generation=2))
    assert job(renamed, repo)["metadata"]["name"] != old["metadata"]["name"]
