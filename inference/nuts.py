"""NUTS on four backends, and PyMC's own Metropolis as an anchor.

=================  =======================================================================
spelling           what runs
=================  =======================================================================
``nuts:numpyro``   NumPyro's NUTS on the model's flat log density (:mod:`inference.bridge`)
``nuts:blackjax``  BlackJAX's NUTS with window adaptation, chains ``vmap``-ped, driven
                   directly from the log density (``pm.sample(nuts_sampler="blackjax")`` is
                   broken with BlackJAX >= 1.6, PyMC issue 8367)
``nuts:pymc``      ``pm.sample`` with PyMC's NUTS (needs a PyMC model)
``nuts:nutpie``    nutpie on the PyMC model, numba backend by default
``metropolis:pymc`` ``pm.sample(step=pm.Metropolis())``
=================  =======================================================================

Every function returns ``(idata, compile_seconds, sampling_seconds)``;
:func:`inference.results.finalize` gives the result its contract shape.

References
----------
Hoffman, M. D. & Gelman, A. (2014). The No-U-Turn Sampler. JMLR 15.
"""

from __future__ import annotations

import os
import time
from typing import Any

import arviz as az
import jax
import numpy as np

from ._compiled import CompiledCache, compile_exported, compile_lowered, function_digest
from ._timing import clock
from .bridge import LogDensity, potential_fn
from .results import from_arrays


class NutsRun:
    """NUTS chains that keep going: warm-up once, then :meth:`draw` chunk after chunk.

    One compiled program takes ``n`` transitions of every chain from a state (``n`` is
    an argument: the warm-up is one call, each chunk of draws another), with the data
    as an argument too: a new seed, new data of the same shapes, the next chunk of the
    same chains compile nothing. Two chunks of ``n`` draws are the draws of one run of
    ``2n``. Built by :func:`numpyro_start` and :func:`blackjax_start`.
    """

    def __init__(self, state, data, advance, chunk, stats, compile_seconds):
        self.state, self.data, self._advance = state, data, advance
        self.chunk, self._stats = int(chunk), stats
        self.compile_seconds = compile_seconds

    def draw(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The next ``chunk`` draws: flat positions ``(chains, chunk, dim)`` and stats."""
        self.state, out = self._advance(self.state, self.data, np.asarray(self.chunk, np.int32))
        positions, raw = jax.block_until_ready(out)
        return np.asarray(positions), self._stats({k: np.asarray(v) for k, v in raw.items()})


def _loop(step, chunk, record):
    """``advance(state, data, n)``: ``n`` steps of ``step``, the last ``chunk`` recorded.

    ``record(state) -> (position, stats)`` picks what a draw keeps. The buffers hold one
    chunk; the warm-up writes into them too (``n = tune``) and its values are dropped.
    """

    def advance(state, data, n):
        position, stats = jax.eval_shape(record, state)
        buffers = jax.tree.map(
            lambda a: jax.numpy.zeros((chunk, *a.shape), a.dtype), (position, stats)
        )

        def body(i, carry):
            state, buffers = carry
            state = step(state, data)
            at = jax.numpy.mod(i, chunk)
            buffers = jax.tree.map(lambda b, v: b.at[at].set(v), buffers, record(state))
            return state, buffers

        state, buffers = jax.lax.fori_loop(0, n, body, (state, buffers))
        # (chunk, chains, ...) -> (chains, chunk, ...)
        return state, jax.tree.map(lambda b: jax.numpy.swapaxes(b, 0, 1), buffers)

    return advance


# (init, advance) programs by model structure and settings; the data, the seed and the
# starting points are arguments.
_NUMPYRO_COMPILED: CompiledCache[Any] = CompiledCache("NumPyro NUTS", maxsize=8)


def numpyro_start(
    ld: LogDensity,
    *,
    chunk: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
) -> NutsRun:
    """NumPyro's NUTS (``numpyro.infer.hmc.hmc``, its functional form), warmed up.

    The same kernel and adaptation as ``MCMC(NUTS(...))``: Stan's windowed adaptation
    of the step size and a diagonal mass matrix, chains ``vmap``-ped (NumPyro's
    ``chain_method="vectorized"``), all of it in our own compiled loop so that
    the data are an argument and chunks continue the chains.
    """
    from numpyro.infer.hmc import hmc

    keys = _chain_keys(seed, chains)
    x0 = np.asarray(ld.initial_positions(seed, chains))
    data = ld.data

    def build():
        import numpyro

        logdensity_fn = ld.logdensity_fn
        init_kernel, sample_kernel = hmc(
            potential_fn_gen=lambda d: potential_fn(lambda x: logdensity_fn(x, d)), algo="NUTS"
        )
        # The state travels as its list of leaves (NumPyro's named tuples are not
        # pytrees ``jax.export`` can keep); its structure is known once ``init`` is traced.
        tree = []

        def init_state(keys, x0, data):
            return jax.vmap(
                lambda key, x: init_kernel(
                    x,
                    num_warmup=tune,
                    target_accept_prob=target_accept,
                    max_tree_depth=max_tree_depth,
                    model_args=(data,),
                    rng_key=key,
                )
            )(keys, x0)

        def init(keys, x0, data):
            leaves, treedef = jax.tree.flatten(init_state(keys, x0, data))
            tree[:] = [treedef]
            return leaves

        def treedef():
            # ``init`` came from disk but the loop did not (another process was still
            # writing it): the state's structure, traced abstractly, compiling nothing.
            if not tree:
                tree.append(jax.tree.structure(jax.eval_shape(init_state, keys, x0, data)))
            return tree[0]

        def step(state, data):
            state = jax.tree.unflatten(treedef(), state)
            state = jax.vmap(lambda s: sample_kernel(s, model_args=(data,)))(state)
            return jax.tree.leaves(state)

        def record(leaves):
            state = jax.tree.unflatten(treedef(), leaves)
            return state.z, {
                "potential_energy": state.potential_energy,
                "accept_prob": state.accept_prob,
                "diverging": state.diverging,
                "num_steps": state.num_steps,
                "energy": state.energy,
                "step_size": state.adapt_state.step_size,
            }

        # What defines the programs across processes (``ld.structure`` holds Python
        # objects, which do not): the settings and the log density's own program.
        identity = (
            "nuts:numpyro",
            numpyro.__version__,
            *key[1:],
            function_digest(logdensity_fn, x0[0], data),
        )
        # ``init`` is traced first (or, where it came from disk, ``init_state`` by
        # ``treedef``): NumPyro's ``sample_kernel`` reads the settings ``init_kernel``
        # left in their shared closure.
        init_c = compile_exported(init, (keys, x0, data), identity=("init", *identity))
        state = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in init_c.out_info]
        advance = _loop(step, chunk, record)
        n = np.asarray(0, np.int32)
        return init_c, compile_exported(advance, (state, data, n), identity=("loop", *identity))

    key = (ld.structure, tune, chunk, chains, float(target_accept), int(max_tree_depth))
    t0 = time.perf_counter()
    init_c, advance = _NUMPYRO_COMPILED.get((*key, str(x0.dtype)), build)
    compile_s = time.perf_counter() - t0
    state = init_c(keys, x0, data)
    if tune:
        state, _ = advance(state, data, np.asarray(tune, np.int32))

    def stats(raw):
        return {
            "lp": -raw["potential_energy"],
            "acceptance_rate": raw["accept_prob"],
            "diverging": raw["diverging"],
            "n_steps": raw["num_steps"],
            "energy": raw["energy"],
            "tree_depth": np.floor(np.log2(raw["num_steps"] + 1)),
            "step_size": raw["step_size"],
        }

    return NutsRun(state, data, advance, chunk, stats, compile_s)


def _chain_keys(seed: int, chains: int) -> np.ndarray:
    from .mh import chain_keys

    return chain_keys(seed, chains)


def _one_chunk(start, ld, *, draws, tune, chains, seed, **options):
    """``(idata, compile_seconds, sampling_seconds)`` of one chunk of ``draws``."""
    with clock() as c:
        chain_run = start(ld, chunk=draws, tune=tune, chains=chains, seed=seed, **options)
        positions, stats = chain_run.draw()
    with clock() as post:
        posterior = ld.constrain_draws(positions)
    return from_arrays(posterior, stats), c.compile + post.compile, c.run + post.run


def numpyro_nuts(
    ld: LogDensity,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    target_accept: float = 0.8,
    chain_method: str = "vectorized",
    max_tree_depth: int = 10,
):
    """NumPyro's NUTS: :func:`numpyro_start` for vectorised chains; ``MCMC(NUTS(...))``
    itself for ``chain_method="sequential"`` or ``"parallel"``."""
    if chain_method == "vectorized":
        return _one_chunk(
            numpyro_start,
            ld,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            target_accept=target_accept,
            max_tree_depth=max_tree_depth,
        )
    from numpyro.infer import MCMC, NUTS

    kernel = NUTS(
        potential_fn=potential_fn(ld.logdensity),
        target_accept_prob=target_accept,
        max_tree_depth=max_tree_depth,
    )
    mcmc = MCMC(
        kernel,
        num_warmup=tune,
        num_samples=draws,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=progress,
    )
    with clock() as c:
        init = ld.initial_positions(seed, chains)
        mcmc.run(
            jax.random.PRNGKey(seed),
            init_params=init if chains > 1 else init[0],
            extra_fields=("num_steps", "accept_prob", "potential_energy", "diverging", "energy"),
        )
        z = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(z)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    stats = {
        "lp": -np.asarray(extra["potential_energy"]),
        "acceptance_rate": np.asarray(extra["accept_prob"]),
        "diverging": np.asarray(extra["diverging"]),
        "n_steps": np.asarray(extra["num_steps"]),
        "energy": np.asarray(extra["energy"]),
        "tree_depth": np.floor(np.log2(np.asarray(extra["num_steps"]) + 1)),
    }
    with clock() as post:
        posterior = ld.constrain_draws(z)
    return from_arrays(posterior, stats), c.compile + post.compile, c.run + post.run


_BLACKJAX_COMPILED: CompiledCache[Any] = CompiledCache("BlackJAX NUTS", maxsize=8)


def blackjax_start(
    ld: LogDensity,
    *,
    chunk: int,
    tune: int,
    chains: int,
    seed: int,
    target_accept: float = 0.8,
) -> NutsRun:
    """BlackJAX's NUTS with Stan-style window adaptation (one per chain), warmed up."""
    import blackjax

    keys = _chain_keys(seed, chains)
    x0 = np.asarray(ld.initial_positions(seed, chains))
    data = ld.data

    def build():
        logdensity_fn = ld.logdensity_fn

        def warm(keys, x0, data):
            def one_chain(key, position):
                key_warm, key_draw = jax.random.split(key)
                warmup = blackjax.window_adaptation(
                    blackjax.nuts,
                    lambda x: logdensity_fn(x, data),
                    target_acceptance_rate=target_accept,
                )
                (state, params), _ = warmup.run(key_warm, position, num_steps=tune)
                return state, params, key_draw

            return jax.vmap(one_chain)(keys, x0)

        def step(carry, data):
            state, params, keys = carry

            def one(state, params, key):
                key, sub = jax.random.split(key)
                kernel = blackjax.nuts(lambda x: logdensity_fn(x, data), **params)
                state, info = kernel.step(sub, state)
                return state, info, key

            state, info, keys = jax.vmap(one)(state, params, keys)
            return state, params, keys, info

        def record(carry):
            return carry[0].position, carry[3]

        def full_step(carry, data):
            state, params, keys, info = step(carry[:3], data)
            return (
                state,
                params,
                keys,
                {
                    "lp": state.logdensity,
                    "acceptance_rate": info.acceptance_rate,
                    "diverging": info.is_divergent,
                    "n_steps": info.num_integration_steps,
                    "energy": info.energy,
                    "tree_depth": info.num_trajectory_expansions,
                    "step_size": params["step_size"],
                },
            )

        warm_c = compile_lowered(jax.jit(warm).lower(keys, x0, data))
        state, params, key_draw = jax.eval_shape(warm, keys, x0, data)
        probe = jax.eval_shape(lambda c, d: full_step(c, d)[3], (state, params, key_draw), data)
        carry = (state, params, key_draw, probe)
        advance = _loop(full_step, chunk, record)
        n = np.asarray(0, np.int32)
        return warm_c, compile_lowered(jax.jit(advance).lower(carry, data, n)), probe

    key = (ld.structure, tune, chunk, chains, float(target_accept))
    t0 = time.perf_counter()
    warm_c, advance, probe = _BLACKJAX_COMPILED.get((*key, str(x0.dtype)), build)
    compile_s = time.perf_counter() - t0
    state, params, key_draw = warm_c(keys, x0, data)
    # The last draw's statistics ride in the carry; they start as zeros.
    zeros = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), probe)
    return NutsRun((state, params, key_draw, zeros), data, advance, chunk, dict, compile_s)


def blackjax_nuts(
    ld: LogDensity,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    progress: bool,
    target_accept: float = 0.8,
):
    """BlackJAX's NUTS with Stan-style window adaptation, one adaptation per chain."""
    return _one_chunk(
        blackjax_start,
        ld,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
    )


def _pymc_sample(model, *, step_factory, draws, tune, chains, seed, progress, **options):
    import pymc as pm

    cores = options.pop("cores", None)
    # PyMC's default start method stays (fork on Linux): its workers run PyTensor
    # code only, never JAX, and forkserver would add seconds of re-imports per run.
    # Pass ``mp_ctx="forkserver"`` to be safe from JAX's fork warning anyway.
    idata_kwargs = {**options.pop("idata_kwargs", {}), "include_transformed": True}
    t0 = time.perf_counter()
    with model:
        step = step_factory() if step_factory is not None else None
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            random_seed=seed,
            step=step,
            progressbar=progress,
            compute_convergence_checks=False,
            return_inferencedata=True,
            idata_kwargs=idata_kwargs,
            **options,
        )
        if "lp" not in idata.sample_stats:
            # Metropolis records no log density; evaluate it on the draws, in the
            # same unconstrained space (Jacobian included) as NUTS's ``lp``.
            idata.sample_stats["lp"] = _unconstrained_logp(model, idata.posterior)
    total = time.perf_counter() - t0
    sampling = float(idata.sample_stats.attrs.get("sampling_time", total))
    return _drop_transformed(idata, model), max(total - sampling, 0.0), sampling


def _drop_transformed(idata, model):
    """Keep the posterior in the model's own space: drop ``lam_log__`` and the like."""
    free = {rv.name for rv in model.free_RVs}
    transformed = [v.name for v in model.value_vars if v.name not in free]
    idata.posterior = idata.posterior.drop_vars([n for n in transformed if n in idata.posterior])
    return idata


def _unconstrained_logp(model, posterior):
    import xarray as xr

    logp = model.compile_logp()
    names = [v.name for v in model.value_vars]
    values = {n: posterior[n].values for n in names}
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    lp = np.array(
        [[logp({n: values[n][c, d] for n in names}) for d in range(n_draw)] for c in range(n_chain)]
    )
    return xr.DataArray(
        lp, dims=("chain", "draw"), coords={"chain": posterior.chain, "draw": posterior.draw}
    )


def pymc_nuts(model, *, draws, tune, chains, seed, progress, target_accept=0.8, **options):
    """PyMC's own NUTS; compile seconds = wall time outside PyMC's ``sampling_time``."""
    return _pymc_sample(
        model,
        step_factory=None,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        progress=progress,
        target_accept=target_accept,
        **options,
    )


def pymc_metropolis(model, *, draws, tune, chains, seed, progress, **options):
    """PyMC's ``pm.Metropolis`` on every free variable: the anchor for our MH."""
    import pymc as pm

    return _pymc_sample(
        model,
        step_factory=pm.Metropolis,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        progress=progress,
        **options,
    )


def nutpie_nuts(
    model,
    *,
    draws,
    tune,
    chains,
    seed,
    progress,
    target_accept=0.8,
    backend: str = "numba",
    cores: int | None = None,
):
    """nutpie (Rust NUTS) on a PyMC model; ``backend`` is ``"numba"`` or ``"jax"``."""
    import nutpie

    t0 = time.perf_counter()
    gradient_backend = "jax" if backend == "jax" else "pytensor"
    compiled = nutpie.compile_pymc_model(model, backend=backend, gradient_backend=gradient_backend)
    compile_s = time.perf_counter() - t0
    with clock() as c:
        idata = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            target_accept=target_accept,
            progress_bar=progress,
            cores=cores or min(chains, os.cpu_count() or 1),
        )
    if not isinstance(idata, az.InferenceData):  # pragma: no cover - nutpie API guard
        raise RuntimeError("nutpie returned no InferenceData")
    # With the JAX backend the first call compiles; count that as compile time.
    return _drop_transformed(idata, model), compile_s + c.compile, c.run
