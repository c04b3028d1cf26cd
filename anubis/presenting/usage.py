"""A result's GPUs, cost and efficiency as lines of ``anubis results`` (the words come from
:mod:`controller.reporting.usage`, which the pull-request comment uses too)."""

from __future__ import annotations

from anubis.presenting.tables import Cell
from schemas.results import ResultRecord


def usage_fields(record: ResultRecord) -> list[tuple[str, Cell]]:
    if not record.telemetry and not record.cost:
        return []  # no GPUs, no cost and so no efficiency figure: a local run's, without the price table's modules
    from controller.reporting.usage import derived_summary, format_money, gpu_summary

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
