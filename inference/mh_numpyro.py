"""Our Metropolis–Hastings kernel as a NumPyro ``MCMCKernel`` (route 2 of three).

:class:`MetropolisHastings` drives the pure functions of :mod:`inference.mh` — the
same ``build_kernel`` transition and the same ``adaptation`` warm-up as
``inference.sample(target, "mh")`` — from inside ``numpyro.infer.MCMC``, so a NumPyro
user keeps their ``MCMC`` object, every ``chain_method`` and ``az.from_numpyro``.

The model's potential energy U(z) (``numpyro.infer.util.initialize_model``) becomes
the kernel's log density −U through :mod:`inference.bridge`; the unconstrained sites
``z`` are flattened with ``jax.flatten_util.ravel_pytree``. Warm-up happens inside
:meth:`MetropolisHastings.sample`: the iteration counter in the state indexes
:func:`inference.mh.warmup_schedule`, exactly as the ``lax.scan`` of
:func:`inference.mh.sample_chains` does.

References
----------
Phan, D., Pradhan, N. & Jankowiak, M. (2019). Composable effects for flexible and
accelerated probabilistic programming in NumPyro. arXiv:1912.11554.
Haario, H., Saksman, E. & Tamminen, J. (2001). An adaptive Metropolis algorithm. Bernoulli 7(2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import ParamInfo, initialize_model
from numpyro.util import identity, is_prng_key

from . import mh
from .bridge import logdensity_from_potential, potential_value

__all__ = ["MHKernelState", "MetropolisHastings"]


class MHKernelState(NamedTuple):
    """State of one chain of :class:`MetropolisHastings` (a pytree).

    i : iteration counter (warm-up steps included).
    z : the unconstrained sites, as a pytree shaped like ``init_params`` (the sample field).
    mh_state : :class:`inference.mh.MHState` on the flat vector.
    adapt_state : :class:`inference.mh.AdaptationState`, frozen after warm-up.
    accept_prob : α of the last transition.
    is_accepted : whether the last proposal was taken.
    mean_accept_prob : running mean of α since the start of the current phase.
    rng_key : the chain's key.

    ``potential_energy`` (−log p̃), ``diverging`` (always False) and ``num_steps``
    (always 1) are derived, so ``az.from_numpyro`` finds the contract's ``lp``,
    ``acceptance_rate``, ``diverging`` and ``n_steps``.
    """

    i: jax.Array
    z: Any
    mh_state: mh.MHState
    adapt_state: mh.AdaptationState
    accept_prob: jax.Array
    is_accepted: jax.Array
    mean_accept_prob: jax.Array
    rng_key: jax.Array

    @property
    def potential_energy(self) -> jax.Array:
        return potential_value(self.mh_state.logdensity)

    @property
    def diverging(self) -> jax.Array:
        return jnp.zeros_like(self.is_accepted)

    @property
    def num_steps(self) -> jax.Array:
        return jnp.ones_like(self.i)


class MetropolisHastings(MCMCKernel):
    """Our adaptive Metropolis–Hastings kernel for ``numpyro.infer.MCMC``.

    Parameters
    ----------
    model : callable, optional
        A NumPyro model; its potential energy and constraining transforms are derived
        with ``numpyro.infer.util.initialize_model``.
    potential_fn : callable, optional
        A potential energy U(z) = −log p̃(z) of a pytree ``z`` (give ``init_params`` to
        ``MCMC.run``). Exactly one of ``model`` and ``potential_fn``.
    proposal : {"random_walk", "independence"}
        The proposal family (:func:`inference.mh.random_walk`, :func:`inference.mh.independence`).
    scale : float, optional
        Proposal scale. With ``adapt=True`` the starting scale of the warm-up (default
        2.38/√d); with ``adapt=False`` the fixed scale.
    cov : (d, d) array, optional
        Proposal covariance in the flat unconstrained space (symmetric positive
        definite; default the identity). Starting value or fixed, as ``scale``.
    mean : (d,) array, optional
        Centre of an independence proposal when ``adapt=False`` (default zeros).
    adapt : bool
        Adaptive warm-up (:func:`inference.mh.adaptation`): the scale is tuned
        towards acceptance 0.234 and the covariance learnt in windows
        (:func:`inference.mh.warmup_schedule`). The warm-up always walks; an
        independence proposal is then centred on the warm-up's mean with its
        covariance, widened by :data:`inference.mh.INDEPENDENCE_SCALE`.
    hastings : bool
        Include the proposal ratio; ``False`` is wrong for an asymmetric proposal
        and exists only as a negative control.

    Notes
    -----
    With ``chain_method="vectorized"`` the transition is ``vmap``-ped over chains,
    as in :func:`inference.mh.sample_chains`; ``"sequential"`` and ``"parallel"``
    run the same per-chain function. The state is :class:`MHKernelState`; the sample
    field is ``z`` (unconstrained), and ``MCMC.get_samples()`` returns the
    constrained sites (deterministics included) through :meth:`postprocess_fn`.

    Examples
    --------
    >>> import jax
    >>> import numpyro
    >>> import numpyro.distributions as dist
    >>> from numpyro.infer import MCMC
    >>> from bayesmin.inference.mh import MetropolisHastings
    >>> def model(y):
    ...     mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    ...     sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    ...     numpyro.sample("y", dist.Normal(mu, sigma), obs=y)
    >>> y = jax.random.normal(jax.random.PRNGKey(1), (50,)) + 3.0
    >>> mcmc = MCMC(MetropolisHastings(model), num_warmup=1000, num_samples=2000,
    ...             num_chains=2, chain_method="vectorized", progress_bar=False)
    >>> mcmc.run(jax.random.PRNGKey(0), y=y)
    >>> samples = mcmc.get_samples()
    >>> bool(abs(samples["mu"].mean() - y.mean()) < 0.2), bool((samples["sigma"] > 0).all())
    (True, True)
    >>> import arviz as az
    >>> sorted(az.from_numpyro(mcmc).sample_stats.data_vars)
    ['acceptance_rate', 'diverging', 'is_accepted', 'lp', 'n_steps', 'tree_depth']
    """

    sample_field = "z"

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
        proposal: str = "random_walk",
        scale: float | None = None,
        cov: Any | None = None,
        mean: Any | None = None,
        adapt: bool = True,
        hastings: bool = True,
    ):
        if (model is None) == (potential_fn is None):
            raise ValueError("Only one of `model` or `potential_fn` must be specified.")
        if proposal not in mh.PROPOSALS:
            raise ValueError(
                f"unknown proposal {proposal!r}; choose one of {', '.join(mh.PROPOSALS)}"
            )
        if scale is not None and (not np.isfinite(scale) or scale <= 0):
            raise ValueError(f"proposal scale must be finite and > 0, got {scale}")
        if cov is not None:  # fail here, not inside MCMC.run; the shape is checked in init
            cov = np.atleast_2d(np.asarray(cov, dtype=float))
            mh.params_from(cov.shape[0], scale=1.0, cov=cov)
        self._model = model
        self._potential_fn = potential_fn
        self._proposal = proposal
        self._scale = scale
        self._cov = cov
        self._mean = mean
        self._adapt = bool(adapt)
        self._hastings = bool(hastings)
        self._postprocess_fn = None
        self._sample_fn = None

    # ------------------------------------------------------------------ NumPyro API

    @property
    def model(self) -> Callable | None:
        return self._model

    @property
    def default_fields(self) -> tuple[str, ...]:
        return ("z", "diverging", "potential_energy", "accept_prob", "is_accepted", "num_steps")

    def get_diagnostics_str(self, state: MHKernelState) -> str:
        text = f"acc. prob={float(state.mean_accept_prob):.2f}"
        if self._adapt:
            text += f", scale={float(jnp.exp(state.adapt_state.log_scale)):.2e}"
        return text

    def postprocess_fn(self, args, kwargs):
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*args, **(kwargs or {}))

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        model_args = () if model_args is None else tuple(model_args)
        model_kwargs = {} if model_kwargs is None else dict(model_kwargs)
        vectorized = not is_prng_key(rng_key)
        if vectorized:  # chain_method="vectorized": one key per chain
            rng_key, key_init = jnp.swapaxes(jax.vmap(jax.random.split)(rng_key), 0, 1)
        else:
            rng_key, key_init = jax.random.split(rng_key)
        if self._model is not None:
            info = initialize_model(
                key_init,
                self._model,
                dynamic_args=True,
                model_args=model_args,
                model_kwargs=model_kwargs,
            )
            if init_params is None:
                init_params = info.param_info.z
            self._postprocess_fn = info.postprocess_fn
            potential = info.potential_fn(*model_args, **model_kwargs)
        else:
            if init_params is None:
                raise ValueError(
                    "Valid value of `init_params` must be provided with `potential_fn`."
                )
            potential = self._potential_fn
        if isinstance(init_params, ParamInfo):
            init_params = init_params.z
        one = jax.tree.map(lambda v: v[0], init_params) if vectorized else init_params
        _, unravel = ravel_pytree(one)
        logdensity = logdensity_from_potential(potential)

        def flat_logdensity(x):
            return logdensity(unravel(x))

        init_one, sample_one = self._build(flat_logdensity, unravel, int(num_warmup), one)
        if vectorized:
            init_one, sample_one = jax.vmap(init_one), jax.vmap(sample_one)
        self._sample_fn = sample_one
        # One compiled call rather than a dispatch (and a compile) per operation.
        return jax.jit(init_one)(init_params, rng_key)

    def sample(self, state: MHKernelState, model_args, model_kwargs) -> MHKernelState:
        if self._sample_fn is None:
            raise RuntimeError("`init` must be called before `sample`.")
        return self._sample_fn(state)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = None  # a closure over traced functions; rebuilt by ``init``
        return state

    # --------------------------------------------------------------- the transition

    def _build(self, logdensity, unravel, num_warmup: int, prototype):
        flat0, _ = ravel_pytree(prototype)
        dim = int(flat0.size)
        dtype = flat0.dtype
        proposal = mh.PROPOSALS[self._proposal]()
        kernel = mh.build_kernel(proposal, hastings=self._hastings)
        walk = mh.build_kernel(mh.random_walk())
        a_init, a_update, a_final = mh.adaptation(dim)
        given = self._scale is not None or self._cov is not None or self._mean is not None
        fixed = mh.params_from(
            dim,
            scale=2.38 / np.sqrt(dim) if self._scale is None else self._scale,
            cov=self._cov,
            mean=self._mean,
        )
        fixed = mh.MHParams(*(jnp.asarray(v, dtype) for v in fixed))
        adapting = self._adapt and num_warmup > 0
        independence = proposal.name == "independence"
        learn, adopt = (jnp.asarray(a) for a in mh.warmup_schedule(max(num_warmup, 1)))

        def init_one(z, key):
            x = ravel_pytree(z)[0].astype(dtype)
            astate = a_init(x)
            if given:  # the user's values start the adaptation
                astate = astate._replace(log_scale=jnp.log(fixed.scale), chol=fixed.chol)
            zero = jnp.zeros((), dtype)
            return MHKernelState(
                jnp.zeros((), jnp.result_type(int)),
                z,
                mh.init(x, logdensity),
                astate,
                zero,
                jnp.zeros((), bool),
                zero,
                key,
            )

        def sample_one(state: MHKernelState) -> MHKernelState:
            key_next, key_step = jax.random.split(state.rng_key)
            astate = state.adapt_state
            if adapting:
                warm = state.i < num_warmup
                params = a_final(astate)
                if independence:
                    # Walk while warming up (nothing to centre on yet), then propose
                    # from the warm-up's Gaussian, as ``inference.mh.sample_chains``.
                    tuned = params._replace(scale=jnp.asarray(mh.INDEPENDENCE_SCALE, dtype))
                    new, info = jax.lax.cond(
                        warm,
                        lambda: walk(key_step, state.mh_state, logdensity, params),
                        lambda: kernel(key_step, state.mh_state, logdensity, tuned),
                    )
                else:  # after warm-up the adaptation state is frozen: same params
                    new, info = kernel(key_step, state.mh_state, logdensity, params)
                at = jnp.minimum(state.i, num_warmup - 1)
                astate = jax.lax.cond(  # frozen after warm-up
                    warm,
                    lambda a: a_update(a, learn[at], adopt[at], new.position, info.acceptance_rate),
                    lambda a: a,
                    astate,
                )
            else:
                new, info = kernel(key_step, state.mh_state, logdensity, fixed)
            # Running mean of α within the current phase (warm-up, then sampling).
            t = jnp.where(state.i < num_warmup, state.i, state.i - num_warmup)
            mean_accept = state.mean_accept_prob + (
                info.acceptance_rate - state.mean_accept_prob
            ) / (t + 1)
            return MHKernelState(
                state.i + 1,
                unravel(new.position),
                new,
                astate,
                info.acceptance_rate,
                info.is_accepted,
                mean_accept,
                key_next,
            )

        return init_one, sample_one
