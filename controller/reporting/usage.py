"""What a result used, in words and in the pull-request comment: its GPUs (utilisation, memory, power,
energy), its cost, and its throughput per joule and per dollar. Pure: the same records give the same text.
``anubis results`` shows the same words (:mod:`anubis.presenting.usage`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from controller.costs import derived_figures
from schemas.results import ResultRecord
from schemas.units import throughput_unit

if TYPE_CHECKING:  # the comment's modules are not imported for `anubis results` (anubis.presenting.usage)
    from controller.reporting.runreport import RunReport


def format_energy(joules: float) -> str:
    for unit, size in (("MJ", 1e6), ("kJ", 1e3)):
        if abs(joules) >= size:
            return f"{joules / size:,.1f} {unit}"
    return f"{joules:,.1f} J"


def format_money(amount: float, currency: str) -> str:
    if amount < 0.0001:  # a few seconds on a small instance (0 for a run with no measured duration)
        return "< $0.0001" if currency == "USD" else f"< 0.0001 {currency}"
    text = f"{amount:,.2f}" if amount >= 0.1 else f"{amount:,.4f}"
    return f"${text}" if currency == "USD" else f"{text} {currency}"


def _figure(value: float) -> str:
    """Three significant digits, never in exponent form: 0.00123, 1.60, 472, 470,588."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"


def gpu_summary(telemetry: Mapping[str, Any], *, energy: bool = True) -> str:
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
    if energy and telemetry.get("energy_j") is not None:
        parts.append(format_energy(float(telemetry["energy_j"])))
    text = f"{len(gpus)} × {', '.join(models)}" + (": " + ", ".join(parts) if parts else "")
    if telemetry.get("idle"):
        from controller.gpu_telemetry import IDLE_UTILIZATION  # the telemetry module only for an idle GPU

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


def _hardware(record: ResultRecord) -> str:
    return (record.cost or {}).get("instance_type") or record.reproducibility.instance_type or ""


def _efficiency(record: ResultRecord) -> tuple[str, float | None, float | None]:
    """(metric, per joule, per dollar) of the record's first throughput metric."""
    for name, metric in record.metrics.items():
        summary = metric.summary()
        if summary is None or throughput_unit(metric.unit) is None or metric.direction != "higher":
            continue
        figures = derived_figures(
            {name: {"unit": metric.unit, "direction": metric.direction, "mean": summary.mean}},
            seconds=record.duration,
            energy_j=(record.telemetry or {}).get("energy_j"),
            cost=(record.cost or {}).get("total"),
            currency=str((record.cost or {}).get("currency", "USD")),
        )
        per_joule = next((f.value for f in figures if f.name.endswith("_per_joule")), None)
        per_dollar = next((f.value for f in figures if not f.name.endswith("_per_joule")), None)
        return name, per_joule, per_dollar
    return "", None, None


def usage_section(reports: Sequence[RunReport], cell: Any) -> list[str]:
    """The comment's "GPUs, energy and cost" table: one row per finished run that has telemetry or a
    cost; where one benchmark ran on several instance types, the best work per dollar and per joule
    of each is marked ★. ``cell`` escapes text for a table cell."""
    from controller.reporting.runreport import point_label

    rows = [r for r in reports if r.record is not None and (r.record.telemetry or r.record.cost)]
    if not rows:
        return []
    best: dict[tuple[str, str], str] = {}
    for benchmark in sorted({r.benchmark for r in rows}):
        mine = [r for r in rows if r.benchmark == benchmark]
        if len({_hardware(r.record) for r in mine if r.record is not None}) < 2:
            continue
        for index, label in ((1, "joule"), (2, "dollar")):
            scored = [(_efficiency(r.record)[index], r.run_id) for r in mine if r.record is not None]
            known = [(v, run) for v, run in scored if v is not None]
            if len(known) >= 2:
                best[(benchmark, label)] = max(known)[1]
    lines = ["### GPUs, energy and cost", "", "| run | hardware | GPUs | energy | cost | work per joule | work per dollar |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        record = r.record
        assert record is not None
        telemetry = record.telemetry or {}
        cost = record.cost or {}
        name = r.benchmark + (f" [{point_label(r.matrix_point)}]" if r.matrix_point else "")
        gpus = gpu_summary(telemetry, energy=False) if telemetry.get("gpus") else "—"
        energy = format_energy(float(telemetry["energy_j"])) if telemetry.get("energy_j") is not None else "—"
        money = format_money(float(cost["total"]), str(cost.get("currency", "USD"))) if cost else "—"
        metric, per_joule, per_dollar = _efficiency(record)
        unit = throughput_unit(record.metrics[metric].unit) if metric else None
        symbol = "$" if str(cost.get("currency", "USD")) == "USD" else str(cost.get("currency"))
        joule = f"{_figure(per_joule)} {unit}/J" if per_joule is not None else "—"
        dollar = f"{_figure(per_dollar)} {unit}/{symbol}" if per_dollar is not None else "—"
        if best.get((r.benchmark, "joule")) == r.run_id:
            joule += " ★"
        if best.get((r.benchmark, "dollar")) == r.run_id:
            dollar += " ★"
        lines.append(
            f"| {cell(name)} | {cell(_hardware(record) or '—')} | {cell(gpus)} | {energy} | {money} | {cell(joule)} | {cell(dollar)} |"
        )
    return lines + [""]
