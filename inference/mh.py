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

from ._compiled import CompiledCache, compile_lowered

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
    mean, m2, count : Welford accumulators of the window: the mean of each chain, the
        scatter pooled within chains, the number of steps.
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
    * Covariance: the empirical covariance of each window's draws, pooled within
      chains when several chains adapt together, plus ``regularisation``·I so it stays
      positive definite (Haario et al. 2001), taken up at the window's end with the
      scale reset to 2.38/√d.

    Returns
    -------
    init : ``init(position) -> AdaptationState``
    update : ``update(state, learn, adopt, position, acceptance_rate) -> AdaptationState``
        with ``learn`` / ``adopt`` from :func:`warmup_schedule`
    final : ``final(state) -> MHParams`` (the adapted scale and Cholesky factor)
    """
    # NumPy constants: an eager ``jnp`` call would compile a small program of its own.
    eye = np.eye(dim)
    reset = float(np.log(2.38 / np.sqrt(dim)))

    def init_fn(position):
        # ``position``: one chain's start (dim,) or all chains' (chains, dim).
        return AdaptationState(
            jnp.log(jnp.asarray(2.38 / np.sqrt(dim), position.dtype)),
            jnp.zeros_like(position),
            jnp.zeros((dim, dim), position.dtype),
            jnp.zeros((), position.dtype),
            eye.astype(position.dtype),
            jnp.zeros((), position.dtype),
            position,
        )

    def update_fn(state: AdaptationState, learn, adopt, position, acceptance_rate):
        # ``position`` is one chain's (dim,) or a batch (chains, dim), with ``state``
        # initialised from the same shape; ``acceptance_rate`` a scalar or (chains,).
        rate = jnp.mean(jnp.atleast_1d(acceptance_rate))
        step = state.step + 1.0
        log_scale = state.log_scale + step ** (-0.6) * (rate - target_acceptance)
        # Welford per chain; the scatter is pooled *within* chains: chains sitting in
        # different modes (or still far apart) do not inflate the proposal with the
        # distance between them, which a total covariance would.
        count = state.count + learn
        delta = position - state.mean
        mean = jnp.where(learn, state.mean + delta / jnp.maximum(count, 1.0), state.mean)
        m2 = jnp.where(
            learn,
            state.m2 + jnp.atleast_2d(delta).T @ jnp.atleast_2d(position - mean),
            state.m2,
        )
        chains = jnp.atleast_2d(position).shape[0]

        # At a window's end: adopt its covariance, reset the scale and the accumulators.
        def factor(m2):
            cov = m2 / jnp.maximum(chains * (count - 1.0), 1.0) + regularisation * eye
            return jnp.linalg.cholesky(0.5 * (cov + cov.T))

        # Factorised only where a window ends: O(d³) on every step would dominate a
        # long warm-up in a few hundred dimensions.
        new_chol = jax.lax.cond(adopt, factor, lambda m2: state.chol, m2)
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
        centre = jnp.mean(jnp.atleast_2d(state.last_mean), axis=0)
        return MHParams(jnp.exp(state.log_scale), state.chol, centre)

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


class _Carry(NamedTuple):
    """Everything one run carries from step to step, warm-up included."""

    states: MHState  # (chains, ...)
    astate: AdaptationState
    params: MHParams  # the proposal's tunables after warm-up
    keys: jax.Array  # one PRNG key per chain
    t: jax.Array  # steps taken, warm-up included
    lp_sum: jax.Array  # (chains,) log density summed over the current window
    lp_count: jax.Array
    restarts: jax.Array  # chains moved out of a minor mode during warm-up


def chain_keys(seed: int, chains: int) -> np.ndarray:
    """One PRNG key per chain, ``(chains, 2)`` uint32, from ``seed`` (NumPy's SeedSequence).

    Made without JAX: ``jax.random.split`` would compile a program in a fresh process.
    """
    state = np.random.SeedSequence(int(seed)).generate_state(2 * chains, dtype=np.uint32)
    return state.reshape(chains, 2)


def default_tune(dim: int) -> int:
    """Warm-up steps of our MH in ``dim`` dimensions: ``max(1000, 250·dim)``.

    The warm-up learns a dim × dim covariance from windows of draws whose
    autocorrelation time grows like the dimension (about 3.3·dim steps for a tuned walk
    on a Gaussian: Roberts, Gelman & Gilks 1997), after first walking from the starting
    points to the typical set, which takes longer the narrower the posterior. With a
    fixed 1000 steps a 20-dimensional regression (n = 2,000) adopted a covariance 4-7
    times too wide and accepted 1% of its proposals; 250·dim learns it within ~10%.
    """
    return max(1000, 250 * int(dim))


def stuck_threshold(dim: int) -> float:
    """How far (in log density) a chain's window average may sit below the best chain's.

    Ten units of log density is a mass ratio of e^-10 ≈ 5·10^-5 between equal-volume
    regions, plus three standard deviations of a point's log density in the typical
    set of a d-dimensional Gaussian (√(d/2)): a chain further below the best one spends
    the warm-up where the posterior has no mass worth sampling.
    """
    return 10.0 + 3.0 * float(np.sqrt(dim / 2.0))


def _program(logdensity_fn, dim, chains, *, tune, chunk, proposal, hastings, adapt, thin=1):
    """One compiled program for warm-up and draws: ``advance(carry, data, n)``.

    It takes ``n`` steps from ``carry`` (``n`` is an argument: the warm-up is one call
    with ``n = tune``, each chunk of draws one call with ``n = chunk``) and returns the
    new carry and the last ``chunk`` draws. The data are an argument too
    (:class:`inference.bridge.LogDensity`), so new data of the same shapes, a new seed or
    the next chunk of the same chains compile nothing.

    During warm-up every chain walks with the same tunables, learned from all chains at
    once (with many vectorised chains each covariance window sees ``chains`` times more
    draws, which is what makes short warm-ups work: the cross-chain adaptation of e.g.
    Hoffman, Radul & Sountsov 2021, here for a random walk). At the end of each window a
    chain whose average log density sits more than :func:`stuck_threshold` below the
    best chain's (stuck in a minor mode, or still far out) restarts from the position of
    a chain drawn at random among the others; the covariance is pooled within chains, so
    chains in different modes do not widen the proposal either.
    """
    kernel = jax.vmap(build_kernel(proposal, hastings=hastings), in_axes=(0, 0, None, None))
    walk = jax.vmap(build_kernel(random_walk()), in_axes=(0, 0, None, None))
    learn_np, adopt_np = warmup_schedule(tune)
    learn = np.append(learn_np, False)  # index ``tune``: after warm-up
    adopt = np.append(adopt_np, False)
    _, a_update, a_final = adaptation(dim)
    threshold = stuck_threshold(dim)
    same_kernel = proposal.name == "random_walk"

    def finished(astate):
        params = a_final(astate)
        if proposal.name == "independence":
            params = params._replace(scale=jnp.asarray(INDEPENDENCE_SCALE, params.chol.dtype))
        return params

    def advance(carry: _Carry, data, n):
        def logdensity(x):
            return logdensity_fn(x, data)

        def transition(c: _Carry) -> tuple[_Carry, MHInfo]:
            warming = c.t < tune
            tuning = warming & adapt
            split = jax.vmap(lambda k: jax.random.split(k, 2))(c.keys)
            keys, step_keys = split[:, 0], split[:, 1]
            if adapt and same_kernel:
                # One kernel: the warm-up's current tunables, then the adapted ones.
                params = jax.tree.map(
                    lambda a, b: jnp.where(warming, a, b), a_final(c.astate), c.params
                )
                states, info = kernel(step_keys, c.states, logdensity, params)
            elif adapt:
                # The warm-up walks (an independence proposal has nothing to centre on yet).
                states, info = jax.lax.cond(
                    warming,
                    lambda: walk(step_keys, c.states, logdensity, a_final(c.astate)),
                    lambda: kernel(step_keys, c.states, logdensity, c.params),
                )
            else:
                states, info = kernel(step_keys, c.states, logdensity, c.params)
            astate, params, lp_sum, lp_count, restarts = (
                c.astate,
                c.params,
                c.lp_sum,
                c.lp_count,
                c.restarts,
            )
            if adapt and tune > 0:
                at = jnp.minimum(c.t, tune)
                learn_now = jnp.asarray(learn)[at] & tuning
                adopt_now = jnp.asarray(adopt)[at] & tuning
                lp_sum = lp_sum + jnp.where(learn_now, states.logdensity, 0.0)
                lp_count = lp_count + learn_now
                # The window's statistics first, from where the chains are: a restart's
                # jump must not enter the covariance it would inflate.
                updated = a_update(
                    astate, learn_now, adopt_now, states.position, info.acceptance_rate
                )
                astate = jax.tree.map(lambda a, b: jnp.where(tuning, a, b), updated, astate)
                params = jax.tree.map(
                    lambda a, b: jnp.where(tuning, a, b), finished(astate), params
                )
                if chains > 1:
                    window = lp_sum / jnp.maximum(lp_count, 1.0)
                    stuck = adopt_now & (window < jnp.max(window) - threshold)
                    donors = jax.random.categorical(
                        jax.random.fold_in(c.keys[0], c.t),
                        jnp.where(stuck, -jnp.inf, 0.0),
                        shape=(chains,),
                    )
                    states = MHState(
                        jnp.where(stuck[:, None], states.position[donors], states.position),
                        jnp.where(stuck, states.logdensity[donors], states.logdensity),
                    )
                    restarts = restarts + jnp.sum(stuck).astype(restarts.dtype)
                lp_sum = jnp.where(adopt_now, 0.0, lp_sum)
                lp_count = jnp.where(adopt_now, 0.0, lp_count)
            new = _Carry(states, astate, params, keys, c.t + 1, lp_sum, lp_count, restarts)
            return new, info

        def body(i, loop):
            c, buffers = loop
            # A kept draw is ``thin`` transitions after warm-up, one during it.
            steps = jnp.where(c.t < tune, 1, thin)
            zero = jnp.zeros(chains, c.states.logdensity.dtype)
            c, info = jax.lax.fori_loop(
                0,
                steps,
                lambda _, ci: transition(ci[0]),
                (c, MHInfo(zero, jnp.zeros(chains, bool), zero)),
            )
            at = jnp.mod(i, chunk)  # the warm-up's writes are overwritten by the draws'
            buffers = (
                buffers[0].at[at].set(c.states.position),
                buffers[1].at[at].set(c.states.logdensity),
                buffers[2].at[at].set(info.acceptance_rate),
                buffers[3].at[at].set(info.is_accepted),
            )
            return c, buffers

        x = carry.states.position
        buffers = (
            jnp.zeros((chunk, chains, dim), x.dtype),
            jnp.zeros((chunk, chains), x.dtype),
            jnp.zeros((chunk, chains), x.dtype),
            jnp.zeros((chunk, chains), bool),
        )
        carry, buffers = jax.lax.fori_loop(0, n, body, (carry, buffers))
        positions, lp, rate, accepted = (jnp.swapaxes(b, 0, 1) for b in buffers)
        return carry, (positions, lp, MHInfo(rate, accepted, lp))

    return advance


class ChainRun:
    """Chains of our MH that keep going: warm-up once, then :meth:`draw` chunk after chunk.

    Every chunk continues the same chains with the same compiled program, so two chunks
    of ``n`` draws are the draws of one run of ``2n`` (same seed, same data). Used by
    :func:`run` (one chunk) and by ``inference.sample(..., until_ess=...)``.

    Parameters
    ----------
    logdensity_fn : callable
        ``logdensity_fn(x, data)``: the log density with the data as an argument.
    initial_positions : (chains, dim) array
    initial_logdensity : (chains,) array
        ``logdensity_fn`` at the initial positions (already checked finite).
    data : pytree
        The data ``logdensity_fn`` takes.
    structure : hashable or None
        Runs with equal ``structure`` (same model and data shapes) share the compiled
        program; None compiles a new one.
    tune, chunk, seed, proposal, hastings, adapt, params
        As in :func:`sample_chains`; ``chunk`` draws per :meth:`draw`.
    thin : int
        Transitions per kept draw after warm-up (1: keep every step).
    """

    def __init__(
        self,
        logdensity_fn,
        initial_positions,
        initial_logdensity,
        *,
        data: Any = (),
        structure: Any = None,
        tune: int,
        chunk: int,
        seed: int,
        proposal: str | Proposal = "random_walk",
        hastings: bool = True,
        adapt: bool = True,
        params: MHParams | None = None,
        thin: int = 1,
    ) -> None:
        import time

        # A named proposal is rebuilt on every call, so its name identifies it; a
        # Proposal object passed in (a drifting walk's drift lives in its closure) is
        # its own key.
        proposal_key = proposal
        if isinstance(proposal, str):
            try:
                proposal = PROPOSALS[proposal]()
            except KeyError:
                raise ValueError(
                    f"unknown proposal {proposal!r}; choose one of {', '.join(PROPOSALS)}"
                ) from None
        # The starting carry is built in NumPy: each eager JAX operation would compile a
        # small program of its own on first use, seconds in all in a fresh process.
        x0 = np.asarray(initial_positions)
        chains, dim = x0.shape
        dtype = x0.dtype
        if not adapt and params is None:
            raise ValueError("adapt=False needs fixed params (see inference.mh.params_from)")
        fixed = params if params is not None else params_from(dim, scale=2.38 / np.sqrt(dim))
        fixed = MHParams(*(np.asarray(v, dtype) for v in fixed))
        zero = np.zeros((), dtype)
        self.carry = _Carry(
            MHState(x0, np.asarray(initial_logdensity, dtype)),
            AdaptationState(
                np.log(np.asarray(2.38 / np.sqrt(dim), dtype)),
                np.zeros_like(x0),
                np.zeros((dim, dim), dtype),
                zero,
                np.eye(dim, dtype=dtype),
                zero,
                x0,
            ),
            fixed,
            chain_keys(seed, chains),
            np.zeros((), np.int32),
            np.zeros(chains, dtype),
            zero,
            np.zeros((), np.int32),
        )
        self.data, self.tune, self.chunk, self.thin = data, int(tune), int(chunk), int(thin)
        if self.thin < 1:
            raise ValueError(f"thin must be a whole number >= 1, got {thin}")

        def build():
            advance = _program(
                logdensity_fn,
                dim,
                chains,
                tune=self.tune,
                chunk=self.chunk,
                proposal=proposal,
                hastings=hastings,
                adapt=adapt,
                thin=self.thin,
            )
            n = np.asarray(0, np.int32)
            return compile_lowered(jax.jit(advance).lower(self.carry, data, n))

        t0 = time.perf_counter()
        if structure is None:
            self._advance = build()
        else:
            key = (structure, tune, chunk, proposal_key, hastings, adapt, chains, dim, self.thin)
            self._advance = _COMPILED.get((*key, str(x0.dtype)), build)
        self.compile_seconds = time.perf_counter() - t0
        if self.tune:
            self.carry, _ = self._advance(self.carry, data, np.asarray(self.tune, np.int32))

    @property
    def restarts(self) -> int:
        """Chains restarted from another chain's position during warm-up."""
        return int(self.carry.restarts)

    @property
    def params(self) -> MHParams:
        """The tunables after warm-up, with a leading chain axis."""
        chains = self.carry.states.position.shape[0]
        return jax.tree.map(
            lambda a: np.broadcast_to(np.asarray(a), (chains, *np.shape(a))), self.carry.params
        )

    def draw(self) -> tuple[jax.Array, jax.Array, MHInfo]:
        """The next ``chunk`` draws of every chain: positions, log densities, info."""
        self.carry, out = self._advance(self.carry, self.data, jnp.asarray(self.chunk, jnp.int32))
        return jax.block_until_ready(out)


# Compiled programs by model structure and settings (tune, chunk, proposal, chains,
# ...). The tunables (scale, covariance, mean) and the data are arguments of the
# program, not part of the key: a sweep over proposal scales, a new data set of the
# same shapes or a new seed compiles nothing.
_COMPILED: CompiledCache[Any] = CompiledCache("MH programs", maxsize=8)


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
    """Run ``len(initial_positions)`` chains in lockstep (``vmap``), warm-up and draws
    in one compiled loop.

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
    x0 = jnp.asarray(initial_positions)
    lp0 = jax.vmap(logdensity_fn)(x0)
    chains = ChainRun(
        lambda x, data: logdensity_fn(x),
        x0,
        lp0,
        structure=cache_key,
        tune=tune,
        chunk=draws,
        seed=seed,
        proposal=proposal,
        hastings=hastings,
        adapt=adapt,
        params=params,
    )
    positions, lp, info = chains.draw()
    return Chains(positions, lp, info, chains.params, chains.compile_seconds)


def start(
    ld,
    *,
    chunk: int,
    tune: int,
    chains: int,
    seed: int,
    proposal: str = "random_walk",
    hastings: bool = True,
    adapt: bool = True,
    scale: float | None = None,
    cov: Any | None = None,
    mean: Any | None = None,
    initial_positions: Any | None = None,
    thin: int = 1,
) -> ChainRun:
    """Warmed-up chains of our MH on a :class:`inference.bridge.LogDensity`, ready to draw."""
    dim = ld.dim
    params = None
    if not adapt or scale is not None or cov is not None or mean is not None:
        params = params_from(
            dim, scale=2.38 / np.sqrt(dim) if scale is None else scale, cov=cov, mean=mean
        )
    if initial_positions is None:
        x0 = np.asarray(ld.initial_positions(seed, chains))
    else:
        x0 = np.asarray(initial_positions, dtype=float)
        if x0.shape != (chains, dim):
            raise ValueError(
                f"initial_positions must have shape (chains, dim) = ({chains}, {dim}), "
                f"got {x0.shape}"
            )
    lp0 = np.asarray(ld.batched_logdensity(x0))
    bad = np.flatnonzero(~np.isfinite(lp0))
    if bad.size:
        raise ValueError(_explain_start(ld, x0[bad[0]], int(bad[0]), lp0[bad[0]]))
    return ChainRun(
        ld.logdensity_fn,
        x0,
        lp0,
        data=ld.data,
        structure=ld.structure,
        tune=tune,
        chunk=chunk,
        seed=seed,
        proposal=proposal,
        hastings=hastings,
        adapt=adapt,
        params=params,
        thin=thin,
    )


def chunk_stats(lp, info, run: ChainRun) -> dict[str, np.ndarray]:
    """``sample_stats`` of one chunk of draws."""
    lp = np.asarray(lp)
    scale = np.asarray(run.params.scale)
    return {
        "lp": lp,
        "acceptance_rate": np.asarray(info.acceptance_rate),
        "is_accepted": np.asarray(info.is_accepted),
        "proposal_scale": np.repeat(scale[:, None], lp.shape[1], axis=1),
    }


def adaptation_group(run: ChainRun, *, proposal, adapt, hastings):
    """The ``adaptation`` group: the scale, covariance and centre each chain used."""
    import xarray as xr

    adapted = run.params
    chol = np.asarray(adapted.chol)
    return xr.Dataset(
        {
            "scale": (("chain",), np.asarray(adapted.scale)),
            "cov": (("chain", "dim_0", "dim_1"), np.einsum("cij,ckj->cik", chol, chol)),
            "mean": (("chain", "dim_0"), np.asarray(adapted.mean)),
        },
        attrs={
            "proposal": str(proposal),
            "adapt": int(adapt),
            "hastings": int(hastings),
            "restarts": run.restarts,
            "thin": run.thin,
        },
    )


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
    thin: int = 1,
):
    """``inference.sample(target, "mh")``: our MH on a :class:`inference.bridge.LogDensity`.

    Options (through ``inference.sample``): ``proposal`` ("random_walk" or
    "independence"), ``adapt`` (default True), fixed ``scale`` / ``cov`` / ``mean`` when
    ``adapt=False``, ``initial_positions`` (chains, dim) in unconstrained space,
    ``hastings=False`` (negative control only), ``thin`` (transitions per kept draw: a
    random walk's draws are strongly autocorrelated, its autocorrelation time about
    3.3·d steps on a d-dimensional Gaussian when optimally tuned (Roberts, Gelman &
    Gilks 1997), so keeping every k-th step loses little ESS for k up to about d and
    saves k times the memory). The adapted scale and covariance are
    returned in ``sample_stats`` (``proposal_scale`` per draw) and in the
    ``adaptation`` group (``scale``, ``cov`` per chain; ``restarts`` in its attrs: chains
    moved out of a minor mode during warm-up).
    """
    import time
    import warnings

    from ._timing import clock
    from .results import from_arrays

    with clock() as c_init:
        chain_run = start(
            ld,
            chunk=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            proposal=proposal,
            hastings=hastings,
            adapt=adapt,
            scale=scale,
            cov=cov,
            mean=mean,
            initial_positions=initial_positions,
            thin=thin,
        )
    t0 = time.perf_counter()
    positions, lp, info = chain_run.draw()
    draw_s = time.perf_counter() - t0
    with clock() as post:
        posterior = ld.constrain_draws(positions)
    idata = from_arrays(posterior, chunk_stats(lp, info, chain_run))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a group outside ArviZ's schema
        idata.add_groups(
            adaptation=adaptation_group(
                chain_run, proposal=proposal, adapt=adapt, hastings=hastings
            )
        )
    # ``clock`` splits off what JAX spent compiling (the program, the start's log
    # density); the rest of the start is the warm-up, which is sampling.
    return idata, c_init.compile + post.compile, c_init.run + draw_s + post.run


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
