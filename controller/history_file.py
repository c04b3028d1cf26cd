"""A metric's history from a file (``anubis analyze``, ``anubis import``).

Two formats:

* a CSV with a header row: ``value`` is required, ``commit``, ``timestamp`` (ISO 8601 or unix
  seconds) and ``branch`` are optional, other columns are ignored;
* github-action-benchmark's ``data.js`` (``window.BENCHMARK_DATA = {...}``: ``entries`` maps a
  suite name to a list of ``{commit: {id, timestamp, ...}, date (ms), tool, benches: [{name, value,
  unit, range?, extra?}]}``, as its ``src/write.ts`` writes it). Which way is better follows its
  ``biggerIsBetter(tool)``: ``pytest``, ``benchmarkjs`` and ``customBiggerIsBetter`` are higher
  is better, every other tool lower.

Every bad row is a :class:`HistoryFileError` naming the file, the line (or entry) and the column,
raised before anything is analysed or stored. :func:`to_records` turns a history into result
records, one per run, for the result store.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from schemas.errors import AnubisError
from schemas.results import MetricResult, Reproducibility, ResultRecord
from schemas.status import RunStatus

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
    """The rows of ``path``, in file order. Column names are matched without regard to case or
    surrounding blanks; the cells may be separated by commas, or by semicolons, tabs or bars where the
    header only splits into a ``value`` column with one of those (a spreadsheet's export in a locale
    whose decimal mark is a comma uses semicolons)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise HistoryFileError(f"{path}: cannot be read ({e})") from e
    lines = text.splitlines()
    try:
        delimiter = _delimiter(lines[0] if lines else "")
        reader = csv.DictReader(lines, delimiter=delimiter)
        header = reader.fieldnames or []
        names = [h.strip().lower() for h in header]
        if "value" not in names:
            raise HistoryFileError(
                f"{path}, line 1: the header has no `value` column (it has: {', '.join(header) or 'nothing'}); "
                "add a header row such as `commit,timestamp,value`")
        twice = [c for c in ("value", *OPTIONAL) if names.count(c) > 1]
        if twice:  # (the reader would keep the last of them, silently)
            raise HistoryFileError(f"{path}, line 1: the header names `{twice[0]}` {names.count(twice[0])} times; "
                                   "keep one column of each name")
        rows = []
        for record in reader:
            line = reader.line_num
            cells = {(k or "").strip().lower(): (v or "").strip() if isinstance(v, str) else ""
                     for k, v in record.items()}
            if None in record:
                raise HistoryFileError(f"{path}, line {line}: more cells than the header has columns")
            raw = cells.get("value", "")
            try:
                value = float(raw)
            except ValueError:
                hint = (f" (a decimal comma? write {raw.replace(',', '.')})" if _DECIMAL_COMMA.match(raw) else "")
                raise HistoryFileError(
                    f"{path}, line {line}, column `value`: {raw!r} is not a number{hint}") from None
            if not math.isfinite(value):
                raise HistoryFileError(f"{path}, line {line}, column `value`: {raw!r} is not a finite number")
            rows.append(HistoryRow(line, value, *(cells.get(c) or None for c in OPTIONAL)))
    except csv.Error as e:
        raise HistoryFileError(f"{path}: not a valid CSV file ({e})") from e
    if not rows:
        raise HistoryFileError(f"{path}: no rows after the header; nothing to analyse")
    return rows


_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+$")


def _delimiter(header: str) -> str:
    """The comma, unless the header has a ``value`` column only when split at ``;``, a tab or ``|``."""
    for delimiter in (",", ";", "\t", "|"):
        if "value" in (cell.strip().strip('"').lower() for cell in header.split(delimiter)):
            return delimiter
    return ","


def out_of_order(rows: list[HistoryRow], where: Path) -> HistoryRow | None:
    """The first row whose timestamp is earlier than the row's before it, when every row has one."""
    if not rows or any(r.timestamp is None for r in rows):
        return None
    times = [parse_time(r.timestamp or "", f"{where}, line {r.line}") for r in rows]
    return next((rows[i] for i in range(1, len(rows)) if times[i] < times[i - 1]), None)


BIGGER_IS_BETTER = frozenset({"pytest", "benchmarkjs", "customBiggerIsBetter"})
_PREFIX = re.compile(r"^\s*window\.BENCHMARK_DATA\s*=\s*")


@dataclass(frozen=True)
class HistoryRun:
    """One run of an imported history: its metrics' values, when, and at which commit."""

    benchmark: str
    values: dict[str, float]
    units: dict[str, str]
    directions: dict[str, str]
    at: float
    commit: str | None = None
    branch: str | None = None
    where: str = ""  # line or entry, for messages
    extra: dict[str, str] = field(default_factory=dict)
    # What identifies the run beside its benchmark and commit, where its time alone does not (a CSV
    # row: one metric of the run, and without a timestamp a time counted back from the moment of the
    # import): None, the time does.
    identity: str | None = None


def parse_time(text: str, where: str) -> float:
    """Unix seconds from ISO 8601 (``Z`` or an offset; naive means UTC) or from a number."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return checked_time(seconds, f"{where}, column `timestamp`: {text!r}")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HistoryFileError(f"{where}, column `timestamp`: {text!r} is neither ISO 8601 nor unix seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def checked_time(seconds: float, what: str, form: str = "unix seconds, or ISO 8601 such as 2026-01-31T12:00:00Z") -> float:
    """``seconds`` (unix time) when it names a moment of the years 1 to 9999, which every command can
    show; else a :class:`HistoryFileError` naming ``what`` and the ``form`` expected (stored, a time
    out of that range made `anubis list` and `anubis history` fail on every later call)."""
    try:
        datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise HistoryFileError(f"{what} is not a time between the years 1 and 9999 ({form})") from None
    return seconds


def csv_runs(path: Path, *, benchmark: str, metric: str, unit: str, direction: str, start: float) -> list[HistoryRun]:
    """The CSV's rows as runs of ``benchmark`` with one metric, each identified with its metric's name
    (the histories of two metrics of the same runs are two files: each imports its own). Rows without
    a timestamp are an hour apart, ending at ``start``, in file order; as that time changes with every
    import, such a row is identified by its place in the file (the n-th row) and value instead."""
    rows = read_csv(path)
    runs = []
    seen: dict[float, int] = {}  # timestamp -> rows with it so far
    for i, row in enumerate(rows):
        where = f"{path}, line {row.line}"
        if row.timestamp:
            at = parse_time(row.timestamp, where)
            # Several runs a timestamp (a date per day, runs several times a day): each is its own run,
            # 1 ms after the one before it, in file order.
            repeat = seen[at] = seen.get(at, -1) + 1
            identity = f"{at!r}|{metric}" + (f"|{repeat}" if repeat else "")
            at += repeat * 0.001
        else:
            at = start - 3600.0 * (len(rows) - i)
            identity = f"row {i}|{metric}|{row.value!r}"
        runs.append(HistoryRun(benchmark, {metric: row.value}, {metric: unit}, {metric: direction}, at,
                               row.commit, row.branch, where, identity=identity))
    return runs


def data_js_runs(path: Path, *, benchmark: str | None = None) -> list[HistoryRun]:
    """github-action-benchmark's ``data.js`` as runs: one per entry (a commit) of each suite, the
    suite's benchmark named ``benchmark`` or after the suite, each bench a metric."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HistoryFileError(f"{path}: cannot be read ({e})") from e
    body = _PREFIX.sub("", text, count=1).strip().rstrip(";")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as e:
        raise HistoryFileError(f"{path}, line {e.lineno}: not github-action-benchmark's data.js "
                               f"(`window.BENCHMARK_DATA = {{...}}`): {e.msg}") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise HistoryFileError(f"{path}: no `entries` object; is this github-action-benchmark's data.js?")
    runs = []
    for suite, items in entries.items():
        name = benchmark or _slug(str(suite))
        if not isinstance(items, list):
            raise HistoryFileError(f"{path}: entries[{suite!r}] is not a list")
        for n, entry in enumerate(items):
            where = f"{path}, entries[{suite!r}][{n}]"
            try:
                commit = entry.get("commit") or {}
                if isinstance(commit, str):  # (the action writes an object; its id is what is kept)
                    commit = {"id": commit}
                if not isinstance(commit, dict):
                    raise ValueError(f"`commit` is {type(commit).__name__}, not an object")
                better = "higher" if entry.get("tool") in BIGGER_IS_BETTER else "lower"
                at = checked_time(float(entry["date"]) / 1000.0, f"{where}: `date` {entry['date']!r}",
                                  "milliseconds since 1970, as the action writes them")
                values = {}
                units = {}
                named: dict[str, str] = {}  # metric -> the bench it came from
                for bench in entry["benches"]:
                    metric = metric_name(str(bench["name"]))
                    if metric in named:
                        raise ValueError(f"benches {named[metric]!r} and {bench['name']!r} are both metric {metric!r} "
                                         "(a metric name keeps letters, digits and _); rename one")
                    named[metric] = str(bench["name"])
                    value = float(bench["value"])
                    if not math.isfinite(value):
                        raise ValueError(f"bench {bench['name']!r} has value {bench['value']!r}")
                    values[metric] = value
                    units[metric] = str(bench.get("unit") or "")
            except KeyError as e:
                raise HistoryFileError(f"{where}: missing field {e} (each entry needs `date` and `benches` of "
                                       "{name, value, unit})") from None
            except (TypeError, ValueError, AttributeError) as e:
                raise HistoryFileError(f"{where}: {e} (each entry needs `date` and `benches` of "
                                       "{name, value, unit})") from None
            runs.append(HistoryRun(name, values, units, {m: better for m in values}, at,
                                   str(commit.get("id")) if commit.get("id") else None, None, where))
    return runs


def metric_name(text: str) -> str:
    """A bench's name as a metric name (letters, digits and ``_``; not starting with a digit)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "value"
    return cleaned if not cleaned[0].isdigit() else f"m_{cleaned}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")[:63] or "imported"


def to_records(runs: list[HistoryRun], *, environment: str, source: str) -> list[ResultRecord]:
    """One SUCCEEDED result record per run, with ids derived from the benchmark, time (or the run's
    ``identity``) and commit (so importing the same file twice stores nothing new)."""
    records = []
    for run in runs:
        when = run.at if run.identity is None else run.identity
        key = f"{run.benchmark}|{when!r}|{run.commit or ''}|{environment}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        run_id = f"{run.benchmark}-imported"
        metrics = {
            name: MetricResult(name, run.units.get(name, ""), run.directions.get(name, "lower"), (value,), (run.at,))
            for name, value in run.values.items()
        }
        records.append(ResultRecord(
            execution_id=f"{run_id}-{digest[:12]}", run_id=run_id, family_id=run_id, benchmark=run.benchmark,
            environment=environment, backend="import", status=RunStatus.SUCCEEDED,
            reason=f"imported from {source}", started_at=run.at, finished_at=run.at, metrics=metrics,
            reproducibility=Reproducibility(descriptor_hash="", image="", source_commit=run.commit),
            labels={"imported": "true"}, commit=run.commit, branch=run.branch or "main",
        ))
    return records
