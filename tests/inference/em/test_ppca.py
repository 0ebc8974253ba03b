"""Probabilistic PCA: EM against the closed form and scikit-learn, missing data, NUTS.

Sizes are small (n = 300, D = 6, q = 2) and the fits are module-scoped: every EM fit
on (300, 6) data with the same ``tol``/``max_iter`` reuses one compiled loop.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from bayesmin import inference
from bayesmin.inference._precision import float64
from bayesmin.inference.em.driver import em
from bayesmin.inference.em.ppca import PPCA, _e_step, _lower_bound, _m_step
from bayesmin.models import ppca as ppca_model

N, D, Q, SIGMA = 300, 6, 2, 0.3
# Tight enough that EM's linear convergence (rate ~0.93 per iteration on these data,
# i.e. a remaining gap of ~14x the last change) leaves the fit ~1e-8 from the optimum.
TIGHT = {"tol": 1e-9, "max_iter": 5000}


def _hide(X: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """X with ``fraction`` of its entries set to NaN completely at random (MCAR)."""
    rng = np.random.default_rng(seed)
    mask = rng.uniform(size=X.shape) < fraction
    mask[mask.all(axis=1), 0] = False  # keep every row partly observed
    X_missing = X.copy()
    X_missing[mask] = np.nan
    return X_missing, mask


@pytest.fixture(scope="module")
def sim():
    return ppca_model.simulate(0, n=N, D=D, q=Q, sigma=SIGMA)


@pytest.fixture(scope="module")
def closed(sim):
    return PPCA(Q, method="closed_form").fit(sim["X"])


@pytest.fixture(scope="module")
def em_fit(sim):
    return PPCA(Q, random_state=0, **TIGHT).fit(sim["X"])


@pytest.fixture(scope="module")
def missing(sim):
    X_missing, mask = _hide(sim["X"], 0.10, seed=1)
    return X_missing, mask, PPCA(Q, random_state=0, **TIGHT).fit(X_missing)


# ------------------------------------------------------------ (a) EM = closed form


def test_em_reaches_the_closed_form(closed, em_fit):
    assert em_fit.converged_
    rel = abs(em_fit.noise_variance_ / closed.noise_variance_ - 1)
    assert rel < 1e-4, rel
    # W is identified up to rotation: compare W Wᵀ, scaled by its size.
    WWt = closed.components_.T @ closed.components_
    WWt_em = em_fit.components_.T @ em_fit.components_
    assert np.abs(WWt_em - WWt).max() < 1e-3 * np.abs(WWt).max()
    np.testing.assert_allclose(em_fit.mean_, closed.mean_, atol=1e-8)
    # After removing the rotation (_canonical) the components agree too.
    np.testing.assert_allclose(em_fit.components_, closed.components_, atol=1e-3)


def test_closed_form_matches_tipping_bishop(sim, closed):
    S = np.cov(sim["X"], rowvar=False, bias=True)
    lam = np.sort(np.linalg.eigvalsh(S))[::-1]
    assert closed.noise_variance_ == pytest.approx(lam[Q:].mean(), rel=1e-12)
    # Column j of W has norm² λ_j − σ² (W = U_q (Λ_q − σ²I)^{1/2}).
    np.testing.assert_allclose(
        np.sum(closed.components_**2, axis=1), lam[:Q] - closed.noise_variance_, rtol=1e-10
    )
    assert closed.n_iter_ == 0 and closed.converged_


# ----------------------------------------------------------- (b) against sklearn


def test_score_matches_sklearn_probabilistic_pca(sim, closed, em_fit):
    X = sim["X"]
    # sklearn's PCA estimates the covariance with 1/(n − 1); the ML solution uses 1/n.
    # Shrinking the centred data by sqrt((n − 1)/n) makes sklearn fit exactly the ML
    # parameters, whose likelihood of X it then reports with PCA.score.
    shrunk = X.mean(0) + (X - X.mean(0)) * np.sqrt((N - 1) / N)
    reference = PCA(n_components=Q).fit(shrunk).score(X)
    assert closed.score(X) == pytest.approx(reference, abs=1e-8)
    assert em_fit.score(X) == pytest.approx(reference, abs=1e-5)
    assert em_fit.score(X) <= reference + 1e-10  # nothing beats the ML solution
    # Plain PCA(q).fit(X) scales C by c = n/(n − 1); since tr(C⁻¹S) = D at the ML
    # solution, its score is lower by exactly (D/2)(log c + 1/c − 1).
    c = N / (N - 1)
    plain = PCA(n_components=Q).fit(X).score(X)
    assert closed.score(X) - plain == pytest.approx(D / 2 * (np.log(c) + 1 / c - 1), abs=1e-10)
    assert closed.lower_bound_ == pytest.approx(closed.score(X), abs=1e-12)


def test_score_samples_is_the_gaussian_marginal(sim, em_fit):
    X = sim["X"][:20].copy()
    cov = em_fit.get_covariance()
    full = stats.multivariate_normal(em_fit.mean_, cov).logpdf(X)
    np.testing.assert_allclose(em_fit.score_samples(X), full, atol=1e-10)
    # With NaN: the marginal density of the observed coordinates.
    X[3, [1, 4]] = np.nan
    X[7, 0] = np.nan
    got = em_fit.score_samples(X)
    for i in (3, 7):
        o = ~np.isnan(X[i])
        want = stats.multivariate_normal(em_fit.mean_[o], cov[np.ix_(o, o)]).logpdf(X[i, o])
        assert got[i] == pytest.approx(want, abs=1e-10)


# ------------------------------------------------------------- (c) monotone bound


def test_lower_bound_never_decreases(em_fit, missing):
    for fit in (em_fit, missing[2]):
        assert fit.n_iter_ > 10
        assert np.diff(fit.lower_bounds_).min() >= -1e-10
        assert fit.lower_bound_ == fit.lower_bounds_[-1]


@float64()  # the test's own JAX arithmetic in 64-bit, as the estimators'
def test_negative_control_naive_imputation_step_lowers_the_bound(missing):
    # The classic mistake: fill the gaps with their conditional means and take a
    # complete-data M-step, forgetting E[x_m²] − E[x_m]² (so σ² is underestimated).
    # Started from the EM optimum it must lower the observed-data likelihood, and the
    # monotonicity check above must see it.
    X_missing, _, fit = missing
    observed = ~np.isnan(X_missing)
    data = {"X": np.where(observed, X_missing, 0.0), "observed": observed.astype(float)}

    def naive_m_step(q, data):
        return _m_step(q, {**data, "observed": jnp.ones_like(data["observed"])})

    start = {"W": fit.components_.T, "mu": fit.mean_, "sigma2": np.asarray(fit.noise_variance_)}
    steps = {"e_step": _e_step, "m_step": naive_m_step, "lower_bound": _lower_bound}
    result = em(start, data, **steps, tol=0.0, max_iter=3)
    assert result.lower_bounds[0] == pytest.approx(fit.score(X_missing), abs=1e-8)
    assert np.diff(result.lower_bounds).min() < -1e-4


# ------------------------------------------------------------- (d) missing data


def _conditional_mean(X_missing: np.ndarray, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Gaussian conditioning, row by row: μ_m + Σ_mo Σ_oo⁻¹ (x_o − μ_o)."""
    out = X_missing.copy()
    for i, row in enumerate(X_missing):
        m = np.isnan(row)
        if m.any():
            o = ~m
            out[i, m] = mu[m] + cov[np.ix_(m, o)] @ np.linalg.solve(
                cov[np.ix_(o, o)], row[o] - mu[o]
            )
    return out


def _rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_impute_is_the_conditional_mean(missing):
    X_missing, mask, fit = missing
    imputed = fit.impute(X_missing)
    np.testing.assert_array_equal(imputed[~mask], X_missing[~mask])
    want = _conditional_mean(X_missing, fit.mean_, fit.get_covariance())
    np.testing.assert_allclose(imputed, want, atol=1e-10)


def test_em_imputation_beats_column_means(sim, missing):
    X_missing, mask, fit = missing
    truth = sim["X"][mask]
    rmse_em = _rmse(fit.impute(X_missing)[mask], truth)
    column_means = np.broadcast_to(np.nanmean(X_missing, axis=0), X_missing.shape)
    rmse_mean = _rmse(column_means[mask], truth)
    # Best possible: the conditional mean under the true parameters. Fitted parameters
    # cost only O(1/n) in MSE, so EM should be within a few per cent of it.
    oracle_cov = sim["W"] @ sim["W"].T + SIGMA**2 * np.eye(D)
    rmse_oracle = _rmse(_conditional_mean(X_missing, sim["mu"], oracle_cov)[mask], truth)
    assert rmse_em < 0.6 * rmse_mean, (rmse_em, rmse_mean)
    assert rmse_em < 1.05 * rmse_oracle, (rmse_em, rmse_oracle)


def test_negative_control_imputation_check_fails_without_structure():
    # Independent columns (W = 0): no coordinate predicts another, so the conditional
    # mean is the column mean and the check above (EM RMSE < 0.6 x the column-mean
    # RMSE) must fail.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, D))
    X_missing, mask = _hide(X, 0.10, seed=4)
    fit = PPCA(Q, random_state=0, **TIGHT).fit(X_missing)
    rmse_em = _rmse(fit.impute(X_missing)[mask], X[mask])
    rmse_mean = _rmse(np.broadcast_to(np.nanmean(X_missing, 0), X.shape)[mask], X[mask])
    assert not rmse_em < 0.6 * rmse_mean
    assert rmse_em == pytest.approx(rmse_mean, rel=0.1)


def test_em_with_missing_data_recovers_sigma2(missing, closed):
    _, mask, fit = missing
    # Asymptotic sd of the ML σ²: the noise has n(D − q) degrees of freedom in total
    # (fewer here: 10% of entries are gone and D(q + 1) go to μ and W), and a
    # variance estimated from ν degrees of freedom has sd σ²·sqrt(2/ν).
    nu = (~mask).sum() - N * Q - D * (Q + 1)
    sd = SIGMA**2 * np.sqrt(2 / nu)
    assert abs(fit.noise_variance_ - SIGMA**2) < 4 * sd, (fit.noise_variance_, sd)
    # Same data without the gaps: the two ML estimates share most of their noise, so
    # they agree far more closely than either agrees with the truth.
    assert abs(fit.noise_variance_ - closed.noise_variance_) < 2 * sd


# -------------------------------------------------------- (e) transform, inverse


def test_transform_is_the_posterior_mean(sim, em_fit):
    X = sim["X"]
    W, mu, s2 = em_fit.components_.T, em_fit.mean_, em_fit.noise_variance_
    M = W.T @ W + s2 * np.eye(Q)
    np.testing.assert_allclose(
        em_fit.transform(X), np.linalg.solve(M, W.T @ (X - mu).T).T, atol=1e-10
    )
    # A row with NaN is conditioned on its observed coordinates: M_o⁻¹ W_oᵀ (x_o − μ_o).
    row = X[:1].copy()
    row[0, 2] = np.nan
    o = ~np.isnan(row[0])
    M_o = W[o].T @ W[o] + s2 * np.eye(Q)
    want = np.linalg.solve(M_o, W[o].T @ (row[0, o] - mu[o]))
    np.testing.assert_allclose(em_fit.transform(row)[0], want, atol=1e-10)


def test_inverse_transform_is_the_conditional_mean_of_x(em_fit):
    Z = np.array([[0.0, 0.0], [1.0, -2.0]])
    out = em_fit.inverse_transform(Z)
    np.testing.assert_allclose(out[0], em_fit.mean_)
    np.testing.assert_allclose(out[1], em_fit.mean_ + em_fit.components_.T @ Z[1])
    with pytest.raises(ValueError, match="Z must have shape"):
        em_fit.inverse_transform(np.zeros((2, 3)))


# ------------------------------------------------------------------ (f) bad input


@pytest.mark.parametrize(
    ("X", "settings", "match"),
    [
        (np.ones((10, 3)), {"n_components": 3}, r"n_components must be < n_features"),
        (np.ones((10, 3)), {"n_components": 0}, r"n_components must be >= 1"),
        (np.ones((10, 3)), {"n_components": 1.5}, r"n_components must be an integer"),
        (np.ones(10), {}, r"X must be 2-D"),
        (np.ones((2, 3, 4)), {}, r"X must be 2-D"),
        (np.ones((1, 3)), {"n_components": 1}, r"at least 2 rows"),
        ([[1.0, np.inf, 2.0], [1.0, 2.0, 3.0]], {"n_components": 1}, r"inf value"),
        ([[np.nan] * 3, [1.0, 2.0, 3.0]], {"n_components": 1}, r"row\(s\) 0 of X are entirely"),
        ([[1.0, np.nan, 2.0], [1.0, np.nan, 3.0]], {"n_components": 1}, r"column\(s\) 1 of X"),
        (
            [[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]],
            {"n_components": 1, "method": "closed_form"},
            r"closed_form.*needs complete data",
        ),
        (np.ones((10, 3)), {"n_components": 1, "method": "svd"}, r"method must be"),
    ],
)
def test_bad_input_raises(X, settings, match):
    with pytest.raises(ValueError, match=match):
        PPCA(**settings).fit(X)


def test_bad_input_after_fit(closed):
    with pytest.raises(ValueError, match="X has 4 features, but PPCA is expecting 6"):
        closed.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="entirely NaN"):
        closed.score_samples(np.full((1, D), np.nan))


# -------------------------------------------------- (g) convergence and contract


def test_non_converged_fit_warns(sim):
    with pytest.warns(ConvergenceWarning, match="raise max_iter"):
        fit = PPCA(Q, max_iter=2, random_state=0).fit(sim["X"])
    assert fit.n_iter_ == 2 and not fit.converged_


def test_same_seed_same_fit_and_sklearn_contract(sim, em_fit):
    again = clone(em_fit).fit(sim["X"])
    np.testing.assert_array_equal(again.lower_bounds_, em_fit.lower_bounds_)
    assert clone(em_fit).get_params() == em_fit.get_params()
    assert not hasattr(PPCA(Q), "components_")  # __init__ stores settings only


# ----------------------------------------------------------------- (h) NUTS


@pytest.mark.slow
def test_nuts_sigma2_agrees_with_maximum_likelihood():
    small = ppca_model.simulate(1, n=100, D=4, q=1, sigma=0.5)
    ml = PPCA(1, method="closed_form").fit(small["X"]).noise_variance_
    idata = inference.sample(
        ppca_model.ppca_numpyro,
        "nuts",
        data={"X": small["X"], "q": 1},
        draws=300,
        tune=300,
        chains=2,
        progress=False,
    )
    s2 = (idata.posterior["sigma"].values ** 2).ravel()
    # With n(D − q) = 300 noise degrees of freedom the posterior of σ² is close to
    # normal around the MLE (Bernstein–von Mises) with sd ≈ σ²·sqrt(2/300): the prior
    # and integrating out μ, W (8 parameters) move its mean by ~8/300 relative, about
    # a third of a posterior sd. Three posterior sds (plus MC error) leave room for
    # that and for 600 draws.
    mean, sd = s2.mean(), s2.std()
    mcse = sd / np.sqrt(len(s2) / 4)  # conservative: effective size >= a quarter
    assert abs(mean - ml) < 3 * sd + 3 * mcse, (mean, sd, ml)
    # Negative control: an isotropic Gaussian (no principal subspace) puts σ² at the
    # mean variance trace(S)/D, which the same window must reject.
    isotropic = np.trace(np.cov(small["X"], rowvar=False, bias=True)) / 4
    assert abs(mean - isotropic) > 3 * sd + 3 * mcse


def test_restarts_and_warm_start():
    from bayesmin.models.ppca import simulate as simulate_ppca

    X = simulate_ppca(3, n=150, D=5, q=2, sigma=0.4)["X"]
    X[::9, 1] = np.nan
    one = PPCA(2, tol=1e-4, random_state=0).fit(X)
    best = PPCA(2, tol=1e-4, n_init=3, random_state=0).fit(X)
    # Restarts keep the highest final bound; the first restart is the single fit.
    assert best.lower_bound_ >= one.lower_bound_ - 1e-12
    with pytest.warns(ConvergenceWarning):
        warm = PPCA(2, max_iter=3, tol=1e-12, warm_start=True, random_state=0).fit(X)
    first = warm.lower_bound_
    with pytest.warns(ConvergenceWarning):
        warm.fit(X)
    # A warm refit starts where the last one stopped: its first bound is no lower.
    assert warm.lower_bounds_[0] >= first - 1e-10
    with pytest.raises(ValueError, match="n_init"):
        PPCA(2, n_init=0).fit(X)
