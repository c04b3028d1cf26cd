"""Structural pruning of custom resources, as the API server stores them, against the upstream CRDs.

``apiextensions-apiserver/pkg/apiserver/schema/pruning/algorithm.go``: every field the CRD's
structural schema does not declare is dropped (a ``Warning: 299 unknown field`` with
``fieldValidation=Warn``, the default since Kubernetes 1.27); ``x-kubernetes-preserve-unknown-fields``
keeps what is below it; the root's (and embedded resources') ``apiVersion``/``kind``/``metadata`` are
kept. The CRDs are the reference copies beside the checkout (``../shared/crds``, see its README).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

CRDS = Path(__file__).resolve().parents[3] / "shared" / "crds"
"""The upstream CRDs (reference data beside the checkout: see its README)."""
CRD_FILES = {"mpijobs": "mpijobs-v0.6.0.yaml"}
"""The CRD of each custom kind the fake serves, at the version infra/ installs."""


@functools.cache
def crd_schema(plural: str) -> dict[str, Any] | None:
    """The served version's ``openAPIV3Schema`` of ``plural``'s upstream CRD; None without the file."""
    path = CRDS / CRD_FILES[plural]
    if not path.is_file():
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def prune(value: Any, schema: dict[str, Any], path: str = "", pruned: list[str] | None = None, *,
          root: bool = False) -> Any:
    """``value`` with every field its structural schema does not know removed (their paths appended to
    ``pruned``), as the API server stores a custom resource. ``apiVersion``, ``kind`` and ``metadata``
    of the root and of ``x-kubernetes-embedded-resource`` objects are kept (ObjectMeta is not pruned
    by the CRD's schema); ``x-kubernetes-preserve-unknown-fields`` keeps the unknown ones below it."""
    pruned = pruned if pruned is not None else []
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        meta = root or bool(schema.get("x-kubernetes-embedded-resource"))
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if meta and key in ("apiVersion", "kind", "metadata") and (root or not props or key not in props):
                out[key] = item
            elif props is not None and key in props:
                out[key] = prune(item, props[key], where, pruned)
            elif isinstance(extra, dict):
                out[key] = prune(item, extra, where, pruned)
            elif extra is True or preserve:
                out[key] = item
            else:
                pruned.append(where)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"], f"{path}[{i}]", pruned) for i, item in enumerate(value)]
    return value
