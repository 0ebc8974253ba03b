"""Topic 3: conjugate priors and full Bayesian inference.

Three conjugate pairs, each as a closed-form update, a posterior predictive, and the
same model written declaratively in PyMC and NumPyro so that samplers can be checked
against the exact posterior:

=================  =======================  ======================  ==========================
model              likelihood               prior                   posterior
=================  =======================  ======================  ==========================
``beta_binomial``  k_i ~ Bin(n_i, θ)        θ ~ Beta(a, b)          Beta(a + Σk, b + Σ(n − k))
``gamma_poisson``  y_i ~ Poisson(λ)         λ ~ Gamma(a, rate b)    Gamma(a + Σy, b + N)
``normal_normal``  y_i ~ N(μ, σ²), σ known  μ ~ N(μ0, τ0²)          N(μ_N, τ_N²)
=================  =======================  ======================  ==========================

The course (topic 3) writes one observation at a time: Beta(α + x, β + n − x) and
Gamma(α + x, β + 1). Updating with N observations at once is the same as N single
updates in sequence, which :func:`tests.models.test_conjugate` checks.

References
----------
Gelman, A. et al. (2013). *Bayesian Data Analysis*, 3rd ed., ch. 2.
Murphy, K. P. (2007). Conjugate Bayesian analysis of the Gaussian distribution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pymc as pm
from scipy import stats

from .base import (
    MAX_COUNT,
    DataError,
    Exact,
    ModelSpec,
    count_array,
    finite_array,
    positive,
    register,
    whole_number,
)

__all__ = [
    "beta_binomial_predictive",
    "beta_binomial_update",
    "gamma_poisson_predictive",
    "gamma_poisson_update",
    "normal_normal_predictive",
    "normal_normal_update",
]


# --------------------------------------------------------------------------- helpers


def _column(df: pd.DataFrame, column: str | None, model: str) -> pd.Series:
    """The one column of ``df`` a single-column model reads."""
    if df.empty:
        # Before the dtype check: pandas reads a header-only CSV as object columns.
        raise DataError("the table has no rows; give at least one observation")
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    if column is None:
        if len(df.columns) != 1:
            raise DataError(
                f"{model} reads one column but the file has {len(df.columns)} "
                f"({', '.join(map(str, df.columns))}); choose one with --column NAME"
            )
        column = df.columns[0]
    if column not in df.columns:
        raise DataError(
            f"column {column!r} is not in the file (columns: {', '.join(map(str, df.columns))}); "
            "pass an existing name with --column"
        )
    if column not in numeric:
        # pandas reads integers beyond uint64 (a typo, or an id column) as Python ints
        # in an object column: numbers still, for the model's own range checks to name.
        values = df[column]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise DataError(f"column {column!r} is not numeric; {model} needs numbers")
        return values
    return df[column]


def _integers(name: str, value: Any) -> np.ndarray:
    """Counts: whole numbers from 0 to 2**53 (:func:`models.base.count_array`)."""
    return count_array(name, value)


def _simulated(name: str, value: Any, low: float, high: float) -> float:
    """A simulation parameter (θ, λ, μ) as a float in [low, high], or :class:`DataError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number, got {value!r}") from None
    if not (np.isfinite(v) and low <= v <= high):
        raise DataError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return v


# ----------------------------------------------------------------------- Beta-Binomial


def beta_binomial_update(a: float, b: float, successes, trials) -> tuple[float, float]:
    """Posterior Beta parameters after observing ``successes`` out of ``trials``.

    Parameters
    ----------
    a, b : float
        Prior Beta(a, b) parameters (the course's α, β).
    successes, trials : array_like of int
        k_i and n_i for each binomial observation.

    Returns
    -------
    (a', b') : tuple of float
        a' = a + Σ k_i, b' = b + Σ (n_i − k_i).
    """
    # Summed as floats: int64 sums of many large counts could wrap round.
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    return float(a + k.sum()), float(b + (n - k).sum())


def beta_binomial_predictive(a: float, b: float, n_new: int):
    """Posterior predictive of the successes in ``n_new`` new trials: BetaBinomial(n, a, b)."""
    return stats.betabinom(int(n_new), a, b)


def beta_binomial_data(successes, trials, a: float = 1.0, b: float = 1.0) -> dict:
    """Validated data for the ``beta_binomial`` model."""
    k = _integers("successes", successes)
    n = np.asarray(trials)
    if n.ndim > 0 and n.shape != k.shape:
        raise DataError(
            f"successes has {k.size} value(s) but trials has {n.size}; "
            "give one number of trials per observation (or one for all)"
        )
    n = _integers("trials", np.broadcast_to(n, k.shape))
    if np.any(k > n):
        i = int(np.argmax(k > n))
        raise DataError(
            f"successes exceed trials in {int((k > n).sum())} row(s) (first: row {i}, "
            f"{k[i]} > {n[i]}); successes must be between 0 and trials"
        )
    return {"successes": k, "trials": n, "a": positive("a", a), "b": positive("b", b)}


def _bb_simulate(seed: int = 0, n: int = 20, trials: int = 10, theta: float = 0.3, a=2.0, b=2.0):
    n = whole_number("n", n)
    trials = whole_number("trials", trials, minimum=0, maximum=2**62)  # numpy's binomial
    theta = _simulated("theta", theta, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    trials_arr = np.full(n, trials)
    return beta_binomial_data(rng.binomial(trials_arr, theta), trials_arr, a, b)


def _bb_pymc(data: Mapping[str, Any]) -> pm.Model:
    with pm.Model() as model:
        theta = pm.Beta("theta", data["a"], data["b"])
        pm.Binomial("k", n=data["trials"], p=theta, observed=data["successes"])
    return model


def _bb_numpyro(successes, trials, a, b):
    theta = numpyro.sample("theta", dist.Beta(a, b))
    with numpyro.plate("obs", len(successes)):
        numpyro.sample("k", dist.Binomial(trials, theta), obs=successes)


def _bb_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    a, b = beta_binomial_update(data["a"], data["b"], data["successes"], data["trials"])
    return {"theta": Exact.from_scipy(stats.beta(a, b))}


def _bb_from_frame(df: pd.DataFrame, column: str | None = None, a=1.0, b=1.0, **_) -> dict:
    """Either ``successes`` and ``trials`` columns, or one column of 0/1 outcomes."""
    if {"successes", "trials"} <= set(df.columns) and column is None:
        return beta_binomial_data(df["successes"], df["trials"], a, b)
    y = _column(df, column, "beta_binomial")
    k = _integers(str(y.name), y)
    if np.any(k > 1):
        raise DataError(
            f"column {y.name!r} must hold 0/1 outcomes (found values up to {k.max()}); "
            "for counts out of n give 'successes' and 'trials' columns"
        )
    return beta_binomial_data(k, np.ones_like(k), a, b)


register(
    ModelSpec(
        name="beta_binomial",
        topic=3,
        title="Beta-Binomial: success probability θ with a Beta prior",
        simulate=_bb_simulate,
        pymc=_bb_pymc,
        numpyro=_bb_numpyro,
        exact=_bb_exact,
        from_frame=_bb_from_frame,
        params=("theta",),
    )
)


# ----------------------------------------------------------------------- Gamma-Poisson


def gamma_poisson_update(a: float, b: float, counts) -> tuple[float, float]:
    """Posterior Gamma(shape, rate) after observing Poisson ``counts``.

    The course's Gamma(α, β) uses β as a *rate*: p(λ) ∝ λ^{α−1} e^{−βλ}. Then
    a' = a + Σ y_i and b' = b + N.
    """
    y = np.asarray(counts, dtype=float)  # summed as floats: no int64 wrap-round
    return float(a + y.sum()), float(b + y.size)


def gamma_poisson_predictive(a: float, b: float):
    """Posterior predictive of one new count: NegativeBinomial(r = a, p = b / (b + 1))."""
    return stats.nbinom(a, b / (b + 1.0))


def gamma_poisson_data(counts, a: float = 2.0, b: float = 1.0) -> dict:
    """Validated data for the ``gamma_poisson`` model."""
    return {"counts": _integers("counts", counts), "a": positive("a", a), "b": positive("b", b)}


def _gp_simulate(seed: int = 0, n: int = 30, lam: float = 4.0, a=2.0, b=0.5):
    n = whole_number("n", n)
    lam = _simulated("lam", lam, 0.0, MAX_COUNT / 2)  # draws stay below the largest count
    rng = np.random.default_rng(seed)
    return gamma_poisson_data(rng.poisson(lam, size=n), a, b)


def _gp_pymc(data: Mapping[str, Any]) -> pm.Model:
    with pm.Model() as model:
        lam = pm.Gamma("lam", alpha=data["a"], beta=data["b"])
        pm.Poisson("y", mu=lam, observed=data["counts"])
    return model


def _gp_numpyro(counts, a, b):
    lam = numpyro.sample("lam", dist.Gamma(a, b))
    with numpyro.plate("obs", len(counts)):
        numpyro.sample("y", dist.Poisson(lam), obs=counts)


def _gp_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    a, b = gamma_poisson_update(data["a"], data["b"], data["counts"])
    return {"lam": Exact.from_scipy(stats.gamma(a, scale=1.0 / b))}


def _gp_from_frame(df: pd.DataFrame, column: str | None = None, a=2.0, b=1.0, **_) -> dict:
    y = _column(df, column, "gamma_poisson")
    # Checked under the column's own name, so a message names the user's column.
    return gamma_poisson_data(_integers(str(y.name), y.to_numpy()), a, b)


register(
    ModelSpec(
        name="gamma_poisson",
        topic=3,
        title="Gamma-Poisson: event rate λ with a Gamma prior",
        simulate=_gp_simulate,
        pymc=_gp_pymc,
        numpyro=_gp_numpyro,
        exact=_gp_exact,
        from_frame=_gp_from_frame,
        params=("lam",),
    )
)


# ----------------------------------------------------------------------- Normal-Normal


def normal_normal_update(mu0: float, tau0: float, sigma: float, y) -> tuple[float, float]:
    """Posterior N(μ_N, τ_N²) of a normal mean with known noise sd ``sigma``.

    Precisions add: 1/τ_N² = 1/τ0² + N/σ², and the posterior mean is the
    precision-weighted average μ_N = τ_N² (μ0/τ0² + Σ y_i / σ²).

    Returns
    -------
    (mu_n, tau_n) : tuple of float
        Posterior mean and standard deviation.
    """
    y = np.asarray(y, dtype=float)
    prec = 1.0 / tau0**2 + y.size / sigma**2
    mu_n = (mu0 / tau0**2 + y.sum() / sigma**2) / prec
    return float(mu_n), float(np.sqrt(1.0 / prec))


def normal_normal_predictive(mu_n: float, tau_n: float, sigma: float):
    """Posterior predictive of one new observation: N(μ_N, τ_N² + σ²)."""
    return stats.norm(mu_n, np.sqrt(tau_n**2 + sigma**2))


def normal_normal_data(y, sigma: float = 1.0, mu0: float = 0.0, tau0: float = 10.0) -> dict:
    """Validated data for the ``normal_normal`` model."""
    try:
        mu0 = float(mu0)
    except (TypeError, ValueError):
        raise DataError(f"mu0 must be a number, got {mu0!r}") from None
    if not np.isfinite(mu0):
        raise DataError("mu0 must be finite")
    return {
        "y": finite_array("y", y, ndim=1),
        "sigma": positive("sigma", sigma),
        "mu0": mu0,
        "tau0": positive("tau0", tau0),
    }


def _nn_simulate(seed: int = 0, n: int = 20, mu: float = 1.5, sigma=1.0, mu0=0.0, tau0=2.0):
    n = whole_number("n", n)
    # The settings are checked before they are used: a NaN sigma is sigma's error, not y's.
    mu = _simulated("mu", mu, -1e300, 1e300)
    sigma = positive("sigma", sigma)
    rng = np.random.default_rng(seed)
    return normal_normal_data(rng.normal(mu, sigma, size=n), sigma, mu0, tau0)


def _nn_pymc(data: Mapping[str, Any]) -> pm.Model:
    with pm.Model() as model:
        mu = pm.Normal("mu", data["mu0"], data["tau0"])
        pm.Normal("y", mu, data["sigma"], observed=data["y"])
    return model


def _nn_numpyro(y, sigma, mu0, tau0):
    mu = numpyro.sample("mu", dist.Normal(mu0, tau0))
    with numpyro.plate("obs", len(y)):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def _nn_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    mu_n, tau_n = normal_normal_update(data["mu0"], data["tau0"], data["sigma"], data["y"])
    return {"mu": Exact.from_scipy(stats.norm(mu_n, tau_n))}


def _nn_from_frame(
    df: pd.DataFrame, column: str | None = None, sigma=1.0, mu0=0.0, tau0=10.0, **_
) -> dict:
    y = _column(df, column, "normal_normal")
    return normal_normal_data(y.to_numpy(), sigma, mu0, tau0)


register(
    ModelSpec(
        name="normal_normal",
        topic=3,
        title="Normal-Normal: mean μ of a Gaussian with known σ",
        simulate=_nn_simulate,
        pymc=_nn_pymc,
        numpyro=_nn_numpyro,
        exact=_nn_exact,
        from_frame=_nn_from_frame,
        params=("mu",),
    )
)
