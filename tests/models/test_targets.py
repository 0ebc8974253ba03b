"""Topic-5 targets: the mixture helpers against scipy, and the registered specs."""

import numpy as np
import pytest
from scipy import stats

from bayesmin import models
from bayesmin.models.base import DataError
from bayesmin.models.targets import NormalMixture, mixture_logpdf, mixture_moments, mixture_sample


def test_mixture_helpers_against_scipy_and_draws():
    data = models.get("bimodal_2d").simulate(0)
    w, locs, covs = data["weights"], data["locs"], data["covs"]
    x = np.random.default_rng(0).normal(size=(5, 2))
    by_hand = np.log(sum(wk * stats.multivariate_normal(m, c).pdf(x)
                         for wk, m, c in zip(w, locs, covs, strict=True)))  # fmt: skip
    np.testing.assert_allclose(mixture_logpdf(x, w, locs, covs), by_hand, rtol=1e-12)
    mean, cov = mixture_moments(w, locs, covs)
    draws = mixture_sample(np.random.default_rng(1), 40_000, w, locs, covs)
    se = np.sqrt(np.diag(cov) / len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4 * se)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), cov, atol=0.08)


def test_normal_mixture_is_scipy_like():
    p = NormalMixture([0.3, 0.7], [-1.0, 2.0], [0.5, 1.0])
    grid = np.linspace(-6, 8, 20_001)
    assert np.trapezoid(p.pdf(grid), grid) == pytest.approx(1.0, abs=1e-8)
    assert np.trapezoid(grid * p.pdf(grid), grid) == pytest.approx(p.mean(), abs=1e-8)
    assert p.cdf(p.ppf([0.1, 0.5, 0.9])) == pytest.approx([0.1, 0.5, 0.9], abs=1e-9)
    assert p.dist.name == "normal_mixture" and set(p.kwds) >= {"w0", "loc1", "scale1"}


def test_specs_and_exact_moments():
    assert {"bimodal", "bimodal_2d"} <= set(models.names(topic=5))
    spec = models.get("bimodal")
    data = spec.simulate(123, loc=3.0, scale=0.5, weight=0.25)  # the seed is ignored
    ref = spec.exact(data)["x"]
    assert float(ref.mean) == pytest.approx(0.25 * -3 + 0.75 * 3)
    assert float(ref.sd) == pytest.approx(np.sqrt(0.25 + 9 - ref.mean**2))
    assert ref.marginals[0].mean() == pytest.approx(float(ref.mean))
    ref2 = models.get("bimodal_2d").exact(models.get("bimodal_2d").simulate(0))["x"]
    assert ref2.cov.shape == (2, 2) and len(ref2.marginals) == 2
    with pytest.raises(DataError, match="weight must lie in"):
        spec.simulate(0, weight=1.5)
    with pytest.raises(DataError, match="rho must lie in"):
        models.get("bimodal_2d").simulate(0, rho=1.0)
