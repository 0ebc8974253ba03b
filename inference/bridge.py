"""The one bridge between declarative models and JAX kernels.

Every kernel in bayesmin works on a *log density* (higher is better) of a flat vector
in unconstrained space. This module derives that function from a NumPyro model or a
PyMC model, together with initial points and the map back to the constrained
variables (deterministics included). It is also the only place where a sign is
flipped: NumPyro's potential energy is ``-log density``. PyMC's log density is
jaxified from ``model.logp()`` itself rather than through ``get_jaxified_logp``, whose
``negative_logp`` flag reads the other way round (its default, ``True``, returns +logp;
``False`` returns -logp).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = [
    "LogDensity",
    "from_numpyro",
    "from_pymc",
    "logdensity_from_potential",
    "potential_fn",
    "potential_value",
]

from ._precision import float64

# Both bridges trace the model in 64-bit (PyMC models are float64; :mod:`._precision`
# says why every route runs in the same precision), so a LogDensity's flat vector, its
# initial points and its constrained draws are float64 whatever the global flag.


def _float64_only(fn: Callable) -> Callable:
    """``fn`` evaluated in 64-bit: an eager call switches to it; a trace must already be in it.

    The model's constants were made in 64-bit; traced in 32-bit, they would meet 32-bit
    arrays and fail deep in XLA (``operand type mismatch``). A sampler traces these
    functions inside ``float64()``, as ``inference.sample`` does; tracing them outside is
    refused here with the remedy.
    """

    @functools.wraps(fn)
    def wrapper(*args):
        if jax.config.jax_enable_x64:
            return fn(*args)
        if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(args)):
            raise RuntimeError(
                "this log density was built in float64; trace it inside "
                "bayesmin.inference._precision.float64() (bayesmin's samplers do), or "
                "turn JAX's x64 mode on"
            )
        with float64():
            return fn(*args)

    return wrapper


@dataclass(frozen=True)
class LogDensity:
    """A model as a JAX log density on a flat unconstrained vector.

    Attributes
    ----------
    logdensity : callable
        ``logdensity(x) -> scalar``; ``x`` has shape ``(dim,)``. Includes the log
        Jacobian of the transforms, so it is the density of ``x`` itself.
    dim : int
        Length of the flat vector.
    initial_positions : callable
        ``initial_positions(seed, chains) -> ndarray (chains, dim)``: jittered starts.
    constrain : callable
        ``constrain(x) -> dict[str, Array]``: the model's free variables in their own
        (constrained) space, plus deterministics, for one flat point.
    unravel : callable
        ``unravel(x) -> dict``: the unconstrained variables by name.
    """

    logdensity: Callable[[jax.Array], jax.Array]
    dim: int
    initial_positions: Callable[[int, int], np.ndarray]
    constrain: Callable[[jax.Array], dict[str, jax.Array]]
    unravel: Callable[[jax.Array], dict[str, jax.Array]]

    def __post_init__(self) -> None:
        for name in ("logdensity", "constrain", "unravel"):
            object.__setattr__(self, name, _float64_only(getattr(self, name)))

    # The batched functions are jitted once per LogDensity and kept on it: a fresh
    # ``jax.jit`` wrapper per call would retrace and recompile on every run of a model
    # (each scale of a sweep, each seed of a grid).
    @cached_property
    def batched_logdensity(self) -> Callable[[jax.Array], jax.Array]:
        """``logdensity`` over a batch of points, ``(n, dim) -> (n,)``, jitted."""
        return _float64_only(jax.jit(jax.vmap(self.logdensity)))

    @cached_property
    def _constrain_batched(self) -> Callable[[jax.Array], dict[str, jax.Array]]:
        return jax.jit(jax.vmap(jax.vmap(self.constrain)))

    @float64()
    def constrain_draws(self, draws: jax.Array) -> dict[str, np.ndarray]:
        """Map draws of shape ``(chains, n, dim)`` to constrained arrays ``(chains, n, ...)``."""
        out = self._constrain_batched(draws)
        return {k: np.asarray(v) for k, v in out.items()}


def potential_fn(logdensity: Callable[[jax.Array], jax.Array]) -> Callable:
    """NumPyro's potential energy (``-log density``) for a flat log density."""
    return lambda x: -logdensity(x)


def logdensity_from_potential(potential: Callable) -> Callable:
    """The log density (``-potential``) of a NumPyro potential energy function."""
    return lambda x: -potential(x)


def potential_value(logdensity_value: jax.Array) -> jax.Array:
    """A log-density value as a potential-energy value."""
    return -logdensity_value


@float64()
def from_numpyro(model: Callable, data: Mapping[str, Any] | None = None) -> LogDensity:
    """The log density of a NumPyro model function called as ``model(**data)``."""
    from numpyro.infer.util import initialize_model

    data = dict(data or {})
    info = initialize_model(jax.random.PRNGKey(0), model, model_kwargs=data)
    z0 = info.param_info.z
    flat0, unravel = ravel_pytree(z0)
    potential = info.potential_fn
    postprocess = info.postprocess_fn

    def logdensity(x):
        return -potential(unravel(x))

    def constrain(x):
        return postprocess(unravel(x))

    batched = jax.jit(jax.vmap(logdensity))

    @float64()
    def initial_positions(seed: int, chains: int) -> np.ndarray:
        # NumPyro's default ``init_to_uniform``: uniform on (-2, 2) in unconstrained
        # space, redrawn where the log density is not finite.
        rng = np.random.default_rng(seed)
        x = rng.uniform(-2.0, 2.0, size=(chains, flat0.size))
        for _ in range(100):
            bad = ~np.isfinite(np.asarray(batched(x)))
            if not bad.any():
                return x
            x[bad] = rng.uniform(-2.0, 2.0, size=(int(bad.sum()), flat0.size))
        raise ValueError(
            "no finite log density at 100 random starting points; check the model and data"
        )

    return LogDensity(logdensity, int(flat0.size), initial_positions, constrain, unravel)


@float64()
def from_pymc(model, *, discrete: bool = False) -> LogDensity:
    """The log density of a ``pm.Model`` in its unconstrained value space.

    Inputs are the value variables in ``model.value_vars`` order, flattened; the
    log density is ``model.logp()`` (log Jacobians of the transforms included).

    Discrete (integer) variables are refused unless ``discrete=True``: then they keep
    their place in the flat vector, as floats holding whole numbers, and are cast back
    to integers for the model. That is for a step that moves only the continuous block
    and reads the discrete values as they are (``mh:pymc`` beside PyMC's own step for
    the discrete ones); a kernel that moves the whole vector would make them fractional.
    """
    from pymc.initial_point import make_initial_point_fn
    from pymc.sampling.jax import get_jaxified_graph
    from pymc.util import get_default_varnames

    value_vars = list(model.value_vars)
    if not discrete and any(v.dtype.startswith("int") for v in value_vars):
        discrete = [v.name for v in value_vars if v.dtype.startswith("int")]
        raise ValueError(
            f"variables {', '.join(discrete)} are discrete; gradient-based and "
            "random-walk kernels here need continuous free variables (marginalise them out)"
        )
    names = [v.name for v in value_vars]
    point0 = model.initial_point(0)
    shapes = [np.shape(point0[n]) for n in names]
    sizes = [int(np.prod(s)) for s in shapes]
    splits = np.cumsum(sizes)[:-1].tolist()

    # +logp, built directly: ``get_jaxified_logp(model, negative_logp=False)`` is -logp.
    logp_graph = get_jaxified_graph(inputs=value_vars, outputs=[model.logp()])

    def logp(values):
        return logp_graph(*values)[0]

    dtypes = [v.dtype for v in value_vars]

    def unravel(x):
        parts = jnp.split(x, splits) if splits else [x]
        return {
            n: (p.reshape(s) if not t.startswith("int") else jnp.round(p).astype(t).reshape(s))
            for n, p, s, t in zip(names, parts, shapes, dtypes, strict=True)
        }

    def logdensity(x):
        u = unravel(x)
        return logp([u[n] for n in names])

    outputs = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    out_names = [o.name for o in outputs]
    graph = get_jaxified_graph(inputs=value_vars, outputs=outputs)

    def constrain(x):
        u = unravel(x)
        values = graph(*[u[n] for n in names])
        return dict(zip(out_names, values, strict=True))

    init_fn = make_initial_point_fn(
        model=model,
        jitter_rvs={rv for rv in model.free_RVs if not rv.dtype.startswith("int")},
        return_transformed=True,
    )

    def initial_positions(seed: int, chains: int) -> np.ndarray:
        # PyMC's initial-point function reseeds from an int; one int per chain.
        seeds = np.random.SeedSequence(seed).generate_state(chains)
        rows = []
        for s in seeds:
            point = init_fn(int(s))
            rows.append(np.concatenate([np.ravel(point[n]) for n in names]))
        return np.stack(rows).astype(float)

    return LogDensity(logdensity, int(sum(sizes)), initial_positions, constrain, unravel)
