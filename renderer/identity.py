"""Run identity: content hashes and the DNS-safe names derived from them.

The same content renders the same names (an Argo CD sync is idempotent); any change — descriptor,
script sources, environment, matrix point — gives a new run id, and so a new Job (Job specs are
immutable). ``info.rerun`` changes the run id without changing the content hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from typing import Any

from schemas.environment import Environment

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


def run_id(benchmark: str, descriptor_digest: str, script_digest: str | None, env: Environment, rerun: int) -> str:
    identity = canonical_json(
        {
            "descriptor": descriptor_digest,
            "scripts": script_digest,
            "environment": environment_fingerprint(env),
            "rerun": rerun,
        }
    )
    return f"{slug(benchmark)}-{sha256(identity)[:10]}"


def family_id(benchmark: str, raw_descriptor: dict[str, Any], script_digest: str | None) -> str:
    content = dict(raw_descriptor)
    info = dict(content.get("info", {}))
    info.pop("rerun", None)
    content["info"] = info
    return f"{slug(benchmark)}-{sha256(canonical_json({'d': content, 's': script_digest}))[:10]}"
