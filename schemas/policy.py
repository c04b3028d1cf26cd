"""How a metric is judged against its baseline, and the label that keeps a ``--set`` variant out of it.

A module of its own (``schemas.runspec`` re-exports both): judging a stored result (`anubis results`,
controller/analysis.py, controller/baselines.py) needs the policy, not the RunSpec's dozen classes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegressionPolicy:
    """How a metric is judged against its baseline (see controller's analysis)."""

    min_change: float = 0.05  # relative change below which nothing is reported
    confidence: float = 0.99
    window: int = 20  # baseline runs considered
    min_history: int = 5
    confirm: int = 1  # runs of a new level needed beyond the first before a change is confirmed
    warmup_values: int = 0  # the metric's `warmup`: its first values left out of a run's summary
    warmup_seconds: float = 0.0  # or the values of the run's first seconds
    fail_on_regression: bool = True


#: The label of a run started with ``--set`` overrides: a digest of them. Such a run is a variant of its
#: benchmark, never part of the unmodified benchmark's baseline (controller/baselines.py) or history series.
OVERRIDES_LABEL = "anubis_set"
