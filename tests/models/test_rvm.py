"""Tests of the declarative ARD regression in ``models/rvm.py`` (course topic 4).

The hierarchical prior is checked against its known marginal (a Student-t, Tipping 2001,
eq. 6) and its log density against one written out by hand with scipy. NUTS on the
default sinc data must converge and give, in function space, the answer of the
independent type-II fit (:class:`inference.evidence.RVR`) to within RVR's own predictive
uncertainty; the same check against a fit to a shifted function must fail. The CSV reader
must refuse bad tables with one clear line.
"""

from __future__ import annotations

import arviz as az
import jax
import numpy as np
import pandas as pd
import pytest
from numpyro import handlers
from numpyro.infer import Predictive
from scipy import stats

from bayesmin import inference, models
from bayesmin.inference.bridge import from_numpyro
from bayesmin.inference.evidence import RVR
from bayesmin.models.base import DataError
from bayesmin.models.rvm import rbf_design, sinc

DRAWS, CHAINS = 500, 2
GRID = np.linspace(-10.0, 10.0, 200)[:, None]


@pytest.fixture(scope="module")
def spec():
    return models.get("ard_regression")


@pytest.fixture(scope="module")
def data(spec):
    return spec.simulate(0)


@pytest.fixture(scope="module")
def idata(data):
    # The one NUTS run of this module (seconds), shared by every check on it.
    return inference.sample(
        "ard_regression",
        "nuts",
        draws=DRAWS,
        tune=DRAWS,
        chains=CHAINS,
        seed=0,
        progress=False,
    )  # target_accept 0.9 from the model's sampler_defaults


@pytest.fixture(scope="module")
def rvr(data):
    return RVR(kernel="rbf", gamma=data["gamma"]).fit(data["x"], data["t"])


# ------------------------------------------------------------------------ data and prior


def test_simulate_is_tippings_sinc(spec, data):
    x, t, Phi = data["x"][:, 0], data["t"], data["Phi"]
    np.testing.assert_allclose(x, np.linspace(-10, 10, 51))
    assert Phi.shape == (51, 52)
    np.testing.assert_array_equal(Phi[:, 0], 1.0)
    # Column j + 1 is the Gaussian kernel centred on input j, width r = 3 (gamma = 1/9).
    np.testing.assert_allclose(Phi[:, 1:], np.exp(-((x[:, None] - x[None, :]) ** 2) / 9.0))
    assert data["gamma"] == pytest.approx(1 / 9)
    resid = t - sinc(x)
    assert 0.07 < resid.std() < 0.13  # noise sd 0.1
    # Same seed, same data; another seed, other noise.
    np.testing.assert_array_equal(spec.simulate(0)["t"], t)
    assert not np.array_equal(spec.simulate(1)["t"], t)


def test_kernels_are_shared_with_inference():
    from bayesmin.inference import evidence
    from bayesmin.models import kernels

    assert evidence.rbf_kernel is kernels.rbf_kernel
    assert evidence.linear_spline_kernel is kernels.linear_spline_kernel
    assert evidence.linear_kernel is kernels.linear_kernel


def test_log_density_equals_hand_written(spec, data):
    # The model's log density of the unconstrained point (log α, log β, z), written out
    # with scipy: priors, the log Jacobians of the two log transforms, the likelihood.
    ld = from_numpyro(spec.numpyro, data)
    a, b, c, d = (data[k] for k in "abcd")
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(size=ld.dim)
        u = {k: np.asarray(v) for k, v in ld.unravel(x).items()}
        alpha, beta, z = np.exp(u["alpha"]), np.exp(u["beta"]), u["z"]
        w = z / np.sqrt(alpha)
        expected = (
            stats.gamma.logpdf(alpha, a, scale=1 / b).sum()
            + u["alpha"].sum()
            + stats.gamma.logpdf(beta, c, scale=1 / d)
            + u["beta"]
            + stats.norm.logpdf(z).sum()
            + stats.norm.logpdf(data["t"], data["Phi"] @ w, 1 / np.sqrt(beta)).sum()
        )
        assert float(ld.logdensity(x)) == pytest.approx(float(expected), rel=1e-10)
        np.testing.assert_allclose(np.asarray(ld.constrain(x)["w"]), w, rtol=1e-10)


def test_prior_marginal_of_a_weight_is_student_t(spec, data):
    # Integrating α ~ Gamma(a, b) out of N(0, 1/α) gives a Student-t with 2a degrees of
    # freedom and scale sqrt(b/a) (Tipping 2001, eq. 6 and below).
    draws = Predictive(spec.numpyro, num_samples=2000)(jax.random.PRNGKey(0), **data)
    w = np.asarray(draws["w"]).ravel()  # 2000 × 52 independent draws
    a, b = data["a"], data["b"]
    assert stats.kstest(w, stats.t(2 * a, scale=np.sqrt(b / a)).cdf).pvalue > 0.01
    # Negative control: a Gaussian of the same scale (the non-hierarchical prior) fails.
    assert stats.kstest(w, stats.norm(scale=np.sqrt(b / a)).cdf).pvalue < 1e-6
    assert np.asarray(draws["t"]).shape == (2000, 51)


# ------------------------------------------------------------------- NUTS against RVR


@pytest.mark.slow
def test_nuts_converges(idata):
    n_draws = DRAWS * CHAINS
    # A few divergences at the sinc peak are expected (module docstring); many would
    # mean the non-centred form or the hyperpriors stopped working.
    assert int(idata.sample_stats["diverging"].sum()) <= 0.02 * n_draws
    summary = az.summary(idata, var_names=["w", "alpha", "beta"], kind="diagnostics")
    # 1.01 is the usual bar for long runs; two chains of 500 draws measure R-hat itself
    # with an error of about 0.01 (measured: 1.01-1.02 across seeds).
    assert summary["r_hat"].max() <= 1.03, summary["r_hat"].idxmax()
    # The deterministic is the non-centred map of the sampled variables.
    post = idata.posterior
    w, z, alpha = (post[k].values for k in ("w", "z", "alpha"))
    np.testing.assert_allclose(w, z / np.sqrt(alpha), rtol=1e-10)


def _nuts_function(idata, data) -> np.ndarray:
    w = idata.posterior["w"].values.reshape(-1, data["Phi"].shape[1])
    return rbf_design(GRID, data["x"], data["gamma"]) @ w.mean(axis=0)


@pytest.mark.slow
def test_nuts_function_agrees_with_rvr(idata, data, rvr):
    # Full Bayes averages over α where type-II ML plugs in its maximiser, and spreads the
    # peak's weight over neighbouring, nearly collinear basis functions; the *functions*
    # must still agree. Their difference is of the order of the posterior uncertainty of
    # f, which is below the predictive sd (noise included), and the Monte Carlo error of
    # the NUTS mean is a small fraction of that (posterior sd / sqrt(ESS)); so one RVR
    # predictive sd, pointwise, is the tolerance (measured: about half of it at worst).
    mean, sd = rvr.predict(GRID, return_std=True)
    gap = np.abs(_nuts_function(idata, data) - mean) / sd
    assert gap.max() < 1.0, gap.max()
    # The noise level agrees too: RVR's β lies inside NUTS's central 99 % interval.
    lo, hi = np.quantile(idata.posterior["beta"].values, [0.005, 0.995])
    assert lo < 1.0 / rvr.noise_variance_ < hi


@pytest.mark.slow
def test_function_check_catches_a_different_function(idata, data):
    # Negative control: the same check against RVR fitted to sinc shifted by 1 (same
    # inputs and noise) must fail, or agreement above proves nothing.
    x = data["x"][:, 0]
    t_shifted = sinc(x - 1.0) + (data["t"] - sinc(x))
    other = RVR(kernel="rbf", gamma=data["gamma"]).fit(data["x"], t_shifted)
    mean, sd = other.predict(GRID, return_std=True)
    assert (np.abs(_nuts_function(idata, data) - mean) / sd).max() > 1.0


# ------------------------------------------------------------------------ user tables


def _table(n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=n), rng.uniform(0, 10, size=n)
    return pd.DataFrame({"u": u, "v": v, "y": 3.0 + 2.0 * np.sin(u) + 0.1 * v})


def test_from_frame_builds_the_standardised_design(spec):
    df = _table()
    data = spec.from_frame(df, target="y")
    assert data["Phi"].shape == (30, 31)
    np.testing.assert_allclose(data["x"].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data["x"].std(axis=0), 1.0)
    np.testing.assert_allclose(data["t_mean"] + data["t_sd"] * data["t"], df["y"])
    assert data["gamma"] == pytest.approx(0.5)  # 1 / (two features)
    assert spec.from_frame(df, target="y", gamma=2.0, a=3.0)["a"] == 3.0
    # The NumPyro model takes the whole dict (extra keys included).
    trace = handlers.trace(handlers.seed(spec.numpyro, 0)).get_trace(**data)
    assert trace["w"]["value"].shape == (31,)


@pytest.mark.parametrize(
    ("df", "target", "match"),
    [
        (pd.DataFrame({"u": [], "y": []}), "y", "no rows"),
        (_table(), None, "needs a target column"),
        (_table(), "nope", "'nope' is not in the file"),
        (_table().assign(g=["a"] * 30), "y", "non-numeric feature column"),
        (_table().assign(u=[np.nan] + [1.0] * 29), "y", "'u' has 1 NaN"),
        (_table().assign(y=1.0), "y", "target column 'y' is constant"),
        (_table().assign(v=5.0), "y", "feature column 'v' is constant"),
        (_table()[["y"]], "y", "no feature columns"),
        (_table(n=1), "y", "at least two observations"),
        (_table(), "y", "gamma must be finite and > 0"),
    ],
)
def test_from_frame_refuses_bad_tables(spec, df, target, match):
    kwargs = {"gamma": -1.0} if match.startswith("gamma") else {}
    with pytest.raises(DataError, match=match) as err:
        spec.from_frame(df, target=target, **kwargs)
    assert "\n" not in str(err.value)
