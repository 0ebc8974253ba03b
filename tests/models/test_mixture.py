"""The declarative Gaussian mixture: both programs sampled by NUTS agree with EM."""

import arviz as az
import numpy as np
import pandas as pd
import pytest

from bayesmin import inference, models
from bayesmin.inference.em import GaussianMixture
from bayesmin.models.mixture import from_frame, mixture_data


@pytest.fixture(scope="module")
def data():
    return models.get("gaussian_mixture").simulate(0, n=120, k=3, d=2)


@pytest.fixture(scope="module")
def em_diag(data):
    # The declarative model has diagonal covariances; sort EM's components the same way.
    fit = GaussianMixture(3, covariance_type="diag", n_init=3, random_state=0).fit(data["X"])
    order = np.argsort(fit.means_[:, 0])
    return fit.means_[order], fit.weights_[order]


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["nuts", "nuts:pymc"])
def test_nuts_on_the_declarative_mixture_agrees_with_em(data, em_diag, sampler):
    idata = inference.sample("gaussian_mixture", sampler, data=data, draws=300, tune=300,
                             chains=2, seed=1, progress=False)  # fmt: skip
    # Label switching is broken by the ordering: the chains agree on every component.
    assert float(az.rhat(idata, var_names=["locs"])["locs"].max()) < 1.05
    post = idata.posterior
    mean = post["locs"].mean(("chain", "draw")).values
    sd = post["locs"].std(("chain", "draw")).values
    em_means, em_weights = em_diag
    # With n = 120 the posterior mean sits within a few posterior sds of the MLE.
    z = np.abs(mean - em_means) / sd
    assert z.max() < 4, z
    # Negative control: the same check against EM's components in another order fails.
    swapped = em_means[[1, 0, 2]]
    assert (np.abs(mean - swapped) / sd).max() > 4
    w = post["weights"].mean(("chain", "draw")).values
    assert np.abs(w - em_weights).max() < 0.1


def test_em_estimates_are_sorted_tables(data):
    from bayesmin.reports.fitting import EM_FITS

    est = EM_FITS["gaussian_mixture"](data)
    comps = est["summary"]
    assert list(comps["component"]) == [0, 1, 2]
    assert np.all(np.diff(comps["mean[0]"]) > 0)
    assert comps["weight"].sum() == pytest.approx(1.0)
    assert len(est["assignments"]) == len(data["X"])
    assert est["info"]["converged"]


@pytest.mark.parametrize(
    ("frame", "k", "needle"),
    [
        (pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.0, 2.0, 4.0]}), 2, "NaN"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}), 2, "not numeric"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0]}), 2, "constant"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), 5, "exceeds the 3 observations"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), 1.5, "whole number"),
        (pd.DataFrame({"a": []}), 2, "no rows"),
    ],
)
def test_bad_mixture_data_is_named(frame, k, needle):
    with pytest.raises(models.DataError, match=needle):
        from_frame(frame, k=k)


def test_one_feature_is_a_column():
    assert mixture_data(np.arange(5.0), k=2)["X"].shape == (5, 1)
