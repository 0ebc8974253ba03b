"""Forward against reverse KL on the bimodal target (topic 5).

Reverse KL(q ‖ p), minimised by ADVI, lands on one mode; forward KL(p ‖ q), minimised by
moment matching, sits on the mixture mean. Each fit is checked against an independent
deterministic minimisation of the same objective by quadrature (tier 4), with tolerances
from the spread of ADVI over seeds (its optimiser and Monte Carlo noise).
"""

import functools

import numpy as np
import pytest
from scipy import optimize, stats

from bayesmin import models
from bayesmin.diagnostics.kl import kl_landscape, kl_monte_carlo, kl_quadrature
from bayesmin.inference.kl_fit import elbo_estimate, forward_kl_fit, reverse_kl_fit, reverse_kl_fits
from bayesmin.models.targets import NormalMixture, mixture_sample

GRID = np.linspace(-12.0, 12.0, 24_001)
SEEDS = range(6)


@functools.cache
def _target(loc=2.0):
    data = models.get("bimodal").simulate(0, loc=loc)
    return data, NormalMixture(data["weights"], data["locs"], data["scales"])


def _reverse_optimum(p, start):
    """argmin over (m, s) of KL(N(m, s²) ‖ p) by quadrature and Nelder–Mead."""

    def kl(v):
        logq = stats.norm.logpdf(GRID, v[0], np.exp(v[1]))
        return kl_quadrature(logq, p.logpdf(GRID), GRID)

    res = optimize.minimize(kl, [start, np.log(0.4)], method="Nelder-Mead",
                            options={"xatol": 1e-7, "fatol": 1e-12})  # fmt: skip
    return res.x[0], np.exp(res.x[1])


@pytest.mark.parametrize("start", [-3.0, 3.0])
def test_reverse_kl_fit_locks_onto_the_mode_of_its_start(start):
    data, p = _target()
    fits = [reverse_kl_fit("bimodal", [start], data=data, seed=s) for s in SEEDS]
    means = np.array([f.mean[0] for f in fits])
    sds = np.array([f.sd[0] for f in fits])
    m_star, s_star = _reverse_optimum(p, start)
    assert np.sign(m_star) == np.sign(start) and abs(abs(m_star) - 2.0) < 0.05
    # Tolerances from the optimiser's own noise: the spread of the fits over seeds.
    for values, truth in ((means, m_star), (sds, s_star)):
        se = values.std(ddof=1) / np.sqrt(len(values))
        assert abs(values.mean() - truth) < 4 * se + 1e-3, (values, truth)
        assert np.all(np.abs(values - truth) < 4 * values.std(ddof=1) + 1e-3)
    # On one mode: q's sd is that component's (0.6), nowhere near the mixture's (2.09).
    assert np.all(np.abs(sds - 0.6) < 0.1)
    assert np.isfinite(fits[0].elbo).all() and fits[0].elbo[-200:].mean() > fits[0].elbo[:20].mean()


def test_forward_kl_fit_is_the_mixture_moments_and_the_quadrature_minimum():
    data, p = _target()
    fit = forward_kl_fit("bimodal", data=data)
    assert fit.mean == pytest.approx([p.mean()], abs=1e-12)
    assert fit.sd == pytest.approx([p.std()], rel=1e-12)
    assert p.std() == pytest.approx(np.sqrt(0.6**2 + 2.0**2), rel=1e-12)

    def kl(v):
        return kl_quadrature(p.logpdf(GRID), stats.norm.logpdf(GRID, v[0], np.exp(v[1])), GRID)

    res = optimize.minimize(kl, [1.0, 0.0], method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-12})  # fmt: skip
    assert res.x[0] == pytest.approx(p.mean(), abs=1e-4)
    assert np.exp(res.x[1]) == pytest.approx(p.std(), rel=1e-4)
    # From draws: the sample moments, within their Monte Carlo error.
    x = mixture_sample(np.random.default_rng(0), 20_000, data["weights"], data["locs"],
                       data["scales"] ** 2)  # fmt: skip
    fit_mc = forward_kl_fit(draws=x)
    assert abs(fit_mc.mean[0] - p.mean()) < 4 * p.std() / np.sqrt(x.size)


def test_each_fit_wins_its_own_direction_by_many_standard_errors():
    # Negative control of the pair: each fit is worse in the other direction.
    data, p = _target()
    rev = reverse_kl_fit("bimodal", [-3.0], data=data).dist()
    fwd = forward_kl_fit("bimodal", data=data).dist()

    def draws_of_p(rng, n):
        return mixture_sample(rng, n, data["weights"], data["locs"], data["scales"] ** 2)

    reverse = {name: kl_monte_carlo(q, p, n=20_000, seed=1) for name, q in
               (("rev", rev), ("fwd", fwd))}  # fmt: skip
    forward = {name: kl_monte_carlo(p, q, n=20_000, seed=2, sample=draws_of_p) for name, q in
               (("rev", rev), ("fwd", fwd))}  # fmt: skip
    gap = reverse["fwd"].value - reverse["rev"].value
    assert gap > 5 * np.hypot(reverse["fwd"].se, reverse["rev"].se)
    gap = forward["rev"].value - forward["fwd"].value
    assert gap > 5 * np.hypot(forward["fwd"].se, forward["rev"].se)
    # The reverse fit's KL(q ‖ p) is ≈ log 2: q holds one of two equal modes.
    assert abs(reverse["rev"].value - np.log(2)) < 4 * reverse["rev"].se + 0.01


def test_unimodal_target_forward_and_reverse_agree():
    # With the modes merged (loc = 0.3 < scale) p is unimodal: both fits are one
    # Gaussian near p's moments, from either start.
    data, _ = _target(loc=0.3)
    fwd = forward_kl_fit("bimodal", data=data)
    for rev in reverse_kl_fits("bimodal", [[-3.0], [3.0]], data=data):
        assert abs(rev.mean[0] - fwd.mean[0]) < 0.1 * fwd.sd[0]
        assert abs(rev.sd[0] / fwd.sd[0] - 1) < 0.1


def test_landscape_reverse_has_two_minima_forward_one_and_quadrature_matches_mc():
    _, p = _target()
    means = np.linspace(-4, 4, 161)
    reverse, forward = kl_landscape(p.logpdf(GRID), GRID, means, 0.6)
    local_min = np.flatnonzero((reverse[1:-1] < reverse[:-2]) & (reverse[1:-1] < reverse[2:])) + 1
    assert means[local_min] == pytest.approx([-2.0, 2.0], abs=0.06)
    assert means[np.argmin(forward)] == pytest.approx(0.0, abs=0.06)
    assert np.all(np.diff(np.sign(np.diff(forward))) >= 0)  # one minimum: convex in m
    # Quadrature against Monte Carlo (independent), both directions, at a few means.
    for i in (40, 80, 120):
        q = stats.norm(means[i], 0.6)
        assert abs(kl_monte_carlo(q, p, n=20_000, seed=i).z(reverse[i])) < 4
        est = kl_monte_carlo(p, q, n=20_000, seed=i, sample=lambda r, n: p.rvs(n, r))
        assert abs(est.z(forward[i])) < 4


def test_two_d_reverse_fits_pick_different_blobs_and_elbo_is_minus_kl():
    spec = models.get("bimodal_2d")
    data = spec.simulate(0)
    a, b = reverse_kl_fits(spec, [[-1.0, -0.5], [1.0, 0.5]], data=data)
    np.testing.assert_allclose(a.mean, data["locs"][0], atol=0.15)
    np.testing.assert_allclose(b.mean, data["locs"][1], atol=0.15)
    fwd = forward_kl_fit(spec, data=data)
    np.testing.assert_allclose(fwd.cov, spec.exact(data)["x"].cov, rtol=1e-12)
    # ELBO = log p(X) − KL(q ‖ p) with log p(X) = 0 (a normalised target).
    elbo, se = elbo_estimate(spec, a.mean, a.cov, data=data, n=20_000)
    p = models.targets.mixture_from_data(data)
    kl = kl_monte_carlo(stats.multivariate_normal(a.mean, a.cov), p, n=20_000, seed=3)
    assert abs(elbo + kl.value) < 4 * np.hypot(se, kl.se) + 0.01


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="exactly one of target"):
        forward_kl_fit()
    with pytest.raises(ValueError, match="start has 2 coordinate"):
        reverse_kl_fit("bimodal", [0.0, 1.0])
