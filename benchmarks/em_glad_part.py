"""GLAD by our EM (``inference.em.glad.GLAD``) against crowd-kit's ``GLAD`` and majority vote.

What it measures
----------------
On labels simulated from the GLAD model (``models.glad.simulate``; by default issue 5's
acceptance size, 2,000 tasks × 50 workers × 5 labels per task, α ~ N(1, 1) so about one
worker in six is adversarial), one row per implementation:

* ``ours (cold)`` — ``GLAD().fit(df)`` on data set ``seed``, the first call of this shape
  in the process: tracing and XLA compilation of the whole EM loop included;
* ``ours (compiled program on disk)`` — the same fit again after every in-memory compiled
  program is dropped: tracing plus loading the executable from JAX's persistent cache
  (turned on by ``benchmarks/em.py``; without it this row compiles again);
* ``ours (warm)`` — ``GLAD().fit(df)`` on a *new* data set of the same shape (``seed + 1``):
  the compiled loop is reused, as it is for every later fit of that shape;
* ``crowd-kit`` — ``crowdkit.aggregation.GLAD().fit(df)`` at its defaults (EM with a
  conjugate-gradient M-step in pandas) on data set ``seed``;
* ``majority vote`` — ``models.glad.majority_vote`` on data set ``seed``.

Columns: ``impl``, ``data_seed``, ``seconds`` (wall time of the fit), ``accuracy`` (share of
tasks whose aggregated label equals the simulated z) and ``spearman_alpha`` (rank
correlation of the estimated worker abilities with the simulated α; for majority vote, of
each worker's agreement rate with the majority). Both use α ~ N(1, 1), log β ~ N(1, 1);
ours estimates the class prior π (Beta(2, 2) prior), crowd-kit fixes π = 1/2.

How to run it
-------------
The lead's ``benchmarks/em.py`` calls :func:`run_glad`; alone::

    .venv/bin/python benchmarks/em_glad_part.py            # the acceptance size
    .venv/bin/python benchmarks/em_glad_part.py --tasks 300 --workers 30

crowd-kit is the ``bench`` extra (``pip install -e .[bench]``); it is imported only here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from bayesmin.inference.em.glad import GLAD
from bayesmin.models.glad import majority_vote, simulate


def _accuracy(labels: pd.Series, z: np.ndarray) -> float:
    # simulate's task ids are 0 … T−1, positions of z.
    labels = labels.sort_index()
    return float(np.mean(labels.to_numpy().astype(int) == z[labels.index.to_numpy()]))


def _spearman(abilities: pd.Series, alpha: np.ndarray) -> float:
    abilities = abilities.sort_index()
    return float(stats.spearmanr(abilities.to_numpy(), alpha[abilities.index.to_numpy()])[0])


def _forget_compiled() -> None:
    # What a new process has: nothing compiled in memory; with JAX's persistent cache
    # on (benchmarks/em.py turns it on), the executable is loaded from disk.
    import jax

    from bayesmin.inference.em import driver

    driver._LOOPS.clear()
    jax.clear_caches()


def run_glad(
    seed: int = 0, n_tasks: int = 2000, n_workers: int = 50, labels_per_task: int = 5
) -> list[dict]:
    """Rows ``{impl, data_seed, seconds, accuracy, spearman_alpha}`` (see the module docstring)."""
    from crowdkit.aggregation import GLAD as CrowdKitGLAD

    sizes = dict(n_tasks=n_tasks, n_workers=n_workers, labels_per_task=labels_per_task)
    rows = []
    df, truth = simulate(seed, **sizes)
    df_new, truth_new = simulate(seed + 1, **sizes)

    for impl, data, known, data_seed in (
        ("ours (cold)", df, truth, seed),
        ("ours (compiled program on disk)", df, truth, seed),
        ("ours (warm)", df_new, truth_new, seed + 1),
    ):
        if "on disk" in impl:
            _forget_compiled()
        start = time.perf_counter()
        ours = GLAD().fit(data)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "impl": impl,
                "data_seed": data_seed,
                "seconds": seconds,
                "accuracy": _accuracy(ours.labels_, known["z"]),
                "spearman_alpha": _spearman(ours.alphas_, known["alpha"]),
            }
        )

    start = time.perf_counter()
    theirs = CrowdKitGLAD().fit(df)
    seconds = time.perf_counter() - start
    rows.append(
        {
            "impl": "crowd-kit",
            "data_seed": seed,
            "seconds": seconds,
            "accuracy": _accuracy(theirs.labels_, truth["z"]),
            "spearman_alpha": _spearman(theirs.alphas_, truth["alpha"]),
        }
    )

    start = time.perf_counter()
    vote = majority_vote(df)
    seconds = time.perf_counter() - start
    agreement = (df["label"].to_numpy() == vote.loc[df["task"]].to_numpy()).astype(float)
    rows.append(
        {
            "impl": "majority vote",
            "data_seed": seed,
            "seconds": seconds,
            "accuracy": _accuracy(vote, truth["z"]),
            "spearman_alpha": _spearman(
                pd.Series(agreement).groupby(df["worker"].to_numpy()).mean(), truth["alpha"]
            ),
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--labels-per-task", type=int, default=5)
    args = parser.parse_args()
    table = pd.DataFrame(run_glad(args.seed, args.tasks, args.workers, args.labels_per_task))
    crowdkit_s = float(table.loc[table["impl"] == "crowd-kit", "seconds"].iloc[0])
    table["crowd-kit / this"] = crowdkit_s / table["seconds"]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
