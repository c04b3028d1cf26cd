"""The price table and a run's cost and derived figures, checked against hand computation."""

from __future__ import annotations

import pytest

from controller.costs import (
    PriceTable,
    PricingError,
    derived_figures,
    parse_price_table,
    run_cost,
    shipped_prices,
)
from schemas.units import throughput_unit


def test_shipped_table_names_its_source_and_date() -> None:
    table = shipped_prices()
    assert "On-Demand" in table.source and table.as_of == "2024-12" and table.currency == "USD"
    price = table.price("p3.2xlarge", "us-east-1")
    assert price is not None and price.per_hour == 3.06 and "2024-12" in price.source
    assert table.price("p3.2xlarge", "eu-west-1").per_hour == 3.305  # type: ignore[union-attr]
    assert table.price("no.such", "us-east-1") is None
    assert table.price("c5.xlarge", "mars-north-1") is None


def test_cost_by_hand() -> None:
    table = shipped_prices()
    # Two p3.8xlarge for 45 minutes: 2 x 0.75 h x 12.24 $/h = 18.36 $.
    cost = run_cost(table, "p3.8xlarge", nodes=2, seconds=45 * 60)
    assert cost is not None and cost.total == pytest.approx(18.36)
    assert cost.to_dict()["price_per_hour"] == 12.24
    assert run_cost(table, "p3.8xlarge", nodes=2, seconds=None) is None
    assert run_cost(table, "unknown.type", nodes=1, seconds=60) is None


def test_environment_overrides_win() -> None:
    spot = shipped_prices().with_overrides({"p3.2xlarge": 0.918}, "environment gpu-spot")
    price = spot.price("p3.2xlarge")
    assert price is not None and price.per_hour == 0.918 and price.source == "environment gpu-spot"
    assert spot.price("c5.xlarge").per_hour == 0.17  # type: ignore[union-attr]
    # Ten minutes on one spot p3.2xlarge: 0.918 / 6 = 0.153 $.
    assert run_cost(spot, "p3.2xlarge", 1, 600).total == pytest.approx(0.153)  # type: ignore[union-attr]
    with pytest.raises(PricingError, match="p3.2xlarge"):
        shipped_prices().with_overrides({"p3.2xlarge": "cheap"}, "environment x")
    with pytest.raises(PricingError, match="0 or more"):
        shipped_prices().with_overrides({"p3.2xlarge": -1}, "environment x")


def test_malformed_table() -> None:
    with pytest.raises(PricingError, match="regions"):
        parse_price_table({}, "prices.toml")
    with pytest.raises(PricingError, match="regions.us-east-1.c5.xlarge"):
        parse_price_table({"regions": {"us-east-1": {"c5.xlarge": "x"}}}, "prices.toml")
    assert isinstance(parse_price_table({"regions": {"r": {"t": 1}}}, "p"), PriceTable)


@pytest.mark.parametrize(
    ("unit", "what"),
    [("samples/s", "samples"), ("images/sec", "images"), ("tokens / second", "tokens"), ("it/s", "it"),
     ("ms", None), ("ratio", None), ("samples", None), ("GB/s/GPU", None)],
)
def test_throughput_units(unit: str, what: str | None) -> None:
    assert throughput_unit(unit) == what


def test_derived_figures_by_hand() -> None:
    metrics = {
        "throughput": {"unit": "images/sec", "direction": "higher", "mean": 400.0},
        "latency": {"unit": "ms", "direction": "lower", "mean": 12.0},
        "wait": {"unit": "req/s", "direction": "lower", "mean": 3.0},
    }
    # 400 images/s for 600 s = 240,000 images; 150,000 J; 1.53 $.
    figures = {f.name: f for f in derived_figures(metrics, seconds=600, energy_j=150_000, cost=1.53)}
    assert set(figures) == {"throughput_per_joule", "throughput_per_dollar"}
    assert figures["throughput_per_joule"].value == pytest.approx(1.6)
    assert figures["throughput_per_joule"].unit == "images/J"
    assert figures["throughput_per_dollar"].value == pytest.approx(240_000 / 1.53)
    assert figures["throughput_per_dollar"].unit == "images/$"
    assert derived_figures(metrics, seconds=600, energy_j=None, cost=None) == []
    assert derived_figures(metrics, seconds=None, energy_j=1.0, cost=1.0) == []
