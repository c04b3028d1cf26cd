"""Send REQUESTS predictions to the server and print latency percentiles and throughput."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import numpy as np

host = os.environ["INFERENCE_SERVER_HOST"]
port = os.environ["INFERENCE_SERVER_PORT"]
requests = int(os.environ.get("REQUESTS", "200"))
url = f"http://{host}:{port}/predict"
rng = np.random.default_rng(1)
latencies = []
started = time.perf_counter()
for _ in range(requests):
    body = json.dumps(rng.normal(size=16).tolist()).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        json.load(response)
    latencies.append((time.perf_counter() - t0) * 1000)
total = time.perf_counter() - started
print(f"latency_p50={np.percentile(latencies, 50):.3f} ms", flush=True)
print(f"latency_p99={np.percentile(latencies, 99):.3f} ms", flush=True)
print(f"throughput={requests / total:.1f} requests/s", flush=True)
