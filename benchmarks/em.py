"""Our EM estimators against the libraries people use today, side by side in one process.

What it measures
----------------
1. **Gaussian mixture**, full covariances, n = 100,000 points in d = 10 with K = 5
   overlapping components (so EM needs many iterations): ``inference.em.GaussianMixture``
   against ``sklearn.mixture.GaussianMixture``, both started from the **same parameters**
   (scikit-learn's own k-means start, after one of its iterations) with the same ``tol``
   and ``reg_covar``. The two follow the same path (our steps are scikit-learn's
   arithmetic), so they stop at the same iteration with the same lower bound — the
   table shows both bounds and iteration counts, so "faster to the same bound" is
   checked, not assumed. Ours is timed three times: the first fit includes tracing and
   XLA compilation (``cold``: the first fit of this shape on a machine); the second
   starts with every in-memory compiled program dropped but JAX's persistent cache on
   disk, as a new process finds it (``compiled program on disk``: tracing plus loading);
   the third reuses the compiled loop (``warm``: every later fit of a session or grid).
   The issue's target: ≥ 5×.
2. **GLAD** (crowdsourced binary labels), 2,000 tasks × 50 workers × 5 labels per task
   simulated from the GLAD model: ``inference.em.GLAD`` against crowd-kit's ``GLAD`` and
   majority vote — wall time, accuracy against the true labels, Spearman correlation of
   the fitted worker abilities with the true ones (``benchmarks/em_glad_part.py``).
   The issue's target: ≥ 20× faster than crowd-kit, at least as accurate. Needs the
   ``bench`` extra (``pip install -e '.[bench]'``) for crowd-kit.

Run it::

    .venv/bin/python benchmarks/em.py                    # both parts
    .venv/bin/python benchmarks/em.py --parts gmm --tol 1e-4

Timings depend on the machine and on whatever else runs on it; never asserted on in tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from bayesmin.inference.em import GaussianMixture


def mixture_data(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    """K Gaussians with random full covariances and close means: a slow EM problem."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.0, size=(k, d))
    X = []
    for j in range(k):
        A = rng.normal(size=(d, d)) / np.sqrt(d)
        cov = A @ A.T + 0.5 * np.eye(d)
        X.append(rng.multivariate_normal(means[j], cov, size=n // k))
    return rng.permutation(np.concatenate(X))


def use_disk_cache() -> str:
    """JAX's persistent compilation cache in a fresh folder, for every program (any size)."""
    import tempfile

    import jax

    folder = tempfile.mkdtemp(prefix="bayesmin-em-cache-")
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def forget_compiled() -> None:
    """Drop every in-memory compiled program, as a new process starts: only the disk
    cache is left, so the next fit re-traces and loads its executable from disk."""
    import jax

    from bayesmin.inference.em import driver

    driver._LOOPS.clear()
    jax.clear_caches()


def run_gmm(n=100_000, d=10, k=5, tol=1e-3, max_iter=1000, seed=0) -> pd.DataFrame:
    X = mixture_data(n, d, k, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = SkGaussianMixture(k, max_iter=1, random_state=seed).fit(X)
    start = {
        "weights_init": first.weights_,
        "means_init": first.means_,
        "precisions_init": first.precisions_,
    }
    settings = dict(covariance_type="full", tol=tol, max_iter=max_iter, **start)
    rows = []
    for label, make in (
        ("bayesmin (cold: compile included)", lambda: GaussianMixture(k, **settings)),
        ("bayesmin (compiled program on disk)", lambda: GaussianMixture(k, **settings)),
        ("bayesmin (warm)", lambda: GaussianMixture(k, **settings)),
        ("scikit-learn", lambda: SkGaussianMixture(k, **settings)),
    ):
        est = make()
        if "on disk" in label:
            forget_compiled()
        t0 = time.perf_counter()
        est.fit(X)
        seconds = time.perf_counter() - t0
        rows.append(
            {
                "impl": label,
                "seconds": seconds,
                "n_iter": est.n_iter_,
                "lower_bound": est.lower_bound_,
                "ms/iter": 1000 * seconds / est.n_iter_,
            }
        )
    table = pd.DataFrame(rows)
    sk = table.loc[table["impl"] == "scikit-learn", "seconds"].iloc[0]
    table["speed-up vs scikit-learn"] = sk / table["seconds"]
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="gmm,glad", help="comma-separated: gmm, glad")
    parser.add_argument("--n", type=int, default=100_000, help="mixture: points (100000)")
    parser.add_argument("--tol", type=float, default=1e-3, help="mixture: EM tol (1e-3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    cache = use_disk_cache()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"JAX compilation cache (fresh): {cache}")
    if "gmm" in parts:
        print(f"\n== Gaussian mixture, full covariances: n={args.n}, d=10, K=5, tol={args.tol} ==")
        table = run_gmm(n=args.n, tol=args.tol, seed=args.seed)
        print(table.to_string(index=False, float_format="{:.6g}".format))
        same = np.ptp(table["lower_bound"]) < 1e-6 and table["n_iter"].nunique() == 1
        print(f"same bound and iterations: {'yes' if same else 'NO'}")
    if "glad" in parts:
        from em_glad_part import run_glad

        print("\n== GLAD: 2000 tasks x 50 workers x 5 labels per task ==")
        table = pd.DataFrame(run_glad(seed=args.seed))
        print(table.to_string(index=False, float_format="{:.4g}".format))


if __name__ == "__main__":
    main()
