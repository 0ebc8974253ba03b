"""Gaussian fits to a target by the reverse and by the forward KL divergence (topic 5).

For a target p and the Gaussian family q = N(m, S):

* **reverse KL(q ‖ p)** — what variational inference minimises, because it only needs
  the unnormalised log p and expectations under q: KL(q ‖ p) = log p(X) − ELBO(q).
  :func:`reverse_kl_fit` runs ADVI (Kucukelbir et al. 2017; reparameterised stochastic
  gradients, :func:`inference.vi.fit_gaussian`) from a chosen start. On a multimodal p
  the objective has one local minimum per mode; q settles on the mode its start lies
  nearest to and under-covers p ("mode-seeking", zero-forcing: q must be ≈ 0 wherever
  p is, or log q/p blows up).
* **forward KL(p ‖ q)** — minimised over the Gaussian family by *moment matching*:
  KL(p ‖ q) = −H[p] − E_p log q, and −E_p log N(x; m, S) is minimised by m = E_p x,
  S = Cov_p x. This is the projection expectation propagation makes at every step
  (Minka 2001, 2005). :func:`forward_kl_fit` computes it from the target's exact
  moments or from draws of p. On a bimodal p it covers both modes ("mass-covering")
  and puts its peak between them, where p has almost no mass.

Bishop (2006, §10.1.2, fig. 10.3) draws both; the report's topic-5 section redraws
them on the registered targets ``bimodal`` and ``bimodal_2d``.

References
----------
.. [1] Kucukelbir, A., Tran, D., Ranganath, R., Gelman, A., & Blei, D. M. (2017).
   Automatic differentiation variational inference. *JMLR* 18(14), 1-45.
.. [2] Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §10.1.2, §10.7.
.. [3] Minka, T. P. (2001). Expectation propagation for approximate Bayesian inference.
   *UAI 2001*, 362-369.
.. [4] Minka, T. (2005). Divergence measures and message passing. MSR-TR-2005-173.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from .. import models
from . import vi
from ._precision import float64

__all__ = ["GaussianFit", "elbo_estimate", "forward_kl_fit", "reverse_kl_fit", "reverse_kl_fits"]


@dataclass(frozen=True)
class GaussianFit:
    """A Gaussian q = N(mean, cov) fitted to a target.

    Attributes
    ----------
    mean : ndarray (d,)
    cov : ndarray (d, d)
    direction : {"reverse", "forward"}
        Which KL it minimises: KL(q ‖ p) or KL(p ‖ q).
    start : ndarray (d,) or None
        The starting mean of a reverse fit.
    elbo : ndarray or None
        A reverse fit's ELBO estimate at every optimisation step.
    """

    mean: np.ndarray
    cov: np.ndarray
    direction: str
    start: np.ndarray | None = None
    elbo: np.ndarray | None = None

    @property
    def sd(self) -> np.ndarray:
        """Marginal standard deviations (d,)."""
        return np.sqrt(np.diag(self.cov))

    def dist(self) -> Any:
        """q as a frozen scipy distribution: ``norm`` when d = 1, else ``multivariate_normal``."""
        if self.mean.size == 1:
            return stats.norm(float(self.mean[0]), float(self.sd[0]))
        return stats.multivariate_normal(self.mean, self.cov)


def _logdensity(target: Any, data: Mapping[str, Any] | None):
    from .sampling import resolve_target

    return resolve_target(target, data).logdensity


@float64()
def reverse_kl_fit(
    target: Any,
    start,
    *,
    data: Mapping[str, Any] | None = None,
    fullrank: bool = True,
    seed: int = 0,
    steps: int = 2000,
    elbo_draws: int = 8,
    learning_rate: float = 0.05,
) -> GaussianFit:
    """The Gaussian minimising KL(q ‖ p) reached by ADVI from the mean ``start``.

    Parameters
    ----------
    target : str, ModelSpec, pm.Model or NumPyro function
        As for :func:`inference.sample`; q lives in its unconstrained space (for the
        topic-5 targets that is the target's own space).
    start : array_like (d,)
        q's initial mean.
    data : mapping, optional
        The target's data (default: its built-in data).
    fullrank, seed, steps, elbo_draws, learning_rate
        Passed to :func:`inference.vi.fit_gaussian`.

    Returns
    -------
    GaussianFit
        ``direction="reverse"``, with the ELBO trace.

    Notes
    -----
    Stochastic gradient descent finds a *local* minimum: on a multimodal p the result
    depends on ``start``, which is the point this function exists to show.
    """
    ld = _logdensity(target, data)
    m, L, elbo = vi.fit_gaussian(
        ld,
        start,
        fullrank=fullrank,
        seed=seed,
        steps=steps,
        elbo_draws=elbo_draws,
        learning_rate=learning_rate,
    )
    return GaussianFit(m, L @ L.T, "reverse", np.asarray(start, float).reshape(-1), elbo)


def reverse_kl_fits(target: Any, starts: Iterable, **options: Any) -> list[GaussianFit]:
    """:func:`reverse_kl_fit` from each start in ``starts`` (one compiled program for all)."""
    return [reverse_kl_fit(target, s, **options) for s in starts]


@float64()
def forward_kl_fit(
    target: Any = None,
    *,
    data: Mapping[str, Any] | None = None,
    draws=None,
) -> GaussianFit:
    """The Gaussian minimising KL(p ‖ q): q's mean and covariance are p's.

    Parameters
    ----------
    target : str or ModelSpec, optional
        A registry target with one free variable whose ``exact`` gives its moments
        (``cov`` where known, else a diagonal from ``sd``), in the model's own space.
    data : mapping, optional
        The target's data (default: its built-in data).
    draws : array_like (n, d) or (n,), optional
        Draws of p instead of a target: the fit is their sample mean and covariance
        (the moment-matching M-step with a Monte Carlo E-step).

    Returns
    -------
    GaussianFit
        ``direction="forward"``.

    Notes
    -----
    −E_p log N(x; m, S) = ½ log det 2πS + ½ tr(S⁻¹ E_p[(x − m)(x − m)ᵀ]); its gradient
    vanishes at m = E_p x, S = Cov_p x, and that stationary point is the minimum
    (Bishop 2006, §10.7, eqs. 10.185-10.187; Minka 2001).
    """
    if (target is None) == (draws is None):
        raise ValueError("pass exactly one of target (exact moments) or draws (sample moments)")
    if draws is not None:
        x = np.asarray(draws, dtype=float)
        x = x[:, None] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"draws must have shape (n, d) with n >= 2, got {x.shape}")
        return GaussianFit(x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False)), "forward")
    spec = models.get(target)
    if spec.exact is None:
        raise ValueError(f"{spec.name} has no exact moments; pass draws of it instead")
    exact = spec.exact(dict(data) if data is not None else spec.simulate(0))
    if len(exact) != 1:
        raise ValueError(
            f"{spec.name} has {len(exact)} variables; moment matching here fits one, "
            "so pass draws of the joint instead"
        )
    (ref,) = exact.values()
    mean = np.atleast_1d(np.asarray(ref.mean, float)).ravel()
    cov = np.diag(np.ravel(ref.sd) ** 2) if ref.cov is None else np.atleast_2d(ref.cov)
    return GaussianFit(mean, cov, "forward")


@float64()
def elbo_estimate(
    target: Any,
    mean,
    cov,
    *,
    data: Mapping[str, Any] | None = None,
    n: int = 4000,
    seed: int = 0,
) -> tuple[float, float]:
    """ELBO(q) = E_q log p̃(ζ) + H[q] for q = N(mean, cov) in the target's unconstrained space.

    Returns ``(value, standard error)``; the entropy is exact, the expectation is a
    Monte Carlo mean over ``n`` draws of q. With a normalised log density (every
    registry model's bridge includes all normalising constants) this is
    log p(X) − KL(q ‖ p(ζ | X)), the decomposition topic 5 rests on.
    """
    ld = _logdensity(target, data)
    mean = np.atleast_1d(np.asarray(mean, float)).ravel()
    cov = np.atleast_2d(np.asarray(cov, float))
    if mean.shape != (ld.dim,) or cov.shape != (ld.dim, ld.dim):
        raise ValueError(
            f"q has mean {mean.shape} and cov {cov.shape} but the target has "
            f"{ld.dim} unconstrained coordinate(s); fit q on the same target and data"
        )
    rng = np.random.default_rng(seed)
    zeta = rng.multivariate_normal(mean, cov, size=int(n))
    lp = np.asarray(jax.jit(jax.vmap(ld.logdensity))(jnp.asarray(zeta)))
    entropy = stats.multivariate_normal(mean, cov).entropy()
    return float(lp.mean() + entropy), float(lp.std(ddof=1) / np.sqrt(n))
