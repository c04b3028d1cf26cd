"""Train a small multi-layer perceptron on handwritten digits, on the CPU, with NumPy only.

The data set is the test part of the UCI "Optical Recognition of Handwritten Digits" set (1,797
8x8 images, CC BY 4.0, as redistributed by scikit-learn). The script prints one line per epoch that
the descriptor's patterns read, and emits the training time through the Anubis client library (a
metric no pattern reads: the descriptor need not declare an emitted value).
"""

from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np

try:  # the Anubis client library; present in the anubis image and wherever anubis is installed
    from benchmarkai import emit
except ImportError:  # pragma: no cover - plain python without anubis installed

    def emit(metrics: dict[str, float]) -> None:
        pass


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    return table[:, :-1] / 16.0, table[:, -1].astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("EPOCHS", "12")))
    parser.add_argument("--batch-size", type=int, default=int(os.environ.get("BATCH_SIZE", "32")))
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x, y = load(Path(__file__).with_name("digits.csv.gz"))
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    split = int(len(x) * 0.8)
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]
    print(f"digits: {len(x_train)} training and {len(x_test)} test images, {x.shape[1]} features", flush=True)

    w1 = rng.normal(0, np.sqrt(2 / x.shape[1]), (x.shape[1], args.hidden))
    b1 = np.zeros(args.hidden)
    w2 = rng.normal(0, np.sqrt(2 / args.hidden), (args.hidden, 10))
    b2 = np.zeros(10)

    def forward(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hidden = np.maximum(batch @ w1 + b1, 0.0)
        logits = hidden @ w2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return hidden, probs

    training_started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        perm = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(perm), args.batch_size):
            idx = perm[start : start + args.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            hidden, probs = forward(xb)
            losses.append(-np.log(probs[np.arange(len(yb)), yb] + 1e-12).mean())
            grad = probs
            grad[np.arange(len(yb)), yb] -= 1.0
            grad /= len(yb)
            grad_hidden = (grad @ w2.T) * (hidden > 0)
            w2 -= args.lr * hidden.T @ grad
            b2 -= args.lr * grad.sum(axis=0)
            w1 -= args.lr * xb.T @ grad_hidden
            b1 -= args.lr * grad_hidden.sum(axis=0)
        elapsed = time.perf_counter() - started
        accuracy = float((forward(x_test)[1].argmax(axis=1) == y_test).mean())
        loss = float(np.mean(losses))
        throughput = len(x_train) / elapsed
        print(
            f"epoch {epoch}/{args.epochs} train_loss={loss:.4f} accuracy={accuracy:.4f}"
            f" throughput={throughput:.1f} samples/s epoch_time={elapsed * 1000:.2f} ms",
            flush=True,
        )
    emit({"train_seconds": time.perf_counter() - training_started})
    # no `accuracy=` here: the pattern would read the last epoch's value a second time
    print(f"done: {args.epochs} epochs, test accuracy {accuracy:.4f}", flush=True)


if __name__ == "__main__":
    main()
