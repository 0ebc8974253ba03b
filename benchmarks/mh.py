"""Our Metropolis–Hastings (``mh``) against PyMC's Metropolis, and the kernel's throughput.

What it measures
----------------
1. **ESS per second, whole process.** ``mh`` (our adaptive random-walk MH in JAX) and
   ``metropolis:pymc`` (PyMC's ``pm.Metropolis``, the anchor of issue 3) run through
   ``inference.sample`` in this one process, with the same chains, draws, warm-up and
   seed, on the two models of ``nuts_backends.py``:

   * ``eight_schools`` — Rubin's eight schools, non-centred (``eight_schools_noncentered``,
     10 parameters);
   * ``regression`` — Bayesian linear regression with known noise,
     ``models.get("linear_regression").simulate(0, n=2000, d=20)``; its exact Gaussian
     posterior gives ``max_abs_z``.

   The headline speed is ``ess_bulk_min / wall_s``, where ``wall_s`` is the whole
   ``inference.sample`` call: for ``mh`` that includes deriving the JAX log density
   from the NumPyro model, XLA compilation and converting the draws; for PyMC,
   compiling the model, forking the chain processes and evaluating ``lp`` on every
   draw. The issue's target is ``mh`` at least 10× ``metropolis:pymc`` on both models.

2. **Throughput of the kernel.** ``mh_throughput.run``: ``inference.mh.build_kernel
   (random_walk())`` on a ``vmap`` over ``C`` chains and a ``lax.scan`` over steps, beside
   the same random walk hand-written in plain JAX, on a 10-d correlated Gaussian with the
   proposal fixed at its optimum; see ``mh_throughput.py`` for the method and columns.
   That script runs alone too, with JAX and no PyMC (the GPU measurement).

How to run it
-------------
::

    .venv/bin/python benchmarks/mh.py             # PyMC 4 x 5000 draws, mh 256 x 4000; then throughput
    .venv/bin/python benchmarks/mh.py --quick     # 2 chains x 1000 draws, 1000 tune
    .venv/bin/python benchmarks/mh.py --models regression --csv mh.csv
    # GPU machine (JAX alone is enough): the throughput part, >= 100k chains
    PYTHONPATH=. python benchmarks/mh_throughput.py --chains 100000,1000000 --dtype float32

It prints the machine (CPU count, JAX devices, library versions, PyTensor's BLAS
flags), one table per model, a ratio table, and the throughput table.

Reading the columns
-------------------
``compile_s``, ``sampling_s``
    The split recorded by the sampler in ``attrs`` (``compile_seconds``,
    ``sampling_seconds``); see ``nuts_backends.py``. For ``mh``, ``compile_s`` counts
    tracing the NumPyro model into a log density and XLA compilation; for PyMC it is
    the wall time of ``pm.sample`` outside PyMC's own ``sampling_time``, which includes
    evaluating ``lp`` on every draw in Python (Metropolis records none).
``other_s``
    ``wall_s − compile_s − sampling_s``: what neither counts.
``wall_s``
    The whole ``inference.sample`` call.
``ess/draw``
    ``ess_bulk_min / (chains · draws)``: statistical efficiency of one kept draw.
    PyMC's Metropolis updates one coordinate at a time (one log-density evaluation per
    coordinate per draw), so a draw costs ``dim`` evaluations but mixes better than one
    joint random-walk step.
``us/step``
    ``sampling_s / (draws + tune)`` in microseconds: the wall time of one iteration of
    all chains together.
``ess/s (sampling)``, ``ess/s (wall)``
    ``ess_bulk_min`` per ``sampling_s`` (the steady state) and per ``wall_s`` (what a
    single fit costs a user; the issue's measure).
``max_abs_z``
    Regression only: the worst bias of a posterior mean or sd against the exact
    posterior, in Monte Carlo standard errors (``diagnostics.z_scores``).

Ratio table: ``mh`` over ``metropolis:pymc`` for both ESS/s measures, and whether
the 10× target holds with compile included.

Throughput table: see ``mh_throughput.py``.

Timings depend on the machine and on whatever else runs on it; this is a measurement
script, never asserted on in tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import mh_throughput
import numpy as np
import pandas as pd
from nuts_backends import MODELS, add_run_arguments, machine_info, one_run

from bayesmin import diagnostics, inference, models

SAMPLERS = ("mh", "metropolis:pymc")
# Backends that take a ``cores`` option (one process per chain).
_MULTICORE = {"metropolis:pymc"}
TARGET_RATIO = 10.0
PROFILES = {
    "default": {
        "chains": 4,
        "draws": 5000,
        "tune": 2000,
        # Our kernel's natural setting: many vectorised chains sharing one adapted
        # proposal (pooled warm-up), each running few steps.
        "mh_chains": 256,
        "mh_draws": 4000,
        "mh_tune": 1000,
        "throughput_chains": "1000,16000",
        "throughput_steps": 1000,
    },
    "quick": {
        "chains": 2,
        "draws": 1000,
        "tune": 1000,
        "mh_chains": 64,
        "mh_draws": 500,
        "mh_tune": 500,
        "throughput_chains": "1000,16000",
        "throughput_steps": 50,
    },
}
COLUMNS = (
    "sampler",
    "repeat",
    "compile_s",
    "sampling_s",
    "other_s",
    "wall_s",
    "ess_bulk_min",
    "ess_tail_min",
    "rhat_max",
    "acceptance",
    "ess/draw",
    "us/step",
    "ess/s (sampling)",
    "ess/s (wall)",
    "max_abs_z",
    "error",
)


# ----------------------------------------------------------------- 1. ESS per second


def _sizes(sampler: str, args) -> tuple[int, int, int]:
    """``(chains, draws, tune)``: ``mh`` runs its own vectorised configuration."""
    if sampler == "mh":
        return args.mh_chains, args.mh_draws, args.mh_tune
    return args.chains, args.draws, args.tune


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
            chains, draws, tune = _sizes(sampler, args)
            idata, wall, error = one_run(
                spec,
                data,
                sampler,
                chains=chains,
                draws=draws,
                tune=tune,
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
                    other_s=wall - compile_s - sampling_s,
                    ess_bulk_min=ess,
                    ess_tail_min=summary["ess_tail_min"],
                    rhat_max=summary["rhat_max"],
                    acceptance=summary["acceptance_rate"],
                    max_abs_z=summary["max_abs_z"] if reference else np.nan,
                )
                chains, draws, tune = _sizes(sampler, args)
                row["chains"] = chains
                row["ess/draw"] = ess / (chains * draws)
                row["us/step"] = 1e6 * sampling_s / (draws + tune)
                row["ess/s (sampling)"] = ess / sampling_s if sampling_s > 0 else np.nan
                row["ess/s (wall)"] = ess / wall
            rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    if reference is None:
        table = table.drop(columns="max_abs_z")
    return table


def _medians(table: pd.DataFrame) -> pd.DataFrame:
    numeric = table.drop(columns=["repeat", "error"]).groupby("sampler", sort=False).median()
    return numeric.reset_index().assign(repeat=np.nan, error="")


def ratios(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``mh`` / ``metropolis:pymc`` per model (medians over repeats), and the 10× verdict."""
    rows = []
    for label, table in tables.items():
        med = _medians(table).set_index("sampler")
        if not {"mh", "metropolis:pymc"} <= set(med.index):
            continue
        mine, theirs = med.loc["mh"], med.loc["metropolis:pymc"]
        wall = mine["ess/s (wall)"] / theirs["ess/s (wall)"]
        steady = mine["ess/s (sampling)"] / theirs["ess/s (sampling)"]
        rows.append(
            {
                "model": label,
                "ratio ess/s (wall)": wall,
                "ratio ess/s (sampling)": steady,
                f"target >= {TARGET_RATIO:g}x (wall)": "holds"
                if wall >= TARGET_RATIO
                else "does not hold",
                "mh rhat_max": mine["rhat_max"],
            }
        )
    return pd.DataFrame(rows)


def _format(table: pd.DataFrame, repeats: int) -> str:
    shown = table.copy()
    if repeats == 1:
        shown = shown.drop(columns="repeat")
    if not shown["error"].astype(bool).any():
        shown = shown.drop(columns="error")
    formats = {
        c: "{:.2f}".format
        for c in (
            "compile_s",
            "sampling_s",
            "other_s",
            "wall_s",
            "rhat_max",
            "acceptance",
            "max_abs_z",
        )
        if c in shown
    }
    formats |= {
        c: "{:.0f}".format
        for c in ("ess_bulk_min", "ess_tail_min", "us/step", "ess/s (sampling)", "ess/s (wall)")
    }
    formats["ess/draw"] = "{:.4f}".format
    return shown.to_string(index=False, formatters=formats, na_rep="-")


# ------------------------------------------------------------------- 2. throughput


def run_throughput(args) -> pd.DataFrame:
    """``mh_throughput.run``: our kernel and the plain-JAX loop, per chain count."""
    return mh_throughput.run(
        args.throughput_chains,
        dim=args.throughput_dim,
        steps=args.throughput_steps,
        seed=args.seed,
        dtypes=(args.throughput_dtype,),
        repeats=args.throughput_repeats,
    )


# ------------------------------------------------------------------------- driver


def _int_list(text: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--quick`` changes the defaults, explicit sizes still win."""
    parser = argparse.ArgumentParser(
        description="Our MH against PyMC's Metropolis (ESS/s with compile), and MH throughput."
    )
    add_run_arguments(parser, PROFILES["default"], SAMPLERS)
    parser.add_argument("--mh-chains", type=int, default=None, help="vectorised chains of mh (256)")
    parser.add_argument("--mh-draws", type=int, default=None, help="draws per mh chain (4000)")
    parser.add_argument("--mh-tune", type=int, default=None, help="mh warm-up steps (1000)")
    parser.add_argument(
        "--parts",
        default="ess,throughput",
        help="comma-separated, from ess, throughput (default: both)",
    )
    parser.add_argument(
        "--throughput-chains",
        default=None,
        help="comma-separated chain counts for the throughput part (1000,16000)",
    )
    parser.add_argument(
        "--throughput-dim", type=int, default=10, help="dimension of the Gaussian target (10)"
    )
    parser.add_argument(
        "--throughput-steps", type=int, default=None, help="MH steps per chain (1000)"
    )
    parser.add_argument(
        "--throughput-repeats",
        type=int,
        default=3,
        help="timed calls after the warm-up call; the fastest counts (3)",
    )
    parser.add_argument(
        "--throughput-dtype",
        default="float64",
        choices=("float64", "float32"),
        help="floating type of the throughput chains (float64, as inference.sample uses)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 chains x 1000 draws, 1000 tune; 50 throughput steps",
    )
    parser.add_argument("--csv", default=None, help="save the combined table to this CSV file")
    args = parser.parse_args(argv)

    profile = PROFILES["quick" if args.quick else "default"]
    for key, value in profile.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in args.parts if p not in ("ess", "throughput")]
    if unknown or not args.parts:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from ess, throughput")
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
    try:
        args.throughput_chains = _int_list(args.throughput_chains)
    except ValueError:
        parser.error("--throughput-chains must be comma-separated integers, e.g. 1000,16000")
    for key in (
        "draws",
        "chains",
        "repeats",
        "throughput_dim",
        "throughput_steps",
        "throughput_repeats",
    ):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.throughput_dim < 2:
        parser.error("--throughput-dim must be >= 2 (the correlated Gaussian needs d >= 2)")
    if not args.throughput_chains or min(args.throughput_chains) < 1:
        parser.error("--throughput-chains must list chain counts >= 1")
    if args.tune < 0:
        parser.error("--tune must be >= 0")
    return args


def main(args: argparse.Namespace) -> pd.DataFrame:
    """Run both parts, print the machine and the tables; return the combined ESS table."""
    # PyMC logs each sampler it assigns and each chain it starts; the table says it all.
    for name in ("pymc", "pymc.sampling", "pymc.stats.convergence"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import jax

    # Start JAX's client before the first timed run so it is charged to nobody.
    jax.block_until_ready(jax.jit(lambda x: x + 1.0)(1.0))

    print("machine")
    for key, value in machine_info().items():
        print(f"  {key:22s} {value}")
    print(
        f"settings: chains={args.chains} draws={args.draws} tune={args.tune} "
        f"(mh: chains={args.mh_chains} draws={args.mh_draws} tune={args.mh_tune}) "
        f"seed={args.seed} repeats={args.repeats}; "
        f"cores for metropolis:pymc = {min(args.chains, os.cpu_count() or 1)}; "
        f"throughput: chains={','.join(map(str, args.throughput_chains))} "
        f"dim={args.throughput_dim} steps={args.throughput_steps} "
        f"dtype={args.throughput_dtype}"
    )
    t0 = time.perf_counter()
    tables: dict[str, pd.DataFrame] = {}
    if "ess" in args.parts:
        for label in args.models:
            tables[label] = run_model(label, args)
    fast = run_throughput(args) if "throughput" in args.parts else None
    elapsed = time.perf_counter() - t0

    for label, table in tables.items():
        name, sizes = MODELS[label]
        size = ", ".join(f"{k}={v}" for k, v in sizes.items())
        print(f"\n== {label} ({name}{', ' + size if size else ''}) ==")
        print(_format(table, args.repeats))
        if args.repeats > 1:
            print(f"\n-- {label}: median over {args.repeats} repeats --")
            print(_format(_medians(table), 1))
    ratio = ratios(tables) if tables else pd.DataFrame()
    if len(ratio):
        print("\n== mh / metropolis:pymc ==")
        print(ratio.to_string(index=False, float_format="{:.2f}".format))
    if fast is not None:
        print(
            f"\n== throughput: mh random walk, {args.throughput_dim}-d correlated Gaussian, "
            f"sampling phase only, on {jax.devices()[0].platform} =="
        )
        print(mh_throughput.format_table(fast))
    print(f"\ntotal benchmark time: {elapsed:.1f} s")

    combined = (
        pd.concat([t.assign(model=label) for label, t in tables.items()], ignore_index=True)
        if tables
        else pd.DataFrame(columns=["model", *COLUMNS])
    ).reindex(columns=["model", *COLUMNS])
    if args.csv:
        combined.to_csv(args.csv, index=False)
        print(f"saved {args.csv}")
        if fast is not None:
            path = os.path.splitext(args.csv)[0] + "_throughput.csv"
            fast.to_csv(path, index=False)
            print(f"saved {path}")
    return combined


if __name__ == "__main__":
    main(parse_args())
