"""Multiply two square matrices in pure Python and print how fast that was."""

from __future__ import annotations

import argparse
import random
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.size
    rng = random.Random(0)
    a = [[rng.random() for _ in range(n)] for _ in range(n)]
    b = [[rng.random() for _ in range(n)] for _ in range(n)]
    for _ in range(args.repeat):
        started = time.perf_counter()
        columns = list(zip(*b))
        [[sum(x * y for x, y in zip(row, column)) for column in columns] for row in a]
        seconds = time.perf_counter() - started
        print(f"seconds={seconds:.6f} mflops={2 * n**3 / seconds / 1e6:.2f}", flush=True)


if __name__ == "__main__":
    main()
