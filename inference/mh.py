"""Metropolis–Hastings: the course's sampler as pure JAX functions.

The shape follows BlackJAX (``blackjax/mcmc/random_walk.py``): a proposal is a
structural choice fixed when the kernel is built; tunables (scale, covariance) are
passed on every call so warm-up can feed them; chains are ``vmap``-ped and draws
``lax.scan``-ned by the driver.

The MH rule (Metropolis et al. 1953; Hastings 1970): from x propose x' ~ q(x' | x) and
accept with probability

    α(x, x') = min(1, p̃(x') q(x | x') / (p̃(x) q(x' | x))),

which leaves p = p̃ / Z invariant by detailed balance whatever Z is. For a symmetric
proposal (random walk) the q terms cancel (Metropolis); for an asymmetric one
(independence sampler, a drifting walk) they are the Hastings correction, and leaving
them out samples the wrong distribution — which :func:`build_kernel` can do on purpose
(``hastings=False``) as a negative control.

Notation: the course's p̃ is ``logdensity_fn`` (a log density, higher is better),
q is ``proposal``, α is ``MHInfo.acceptance_rate``.

References
----------
Metropolis, N. et al. (1953). Equation of state calculations by fast computing machines.
Hastings, W. K. (1970). Monte Carlo sampling methods using Markov chains and their applications.
Roberts, G. O., Gelman, A. & Gilks, W. R. (1997). Weak convergence and optimal scaling of
random walk Metropolis algorithms. Ann. Appl. Probab. 7(1).
Haario, H., Saksman, E. & Tamminen, J. (2001). An adaptive Metropolis algorithm. Bernoulli 7(2).
Andrieu, C. & Thoms, J. (2008). A tutorial on adaptive MCMC. Stat. Comput. 18.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._compiled import CompiledCache

__all__ = [
    "AdaptationState",
    "Chains",
    "MHInfo",
    "MHParams",
    "MHState",
    "Proposal",
    "SamplingAlgorithm",
    "adaptation",
    "build_kernel",
    "drifting_random_walk",
    "independence",
    "init",
    "metropolis_hastings",
    "random_walk",
    "sample_chains",
    "warmup_schedule",
]

LogDensityFn = Callable[[jax.Array], jax.Array]


class MHState(NamedTuple):
    """State of one chain.

    position : (dim,) array — the current point x.
    logdensity : scalar — log p̃(x), kept so each step evaluates the density once.
    """

    position: jax.Array
    logdensity: jax.Array


class MHInfo(NamedTuple):
    """What one transition did (these become ArviZ ``sample_stats``).

    acceptance_rate : α(x, x') = min(1, exp(log ratio)), the acceptance probability.
    is_accepted : whether x' was taken.
    proposal_logdensity : log p̃(x') of the proposed point.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    proposal_logdensity: jax.Array


class MHParams(NamedTuple):
    """Tunables of a transition.

    scale : scalar multiplying the proposal's standard deviation.
    chol : (dim, dim) lower Cholesky factor of the proposal covariance (random walk)
        or of the independence proposal's covariance.
    mean : (dim,) mean of an independence proposal (unused by the random walk).
    """

    scale: jax.Array
    chol: jax.Array
    mean: jax.Array


class Proposal(NamedTuple):
    """A proposal family q(x' | x).

    sample : ``sample(key, x, params) -> x'``.
    logpdf : ``logpdf(x_to, x_from, params) -> log q(x_to | x_from)`` up to a constant
        that does not depend on the points; ``None`` for a symmetric proposal.
    name : for the result's ``attrs``.
    """

    sample: Callable[[jax.Array, jax.Array, MHParams], jax.Array]
    logpdf: Callable[[jax.Array, jax.Array, MHParams], jax.Array] | None
    name: str


def _mvn_logpdf_chol(x, mean, chol):
    # log N(x; mean, L Lᵀ) up to the constant −d/2 log 2π (it cancels in the ratio).
    z = jax.scipy.linalg.solve_triangular(chol, x - mean, lower=True)
    return -0.5 * z @ z - jnp.sum(jnp.log(jnp.abs(jnp.diag(chol))))


def random_walk() -> Proposal:
    """Gaussian random walk x' = x + scale · L z, z ~ N(0, I): symmetric."""

    def sample(key, x, params):
        return x + params.scale * params.chol @ jax.random.normal(key, x.shape, x.dtype)

    return Proposal(sample, None, "random_walk")


def independence() -> Proposal:
    """Independence proposal x' ~ N(mean, scale² L Lᵀ), ignoring x: asymmetric in general."""

    def sample(key, x, params):
        return params.mean + params.scale * params.chol @ jax.random.normal(key, x.shape, x.dtype)

    def logpdf(x_to, x_from, params):
        return _mvn_logpdf_chol(x_to, params.mean, params.scale * params.chol)

    return Proposal(sample, logpdf, "independence")


def drifting_random_walk(drift: float | jax.Array) -> Proposal:
    """x' = x + drift + scale · L z: an asymmetric walk, q(x'|x) ≠ q(x|x').

    Correct with the Hastings correction, biased without it — the negative control
    of the test suite and of the course's detailed-balance argument.
    """
    drift = jnp.asarray(drift)

    def sample(key, x, params):
        step = params.scale * params.chol @ jax.random.normal(key, x.shape, x.dtype)
        return x + drift + step

    def logpdf(x_to, x_from, params):
        return _mvn_logpdf_chol(x_to, x_from + drift, params.scale * params.chol)

    return Proposal(sample, logpdf, "drifting_random_walk")


def init(position: jax.Array, logdensity_fn: LogDensityFn) -> MHState:
    """The state at ``position``."""
    position = jnp.asarray(position)
    return MHState(position, logdensity_fn(position))


def build_kernel(proposal: Proposal, *, hastings: bool = True):
    """The MH transition for a proposal family.

    Parameters
    ----------
    proposal : Proposal
        The structural choice (:func:`random_walk`, :func:`independence`, ...).
    hastings : bool
        Include the proposal ratio q(x | x') / q(x' | x). ``False`` is wrong for an
        asymmetric proposal and exists only as a negative control.

    Returns
    -------
    kernel : callable
        ``kernel(rng_key, state, logdensity_fn, params) -> (MHState, MHInfo)``.
    """
    correct = hastings and proposal.logpdf is not None

    def kernel(rng_key, state: MHState, logdensity_fn: LogDensityFn, params: MHParams):
        key_proposal, key_accept = jax.random.split(rng_key)
        x, x_new = state.position, proposal.sample(key_proposal, state.position, params)
        logp_new = logdensity_fn(x_new)
        log_ratio = logp_new - state.logdensity
        if correct:
            log_ratio = (
                log_ratio + proposal.logpdf(x, x_new, params) - proposal.logpdf(x_new, x, params)
            )
        # A proposal outside the support (log p̃ = -inf) or a NaN density is rejected.
        log_ratio = jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio)
        accept_prob = jnp.exp(jnp.minimum(log_ratio, 0.0))
        accepted = jnp.log(jax.random.uniform(key_accept, dtype=x.dtype)) < log_ratio
        new_state = MHState(
            jnp.where(accepted, x_new, x), jnp.where(accepted, logp_new, state.logdensity)
        )
        return new_state, MHInfo(accept_prob, accepted, logp_new)

    return kernel


class SamplingAlgorithm(NamedTuple):
    """``init(position) -> MHState`` and ``step(rng_key, state) -> (MHState, MHInfo)``."""

    init: Callable[[jax.Array], MHState]
    step: Callable[[jax.Array, MHState], tuple[MHState, MHInfo]]


def metropolis_hastings(
    logdensity_fn: LogDensityFn,
    params: MHParams,
    proposal: Proposal | None = None,
    *,
    hastings: bool = True,
) -> SamplingAlgorithm:
    """The top-level constructor: a kernel closed over its log density and tunables.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from bayesmin.inference import mh
    >>> algo = mh.metropolis_hastings(lambda x: -0.5 * x @ x, mh.params_from(2, scale=1.0))
    >>> state = algo.init(jnp.zeros(2))
    >>> state, info = algo.step(jax.random.PRNGKey(0), state)
    >>> bool(0.0 <= info.acceptance_rate <= 1.0)
    True
    """
    kernel = build_kernel(proposal or random_walk(), hastings=hastings)

    def init_fn(position):
        return init(position, logdensity_fn)

    def step_fn(rng_key, state):
        return kernel(rng_key, state, logdensity_fn, params)

    return SamplingAlgorithm(init_fn, step_fn)


# ---------------------------------------------------------------------------- warm-up


def warmup_schedule(num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Which warm-up steps learn the covariance, and where it is taken up.

    Stan's layout (Carpenter et al. 2017, ``windowed adaptation``): an initial buffer
    (15%) tunes only the scale of an identity-covariance walk while the chain finds the
    typical set; then windows that double in length (the last one stretched to fill)
    each accumulate the chain's covariance, which is adopted at the window's end
    (Haario et al. 2001) with the scale reset to the Gaussian optimum 2.38/√d; a
    terminal buffer (10%) tunes the scale for the final shape. Fewer than 40 steps
    tune the scale only.

    Returns
    -------
    learn : bool array (num_steps,)
        Steps whose position enters the covariance estimate.
    adopt : bool array (num_steps,)
        Steps at the end of a window, where the estimate is adopted.
    """
    num_steps = int(num_steps)
    learn = np.zeros(num_steps, dtype=bool)
    adopt = np.zeros(num_steps, dtype=bool)
    if num_steps < 40:
        return learn, adopt
    start, stop = int(0.15 * num_steps), int(0.90 * num_steps)
    size, begin = max(int(0.05 * num_steps), 10), start
    while begin < stop:
        end = begin + size
        if end + 2 * size > stop:  # the next window would not fit: stretch this one
            end = stop
        learn[begin:end] = True
        adopt[end - 1] = True
        begin, size = end, 2 * size
    return learn, adopt


class AdaptationState(NamedTuple):
    """Warm-up state of one chain.

    log_scale : log of the proposal scale (Robbins–Monro on the acceptance rate).
    mean, m2, count : Welford accumulators of the chain's positions in phase 1.
    chol : the proposal's current Cholesky factor.
    step : iteration counter of the scale's step-size sequence.
    last_mean : the mean of the last completed window (centre of an independence proposal).
    """

    log_scale: jax.Array
    mean: jax.Array
    m2: jax.Array
    count: jax.Array
    chol: jax.Array
    step: jax.Array
    last_mean: jax.Array


def adaptation(dim: int, *, target_acceptance: float = 0.234, regularisation: float = 1e-6):
    """Adaptive Metropolis warm-up as ``(init, update, final)`` pure functions.

    * Scale: log s ← log s + t^{-0.6} (α_t − α*), the stochastic approximation of
      Andrieu & Thoms (2008, §5), towards α* = 0.234, the optimal acceptance rate of a
      random walk in high dimension (Roberts, Gelman & Gilks 1997).
    * Covariance: the empirical covariance of each window's draws, plus
      ``regularisation``·I so it stays positive definite (Haario et al. 2001), taken
      up at the window's end with the scale reset to 2.38/√d.

    Returns
    -------
    init : ``init(position) -> AdaptationState``
    update : ``update(state, learn, adopt, position, acceptance_rate) -> AdaptationState``
        with ``learn`` / ``adopt`` from :func:`warmup_schedule`
    final : ``final(state) -> MHParams`` (the adapted scale and Cholesky factor)
    """
    eye = jnp.eye(dim)
    reset = jnp.log(2.38 / jnp.sqrt(dim))

    def init_fn(position):
        zero = jnp.zeros(dim, dtype=position.dtype)
        return AdaptationState(
            jnp.log(jnp.asarray(2.38 / np.sqrt(dim), position.dtype)),
            zero,
            jnp.zeros((dim, dim), position.dtype),
            jnp.zeros((), position.dtype),
            eye.astype(position.dtype),
            jnp.zeros((), position.dtype),
            position,
        )

    def update_fn(state: AdaptationState, learn, adopt, position, acceptance_rate):
        # ``position`` is one chain's (dim,) or a batch (chains, dim) pooled across
        # chains; ``acceptance_rate`` likewise a scalar or (chains,).
        batch = jnp.atleast_2d(position)
        rate = jnp.mean(jnp.atleast_1d(acceptance_rate))
        step = state.step + 1.0
        log_scale = state.log_scale + step ** (-0.6) * (rate - target_acceptance)
        # Welford inside a window, batches merged by Chan et al.'s (1979) formula.
        n_b = jnp.asarray(batch.shape[0], batch.dtype)
        mean_b = batch.mean(axis=0)
        centred = batch - mean_b
        m2_b = centred.T @ centred
        count = state.count + learn * n_b
        delta = mean_b - state.mean
        mean = jnp.where(learn, state.mean + delta * n_b / jnp.maximum(count, 1.0), state.mean)
        m2 = jnp.where(
            learn,
            state.m2 + m2_b + jnp.outer(delta, delta) * state.count * n_b / jnp.maximum(count, 1.0),
            state.m2,
        )
        # At a window's end: adopt its covariance, reset the scale and the accumulators.
        cov = m2 / jnp.maximum(count - 1.0, 1.0) + regularisation * eye
        new_chol = jnp.linalg.cholesky(0.5 * (cov + cov.T))
        usable = adopt & jnp.all(jnp.isfinite(new_chol)) & (count > 2)
        chol = jnp.where(usable, new_chol, state.chol)
        log_scale = jnp.where(usable, reset, log_scale)
        step = jnp.where(usable, 1.0, step)  # restart the step-size sequence
        last_mean = jnp.where(usable, mean, state.last_mean)
        mean = jnp.where(adopt, jnp.zeros_like(mean), mean)
        m2 = jnp.where(adopt, jnp.zeros_like(m2), m2)
        count = jnp.where(adopt, 0.0, count)
        return AdaptationState(log_scale, mean, m2, count, chol, step, last_mean)

    def final_fn(state: AdaptationState) -> MHParams:
        return MHParams(jnp.exp(state.log_scale), state.chol, state.last_mean)

    return init_fn, update_fn, final_fn


def params_from(
    dim: int, *, scale: float, cov: Any | None = None, mean: Any | None = None
) -> MHParams:
    """Fixed tunables; ``cov`` must be symmetric positive definite.

    Raises
    ------
    ValueError
        If ``cov`` has the wrong shape or is not positive definite, or ``scale`` ≤ 0.
    """
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"proposal scale must be finite and > 0, got {scale}")
    if cov is None:
        chol = np.eye(dim)
    else:
        cov = np.asarray(cov, dtype=float)
        if cov.shape != (dim, dim):
            raise ValueError(f"proposal covariance must be {dim}×{dim}, got shape {cov.shape}")
        if not np.allclose(cov, cov.T, atol=1e-10 * max(1.0, np.abs(cov).max())):
            raise ValueError("proposal covariance is not symmetric; pass (C + C.T) / 2")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            smallest = float(np.linalg.eigvalsh(cov).min())
            raise ValueError(
                f"proposal covariance is not positive definite (smallest eigenvalue "
                f"{smallest:.3g}); add a small multiple of the identity"
            ) from None
    mean = np.zeros(dim) if mean is None else np.asarray(mean, dtype=float)
    if mean.shape != (dim,):
        raise ValueError(f"proposal mean must have length {dim}, got shape {mean.shape}")
    return MHParams(jnp.asarray(float(scale)), jnp.asarray(chol), jnp.asarray(mean))


# ----------------------------------------------------------------------------- driver

PROPOSALS: dict[str, Callable[[], Proposal]] = {
    "random_walk": random_walk,
    "independence": independence,
}

# Overdispersion of the adaptive independence sampler: its Gaussian is the warm-up's
# mean and covariance, widened so its tails cover the target's (Robert & Casella
# 2004, §7.4: an independence proposal must have heavier tails than the target).
INDEPENDENCE_SCALE = 1.5

# Compiled runners by model and structure (draws, tune, proposal, chains, ...). The
# tunables (scale, covariance, mean) are arguments of the program, not part of the key:
# a sweep over proposal scales compiles once.
_COMPILED: CompiledCache[Any] = CompiledCache("MH runners", maxsize=8)


class Chains(NamedTuple):
    """What :func:`sample_chains` returns.

    positions : (chains, draws, dim) draws in the flat space of ``logdensity_fn``.
    logdensity : (chains, draws) log density at each draw.
    info : :class:`MHInfo` of (chains, draws) arrays (acceptance rate, acceptance).
    params : :class:`MHParams` with a leading chain axis: the tunables each chain used
        after warm-up.
    compile_seconds : seconds spent compiling (0 when the executable was cached).
    """

    positions: jax.Array
    logdensity: jax.Array
    info: MHInfo
    params: MHParams
    compile_seconds: float


def _runner(logdensity_fn, dim, *, draws, tune, proposal, hastings, adapt):
    """All chains in lockstep; warm-up statistics pooled across chains.

    Every chain proposes with the same tunables, learned from all chains at once: with
    many vectorised chains each covariance window sees ``chains`` times more draws,
    which is what makes short warm-ups work (the cross-chain adaptation of e.g.
    Hoffman, Radul & Sountsov 2021, here for a random walk).
    """
    kernel = jax.vmap(build_kernel(proposal, hastings=hastings), in_axes=(0, 0, None, None))
    walk = jax.vmap(build_kernel(random_walk()), in_axes=(0, 0, None, None))
    learn, adopt = (jnp.asarray(a) for a in warmup_schedule(tune))
    a_init, a_update, a_final = adaptation(dim)

    def per_step_keys(keys, n):
        # (chains, 2) -> (n, chains, 2): one key per chain and step, from each chain's own key.
        return jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, n))(keys), 0, 1)

    def run(keys, positions, fixed):
        split = jax.vmap(jax.random.split)(keys)
        key_warm, key_draw = split[:, 0], split[:, 1]
        states = jax.vmap(init, in_axes=(0, None))(positions, logdensity_fn)
        if adapt and tune > 0:
            # The warm-up always walks (an independence proposal has nothing to
            # centre on yet); it learns the scale, the mean and the covariance.
            def warm_step(carry, xs):
                states, astate = carry
                step_keys, learn_now, adopt_now = xs
                states, info = walk(step_keys, states, logdensity_fn, a_final(astate))
                astate = a_update(
                    astate, learn_now, adopt_now, states.position, info.acceptance_rate
                )
                return (states, astate), None

            (states, astate), _ = jax.lax.scan(
                warm_step,
                (states, a_init(positions[0])),
                (per_step_keys(key_warm, tune), learn, adopt),
            )
            params = a_final(astate)
            if proposal.name == "independence":
                params = params._replace(scale=jnp.asarray(INDEPENDENCE_SCALE, params.chol.dtype))
        else:
            params = fixed

            def burn(states, step_keys):
                return kernel(step_keys, states, logdensity_fn, params)[0], None

            if tune > 0:
                states, _ = jax.lax.scan(burn, states, per_step_keys(key_warm, tune))

        def step(states, step_keys):
            states, info = kernel(step_keys, states, logdensity_fn, params)
            return states, (states.position, states.logdensity, info)

        _, out = jax.lax.scan(step, states, per_step_keys(key_draw, draws))
        positions, lp, info = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), out)
        chains = positions.shape[0]
        per_chain = jax.tree.map(lambda a: jnp.broadcast_to(a, (chains, *a.shape)), params)
        return positions, lp, info, per_chain

    return run


def sample_chains(
    logdensity_fn: LogDensityFn,
    initial_positions: jax.Array,
    *,
    draws: int,
    tune: int,
    seed: int,
    proposal: str | Proposal = "random_walk",
    hastings: bool = True,
    adapt: bool = True,
    params: MHParams | None = None,
    cache_key: Any = None,
):
    """Run ``len(initial_positions)`` chains in lockstep (``vmap``), draws by ``lax.scan``.

    Warm-up tunes one proposal for all chains from their pooled statistics.

    Parameters
    ----------
    logdensity_fn : callable
        Log density of a flat vector.
    initial_positions : (chains, dim) array
    draws, tune : int
        Kept draws and warm-up steps per chain.
    proposal : {"random_walk", "independence"} or Proposal
    hastings : bool
        ``False`` drops the Hastings correction (negative control only).
    adapt : bool
        Adaptive warm-up (:func:`adaptation`); else ``params`` are used throughout.
    params : MHParams, optional
        Fixed tunables when ``adapt=False`` (see :func:`params_from`).
    cache_key : hashable, optional
        Reuse the compiled executable for equal keys (same model, same settings).

    Returns
    -------
    Chains
        ``positions`` (chains, draws, dim), ``logdensity`` (chains, draws), ``info`` (an
        :class:`MHInfo` of (chains, draws) arrays), ``params`` (the :class:`MHParams` each
        chain used) and ``compile_seconds``.
    """
    import time

    # A named proposal is rebuilt on every call, so its name identifies it; a Proposal
    # object passed in (a drifting walk's drift lives in its closure) is its own key.
    proposal_key = proposal
    if isinstance(proposal, str):
        try:
            proposal = PROPOSALS[proposal]()
        except KeyError:
            raise ValueError(
                f"unknown proposal {proposal!r}; choose one of {', '.join(PROPOSALS)}"
            ) from None
    init_positions = jnp.asarray(initial_positions)
    chains, dim = init_positions.shape
    if not adapt and params is None:
        raise ValueError("adapt=False needs fixed params (see inference.mh.params_from)")
    fixed = params if params is not None else params_from(dim, scale=2.38 / np.sqrt(dim))
    fixed = MHParams(*(jnp.asarray(v, init_positions.dtype) for v in fixed))
    keys = jax.random.split(jax.random.PRNGKey(seed), chains)

    def build():
        runner = _runner(
            logdensity_fn,
            dim,
            draws=draws,
            tune=tune,
            proposal=proposal,
            hastings=hastings,
            adapt=adapt,
        )
        return jax.jit(runner).lower(keys, init_positions, fixed).compile()

    t0 = time.perf_counter()
    if cache_key is None:
        compiled = build()
    else:
        key = (cache_key, draws, tune, proposal_key, hastings, adapt, chains, dim)
        compiled = _COMPILED.get((*key, str(init_positions.dtype)), build)
    compile_seconds = time.perf_counter() - t0
    positions, lp, info, adapted = jax.block_until_ready(compiled(keys, init_positions, fixed))
    return Chains(positions, lp, info, adapted, compile_seconds)


def run(
    ld,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool = False,
    proposal: str = "random_walk",
    hastings: bool = True,
    adapt: bool = True,
    scale: float | None = None,
    cov: Any | None = None,
    mean: Any | None = None,
    initial_positions: Any | None = None,
):
    """``inference.sample(target, "mh")``: our MH on a :class:`inference.bridge.LogDensity`.

    Options (through ``inference.sample``): ``proposal`` ("random_walk" or
    "independence"), ``adapt`` (default True), fixed ``scale`` / ``cov`` / ``mean`` when
    ``adapt=False``, ``initial_positions`` (chains, dim) in unconstrained space,
    ``hastings=False`` (negative control only). The adapted scale and covariance are
    returned in ``sample_stats`` (``proposal_scale`` per draw) and in the
    ``adaptation`` group (``scale``, ``cov`` per chain).
    """
    import time

    import xarray as xr

    from ._timing import clock
    from .results import from_arrays

    dim = ld.dim
    params = None
    if not adapt or scale is not None or cov is not None or mean is not None:
        params = params_from(
            dim, scale=2.38 / np.sqrt(dim) if scale is None else scale, cov=cov, mean=mean
        )
    with clock() as c_init:
        if initial_positions is None:
            start = np.asarray(ld.initial_positions(seed, chains))
        else:
            start = np.asarray(initial_positions, dtype=float)
            if start.shape != (chains, dim):
                raise ValueError(
                    f"initial_positions must have shape (chains, dim) = ({chains}, {dim}), "
                    f"got {start.shape}"
                )
        lp0 = np.asarray(ld.batched_logdensity(start))
    bad = np.flatnonzero(~np.isfinite(lp0))
    if bad.size:
        raise ValueError(_explain_start(ld, start[bad[0]], int(bad[0]), lp0[bad[0]]))
    t0 = time.perf_counter()
    positions, lp, info, adapted, compile_s = sample_chains(
        ld.logdensity,
        start,
        draws=draws,
        tune=tune,
        seed=seed,
        proposal=proposal,
        hastings=hastings,
        adapt=adapt,
        params=params,
        cache_key=ld,
    )
    run_s = time.perf_counter() - t0 - compile_s
    with clock() as post:
        posterior = ld.constrain_draws(positions)
    scale_per_chain = np.asarray(adapted.scale)
    stats = {
        "lp": np.asarray(lp),
        "acceptance_rate": np.asarray(info.acceptance_rate),
        "is_accepted": np.asarray(info.is_accepted),
        "proposal_scale": np.repeat(scale_per_chain[:, None], draws, axis=1),
    }
    idata = from_arrays(posterior, stats)
    chol = np.asarray(adapted.chol)
    covs = np.einsum("cij,ckj->cik", chol, chol)
    adaptation_ds = xr.Dataset(
        {
            "scale": (("chain",), scale_per_chain),
            "cov": (("chain", "dim_0", "dim_1"), covs),
            "mean": (("chain", "dim_0"), np.asarray(adapted.mean)),
        },
        attrs={"proposal": str(proposal), "adapt": int(adapt), "hastings": int(hastings)},
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a group outside ArviZ's schema
        idata.add_groups(adaptation=adaptation_ds)
    return idata, c_init.compile + compile_s + post.compile, c_init.run + run_s + post.run


def _explain_start(ld, x, chain: int, value) -> str:
    """One line saying which variables sit where the log density is not finite."""
    try:
        point = {k: np.asarray(v) for k, v in ld.constrain(jnp.asarray(x)).items()}
    except Exception:  # the constrain map may fail exactly where the density does
        point = {k: np.asarray(v) for k, v in ld.unravel(jnp.asarray(x)).items()}
    nonfinite = [k for k, v in point.items() if not np.all(np.isfinite(v))]
    where = ", ".join(
        f"{k}={np.array2string(v, precision=3, threshold=6)}" for k, v in point.items()
    )
    culprit = f" (non-finite: {', '.join(nonfinite)})" if nonfinite else ""
    return (
        f"log density is {value} at the initial point of chain {chain}{culprit}: {where}; "
        "start inside the support of every variable"
    )


# The NumPyro kernel (route 2) and the PyMC step (route 3) live beside this module and
# import NumPyro / PyMC; they load on first use (PEP 562).
_ROUTES = {
    "MetropolisHastings": ".mh_numpyro",
    "MetropolisHastingsStep": ".mh_pymc",
}


def __getattr__(name: str):
    if name in _ROUTES:
        import importlib

        return getattr(importlib.import_module(_ROUTES[name], __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
