"""Automatic differentiation variational inference on the bridge's log density.

ADVI (Kucukelbir, Tran, Ranganath, Gelman & Blei 2017, JMLR 18(14)): in the model's
unconstrained space ζ (the bridge's flat vector, log-Jacobians included in its log
density log p̃(ζ)), fit a Gaussian q(ζ) by maximising the evidence lower bound

    ELBO(q) = E_q[log p̃(ζ)] + H[q] = log p(X) − KL(q ‖ p(ζ | X)),

i.e. minimising the *reverse* KL (topic 5), by stochastic gradient ascent with the
reparameterisation ζ = m + L ε, ε ~ N(0, I):

* ``advi`` (= ``advi:jax``) — mean-field, L = diag(exp ω) (the paper's ω = log σ);
* ``fullrank_advi`` (= ``fullrank_advi:jax``) — L lower triangular, positive diagonal.

The anchors, same spelling scheme: ``advi:pymc`` / ``fullrank_advi:pymc`` (PyMC's
``pm.fit``) and ``advi:numpyro`` / ``fullrank_advi:numpyro`` (NumPyro's SVI with
``AutoNormal`` / ``AutoMultivariateNormal``).

The entropy H[q] = Σ log L_ii + d/2 (1 + log 2π) is exact; E_q log p̃ is estimated with
``elbo_draws`` draws per step; Adam (optax) with a step size that decays, and q's
parameters are the average of the iterates over the last quarter of the run
(Polyak & Juditsky 1992), which removes the optimiser's jitter around the optimum. The draws the
sampler returns are ``chains × draws`` independent draws of q mapped back to the
model's space, so every diagnostic of the suite applies (ESS is then ≈ the number of
draws). The ELBO history is in ``attrs["elbo"]``.

Mean-field q cannot represent correlations: on a correlated Gaussian posterior it gets
the means right and the variances too small (the reverse KL's under-dispersion);
``fullrank_advi`` gets both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._compiled import CompiledCache
from ._precision import float64
from .results import from_arrays

__all__ = ["advi", "fit_gaussian"]

# The compiled ADVI program and its unpacking of q, per model and settings.
_COMPILED: CompiledCache[tuple[Any, Callable]] = CompiledCache("ADVI programs", maxsize=8)


def _program(ld, dim: int, steps: int, elbo_draws: int, fullrank: bool, learning_rate: float):
    import optax

    def unpack(params):
        if fullrank:
            tri = jnp.tril(params["L"], -1) + jnp.diag(jnp.exp(jnp.diag(params["L"])))
            return params["m"], tri
        return params["m"], jnp.diag(jnp.exp(params["log_sd"]))

    def neg_elbo(params, key):
        m, L = unpack(params)
        eps = jax.random.normal(key, (elbo_draws, dim))
        zeta = m + eps @ L.T
        expected = jnp.mean(jax.vmap(ld.logdensity)(zeta))
        entropy = jnp.sum(jnp.log(jnp.diag(L)))  # + a constant
        return -(expected + entropy)

    schedule = optax.exponential_decay(learning_rate, steps, 0.1)
    optimiser = optax.adam(schedule)

    def run(key, m0):
        params = {"m": m0}
        if fullrank:
            # The diagonal holds log L_ii: start at sd e^-1 ≈ 0.37, no correlation.
            params["L"] = jnp.diag(jnp.full(dim, -1.0))
        else:
            params["log_sd"] = jnp.full(dim, -1.0)
        state = optimiser.init(params)

        # Polyak–Ruppert: the answer is the average of the iterates over the last quarter
        # of the run. Stochastic gradients leave the last iterate jittering around the
        # optimum by about the step size; the average removes most of that jitter. Too
        # few steps is another error — a bias along badly conditioned directions (0.2–0.3
        # posterior sd on a regression with correlations of 0.95 after 2,500 steps, 0.02
        # after 10,000) — which only more steps fix: hence the default step count.
        start_avg = steps - steps // 4

        def step(carry, inputs):
            params, state, avg = carry
            key, i = inputs
            loss, grads = jax.value_and_grad(neg_elbo)(params, key)
            updates, state = optimiser.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            weight = jnp.where(i >= start_avg, 1.0 / (i - start_avg + 1.0), 0.0)
            avg = jax.tree.map(lambda a, p: a + weight * (p - a), avg, params)
            return (params, state, avg), -loss

        keys = jax.random.split(key, steps)
        carry = (params, state, params)
        (_, _, params), elbo = jax.lax.scan(step, carry, (keys, jnp.arange(steps)))
        return params, elbo

    return jax.jit(run), unpack


def _fit_q(ld, start, fullrank, seed, steps, elbo_draws, learning_rate):
    """Run the (cached) compiled ADVI program from the mean ``start``.

    Returns ``(m, L, elbo, compile_seconds, t_after_compile)``; ``elbo`` without the
    entropy's constant.
    """
    if steps < 1 or elbo_draws < 1 or not learning_rate > 0:
        raise ValueError("steps and elbo_draws must be >= 1 and learning_rate > 0")
    start = jnp.asarray(start)
    key = (ld, ld.dim, steps, int(elbo_draws), bool(fullrank), float(learning_rate))
    t0 = time.perf_counter()

    def build():
        run, unpack = _program(ld, ld.dim, steps, int(elbo_draws), bool(fullrank), learning_rate)
        return run.lower(jax.random.PRNGKey(seed), start).compile(), unpack

    compiled, unpack = _COMPILED.get(key, build)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    params, elbo = jax.block_until_ready(compiled(jax.random.PRNGKey(seed), start))
    m, L = unpack(params)
    elbo = np.asarray(elbo)
    if not np.isfinite(elbo[-1]):
        raise FloatingPointError(
            "the ELBO became non-finite; lower learning_rate or raise elbo_draws"
        )
    return np.asarray(m), np.asarray(L), elbo, compile_s, t0


def advi(
    ld,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool = False,
    fullrank: bool = False,
    steps: int | None = None,
    elbo_draws: int = 8,
    learning_rate: float = 0.05,
):
    """``inference.sample(target, "advi" | "fullrank_advi")``: fit q, return its draws.

    ``steps`` optimisation steps (default ``max(10000, 10·tune)``, as PyMC's ``pm.fit``);
    ``elbo_draws`` Monte Carlo draws per ELBO gradient; ``learning_rate`` Adam's initial
    step (decays ×0.1 over the run).
    """
    steps = int(steps if steps is not None else max(10000, 10 * int(tune)))
    start = np.asarray(ld.initial_positions(seed, 1))[0]
    m, L, elbo, compile_s, t0 = _fit_q(ld, start, fullrank, seed, steps, elbo_draws, learning_rate)
    eps = jax.random.normal(jax.random.PRNGKey(seed + 1), (chains, draws, ld.dim))
    zeta = m + eps @ L.T
    idata = _draws_of_q(ld, zeta, elbo)
    sampling_s = time.perf_counter() - t0
    idata.posterior.attrs["vi_mean"] = np.asarray(m)
    idata.posterior.attrs["vi_scale_tril"] = np.asarray(L).ravel()
    return idata, compile_s, sampling_s


# ------------------------------------------------------------------------ the anchors


def _stats(lp: np.ndarray) -> dict[str, np.ndarray]:
    """The contract's sample statistics for independent draws: nothing rejected or diverged."""
    chains, draws = lp.shape
    return {
        "lp": lp,
        "acceptance_rate": np.ones((chains, draws)),
        "diverging": np.zeros((chains, draws), dtype=bool),
        "n_steps": np.zeros((chains, draws), dtype=int),
    }


def _draws_of_q(ld, zeta, elbo) -> Any:
    """InferenceData of q's draws ``zeta`` (chains, draws, dim), mapped to the model's space."""
    lp = np.asarray(jax.vmap(jax.vmap(ld.logdensity))(zeta))
    idata = from_arrays(ld.constrain_draws(zeta), _stats(lp))
    idata.posterior.attrs["elbo"] = np.asarray(elbo)
    return idata


def pymc_advi(
    model,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool = False,
    fullrank: bool = False,
    steps: int | None = None,
):
    """PyMC's ``pm.fit(method="advi" | "fullrank_advi")``; draws of the fitted q.

    PyMC compiles inside ``pm.fit``, so the whole fit counts as sampling time and
    compile time is 0; ``lp`` is NaN (PyMC's approximation returns draws without the
    model's log density).
    """
    import pymc as pm

    # PyMC's default optimiser (adagrad_window, step 0.001) needs many more steps than
    # Adam at 0.05: its own examples use tens of thousands.
    steps = int(steps if steps is not None else max(20_000, 20 * int(tune)))
    t0 = time.perf_counter()
    with model:
        approx = pm.fit(
            n=steps,
            method="fullrank_advi" if fullrank else "advi",
            random_seed=seed,
            progressbar=progress,
        )
        trace = approx.sample(chains * draws, random_seed=seed + 1, return_inferencedata=True)
    posterior = {
        name: np.asarray(value.values).reshape(chains, draws, *value.shape[2:])
        for name, value in trace.posterior.data_vars.items()
    }
    idata = from_arrays(posterior, _stats(np.full((chains, draws), np.nan)))
    idata.posterior.attrs["elbo"] = -np.asarray(approx.hist)
    return idata, 0.0, time.perf_counter() - t0


def numpyro_advi(
    ld,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool = False,
    fullrank: bool = False,
    steps: int | None = None,
    learning_rate: float = 0.05,
):
    """NumPyro's SVI with ``AutoNormal`` (or ``AutoMultivariateNormal``) on the log density.

    The flat unconstrained vector is one improper-uniform site whose density is the
    bridge's log density (``numpyro.factor``), so the guide is exactly ADVI's q in the
    same space as ours; Adam with the same decaying step and ``Trace_ELBO``.
    """
    import numpyro
    import numpyro.distributions as dist
    import optax
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

    steps = int(steps if steps is not None else max(10000, 10 * int(tune)))
    dim = ld.dim

    def model():
        zeta = numpyro.sample(
            "zeta", dist.ImproperUniform(dist.constraints.real_vector, (), (dim,))
        )
        # A log density derived from a NumPyro model runs that model inside: block its
        # sites, or the guide would see (and fit) them as well.
        with numpyro.handlers.block():
            lp = ld.logdensity(zeta)
        numpyro.factor("logdensity", lp)

    guide = (AutoMultivariateNormal if fullrank else AutoNormal)(model)
    optimiser = optax.adam(optax.exponential_decay(learning_rate, steps, 0.1))
    svi = SVI(model, guide, optimiser, loss=Trace_ELBO())
    t0 = time.perf_counter()
    result = svi.run(jax.random.PRNGKey(seed), steps, progress_bar=progress)
    samples = guide.sample_posterior(
        jax.random.PRNGKey(seed + 1), result.params, sample_shape=(chains, draws)
    )
    idata = _draws_of_q(ld, samples["zeta"], -np.asarray(result.losses))
    return idata, 0.0, time.perf_counter() - t0


# ------------------------------------------------------------- ADVI from a chosen start


@float64()
def fit_gaussian(
    ld,
    start,
    *,
    fullrank: bool = True,
    seed: int = 0,
    steps: int = 2000,
    elbo_draws: int = 8,
    learning_rate: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ADVI's q = N(m, LLᵀ) fitted from the mean ``start``: the reverse-KL fit itself.

    The same program as :func:`advi` (Kucukelbir et al. 2017), but the starting mean
    is the caller's instead of a jittered initial point, so that topic 5 can show that
    *where* stochastic-gradient descent on KL(q ‖ p) starts decides which mode of a
    multimodal p it ends on. Compiled programs are shared with :func:`advi`.

    Parameters
    ----------
    ld : inference.bridge.LogDensity
        The target's unconstrained log density.
    start : array_like, shape (ld.dim,)
        q's initial mean (its initial sd is e⁻¹ ≈ 0.37 in every coordinate).
    fullrank : bool
        Full-rank L (default) or mean-field (diagonal L).
    seed, steps, elbo_draws, learning_rate
        As in :func:`advi`.

    Returns
    -------
    mean : ndarray (d,)
    scale_tril : ndarray (d, d)
        Lower-triangular L with q's covariance LLᵀ.
    elbo : ndarray (steps,)
        The single-step Monte Carlo ELBO estimates, *with* the entropy's constant
        d/2 (1 + log 2π) (which :func:`advi`'s ``attrs["elbo"]`` leaves out), so the
        trace estimates log p(X) − KL(q ‖ p) where the log density is normalised.
    """
    dim = ld.dim
    start = np.asarray(start, dtype=float).reshape(-1)
    if start.shape != (dim,):
        raise ValueError(
            f"start has {start.size} coordinate(s) but the target has {dim}; pass one per coordinate"
        )
    m, L, elbo, _, _ = _fit_q(ld, start, fullrank, seed, int(steps), elbo_draws, learning_rate)
    elbo = elbo + 0.5 * dim * (1.0 + np.log(2.0 * np.pi))
    return np.asarray(m), np.asarray(L), elbo
