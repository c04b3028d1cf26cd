"""Multiply two SIZE x SIZE matrices REPEAT times and print the achieved GFLOP/s."""

import os
import time

import numpy as np

size = int(os.environ.get("SIZE", "256"))
repeat = int(os.environ.get("REPEAT", "5"))
rng = np.random.default_rng(0)
a = rng.random((size, size))
b = rng.random((size, size))
a @ b  # warm-up
for i in range(repeat):
    started = time.perf_counter()
    a @ b
    elapsed = time.perf_counter() - started
    print(f"iteration {i}: gflops={2 * size**3 / elapsed / 1e9:.3f}", flush=True)
