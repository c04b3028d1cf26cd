"""What every exporter shares: the log line, the :class:`Exporter` interface and a run's labels.

An exporter sends one finished execution somewhere else (a Pushgateway, Elasticsearch, CloudWatch).
The controller calls every configured exporter after the result is stored; a second call for the
same execution must do no harm (the controller may be killed between an export and its "reported"
mark, and exports again when it comes back).

:func:`run_labels` is the label set of a run that every exported series carries (``RUN_LABELS`` in
docs/dev/contracts.md): fixed names first, then the user's ``info.labels``, with names made valid for
Prometheus and kept clear of the names Anubis itself uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from schemas.results import ResultRecord
from schemas.runspec import RunSpec

#: The fixed labels of every run series, in the order they are written.
RUN_LABEL_NAMES: tuple[str, ...] = (
    "benchmark",
    "environment",
    "run_id",
    "execution_id",
    "family_id",
    "action_id",
    "task_name",
)

#: Label names an exported series may carry besides the run's: a user label with one of these names
#: (or of :data:`RUN_LABEL_NAMES`) is exported as ``label_<name>`` instead.
RESERVED_LABEL_NAMES: frozenset[str] = frozenset(
    {"metric", "unit", "status", "verdict", "job", "instance", "le", "quantile"}
)

_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")


@dataclass(frozen=True)
class LogLine:
    """One line of a run's output: when it was read, where from (``pod/container``), its text."""

    time: float  # unix seconds
    source: str
    text: str


class VerdictLike(Protocol):
    """What an exporter reads of a regression verdict (``controller.analysis.Verdict`` fits)."""

    @property
    def verdict(self) -> str: ...

    @property
    def change(self) -> float | None: ...


@dataclass(frozen=True)
class ExportContext:
    """Everything an exporter is given about one finished execution; each takes what it needs.

    ``lines``: the run's log lines (read again from their source each time they are iterated);
    ``verdicts``: each metric's regression verdict against its baseline, empty when none could be made."""

    spec: RunSpec
    record: ResultRecord
    lines: Iterable[LogLine] = ()
    verdicts: Mapping[str, VerdictLike] = field(default_factory=dict)


@runtime_checkable
class Exporter(Protocol):
    """Sends a finished execution (:class:`ExportContext`) to an outside system."""

    name: str

    def export(self, context: ExportContext) -> None:
        """Export one execution; idempotent for one execution id. Raises
        :class:`~schemas.errors.ReporterError` when the outside system refuses or cannot be reached."""
        ...


def sanitize_label_name(name: str) -> str:
    """``name`` as a valid Prometheus label name: every other character becomes ``_``, a leading
    digit gets a ``_`` in front, and the reserved ``__`` prefix is avoided."""
    clean = _INVALID_LABEL_CHARS.sub("_", name) or "_"
    if clean[0].isdigit():
        clean = "_" + clean
    if clean.startswith("__"):
        clean = "label" + clean
    return clean


def sanitize_metric_name(name: str) -> str:
    """``name`` as a valid Prometheus metric name (``[a-zA-Z_:][a-zA-Z0-9_:]*``)."""
    clean = _INVALID_METRIC_CHARS.sub("_", name) or "_"
    return "_" + clean if clean[0].isdigit() else clean


def user_labels(spec: RunSpec, record: ResultRecord) -> dict[str, str]:
    """The user's ``info.labels`` with their original names: the spec's, plus any the record adds."""
    return {**record.labels, **spec.labels}


def run_labels(spec: RunSpec, record: ResultRecord) -> dict[str, str]:
    """``RUN_LABELS`` of one execution: the fixed labels, then every user label under a valid name.

    A user label whose cleaned name is taken (by a fixed label, a reserved name, or another user
    label that cleans to the same name) is written as ``label_<name>``, then with a number suffix,
    so no value is ever silently replaced. ``task_name`` is the user's when given (the original's
    convention), else the benchmark's name.
    """
    fixed = {
        "benchmark": record.benchmark,
        "environment": record.environment,
        "run_id": record.run_id,
        "execution_id": record.execution_id,
        "family_id": record.family_id,
        "action_id": record.execution_id,
        "task_name": spec.task_name,
    }
    return _with_user_labels(fixed, user_labels(spec, record))


def spec_labels(spec: RunSpec, execution_id: str) -> dict[str, str]:
    """``RUN_LABELS`` of an execution that has no record yet (while it runs): from the spec alone.
    Equal to :func:`run_labels` of its record when the record carries the spec's identity."""
    fixed = {
        "benchmark": spec.benchmark,
        "environment": spec.environment,
        "run_id": spec.run_id,
        "execution_id": execution_id,
        "family_id": spec.family_id,
        "action_id": execution_id,
        "task_name": spec.task_name,
    }
    return _with_user_labels(fixed, spec.labels)


def _with_user_labels(fixed: dict[str, str], user: Mapping[str, str]) -> dict[str, str]:
    labels = dict(fixed)
    for key, value in sorted(user.items()):
        name = sanitize_label_name(key)
        if name == "task_name" and str(value) == labels["task_name"]:
            continue
        if name in labels or name in RESERVED_LABEL_NAMES:
            name = f"label_{name}"
        candidate, n = name, 2
        while candidate in labels or candidate in RESERVED_LABEL_NAMES:
            candidate, n = f"{name}_{n}", n + 1
        labels[candidate] = str(value)
    return labels
