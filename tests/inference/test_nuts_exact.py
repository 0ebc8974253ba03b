"""Every NUTS backend against exact posteriors (tier 2), with a negative control."""

from __future__ import annotations

import pytest

from bayesmin import diagnostics, models

BACKENDS = ["nuts:numpyro", "nuts:pymc", "nuts:nutpie", "nuts:blackjax"]
EXACT_MODELS = ["beta_binomial", "gamma_poisson", "normal_normal", "linear_regression"]


@pytest.mark.slow
@pytest.mark.parametrize("sampler", BACKENDS)
@pytest.mark.parametrize("model", EXACT_MODELS)
def test_backend_matches_exact_posterior(run_cache, model, sampler):
    spec = models.get(model)
    idata = run_cache(model, sampler)
    z = diagnostics.z_scores(idata, spec.exact(spec.simulate(0)))
    assert len(z) > 0
    worst = z.loc[z.z.abs().idxmax()]
    assert abs(worst.z) < 4, f"{sampler} on {model}: {worst.to_dict()}"


@pytest.mark.slow
def test_unknown_noise_regression_matches_normal_gamma(run_cache):
    spec = models.get("linear_regression_unknown_noise")
    idata = run_cache(spec.name, "nuts:numpyro")
    z = diagnostics.z_scores(idata, spec.exact(spec.simulate(0)))
    assert set(z.parameter) == {"beta", "w[0]", "w[1]", "w[2]"}
    assert z.z.abs().max() < 4


@pytest.mark.parametrize("sampler", ["nuts:numpyro", "nuts:pymc"])
def test_negative_control_wrong_posterior_fails(run_cache, sampler):
    # Same data, but the model believes the noise is half as large: the posterior it
    # samples is too narrow and shifted towards the data mean. The check must see it.
    spec = models.get("normal_normal")
    data = spec.simulate(0)
    wrong = {**data, "sigma": data["sigma"] / 2}
    idata = run_cache(spec, sampler, data=wrong, key="normal_normal/wrong-sigma")
    z = diagnostics.z_scores(idata, spec.exact(data))
    assert z.z.abs().max() > 4
