"""What a run cost, and its throughput per joule and per dollar.

A run's cost is nodes × hours × the hourly price of its instance type. Prices come from the table
shipped in ``controller/data/ec2_on_demand_prices.toml`` (its source and date are in the file), for
the environment's region, unless the environment overrides them (reserved, spot or negotiated
prices) — see :class:`PriceTable`.

With a cost and the energy the GPUs drew (:mod:`controller.gpu_telemetry`), each throughput-like
metric (a unit per second: ``samples/s``, ``images/sec``, ``tokens/s``) gets two derived figures:
how much work a joule bought and how much a dollar bought. Both are "higher is better" and can be
judged for regressions like any other metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from schemas.errors import AnubisError
from schemas.results import MetricResult, ResultRecord
from schemas.units import throughput_unit

if TYPE_CHECKING:
    from schemas.runspec import RunSpec

DEFAULT_REGION = "us-east-1"


class PricingError(AnubisError):
    """The price table or an environment's prices are malformed."""


@dataclass(frozen=True)
class Price:
    instance_type: str
    region: str
    per_hour: float
    currency: str
    source: str  # "<table source>, <as of>" or "environment <name>"


@dataclass(frozen=True)
class PriceTable:
    """On-demand prices per region, with an environment's overrides on top.

    ``overrides`` maps an instance type to a price an hour in ``currency``; they win over the
    shipped table for every region (an environment runs in one).
    """

    regions: Mapping[str, Mapping[str, float]]
    source: str
    as_of: str
    currency: str = "USD"
    overrides: Mapping[str, float] = field(default_factory=dict)
    override_source: str = ""

    def price(self, instance_type: str, region: str = DEFAULT_REGION) -> Price | None:
        if instance_type in self.overrides:
            return Price(instance_type, region, float(self.overrides[instance_type]), self.currency, self.override_source)
        per_hour = self.regions.get(region, {}).get(instance_type)
        if per_hour is None:
            return None
        return Price(instance_type, region, float(per_hour), self.currency, f"{self.source}, {self.as_of}")

    def with_overrides(self, overrides: Mapping[str, Any], source: str) -> PriceTable:
        """This table with ``overrides`` (instance type → price an hour) from ``source`` on top."""
        checked: dict[str, float] = {}
        for instance_type, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise PricingError(
                    f"{source}: the price of {instance_type!r} must be a number of {self.currency} an hour, "
                    f"0 or more (got {value!r})"
                )
            checked[str(instance_type)] = float(value)
        return PriceTable(self.regions, self.source, self.as_of, self.currency, checked, source)


@cache
def shipped_prices() -> PriceTable:
    """The price table shipped with Anubis."""
    import tomllib
    from importlib import resources  # the price table only: `anubis results` shows derived figures without it

    text = resources.files("controller").joinpath("data/ec2_on_demand_prices.toml").read_text(encoding="utf-8")
    return parse_price_table(tomllib.loads(text), "controller/data/ec2_on_demand_prices.toml")


def parse_price_table(data: Mapping[str, Any], where: str) -> PriceTable:
    regions = data.get("regions")
    if not isinstance(regions, dict) or not regions:
        raise PricingError(f"{where}: a price table needs a [regions.<name>] table of instance type = price")
    parsed: dict[str, dict[str, float]] = {}
    for region, prices in regions.items():
        if not isinstance(prices, dict):
            raise PricingError(f"{where}: regions.{region} must be a table of instance type = price an hour")
        for instance_type, value in prices.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise PricingError(f"{where}: regions.{region}.{instance_type} must be a price an hour, 0 or more")
        parsed[region] = {k: float(v) for k, v in prices.items()}
    return PriceTable(
        regions=parsed,
        source=str(data.get("source", where)),
        as_of=str(data.get("as_of", "")),
        currency=str(data.get("currency", "USD")),
    )


@dataclass(frozen=True)
class RunCost:
    """``nodes`` instances of one type for ``seconds``: ``total`` in ``price.currency``."""

    price: Price
    nodes: int
    seconds: float

    @property
    def total(self) -> float:
        return self.nodes * self.seconds / 3600.0 * self.price.per_hour

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_type": self.price.instance_type,
            "region": self.price.region,
            "nodes": self.nodes,
            "seconds": self.seconds,
            "price_per_hour": self.price.per_hour,
            "currency": self.price.currency,
            "source": self.price.source,
            "total": self.total,
        }


def run_cost(table: PriceTable, instance_type: str, nodes: int, seconds: float | None, region: str = DEFAULT_REGION) -> RunCost | None:
    """The cost of a run, or None where its duration or its instance type's price is unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0 or nodes < 1:
        return None
    price = table.price(instance_type, region)
    return None if price is None else RunCost(price, nodes, seconds)


# -- derived figures -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DerivedFigure:
    name: str
    unit: str
    value: float
    source_metric: str


def derived_figures(
    metrics: Mapping[str, Mapping[str, Any]],
    *,
    seconds: float | None,
    energy_j: float | None,
    cost: float | None,
    currency: str = "USD",
) -> list[DerivedFigure]:
    """Per-joule and per-currency-unit figures of each throughput metric (by its mean).

    ``metrics`` maps a name to a summary with ``unit``, ``direction`` and ``mean`` (a result record's
    metrics). Work done = mean throughput × the run's seconds; per joule = work ÷ energy; per dollar =
    work ÷ cost. A throughput that is "lower is better" is not work and is skipped.
    """
    figures: list[DerivedFigure] = []
    if seconds is None or seconds <= 0:
        return figures
    symbol = "$" if currency == "USD" else currency
    for name, summary in sorted(metrics.items()):
        what = throughput_unit(str(summary.get("unit", "")))
        mean = summary.get("mean")
        if what is None or summary.get("direction", "higher") != "higher" or not isinstance(mean, int | float):
            continue
        work = float(mean) * seconds
        if energy_j is not None and energy_j > 0:
            figures.append(DerivedFigure(f"{name}_per_joule", f"{what}/J", work / energy_j, name))
        if cost is not None and cost > 0:
            figures.append(DerivedFigure(f"{name}_per_dollar" if currency == "USD" else f"{name}_per_{currency.lower()}", f"{what}/{symbol}", work / cost, name))
    return figures


def with_efficiency(record: ResultRecord, spec: RunSpec) -> ResultRecord:
    """``record`` with the efficiency metrics its descriptor asks for (``efficiency = ["per_joule",
    "per_dollar"]`` on a throughput): one value each, work per joule of the GPUs' energy and per dollar of
    the run's cost, at the run's end — judged against their own history like any metric. A figure whose
    energy or cost is unknown is left out (the metric then has no value in this result)."""
    wanted = [m for m in spec.metrics + (spec.server.metrics if spec.server else ()) if m.efficiency]
    if not wanted:
        return record
    energy = (record.telemetry or {}).get("energy_j")
    cost = (record.cost or {}).get("total")
    currency = str((record.cost or {}).get("currency", "USD"))
    at = record.finished_at if record.finished_at is not None else 0.0
    added: dict[str, MetricResult] = {}
    for metric in wanted:
        result = record.metrics.get(metric.name)
        summary = result.summary() if result is not None else None
        if summary is None:
            continue
        figures = derived_figures({metric.name: {"unit": metric.units, "direction": metric.direction, "mean": summary.mean}},
                                  seconds=record.duration, energy_j=energy, cost=cost, currency=currency)
        for figure in figures:
            kind = "per_joule" if figure.name.endswith("_per_joule") else "per_dollar"
            if kind in metric.efficiency:
                name = f"{metric.name}_{kind}"
                added[name] = MetricResult(name, figure.unit, "higher", (figure.value,), (at,))
    return replace(record, metrics={**record.metrics, **added}) if added else record
