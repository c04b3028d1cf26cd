"""Bayesian online change-point detection (Adams & MacKay 2007), the bench's reference for online judging.

BOCPD is what online judging is: after each new point it updates the posterior of the *run length*
(how many of the newest points belong to the current segment), mixing "the segment goes on" with
probability ``1 - 1/hazard`` and "a new one starts" with ``1/hazard``, each weighted by how well
the segment's model predicts the new point. Its one real parameter is the hazard (a prior on how long
segments last); the TCPD paper runs it with ``lambda = 100``, and so does this bench.

The segment model is conjugate (Normal-Inverse-Gamma), so every run length's predictive is a
Student t and the whole posterior is one vectorised update per point:

- ``line``: each segment is a straight line in the run's own time (Bayesian linear regression on
  ``[1, tau]``), so a steady trend is one segment and a change of slope is a change, as in
  :func:`controller.changepoints.change_points`' lines;
- ``level``: each segment is a level (the slope's prior precision made huge).

The prior, argued rather than fitted: the level's prior mean and the noise scale come from the
first 10 points (those no detector is judged on), the level's prior weighs as one observation
(``kappa = 1``), the noise variance has the weakest proper prior (``alpha = 1``), and the slope's
prior standard deviation is one noise standard deviation per point.

An alarm (:func:`alarms`) is raised at ``t`` when the posterior probability that a segment started
within the last 6 points *and* has at least two points (the analogue of ``confirm = 1``) first
exceeds ``threshold`` (0.5: more likely than not); it is raised once per crossing (a step is
reported once, as the verdicts do). bench-only: numpy and scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import gammaln

HAZARD = 100.0
PRIOR_POINTS = 10
LEVEL_ONLY = 1e12  # the slope's prior precision for level segments


def run_lengths(values: Sequence[float], *, line: bool = True, hazard: float = HAZARD) -> list[np.ndarray]:
    """``R[t][r]``: the posterior probability, given ``values[:t+1]``, that the current segment holds
    the newest ``r`` points (``r = 0``: a new segment starts after ``t``)."""
    x = np.asarray(values, dtype=float)
    head = x[:PRIOR_POINTS]
    mu0 = float(np.mean(head))
    var0 = float(np.var(head, ddof=1)) if head.size > 1 else 0.0
    var0 = var0 if var0 > 0.0 else max(abs(mu0) * 1e-6, 1e-12)
    kappa0, alpha0, beta0 = 1.0, 1.0, var0
    slope_precision = 1.0 if line else LEVEL_ONLY
    # Per run length: the prior precision matrix P (relative to the noise variance), P m, alpha, beta, tau.
    p11, p12, p22 = np.array([kappa0]), np.array([0.0]), np.array([slope_precision])
    q1, q2 = np.array([kappa0 * mu0]), np.array([0.0])
    alpha, beta, tau = np.array([alpha0]), np.array([beta0]), np.array([0.0])
    log_r = np.array([0.0])
    log_continue, log_start = math.log(1.0 - 1.0 / hazard), math.log(1.0 / hazard)
    out = []
    for value in x:
        det = p11 * p22 - p12 * p12
        v11, v12, v22 = p22 / det, -p12 / det, p11 / det
        m1, m2 = v11 * q1 + v12 * q2, v12 * q1 + v22 * q2
        location = m1 + m2 * tau
        scale2 = beta / alpha * (1.0 + v11 + 2.0 * v12 * tau + v22 * tau * tau)
        nu = 2.0 * alpha
        log_predictive = (gammaln((nu + 1.0) / 2.0) - gammaln(nu / 2.0) - 0.5 * np.log(nu * math.pi * scale2)
                          - (nu + 1.0) / 2.0 * np.log1p((value - location) ** 2 / (nu * scale2)))
        joint = log_r + log_predictive
        log_r = np.concatenate([[np.logaddexp.reduce(joint + log_start)], joint + log_continue])
        log_r -= np.logaddexp.reduce(log_r)
        out.append(np.exp(log_r))
        n11, n12, n22 = p11 + 1.0, p12 + tau, p22 + tau * tau
        n1, n2 = q1 + value, q2 + tau * value
        ndet = n11 * n22 - n12 * n12
        nm1, nm2 = (n22 * n1 - n12 * n2) / ndet, (n11 * n2 - n12 * n1) / ndet
        new_beta = beta + 0.5 * (value * value + m1 * q1 + m2 * q2 - nm1 * n1 - nm2 * n2)
        p11, p12, p22 = (np.concatenate([[start], grown]) for start, grown in
                         ((kappa0, n11), (0.0, n12), (slope_precision, n22)))
        q1, q2 = np.concatenate([[kappa0 * mu0], n1]), np.concatenate([[0.0], n2])
        alpha = np.concatenate([[alpha0], alpha + 0.5])
        beta = np.concatenate([[beta0], np.maximum(new_beta, 1e-300)])
        tau = np.concatenate([[0.0], tau + 1.0])
    return out


def change_probability(posterior: Sequence[np.ndarray], newest: int = 6, least: int = 2) -> list[float]:
    """At each point, the probability that the current segment started within the newest ``newest``
    points and already holds at least ``least`` of them."""
    return [float(r[least:newest + 1].sum()) for r in posterior]


def alarms(probability: Sequence[float], threshold: float, first: int) -> list[bool]:
    """Alarms from point ``first`` on: where ``probability`` crosses ``threshold`` upwards (once per crossing)."""
    return [probability[t] > threshold and probability[t - 1] <= threshold for t in range(first, len(probability))]


def detector(threshold: float = 0.5, *, line: bool = True,
             first: int = PRIOR_POINTS) -> Callable[[Sequence[float]], list[bool]]:
    """A bench detector: values -> an alarm per judged point (from ``first`` on)."""

    def run(values: Sequence[float]) -> list[bool]:
        return alarms(change_probability(run_lengths(values, line=line)), threshold, first)

    return run
