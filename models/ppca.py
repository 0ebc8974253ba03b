"""Topic 6: probabilistic PCA as a declarative NumPyro model, and a data simulator.

The course's model (Tipping & Bishop 1999): p(x, z | θ) = N(x | μ + Wz, σ² I) N(z | 0, I)
with z ∈ R^q, x ∈ R^D. Integrating z out gives x_n ~ N(μ, W Wᵀ + σ² I), which is what
:func:`ppca_numpyro` samples with NUTS: the posterior over (μ, W, σ) then has no
n × q latent block to explore. The EM and closed-form fits are
:class:`inference.em.ppca.PPCA`.

W is identified only up to a rotation (W R gives the same C = W Wᵀ + σ² I for any
orthogonal R; for q = 1 that is a sign flip), so its posterior is multimodal and its
draws must not be compared with a fitted or true W: compare C, WWᵀ or σ².

References
----------
Tipping, M. E. & Bishop, C. M. (1999). Probabilistic principal component analysis.
*Journal of the Royal Statistical Society B* 61(3), 611–622.
"""

from __future__ import annotations

import numbers

import numpy as np
import numpyro
import numpyro.distributions as dist

from .base import DataError, ModelSpec, check_cells, numeric_table, positive, register, whole_number

__all__ = ["ppca_numpyro", "simulate"]


def ppca_numpyro(X, q: int = 1, *, mu_scale: float = 10.0, w_scale: float = 1.0, sigma_scale=1.0):
    """PPCA with z marginalised: x_n ~ N(μ, W Wᵀ + σ² I).

    Priors: μ_d ~ N(0, ``mu_scale``²) (vague for data of unit scale), W_dj ~ N(0,
    ``w_scale``²), σ ~ HalfNormal(``sigma_scale``). Sample sites ``mu`` (D,), ``W``
    (D, q), ``sigma`` (); observed ``x``. The likelihood uses NumPyro's
    ``LowRankMultivariateNormal(μ, W, σ²·1)``, the same distribution as
    ``MultivariateNormal(μ, W Wᵀ + σ² I)`` evaluated through the Woodbury identity.

    Parameters
    ----------
    X : array (n, D)
        Complete data (no NaN: the EM estimator handles missing values).
    q : int
        Latent dimension, 1 <= q < D.
    """
    if isinstance(X, np.ndarray | list):
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise DataError(f"X must be 2-D (observations x features), got shape {X.shape}")
        if not np.isfinite(X).all():
            raise DataError(
                "X has NaN/inf values; the NumPyro PPCA needs complete data: "
                "use inference.em.ppca.PPCA, which handles missing values"
            )
    n, D = X.shape
    if not 1 <= int(q) < D:
        raise DataError(f"q must satisfy 1 <= q < D = {D}, got {q}")
    mu = numpyro.sample("mu", dist.Normal(0.0, mu_scale).expand([D]).to_event(1))
    W = numpyro.sample("W", dist.Normal(0.0, w_scale).expand([D, int(q)]).to_event(2))
    sigma = numpyro.sample("sigma", dist.HalfNormal(sigma_scale))
    with numpyro.plate("n", n):
        numpyro.sample(
            "x",
            dist.LowRankMultivariateNormal(mu, W, sigma**2 * np.ones(D)),
            obs=X,
        )


def simulate(
    seed: int = 0, n: int = 200, D: int = 5, q: int = 2, sigma: float = 0.5
) -> dict[str, np.ndarray]:
    """Data from the PPCA model with known parameters.

    W has independent N(0, 1) entries, μ ~ N(0, 1) entrywise, z_n ~ N(0, I_q) and
    x_n = μ + W z_n + σ ε_n.

    Returns
    -------
    dict
        ``X`` (n, D), ``Z`` (n, q) the latent draws, and the truth: ``W`` (D, q), ``mu``
        (D,), ``sigma`` (float), ``q`` (int). Pass ``{"X": d["X"], "q": d["q"]}`` to
        :func:`ppca_numpyro`.
    """
    n, D = whole_number("n", n, minimum=2), whole_number("D", D, minimum=2)
    q = whole_number("q", q, maximum=D - 1)  # 1 <= q < D
    check_cells("X (n × D)", n * D, "n or D")
    sigma = positive("sigma", sigma)
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, q))
    mu = rng.normal(size=D)
    Z = rng.normal(size=(n, q))
    X = mu + Z @ W.T + sigma * rng.normal(size=(n, D))
    return {"X": X, "Z": Z, "W": W, "mu": mu, "sigma": sigma, "q": q}


# ------------------------------------------------------------------ the registry entry


def ppca_data(X, q: int = 2) -> dict:
    """``{"X": (n, D) float array with NaN for missing values, "q": int}``, checked."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] < 2:
        raise DataError(f"X must be a table with at least 2 rows, got shape {X.shape}")
    if np.isinf(X).any():
        raise DataError("the data have inf values; NaN marks a missing value, inf is an error")
    whole = isinstance(q, numbers.Integral) or (
        isinstance(q, numbers.Real) and float(q).is_integer()
    )
    if isinstance(q, bool) or not whole or not 1 <= q < X.shape[1]:
        raise DataError(
            f"q must be a whole number with 1 <= q < {X.shape[1]} (the number of columns), got {q}"
        )
    for axis, what in ((1, "row"), (0, "column")):
        empty = np.flatnonzero(np.isnan(X).all(axis=axis))
        if empty.size:
            raise DataError(f"{what} {empty[0]} has no observed value; drop it")
    return {"X": X, "q": int(q)}


def _simulate(seed: int = 0, n: int = 200, D: int = 5, q: int = 2, sigma: float = 0.5) -> dict:
    d = simulate(seed, n=n, D=D, q=q, sigma=sigma)
    return ppca_data(d["X"], d["q"])


def _from_frame(df, q: int = 2, **_) -> dict:
    return ppca_data(numeric_table(df, "PPCA", " (empty cells are missing values)"), q)


register(
    ModelSpec(
        name="ppca",
        topic=6,
        title="Probabilistic PCA (EM with missing values; NUTS with z integrated out)",
        simulate=_simulate,
        numpyro=ppca_numpyro,
        from_frame=_from_frame,
        params=("mu", "W", "sigma"),
    )
)
