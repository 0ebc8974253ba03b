"""Tests of Bayesian linear regression in ``models/linear_regression.py`` (course topic 1).

Each closed form is checked against an independent implementation: scikit-learn for the
MLE and the ridge MAP, PyMC's optimiser on the declarative model for the MAP, the
conditional of the joint Gaussian of (w, t) for the posterior and the predictive, scipy's
multivariate normal for the evidence, and a 2-D grid integration for the Normal–Gamma
(unknown noise) posterior. Wrong variants (λ = β/α, a_N = a0 + N) must fail the same
checks. The polynomial sweep must show the course's overfitting story, and the CSV reader
must refuse bad tables with one clear line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import integrate, stats
from sklearn.linear_model import LinearRegression, Ridge

from bayesmin import models
from bayesmin.models.base import DataError
from bayesmin.models.linear_regression import (
    design_from_frame,
    log_evidence,
    map_estimate,
    mle,
    normal_gamma_posterior,
    polynomial_features,
    polynomial_sweep,
    posterior,
    posterior_predictive,
    regression_data,
)


@pytest.fixture(scope="module")
def data():
    # n = 30 rows, intercept + 3 features; β = 1/0.3² known.
    return models.get("linear_regression").simulate(seed=4, n=30, d=4, noise_sd=0.3, alpha=2.0)


def _joint_gaussian_conditional(X, t, alpha, beta, X_new):
    """Posterior of w and predictive of t_new by conditioning the joint Gaussian.

    w ~ N(0, A), A = α⁻¹I, and t = Xw + ε, so (w, t, t_new) is jointly Gaussian with
    Cov(t) = XAXᵀ + β⁻¹I and Cov(w, t) = AXᵀ. Conditioning on t (Gaussian formulas in
    the n×n data space, not the d×d precision form the library uses).
    """
    n, d = X.shape
    A = np.eye(d) / alpha
    K = X @ A @ X.T + np.eye(n) / beta
    gain = A @ X.T @ np.linalg.inv(K)
    m = gain @ t
    S = A - gain @ X @ A
    # The joint of (t, t_new): stack the rows, each t_new with its own noise.
    Z = np.vstack([X, X_new])
    C = Z @ A @ Z.T + np.eye(Z.shape[0]) / beta
    C_tt, C_nt, C_nn = C[:n, :n], C[n:, :n], C[n:, n:]
    pred_mean = C_nt @ np.linalg.solve(C_tt, t)
    pred_var = np.diag(C_nn - C_nt @ np.linalg.solve(C_tt, C_nt.T))
    return m, S, pred_mean, pred_var


# ------------------------------------------------------------------- point estimates


def test_mle_equals_sklearn_least_squares(data):
    X, t = data["X"], data["t"]
    ref = LinearRegression(fit_intercept=False).fit(X, t).coef_
    np.testing.assert_allclose(mle(X, t), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 1 / 0.09), (0.5, 4.0), (30.0, 2.0)])
def test_map_equals_sklearn_ridge_with_lambda_alpha_over_beta(data, alpha, beta):
    X, t = data["X"], data["t"]
    ref = Ridge(alpha=alpha / beta, fit_intercept=False).fit(X, t).coef_
    np.testing.assert_allclose(map_estimate(X, t, alpha, beta), ref, rtol=1e-9, atol=1e-12)
    # Negative control: the ratio the other way round is a different ridge.
    wrong = Ridge(alpha=beta / alpha, fit_intercept=False).fit(X, t).coef_
    assert not np.allclose(map_estimate(X, t, alpha, beta), wrong, rtol=1e-4)


def test_map_shrinks_to_mle_as_prior_flattens_and_to_zero_as_it_tightens(data):
    X, t, beta = data["X"], data["t"], data["beta"]
    np.testing.assert_allclose(map_estimate(X, t, 1e-10, beta), mle(X, t), rtol=1e-6)
    assert np.linalg.norm(map_estimate(X, t, 1e8, beta)) < 1e-4
    norms = [np.linalg.norm(map_estimate(X, t, a, beta)) for a in (0.1, 1.0, 10.0, 100.0)]
    assert np.all(np.diff(norms) < 0)


def test_pymc_find_map_equals_map_estimate_and_posterior_mean(data):
    spec = models.get("linear_regression")
    found = pm.find_MAP(model=spec.pymc(data), progressbar=False)
    w_map = map_estimate(data["X"], data["t"], data["alpha"], data["beta"])
    # L-BFGS on the PyMC log density (an independent optimiser): tolerance of its stop rule.
    np.testing.assert_allclose(found["w"], w_map, atol=1e-5)
    # With β known the posterior is Gaussian, so its mean is its mode (the course's claim).
    m_N, _ = posterior(data["X"], data["t"], data["alpha"], data["beta"])
    np.testing.assert_allclose(m_N, w_map, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(spec.exact(data)["w"].mean, w_map, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------- exact posterior


@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 1 / 0.09), (0.1, 0.5)])
def test_posterior_equals_conditional_of_joint_gaussian(data, alpha, beta):
    X, t = data["X"], data["t"]
    m_N, S_N = posterior(X, t, alpha, beta)
    X_new = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 2.0, -1.0, 0.5], [1.0, -3.0, 4.0, 6.0]])
    m, S, pred_mean, pred_var = _joint_gaussian_conditional(X, t, alpha, beta, X_new)
    np.testing.assert_allclose(m_N, m, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(S_N, S, rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(S_N, S_N.T)
    assert np.all(np.linalg.eigvalsh(S_N) > 0)
    mean, sd = posterior_predictive(X_new, m_N, S_N, beta)
    np.testing.assert_allclose(mean, pred_mean, rtol=1e-8)
    np.testing.assert_allclose(sd**2, pred_var, rtol=1e-8)
    # And term by term: 1/β + xᵀ S_N x, never below the noise variance.
    for x, s in zip(X_new, sd, strict=True):
        assert s**2 == pytest.approx(1 / beta + x @ S_N @ x, rel=1e-12)
    assert np.all(sd**2 >= 1 / beta)


def test_predictive_check_rejects_the_plug_in_variance(data):
    # Negative control: the plug-in predictive variance 1/β (no parameter uncertainty)
    # is what the joint-Gaussian check must tell apart from 1/β + xᵀS_N x.
    X, t, alpha, beta = data["X"], data["t"], data["alpha"], data["beta"]
    x_far = np.array([[1.0, 5.0, -5.0, 5.0]])
    *_, pred_var = _joint_gaussian_conditional(X, t, alpha, beta, x_far)
    assert 1 / beta != pytest.approx(pred_var[0], rel=1e-3)


def test_exact_spec_reference_is_the_gaussian_posterior(data):
    exact = models.get("linear_regression").exact(data)["w"]
    m_N, S_N = posterior(data["X"], data["t"], data["alpha"], data["beta"])
    np.testing.assert_allclose(exact.cov, S_N)
    np.testing.assert_allclose(exact.sd, np.sqrt(np.diag(S_N)))
    assert [mg.mean() for mg in exact.marginals] == pytest.approx(m_N.tolist())


@pytest.mark.parametrize(("alpha", "beta"), [(2.0, 1 / 0.09), (0.3, 1.5), (50.0, 20.0)])
def test_log_evidence_equals_marginal_gaussian_log_pdf(data, alpha, beta):
    X, t = data["X"], data["t"]
    # Marginally t ~ N(0, β⁻¹I + α⁻¹XXᵀ): w integrated out.
    cov = np.eye(len(t)) / beta + X @ X.T / alpha
    ref = stats.multivariate_normal(np.zeros(len(t)), cov).logpdf(t)
    assert log_evidence(X, t, alpha, beta) == pytest.approx(ref, rel=1e-10)


# ------------------------------------------------------------- unknown noise (Normal–Gamma)


@pytest.fixture(scope="module")
def one_feature():
    # d = 1 (no intercept) so the joint posterior of (w, β) is a 2-D integral; n small so
    # the prior still matters.
    rng = np.random.default_rng(11)
    x = rng.normal(size=8)
    t = 0.7 * x + rng.normal(0.0, 0.5, size=8)
    return regression_data(x[:, None], t, alpha=1.5, beta=None, a0=2.0, b0=0.3)


def _grid_posterior(d):
    """Marginal moments of β and w from prior × likelihood on a 2-D grid."""
    x, t = d["X"][:, 0], d["t"]
    # Ranges from the data alone (least squares), wide enough for the Student-t tails.
    w_hat = (x @ t) / (x @ x)
    s2 = np.sum((t - w_hat * x) ** 2) / len(t)
    se = np.sqrt(s2 / (x @ x))
    w = np.linspace(w_hat - 25 * se, w_hat + 25 * se, 601)
    beta = np.linspace(1e-9, 20.0 / s2, 601)
    W, B = np.meshgrid(w, beta, indexing="ij")
    log_p = stats.gamma(d["a0"], scale=1.0 / d["b0"]).logpdf(B)
    log_p += stats.norm.logpdf(W, 0.0, 1.0 / np.sqrt(d["alpha"] * B))
    for xi, ti in zip(x, t, strict=True):
        log_p += stats.norm.logpdf(ti, W * xi, 1.0 / np.sqrt(B))
    p = np.exp(log_p - log_p.max())
    p_w = integrate.simpson(p, x=beta, axis=1)
    p_b = integrate.simpson(p, x=w, axis=0)
    z = integrate.simpson(p_w, x=w)
    p_w, p_b = p_w / z, p_b / z

    def moments(grid, dens):
        mean = integrate.simpson(grid * dens, x=grid)
        return mean, np.sqrt(integrate.simpson((grid - mean) ** 2 * dens, x=grid))

    return moments(beta, p_b), moments(w, p_w), (w, p_w)


@pytest.fixture(scope="module")
def grid_posterior(one_feature):
    return _grid_posterior(one_feature)


def test_normal_gamma_exact_equals_2d_grid_posterior(one_feature, grid_posterior):
    exact = models.get("linear_regression_unknown_noise").exact(one_feature)
    (b_mean, b_sd), (w_mean, w_sd), (w_grid, p_w) = grid_posterior
    # Simpson on 601² points is good to ~1e-7 here; 1e-5 keeps a wide margin and is
    # still 100x tighter than any plausible formula slip (see the negative control).
    assert float(exact["beta"].mean) == pytest.approx(b_mean, rel=1e-5)
    assert float(exact["beta"].sd) == pytest.approx(b_sd, rel=1e-5)
    assert float(exact["w"].mean[0]) == pytest.approx(w_mean, rel=1e-5)
    assert float(exact["w"].sd[0]) == pytest.approx(w_sd, rel=1e-5)
    # The Student-t marginal of w has the grid's density, not only its moments.
    idx = np.searchsorted(w_grid, exact["w"].marginals[0].ppf([0.1, 0.5, 0.9]))
    np.testing.assert_allclose(exact["w"].marginals[0].pdf(w_grid[idx]), p_w[idx], rtol=1e-5)


def test_grid_check_rejects_wrong_normal_gamma_posteriors(one_feature, grid_posterior):
    d = one_feature
    _, v_n, a_n, b_n = normal_gamma_posterior(d["X"], d["t"], d["alpha"], d["a0"], d["b0"])
    (b_mean, _), (_, w_sd), _ = grid_posterior
    # Negative controls: a_N = a0 + N (forgetting the ½) moves the mean of β ...
    wrong_shape = stats.gamma(a_n + 0.5 * len(d["t"]), scale=1.0 / b_n)
    assert wrong_shape.mean() != pytest.approx(b_mean, rel=1e-2)
    # ... and a Gaussian marginal for w (plugging in E β) is too narrow.
    plug_in_sd = np.sqrt(v_n[0, 0] * b_n / a_n)
    assert plug_in_sd != pytest.approx(w_sd, rel=1e-2)


def test_normal_gamma_formulas_and_student_t_covariance():
    d = models.get("linear_regression_unknown_noise").simulate(seed=2, n=20, d=3)
    X, t, alpha, a0, b0 = d["X"], d["t"], d["alpha"], d["a0"], d["b0"]
    m_N, V_N, a_N, b_N = normal_gamma_posterior(X, t, alpha, a0, b0)
    # Given β the posterior of w is the known-noise one with prior precision αβ:
    # mean independent of β, covariance β⁻¹V_N.
    for beta in (0.5, 10.0):
        m, S = posterior(X, t, alpha * beta, beta)
        np.testing.assert_allclose(m, m_N, rtol=1e-8)
        np.testing.assert_allclose(S, V_N / beta, rtol=1e-8)
    # b_N via the residual form: b0 + ½(‖t − Xm_N‖² + α‖m_N‖²).
    assert b_N == pytest.approx(b0 + 0.5 * (np.sum((t - X @ m_N) ** 2) + alpha * m_N @ m_N))
    assert a_N == a0 + len(t) / 2
    # Law of total covariance: Cov w = E[β⁻¹] V_N = b_N / (a_N − 1) V_N.
    exact = models.get("linear_regression_unknown_noise").exact(d)
    np.testing.assert_allclose(exact["w"].cov, b_N / (a_N - 1) * V_N, rtol=1e-10)
    np.testing.assert_allclose(exact["w"].mean, m_N)


# ------------------------------------------------------------- polynomial sweep


@pytest.fixture(scope="module")
def sweep():
    return polynomial_sweep(seed=0)


def test_polynomial_features_are_increasing_powers():
    np.testing.assert_array_equal(polynomial_features([2.0, 3.0], 3), [[1, 2, 4, 8], [1, 3, 9, 27]])


def test_polynomial_sweep_returns_the_documented_columns_and_curves(sweep):
    table, curves = sweep
    assert list(table.columns) == [
        "degree",
        "train_rmse_mle",
        "test_rmse_mle",
        "train_rmse_map",
        "test_rmse_map",
        "test_lpd_mle",
        "test_lpd_map",
        "test_lpd_bayes",
        "log_evidence",
    ]
    assert table["degree"].tolist() == list(range(10))
    assert set(curves) == {"x_train", "t_train", "grid", "truth", "fits"}
    assert set(curves["fits"]) == set(range(10))
    for fit in curves["fits"].values():
        assert set(fit) == {"mle", "map", "bayes_mean", "bayes_sd"}
        assert all(v.shape == curves["grid"].shape for v in fit.values())
    assert curves["x_train"].shape == curves["t_train"].shape == (10,)


def test_polynomial_sweep_shows_mle_overfitting_and_the_bayesian_remedy(sweep):
    table, curves = sweep
    by = table.set_index("degree")
    # Nested least-squares fits: more degrees never fit the training set worse ...
    assert np.all(np.diff(by["train_rmse_mle"]) <= 1e-9)
    # ... and 10 coefficients interpolate 10 points exactly.
    assert by.loc[9, "train_rmse_mle"] < 1e-6
    # Overfitting: the interpolant is far worse on fresh data than the cubic.
    assert by.loc[9, "test_rmse_mle"] > 5 * by.loc[3, "test_rmse_mle"]
    # The prior (MAP) tames it, and the full predictive scores at least as well as the
    # MAP plug-in because it widens where the posterior is unsure.
    assert by.loc[9, "test_rmse_map"] < 0.2 * by.loc[9, "test_rmse_mle"]
    assert by.loc[9, "test_lpd_bayes"] >= by.loc[9, "test_lpd_map"]
    # With β known the posterior mean is the MAP: identical curves, different widths.
    fit = curves["fits"][9]
    np.testing.assert_allclose(fit["bayes_mean"], fit["map"], rtol=1e-6, atol=1e-8)
    assert np.all(fit["bayes_sd"] > 0.3 - 1e-12)
    # The evidence prefers a middle degree to both the constant and the interpolant.
    best = int(by["log_evidence"].idxmax())
    assert 0 < best < 9


def test_polynomial_sweep_is_reproducible_by_seed(sweep):
    table, _ = sweep
    again, _ = polynomial_sweep(seed=0, degrees=(3, 9))
    pd.testing.assert_frame_equal(again, table[table["degree"].isin([3, 9])].reset_index(drop=True))
    other, _ = polynomial_sweep(seed=1, degrees=(3,))
    assert other.loc[0, "test_rmse_mle"] != table.loc[3, "test_rmse_mle"]


# ------------------------------------------------------------- user tables


def _error(call) -> str:
    with pytest.raises(DataError) as info:
        call()
    msg = str(info.value)
    # The CLI prints the message as it is: one line, no traceback.
    assert msg and "\n" not in msg
    return msg


def test_design_from_frame_puts_the_intercept_first_and_keeps_column_order():
    df = pd.DataFrame({"x1": [1.0, 2.0, 3.0], "price": [10.0, 20.0, 31.0], "x2": [0, 1, 0]})
    X, t, names = design_from_frame(df, "price")
    assert names == ["intercept", "x1", "x2"]
    np.testing.assert_array_equal(X, [[1, 1, 0], [1, 2, 1], [1, 3, 0]])
    np.testing.assert_array_equal(t, [10.0, 20.0, 31.0])
    X, _, names = design_from_frame(df, "price", intercept=False)
    assert names == ["x1", "x2"] and X.shape == (3, 2)
    # Only the target: an intercept-only model is still a model.
    X, _, names = design_from_frame(df[["price"]], "price")
    assert names == ["intercept"] and X.shape == (3, 1)


def test_from_frame_builds_the_model_data():
    df = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 3.1, 4.9, 7.2]})
    known = models.get("linear_regression").from_frame(df, target="y", alpha=0.5, beta=4.0)
    assert known["X"].shape == (4, 2) and (known["alpha"], known["beta"]) == (0.5, 4.0)
    unknown = models.get("linear_regression_unknown_noise").from_frame(df, target="y", a0=3.0)
    assert "beta" not in unknown
    assert (unknown["a0"], unknown["b0"]) == (3.0, 0.1)
    # The data feed the closed forms straight away.
    assert models.get("linear_regression").exact(known)["w"].mean.shape == (2,)


GOOD = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [1.0, 2.0, 2.5]})

FRAME_ERRORS = [
    ("linear_regression", GOOD, {}, "needs a target column"),
    ("linear_regression", GOOD, {"target": "z"}, "'z' is not in the file (columns: x, y)"),
    ("linear_regression", GOOD.assign(y=["a", "b", "c"]), {"target": "y"}, "'y' is not numeric"),
    (
        "linear_regression",
        GOOD.assign(city=["Oslo", "Rome", "Lima"]),
        {"target": "y"},
        "non-numeric feature column(s) city",
    ),
    (
        "linear_regression",
        GOOD.assign(x=[0.0, np.nan, np.inf]),
        {"target": "y"},
        "feature column 'x' has 2 NaN/inf",
    ),
    (
        "linear_regression",
        GOOD.assign(z=[1.0, 2.0, 3.0], x=[0.0, 1.0, np.nan]),
        {"target": "y"},
        "feature column 'x'",
    ),
    (
        "linear_regression",
        GOOD.assign(y=[1.0, np.nan, 2.0]),
        {"target": "y"},
        "target column 'y' has 1 NaN/inf",
    ),
    ("linear_regression", GOOD.iloc[:0], {"target": "y"}, "no rows"),
    ("linear_regression", GOOD[["y"]], {"target": "y", "intercept": False}, "no feature columns"),
    ("linear_regression", GOOD, {"target": "y", "alpha": 0}, "alpha must be finite and > 0"),
    ("linear_regression", GOOD, {"target": "y", "alpha": -1.0}, "alpha must be finite and > 0"),
    ("linear_regression", GOOD, {"target": "y", "beta": 0}, "beta must be finite and > 0"),
    ("linear_regression", GOOD, {"target": "y", "beta": -2.0}, "beta must be finite and > 0"),
    ("linear_regression", GOOD, {"target": "y", "beta": np.nan}, "beta must be finite and > 0"),
    (
        "linear_regression_unknown_noise",
        GOOD,
        {"target": "y", "a0": 0},
        "a0 must be finite and > 0",
    ),
    (
        "linear_regression_unknown_noise",
        GOOD,
        {"target": "y", "b0": "x"},
        "b0 must be a number",
    ),
]


@pytest.mark.parametrize(
    ("name", "df", "options", "fragment"),
    FRAME_ERRORS,
    ids=[f"{i}-{frag[:24]}" for i, (_, _, _, frag) in enumerate(FRAME_ERRORS)],
)
def test_from_frame_rejects_bad_tables_with_one_line(name, df, options, fragment):
    msg = _error(lambda: models.get(name).from_frame(df, **options))
    assert fragment in msg


def test_regression_data_rejects_mismatched_or_misshapen_input():
    msg = _error(lambda: regression_data(np.ones((5, 2)), np.ones(4)))
    assert "X has 5 rows but t has 4" in msg
    assert "dimension" in _error(lambda: regression_data(np.ones(5), np.ones(5)))
    assert "empty" in _error(lambda: regression_data(np.ones((0, 2)), np.ones(0)))
    assert "NaN/inf" in _error(lambda: regression_data([[1.0], [np.nan]], [1.0, 2.0]))
