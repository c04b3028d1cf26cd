"""What a result used, in words: its GPUs (utilisation, memory, power, energy), its cost, and its
throughput per joule and per dollar. Shared by ``anubis results`` and the pull-request comment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anubis.presenting.tables import Cell
from controller.costs import derived_figures
from controller.gpu_telemetry import IDLE_UTILIZATION
from schemas.results import ResultRecord


def format_energy(joules: float) -> str:
    for unit, size in (("MJ", 1e6), ("kJ", 1e3)):
        if abs(joules) >= size:
            return f"{joules / size:,.1f} {unit}"
    return f"{joules:,.1f} J"


def format_money(amount: float, currency: str) -> str:
    text = f"{amount:,.2f}" if amount >= 0.1 else f"{amount:,.4f}"
    return f"${text}" if currency == "USD" else f"{text} {currency}"


def _figure(value: float) -> str:
    """Three significant digits, never in exponent form: 0.00123, 1.60, 472, 470,588."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"


def gpu_summary(telemetry: Mapping[str, Any]) -> str:
    """``2 × NVIDIA A10G: utilisation 85 % mean (p95 90 %), memory peak 15,500 MiB, 250 W mean, 62.5 kJ``."""
    gpus = telemetry.get("gpus") or []
    if not gpus:
        return ""
    models = sorted({g.get("model") or "GPU" for g in gpus})
    parts = []
    util = [g["utilization_mean"] for g in gpus if g.get("utilization_mean") is not None]
    p95 = [g["utilization_p95"] for g in gpus if g.get("utilization_p95") is not None]
    if util:
        parts.append(f"utilisation {sum(util) / len(util):.0f} % mean" + (f" (p95 {max(p95):.0f} %)" if p95 else ""))
    memory = [g["memory_peak_mib"] for g in gpus if g.get("memory_peak_mib") is not None]
    if memory:
        parts.append(f"memory peak {max(memory):,.0f} MiB")
    power = [g["power_mean_w"] for g in gpus if g.get("power_mean_w") is not None]
    if power:
        parts.append(f"{sum(power) / len(power):.0f} W mean")
    if telemetry.get("energy_j") is not None:
        parts.append(format_energy(float(telemetry["energy_j"])))
    text = f"{len(gpus)} × {', '.join(models)}" + (": " + ", ".join(parts) if parts else "")
    if telemetry.get("idle"):
        text += f" — IDLE: every GPU under {IDLE_UTILIZATION:.0f} % utilisation; did the benchmark use them?"
    return text


def derived_summary(record: ResultRecord) -> str:
    """``throughput: 1.60 images/J, 470,588 images/$`` for each throughput metric with energy or cost."""
    energy = (record.telemetry or {}).get("energy_j")
    cost = record.cost or {}
    summaries = {}
    for name, metric in record.metrics.items():
        summary = metric.summary()
        if summary is not None:
            summaries[name] = {"unit": metric.unit, "direction": metric.direction, "mean": summary.mean}
    figures = derived_figures(
        summaries, seconds=record.duration, energy_j=energy, cost=cost.get("total"), currency=str(cost.get("currency", "USD"))
    )
    by_metric: dict[str, list[str]] = {}
    for figure in figures:
        by_metric.setdefault(figure.source_metric, []).append(f"{_figure(figure.value)} {figure.unit}")
    return "; ".join(f"{name}: {', '.join(values)}" for name, values in by_metric.items())


def usage_fields(record: ResultRecord) -> list[tuple[str, Cell]]:
    fields: list[tuple[str, Cell]] = []
    if record.telemetry:
        fields.append(("GPUs", Cell(gpu_summary(record.telemetry), "warn" if record.telemetry.get("idle") else "plain")))
    if record.cost:
        cost = record.cost
        nodes = f"{cost['nodes']} × " if cost.get("nodes", 1) != 1 else ""
        fields.append((
            "Cost",
            Cell(f"{format_money(float(cost['total']), str(cost.get('currency', 'USD')))} "
                 f"({nodes}{cost['instance_type']} at {format_money(float(cost['price_per_hour']), str(cost.get('currency', 'USD')))}/h)"),
        ))
    derived = derived_summary(record)
    if derived:
        fields.append(("Efficiency", Cell(derived)))
    return fields
