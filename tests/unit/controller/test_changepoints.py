"""Change points: steps found where they are, none in noise, spikes or constant series."""

from __future__ import annotations

import numpy as np

from controller.changepoints import change_points, clip_spikes, noise_scale


def noise(n: int, cv: float = 0.01, seed: int = 0) -> np.ndarray:  # type: ignore[type-arg]
    return 100 * (1 + np.random.default_rng(seed).normal(0, cv, n))


def test_one_step_is_found_at_its_place() -> None:
    x = noise(40)
    x[25:] *= 1.1
    assert change_points(list(x)) == [25]


def test_two_steps() -> None:
    x = noise(60, seed=1)
    x[20:] *= 1.2
    x[45:] *= 0.8
    assert change_points(list(x)) == [20, 45]


def test_no_change_in_noise() -> None:
    false = sum(bool(change_points(list(noise(40, 0.05, seed)))) for seed in range(100))
    assert false <= 5


def test_short_series_of_noise_rarely_have_a_change_point() -> None:
    # A noise scale estimated from a handful of points is often too small; without the small-sample
    # penalty, 6 % of 7-point series of pure noise had a "step" (and the baseline restarted there).
    for n in (5, 7, 10):
        false = sum(bool(change_points(list(noise(n, 0.004, seed)))) for seed in range(1000))
        assert false <= 20, (n, false)


def test_a_clear_step_in_a_short_series_is_still_found() -> None:
    x = noise(10, 0.004, seed=4)
    x[5:] *= 1.4
    assert change_points(list(x)) == [5]


def test_a_spike_is_not_a_step() -> None:
    x = noise(30, seed=2)
    x[12] *= 1.5
    assert change_points(list(x)) == []
    assert clip_spikes(x, noise_scale(x))[12] < 110


def test_constant_and_short_series() -> None:
    assert change_points([5.0] * 20) == []
    assert change_points([1.0, 2.0, 3.0]) == []
    assert change_points([]) == []
    assert change_points([1.0] * 10 + [2.0] * 10) == [10]  # no noise: any sustained change
    assert change_points([1.0, float("nan"), 1.0, 1.0]) == []


def test_a_step_at_the_end_needs_two_points() -> None:
    x = noise(30, seed=3)
    x[29:] *= 1.3
    assert change_points(list(x)) == []
    x[28:] = x[28:] * 1.3 if x[28] < 120 else x[28:]
    assert change_points(list(x)) == [28]
