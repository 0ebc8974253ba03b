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

from ._compiled import CompiledCache
from ._timing import clock
from .bridge import LogDensity, potential_fn
from .results import from_arrays


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
    """NumPyro's NUTS (``numpyro.infer.NUTS`` with ``potential_fn``)."""
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
    import blackjax

    logdensity = ld.logdensity

    def one_chain(key, position):
        key_warm, key_draw = jax.random.split(key)
        warmup = blackjax.window_adaptation(
            blackjax.nuts, logdensity, target_acceptance_rate=target_accept
        )
        (state, params), _ = warmup.run(key_warm, position, num_steps=tune)
        step = blackjax.nuts(logdensity, **params).step

        def one_step(state, key):
            state, info = step(key, state)
            stats = {
                "lp": state.logdensity,
                "acceptance_rate": info.acceptance_rate,
                "diverging": info.is_divergent,
                "n_steps": info.num_integration_steps,
                "energy": info.energy,
                "tree_depth": info.num_trajectory_expansions,
            }
            return state, (state.position, stats)

        _, (positions, stats) = jax.lax.scan(one_step, state, jax.random.split(key_draw, draws))
        stats["step_size"] = jax.numpy.full(draws, params["step_size"])
        return positions, stats

    keys = jax.random.split(jax.random.PRNGKey(seed), chains)
    with clock() as c_init:
        init = jax.numpy.asarray(ld.initial_positions(seed, chains))
    cache_key = (ld, draws, tune, chains, float(target_accept))
    with clock() as c:
        # Ahead-of-time compile so compile and run are timed apart exactly; the
        # executable is kept, so another seed on the same model compiles nothing.
        t0 = time.perf_counter()
        compiled = _BLACKJAX_COMPILED.get(
            cache_key, lambda: jax.jit(jax.vmap(one_chain)).lower(keys, init).compile()
        )
        compile_s = time.perf_counter() - t0
        positions, stats = jax.block_until_ready(compiled(keys, init))
    with clock() as post:
        posterior = ld.constrain_draws(positions)
    stats = {k: np.asarray(v) for k, v in stats.items()}
    return (
        from_arrays(posterior, stats),
        c_init.compile + compile_s + post.compile,
        c_init.run + c.total - compile_s + post.run,
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
