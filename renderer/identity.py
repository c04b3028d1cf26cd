"""Run identity: content hashes and the DNS-safe names derived from them.

The same content renders the same names (an Argo CD sync is idempotent); any change — descriptor,
script sources, environment, matrix point — gives a new run id, and so a new Job (Job specs are
immutable). ``info.rerun`` changes the run id without changing the content hash.

The renderer's own output is part of the identity too: :data:`RENDERER_GENERATION` is bumped by hand
whenever a release renders different pod templates (``tests/unit/renderer/test_generation.py`` fails
until it is, comparing the golden pod templates with :data:`POD_TEMPLATE_DIGESTS`). A Job's
``spec.template`` is immutable (the API server answers ``422 field is immutable``, and Argo CD's sync
stays failed), so a changed template must come under a new Job name. The family id, and so the
benchmark's history and baseline (keyed by benchmark, environment and matrix point), do not include
the generation: they go on across an upgrade. See docs/operations.md ("Upgrading Anubis").
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from typing import Any

from schemas.environment import Environment

RENDERER_GENERATION = 2
"""The generation of the rendered pod templates; generation 1 is that of every release before the
generation existed, and leaves run ids as they were (no re-run for the upgrade that introduced it).
Generation 2: data is fetched by a Job of its own under the fetcher's account, and the run's pods wait
for it without credentials (docs/security.md, item 10)."""

POD_TEMPLATE_DIGESTS: dict[int, str] = {
    1: "sha256:ff239ae8e0a3ec9102c5596523c9295e8a34eea79a54f9ea30d22ea3aa3b3012",
    2: "sha256:22156a161f5f4673da3cf17bae69d2d70789bc8a2f3bf1b1b3a5447a3a8d5243",
}
"""The digest of the golden pod templates (tests/unit/renderer/cases) at each generation; the test
fails when they change and the latest entry is not a new generation's."""

SLUG_MAX = 40  # leaves room for "-<10 hex>" and suffixes such as "-scripts" within 63 characters


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def slug(name: str) -> str:
    """A DNS-1123 label fragment: lower-case letters, digits and '-'."""
    out = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return (out[:SLUG_MAX].rstrip("-")) or "benchmark"


def environment_fingerprint(env: Environment) -> str:
    """What of an environment changes what runs (not its description, links or result store)."""
    known = _fingerprints.get(id(env))
    if known is not None and known[0] is env:  # an Environment is frozen: one fingerprint per object
        return known[1]
    fingerprint = _environment_fingerprint(env)
    if len(_fingerprints) >= 256:
        _fingerprints.clear()
    _fingerprints[id(env)] = (env, fingerprint)  # holds env, so that its id is not reused meanwhile
    return fingerprint


_fingerprints: dict[int, tuple[Environment, str]] = {}


def _environment_fingerprint(env: Environment) -> str:
    raw = asdict(env)
    for key in ("description", "source_path", "links", "result_store", "default"):
        raw.pop(key, None)
    # a limit added after run ids were first given out: it only refuses descriptors, it changes nothing
    # of what runs, and leaving it out keeps every run id of an environment as it was
    raw["policy"].pop("max_instances", None)
    return sha256(canonical_json(raw))


def descriptor_hash(effective: dict[str, Any]) -> str:
    """Hash of the descriptor as it runs at one point (matrix applied, ``info.rerun`` left out)."""
    content = {k: v for k, v in effective.items() if k != "matrix"}
    info = dict(content.get("info", {}))
    info.pop("rerun", None)
    content["info"] = info
    return sha256(canonical_json(content))


def run_id(benchmark: str, descriptor_digest: str, script_digest: str | None, env: Environment, rerun: int,
           generation: int | None = None) -> str:
    """``<slug>-<10 hex>`` of the content, the rerun counter and the renderer generation (default:
    :data:`RENDERER_GENERATION`; generation 1 adds nothing, so earlier run ids stay valid)."""
    content: dict[str, Any] = {
        "descriptor": descriptor_digest,
        "scripts": script_digest,
        "environment": environment_fingerprint(env),
        "rerun": rerun,
    }
    generation = RENDERER_GENERATION if generation is None else generation
    if generation > 1:
        content["renderer"] = generation
    return f"{slug(benchmark)}-{sha256(canonical_json(content))[:10]}"


def family_id(benchmark: str, raw_descriptor: dict[str, Any], script_digest: str | None) -> str:
    content = dict(raw_descriptor)
    info = dict(content.get("info", {}))
    info.pop("rerun", None)
    content["info"] = info
    return f"{slug(benchmark)}-{sha256(canonical_json({'d': content, 's': script_digest}))[:10]}"
