"""What the reporter is told about one run: its record (or live status), verdicts, links, history.

The values are built by the controller or by ``anubis report`` from the result store and the
regression analysis; :mod:`statuses` and :mod:`comment` turn them into GitHub writes, purely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.environment import Links
from schemas.results import ResultRecord
from schemas.status import RunStatus

VERDICTS = ("regression", "improvement", "suspected", "no_change", "insufficient_data")


@dataclass(frozen=True)
class MetricVerdict:
    """The regression analysis' answer for one metric (``controller.analysis.Verdict``, flattened)."""

    verdict: str  # one of VERDICTS
    change: float | None = None  # relative change vs the baseline: -0.07 is 7 % lower
    confidence: float | None = None
    baseline: float | None = None  # the baseline's central value, in the metric's unit
    reason: str = ""

    @classmethod
    def from_analysis(cls, verdict: Any) -> MetricVerdict:
        """From ``controller.analysis.Verdict`` (duck-typed: its baseline summary's median or mean)."""
        baseline = getattr(verdict, "baseline", None)
        central = None
        for name in ("center", "median", "mean", "value"):
            value = getattr(baseline, name, None)
            if isinstance(value, (int, float)):
                central = float(value)
                break
        return cls(
            verdict=str(getattr(verdict, "verdict", "insufficient_data")),
            change=getattr(verdict, "change", None),
            confidence=getattr(verdict, "confidence", None),
            baseline=central,
            reason=str(getattr(verdict, "reason", "") or ""),
        )


@dataclass(frozen=True)
class RunReport:
    benchmark: str
    run_id: str
    status: RunStatus
    environment: str = ""
    matrix_point: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    record: ResultRecord | None = None  # set once the execution finished
    verdicts: Mapping[str, MetricVerdict] = field(default_factory=dict)
    fail_on_regression: frozenset[str] = frozenset()  # metrics whose policy fails the run on a regression
    links: Links = field(default_factory=Links)
    history: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # metric → recent values, oldest first
    #: A suspected change's confirmation (controller.reporting.confirming): a line for the comment, and
    #: a few words for the commit status ("confirmed by run X", "not confirmed by run X", "confirming").
    confirmation: str = ""
    confirmation_short: str = ""

    @classmethod
    def from_record(
        cls,
        record: ResultRecord,
        *,
        verdicts: Mapping[str, MetricVerdict] | None = None,
        fail_on_regression: frozenset[str] = frozenset(),
        links: Links | None = None,
        history: Mapping[str, tuple[float, ...]] | None = None,
    ) -> RunReport:
        return cls(
            benchmark=record.benchmark, run_id=record.run_id, status=record.status, environment=record.environment,
            matrix_point=dict(record.matrix_point), reason=record.reason, record=record, verdicts=dict(verdicts or {}),
            fail_on_regression=fail_on_regression, links=links or Links(), history=dict(history or {}),
        )

    @property
    def regressions(self) -> list[str]:
        return sorted(m for m, v in self.verdicts.items() if v.verdict == "regression")

    @property
    def failing_regressions(self) -> list[str]:
        return [m for m in self.regressions if m in self.fail_on_regression]

    @property
    def logs_url(self) -> str | None:
        if not self.links.logs_url:
            return None
        return self.links.logs_url.replace("{run_id}", self.run_id).replace(
            "{execution_id}", self.record.execution_id if self.record else self.run_id
        )


def point_label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={point[k]}" for k in sorted(point))
