"""The TCPD set of real series with human-marked change points, and the paper's scores.

Loads ``../shared/data/tcpd`` (see its README) as van den Burg & Williams, "An Evaluation of Change
Point Detection Algorithms" (2020) use it in their univariate table: the 25 real series, leaving out
the synthetic ``quality_control_*`` series, ``run_log`` (two dimensions) and ``uk_coal_employ``
(missing values). :func:`f_measure` and :func:`covering` are the paper's metrics
(alan-turing-institute/TCPDBench, ``analysis/scripts/metrics.py``), written again here: F1 with a
margin of 5 points (precision against the union of annotators, recall averaged over annotators,
index 0 counted as a change point in every set) and the segmentation covering.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = frozenset({"run_log", "uk_coal_employ"})
MARGIN = 5


@dataclass(frozen=True)
class Labelled:
    name: str
    values: tuple[float, ...]
    annotations: dict[str, list[int]]  # annotator -> change-point indices


def data_dir() -> Path:
    """Where the TCPD files are: ``$ANUBIS_TCPD`` or ``../shared/data/tcpd`` beside the checkout."""
    configured = os.environ.get("ANUBIS_TCPD")
    if configured:
        return Path(configured)
    for candidate in (ROOT.parent / "shared" / "data" / "tcpd", Path("/work/shared/data/tcpd")):
        if candidate.is_dir():
            return candidate
    return ROOT.parent / "shared" / "data" / "tcpd"


def load(directory: Path | None = None) -> list[Labelled]:
    """The 25 real univariate series, in name order. Raises FileNotFoundError when absent."""
    where = directory or data_dir()
    annotations = json.loads((where / "annotations.json").read_text(encoding="utf-8"))
    out = []
    for path in sorted(where.glob("*.json")):
        name = path.stem
        if name in ("annotations", "published-default-scores") or name in LEFT_OUT:
            continue
        if name.startswith("quality_control") or name not in annotations:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("n_dim", 1) != 1:
            continue
        raw = [float(v) for v in data["series"][0]["raw"]]
        out.append(Labelled(name, tuple(raw), {k: list(v) for k, v in annotations[name].items()}))
    return out


def published(directory: Path | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """``{"f1"|"cover": {series: {method: score}}}`` as the paper publishes them (default parameters)."""
    where = directory or data_dir()
    scores: dict[str, dict[str, dict[str, float]]] = json.loads(
        (where / "published-default-scores.json").read_text(encoding="utf-8"))
    return scores


def true_positives(truth: Iterable[int], predicted: Iterable[int], margin: int = MARGIN) -> set[int]:
    """The points of ``truth`` with a prediction within ``margin``, each prediction used once."""
    left = set(predicted)
    found = set()
    for tau in truth:
        close = sorted((abs(tau - x), x) for x in left if abs(tau - x) <= margin)
        if close:
            found.add(tau)
            left.remove(close[0][1])
    return found


def f_measure(annotations: Mapping[str, Sequence[int]], predictions: Iterable[int],
              margin: int = MARGIN) -> tuple[float, float, float]:
    """F1, precision and recall as the paper computes them."""
    per_annotator = [set(a) | {0} for a in annotations.values()]
    predicted = set(predictions) | {0}
    union = set().union(*per_annotator)
    precision = len(true_positives(union, predicted, margin)) / len(predicted)
    recall = sum(len(true_positives(a, predicted, margin)) / len(a) for a in per_annotator) / len(per_annotator)
    f1 = precision * recall / (0.5 * recall + 0.5 * precision) if precision + recall > 0 else 0.0
    return f1, precision, recall


def _partition(points: Iterable[int], n: int) -> list[set[int]]:
    bounds = sorted({p for p in points if 0 < p < n})
    edges = [0, *bounds, n]
    return [set(range(edges[i], edges[i + 1])) for i in range(len(edges) - 1)]


def covering(annotations: Mapping[str, Sequence[int]], predictions: Iterable[int], n: int) -> float:
    """The segmentation covering of each annotator's segments by the predicted ones, averaged."""
    predicted = _partition(predictions, n)
    scores = []
    for marked in annotations.values():
        total = 0.0
        for segment in _partition(marked, n):
            total += len(segment) * max(len(segment & p) / len(segment | p) for p in predicted)
        scores.append(total / n)
    return sum(scores) / len(scores)
