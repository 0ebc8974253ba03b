"""Topic 6: the Gaussian mixture, declaratively (PyMC, NumPyro) and by EM.

The EM estimator is :class:`inference.em.GaussianMixture`; this module holds the
simulator, the data checks, the registry entry (``gaussian_mixture``) and the two
declarative programs that NUTS samples:

* NumPyro with the component z_n **enumerated** (``infer={"enumerate": "parallel"}``):
  NumPyro sums z out exactly, so NUTS sees only continuous parameters;
* PyMC with z **marginalised by hand**: the log-likelihood
  Σ_n log Σ_k π_k N(x_n | μ_k, diag σ_k²) enters as a ``pm.Potential``.

Both use diagonal covariances (``covariance_type="diag"`` in EM terms), a Dirichlet(4)
prior on π (see ``WEIGHT_CONCENTRATION``), HalfNormal(5) on every scale, N(0, 10²) on the means' other coordinates and,
on their first coordinates, k uniforms on the data's range, sorted (below).

**Label switching.** The likelihood is unchanged when components swap labels, so the
posterior has K! identical modes; chains that land in different ones disagree on
"component 1" and every per-component summary (and R-hat) is meaningless. Both programs
break the symmetry the usual way: the first coordinate of the means increases with k
(built as sorted uniforms — cumulative Dirichlet spacings — on the range of the data's
first feature), which keeps exactly one of the K! modes. The same convention sorts EM's
components, so the two compare.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from .base import DataError, ModelSpec, check_cells, numeric_table, register, whole_number

__all__ = ["mixture_data", "order_components", "simulate"]

MEAN_SD, SCALE_SD = 10.0, 5.0
# Dirichlet(4) on the weights: a component with no data is a local mode NUTS chains fall
# into and cannot leave (its mean wanders, its weight sits at 0); a concentration above 1
# makes that mode improbable a priori. With n in the hundreds the data dominate it.
WEIGHT_CONCENTRATION = 4.0


def _k(k: Any, n: int) -> int:
    whole = isinstance(k, numbers.Integral) or (
        isinstance(k, numbers.Real) and float(k).is_integer()
    )
    if isinstance(k, bool) or not whole:
        raise DataError(f"k must be a whole number of components, got {k!r}")
    k = int(k)
    if k < 1:
        raise DataError(f"k must be >= 1, got {k}")
    if k > n:
        raise DataError(f"k = {k} exceeds the {n} observations; use fewer components")
    return k


def mixture_data(X: Any, k: Any = 2) -> dict[str, Any]:
    """``{"X": (n, d) float array, "k": int}``, checked (complete, numeric, no constant column)."""
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 2:
        raise DataError(f"X must be a table with at least 2 rows, got shape {X.shape}")
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"the data have NaN/inf (first at row {row}, column {col}); a Gaussian mixture "
            "needs complete rows: drop or impute them (ppca handles missing values)"
        )
    constant = np.flatnonzero(np.ptp(X, axis=0) == 0)
    if constant.size:
        raise DataError(
            f"column(s) {', '.join(map(str, constant[:5]))} are constant; drop them: "
            "they carry no information and make every covariance singular"
        )
    return {"X": X, "k": _k(k, X.shape[0])}


def simulate(
    seed: int = 0, n: int = 300, k: int = 3, d: int = 2, separation: float = 6.0
) -> dict[str, Any]:
    """n points from k diagonal Gaussians, their means ``separation`` apart along the first axis.

    Spacing the means along the axis the label convention orders on keeps the demo
    identifiable; the other coordinates of the means are N(0, 1).
    """
    n, d = whole_number("n", n, minimum=2), whole_number("d", d)
    k = whole_number("k", k, maximum=n)
    check_cells("X (n × d)", n * d, "n or d")
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.0, size=(k, d))
    means[:, 0] = separation * (np.arange(k) - (k - 1) / 2)
    scales = rng.uniform(0.5, 1.5, size=(k, d))
    weights = rng.dirichlet(np.full(k, 5.0))
    z = rng.choice(k, size=n, p=weights)
    X = means[z] + scales[z] * rng.normal(size=(n, d))
    return mixture_data(X, k)


def from_frame(df: pd.DataFrame, k: Any = 2, **_: Any) -> dict[str, Any]:
    """Every column of ``df`` is a feature; each must be numeric."""
    return mixture_data(numeric_table(df, "a mixture"), k)


def order_components(weights, means, *rest):
    """Sort components by the first coordinate of their means (the label convention)."""
    order = np.argsort(np.asarray(means)[:, 0])
    return tuple(np.asarray(a)[order] for a in (weights, means, *rest))


# ------------------------------------------------------------------- declarative


def _range(X):
    """The interval the first coordinates of the means live in: the data's, 10% wider."""
    lo, hi = X[:, 0].min(), X[:, 0].max()
    pad = 0.1 * (hi - lo)
    return lo - pad, hi + pad


def gaussian_mixture_numpyro(X, k):
    """NumPyro: z_n enumerated, diagonal components, means ordered on their first coordinate.

    The ordered first coordinates are the k uniform order statistics on the data's range
    (10% wider), written as ``lo + (hi − lo)·cumsum(p)[:k]`` with p ~ Dirichlet(1, …, 1)
    of length k + 1 — the spacings of k sorted uniforms. Every start a sampler draws then
    lies inside the data: with an unbounded ordered vector, default starts (uniform on
    (−2, 2) in unconstrained space, where the spacings are exponentials) put components
    far outside the data, where an empty one wanders and chains never agree.
    """
    n, d = X.shape
    lo, hi = _range(X)
    weights = numpyro.sample("weights", dist.Dirichlet(jnp.full(k, WEIGHT_CONCENTRATION)))
    frac = numpyro.sample("locs_first_frac", dist.Dirichlet(jnp.ones(k + 1)))
    first = lo + (hi - lo) * jnp.cumsum(frac)[:k]
    if d > 1:
        rest = numpyro.sample("locs_rest", dist.Normal(0.0, MEAN_SD).expand([k, d - 1]).to_event(2))
        locs = jnp.concatenate([first[:, None], rest], axis=1)
    else:
        locs = first[:, None]
    numpyro.deterministic("locs", locs)
    scales = numpyro.sample("scales", dist.HalfNormal(SCALE_SD).expand([k, d]).to_event(2))
    with numpyro.plate("data", n):
        z = numpyro.sample("z", dist.Categorical(weights), infer={"enumerate": "parallel"})
        numpyro.sample("x", dist.Normal(locs[z], scales[z]).to_event(1), obs=X)


def gaussian_mixture_pymc(data: Mapping[str, Any]):
    """PyMC: z marginalised in a ``pm.Potential``; the same priors and ordering."""
    import pymc as pm
    import pytensor.tensor as pt

    X, k = np.asarray(data["X"]), int(data["k"])
    d = X.shape[1]
    with pm.Model() as model:
        weights = pm.Dirichlet("weights", a=np.full(k, WEIGHT_CONCENTRATION))
        lo, hi = _range(X)
        frac = pm.Dirichlet("locs_first_frac", a=np.ones(k + 1))
        first = lo + (hi - lo) * pt.cumsum(frac)[:k]
        if d > 1:
            rest = pm.Normal("locs_rest", 0.0, MEAN_SD, shape=(k, d - 1))
            locs = pt.concatenate([first[:, None], rest], axis=1)
        else:
            locs = first[:, None]
        pm.Deterministic("locs", locs)
        scales = pm.HalfNormal("scales", SCALE_SD, shape=(k, d))
        # log N(x_n | μ_k, diag σ_k²), shape (n, k), then log Σ_k π_k N(...).
        resid = (X[:, None, :] - locs[None, :, :]) / scales[None, :, :]
        log_comp = (-0.5 * resid**2 - pt.log(scales)[None] - 0.5 * np.log(2 * np.pi)).sum(-1)
        pm.Potential("x", pm.math.logsumexp(pt.log(weights)[None, :] + log_comp, axis=1).sum())
    return model


register(
    ModelSpec(
        name="gaussian_mixture",
        topic=6,
        title="Gaussian mixture (EM; NUTS with z summed out)",
        simulate=simulate,
        pymc=gaussian_mixture_pymc,
        numpyro=gaussian_mixture_numpyro,
        from_frame=from_frame,
        params=("weights", "locs_first_frac", "locs_rest", "scales"),
    )
)
