"""One shape for every sampler's result.

Each backend names its per-draw statistics its own way (nutpie: ``logp``,
``mean_tree_accept``, ``depth``; NumPyro via ArviZ: ``lp``, ``acceptance_rate``;
PyMC: ``lp``, ``acceptance_rate``, ``tree_depth``) and measures time differently.
:func:`finalize` is the single place that maps them onto the contract: the
``sample_stats`` ``lp``, ``acceptance_rate``, ``diverging`` and ``n_steps`` and the
``attrs`` ``sampler``, ``backend``, ``seed``, ``compile_seconds``, ``sampling_seconds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

__all__ = ["REQUIRED_STATS", "finalize", "from_arrays"]

REQUIRED_STATS = ("lp", "acceptance_rate", "diverging", "n_steps")

# backend name -> {their name: our name}
_RENAMES: dict[str, dict[str, str]] = {
    "nutpie": {"logp": "lp", "mean_tree_accept": "acceptance_rate", "depth": "tree_depth"},
    "pymc": {"accept": "acceptance_rate", "accepted": "accepted"},
}


def from_arrays(
    posterior: Mapping[str, Any],
    sample_stats: Mapping[str, Any],
    *,
    observed_data: Mapping[str, Any] | None = None,
) -> az.InferenceData:
    """InferenceData from arrays shaped ``(chain, draw, ...)``."""
    return az.from_dict(
        posterior={k: np.asarray(v) for k, v in posterior.items()},
        sample_stats={k: np.asarray(v) for k, v in sample_stats.items()},
        observed_data=None if observed_data is None else dict(observed_data),
    )


def finalize(
    idata: az.InferenceData,
    *,
    sampler: str,
    backend: str,
    seed: int,
    compile_seconds: float,
    sampling_seconds: float,
    **attrs: Any,
) -> az.InferenceData:
    """Rename ``sample_stats`` to the contract names and stamp the contract ``attrs``.

    Statistics a backend does not have are filled so every result has the same
    columns: ``n_steps`` counts one per proposal (1 for a single-proposal kernel, k for
    a compound step of k kernels), ``diverging`` is False.
    """
    stats = idata.sample_stats
    # A name already there stays: in a compound step (NUTS on the continuous variables,
    # PyMC's Metropolis on a discrete one) ``acceptance_rate`` is NUTS's and the
    # Metropolis step's ``accept`` keeps its own name.
    renames = {k: v for k, v in _RENAMES.get(backend, {}).items() if k in stats and v not in stats}
    if renames:
        stats = stats.rename(renames)
    if "acceptance_rate" in stats:
        # A probability on every backend: PyMC's Metropolis records the raw ratio
        # exp(Δ logp), above 1 for uphill moves (the probability is min(1, ratio)),
        # and averaged probabilities can round to 1 + ulp in float32.
        stats["acceptance_rate"] = stats["acceptance_rate"].clip(0.0, 1.0)
    template = stats["lp"] if "lp" in stats else next(iter(idata.posterior.data_vars.values()))
    shape_like = xr.zeros_like(template.isel({d: 0 for d in template.dims[2:]}), dtype=float)
    if "diverging" not in stats:
        stats["diverging"] = shape_like.astype(bool)
    if "n_steps" not in stats:
        # One proposal per (sub-)step: a compound step of k samplers makes k.
        sub = stats["acceptance_rate"] if "acceptance_rate" in stats else shape_like
        per_draw = int(np.prod([sub.sizes[d] for d in sub.dims if d not in ("chain", "draw")]))
        stats["n_steps"] = shape_like + per_draw
    missing = [k for k in REQUIRED_STATS if k not in stats]
    if missing:
        raise RuntimeError(f"backend {backend!r} produced no {missing} statistics")
    # A compound step (PyMC's Metropolis on several variables) records one value per
    # sub-step; the contract has one per draw: mean acceptance, any divergence,
    # total gradient or proposal steps.
    for name, reduce in (("acceptance_rate", "mean"), ("diverging", "any"), ("n_steps", "sum")):
        extra = [d for d in stats[name].dims if d not in ("chain", "draw")]
        if extra:
            stats[name] = getattr(stats[name], reduce)(extra)
    stats["diverging"] = stats["diverging"].astype(bool)
    stats["n_steps"] = stats["n_steps"].astype(float)
    stats.attrs.update(
        {
            "sampler": sampler,
            "backend": backend,
            "seed": int(seed),
            "compile_seconds": float(compile_seconds),
            "sampling_seconds": float(sampling_seconds),
        }
    )
    idata.sample_stats = stats
    keep = {
        "sampler": sampler,
        "backend": backend,
        "seed": int(seed),
        "compile_seconds": float(compile_seconds),
        "sampling_seconds": float(sampling_seconds),
        **{k: v for k, v in attrs.items() if v is not None},
    }
    for group in idata.groups():
        getattr(idata, group).attrs.update(keep)
    # The top-level InferenceData carries the attrs too (ArviZ saves them as
    # netCDF global attributes).
    idata.attrs = {**getattr(idata, "attrs", {}), **keep}
    return idata
