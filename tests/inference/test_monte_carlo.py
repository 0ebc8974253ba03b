"""Plain Monte Carlo, rejection and importance sampling (course topic 7).

Stochastic checks use fixed seeds and tolerances of 4 Monte Carlo standard errors; each
family of checks has a negative control that must fail the same check.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from bayesmin.inference.monte_carlo import (
    ImportanceResult,
    MCEstimate,
    RejectionResult,
    expectation,
    importance_sample,
    rejection_sample,
)

Z_MAX = 4.0


def normal_sampler(mu=0.0, sd=1.0):
    return lambda rng, m: rng.normal(mu, sd, size=m)


def uniform_sampler(lo=0.0, hi=1.0):
    return lambda rng, m: rng.uniform(lo, hi, size=m)


BETA = stats.beta(2, 5)
BETA_SUP = BETA.pdf(0.2)  # density at the mode (a - 1) / (a + b - 2) = 0.2; = 2.4576


# --------------------------------------------------------------------------------------
# plain Monte Carlo


def test_expectation_of_x_squared_under_standard_normal():
    est = expectation(lambda x: x**2, normal_sampler(), n=20_000, seed=1)
    assert isinstance(est, MCEstimate) and est.n == 20_000
    assert abs(est.estimate - 1.0) / est.std_error < Z_MAX
    # Var(x^2) = 2, so the s.e. is close to sqrt(2 / n).
    assert est.std_error == pytest.approx(np.sqrt(2 / 20_000), rel=0.1)


def test_expectation_std_error_scales_as_one_over_sqrt_n():
    small = expectation(lambda x: x**2, normal_sampler(), n=10_000, seed=2)
    large = expectation(lambda x: x**2, normal_sampler(), n=40_000, seed=3)
    # sd of the ratio of the two sample sds is about 0.04 here (kurtosis of x^2 is 15).
    assert small.std_error / large.std_error == pytest.approx(2.0, abs=0.2)


def test_expectation_vector_valued_f_and_precomputed_draws():
    rng = np.random.default_rng(4)
    draws = rng.normal(size=(10_000, 2))
    est = expectation(lambda x: np.column_stack([x[:, 0], x[:, 1] ** 2]), draws=draws)
    assert est.estimate.shape == est.std_error.shape == (2,)
    assert np.all(np.abs(est.estimate - [0.0, 1.0]) / est.std_error < Z_MAX)
    same = expectation(lambda x: x[:, 0], draws=draws)
    assert same.estimate == pytest.approx(draws[:, 0].mean())


def test_expectation_same_seed_same_result():
    a = expectation(np.sin, normal_sampler(), n=100, seed=7)
    b = expectation(np.sin, normal_sampler(), n=100, seed=7)
    assert a.estimate == b.estimate and a.std_error == b.std_error


def test_expectation_negative_control_wrong_sampler_is_detected():
    # Sampling N(0, 1.1^2) instead of N(0, 1): E[x^2] = 1.21, far beyond 4 s.e.
    est = expectation(lambda x: x**2, normal_sampler(sd=1.1), n=20_000, seed=1)
    assert abs(est.estimate - 1.0) / est.std_error > Z_MAX


def test_expectation_single_draw_has_nan_std_error():
    est = expectation(lambda x: x, draws=np.array([3.0]))
    assert est.estimate == 3.0 and np.isnan(est.std_error)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sampler": normal_sampler(), "n": 0}, "at least 1"),
        ({"sampler": normal_sampler(), "n": 2.5}, "whole number"),
        ({"sampler": normal_sampler()}, "`n` is required"),
        ({}, "Only one of"),
        ({"sampler": normal_sampler(), "n": 5, "draws": np.zeros(5)}, "Only one of"),
        ({"draws": np.zeros(0)}, "at least 1"),
        ({"sampler": lambda rng, m: rng.normal(size=m + 1), "n": 5}, "draw index first"),
    ],
)
def test_expectation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        expectation(lambda x: x, **kwargs)


def test_expectation_rejects_non_vectorised_f():
    with pytest.raises(ValueError, match="one value per draw"):
        expectation(lambda x: float(np.mean(x)), normal_sampler(), n=10)


# --------------------------------------------------------------------------------------
# rejection sampling


@pytest.fixture(scope="module")
def beta_rejection() -> RejectionResult:
    return rejection_sample(BETA.logpdf, uniform_sampler(), stats.uniform.logpdf, n=5_000, seed=0)


def binomial_z(res: RejectionResult, p: float) -> float:
    return (res.acceptance_rate - p) / np.sqrt(p * (1 - p) / res.proposed)


def test_rejection_finds_M_at_the_supremum(beta_rejection):
    M = beta_rejection.M
    assert M >= BETA_SUP
    assert M == pytest.approx(BETA_SUP, rel=2e-3)  # margin is 0.1 %


def test_rejection_samples_follow_the_target(beta_rejection):
    s = beta_rejection.samples
    assert s.shape == (5_000,) and beta_rejection.accepted == 5_000
    assert stats.kstest(s, BETA.cdf).pvalue > 0.01
    mcse = BETA.std() / np.sqrt(s.size)
    assert abs(s.mean() - BETA.mean()) / mcse < Z_MAX
    # Negative control: the same KS check rejects a near neighbour, Beta(2, 4).
    assert stats.kstest(s, stats.beta(2, 4).cdf).pvalue < 0.01


def test_rejection_acceptance_rate_is_one_over_M(beta_rejection):
    assert abs(binomial_z(beta_rejection, 1 / beta_rejection.M)) < Z_MAX
    # Negative control: a 10 % wrong M is many binomial s.e. away (expected z ≈ 9).
    assert abs(binomial_z(beta_rejection, 1 / (1.1 * beta_rejection.M))) > Z_MAX


def test_rejection_plotting_fields_are_consistent(beta_rejection):
    r = beta_rejection
    assert r.proposals.shape == (r.proposed,) == r.accept_flags.shape == r.heights.shape
    np.testing.assert_array_equal(r.proposals[r.accept_flags], r.samples)
    assert r.accept_flags[-1]  # stops at the n-th acceptance
    np.testing.assert_array_equal(r.accept_flags, r.heights <= BETA.pdf(r.proposals))
    assert np.all(r.heights <= r.M * stats.uniform.pdf(r.proposals))


def test_rejection_unnormalised_target_acceptance_is_Z_over_M():
    res = rejection_sample(
        lambda x: BETA.logpdf(x) + np.log(7.0),
        uniform_sampler(),
        stats.uniform.logpdf,
        n=5_000,
        seed=1,
    )
    assert res.M == pytest.approx(7 * BETA_SUP, rel=2e-3)
    assert abs(binomial_z(res, 7.0 / res.M)) < Z_MAX
    assert stats.kstest(res.samples, BETA.cdf).pvalue > 0.01


def test_rejection_two_dimensional_target():
    # p̃(x) = exp(-|x|^2 / 2) (Z = 2π), q = N(0, 1.5^2 I): sup p̃/q at 0 is 2π·1.5^2.
    sd = 1.5
    res = rejection_sample(
        lambda x: -0.5 * np.sum(x**2, axis=1),
        lambda rng, m: rng.normal(0.0, sd, size=(m, 2)),
        lambda x: stats.norm.logpdf(x, 0.0, sd).sum(axis=1),
        n=4_000,
        seed=2,
    )
    assert res.samples.shape == (4_000, 2)
    assert res.log_M == pytest.approx(np.log(2 * np.pi * sd**2), abs=2e-3)
    assert res.log_M >= np.log(2 * np.pi * sd**2)
    assert abs(binomial_z(res, 2 * np.pi / res.M)) < Z_MAX
    assert np.all(np.abs(res.samples.mean(axis=0)) / (1 / np.sqrt(4_000)) < Z_MAX)


def test_rejection_user_given_M_is_used_and_checked():
    res = rejection_sample(
        BETA.logpdf, uniform_sampler(), stats.uniform.logpdf, n=2_000, seed=3, log_M=np.log(3.0)
    )
    assert res.log_M == np.log(3.0)
    assert abs(binomial_z(res, 1 / 3)) < Z_MAX
    # Exactly the supremum is allowed (round-off tolerance), a little less is not.
    rejection_sample(
        BETA.logpdf, uniform_sampler(), stats.uniform.logpdf, n=10, log_M=np.log(BETA_SUP)
    )
    with pytest.raises(ValueError, match="does not cover the target"):
        rejection_sample(
            BETA.logpdf, uniform_sampler(), stats.uniform.logpdf, n=10, log_M=np.log(2.0)
        )


@pytest.mark.parametrize("log_M", [None, np.log(100.0)])
def test_rejection_refuses_heavier_tailed_target(log_M):
    # Cauchy target under a normal proposal: p/q grows like exp(x^2 / 2), no M exists.
    with pytest.raises(ValueError, match=r"does not cover the target at x = .*wider proposal"):
        rejection_sample(
            stats.cauchy.logpdf, normal_sampler(), stats.norm.logpdf, n=100, log_M=log_M
        )


def test_rejection_refuses_proposal_with_zero_density_where_target_is_positive():
    with pytest.raises(ValueError, match="zero density where the target is positive"):
        rejection_sample(BETA.logpdf, uniform_sampler(0, 0.5), stats.uniform(0, 0.5).logpdf, n=10)


@pytest.mark.parametrize("log_M", [np.inf, -np.inf, np.nan])
def test_rejection_non_finite_M(log_M):
    with pytest.raises(ValueError, match="log_M must be finite"):
        rejection_sample(BETA.logpdf, uniform_sampler(), stats.uniform.logpdf, n=10, log_M=log_M)


def test_rejection_nan_log_density_is_counted():
    def log_p(x):
        return np.where(x < 0.1, np.nan, BETA.logpdf(x))

    with pytest.raises(ValueError, match=r"log_p_tilde returned NaN at \d+ of 100000 proposal"):
        rejection_sample(log_p, uniform_sampler(), stats.uniform.logpdf, n=10)


def test_rejection_n_and_budget_errors():
    with pytest.raises(ValueError, match="at least 1"):
        rejection_sample(BETA.logpdf, uniform_sampler(), stats.uniform.logpdf, n=0)
    with pytest.raises(RuntimeError, match="raise max_proposals"):
        rejection_sample(
            BETA.logpdf,
            uniform_sampler(),
            stats.uniform.logpdf,
            n=1_000,
            pilot_size=1_000,
            max_proposals=1_500,
        )


def test_rejection_same_seed_same_draws():
    kw = {"n": 200, "seed": 11, "pilot_size": 2_000}
    a = rejection_sample(BETA.logpdf, uniform_sampler(), stats.uniform.logpdf, **kw)
    b = rejection_sample(BETA.logpdf, uniform_sampler(), stats.uniform.logpdf, **kw)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.log_M == b.log_M


# --------------------------------------------------------------------------------------
# importance sampling


def gaussian_second_moment(mu1, s1, mu0, s0):
    """E_q[(p/q)^2] for p = N(mu1, s1^2), q = N(mu0, s0^2); finite iff s1^2 < 2 s0^2."""
    v = 2 * s0**2 - s1**2
    return s0**2 / (s1 * np.sqrt(v)) * np.exp((mu1 - mu0) ** 2 / v)


def log_target(mu, sd, scale=1.0):
    return lambda x: stats.norm.logpdf(x, mu, sd) + np.log(scale)


@pytest.fixture(scope="module")
def good_is() -> ImportanceResult:
    # p̃ = 3 × N(1, 0.5^2), q = N(0, 1).
    return importance_sample(
        log_target(1.0, 0.5, 3.0), normal_sampler(), stats.norm.logpdf, lambda x: x, 20_000, 0
    )


def test_importance_estimate_of_mean(good_is):
    assert abs(good_is.estimate - 1.0) / good_is.std_error < Z_MAX
    assert abs(good_is.psis_estimate - 1.0) / good_is.std_error < Z_MAX
    # Negative control: the unweighted mean of the proposal draws is nowhere near.
    assert abs(good_is.draws.mean() - 1.0) / good_is.std_error > Z_MAX


def test_importance_weights(good_is):
    assert good_is.weights.shape == good_is.log_weights.shape == (20_000,)
    assert good_is.weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(
        good_is.log_weights,
        log_target(1.0, 0.5, 3.0)(good_is.draws) - stats.norm.logpdf(good_is.draws),
    )


def test_importance_log_normaliser(good_is):
    z = (good_is.log_normaliser - np.log(3.0)) / good_is.log_normaliser_std_error
    assert abs(z) < Z_MAX
    # Negative control: log 2.8 is rejected at the same tolerance.
    assert abs(good_is.log_normaliser - np.log(2.8)) / good_is.log_normaliser_std_error > Z_MAX


def test_importance_ess_matches_gaussian_closed_form(good_is):
    # Closed form cross-checked by quadrature.
    second = gaussian_second_moment(1.0, 0.5, 0.0, 1.0)
    quad, _ = integrate.quad(
        lambda x: np.exp(2 * stats.norm.logpdf(x, 1, 0.5) - stats.norm.logpdf(x)), -20, 20
    )
    assert second == pytest.approx(quad, rel=1e-8)

    n = good_is.n
    assert 1.0 <= good_is.ess <= n
    # ESS/n = m1^2 / m2 with m_k the sample moments of w; delta-method s.e.
    w = np.exp(good_is.log_weights - np.log(3.0))
    m1, m2 = w.mean(), (w**2).mean()
    grad = np.array([2 * m1 / m2, -(m1**2) / m2**2])
    se = np.sqrt(grad @ np.cov(np.vstack([w, w**2])) @ grad / n)
    assert good_is.ess / n == pytest.approx(m1**2 / m2)
    assert abs(good_is.ess / n - 1 / second) / se < Z_MAX


def test_importance_worse_proposal_has_much_smaller_ess(good_is):
    bad = importance_sample(
        log_target(1.0, 0.5), normal_sampler(-2.0), stats.norm(-2.0, 1.0).logpdf, np.abs, 20_000, 1
    )
    assert 1.0 <= bad.ess <= 20_000
    assert bad.ess < 0.1 * good_is.ess  # closed forms: 0.0039 n vs 0.37 n


def test_importance_pareto_k(good_is):
    assert good_is.pareto_k < 0.5
    # Negative control: proposal N(0, 1) narrower than the target N(0, 5^2). The weights
    # have a Pareto tail with k = 1 - 1/25 = 0.96; k̂ is biased low at finite n (over 40
    # seeds its minimum was 0.78 at n = 100 000, but 0.55 at n = 20 000 for a N(0, 3^2) target).
    narrow = importance_sample(
        log_target(0.0, 5.0), normal_sampler(), stats.norm.logpdf, lambda x: x**2, 100_000, 2
    )
    assert narrow.pareto_k > 0.7


def test_importance_std_error_is_calibrated():
    # Over independent replications the z-scores must have unit spread (s.e. of sd ≈ 0.05).
    zs = []
    for seed in range(200):
        r = importance_sample(
            log_target(1.0, 0.5), normal_sampler(), stats.norm.logpdf, lambda x: x, 2_000, seed
        )
        zs.append((r.estimate - 1.0) / r.std_error)
    assert np.std(zs) == pytest.approx(1.0, abs=0.2)
    assert abs(np.mean(zs)) < Z_MAX / np.sqrt(200) + 0.1  # ratio-estimator bias is O(1/n)


def test_importance_vector_valued_f():
    r = importance_sample(
        log_target(1.0, 0.5),
        normal_sampler(),
        stats.norm.logpdf,
        lambda x: np.column_stack([x, x**2]),
        20_000,
        3,
    )
    truth = np.array([1.0, 1.0 + 0.25])
    assert r.estimate.shape == r.std_error.shape == r.psis_estimate.shape == (2,)
    assert np.all(np.abs(r.estimate - truth) / r.std_error < Z_MAX)


def test_importance_errors():
    ok = (log_target(1.0, 0.5), normal_sampler(), stats.norm.logpdf, lambda x: x)
    with pytest.raises(ValueError, match="at least 1"):
        importance_sample(*ok, n=0)
    with pytest.raises(ValueError, match=r"proposal_logpdf returned NaN at \d+ of 1000"):
        importance_sample(
            ok[0], ok[1], lambda x: np.where(x > 2, np.nan, stats.norm.logpdf(x)), ok[3], 1_000
        )
    with pytest.raises(ValueError, match="zero density where the target is positive"):
        importance_sample(
            BETA.logpdf, uniform_sampler(0, 0.5), stats.uniform(0, 0.5).logpdf, ok[3], 1_000
        )
    with pytest.raises(ValueError, match="zero at every one of the 1000 proposal draws"):
        importance_sample(
            stats.uniform(10, 1).logpdf, normal_sampler(), stats.norm.logpdf, ok[3], 1_000
        )
    with pytest.raises(ValueError, match="one value per draw"):
        importance_sample(*ok[:3], lambda x: 1.0, 1_000)
