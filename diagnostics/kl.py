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
``logpdf`` (and p a sampler), with its Monte Carlo standard error; :func:`kl_quadrature`
integrates it on a 1-D grid, and :func:`kl_landscape` draws both directions as functions
of a Gaussian q's mean. :func:`kl_q_exact` measures an ADVI fit against a model's exact
posterior.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from ..inference._precision import float64

__all__ = [
    "KLEstimate",
    "kl_beta",
    "kl_gamma",
    "kl_landscape",
    "kl_monte_carlo",
    "kl_mvn",
    "kl_normal",
    "kl_q_exact",
    "kl_quadrature",
]


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


# ------------------------------------------------------------------ 1-D quadrature


def kl_quadrature(logp, logq, grid) -> float:
    """KL(p ‖ q) = ∫ p (log p − log q) dx by the trapezoid rule on a 1-D grid.

    Parameters
    ----------
    logp, logq : array_like (n,)
        Both log densities evaluated at ``grid``; p must be normalised and the grid
        must hold all of p's mass (its ends where p is negligible).
    grid : array_like (n,)
        Increasing points.

    Where p underflows to 0 the integrand is 0 (the limit of p log p), even where q
    does too; a q that is 0 where p is not gives ``inf``.
    """
    logp, logq, grid = (np.asarray(v, dtype=float) for v in (logp, logq, grid))
    if not (logp.shape == logq.shape == grid.shape) or grid.ndim != 1:
        raise ValueError(
            f"logp {logp.shape}, logq {logq.shape} and grid {grid.shape} must be the same 1-D shape"
        )
    p = np.exp(logp)
    with np.errstate(invalid="ignore"):
        integrand = np.where(p > 0, p * (logp - logq), 0.0)
    return float(np.trapezoid(integrand, grid))


def kl_landscape(logp, grid, means, sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Reverse KL(q_m ‖ p) and forward KL(p ‖ q_m) for q_m = N(m, sd²) over ``means``.

    Topic 5's picture of the two objectives (Bishop 2006, §10.1.2): on a bimodal p the
    reverse KL has a local minimum at each mode, the forward KL one minimum at p's
    mean (for fixed sd it is E_p(x − m)²/(2 sd²) + const, a parabola).

    Parameters
    ----------
    logp : array_like (n,)
        Normalised log density of p on ``grid``.
    grid : array_like (n,)
        Quadrature grid covering p's mass and every q_m's (±8 sd around each mean).
    means : array_like (k,)
        q's means.
    sd : float
        q's fixed standard deviation.

    Returns
    -------
    reverse, forward : ndarray (k,)
    """
    from scipy import stats

    sd = float(_positive("sd", sd))
    grid = np.asarray(grid, dtype=float)
    logp = np.asarray(logp, dtype=float)
    means = np.atleast_1d(np.asarray(means, dtype=float))
    if means.min() - 8 * sd < grid[0] or means.max() + 8 * sd > grid[-1]:
        raise ValueError(
            "the grid does not cover every q: extend it to 8 sd beyond the extreme means"
        )
    reverse, forward = [], []
    for m in means:
        logq = stats.norm.logpdf(grid, m, sd)
        reverse.append(kl_quadrature(logq, logp, grid))
        forward.append(kl_quadrature(logp, logq, grid))
    return np.asarray(reverse), np.asarray(forward)


# ------------------------------------------------------------ ADVI's q against the truth


def _exact_logpdf(ref: Any):
    """``(logpdf of the flattened variable, is_gaussian)`` of one :class:`models.Exact`."""
    from scipy import stats

    marginals = ref.marginals
    gaussian = marginals is not None and all(
        getattr(getattr(m, "dist", None), "name", "") == "norm" for m in marginals
    )
    size = int(np.size(ref.mean))
    if gaussian and (size == 1 or ref.cov is not None):
        cov = (
            np.atleast_2d(ref.cov) if ref.cov is not None else np.atleast_2d(np.ravel(ref.sd) ** 2)
        )
        dist = stats.multivariate_normal(np.ravel(ref.mean), cov)
        return (lambda x: np.atleast_1d(dist.logpdf(x))), True
    if size == 1 and marginals is not None:
        return (lambda x: np.asarray(marginals[0].logpdf(x[:, 0]))), False
    raise ValueError(
        "the exact posterior gives marginals only (no joint density); KL(q ‖ exact) "
        "needs a scalar variable or a joint Gaussian"
    )


@float64()  # q was fitted in float64; the change of variables is evaluated the same way
def kl_q_exact(
    idata: Any,
    spec: Any,
    data: Any = None,
    *,
    n: int = 20_000,
    seed: int = 0,
    method: str = "auto",
) -> KLEstimate:
    """KL(q ‖ p(θ | X)) of an ADVI fit against the model's exact posterior.

    ADVI (Kucukelbir et al. 2017) fits q(ζ) = N(m, LLᵀ) in the unconstrained space ζ
    of :mod:`inference.bridge` (``attrs["vi_mean"]``, ``attrs["vi_scale_tril"]``); the
    exact posterior is known in the model's own space θ = T(ζ). KL is invariant under
    the change of variables, so with p_ζ(ζ) = p(T(ζ) | X) |det ∂T/∂ζ|

        KL(q ‖ p) = E_q[log q(ζ) − log p(T(ζ) | X) − log |det ∂T/∂ζ|].

    Where T is the identity and the exact posterior is Gaussian (``normal_normal``,
    ``linear_regression``) that is :func:`kl_mvn`, in closed form. Otherwise it is a
    Monte Carlo mean over ``n`` draws of q: q is log-normal for a positive θ
    (``gamma_poisson``'s λ), logit-normal for θ in (0, 1) (``beta_binomial``'s θ).

    Parameters
    ----------
    idata : arviz.InferenceData
        The result of ``inference.sample(spec, "advi" | "fullrank_advi", data=data)``.
    spec : str or ModelSpec
        The model, with ``exact`` for its one free variable.
    data : mapping, optional
        The data q was fitted to (default: the model's built-in data, as
        :func:`inference.sample` uses).
    n, seed : int
        Monte Carlo draws of q and their seed.
    method : {"auto", "closed", "monte_carlo"}
        ``"closed"`` insists on the closed form (an error where it does not apply).

    Returns
    -------
    KLEstimate
        ``se = 0`` and ``n = 0`` for the closed form.
    """
    import jax
    import jax.numpy as jnp

    from .. import models
    from ..inference.sampling import resolve_target

    if method not in ("auto", "closed", "monte_carlo"):
        raise ValueError(f"method must be 'auto', 'closed' or 'monte_carlo', got {method!r}")
    attrs = idata.posterior.attrs
    if "vi_mean" not in attrs or "vi_scale_tril" not in attrs:
        raise ValueError(
            "idata has no vi_mean / vi_scale_tril; pass the result of "
            "inference.sample(model, 'advi' or 'fullrank_advi') (our JAX ADVI)"
        )
    spec = models.get(spec)
    data = dict(data) if data is not None else spec.simulate(0)
    if spec.exact is None:
        raise ValueError(f"{spec.name} has no exact posterior; KL(q ‖ exact) needs spec.exact")
    exact = spec.exact(data)
    if len(exact) != 1 or len(spec.params) != 1:
        raise ValueError(
            f"{spec.name} has {len(spec.params)} free variables; KL(q ‖ exact) here needs "
            "a model with one (its exact posterior gives no joint of several)"
        )
    ((var, ref),) = exact.items()
    m = np.ravel(np.asarray(attrs["vi_mean"], dtype=float))
    d = m.size
    L = np.asarray(attrs["vi_scale_tril"], dtype=float).reshape(d, d)
    ld = resolve_target(spec, data).logdensity
    if ld.dim != d or int(np.size(ref.mean)) != d:
        raise ValueError(
            f"q has {d} coordinate(s) but {spec.name} has {ld.dim}; pass the data q was fitted to"
        )
    logp, gaussian = _exact_logpdf(ref)

    def constrained(z):
        return jnp.ravel(ld.constrain(z)[var])

    rng = np.random.default_rng(seed)
    zeta = m + rng.standard_normal((int(n), d)) @ L.T
    x = np.asarray(jax.jit(jax.vmap(constrained))(jnp.asarray(zeta)))
    identity = np.allclose(x, zeta, rtol=1e-12, atol=1e-12)
    if method == "closed" or (method == "auto" and gaussian and identity):
        if not (gaussian and identity):
            raise ValueError(
                f"{spec.name}'s exact posterior is not Gaussian in q's space; "
                "use method='monte_carlo'"
            )
        cov_ref = np.atleast_2d(ref.cov) if ref.cov is not None else np.diag(np.ravel(ref.sd) ** 2)
        return KLEstimate(kl_mvn(m, L @ L.T, np.ravel(ref.mean), cov_ref), 0.0, 0)
    if int(n) < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    jac = np.asarray(jax.jit(jax.vmap(jax.jacfwd(constrained)))(jnp.asarray(zeta)))
    _, logdet = np.linalg.slogdet(jac)
    from scipy import stats

    logq = stats.multivariate_normal(m, L @ L.T).logpdf(zeta)
    ratio = np.atleast_1d(logq) - logdet - logp(x)
    if not np.all(np.isfinite(ratio)):
        raise ValueError(
            "log q − log p is not finite at some draws of q: the exact posterior gives "
            "them zero density, so KL(q ‖ p) is infinite"
        )
    return KLEstimate(float(ratio.mean()), float(ratio.std(ddof=1) / np.sqrt(n)), int(n))
