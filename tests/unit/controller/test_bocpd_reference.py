"""The bench's Bayesian online change-point detector (bench/bocpd.py, Adams & MacKay 2007): its
run-length posterior is a distribution, it finds a plain step on its second point, and a line per
segment takes a steady trend for one segment where a level per segment cannot."""

from __future__ import annotations

import numpy as np

from bench import bocpd


def test_the_run_length_posterior_is_a_distribution_over_the_points_seen() -> None:
    values = list(100 + np.random.default_rng(1).normal(0, 1, 40))
    posterior = bocpd.run_lengths(values)
    assert [r.size for r in posterior] == list(range(2, 42))
    assert all(abs(float(r.sum()) - 1.0) < 1e-9 and float(r.min()) >= 0.0 for r in posterior)
    # without a change the likeliest run holds every point (r[0] is the hazard, 1/100, by construction)
    assert int(np.argmax(posterior[-1])) == 40 and float(posterior[-1][30:].sum()) > 0.6
    assert abs(float(posterior[-1][0]) - 1.0 / bocpd.HAZARD) < 1e-12


def test_a_step_is_found_on_its_second_point_and_reported_once() -> None:
    rng = np.random.default_rng(2)
    values = list(np.concatenate([100 + rng.normal(0, 1, 30), 110 + rng.normal(0, 1, 15)]))
    alarms = bocpd.detector(0.5)(values)
    at = [bocpd.PRIOR_POINTS + i for i, a in enumerate(alarms) if a]
    assert at == [31]  # the step at 30, confirmed by its second point; one alarm, not one per point


def test_white_noise_raises_no_alarm() -> None:
    values = list(100 + np.random.default_rng(3).normal(0, 1, 300))
    assert not any(bocpd.detector(0.5)(values))


def test_a_line_per_segment_follows_a_trend_that_levels_cut_into_steps() -> None:
    rng = np.random.default_rng(4)
    values = list(100 + 0.5 * np.arange(120) + rng.normal(0, 0.5, 120))
    assert not any(bocpd.detector(0.5, line=True)(values))
    assert any(bocpd.detector(0.5, line=False)(values))
