"""Matrix expansion: axes over descriptor fields → the points of their cross product.

```toml
[matrix.axes]
"hardware.instance_type" = ["c5.xlarge", "c5.2xlarge"]
"env.vars.BATCH_SIZE" = ["32", "64"]

[[matrix.exclude]]
"hardware.instance_type" = "c5.xlarge"
"env.vars.BATCH_SIZE" = "64"

[[matrix.include]]                # an extra point, with any fields
"hardware.instance_type" = "c5.4xlarge"
"env.vars.BATCH_SIZE" = "128"
```

A point is a mapping of dotted field → value. At most :data:`MAX_POINTS` points (counted before expanding). Exclude entries remove every point that matches all of
their fields; include entries are added as points of their own (after exclusion), unless equal to an
existing point. The order is stable: axes in file order, values in list order, then includes.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import re
from typing import Any

Point = dict[str, Any]

AXIS_FORM = re.compile(r"[a-z_]+(\.[A-Za-z0-9_]+)+")  # use with fullmatch: '$' also matches before a newline
FORBIDDEN_PREFIXES = ("matrix", "spec_version", "info.labels", "info.rerun")
MAX_POINTS = 256  # runs of one descriptor; each is checked, rendered and started separately


def point_count(matrix: dict[str, Any] | None) -> int:
    """How many points :func:`expand` would give at most, computed without expanding anything (the
    product of the axes' lengths, plus the include entries), so that a small file with many axes is
    refused before it takes the memory. Saturates at 10^12."""
    if not matrix:
        return 1
    axes = matrix.get("axes") if isinstance(matrix.get("axes"), dict) else {}
    count = 1
    for values in (axes or {}).values():
        count = min(count * (len(values) if isinstance(values, list) else 1), 10**12)
    includes = matrix.get("include")
    return count + (len(includes) if isinstance(includes, list) else 0)


def expand(matrix: dict[str, Any] | None) -> list[Point]:
    if not matrix:
        return [{}]
    axes: dict[str, list[Any]] = matrix.get("axes", {})
    names = list(axes)
    points: list[Point] = [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]
    for rule in matrix.get("exclude", []):
        points = [p for p in points if not all(k in p and p[k] == v for k, v in rule.items())]
    for extra in matrix.get("include", []):
        if extra not in points:
            points.append(dict(extra))
    return points


def copy_tree(value: Any) -> Any:
    """A deep copy of parsed TOML: new tables and arrays, the same (immutable) scalars. Like
    ``copy.deepcopy``, without its memo and dispatch for every value; anything else is deep-copied."""
    kind = type(value)
    if kind is dict:
        return {key: copy_tree(item) for key, item in value.items()}
    if kind is list:
        return [copy_tree(item) for item in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


_IMMUTABLE = frozenset({str, int, float, bool, type(None), datetime.date, datetime.datetime, datetime.time})


def apply_point(data: dict[str, Any], point: Point) -> dict[str, Any]:
    """A copy of the descriptor with each of the point's fields set (tables created as needed)."""
    out: dict[str, Any] = copy_tree({k: v for k, v in data.items() if k != "matrix"})
    for field, value in point.items():
        set_field(out, field, value)
    return out


def set_field(data: dict[str, Any], field: str, value: Any) -> None:
    """Set a dotted field; raises ValueError when a part of the path is not a table."""
    parts = field.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            raise ValueError(f"'{'.'.join(parts[: i + 1])}' is not a table, so '{field}' cannot be set")
        node = child
    if not isinstance(node, dict):  # pragma: no cover - guarded above
        raise ValueError(f"cannot set '{field}'")
    node[parts[-1]] = value


def forbidden_field(field: str) -> bool:
    return any(field == p or field.startswith(p + ".") for p in FORBIDDEN_PREFIXES)


def point_label(point: Point) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "(single point)"
