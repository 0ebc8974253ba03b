"""The four NUTS backends side by side: NumPyro, PyMC, nutpie and BlackJAX.

What it measures
----------------
Every backend behind ``inference.sample`` (``nuts:numpyro``, ``nuts:pymc``,
``nuts:nutpie``, ``nuts:blackjax``) runs in this one process, with the same draws,
warm-up, chains and seed, on

* ``eight_schools`` — Rubin's eight schools, non-centred (``eight_schools_noncentered``):
  small (10 parameters) and cheap per gradient, so fixed per-call overheads dominate;
* ``regression`` — Bayesian linear regression with known noise on simulated data,
  ``models.get("linear_regression").simulate(0, n=2000, d=20)``: 20 parameters, each
  gradient a 2000×20 matrix-vector product, so the linear-algebra backend matters.
  Its exact Gaussian posterior (``spec.exact(data)``) gives ``max_abs_z``.

How to run it
-------------
::

    .venv/bin/python benchmarks/nuts_backends.py             # 4 chains x 1000 draws, 1000 tune
    .venv/bin/python benchmarks/nuts_backends.py --quick     # 2 chains x 200 draws, 200 tune
    .venv/bin/python benchmarks/nuts_backends.py --models regression \\
        --samplers nuts:numpyro,nuts:nutpie --repeats 3 --csv nuts.csv

It prints the machine (CPU count, JAX devices, library versions, PyTensor's BLAS flags)
and then one table per model.

Reading the columns
-------------------
``compile_s``
    One-off cost before the first draw. nutpie and PyMC: compiling the PyMC model
    (PyTensor graph rewrites and C / numba code generation); for PyMC it is the wall
    time of ``pm.sample`` outside PyMC's own ``sampling_time``. NumPyro and BlackJAX:
    JAX tracing, lowering and XLA compilation, measured with ``jax.monitoring`` spans
    by ``inference._timing.clock`` (BlackJAX is compiled ahead of time, so its split
    is exact).
``sampling_s``
    Warm-up plus kept draws, compile excluded.
``wall_s``
    The whole ``inference.sample`` call as seen from here: compile and sampling plus
    what neither counts (building the model or its JAX log density, initial points,
    converting to InferenceData). For NumPyro and BlackJAX the gap is mostly JAX
    compilation inside ``inference.bridge`` (``from_numpyro`` and the initial points,
    several seconds on a small CPU), which ``compile_s`` does not include.
``ess_bulk_min``, ``ess_tail_min``, ``rhat_max``
    Worst element over all posterior variables (ArviZ bulk / tail ESS, rank-normalised
    split R-hat); ``divergences`` is the total over chains.
``ess/s (sampling)``
    ``ess_bulk_min / sampling_s``: the steady-state speed of the sampler.
``ess/s (with compile)``
    ``ess_bulk_min / (compile_s + sampling_s)``: what a single fit costs a user.
``max_abs_z``
    Regression only: the worst bias of a posterior mean or sd against the exact
    posterior, in Monte Carlo standard errors (``diagnostics.z_scores``); values
    below about 4 across 40 statistics are what an unbiased sampler gives.

``--repeats N`` reruns each sampler with the same seed (so the same draws): the spread
of the rows is timing noise alone, and a median table follows. With JAX, later repeats
in the process may compile faster (warm caches of shared functions).

Timings depend on the machine; this is a measurement script, never asserted on in
tests (tests never assert on wall-clock time).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
import traceback
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

from bayesmin import diagnostics, inference, models

# benchmark label -> (registry name, simulate() sizes)
MODELS: dict[str, tuple[str, dict]] = {
    "eight_schools": ("eight_schools_noncentered", {}),
    "regression": ("linear_regression", {"n": 2000, "d": 20}),
}
SAMPLERS = ("nuts:numpyro", "nuts:pymc", "nuts:nutpie", "nuts:blackjax")
# Backends that take a ``cores`` option (one process or thread per chain).
_MULTICORE = {"nuts:pymc", "nuts:nutpie"}
PROFILES = {
    "default": {"chains": 4, "draws": 1000, "tune": 1000},
    "quick": {"chains": 2, "draws": 200, "tune": 200},
}
COLUMNS = (
    "sampler",
    "repeat",
    "compile_s",
    "sampling_s",
    "wall_s",
    "ess_bulk_min",
    "ess_tail_min",
    "rhat_max",
    "divergences",
    "ess/s (sampling)",
    "ess/s (with compile)",
    "max_abs_z",
    "error",
)


def machine_info() -> dict[str, str]:
    """What the timings depend on: CPUs, JAX devices, library versions, PyTensor's BLAS."""
    import jax
    import pytensor

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "jax_devices": ", ".join(str(d) for d in jax.devices()),
    }
    for pkg in ("jax", "jaxlib", "numpyro", "blackjax", "pymc", "pytensor", "nutpie", "arviz"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = "not installed"
    # An empty blas__ldflags means PyTensor's C backend (PyMC's NUTS) has no BLAS to call.
    info["pytensor_blas_ldflags"] = repr(pytensor.config.blas__ldflags)
    info["pytensor_linker"] = str(pytensor.config.linker)
    return info


def one_run(
    spec, data, sampler: str, *, chains: int, draws: int, tune: int, seed: int, multicore=()
) -> tuple[object | None, float, str]:
    """``(idata, wall seconds, error)`` of one ``inference.sample`` call.

    Samplers in ``multicore`` get ``cores = min(chains, cpus)``; a sampler that raises
    is reported (traceback on stderr, first line in the table) and the run goes on.
    """
    options = {}
    if sampler in multicore:
        options["cores"] = min(chains, os.cpu_count() or 1)
    t0 = time.perf_counter()
    try:
        idata = inference.sample(
            spec,
            sampler,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            data=data,
            progress=False,
            **options,
        )
    except Exception as err:  # a benchmark reports a broken backend and goes on
        traceback.print_exc(file=sys.stderr)
        return None, time.perf_counter() - t0, f"{type(err).__name__}: {err}".splitlines()[0]
    return idata, time.perf_counter() - t0, ""


def run_model(label: str, args) -> pd.DataFrame:
    """One row per (sampler, repeat) for the benchmark model ``label``."""
    name, sizes = MODELS[label]
    spec = models.get(name)
    data = spec.simulate(0, **sizes)
    reference = spec.exact(data) if spec.exact is not None else None
    rows = []
    for sampler in args.samplers:
        for repeat in range(args.repeats):
            print(f"  {label}: {sampler} (repeat {repeat + 1}/{args.repeats}) ...", flush=True)
            idata, wall, error = one_run(
                spec,
                data,
                sampler,
                chains=args.chains,
                draws=args.draws,
                tune=args.tune,
                seed=args.seed,
                multicore=_MULTICORE,
            )
            row = {"sampler": sampler, "repeat": repeat, "wall_s": wall, "error": error}
            if idata is not None:
                summary = diagnostics.compare({sampler: idata}, reference).iloc[0]
                compile_s = summary["compile_seconds"]
                sampling_s = summary["sampling_seconds"]
                ess = summary["ess_bulk_min"]
                row.update(
                    compile_s=compile_s,
                    sampling_s=sampling_s,
                    ess_bulk_min=ess,
                    ess_tail_min=summary["ess_tail_min"],
                    rhat_max=summary["rhat_max"],
                    divergences=int(summary["divergences"]),
                    max_abs_z=summary["max_abs_z"] if reference else np.nan,
                )
                row["ess/s (sampling)"] = ess / sampling_s if sampling_s > 0 else np.nan
                total = compile_s + sampling_s
                row["ess/s (with compile)"] = ess / total if total > 0 else np.nan
            rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    if reference is None:
        table = table.drop(columns="max_abs_z")
    return table


def _format(table: pd.DataFrame, repeats: int) -> str:
    shown = table.copy()
    if repeats == 1:
        shown = shown.drop(columns="repeat")
    if not shown["error"].astype(bool).any():
        shown = shown.drop(columns="error")
    formats = {
        c: "{:.2f}".format
        for c in ("compile_s", "sampling_s", "wall_s", "rhat_max", "max_abs_z")
        if c in shown
    }
    formats |= {
        c: "{:.0f}".format
        for c in ("ess_bulk_min", "ess_tail_min", "ess/s (sampling)", "ess/s (with compile)")
    }
    return shown.to_string(index=False, formatters=formats, na_rep="-")


def _medians(table: pd.DataFrame) -> pd.DataFrame:
    numeric = table.drop(columns=["repeat", "error"]).groupby("sampler", sort=False).median()
    return numeric.reset_index().assign(repeat=np.nan, error="")


def add_run_arguments(parser: argparse.ArgumentParser, defaults: dict, samplers) -> None:
    """The options every side-by-side benchmark shares (sizes, seed, models, samplers)."""
    parser.add_argument(
        "--draws", type=int, default=None, help=f"kept draws per chain ({defaults['draws']})"
    )
    parser.add_argument(
        "--tune", type=int, default=None, help=f"warm-up iterations ({defaults['tune']})"
    )
    parser.add_argument("--chains", type=int, default=None, help=f"chains ({defaults['chains']})")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed, the same for all")
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated, from {', '.join(MODELS)} (default: both)",
    )
    parser.add_argument(
        "--samplers",
        default=",".join(samplers),
        help=f"comma-separated sampler spellings (default: {','.join(samplers)})",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per sampler (same seed)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--quick`` changes the defaults, explicit sizes still win."""
    parser = argparse.ArgumentParser(
        description="The four NUTS backends side by side on eight schools and a regression."
    )
    add_run_arguments(parser, PROFILES["default"], SAMPLERS)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 chains x 200 draws, 200 tune"
    )
    parser.add_argument("--csv", default=None, help="save the combined table to this CSV file")
    args = parser.parse_args(argv)

    profile = PROFILES["quick" if args.quick else "default"]
    for key, value in profile.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    args.samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    for s in args.samplers:
        try:
            inference.resolve_sampler(s)
        except ValueError as err:
            parser.error(str(err))
    for key in ("draws", "chains", "repeats"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be >= 1")
    if args.tune < 0:
        parser.error("--tune must be >= 0")
    return args


def main(args: argparse.Namespace) -> pd.DataFrame:
    """Run the grid, print the machine and one table per model; return the combined table."""
    # PyMC logs each sampler it assigns and each chain it starts; the table says it all.
    for name in ("pymc", "pymc.sampling", "pymc.stats.convergence"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import jax

    # Start JAX's CPU client before the first timed run so it is charged to nobody.
    jax.block_until_ready(jax.jit(lambda x: x + 1.0)(1.0))

    print("machine")
    for key, value in machine_info().items():
        print(f"  {key:22s} {value}")
    print(
        f"settings: chains={args.chains} draws={args.draws} tune={args.tune} "
        f"seed={args.seed} repeats={args.repeats}; "
        f"cores for nuts:pymc / nuts:nutpie = {min(args.chains, os.cpu_count() or 1)}"
    )
    t0 = time.perf_counter()
    tables = {}
    for label in args.models:
        tables[label] = run_model(label, args)
    elapsed = time.perf_counter() - t0

    for label, table in tables.items():
        name, sizes = MODELS[label]
        size = ", ".join(f"{k}={v}" for k, v in sizes.items())
        print(f"\n== {label} ({name}{', ' + size if size else ''}) ==")
        print(_format(table, args.repeats))
        if args.repeats > 1:
            print(f"\n-- {label}: median over {args.repeats} repeats --")
            print(_format(_medians(table), 1))
    print(f"\ntotal benchmark time: {elapsed:.1f} s")

    combined = pd.concat(
        [t.assign(model=label) for label, t in tables.items()], ignore_index=True
    ).reindex(columns=["model", *COLUMNS])
    if args.csv:
        combined.to_csv(args.csv, index=False)
        print(f"saved {args.csv}")
    return combined


if __name__ == "__main__":
    main(parse_args())
