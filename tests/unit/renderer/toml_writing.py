"""A small TOML writer for the property and fuzz tests (tomli_w is not a dependency): values inline,
with dates, nan and infinities, and keys quoted unless they are :class:`DottedKey`."""

from __future__ import annotations

import datetime
import json
import math
from typing import Any


def string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


class DottedKey(str):
    """A key written bare, dots and all: ``k.k.k = 1`` nests tables without a bracket."""


def key(name: str) -> str:
    return str(name) if isinstance(name, DottedKey) else string(name)


def inline(value: Any) -> str:
    """``value`` as an inline TOML value; an object with a ``toml()`` method writes itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if hasattr(value, "toml"):
        text: str = value.toml()
        return text
    if isinstance(value, list):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key(k)} = {inline(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))
