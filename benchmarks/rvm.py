"""Our relevance vector regression against scikit-learn's ARDRegression, side by side.

What it measures
----------------
1. **Sinc** (Tipping 2001): 100 points evenly on [−10, 10], t = sin(x)/x + N(0, 0.1²),
   rbf kernel of width r = 3 (``gamma = 1/9``), averaged over ``--sets`` data sets, error
   against the true sinc on 1,000 test points. Rows: ``RVR(method="fast")`` (Tipping &
   Faul 2003), ``RVR(method="reestimation")`` (Tipping 2001), and scikit-learn's
   ``ARDRegression`` on the same kernel features (Φ = rbf kernel matrix with a bias
   column; ``fit_intercept=False`` because the bias is a column). Columns: mean fit
   seconds, RMS error, number of relevance vectors / nonzero weights (ARDRegression
   prunes with its ``threshold_lambda``; its weights below 1e-8 in size count as zero).
2. **Large N**: fit time and peak memory (``tracemalloc``: NumPy allocations) at
   ``--n-large`` points (default 5,000) for ``RVR(method="fast")``. The re-estimation
   method and ARDRegression start from all N basis functions (N × N Cholesky or pinvh
   per iteration, hundreds of iterations): at N = 5,000 that is minutes to hours, so they
   run there only with ``--large-all``.

3. **sklearn-rvm's EMRVR** (``pip install -e '.[bench]'``; skipped with a note when it is
   not installed): the EM re-estimation RVM of the ``sklearn-rvm`` package, same kernel
   and data. Its ``fit`` returns ``None`` rather than ``self`` (sklearn-rvm 0.1.1), so
   it is called on its own line. At ``--n-large`` it runs only with ``--large-all``.

Run it::

    .venv/bin/python benchmarks/rvm.py
    .venv/bin/python benchmarks/rvm.py --sets 5 --n-large 2000 --large-all

Timings depend on the machine and on whatever else runs on it; never asserted on in tests.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ARDRegression

from bayesmin.inference.evidence import RVR, rbf_kernel

GAMMA = 1.0 / 9.0


def sinc_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-10.0, 10.0, n)[:, None]
    t = np.sinc(x[:, 0] / np.pi) + np.random.default_rng(seed).normal(0.0, 0.1, n)
    return x, t


def features(X: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((len(X), 1)), rbf_kernel(X, centres, GAMMA)])


def fit_rvr(method: str, X, t, X_test):
    start = time.perf_counter()
    model = RVR(kernel="rbf", gamma=GAMMA, method=method, max_iter=3000).fit(X, t)
    seconds = time.perf_counter() - start
    return seconds, model.predict(X_test), len(model.relevance_indices_)


def fit_ard(X, t, X_test):
    start = time.perf_counter()
    # Feature construction is part of the cost of this route, so it is timed.
    model = ARDRegression(fit_intercept=False, max_iter=300).fit(features(X, X), t)
    seconds = time.perf_counter() - start
    return seconds, model.predict(features(X_test, X)), int(np.sum(np.abs(model.coef_) > 1e-8))


def emrvr():
    """sklearn-rvm's ``EMRVR`` class, or ``None`` where the package is not installed."""
    try:
        from sklearn_rvm import EMRVR
    except ImportError:
        return None
    return EMRVR


def fit_emrvr(X, t, X_test):
    model = emrvr()(kernel="rbf", gamma=GAMMA)
    start = time.perf_counter()
    model.fit(X, t)  # returns None in sklearn-rvm 0.1.1
    seconds = time.perf_counter() - start
    return seconds, model.predict(X_test), len(model.relevance_vectors_)


def sinc_table(n_sets: int) -> pd.DataFrame:
    X_test = np.linspace(-10.0, 10.0, 1000)[:, None]
    f_test = np.sinc(X_test[:, 0] / np.pi)
    runs = {
        "RVR fast": lambda X, t: fit_rvr("fast", X, t, X_test),
        "RVR reestimation": lambda X, t: fit_rvr("reestimation", X, t, X_test),
        "sklearn ARDRegression": lambda X, t: fit_ard(X, t, X_test),
    }
    if emrvr() is not None:
        runs["sklearn-rvm EMRVR"] = lambda X, t: fit_emrvr(X, t, X_test)
    rows = []
    for name, run in runs.items():
        secs, rms, nrv = [], [], []
        for seed in range(n_sets):
            X, t = sinc_data(100, seed)
            s, pred, k = run(X, t)
            secs.append(s)
            rms.append(np.sqrt(np.mean((pred - f_test) ** 2)))
            nrv.append(k)
        rows.append(
            {
                "method": name,
                "fit_seconds": np.mean(secs),
                "rms_error": np.mean(rms),
                "relevance_vectors": np.mean(nrv),
            }
        )
    table = pd.DataFrame(rows)
    table["speedup_vs_ard"] = table["fit_seconds"].iloc[2] / table["fit_seconds"]
    if emrvr() is not None:
        table["speedup_vs_emrvr"] = table["fit_seconds"].iloc[3] / table["fit_seconds"]
    return table


def measure(fn) -> tuple[float, float]:
    tracemalloc.start()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20


def large_table(n: int, everything: bool) -> pd.DataFrame:
    X, t = sinc_data(n, 0)
    runs = {"RVR fast": lambda: RVR(gamma=GAMMA).fit(X, t)}
    if everything:
        runs["RVR reestimation"] = lambda: RVR(
            gamma=GAMMA, method="reestimation", max_iter=3000
        ).fit(X, t)
        runs["sklearn ARDRegression"] = lambda: ARDRegression(
            fit_intercept=False, max_iter=300
        ).fit(features(X, X), t)
        if emrvr() is not None:
            runs["sklearn-rvm EMRVR"] = lambda: emrvr()(kernel="rbf", gamma=GAMMA).fit(X, t)
    rows = []
    for name, fn in runs.items():
        seconds, peak_mib = measure(fn)
        rows.append({"method": name, "n": n, "fit_seconds": seconds, "peak_mib": peak_mib})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=20, help="sinc data sets (seeds)")
    parser.add_argument("--n-large", type=int, default=5000, help="points in the large fit")
    parser.add_argument(
        "--large-all",
        action="store_true",
        help="also run re-estimation and ARDRegression at --n-large (slow, memory-hungry)",
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    pd.set_option("display.width", 120)
    print(f"Sinc, N = 100, rbf gamma = 1/9, {args.sets} data sets (means):")
    print(sinc_table(args.sets).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if emrvr() is None:
        print("(sklearn-rvm is not installed: pip install -e '.[bench]' adds the EMRVR row)")
    print(f"\nLarge N = {args.n_large} (one data set):")
    print(
        large_table(args.n_large, args.large_all).to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        )
    )


if __name__ == "__main__":
    main()
