"""A dcgm-exporter endpoint over real HTTP, for a real Prometheus to scrape.

What it serves follows NVIDIA/dcgm-exporter:
- metric names, types and help texts from ``etc/default-counters.csv`` (copy in
  ``../shared/reference/dcgm-exporter-default-counters.csv``), profiling metrics
  (``DCGM_FI_PROF_*``) only when ``profiling`` is on, as with ``dcp-metrics-included.csv``;
- the labels every series carries (``gpu``, ``UUID``, ``pci_bus_id``, ``device``, ``modelName``,
  ``Hostname``, ``DCGM_FI_DRIVER_VERSION``) and, for a GPU assigned to a pod through the kubelet's
  pod-resources API, ``namespace``, ``pod`` and ``container``
  (``internal/pkg/transformation/const.go``, ``kubernetes.go``); a GPU no pod holds has none of those;
- units: utilisation in %, framebuffer in MiB, power in W, total energy as a counter in mJ since the
  driver loaded (it never starts at zero).

Each GPU's readings are functions of time given by the test, so a run's window has known answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reading = Callable[[float], float]


@dataclass
class FakeGpu:
    index: int
    uuid: str
    model: str = "NVIDIA A10G"
    host: str = "ip-10-0-1-5.ec2.internal"
    pod: tuple[str, str, str] | None = None  # (namespace, pod, container) holding the GPU
    utilization: Reading = lambda t: 0.0
    memory_used: Reading = lambda t: 0.0
    power: Reading = lambda t: 60.0
    engine_active: Reading = lambda t: 0.0
    energy_at_boot_mj: float = 7.5e9
    _energy_mj: float = field(default=0.0, init=False)
    _last: float | None = field(default=None, init=False)

    def energy(self, now: float) -> float:
        """The energy counter: power integrated since the exporter started, on top of the boot value."""
        if self._last is None:
            self._energy_mj = self.energy_at_boot_mj
        else:
            self._energy_mj += (now - self._last) * (self.power(self._last) + self.power(now)) / 2.0 * 1000.0
        self._last = now
        return self._energy_mj

    def labels(self) -> str:
        pairs = [
            ("gpu", str(self.index)),
            ("UUID", self.uuid),
            ("pci_bus_id", f"00000000:00:{0x1E + self.index:02X}.0"),
            ("device", f"nvidia{self.index}"),
            ("modelName", self.model),
            ("Hostname", self.host),
            ("DCGM_FI_DRIVER_VERSION", "550.127.05"),
        ]
        if self.pod is not None:
            namespace, pod, container = self.pod
            pairs += [("container", container), ("namespace", namespace), ("pod", pod)]
        return ",".join(f'{k}="{v}"' for k, v in pairs)


# (metric, type, help) as in etc/default-counters.csv and dcp-metrics-included.csv.
_METRICS = [
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", "utilization"),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", "memory_used"),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", "power"),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ).", "energy"),
]
_PROFILING = [("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active.", "engine_active")]


def exposition(gpus: Sequence[FakeGpu], now: float, profiling: bool = False) -> str:
    lines = []
    for metric, kind, help_text, reading in _METRICS + (_PROFILING if profiling else []):
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} {kind}")
        for gpu in gpus:
            value = gpu.energy(now) if reading == "energy" else getattr(gpu, reading)(now)
            lines.append(f"{metric}{{{gpu.labels()}}} {value:.6g}" if reading != "energy" else f"{metric}{{{gpu.labels()}}} {value:.0f}")
    return "\n".join(lines) + "\n"


@contextmanager
def serve(gpus: Sequence[FakeGpu], profiling: bool = False) -> Iterator[str]:
    """Serve ``/metrics`` on 127.0.0.1; yields ``host:port`` for a scrape config."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path != "/metrics":
                self.send_error(404)
                return
            with lock:
                body = exposition(gpus, time.time(), profiling).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
