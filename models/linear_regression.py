"""Topic 1: likelihood, MLE against MAP, and Bayesian linear regression.

The course's model (topic 1) is t ~ N(Xw, β⁻¹ I) with the prior w ~ N(0, α⁻¹ I).

* **MLE** maximises log p(t | X, w) = const − β/2 ‖t − Xw‖²: least squares
  (:func:`mle`).
* **MAP** maximises −β/2 ‖t − Xw‖² − α/2 ‖w‖²: ridge regression with λ = α/β
  (:func:`map_estimate`). The course labels this estimate θ_ML too; it is θ_MAP.
* The **full posterior** with known β is Gaussian (Bishop 2006, eqs. 3.53–3.54):
  S_N = (αI + βXᵀX)⁻¹, m_N = β S_N Xᵀ t, and the predictive at x is
  N(m_Nᵀx, 1/β + xᵀ S_N x) (eqs. 3.58–3.59).

Two registered models:

``linear_regression``
    β known (the course's model); exact posterior N(m_N, S_N).
``linear_regression_unknown_noise``
    β unknown with a Gamma(a0, rate b0) prior. To keep an exact answer we use the
    conjugate Normal–Gamma prior w | β ~ N(0, (αβ)⁻¹ I), i.e. the prior precision
    of w scales with the noise precision (Bishop 2006, ex. 3.12; Murphy 2012,
    §7.6.3). Then β | t ~ Gamma(a_N, b_N) and w | t is multivariate Student-t.

References
----------
Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §3.1–3.5.
Murphy, K. P. (2012). *Machine Learning: A Probabilistic Perspective*, §7.6.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pymc as pm
from scipy import stats

from .base import (
    DataError,
    Exact,
    ModelSpec,
    check_cells,
    finite_array,
    positive,
    register,
    whole_number,
)

__all__ = [
    "design_from_frame",
    "log_evidence",
    "map_estimate",
    "mle",
    "polynomial_features",
    "polynomial_sweep",
    "posterior",
    "posterior_predictive",
    "regression_data",
]


# ------------------------------------------------------------------- point estimates


def mle(X: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Maximum-likelihood weights: least squares, argmin ‖t − Xw‖²."""
    w, *_ = np.linalg.lstsq(np.asarray(X, float), np.asarray(t, float), rcond=None)
    return w


def map_estimate(X: np.ndarray, t: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """MAP weights: ridge regression with λ = α/β, (XᵀX + λI)⁻¹ Xᵀt."""
    X = np.asarray(X, float)
    lam = alpha / beta
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ np.asarray(t, float))


def posterior(X: np.ndarray, t: np.ndarray, alpha: float, beta: float):
    """Exact posterior of w with known β: returns ``(m_N, S_N)`` (Bishop eqs. 3.53–3.54)."""
    X = np.asarray(X, float)
    precision = alpha * np.eye(X.shape[1]) + beta * X.T @ X
    S_N = np.linalg.inv(precision)
    S_N = 0.5 * (S_N + S_N.T)
    m_N = beta * S_N @ X.T @ np.asarray(t, float)
    return m_N, S_N


def posterior_predictive(X_new: np.ndarray, m_N: np.ndarray, S_N: np.ndarray, beta: float):
    """Predictive mean and sd at the rows of ``X_new``: N(m_Nᵀx, 1/β + xᵀS_N x)."""
    X_new = np.asarray(X_new, float)
    mean = X_new @ m_N
    var = 1.0 / beta + np.einsum("ij,jk,ik->i", X_new, S_N, X_new)
    return mean, np.sqrt(var)


def log_evidence(X: np.ndarray, t: np.ndarray, alpha: float, beta: float) -> float:
    """Log marginal likelihood ln p(t | α, β) (Bishop eq. 3.86)."""
    X = np.asarray(X, float)
    t = np.asarray(t, float)
    n, m = X.shape
    m_N, S_N = posterior(X, t, alpha, beta)
    e_mn = 0.5 * beta * np.sum((t - X @ m_N) ** 2) + 0.5 * alpha * m_N @ m_N
    _, logdet_a = np.linalg.slogdet(np.linalg.inv(S_N))
    return float(
        0.5 * m * np.log(alpha)
        + 0.5 * n * np.log(beta)
        - e_mn
        - 0.5 * logdet_a
        - 0.5 * n * np.log(2 * np.pi)
    )


# ------------------------------------------------------------------------------ data


def regression_data(X, t, alpha: float = 1.0, beta: float | None = 25.0, **prior) -> dict:
    """Validated data for the regression models.

    ``beta=None`` selects the unknown-noise model, whose Gamma prior on β takes
    ``a0`` and ``b0`` (default 1.0 and 0.1) from ``prior``.
    """
    X = finite_array("X", X, ndim=2)
    t = finite_array("t", t, ndim=1)
    if X.shape[0] != t.shape[0]:
        raise DataError(f"X has {X.shape[0]} rows but t has {t.shape[0]}; give one target per row")
    data = {"X": X, "t": t, "alpha": positive("alpha", alpha)}
    if beta is not None:
        data["beta"] = positive("beta", beta)
    else:
        data["a0"] = positive("a0", prior.get("a0", 1.0))
        data["b0"] = positive("b0", prior.get("b0", 0.1))
    return data


def design_from_frame(
    df: pd.DataFrame, target: str | None, *, intercept: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Split a table into a design matrix (every other numeric column) and a target.

    Returns ``(X, t, feature_names)``; an ``intercept`` column of ones comes first
    unless ``intercept=False``.
    """
    if df.empty:
        raise DataError("the table has no rows; give at least one observation")
    if target is None:
        raise DataError("regression needs a target column; pass --target COLUMN")
    if target not in df.columns:
        raise DataError(
            f"target column {target!r} is not in the file "
            f"(columns: {', '.join(map(str, df.columns))}); pass an existing name with --target"
        )
    if not pd.api.types.is_numeric_dtype(df[target]):
        raise DataError(f"target column {target!r} is not numeric")
    features = [c for c in df.columns if c != target]
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise DataError(
            f"non-numeric feature column(s) {', '.join(map(str, non_numeric))}; "
            "encode them as numbers or drop them"
        )
    if not features and not intercept:
        raise DataError("no feature columns besides the target; add features or keep the intercept")
    X = df[features].to_numpy(dtype=float)
    names = [str(c) for c in features]
    if intercept:
        X = np.column_stack([np.ones(len(df)), X])
        names = ["intercept", *names]
    bad = ~np.isfinite(X)
    if bad.any():
        col = names[int(np.argwhere(bad)[0][1])]
        raise DataError(
            f"feature column {col!r} has {int(bad[:, names.index(col)].sum())} NaN/inf value(s); "
            "drop or impute those rows"
        )
    return X, finite_array(f"target column {target!r}", df[target].to_numpy(dtype=float)), names


def _simulate(seed: int = 0, n: int = 50, d: int = 3, noise_sd: float = 0.2, alpha: float = 1.0):
    n, d = whole_number("n", n), whole_number("d", d)
    check_cells("X (n × d)", n * d, "n or d")
    check_cells("the posterior covariance (d × d)", d * d, "d")
    noise_sd = positive("noise_sd", noise_sd)
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, d - 1))])
    w_true = rng.normal(0.0, 1.0, size=d)
    t = X @ w_true + rng.normal(0.0, noise_sd, size=n)
    return X, t


def _simulate_known(seed: int = 0, n: int = 50, d: int = 3, noise_sd=0.2, alpha=1.0) -> dict:
    X, t = _simulate(seed, n, d, noise_sd)
    return regression_data(X, t, alpha, 1.0 / positive("noise_sd", noise_sd) ** 2)


def _simulate_unknown(seed: int = 0, n: int = 50, d: int = 3, noise_sd=0.2, alpha=1.0) -> dict:
    X, t = _simulate(seed, n, d, noise_sd)
    return regression_data(X, t, alpha, None, a0=1.0, b0=0.1)


# ------------------------------------------------------------------ declarative models


def _known_pymc(data: Mapping[str, Any]) -> pm.Model:
    X = data["X"]
    with pm.Model() as model:
        w = pm.Normal("w", 0.0, 1.0 / np.sqrt(data["alpha"]), shape=X.shape[1])
        pm.Normal("t", X @ w, 1.0 / np.sqrt(data["beta"]), observed=data["t"])
    return model


def _known_numpyro(X, t, alpha, beta):
    w = numpyro.sample("w", dist.Normal(0.0, 1.0 / np.sqrt(alpha)).expand([X.shape[1]]).to_event(1))
    with numpyro.plate("obs", X.shape[0]):
        numpyro.sample("t", dist.Normal(X @ w, 1.0 / np.sqrt(beta)), obs=t)


def _known_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    m_N, S_N = posterior(data["X"], data["t"], data["alpha"], data["beta"])
    return {"w": Exact.normal(m_N, S_N)}


def _unknown_pymc(data: Mapping[str, Any]) -> pm.Model:
    X = data["X"]
    with pm.Model() as model:
        beta = pm.Gamma("beta", alpha=data["a0"], beta=data["b0"])
        w = pm.Normal("w", 0.0, 1.0 / pm.math.sqrt(data["alpha"] * beta), shape=X.shape[1])
        pm.Normal("t", X @ w, 1.0 / pm.math.sqrt(beta), observed=data["t"])
    return model


def _unknown_numpyro(X, t, alpha, a0, b0):
    beta = numpyro.sample("beta", dist.Gamma(a0, b0))
    w = numpyro.sample(
        "w", dist.Normal(0.0, 1.0 / np.sqrt(alpha) / beta**0.5).expand([X.shape[1]]).to_event(1)
    )
    with numpyro.plate("obs", X.shape[0]):
        numpyro.sample("t", dist.Normal(X @ w, 1.0 / beta**0.5), obs=t)


def normal_gamma_posterior(X, t, alpha: float, a0: float, b0: float):
    """Posterior of the Normal–Gamma model: ``(m_N, V_N, a_N, b_N)``.

    With w | β ~ N(0, β⁻¹V0), V0 = α⁻¹I, and β ~ Gamma(a0, rate b0):
    V_N = (αI + XᵀX)⁻¹, m_N = V_N Xᵀt, a_N = a0 + N/2,
    b_N = b0 + ½(tᵀt − m_Nᵀ V_N⁻¹ m_N) (Murphy 2012, eqs. 7.70–7.73).
    """
    X = np.asarray(X, float)
    t = np.asarray(t, float)
    V_N = np.linalg.inv(alpha * np.eye(X.shape[1]) + X.T @ X)
    V_N = 0.5 * (V_N + V_N.T)
    m_N = V_N @ X.T @ t
    a_N = a0 + 0.5 * t.size
    b_N = b0 + 0.5 * (t @ t - m_N @ np.linalg.solve(V_N, m_N))
    return m_N, V_N, a_N, b_N


def _unknown_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    m_N, V_N, a_N, b_N = normal_gamma_posterior(
        data["X"], data["t"], data["alpha"], data["a0"], data["b0"]
    )
    # Marginally w | t is multivariate t with 2a_N degrees of freedom and shape (b_N/a_N) V_N.
    return {
        "beta": Exact.from_scipy(stats.gamma(a_N, scale=1.0 / b_N)),
        "w": Exact.student_t(2.0 * a_N, m_N, (b_N / a_N) * V_N),
    }


def _from_frame_known(
    df: pd.DataFrame, target: str | None = None, alpha=1.0, beta=25.0, intercept=True, **_
):
    X, t, _ = design_from_frame(df, target, intercept=intercept)
    return regression_data(X, t, alpha, beta)


def _from_frame_unknown(
    df: pd.DataFrame, target: str | None = None, alpha=1.0, a0=1.0, b0=0.1, intercept=True, **_
):
    X, t, _ = design_from_frame(df, target, intercept=intercept)
    return regression_data(X, t, alpha, None, a0=a0, b0=b0)


register(
    ModelSpec(
        name="linear_regression",
        topic=1,
        title="Bayesian linear regression, known noise precision β",
        simulate=_simulate_known,
        pymc=_known_pymc,
        numpyro=_known_numpyro,
        exact=_known_exact,
        from_frame=_from_frame_known,
        params=("w",),
    )
)

register(
    ModelSpec(
        name="linear_regression_unknown_noise",
        topic=1,
        title="Bayesian linear regression, noise precision β ~ Gamma (Normal-Gamma prior)",
        simulate=_simulate_unknown,
        pymc=_unknown_pymc,
        numpyro=_unknown_numpyro,
        exact=_unknown_exact,
        from_frame=_from_frame_unknown,
        params=("beta", "w"),
    )
)


# ------------------------------------------------------------- polynomial-degree sweep


def polynomial_features(x: np.ndarray, degree: int) -> np.ndarray:
    """Design matrix [1, x, x², …, x^degree]."""
    return np.vander(np.asarray(x, float), int(degree) + 1, increasing=True)


def polynomial_sweep(
    seed: int = 0,
    degrees: Sequence[int] = tuple(range(10)),
    *,
    n_train: int = 10,
    n_test: int = 500,
    noise_sd: float = 0.3,
    alpha: float = 5e-3,
) -> tuple[pd.DataFrame, dict]:
    """MLE overfitting against MAP and the posterior predictive (Bishop 2006, §1.1, §3.3).

    Fits t = sin(2πx) + ε on ``n_train`` points for each polynomial degree and scores
    on ``n_test`` fresh points: the RMS error of the MLE and MAP fits, and the test
    log predictive density of the MLE plug-in N(xᵀw_ML, 1/β), the MAP plug-in, and the
    full posterior predictive N(m_Nᵀx, 1/β + xᵀS_N x). With β known the posterior
    mean equals the MAP, so the two differ only in the predictive variance.

    Returns
    -------
    table : DataFrame
        One row per degree: ``degree, train_rmse_mle, test_rmse_mle, train_rmse_map,
        test_rmse_map, test_lpd_mle, test_lpd_map, test_lpd_bayes, log_evidence``.
    curves : dict
        The training data and the fitted curves on a grid, for figures.
    """
    beta = 1.0 / positive("noise_sd", noise_sd) ** 2
    alpha = positive("alpha", alpha)
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(0, 1, int(n_train)))
    t_train = np.sin(2 * np.pi * x_train) + rng.normal(0, noise_sd, x_train.size)
    x_test = rng.uniform(0, 1, int(n_test))
    t_test = np.sin(2 * np.pi * x_test) + rng.normal(0, noise_sd, x_test.size)
    grid = np.linspace(0, 1, 200)

    rows, fits = [], {}
    for m in degrees:
        Phi, Phi_test, Phi_grid = (polynomial_features(v, m) for v in (x_train, x_test, grid))
        w_ml = mle(Phi, t_train)
        w_map = map_estimate(Phi, t_train, alpha, beta)
        m_N, S_N = posterior(Phi, t_train, alpha, beta)
        mean_b, sd_b = posterior_predictive(Phi_test, m_N, S_N, beta)

        def rmse(Phi_, w, t_):
            return float(np.sqrt(np.mean((Phi_ @ w - t_) ** 2)))

        def lpd(mean, sd):
            return float(np.mean(stats.norm.logpdf(t_test, mean, sd)))

        plug_sd = 1.0 / np.sqrt(beta)
        rows.append(
            {
                "degree": int(m),
                "train_rmse_mle": rmse(Phi, w_ml, t_train),
                "test_rmse_mle": rmse(Phi_test, w_ml, t_test),
                "train_rmse_map": rmse(Phi, w_map, t_train),
                "test_rmse_map": rmse(Phi_test, w_map, t_test),
                "test_lpd_mle": lpd(Phi_test @ w_ml, plug_sd),
                "test_lpd_map": lpd(Phi_test @ w_map, plug_sd),
                "test_lpd_bayes": lpd(mean_b, sd_b),
                "log_evidence": log_evidence(Phi, t_train, alpha, beta),
            }
        )
        grid_mean, grid_sd = posterior_predictive(Phi_grid, m_N, S_N, beta)
        fits[int(m)] = {
            "mle": Phi_grid @ w_ml,
            "map": Phi_grid @ w_map,
            "bayes_mean": grid_mean,
            "bayes_sd": grid_sd,
        }
    curves = {
        "x_train": x_train,
        "t_train": t_train,
        "grid": grid,
        "truth": np.sin(2 * np.pi * grid),
        "fits": fits,
    }
    return pd.DataFrame(rows), curves
