"""Our Metropolis–Hastings kernel as a PyMC step method (route 3 of three; ``mh:pymc``).

:class:`MetropolisHastingsStep` runs the JAX transition of :mod:`inference.mh` —
``build_kernel`` with the Robbins–Monro scale rule of :func:`inference.mh.adaptation` —
on a block of a PyMC model's free variables inside ``pm.sample``, so it can share a
model with PyMC's NUTS::

    pm.sample(step=[MetropolisHastingsStep([a]), pm.NUTS([b])])

The block's log density is the model's own: :func:`inference.bridge.from_pymc`
jaxifies ``model.logp()`` on the flat vector of every value variable, and the step
evaluates it with the block's entries replaced and every other variable held at its
current value (the full conditional up to a constant, which cancels in the MH
ratio). The transition is jitted once per step object; each PyMC iteration is one
call of it with the current point and a key drawn from the step's ``rng``, so the
same ``random_seed`` gives the same draws.

:func:`pymc_mh` is the ``mh:pymc`` backend of :func:`inference.sample`: this step on
every continuous free variable, through ``pm.sample``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
from pymc.step_methods.compound import BlockedStep, Competence
from pymc.util import get_random_generator
from pymc.vartypes import discrete_types

from . import mh
from ._precision import float64
from .bridge import from_pymc

__all__ = ["MetropolisHastingsStep", "pymc_mh"]


def _free_value_vars(vars: Any, model: pm.Model) -> list:
    """The value variables of ``vars`` (free RVs, their value variables or names).

    Raises a one-line ``ValueError`` naming any variable that is not a free,
    continuous variable of ``model`` and listing the free ones.
    """
    free = list(model.free_RVs)
    free_names = ", ".join(rv.name for rv in free) or "(none)"
    by_name = {rv.name: rv for rv in free}
    by_name.update({model.rvs_to_values[rv].name: rv for rv in free})
    if vars is None:
        vars = free
    elif not isinstance(vars, list | tuple):
        vars = [vars]
    out: list = []
    for var in vars:
        name = var if isinstance(var, str) else getattr(var, "name", None)
        if isinstance(var, str):
            rv = by_name.get(var)
        elif any(var is rv for rv in free):
            rv = var
        else:
            rv = model.values_to_rvs.get(var) if any(var is v for v in model.value_vars) else None
        if rv is None:
            if name in {v.name for v in model.observed_RVs}:
                kind = "an observed variable"
            elif name in {v.name for v in model.deterministics}:
                kind = "a deterministic"
            elif name in model.named_vars:
                kind = "not a random variable"
            else:
                kind = "not in the model"
            raise ValueError(
                f"MetropolisHastingsStep: {name!r} is {kind}, not a free variable of the "
                f"model; free variables: {free_names}"
            )
        if rv.dtype in discrete_types:
            raise ValueError(
                f"MetropolisHastingsStep: {rv.name!r} is discrete; the Gaussian proposals "
                "here need continuous variables (leave it to pm.Metropolis or a Gibbs step)"
            )
        value = model.rvs_to_values[rv]
        if not any(value is v for v in out):
            out.append(value)
    if not out:
        raise ValueError("MetropolisHastingsStep: no free continuous variables to sample")
    return out


class MetropolisHastingsStep(BlockedStep):
    """Our adaptive Metropolis–Hastings kernel as a PyMC step method.

    Parameters
    ----------
    vars : list, optional
        Free variables of the model (RVs, their value variables or names), updated
        jointly as one block in the unconstrained (value) space. Default: every free
        continuous variable.
    scale : float, optional
        Proposal scale; the starting point of the tuning for a random walk
        (default 2.38/√d), fixed for an independence proposal (default 1).
    cov : (d, d) array, optional
        Proposal covariance on the block's flat vector (symmetric positive
        definite; default the identity), in ``vars`` order.
    mean : (d,) array, optional
        Centre of an independence proposal (default zeros).
    proposal : {"random_walk", "independence"}
        The proposal family of :mod:`inference.mh`.
    hastings : bool
        Include the proposal ratio; ``False`` is wrong for an asymmetric proposal
        and exists only as a negative control.
    tune : bool
        Tune the random walk's scale during ``pm.sample``'s tuning iterations with the
        Robbins–Monro rule of :func:`inference.mh.adaptation` (log s ← log s +
        t^(−0.6)(α − 0.234)). The covariance is not learnt here (PyMC does not tell
        a step how many tuning iterations there are); pass ``cov`` for a correlated
        block. An independence proposal is never tuned.
    model : pm.Model, optional
        Default: the model in context.
    rng : RandomGenerator, optional
        Replaced per chain by ``pm.sample`` (from ``random_seed``); the JAX key of
        each transition is drawn from it.
    initial_point : dict, optional
        A point to compile the transition at (default ``model.initial_point()``).

    Notes
    -----
    Statistics per iteration (``sample_stats``): ``acceptance_rate`` (α),
    ``is_accepted`` and ``scaling`` (the proposal scale used).

    Examples
    --------
    >>> import numpy as np
    >>> import pymc as pm
    >>> from bayesmin.inference.mh import MetropolisHastingsStep
    >>> y = np.random.default_rng(0).normal(1.0, 2.0, size=50)
    >>> with pm.Model() as model:
    ...     mu = pm.Normal("mu", 0.0, 10.0)
    ...     sigma = pm.HalfNormal("sigma", 5.0)
    ...     _ = pm.Normal("y", mu, sigma, observed=y)
    ...     idata = pm.sample(step=[MetropolisHastingsStep([mu]), pm.NUTS([sigma])],
    ...                       draws=1000, tune=1000, chains=2, cores=1, random_seed=0,
    ...                       progressbar=False, compute_convergence_checks=False)
    >>> bool(abs(idata.posterior["mu"].mean() - y.mean()) < 0.3)
    True
    """

    name = "mh"
    default_blocked = True
    # The names and types of pm.Metropolis's statistics: a compound step (ours on the
    # continuous block, PyMC's on a discrete variable) must declare each name once.
    stats_dtypes_shapes: ClassVar[dict[str, tuple[type, list]]] = {
        "accept": (np.float64, []),
        "accepted": (np.float64, []),
        "scaling": (np.float64, []),
    }

    @float64()  # the fixed tunables too, so the step is the same whatever the global flag
    def __init__(
        self,
        vars: Any = None,
        *,
        scale: float | None = None,
        cov: Any | None = None,
        mean: Any | None = None,
        proposal: str = "random_walk",
        hastings: bool = True,
        tune: bool = True,
        model: pm.Model | None = None,
        rng: Any = None,
        initial_point: dict | None = None,
        blocked: bool = True,
    ):
        model = pm.modelcontext(model)
        if proposal not in mh.PROPOSALS:
            raise ValueError(
                f"unknown proposal {proposal!r}; choose one of {', '.join(mh.PROPOSALS)}"
            )
        self.vars = _free_value_vars(vars, model)
        self.blocked = True
        self.rng = get_random_generator(rng)
        self._model = model
        self._proposal = proposal
        self._hastings = bool(hastings)
        self._tune_requested = bool(tune) and proposal == "random_walk"
        self.tune = self._tune_requested
        point = model.initial_point() if initial_point is None else initial_point
        self._block_names = [v.name for v in self.vars]
        dim = int(sum(np.size(point[n]) for n in self._block_names))
        if scale is None:
            scale = 2.38 / np.sqrt(dim) if proposal == "random_walk" else 1.0
        # Validates the scale and the covariance (positive definite) with a clear error.
        self._fixed = mh.params_from(dim, scale=scale, cov=cov, mean=mean)
        self._dim = dim
        self._transition = None
        self.reset_tuning()
        self._build()
        # Compile now, at the model's initial point, so pm.sample's timing of the
        # draws does not include it (a fixed key: the step's rng is left untouched).
        self._call(self._flatten(point), key=np.zeros(2, np.uint32))

    # ------------------------------------------------------------- the transition

    @float64()  # a PyMC model is float64; see inference._precision
    def _build(self) -> None:
        # The block is continuous; the other variables, discrete ones included, are
        # read at their current values.
        ld = from_pymc(self._model, discrete=True)
        layout = ld.unravel(jnp.arange(ld.dim))  # name -> flat indices, in the bridge's order
        self._names = list(layout)
        self._shapes = {n: tuple(np.shape(layout[n])) for n in self._names}
        block = np.concatenate([np.ravel(np.asarray(layout[n])) for n in self._block_names])
        proposal = mh.PROPOSALS[self._proposal]()
        kernel = mh.build_kernel(proposal, hastings=self._hastings)
        _, a_update, a_final = mh.adaptation(self._dim)
        fixed = self._fixed
        random_walk = proposal.name == "random_walk"
        block = jnp.asarray(block)

        def transition(key, x_full, astate, tuning):
            def logdensity(x_block):
                return ld.logdensity(x_full.at[block].set(x_block))

            state = mh.init(x_full[block], logdensity)
            params = a_final(astate) if random_walk else fixed
            new, info = kernel(key, state, logdensity, params)
            if random_walk:  # scale only: learn=adopt=False (see the class docstring)
                astate = jax.lax.cond(
                    tuning,
                    lambda a: a_update(a, False, False, new.position, info.acceptance_rate),
                    lambda a: a,
                    astate,
                )
            dtype = new.position.dtype
            # One array back to the host: the block, then α, accepted, scale.
            tail = jnp.stack([info.acceptance_rate, info.is_accepted.astype(dtype), params.scale])
            return jnp.concatenate([new.position, tail.astype(dtype)]), astate

        self._transition = jax.jit(transition)

    def _flatten(self, point: dict) -> np.ndarray:
        return np.concatenate([np.ravel(point[n]) for n in self._names]).astype(float)

    @float64()
    def _call(self, x_full: np.ndarray, key: np.ndarray | None = None):
        if self._transition is None:  # after unpickling in a worker process
            self._build()
        if key is None:  # a raw threefry key drawn from PyMC's per-chain generator
            key = self.rng.integers(0, 2**32, size=2, dtype=np.uint32)
        out, astate = self._transition(key, x_full, self._astate, np.bool_(self.tune))
        return np.asarray(out), astate

    # ------------------------------------------------------------------- PyMC API

    def step(self, point: dict) -> tuple[dict, list[dict[str, Any]]]:
        out, self._astate = self._call(self._flatten(point))
        new_point = dict(point)
        start = 0
        for name in self._block_names:
            shape = self._shapes[name]
            size = int(np.prod(shape))
            new_point[name] = out[start : start + size].reshape(shape).astype(point[name].dtype)
            start += size
        alpha, accepted, scaling = out[-3:]
        stats = {"accept": float(alpha), "accepted": float(accepted), "scaling": float(scaling)}
        return new_point, [stats]

    @float64()
    def reset_tuning(self) -> None:
        """Back to the starting scale (called by ``pm.sample`` at each chain's start)."""
        astate = mh.adaptation(self._dim)[0](jnp.zeros(self._dim))
        astate = astate._replace(log_scale=jnp.log(self._fixed.scale), chol=self._fixed.chol)
        # Host arrays of fixed dtype: no weak types, so the jitted transition never retraces.
        self._astate = jax.tree.map(lambda v: np.asarray(v, dtype=float), astate)
        self.tune = self._tune_requested

    @staticmethod
    def competence(var, has_grad):
        if var.dtype in discrete_types:
            return Competence.INCOMPATIBLE
        return Competence.COMPATIBLE

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_transition"] = None  # a jitted closure: rebuilt on first use
        state["_astate"] = jax.tree.map(np.asarray, self._astate)
        return state


def pymc_mh(
    model,
    *,
    draws,
    tune,
    chains,
    seed,
    progress,
    scale: float | None = None,
    cov: Any | None = None,
    mean: Any | None = None,
    proposal: str = "random_walk",
    hastings: bool = True,
    adapt: bool = True,
    **options,
):
    """``inference.sample(target, "mh:pymc")``: ``pm.sample`` with our step on every
    continuous free variable (PyMC assigns its own steps to any discrete ones).

    Options: ``scale``, ``cov``, ``mean``, ``proposal``, ``hastings`` (see
    :class:`MetropolisHastingsStep`), ``adapt`` (its ``tune`` flag); the rest go to
    ``pm.sample``. ``cores`` defaults to 1: the step runs JAX, which must not be
    forked into PyMC's worker processes (pass ``cores`` with ``mp_ctx="spawn"`` for
    parallel chains).
    """
    from .nuts import _pymc_sample

    step_options = dict(
        scale=scale, cov=cov, mean=mean, proposal=proposal, hastings=hastings, tune=bool(adapt)
    )
    options.setdefault("cores", 1)

    def step_factory():
        continuous = [rv for rv in model.free_RVs if rv.dtype not in discrete_types]
        return MetropolisHastingsStep(continuous, model=model, **step_options)

    return _pymc_sample(
        model,
        step_factory=step_factory,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        progress=progress,
        **options,
    )
