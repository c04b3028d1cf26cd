"""Hardware side by side: one benchmark's latest result on each instance type, with what a unit of
work cost in dollars and in joules (``anubis compare --by instance_type BENCHMARK``).

Each row is the newest succeeded execution on one instance type. Besides the metric's mean it shows
the run's cost (``record.cost``), the GPUs' energy (``record.telemetry``) and, for a throughput, the
work per dollar and per joule (:func:`controller.costs.derived_figures`). The best value of each
column is marked; a figure that cannot be known (no price, no telemetry) is blank, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from anubis.presenting.formatting import MISSING, format_numbers
from anubis.presenting.history import metric_mean
from anubis.presenting.output import jsonable
from anubis.presenting.tables import Cell, Column, TableView
from controller.costs import derived_figures
from schemas.results import ResultRecord
from schemas.units import throughput_unit

BEST = "★"


def hardware_of(record: ResultRecord) -> str | None:
    """The instance type a record ran on: its reproducibility, else a matrix variable naming one."""
    if record.reproducibility.instance_type:
        return record.reproducibility.instance_type
    for key, value in record.matrix_point.items():
        if key.split(".")[-1] == "instance_type" and isinstance(value, str):
            return value
    return None


@dataclass(frozen=True)
class HardwareRow:
    instance_type: str
    execution_id: str
    metric: float | None
    unit: str
    cost: float | None
    currency: str
    energy_j: float | None
    per_dollar: float | None
    per_joule: float | None
    gpu_utilization: float | None


def pick_metric(records: Sequence[ResultRecord], metric: str | None) -> str | None:
    """The metric to compare on: the one asked for, else the first throughput, else the first."""
    names: list[str] = []
    for record in records:
        names.extend(n for n in record.metrics if n not in names)
    if metric is not None:
        return metric if metric in names else None
    for record in records:
        for name, result in record.metrics.items():
            if throughput_unit(result.unit) is not None and result.direction == "higher":
                return name
    return names[0] if names else None


def latest_per_hardware(records: Sequence[ResultRecord]) -> dict[str, ResultRecord]:
    """The newest record of each instance type among ``records`` (any order)."""
    latest: dict[str, ResultRecord] = {}
    for record in records:
        hardware = hardware_of(record)
        if hardware is None:
            continue
        known = latest.get(hardware)
        if known is None or (record.started_at or 0.0) > (known.started_at or 0.0):
            latest[hardware] = record
    return latest


def hardware_rows(records: Sequence[ResultRecord], metric: str) -> list[HardwareRow]:
    rows = []
    for hardware, record in sorted(latest_per_hardware(records).items()):
        result = record.metrics.get(metric)
        mean = metric_mean(result)
        cost = float(record.cost["total"]) if record.cost else None
        currency = str(record.cost.get("currency", "USD")) if record.cost else "USD"
        telemetry = record.telemetry or {}
        energy = telemetry.get("energy_j")
        utilizations = [g["utilization_mean"] for g in telemetry.get("gpus", []) if g.get("utilization_mean") is not None]
        per_dollar = per_joule = None
        if result is not None and mean is not None:
            summary = {metric: {"unit": result.unit, "direction": result.direction, "mean": mean}}
            for figure in derived_figures(summary, seconds=record.duration, energy_j=energy, cost=cost, currency=currency):
                if figure.name.endswith("_per_joule"):
                    per_joule = figure.value
                else:
                    per_dollar = figure.value
        rows.append(
            HardwareRow(
                instance_type=hardware,
                execution_id=record.execution_id,
                metric=mean,
                unit=result.unit if result is not None else "",
                cost=cost,
                currency=currency,
                energy_j=float(energy) if energy is not None else None,
                per_dollar=per_dollar,
                per_joule=per_joule,
                gpu_utilization=sum(utilizations) / len(utilizations) if utilizations else None,
            )
        )
    return rows


def _best(values: Sequence[float | None], higher: bool) -> int | None:
    known = [(v, i) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return None
    return (max(known) if higher else min(known))[1]


def hardware_view(rows: Sequence[HardwareRow], metric: str, direction: str) -> TableView:
    unit = next((r.unit for r in rows if r.unit), "")
    what = throughput_unit(unit) or unit
    currency = next((r.currency for r in rows if r.cost is not None), "USD")
    symbol = "$" if currency == "USD" else currency
    columns: list[tuple[str, str, list[float | None], bool]] = [
        ("metric", f"{metric} ({unit})" if unit else metric, [r.metric for r in rows], direction == "higher"),
        ("cost", f"cost ({currency})", [r.cost for r in rows], False),
        ("energy", "GPU energy (J)", [r.energy_j for r in rows], False),
        ("per_dollar", f"{what}/{symbol}", [r.per_dollar for r in rows], True),
        ("per_joule", f"{what}/J", [r.per_joule for r in rows], True),
        ("util", "GPU util %", [r.gpu_utilization for r in rows], True),
    ]
    view = TableView(columns=[Column("hardware", "instance type")] + [Column(k, h, "right") for k, h, _, _ in columns])
    texts = {key: format_numbers(values) for key, _, values, _ in columns}
    best = {key: _best(values, higher) for key, _, values, higher in columns if key != "util"}
    for i, row in enumerate(rows):
        cells: dict[str, Cell] = {"hardware": Cell(row.instance_type, "strong")}
        for key, _, values, _ in columns:
            if values[i] is None:
                cells[key] = Cell(MISSING, "muted")
            elif best.get(key) == i:
                cells[key] = Cell(f"{texts[key][i]} {BEST}", "good")
            else:
                cells[key] = Cell(texts[key][i])
        view.rows.append(cells)
    return view


def hardware_document(benchmark: str, metric: str, rows: Sequence[HardwareRow]) -> dict[str, Any]:
    document: dict[str, Any] = jsonable(
        {
            "benchmark": benchmark,
            "metric": metric,
            "hardware": [
                {
                    "instance_type": r.instance_type,
                    "execution_id": r.execution_id,
                    "mean": r.metric,
                    "unit": r.unit,
                    "cost": r.cost,
                    "currency": r.currency,
                    "energy_j": r.energy_j,
                    "per_dollar": r.per_dollar,
                    "per_joule": r.per_joule,
                    "gpu_utilization": r.gpu_utilization,
                }
                for r in rows
            ],
        }
    )
    return document


def direction_of(records: Sequence[ResultRecord], metric: str) -> str:
    for record in records:
        result = record.metrics.get(metric)
        if result is not None:
            return result.direction
    return "higher"
