"""KL(q ‖ exact) of ADVI fits: closed form against Monte Carlo, and against quadrature
in the constrained space for the log-normal and logit-normal q (tier 4)."""

import functools

import numpy as np
import pytest
from scipy import special, stats

from bayesmin import inference, models
from bayesmin.diagnostics.kl import kl_q_exact, kl_quadrature


@functools.cache
def _fit(name, sampler="fullrank_advi"):
    return inference.sample(name, sampler, draws=200, tune=200, chains=1, progress=False)


def _q(idata):
    m = float(np.ravel(idata.posterior.attrs["vi_mean"])[0])
    s = float(np.ravel(idata.posterior.attrs["vi_scale_tril"])[0])
    return m, s


@pytest.mark.parametrize("name", ["normal_normal", "linear_regression"])
def test_closed_form_matches_monte_carlo(name):
    idata = _fit(name)
    closed = kl_q_exact(idata, name)
    assert closed.n == 0 and closed.se == 0 and 0 <= closed.value < 0.1
    mc = kl_q_exact(idata, name, method="monte_carlo", n=20_000)
    assert abs(mc.z(closed.value)) < 4


@pytest.mark.slow
def test_log_normal_and_logit_normal_q_match_quadrature():
    # gamma_poisson: λ = exp(ζ), q(λ) is log-normal.
    spec = models.get("gamma_poisson")
    exact = spec.exact(spec.simulate(0))["lam"].marginals[0]
    m, s = _q(_fit("gamma_poisson"))
    q = stats.lognorm(s, scale=np.exp(m))
    grid = np.linspace(q.ppf(1e-12), q.ppf(1 - 1e-12), 40_001)
    truth = kl_quadrature(q.logpdf(grid), exact.logpdf(grid), grid)
    assert abs(kl_q_exact(_fit("gamma_poisson"), spec).z(truth)) < 4
    # beta_binomial: θ = logistic(ζ), q(θ) = N(logit θ; m, s²) / (θ(1 − θ)).
    spec = models.get("beta_binomial")
    exact = spec.exact(spec.simulate(0))["theta"].marginals[0]
    m, s = _q(_fit("beta_binomial"))
    z = np.linspace(m - 12 * s, m + 12 * s, 40_001)
    theta = special.expit(z)
    # In ζ-space: KL is invariant, p_ζ(ζ) = p(θ(ζ)) θ(1 − θ).
    truth = kl_quadrature(stats.norm.logpdf(z, m, s),
                          exact.logpdf(theta) + np.log(theta * (1 - theta)), z)  # fmt: skip
    assert abs(kl_q_exact(_fit("beta_binomial"), spec).z(truth)) < 4


@pytest.mark.parametrize("name", ["normal_normal", "gamma_poisson"])
def test_a_shifted_or_narrowed_q_has_a_clearly_larger_kl(name):
    # Negative control: the check must see a wrong q.
    idata = _fit(name)
    good = kl_q_exact(idata, name).value
    m, s = _q(idata)
    for mean, sd in ((m + 2 * s, s), (m, s / 3)):
        bad = idata.copy()
        bad.posterior.attrs["vi_mean"] = np.array([mean])
        bad.posterior.attrs["vi_scale_tril"] = np.array([sd])
        assert kl_q_exact(bad, name).value > good + 0.5


def test_refusals_name_the_problem():
    nuts = inference.sample("normal_normal", "nuts:pymc", draws=50, tune=50, chains=1,
                            progress=False, cores=1)  # fmt: skip
    with pytest.raises(ValueError, match="no vi_mean"):
        kl_q_exact(nuts, "normal_normal")
    with pytest.raises(ValueError, match="not Gaussian in q's space"):
        kl_q_exact(_fit("gamma_poisson"), "gamma_poisson", method="closed")
