"""Kullback–Leibler divergence: closed forms, and a Monte Carlo estimate for anything else.

KL(p ‖ q) = E_p[log p(x) − log q(x)] ≥ 0, with equality only when p = q (Gibbs'
inequality), and in general KL(p ‖ q) ≠ KL(q ‖ p). Topic 5 uses both directions:
variational inference minimises the *reverse* KL(q ‖ p), which locks onto one mode of a
multimodal p; the *forward* KL(p ‖ q) (expectation propagation's, maximum likelihood's)
spreads q to cover every mode.

Closed forms (Bishop 2006; Penny 2001; Gil et al. 2013):

* :func:`kl_normal` — univariate Gaussians,
  log(σ_q/σ_p) + (σ_p² + (μ_p − μ_q)²)/(2σ_q²) − ½;
* :func:`kl_mvn` — multivariate Gaussians,
  ½ [tr(Σ_q⁻¹Σ_p) + (μ_q − μ_p)ᵀΣ_q⁻¹(μ_q − μ_p) − d + log det Σ_q − log det Σ_p];
* :func:`kl_beta` — Beta(a₁, b₁) ‖ Beta(a₂, b₂), with digammas and log-Beta functions;
* :func:`kl_gamma` — Gamma(shape a, rate b) both sides,
  (a₁ − a₂)ψ(a₁) − log Γ(a₁) + log Γ(a₂) + a₂(log b₁ − log b₂) + a₁(b₂ − b₁)/b₁.

:func:`kl_monte_carlo` estimates KL(p ‖ q) for any two distributions that can give
``logpdf`` (and p a sampler), with its Monte Carlo standard error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

__all__ = ["KLEstimate", "kl_beta", "kl_gamma", "kl_monte_carlo", "kl_mvn", "kl_normal"]


def _positive(name: str, value: Any) -> np.ndarray:
    value = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(value)) or np.any(value <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def kl_normal(mu_p, sigma_p, mu_q, sigma_q) -> np.ndarray:
    """KL(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)); broadcasts over array arguments."""
    sigma_p, sigma_q = _positive("sigma_p", sigma_p), _positive("sigma_q", sigma_q)
    mu_p, mu_q = np.asarray(mu_p, float), np.asarray(mu_q, float)
    return np.log(sigma_q / sigma_p) + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2) - 0.5


def kl_mvn(mu_p, cov_p, mu_q, cov_q) -> float:
    """KL(N(μ_p, Σ_p) ‖ N(μ_q, Σ_q)) via Cholesky factors (no explicit inverses)."""
    mu_p, mu_q = np.atleast_1d(np.asarray(mu_p, float)), np.atleast_1d(np.asarray(mu_q, float))
    cov_p, cov_q = np.atleast_2d(np.asarray(cov_p, float)), np.atleast_2d(np.asarray(cov_q, float))
    d = mu_p.size
    if mu_q.shape != (d,) or cov_p.shape != (d, d) or cov_q.shape != (d, d):
        raise ValueError(
            f"shapes disagree: mu_p {mu_p.shape}, cov_p {cov_p.shape}, mu_q {mu_q.shape}, "
            f"cov_q {cov_q.shape}; both means need d entries and both covariances d x d"
        )
    try:
        chol_p = np.linalg.cholesky(cov_p)
        chol_q = np.linalg.cholesky(cov_q)
    except np.linalg.LinAlgError:
        raise ValueError("both covariances must be symmetric positive definite") from None
    from scipy.linalg import solve_triangular

    # tr(Σ_q⁻¹ Σ_p) = ‖L_q⁻¹ L_p‖_F²; the Mahalanobis term = ‖L_q⁻¹ (μ_q − μ_p)‖².
    a = solve_triangular(chol_q, chol_p, lower=True)
    b = solve_triangular(chol_q, mu_q - mu_p, lower=True)
    logdet_q = 2 * np.sum(np.log(np.diag(chol_q)))
    logdet_p = 2 * np.sum(np.log(np.diag(chol_p)))
    return float(0.5 * (np.sum(a**2) + b @ b - d + logdet_q - logdet_p))


def kl_beta(a1, b1, a2, b2) -> np.ndarray:
    """KL(Beta(a₁, b₁) ‖ Beta(a₂, b₂))."""
    a1, b1, a2, b2 = (_positive(n, v) for n, v in (("a1", a1), ("b1", b1), ("a2", a2), ("b2", b2)))
    return (
        special.betaln(a2, b2)
        - special.betaln(a1, b1)
        + (a1 - a2) * special.digamma(a1)
        + (b1 - b2) * special.digamma(b1)
        + (a2 - a1 + b2 - b1) * special.digamma(a1 + b1)
    )


def kl_gamma(a1, b1, a2, b2) -> np.ndarray:
    """KL(Gamma(a₁, rate b₁) ‖ Gamma(a₂, rate b₂))."""
    a1, b1, a2, b2 = (_positive(n, v) for n, v in (("a1", a1), ("b1", b1), ("a2", a2), ("b2", b2)))
    return (
        (a1 - a2) * special.digamma(a1)
        - special.gammaln(a1)
        + special.gammaln(a2)
        + a2 * (np.log(b1) - np.log(b2))
        + a1 * (b2 - b1) / b1
    )


@dataclass(frozen=True)
class KLEstimate:
    """A Monte Carlo KL estimate: ``value`` ± ``se`` from ``n`` draws of p."""

    value: float
    se: float
    n: int

    def z(self, truth: float) -> float:
        """(estimate − truth) / standard error."""
        return (self.value - truth) / self.se if self.se > 0 else float(self.value != truth)


def kl_monte_carlo(
    p: Any,
    q: Any,
    n: int = 10_000,
    seed: int = 0,
    *,
    sample: Callable[[np.random.Generator, int], np.ndarray] | None = None,
) -> KLEstimate:
    """KL(p ‖ q) ≈ mean of log p(x) − log q(x) over x ~ p, with its standard error.

    Parameters
    ----------
    p, q
        Frozen SciPy distributions (anything with ``logpdf``, or ``logpmf`` for discrete
        ones; p also needs ``rvs`` unless ``sample`` is given).
    n : int
        Draws of p.
    sample : callable, optional
        ``sample(rng, n) -> draws`` of p, for a p without ``rvs`` (a mixture, say).

    The standard error is sd(log p − log q)/√n; it is finite whenever the log-ratio
    has a finite variance under p (true for the closed-form families above; it fails
    when q has lighter tails than p, where KL itself may be infinite).
    """
    if int(n) < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    rng = np.random.default_rng(seed)
    draws = sample(rng, int(n)) if sample is not None else p.rvs(size=int(n), random_state=rng)

    def logdensity(dist, x):
        fn = getattr(dist, "logpdf", None) or dist.logpmf
        return np.asarray(fn(x), float)

    ratio = logdensity(p, draws) - logdensity(q, draws)
    if ratio.ndim > 1:  # a multivariate logpdf returns one value per draw already
        ratio = ratio.reshape(len(draws), -1).sum(axis=1)
    if not np.all(np.isfinite(ratio)):
        raise ValueError(
            "log p − log q is not finite at some draws of p: q gives them zero density, "
            "so KL(p ‖ q) is infinite"
        )
    return KLEstimate(float(ratio.mean()), float(ratio.std(ddof=1) / np.sqrt(n)), int(n))
