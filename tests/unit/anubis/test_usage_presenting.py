"""A result's GPUs, cost and efficiency in words (`anubis results`, the pull-request comment)."""

from __future__ import annotations

from dataclasses import replace

from fakes.runs import STARTED, make_record, make_spec

from anubis.presenting.results import result_fields
from controller.costs import run_cost, shipped_prices
from controller.gpu_telemetry import GpuIdentity, GpuSample, summarize
from controller.reporting.usage import derived_summary, format_energy, format_money, gpu_summary
from schemas.runspec import Placement

TELEMETRY = summarize(
    [GpuSample(STARTED + t, uuid, utilization=u, memory_used=m, power=p)
     for t in (0.0, 125.0) for uuid, u, m, p in (("GPU-0", 80.0, 9000.0, 240.0), ("GPU-1", 90.0, 12000.0, 260.0))],
    {"GPU-0": GpuIdentity("GPU-0", "0", "NVIDIA A10G"), "GPU-1": GpuIdentity("GPU-1", "1", "NVIDIA A10G")},
    source="dcgm-exporter", window=(STARTED, STARTED + 125.0),
)
SPEC = make_spec(placement=Placement(instance_type="g5.12xlarge", gpus=2))


def _record() -> object:
    cost = run_cost(shipped_prices(), "g5.12xlarge", 1, 125.0)
    assert cost is not None
    return replace(make_record(SPEC), telemetry=TELEMETRY.to_dict(), cost=cost.to_dict())


def test_words_by_hand() -> None:
    record = _record()
    fields = dict((label, cell.text) for label, cell in result_fields(record))  # type: ignore[arg-type]
    # energy: 240 W and 260 W over 125 s = 30,000 + 32,500 J
    assert fields["GPUs"] == "2 × NVIDIA A10G: utilisation 85 % mean (p95 90 %), memory peak 12,000 MiB, 250 W mean, 62.5 kJ"
    # 5.672 $/h for 125 s = 0.1969 $
    assert fields["Cost"] == "$0.20 (g5.12xlarge at $5.67/h)"
    # throughput mean 110 images/s x 125 s = 13,750 images; / 62,500 J = 0.22 images/J; / 0.196944 $ = 69,817 images/$
    assert fields["Efficiency"] == "throughput: 0.22 images/J, 69,817 images/$"
    assert derived_summary(record) == fields["Efficiency"]  # type: ignore[arg-type]


def test_idle_gpus_are_flagged() -> None:
    idle = summarize([GpuSample(0, "g", utilization=2.0), GpuSample(1, "g", utilization=3.0)], source="nvidia-smi", window=(0, 1))
    assert "IDLE" in gpu_summary(idle.to_dict())
    assert gpu_summary({"gpus": []}) == ""


def test_formats() -> None:
    assert format_energy(62_500.0) == "62.5 kJ" and format_energy(3.2e6) == "3.2 MJ" and format_energy(12.0) == "12.0 J"
    assert format_money(0.0123, "USD") == "$0.0123" and format_money(18.36, "EUR") == "18.36 EUR"
    assert format_money(0.00001, "USD") == "< $0.0001"  # a few seconds on a small instance


def test_nothing_known_nothing_shown() -> None:
    labels = [label for label, _ in result_fields(make_record())]
    assert "GPUs" not in labels and "Cost" not in labels and "Efficiency" not in labels
