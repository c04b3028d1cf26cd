"""Per-GPU summaries, energy from counters and power, dcgm-exporter selectors and nvidia-smi parsing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controller.gpu_telemetry import (
    GpuIdentity,
    GpuSample,
    NvidiaSmiSampler,
    RunTelemetry,
    counter_increase,
    integrate,
    parse_nvidia_smi_line,
    percentile,
    selector,
    summarize,
)


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 95) == pytest.approx(48.0)  # numpy.percentile(values, 95) == 48.0
    assert percentile(values, 50) == 30.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 95)


def test_counter_increase_reads_a_drop_as_a_reset() -> None:
    assert counter_increase([(0, 100.0), (1, 150.0), (2, 180.0)]) == 80.0
    # The driver reloaded between t=1 and t=2: the counter restarted from zero and reached 20.
    assert counter_increase([(0, 100.0), (1, 150.0), (2, 20.0), (3, 50.0)]) == 50.0 + 20.0 + 30.0


def test_integrate_is_the_trapezoid_rule() -> None:
    assert integrate([(0, 100.0), (2, 200.0), (3, 200.0)]) == 2 * 150.0 + 1 * 200.0


def test_summary_by_hand() -> None:
    samples = [
        GpuSample(time=t, gpu="GPU-a", utilization=u, memory_used=m, power=p, energy_mj=e)
        for t, u, m, p, e in [
            (0.0, 10.0, 1000.0, 100.0, 5_000_000.0),
            (1.0, 90.0, 4000.0, 300.0, 5_000_200.0),
            (2.0, 80.0, 2000.0, 200.0, 5_000_450.0),
        ]
    ] + [GpuSample(time=0.5, gpu="GPU-b", utilization=2.0, power=50.0), GpuSample(time=1.5, gpu="GPU-b", utilization=4.0, power=70.0)]
    telemetry = summarize(
        samples,
        {"GPU-a": GpuIdentity("GPU-a", index="0", model="A10G", host="h"), "GPU-b": GpuIdentity("GPU-b", index="1", host="h")},
        source="test",
        window=(0.0, 2.0),
    )
    a, b = telemetry.gpus
    assert a.gpu.uuid == "GPU-a" and a.samples == 3
    assert a.utilization_mean == pytest.approx(60.0)
    assert a.utilization_p95 == pytest.approx(89.0)  # 80 + 0.9 * (90 - 80)
    assert a.memory_peak_mib == 4000.0
    assert a.power_mean_w == pytest.approx(200.0)
    assert a.energy_j == pytest.approx(0.45)  # 450 mJ from the counter
    # No energy counter: the power samples integrated, 1 s at (50 + 70) / 2 W.
    assert b.energy_j == pytest.approx(60.0)
    assert telemetry.energy_j == pytest.approx(60.45)
    assert telemetry.idle is False
    again = RunTelemetry.from_dict(telemetry.to_dict())
    assert again == telemetry


def test_idle_only_when_every_gpu_sat_idle() -> None:
    idle = summarize([GpuSample(0, "g", utilization=3.0), GpuSample(1, "g", utilization=9.0)], source="t", window=(0, 1))
    assert idle.idle is True
    busy = summarize(
        [GpuSample(0, "g", utilization=3.0), GpuSample(0, "h", utilization=50.0)], source="t", window=(0, 1)
    )
    assert busy.idle is False
    unknown = summarize([GpuSample(0, "g", power=100.0)], source="t", window=(0, 1))
    assert unknown.idle is False
    assert unknown.energy_j is None  # one power sample integrates to nothing known


def test_selector_escapes_pod_names_and_accepts_old_labels() -> None:
    query = selector("DCGM_FI_DEV_GPU_UTIL", 'ns"x', ["run.a-0", "run.a-1"])
    assert 'namespace="ns\\"x"' in query
    assert 'pod=~"run\\\\.a\\\\-0|run\\\\.a\\\\-1"' in query
    assert "pod_namespace=" in query and "pod_name=~" in query


def test_nvidia_smi_line() -> None:
    parsed = parse_nvidia_smi_line("0, GPU-abc, NVIDIA H100 80GB HBM3, 97, 40211, 612.34\n", 5.0)
    assert parsed is not None
    identity, sample = parsed
    assert identity == GpuIdentity(uuid="GPU-abc", index="0", model="NVIDIA H100 80GB HBM3", host="localhost")
    assert (sample.utilization, sample.memory_used, sample.power) == (97.0, 40211.0, 612.34)
    unsupported = parse_nvidia_smi_line("1, GPU-def, Tesla T4, [N/A], 100, [Not Supported]", 5.0)
    assert unsupported is not None and unsupported[1].power is None and unsupported[1].utilization is None
    assert parse_nvidia_smi_line("No devices were found", 5.0) is None


def test_sampler_reads_a_looping_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in with nvidia-smi's command line and output format: one CSV line per GPU per loop.
    script = tmp_path / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--query-gpu=index,uuid,name,utilization.gpu,memory.used,power.draw*--format=csv,noheader,nounits*--loop-ms=*) ;;\n'
        '  *) echo "unexpected arguments: $*" >&2; exit 2;; esac\n'
        "while true; do\n"
        '  echo "0, GPU-one, Tesla T4, 50, 1200, 40.0"\n'
        '  echo "1, GPU-two, Tesla T4, 0, 10, 20.0"\n'
        "  sleep 0.1\n"
        "done\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    sampler = NvidiaSmiSampler(interval=0.1)
    assert sampler.start() is True
    import time

    deadline = time.monotonic() + 10
    while len(sampler._samples) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    telemetry = sampler.stop()
    assert telemetry is not None and telemetry.source == "nvidia-smi"
    one, two = telemetry.gpus
    assert (one.gpu.uuid, one.utilization_mean, one.memory_peak_mib) == ("GPU-one", 50.0, 1200.0)
    assert two.utilization_mean == 0.0
    assert telemetry.idle is False


def test_sampler_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    sampler = NvidiaSmiSampler()
    assert sampler.start() is False
    assert sampler.stop() is None
