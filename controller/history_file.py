"""A metric's history from a file: a CSV with a ``value`` column (``anubis analyze``).

The CSV has a header row; ``value`` is required, ``commit``, ``timestamp`` and ``branch`` are
optional, other columns are ignored. Every bad row is an :class:`HistoryFileError` naming the file,
the line and the column, raised before anything is analysed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import AnubisError

OPTIONAL = ("commit", "timestamp", "branch")


class HistoryFileError(AnubisError):
    """A history file could not be read: the message names the file, line and column."""


@dataclass(frozen=True)
class HistoryRow:
    line: int  # line of the file (the header is line 1)
    value: float
    commit: str | None = None
    timestamp: str | None = None
    branch: str | None = None


def read_csv(path: Path) -> list[HistoryRow]:
    """The rows of ``path``, in file order."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise HistoryFileError(f"{path}: cannot be read ({e})") from e
    try:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        if "value" not in [h.strip() for h in header]:
            raise HistoryFileError(
                f"{path}, line 1: the header has no `value` column (it has: {', '.join(header) or 'nothing'}); "
                "add a header row such as `commit,timestamp,value`")
        rows = []
        for record in reader:
            line = reader.line_num
            cells = {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in record.items()}
            if None in record:
                raise HistoryFileError(f"{path}, line {line}: more cells than the header has columns")
            raw = cells.get("value", "")
            try:
                value = float(raw)
            except ValueError:
                raise HistoryFileError(
                    f"{path}, line {line}, column `value`: {raw!r} is not a number") from None
            if not math.isfinite(value):
                raise HistoryFileError(f"{path}, line {line}, column `value`: {raw!r} is not a finite number")
            rows.append(HistoryRow(line, value, *(cells.get(c) or None for c in OPTIONAL)))
    except csv.Error as e:
        raise HistoryFileError(f"{path}: not a valid CSV file ({e})") from e
    if not rows:
        raise HistoryFileError(f"{path}: no rows after the header; nothing to analyse")
    return rows
