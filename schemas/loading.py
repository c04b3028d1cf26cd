"""Access to the JSON Schemas shipped in this package."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def schema_text(name: str) -> str:
    """The text of ``schemas/<name>.schema.json`` (``descriptor``, ``environment``, …)."""
    return resources.files("schemas").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema ``schemas/<name>.schema.json`` (``descriptor``, ``environment``, …)."""
    schema: dict[str, Any] = json.loads(schema_text(name))
    return schema
