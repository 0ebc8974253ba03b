"""Two posteriors on which a random-walk sampler with pooled adaptation goes wrong.

Each function returns ``(model_fn, data)``: a NumPyro model function and the keyword
arguments to call it with, ready for ``inference.sample(model_fn, sampler, data=data)``.
Both are small (a few to a dozen parameters) and cheap to evaluate, so a long NUTS run
gives a reference in seconds; both defeated our ``mh`` at its defaults (issue 15: R-hat
1.73 and a posterior sd 12x too wide on the mixture, R-hat 1.53 on the GP).

Not a test module (no ``test_`` prefix): tests load it by path, see
``tests/inference/test_convergence.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def ordered_mixture(n: int = 1000, seed: int = 0) -> tuple[Callable[..., None], dict[str, Any]]:
    """A two-component Gaussian mixture with ordered means, ``n`` observations.

    ``y_i ~ w N(mu_0, sigma_0) + (1 - w) N(mu_1, sigma_1)`` with ``mu_0 < mu_1`` (an
    ordered transform of two N(0, 5) draws, which removes label switching), ``w ~
    Beta(2, 2)``, ``sigma_k ~ HalfNormal(2)``. The data: w = 0.3, mu = (-1, 1.5),
    sigma = (0.7, 1.0), components that overlap, so the posterior has one main mode and
    minor ones (one component covering both clumps) that trap chains.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import transforms

    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.3
    y = np.where(z, rng.normal(-1.0, 0.7, n), rng.normal(1.5, 1.0, n))

    def ordered_mixture_model(y: Any) -> None:
        w = numpyro.sample("w", dist.Beta(2.0, 2.0))
        mu = numpyro.sample(
            "mu",
            dist.TransformedDistribution(
                dist.Normal(0.0, 5.0).expand([2]).to_event(1), transforms.OrderedTransform()
            ),
        )
        sigma = numpyro.sample("sigma", dist.HalfNormal(2.0).expand([2]).to_event(1))
        mix = dist.MixtureSameFamily(
            dist.Categorical(probs=jnp.stack([w, 1.0 - w])),
            dist.Normal(mu, sigma),
        )
        numpyro.sample("y", mix, obs=y)

    return ordered_mixture_model, {"y": y}


def gp_poisson(
    seed: int = 0, *, centred: bool = True
) -> tuple[Callable[..., None], dict[str, Any]]:
    """A latent Gaussian-process Poisson regression: 11 latent values, 2 hyperparameters.

    ``f ~ MVN(0, K)`` with ``K_ij = alpha^2 exp(-(x_i - x_j)^2 / (2 rho^2))`` (plus a
    1e-6 jitter) at ``x = 0, 1, ..., 10`` (centred: ``f`` itself is the parameter, the
    geometry that makes it hard), ``rho ~ LogNormal(log 2, 0.5)`` (the lengthscale),
    ``alpha ~ LogNormal(0, 0.5)`` (the amplitude), ``counts_i ~ Poisson(exp(f_i))``.
    The counts are drawn once from rho = 2, alpha = 1.

    ``centred=False`` is the same posterior written ``f = L z``, ``z ~ N(0, I)`` (``L``
    the Cholesky factor of ``K``; ``f`` a deterministic): NUTS's reference, as the
    centred form gives even NUTS divergences and R-hat 1.2 at 4 x 4000 draws.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    x = np.arange(11.0)
    rng = np.random.default_rng(seed)
    k_true = np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / 2.0**2) + 1e-6 * np.eye(11)
    f_true = np.linalg.cholesky(k_true) @ rng.normal(size=11)
    counts = rng.poisson(np.exp(f_true)).astype(float)

    def gp_poisson_model(x: Any, counts: Any) -> None:
        rho = numpyro.sample("rho", dist.LogNormal(np.log(2.0), 0.5))
        alpha = numpyro.sample("alpha", dist.LogNormal(0.0, 0.5))
        d2 = (x[:, None] - x[None, :]) ** 2
        k = alpha**2 * jnp.exp(-0.5 * d2 / rho**2) + 1e-6 * jnp.eye(x.shape[0])
        if centred:
            f = numpyro.sample("f", dist.MultivariateNormal(jnp.zeros(x.shape[0]), k))
        else:
            z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([x.shape[0]]).to_event(1))
            f = numpyro.deterministic("f", jnp.linalg.cholesky(k) @ z)
        numpyro.sample("counts", dist.Poisson(jnp.exp(f)), obs=counts)

    return gp_poisson_model, {"x": x, "counts": counts}
