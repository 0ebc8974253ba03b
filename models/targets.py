"""Topic 5 targets: bimodal Gaussian mixtures for forward against reverse KL.

A variational family q that is a single Gaussian cannot represent a target with two
separated modes. Which Gaussian is "closest" depends on the direction of the KL
divergence (Bishop 2006, §10.1.2, fig. 10.3; Minka 2005):

* the *reverse* KL(q ‖ p), which variational inference minimises, is infinite-averse
  to putting q's mass where p has none, so its minimisers lock onto one mode;
* the *forward* KL(p ‖ q) is infinite-averse to q missing mass of p, so its minimiser
  (for the Gaussian family: the moment-matched Gaussian) covers both modes and sits
  between them, where p itself has almost no mass.

Two registered targets, each written in PyMC and NumPyro over the same unconstrained
space (``x`` is real, no transform in either PPL):

``bimodal``
    ``x ~ w·N(−loc, scale²) + (1 − w)·N(loc, scale²)``, scalar; defaults loc = 2,
    scale = 0.6, w = 0.5: modes 6.7 sd apart.
``bimodal_2d``
    ``x ~ w·N(−loc, Σ) + (1 − w)·N(loc, Σ)`` in 2-D, ``loc = (1.5, 1.5)``, Σ with sd
    0.7 and correlation ``rho`` = 0.4: two tilted blobs for contour figures.

As in :mod:`models.benchmarks`, nothing is observed: ``simulate`` returns the fixed
mixture parameters and ignores its seed. The plain functions :func:`mixture_logpdf`,
:func:`mixture_sample` and :func:`mixture_moments` (any number of components, any
dimension) and the scipy-like :class:`NormalMixture` serve the report and the tests.

References
----------
.. [1] Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §10.1.2.
.. [2] Minka, T. (2005). Divergence measures and message passing. Microsoft Research
   Technical Report MSR-TR-2005-173.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpyro
import numpyro.distributions as dist
from scipy import optimize, special, stats

from .base import DataError, Exact, ModelSpec, finite_array, positive, register

if TYPE_CHECKING:
    import pymc as pm

__all__ = [
    "MvNormalMixture",
    "NormalMixture",
    "bimodal_2d_simulate",
    "bimodal_simulate",
    "mixture_from_data",
    "mixture_logpdf",
    "mixture_moments",
    "mixture_sample",
]

_TOPIC = 5


# --------------------------------------------------------------------------- plain functions


def _components(weights, locs, covs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(weights (K,), locs (K, d), covs (K, d, d))`` checked; 1-D inputs accepted.

    ``locs`` of shape (K,) means d = 1; ``covs`` of shape (K,) are then variances.
    """
    w = finite_array("weights", weights, ndim=1)
    mu = finite_array("locs", locs)
    if mu.ndim == 1:
        mu = mu[:, None]
    cov = finite_array("covs", covs)
    if cov.ndim == 1:
        cov = cov[:, None, None]
    k, d = mu.shape
    if w.shape != (k,) or cov.shape != (k, d, d):
        raise DataError(
            f"weights {w.shape}, locs {mu.shape} and covs {cov.shape} disagree; "
            "give K weights, K locations (K, d) and K covariances (K, d, d)"
        )
    if (w <= 0).any() or not np.isclose(w.sum(), 1.0):
        raise DataError(f"weights must be > 0 and sum to 1, got {w}; normalise them")
    for c in cov:
        if not np.allclose(c, c.T):
            raise DataError("every covariance must be symmetric; pass (c + c.T) / 2")
        try:
            np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            raise DataError("every covariance must be positive definite") from None
    return w, mu, cov


def mixture_logpdf(x, weights, locs, covs) -> np.ndarray:
    """Log density of the Gaussian mixture Σ_k w_k N(x; μ_k, Σ_k).

    Parameters
    ----------
    x : array_like, shape (..., d), or (...) when d = 1
    weights : (K,); locs : (K, d) or (K,); covs : (K, d, d) or (K,) variances.

    Returns
    -------
    ndarray, shape (...)
        Computed with ``logsumexp`` over components, so far tails do not underflow.
    """
    w, mu, cov = _components(weights, locs, covs)
    d = mu.shape[1]
    x = np.asarray(x, dtype=float)
    pts = x[..., None] if d == 1 and not (x.ndim >= 2 and x.shape[-1] == 1) else x
    per = np.stack(
        [
            stats.multivariate_normal(m, c).logpdf(pts.reshape(-1, d)).reshape(pts.shape[:-1])
            for m, c in zip(mu, cov, strict=True)
        ],
        axis=-1,
    )
    return special.logsumexp(per + np.log(w), axis=-1)


def mixture_sample(rng: np.random.Generator, n: int, weights, locs, covs) -> np.ndarray:
    """``n`` draws of the mixture: a component by its weight, then its Gaussian.

    Returns shape (n, d), or (n,) when d = 1.
    """
    w, mu, cov = _components(weights, locs, covs)
    k = rng.choice(len(w), size=int(n), p=w)
    chol = np.linalg.cholesky(cov)
    eps = rng.standard_normal((int(n), mu.shape[1]))
    out = mu[k] + np.einsum("nij,nj->ni", chol[k], eps)
    return out[:, 0] if mu.shape[1] == 1 else out


def mixture_moments(weights, locs, covs) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of the mixture, by the law of total covariance.

    E x = Σ w_k μ_k;  Cov x = Σ w_k Σ_k + Σ w_k (μ_k − E x)(μ_k − E x)ᵀ — the average
    within-component covariance plus the spread of the component means.
    """
    w, mu, cov = _components(weights, locs, covs)
    mean = w @ mu
    dev = mu - mean
    return mean, np.einsum("k,kij->ij", w, cov) + np.einsum("k,ki,kj->ij", w, dev, dev)


class NormalMixture:
    """A univariate Gaussian mixture with the frozen-scipy methods the suite uses.

    ``pdf``, ``logpdf``, ``cdf``, ``ppf`` (by root finding), ``mean``, ``std``, ``var``,
    ``rvs``; ``dist.name``, ``args`` and ``kwds`` as a frozen scipy distribution has
    them, so it can stand in :class:`~models.base.Exact` ``marginals``.
    """

    class _Family:
        name = "normal_mixture"

    dist = _Family()
    args: tuple = ()

    def __init__(self, weights, locs, scales):
        scales = finite_array("scales", scales, ndim=1)
        if (scales <= 0).any():
            raise DataError("scales must be > 0; they are standard deviations")
        self.weights, mu, _ = _components(weights, locs, scales**2)
        self.locs, self.scales = mu[:, 0], scales
        self.kwds = {
            f"{name}{k}": float(v)
            for k in range(len(self.weights))
            for name, v in (("w", self.weights[k]), ("loc", self.locs[k]), ("scale", scales[k]))
        }

    def logpdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)[..., None]
        return special.logsumexp(
            stats.norm.logpdf(x, self.locs, self.scales) + np.log(self.weights), axis=-1
        )

    def pdf(self, x) -> np.ndarray:
        return np.exp(self.logpdf(x))

    def cdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)[..., None]
        return np.sum(self.weights * stats.norm.cdf(x, self.locs, self.scales), axis=-1)

    def ppf(self, q) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        lo = float(np.min(self.locs - 40 * self.scales))
        hi = float(np.max(self.locs + 40 * self.scales))
        out = [optimize.brentq(lambda x, p=p: float(self.cdf(x)) - p, lo, hi) for p in q.ravel()]
        return np.asarray(out).reshape(q.shape)

    def mean(self) -> float:
        return float(self.weights @ self.locs)

    def var(self) -> float:
        m = self.mean()
        return float(self.weights @ (self.scales**2 + (self.locs - m) ** 2))

    def std(self) -> float:
        return float(np.sqrt(self.var()))

    def rvs(self, size=1, random_state=None) -> np.ndarray:
        rng = np.random.default_rng(random_state)
        n = int(np.prod(size))
        return mixture_sample(rng, n, self.weights, self.locs, self.scales**2).reshape(size)


class MvNormalMixture:
    """A d-dimensional Gaussian mixture: ``logpdf``, ``pdf``, ``rvs``, ``mean``, ``cov``.

    ``marginal(i)`` is the :class:`NormalMixture` of coordinate ``i`` (a marginal of a
    Gaussian mixture is the mixture of the components' marginals).
    """

    def __init__(self, weights, locs, covs):
        self.weights, self.locs, self.covs = _components(weights, locs, covs)

    def logpdf(self, x) -> np.ndarray:
        return mixture_logpdf(x, self.weights, self.locs, self.covs)

    def pdf(self, x) -> np.ndarray:
        return np.exp(self.logpdf(x))

    def rvs(self, size=1, random_state=None) -> np.ndarray:
        rng = np.random.default_rng(random_state)
        return mixture_sample(rng, int(size), self.weights, self.locs, self.covs)

    def mean(self) -> np.ndarray:
        return mixture_moments(self.weights, self.locs, self.covs)[0]

    def cov(self) -> np.ndarray:
        return mixture_moments(self.weights, self.locs, self.covs)[1]

    def marginal(self, i: int) -> NormalMixture:
        return NormalMixture(self.weights, self.locs[:, i], np.sqrt(self.covs[:, i, i]))


def mixture_from_data(data: Mapping[str, Any]) -> MvNormalMixture:
    """The target of a ``bimodal`` / ``bimodal_2d`` data dict as a :class:`MvNormalMixture`."""
    try:
        w, locs = data["weights"], data["locs"]
    except KeyError as err:
        raise DataError(
            f"mixture data need 'weights' and 'locs'; {err.args[0]!r} is missing"
        ) from None
    if "scales" in data:
        return MvNormalMixture(w, locs, positive_array("scales", data["scales"]) ** 2)
    if "covs" not in data:
        raise DataError("mixture data need 'scales' (1-D) or 'covs' (d-D); both are missing")
    return MvNormalMixture(w, locs, data["covs"])


def positive_array(name: str, value: Any) -> np.ndarray:
    arr = finite_array(name, value, ndim=1)
    if (arr <= 0).any():
        raise DataError(f"{name} must be > 0 everywhere; they are standard deviations")
    return arr


# --------------------------------------------------------------------------- 1-D bimodal


def _weight(w: Any) -> float:
    w = positive("weight", w)
    if not w < 1.0:
        raise DataError(f"weight must lie in (0, 1), got {w}; it is the first mode's share")
    return w


def bimodal_simulate(
    seed: int = 0, loc: float = 2.0, scale: float = 0.6, weight: float = 0.5
) -> dict[str, np.ndarray]:
    """Parameters of ``weight·N(−loc, scale²) + (1 − weight)·N(loc, scale²)``.

    ``seed`` is ignored (the target is fixed). ``loc`` > 0 is half the distance between
    the modes; with the defaults the modes are 4 / 0.6 ≈ 6.7 sd apart, so the density
    between them is ≈ e^-11 of the peaks.

    Returns
    -------
    dict
        ``weights`` (2,), ``locs`` (2,), ``scales`` (2,).
    """
    del seed
    loc, scale, w = positive("loc", loc), positive("scale", scale), _weight(weight)
    return {
        "weights": np.array([w, 1.0 - w]),
        "locs": np.array([-loc, loc]),
        "scales": np.array([scale, scale]),
    }


def bimodal_pymc(data: Mapping[str, Any]) -> pm.Model:
    """The 1-D mixture in PyMC: ``x ~ NormalMixture(weights, locs, scales)``, ``x`` ()."""
    import pymc as pm

    mix = mixture_from_data(data)
    with pm.Model() as model:
        pm.NormalMixture("x", w=mix.weights, mu=mix.locs[:, 0], sigma=data["scales"])
    return model


def bimodal_numpyro(weights, locs, scales) -> None:
    """The 1-D mixture in NumPyro (same variable as the PyMC model)."""
    numpyro.sample(
        "x",
        dist.MixtureSameFamily(dist.Categorical(probs=weights), dist.Normal(locs, scales)),
    )


def bimodal_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    """Mixture mean and sd of ``x``, with the mixture itself as its marginal density."""
    mix = mixture_from_data(data)
    marginal = mix.marginal(0)
    return {
        "x": Exact(np.asarray(marginal.mean()), np.asarray(marginal.std()), (marginal,)),
    }


# --------------------------------------------------------------------------- 2-D bimodal


def bimodal_2d_simulate(
    seed: int = 0,
    loc: Any = (1.5, 1.5),
    scale: float = 0.7,
    rho: float = 0.4,
    weight: float = 0.5,
) -> dict[str, np.ndarray]:
    """Parameters of ``weight·N(−loc, Σ) + (1 − weight)·N(loc, Σ)`` in 2-D.

    Σ has sd ``scale`` on both axes and correlation ``rho`` (|rho| < 1); ``seed`` is
    ignored (the target is fixed).

    Returns
    -------
    dict
        ``weights`` (2,), ``locs`` (2, 2), ``covs`` (2, 2, 2).
    """
    del seed
    loc = finite_array("loc", loc, ndim=1)
    if loc.shape != (2,):
        raise DataError(f"loc must have 2 coordinates, got {loc.size}")
    scale, w = positive("scale", scale), _weight(weight)
    rho = float(rho)
    if not -1.0 < rho < 1.0:
        raise DataError(f"rho must lie in (-1, 1), got {rho}; it is a correlation")
    cov = scale**2 * np.array([[1.0, rho], [rho, 1.0]])
    return {
        "weights": np.array([w, 1.0 - w]),
        "locs": np.stack([-loc, loc]),
        "covs": np.stack([cov, cov]),
    }


def bimodal_2d_pymc(data: Mapping[str, Any]) -> pm.Model:
    """The 2-D mixture in PyMC: a ``pm.Mixture`` of ``MvNormal`` components, ``x`` (2,)."""
    import pymc as pm

    mix = mixture_from_data(data)
    with pm.Model() as model:
        pm.Mixture(
            "x",
            w=mix.weights,
            comp_dists=[
                pm.MvNormal.dist(mu=m, cov=c) for m, c in zip(mix.locs, mix.covs, strict=True)
            ],
        )
    return model


def bimodal_2d_numpyro(weights, locs, covs) -> None:
    """The 2-D mixture in NumPyro (same variable as the PyMC model)."""
    numpyro.sample(
        "x",
        dist.MixtureSameFamily(
            dist.Categorical(probs=weights), dist.MultivariateNormal(locs, covariance_matrix=covs)
        ),
    )


def bimodal_2d_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    """Mixture mean, sd and covariance of ``x``; each coordinate's mixture marginal."""
    mix = mixture_from_data(data)
    mean, cov = mix.mean(), mix.cov()
    marginals = tuple(mix.marginal(i) for i in range(mean.size))
    return {"x": Exact(mean, np.sqrt(np.diag(cov)), marginals, cov)}


# --------------------------------------------------------------------------- registry

register(
    ModelSpec(
        name="bimodal",
        topic=_TOPIC,
        title="Bimodal 1-D Gaussian mixture: reverse KL picks a mode, forward KL covers both",
        simulate=bimodal_simulate,
        pymc=bimodal_pymc,
        numpyro=bimodal_numpyro,
        exact=bimodal_exact,
        params=("x",),
        tags=("target",),
    )
)
register(
    ModelSpec(
        name="bimodal_2d",
        topic=_TOPIC,
        title="Bimodal 2-D Gaussian mixture: two tilted blobs",
        simulate=bimodal_2d_simulate,
        pymc=bimodal_2d_pymc,
        numpyro=bimodal_2d_numpyro,
        exact=bimodal_2d_exact,
        params=("x",),
        tags=("target",),
    )
)
