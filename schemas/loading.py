"""Access to the JSON Schemas shipped in this package.

They are read from the package's folder, as the other data files are (``renderer/defaults``,
``schemas/data``): ``importlib.resources`` would cost its import (zipfile and its readers, about 10 ms)
on every command for an installation that is never a zip file.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent


@cache
def schema_text(name: str) -> str:
    """The text of ``schemas/<name>.schema.json`` (``descriptor``, ``environment``, …)."""
    return (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema ``schemas/<name>.schema.json`` (``descriptor``, ``environment``, …)."""
    schema: dict[str, Any] = json.loads(schema_text(name))
    return schema
