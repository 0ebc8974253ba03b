"""Two-sample distances: near zero for one distribution, exact values for shifts, n-scaling."""

from __future__ import annotations

import numpy as np
import pytest

from bayesmin.diagnostics.distance import median_bandwidth, mmd_rbf, sliced_wasserstein


def _normal(seed, n, d=2, shift=0.0):
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_sliced_wasserstein_of_a_shift_is_exact():
    # Shifting by δ: every projection moves by θᵀδ, so SW₂ = √E(θᵀδ)² = |δ|/√2 in 2-D,
    # whatever the sample (the same sample, shifted).
    x = _normal(0, 500)
    delta = np.array([0.6, -0.8])  # |δ| = 1
    got = sliced_wasserstein(x, x + delta, n_projections=5000)
    assert got == pytest.approx(1 / np.sqrt(2), rel=0.02)
    assert sliced_wasserstein(x, x) == 0.0


def test_sliced_wasserstein_shrinks_like_root_n_for_one_distribution():
    def mean_sw(n):
        return np.mean([sliced_wasserstein(_normal(s, n), _normal(100 + s, n)) for s in range(8)])

    small, large = mean_sw(200), mean_sw(3200)
    # 16 times the points: about a quarter of the distance (n^(−1/2)); loose bounds.
    assert 0.15 < large / small < 0.45
    assert sliced_wasserstein(_normal(0, 2000), _normal(1, 2000, shift=0.5)) > 5 * large


def test_sliced_wasserstein_unequal_sizes_and_fixed_directions():
    x, y = _normal(0, 300), _normal(1, 700, shift=1.0)
    assert sliced_wasserstein(x, y) == sliced_wasserstein(x, y)  # fixed seed, fixed θ
    assert sliced_wasserstein(x, y) == pytest.approx(
        sliced_wasserstein(y, x), rel=0.05
    )  # symmetric up to the quantile grid
    assert sliced_wasserstein(x, y) > 0.4


def test_mmd_matches_the_closed_form_for_shifted_gaussians():
    # N(0, I) vs N(δ, I) with bandwidth h in d dimensions:
    # MMD² = 2 (h²/(h²+2))^(d/2) (1 − exp(−|δ|²/(2(h²+2)))).
    h, d, shift = 1.0, 2, 1.0
    delta2 = d * shift**2
    truth = 2 * (h**2 / (h**2 + 2)) ** (d / 2) * (1 - np.exp(-delta2 / (2 * (h**2 + 2))))
    draws = [mmd_rbf(_normal(s, 800), _normal(50 + s, 800, shift=shift), bandwidth=h)
             for s in range(6)]  # fmt: skip
    assert np.mean(draws) == pytest.approx(truth, rel=0.1)


def test_mmd_is_unbiased_zero_for_one_distribution_and_spread_shrinks_like_1_over_n():
    def draws(n):
        return np.array([mmd_rbf(_normal(s, n), _normal(100 + s, n)) for s in range(12)])

    small, large = draws(100), draws(800)
    # Unbiased: centred on 0 (negative values happen), within its own standard error.
    assert (small < 0).any()
    assert abs(small.mean()) < 4 * small.std() / np.sqrt(small.size)
    # Spread ~ 1/n: 8 times the points, about an eighth of the spread (loose).
    assert 0.05 < large.std() / small.std() < 0.3
    assert mmd_rbf(_normal(0, 800), _normal(1, 800, shift=0.5)) > 10 * large.std()


def test_median_bandwidth_and_bad_input():
    x = _normal(0, 400)
    # Distances between 2-D standard normals: |a − b|² ~ 2 χ²₂, median 2 ln 4 → h ≈ 1.665.
    assert median_bandwidth(x, _normal(1, 400)) == pytest.approx(np.sqrt(4 * np.log(2)), rel=0.05)
    with pytest.raises(ValueError, match="same dimension"):
        sliced_wasserstein(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least 2 points"):
        mmd_rbf(np.zeros((1, 2)), np.zeros((5, 2)))
