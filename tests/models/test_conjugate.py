"""Tests of the conjugate pairs in ``models/conjugate.py`` (course topic 3).

The closed-form posteriors are checked against an independent computation: prior times
likelihood on a fine grid (scipy's own log densities), normalised by numerical
integration. This is deterministic numerics, not Monte Carlo, so the tolerances are
tight; a deliberately wrong update must fail the same check. The sequential-update
invariant, the posterior predictives (against numerical integration over θ), the PyMC
and NumPyro programs (same names, same log density) and the CSV reader's errors follow.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density
from scipy import integrate, special, stats

from bayesmin import models
from bayesmin.models.base import DataError
from bayesmin.models.conjugate import (
    beta_binomial_data,
    beta_binomial_predictive,
    beta_binomial_update,
    gamma_poisson_predictive,
    gamma_poisson_update,
    normal_normal_predictive,
    normal_normal_update,
)

NAMES = ("beta_binomial", "gamma_poisson", "normal_normal")

# Small hand-made data sets where the prior still matters (a wrong prior term would
# show), besides the simulated ones.
BB_SMALL = {"successes": np.array([3, 0, 5]), "trials": np.array([4, 2, 9]), "a": 2.5, "b": 1.5}
GP_SMALL = {"counts": np.array([0, 3, 1]), "a": 1.5, "b": 0.7}
NN_SMALL = {"y": np.array([0.4, -1.2, 2.5]), "sigma": 1.3, "mu0": 0.8, "tau0": 0.6}


# ------------------------------------------------------------------ grid posteriors


def _grid_moments(grid, log_unnorm, points):
    """Mean, sd and density at ``points`` of the posterior ∝ exp(log_unnorm) on ``grid``."""
    log_grid = log_unnorm(grid)
    # Subtract the max before exponentiating: the log likelihood is far below zero.
    top = log_grid.max()
    z = integrate.simpson(np.exp(log_grid - top), x=grid)
    dens = np.exp(log_grid - top) / z
    mean = integrate.simpson(grid * dens, x=grid)
    var = integrate.simpson((grid - mean) ** 2 * dens, x=grid)
    # The density at the points from the same normaliser, not by interpolation.
    return mean, np.sqrt(var), np.exp(log_unnorm(np.asarray(points, float)) - top) / z


def _bb_grid(data, points):
    def log_post(th):
        out = stats.beta(data["a"], data["b"]).logpdf(th)
        for k, n in zip(data["successes"], data["trials"], strict=True):
            out = out + stats.binom.logpmf(k, n, th)
        return out

    # Open interval: the Beta log pdf is -inf/nan at the ends for some a, b.
    return _grid_moments(np.linspace(1e-7, 1 - 1e-7, 50_001), log_post, points)


def _gp_grid(data, points):
    def log_post(lam):
        out = stats.gamma(data["a"], scale=1.0 / data["b"]).logpdf(lam)
        for y in data["counts"]:
            out = out + stats.poisson.logpmf(y, lam)
        return out

    return _grid_moments(np.linspace(1e-7, 60.0, 50_001), log_post, points)


def _nn_grid(data, points):
    def log_post(mu):
        out = stats.norm(data["mu0"], data["tau0"]).logpdf(mu)
        for y in data["y"]:
            out = out + stats.norm.logpdf(y, mu, data["sigma"])
        return out

    return _grid_moments(np.linspace(-25.0, 25.0, 50_001), log_post, points)


GRID = {
    "beta_binomial": ("theta", _bb_grid),
    "gamma_poisson": ("lam", _gp_grid),
    "normal_normal": ("mu", _nn_grid),
}
SMALL = {"beta_binomial": BB_SMALL, "gamma_poisson": GP_SMALL, "normal_normal": NN_SMALL}


@pytest.mark.parametrize("source", ["small", "simulated"])
@pytest.mark.parametrize("name", NAMES)
def test_closed_form_posterior_equals_grid_posterior(name, source):
    spec = models.get(name)
    data = SMALL[name] if source == "small" else spec.simulate(seed=3)
    param, grid_fn = GRID[name]
    exact = spec.exact(data)[param]
    post = exact.marginals[0]
    # Density checked at posterior deciles and quartiles, away from the grid's ends.
    points = post.ppf([0.1, 0.25, 0.5, 0.75, 0.9])
    mean, sd, dens = grid_fn(data, points)
    # Simpson's rule on 50k points of a smooth density is good to ~1e-13 here; 1e-9
    # leaves room for other scipy builds while still pinning every digit that matters.
    assert float(exact.mean) == pytest.approx(mean, rel=1e-9)
    assert float(exact.sd) == pytest.approx(sd, rel=1e-9)
    np.testing.assert_allclose(post.pdf(points), dens, rtol=1e-9)
    # The marginal and the moments describe the same distribution.
    assert post.mean() == pytest.approx(float(exact.mean), rel=1e-12)
    assert post.std() == pytest.approx(float(exact.sd), rel=1e-12)


def test_grid_check_rejects_a_wrong_gamma_update():
    # Negative control: the course's one-observation update Gamma(a + y, b + 1), applied
    # to N > 1 counts at once, is wrong; the grid check above must notice.
    data = models.get("gamma_poisson").simulate(seed=3)
    a_n = data["a"] + data["counts"].sum()
    wrong = stats.gamma(a_n, scale=1.0 / (data["b"] + 1.0))
    mean, sd, _ = _gp_grid(data, [1.0])
    assert wrong.mean() != pytest.approx(mean, rel=1e-3)
    assert wrong.std() != pytest.approx(sd, rel=1e-3)
    # ... and so does a Beta update that forgets the prior.
    k, n = BB_SMALL["successes"], BB_SMALL["trials"]
    forgot_prior = stats.beta(1 + k.sum(), 1 + (n - k).sum())
    mean, sd, _ = _bb_grid(BB_SMALL, [0.5])
    assert forgot_prior.mean() != pytest.approx(mean, rel=1e-3)


def test_update_functions_match_the_table_formulas():
    # Tier 1: the formulas in the module docstring, with numbers worked by hand.
    # Beta(2.5, 1.5), k = 3 + 0 + 5 = 8 of n = 15: Beta(10.5, 1.5 + 7).
    assert beta_binomial_update(2.5, 1.5, [3, 0, 5], [4, 2, 9]) == (10.5, 8.5)
    # Gamma(1.5, 0.7), Σy = 4 over N = 3 counts: Gamma(5.5, 3.7).
    assert gamma_poisson_update(1.5, 0.7, [0, 3, 1]) == pytest.approx((5.5, 3.7))
    # N(0, 1) prior, σ = 1, y = (2, 4): precision 1 + 2 = 3, mean (0 + 6) / 3 = 2.
    mu_n, tau_n = normal_normal_update(0.0, 1.0, 1.0, [2.0, 4.0])
    assert (mu_n, tau_n) == pytest.approx((2.0, np.sqrt(1 / 3)))


# ---------------------------------------------------------------- sequential = batch


def _splits(n):
    # One piece, two uneven pieces, and one observation at a time.
    return [[np.arange(n)], np.array_split(np.arange(n), [n // 3]), np.array_split(np.arange(n), n)]


@pytest.mark.parametrize("pieces", range(3))
def test_beta_binomial_sequential_updates_equal_batch(pieces):
    data = models.get("beta_binomial").simulate(seed=5, n=12)
    k, n = data["successes"], data["trials"]
    batch = beta_binomial_update(data["a"], data["b"], k, n)
    a, b = data["a"], data["b"]
    for idx in _splits(k.size)[pieces]:
        a, b = beta_binomial_update(a, b, k[idx], n[idx])
    assert (a, b) == pytest.approx(batch, rel=1e-12)


@pytest.mark.parametrize("pieces", range(3))
def test_gamma_poisson_sequential_updates_equal_batch(pieces):
    data = models.get("gamma_poisson").simulate(seed=5, n=12)
    y = data["counts"]
    batch = gamma_poisson_update(data["a"], data["b"], y)
    a, b = data["a"], data["b"]
    for idx in _splits(y.size)[pieces]:
        a, b = gamma_poisson_update(a, b, y[idx])
    assert (a, b) == pytest.approx(batch, rel=1e-12)
    # One count at a time is exactly the course's Gamma(α + x, β + 1) rule.
    if pieces == 2:
        assert b == pytest.approx(data["b"] + y.size, rel=1e-12)


@pytest.mark.parametrize("pieces", range(3))
def test_normal_normal_sequential_updates_equal_batch(pieces):
    data = models.get("normal_normal").simulate(seed=5, n=12)
    y = data["y"]
    batch = normal_normal_update(data["mu0"], data["tau0"], data["sigma"], y)
    mu, tau = data["mu0"], data["tau0"]
    for idx in _splits(y.size)[pieces]:
        mu, tau = normal_normal_update(mu, tau, data["sigma"], y[idx])
    assert (mu, tau) == pytest.approx(batch, rel=1e-12)


# ---------------------------------------------------------------- posterior predictive


def test_beta_binomial_predictive_equals_integral_over_theta():
    a, b = beta_binomial_update(**{k: BB_SMALL[k] for k in ("a", "b", "successes", "trials")})
    post = stats.beta(a, b)
    n_new = 6
    pred = beta_binomial_predictive(a, b, n_new)
    for k in (0, 2, 5, 6):
        integral, _ = integrate.quad(
            lambda th, k=k: stats.binom.pmf(k, n_new, th) * post.pdf(th), 0, 1, epsabs=1e-13
        )
        assert pred.pmf(k) == pytest.approx(integral, rel=1e-8)
    assert pred.pmf(np.arange(n_new + 1)).sum() == pytest.approx(1.0, abs=1e-12)


def test_gamma_poisson_predictive_equals_integral_over_lambda():
    a, b = gamma_poisson_update(GP_SMALL["a"], GP_SMALL["b"], GP_SMALL["counts"])
    post = stats.gamma(a, scale=1.0 / b)
    pred = gamma_poisson_predictive(a, b)
    for y in (0, 1, 4, 9):
        integral, _ = integrate.quad(
            lambda lam, y=y: stats.poisson.pmf(y, lam) * post.pdf(lam), 0, np.inf, epsabs=1e-13
        )
        assert pred.pmf(y) == pytest.approx(integral, rel=1e-8)
    # Mean a/b (= E λ) and variance a/b + a/b² (Poisson noise plus the spread of λ).
    assert pred.mean() == pytest.approx(a / b, rel=1e-12)
    assert pred.var() == pytest.approx(a / b + a / b**2, rel=1e-12)


def test_normal_normal_predictive_equals_integral_over_mu():
    d = NN_SMALL
    mu_n, tau_n = normal_normal_update(d["mu0"], d["tau0"], d["sigma"], d["y"])
    post = stats.norm(mu_n, tau_n)
    pred = normal_normal_predictive(mu_n, tau_n, d["sigma"])
    for x in (-2.0, 0.3, 1.0, 4.0):
        integral, _ = integrate.quad(
            lambda mu, x=x: stats.norm.pdf(x, mu, d["sigma"]) * post.pdf(mu),
            -np.inf,
            np.inf,
            epsabs=1e-13,
        )
        assert pred.pdf(x) == pytest.approx(integral, rel=1e-8)


def test_predictive_check_rejects_plugging_in_the_posterior_mean():
    # Negative control: the plug-in Poisson(E λ) ignores the spread of λ and is not the
    # predictive; the same integral must tell them apart.
    a, b = gamma_poisson_update(GP_SMALL["a"], GP_SMALL["b"], GP_SMALL["counts"])
    post = stats.gamma(a, scale=1.0 / b)
    integral, _ = integrate.quad(lambda lam: stats.poisson.pmf(0, lam) * post.pdf(lam), 0, np.inf)
    assert stats.poisson.pmf(0, a / b) != pytest.approx(integral, rel=1e-3)


# ---------------------------------------------------------------- registered specs


def _same(d1, d2):
    return d1.keys() == d2.keys() and all(np.array_equal(d1[k], d2[k]) for k in d1)


@pytest.mark.parametrize("name", NAMES)
def test_simulate_is_reproducible_by_seed(name):
    spec = models.get(name)
    assert _same(spec.simulate(seed=7), spec.simulate(seed=7))
    assert not _same(spec.simulate(seed=7), spec.simulate(seed=8))


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_registered_under_topic_3(name):
    spec = models.get(name)
    assert spec.name == name and spec.topic == 3
    assert name in models.names(topic=3)


# Points in the constrained space, and the map to PyMC's unconstrained value variable
# with log |dθ/dz| (the Jacobian PyMC adds when jacobian=True).
LOGP_POINTS = {
    "beta_binomial": (
        [0.1, 0.3, 0.72],
        "theta_logodds__",
        special.logit,
        lambda th: np.log(th * (1 - th)),
    ),
    "gamma_poisson": ([0.8, 4.0, 9.5], "lam_log__", np.log, np.log),
    "normal_normal": ([-1.0, 0.5, 2.2], "mu", lambda mu: mu, lambda mu: 0.0 * mu),
}


@pytest.fixture(scope="module")
def compiled():
    """Data, PyMC model and its log density without and with the Jacobian: compile once."""
    out = {}
    for name in NAMES:
        spec = models.get(name)
        data = spec.simulate(seed=0)
        model = spec.pymc(data)
        # One compiled function with both outputs is much cheaper than two compile_logp.
        both = model.compile_fn([model.logp(jacobian=False), model.logp(jacobian=True)])
        out[name] = (spec, data, model, both)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_pymc_and_numpyro_programs_use_the_spec_params(name, compiled):
    spec, data, model, *_ = compiled[name]
    assert tuple(rv.name for rv in model.free_RVs) == spec.params
    _, trace = log_density(spec.numpyro, (), data, {spec.params[0]: 0.5})
    free = tuple(
        k for k, site in trace.items() if site["type"] == "sample" and not site["is_observed"]
    )
    assert free == spec.params


@pytest.mark.parametrize("name", NAMES)
def test_pymc_and_numpyro_log_densities_agree(name, compiled):
    spec, data, model, both = compiled[name]
    values, value_var, to_unconstrained, log_jac = LOGP_POINTS[name]
    assert [v.name for v in model.value_vars] == [value_var]
    for v in values:
        z = np.asarray(to_unconstrained(v), dtype=float)
        pymc_lp, pymc_lp_jac = (float(x) for x in both({value_var: z}))
        numpyro_lp = float(log_density(spec.numpyro, (), data, {spec.params[0]: v})[0])
        # NumPyro runs in float32: its log density is good to ~1e-7 relative.
        assert numpyro_lp == pytest.approx(pymc_lp, rel=1e-5)
        # With the Jacobian PyMC's density is of z, not θ: it differs by log |dθ/dz|, which
        # is what a sampler in unconstrained space must add to NumPyro's density.
        assert pymc_lp_jac == pytest.approx(pymc_lp + log_jac(v), rel=1e-10)
    # Both programs are normalised densities: compare with scipy's at one point.
    v = values[1]
    if name == "beta_binomial":
        ref = (
            stats.beta(data["a"], data["b"]).logpdf(v)
            + stats.binom.logpmf(data["successes"], data["trials"], v).sum()
        )
    elif name == "gamma_poisson":
        ref = stats.gamma(data["a"], scale=1 / data["b"]).logpdf(v)
        ref += stats.poisson.logpmf(data["counts"], v).sum()
    else:
        ref = stats.norm(data["mu0"], data["tau0"]).logpdf(v)
        ref += stats.norm.logpdf(data["y"], v, data["sigma"]).sum()
    # (PyMC's log-gamma based binomial coefficient differs from scipy's at ~1e-9.)
    pymc_lp = float(both({value_var: np.asarray(to_unconstrained(v), dtype=float)})[0])
    assert pymc_lp == pytest.approx(ref, rel=1e-8)


# ---------------------------------------------------------------- user tables


def _error(call) -> str:
    with pytest.raises(DataError) as info:
        call()
    msg = str(info.value)
    # The CLI prints the message as it is: one line, no traceback.
    assert msg and "\n" not in msg
    return msg


def test_beta_binomial_from_a_column_of_outcomes():
    df = pd.DataFrame({"clicked": [1, 0, 0, 1, 1, 0, 1]})
    data = models.get("beta_binomial").from_frame(df, a=2.0, b=3.0)
    np.testing.assert_array_equal(data["successes"], [1, 0, 0, 1, 1, 0, 1])
    np.testing.assert_array_equal(data["trials"], np.ones(7))
    assert (data["a"], data["b"]) == (2.0, 3.0)
    # Bernoulli rows give the same posterior as one Binomial(7) row with 4 successes.
    exact = models.get("beta_binomial").exact(data)["theta"]
    assert float(exact.mean) == pytest.approx((2 + 4) / (2 + 3 + 7))


def test_beta_binomial_from_successes_and_trials_columns():
    df = pd.DataFrame({"successes": [3, 0, 5], "trials": [4, 2, 9], "note": ["a", "b", "c"]})
    data = models.get("beta_binomial").from_frame(df)
    np.testing.assert_array_equal(data["successes"], [3, 0, 5])
    np.testing.assert_array_equal(data["trials"], [4, 2, 9])
    assert data["successes"].dtype.kind == "i"
    assert (data["a"], data["b"]) == (1.0, 1.0)
    # column= picks a 0/1 column even when successes/trials are present.
    df["won"] = [1, 0, 1]
    assert models.get("beta_binomial").from_frame(df, column="won")["trials"].tolist() == [1] * 3


def test_gamma_poisson_and_normal_normal_read_the_named_column():
    df = pd.DataFrame({"calls": [2, 0, 5, 3], "temp": [20.5, 21.0, -3.25, 18.0]})
    counts = models.get("gamma_poisson").from_frame(df, column="calls", a=3.0, b=0.5)
    np.testing.assert_array_equal(counts["counts"], [2, 0, 5, 3])
    assert (counts["a"], counts["b"]) == (3.0, 0.5)
    y = models.get("normal_normal").from_frame(df, column="temp", sigma=2.0, mu0=15, tau0=5.0)
    np.testing.assert_array_equal(y["y"], [20.5, 21.0, -3.25, 18.0])
    assert (y["sigma"], y["mu0"], y["tau0"]) == (2.0, 15.0, 5.0)
    # A single column needs no column=; whole-number floats (a CSV column written as
    # 1.0, 4.0) are accepted as counts.
    one = models.get("gamma_poisson").from_frame(pd.DataFrame({"n": [1.0, 4.0]}))
    np.testing.assert_array_equal(one["counts"], [1, 4])


ONE = pd.DataFrame({"y": [1, 2, 3]})

FRAME_ERRORS = [
    ("gamma_poisson", pd.DataFrame({"y": [1, -2, 3]}), {}, "must be >= 0"),
    ("gamma_poisson", pd.DataFrame({"y": [1, 2.5, 3]}), {}, "whole numbers"),
    ("gamma_poisson", pd.DataFrame({"y": [1.0, np.nan, 3.0]}), {}, "NaN/inf"),
    ("gamma_poisson", pd.DataFrame({"y": [1.0, np.inf]}), {}, "NaN/inf"),
    ("gamma_poisson", pd.DataFrame({"y": pd.Series([], dtype=float)}), {}, "no rows"),
    # A header-only CSV: pandas reads its column as object dtype, so "no rows" must be
    # reported before "not numeric".
    ("gamma_poisson", pd.read_csv(io.StringIO("y\n")), {}, "no rows"),
    ("normal_normal", pd.read_csv(io.StringIO("y\n")), {}, "no rows"),
    ("beta_binomial", pd.read_csv(io.StringIO("won\n")), {}, "no rows"),
    ("gamma_poisson", ONE, {"column": "x"}, "'x' is not in the file"),
    ("gamma_poisson", pd.DataFrame({"y": ["a", "b"]}), {}, "not numeric"),
    ("normal_normal", pd.DataFrame({"y": [1.0], "z": [2.0]}), {}, "--column"),
    ("normal_normal", pd.DataFrame({"y": [1.0, np.nan]}), {}, "NaN/inf"),
    ("normal_normal", ONE, {"column": "nope"}, "'nope' is not in the file"),
    ("beta_binomial", pd.DataFrame({"won": [0, 1, 2]}), {}, "0/1"),
    ("beta_binomial", pd.DataFrame({"won": [0, 1, -1]}), {}, "must be >= 0"),
    ("beta_binomial", pd.DataFrame({"won": [0, 1], "lost": [1, 0]}), {}, "--column"),
    ("beta_binomial", pd.DataFrame({"successes": [3, 5], "trials": [4, 4]}), {}, "exceed trials"),
    ("beta_binomial", pd.DataFrame({"successes": [1, -1], "trials": [4, 4]}), {}, ">= 0"),
    ("beta_binomial", pd.DataFrame({"successes": [1, 2], "trials": [4, 4.5]}), {}, "whole"),
    ("beta_binomial", pd.DataFrame({"successes": [1, 2], "trials": [4, np.nan]}), {}, "NaN/inf"),
    ("beta_binomial", pd.DataFrame({"won": pd.Series([], dtype=float)}), {}, "no rows"),
    ("beta_binomial", pd.DataFrame({"successes": [], "trials": []}), {}, "successes is empty"),
    ("beta_binomial", ONE.clip(upper=1), {"a": 0}, "a must be finite and > 0"),
    ("beta_binomial", ONE.clip(upper=1), {"b": -1}, "b must be finite and > 0"),
    ("beta_binomial", ONE.clip(upper=1), {"a": np.nan}, "a must be finite and > 0"),
    ("beta_binomial", ONE.clip(upper=1), {"a": "one"}, "a must be a number"),
    ("gamma_poisson", ONE, {"a": 0}, "a must be finite and > 0"),
    ("gamma_poisson", ONE, {"b": -1}, "b must be finite and > 0"),
    ("normal_normal", ONE, {"sigma": 0}, "sigma must be finite and > 0"),
    ("normal_normal", ONE, {"tau0": np.nan}, "tau0 must be finite and > 0"),
    ("normal_normal", ONE, {"tau0": -2.0}, "tau0 must be finite and > 0"),
    ("normal_normal", ONE, {"mu0": "zero"}, "mu0 must be a number"),
    ("normal_normal", ONE, {"mu0": np.inf}, "mu0 must be finite"),
]


@pytest.mark.parametrize(
    ("name", "df", "options", "fragment"),
    FRAME_ERRORS,
    ids=[f"{n}-{frag}-{i}" for i, (n, _, _, frag) in enumerate(FRAME_ERRORS)],
)
def test_from_frame_rejects_bad_tables_with_one_line(name, df, options, fragment):
    msg = _error(lambda: models.get(name).from_frame(df, **options))
    assert fragment in msg


def test_error_messages_name_the_columns_and_the_counts():
    msg = _error(lambda: models.get("normal_normal").from_frame(pd.DataFrame({"a": [1], "b": [2]})))
    assert "has 2 (a, b)" in msg
    msg = _error(lambda: models.get("gamma_poisson").from_frame(ONE, column="x"))
    assert "columns: y" in msg
    df = pd.DataFrame({"successes": [1, 7, 9], "trials": [4, 4, 4]})
    msg = _error(lambda: models.get("beta_binomial").from_frame(df))
    assert "2 row(s)" in msg and "row 1" in msg and "7 > 4" in msg
    msg = _error(lambda: models.get("beta_binomial").from_frame(pd.DataFrame({"w": [0, 3, 1]})))
    assert "values up to 3" in msg and "'successes' and 'trials'" in msg


def test_beta_binomial_data_rejects_trials_of_another_length():
    # From Python, not a CSV: a trials list that does not match the successes.
    msg = _error(lambda: beta_binomial_data([1, 2, 3], [4, 5]))
    assert "trials" in msg
    # A scalar number of trials is broadcast to every observation.
    assert beta_binomial_data([1, 2, 3], 5)["trials"].tolist() == [5, 5, 5]
