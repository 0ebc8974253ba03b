"""ADVI (mean-field and full-rank) against exact Gaussian posteriors."""

import numpy as np
import pytest

from bayesmin import inference, models
from bayesmin.diagnostics.kl import kl_mvn


def _fit(name, sampler, seed=0):
    spec = models.get(name)
    data = spec.simulate(0)
    idata = inference.sample(spec, sampler, data=data, draws=1000, chains=2, seed=seed,
                             progress=False)  # fmt: skip
    return spec, data, idata


@pytest.mark.parametrize("sampler", ["advi", "fullrank_advi"])
@pytest.mark.parametrize("name", ["linear_regression", "normal_normal"])
def test_advi_means_within_a_quarter_sd_of_the_exact_posterior(name, sampler):
    spec, data, idata = _fit(name, sampler)
    (var, exact), = spec.exact(data).items()  # fmt: skip
    draws = idata.posterior[var].values.reshape(-1, np.size(exact.mean))
    z = (draws.mean(axis=0) - np.ravel(exact.mean)) / np.ravel(exact.sd)
    assert np.abs(z).max() < 0.25, z
    assert idata.attrs["sampler"] == f"{sampler}:jax"  # the alias resolved
    elbo = np.asarray(idata.posterior.attrs["elbo"])
    # The ELBO climbs: the last 10% of steps sit well above the first 10%.
    tenth = len(elbo) // 10
    assert elbo[-tenth:].mean() > elbo[:tenth].mean()


def test_full_rank_q_is_close_in_kl_to_the_exact_gaussian_posterior():
    spec, data, idata = _fit("linear_regression", "fullrank_advi")
    exact = spec.exact(data)["w"]
    m = np.asarray(idata.posterior.attrs["vi_mean"])
    L = np.asarray(idata.posterior.attrs["vi_scale_tril"]).reshape(m.size, m.size)
    kl = kl_mvn(m, L @ L.T, exact.mean, exact.cov)
    assert 0 <= kl < 0.05
    # Negative control: the same q against a posterior with twice the sd is far.
    assert kl_mvn(m, L @ L.T, exact.mean, 4 * exact.cov) > 10 * kl + 0.5


@pytest.mark.slow
def test_mean_field_underestimates_correlated_variances_and_full_rank_does_not():
    # Reverse KL with a factorised q: the right means, too-small variances (for an
    # equicorrelated Gaussian with rho = 0.9 in 5-d, sd ratio sqrt(0.124) ≈ 0.35).
    sds = {}
    for sampler in ("advi", "fullrank_advi"):
        _, data, idata = _fit("correlated_gaussian", sampler)
        draws = idata.posterior["x"].values.reshape(-1, 5)
        truth = np.sqrt(np.diag(data["cov"]))
        assert np.abs(draws.mean(axis=0) / truth).max() < 0.25  # means near 0 in sd units
        sds[sampler] = draws.std(axis=0) / truth
    assert np.all(sds["advi"] < 0.5)
    assert np.all(np.abs(sds["fullrank_advi"] - 1) < 0.15)


@pytest.mark.parametrize("sampler", ["advi:pymc", "advi:numpyro", "fullrank_advi:numpyro"])
def test_library_anchors_fit_the_normal_normal_posterior(sampler):
    # PyMC's pm.fit and NumPyro's SVI auto-guides behind the same spelling scheme.
    spec, data, idata = _fit("normal_normal", sampler)
    exact = spec.exact(data)["mu"]
    draws = idata.posterior["mu"].values.ravel()
    assert abs(draws.mean() - exact.mean) / exact.sd < 0.25
    assert 0.7 < draws.std() / exact.sd < 1.4
    assert np.isfinite(np.asarray(idata.posterior.attrs["elbo"])[-1])
