"""The same comparison grid on 1 and on 2 local Dask workers: does the executor scale?

What it measures
----------------
One grid — ``--samplers`` × ``--seeds`` on non-centred eight schools
(``eight_schools_noncentered``), ``--chains`` × ``--draws`` draws after ``--tune`` — run
through ``reports.grid.run_grid`` into a fresh folder once per worker count in
``--workers`` (default ``1,2``), in this one process, one after the other. Each wall
time covers everything a user waits for: starting the local cluster, the workers
importing the libraries and compiling the samplers, sampling, sending every
InferenceData back and writing it atomically, and the table. ``0`` (in this process,
no Dask) can be added as a reference.

The issue's target: 2 workers at least 1.6× faster than 1 on a 2-core machine. The
runs are independent, so the ideal is 2×; what is lost goes to the cluster's start-up
(worker processes importing PyMC, JAX and NumPyro) and to each worker compiling its own
samplers. So the default grid is one whose runs are mostly sampling — PyMC's NUTS and
PyMC's Metropolis, 4 chains × 4000 draws, a few seconds a run. A grid of JAX samplers
on so small a model is mostly compilation (``--samplers nuts,mh --chains 2``): there
the table shows how much less a second worker buys, and ``0`` (in this process, every
run sharing one compiled sampler) may well be the fastest. Every configuration gets
its own fresh JAX compilation cache (as the ``bayesmin`` command sets one), so none
profits from another's compiled programs.

Run it::

    .venv/bin/python benchmarks/grid.py                    # 2 samplers x 6 seeds, workers 1,2
    .venv/bin/python benchmarks/grid.py --workers 0,1,2
    .venv/bin/python benchmarks/grid.py --samplers nuts,mh --chains 2 --workers 0,1,2

Columns: ``workers``, ``runs``, ``wall_s``, ``runs/s``, ``speed-up`` (against the
first worker count listed), ``failed`` runs. Never asserted on in tests.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from bayesmin import models
from bayesmin.reports import grid

MODEL = "eight_schools_noncentered"


def one_grid(
    workers: int, samplers: list[str], seeds: list[int], draws: int, tune: int, chains: int
) -> dict:
    spec = models.get(MODEL)
    data = spec.simulate(0)
    out = Path(tempfile.mkdtemp(prefix=f"grid-w{workers}-"))
    # Worker processes inherit the environment: a fresh persistent JAX cache per run.
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(out / "jax-cache")
    try:
        gspec = grid.GridSpec(
            spec.name, tuple(samplers), tuple(seeds), draws, tune, chains, models.fingerprint(data)
        )
        gspec = grid.prepare(out, gspec)
        t0 = time.perf_counter()
        _, table = grid.run_grid(spec, data, gspec, out, workers=workers)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "workers": workers,
        "runs": len(table),
        "wall_s": wall,
        "runs/s": len(table) / wall,
        "failed": int((table["error"] != "").sum()),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (1,2)")
    parser.add_argument(
        "--samplers",
        default="nuts:pymc,metropolis:pymc",
        help="comma-separated (nuts:pymc,metropolis:pymc)",
    )
    parser.add_argument("--chains", type=int, default=4, help="chains per run (4)")
    parser.add_argument("--seeds", default="0-5", help="seeds, e.g. 0-5 (6 seeds)")
    parser.add_argument("--draws", type=int, default=4000, help="draws per chain (4000)")
    parser.add_argument("--tune", type=int, default=1000, help="warm-up per chain (1000)")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    seeds = grid.parse_seeds(args.seeds)
    logging.getLogger("pymc").setLevel(logging.WARNING)

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"grid: {MODEL}, samplers {','.join(samplers)} x seeds {args.seeds} "
        f"({len(samplers) * len(seeds)} runs), {args.chains} chains x {args.draws} draws, "
        f"{args.tune} tune"
    )
    rows = []
    for w in workers:
        print(f"  {w} worker(s) ...", flush=True)
        rows.append(one_grid(w, samplers, seeds, args.draws, args.tune, args.chains))
    table = pd.DataFrame(rows)
    table["speed-up"] = table["wall_s"].iloc[0] / table["wall_s"]
    print()
    print(
        table[["workers", "runs", "wall_s", "runs/s", "speed-up", "failed"]].to_string(
            index=False, float_format="{:.2f}".format
        )
    )
    return table


if __name__ == "__main__":
    main()
