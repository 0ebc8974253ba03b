"""Dawid–Skene by EM: recovers confusion matrices, beats majority vote, bound never drops."""

import numpy as np
import pandas as pd
import pytest

from bayesmin.inference.em.dawid_skene import DawidSkene


def _simulate(seed=0, n_tasks=600, n_workers=12, per_task=5):
    """Binary labels from a Dawid–Skene model with known per-worker confusion matrices."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n_tasks)
    # Worker j: P(correct | z = 0) and P(correct | z = 1); a third are adversarial.
    correct = rng.uniform(0.6, 0.95, size=(n_workers, 2))
    correct[: n_workers // 3] = 1 - correct[: n_workers // 3]
    rows = []
    for i in range(n_tasks):
        for j in rng.choice(n_workers, per_task, replace=False):
            right = rng.random() < correct[j, z[i]]
            rows.append((i, j, int(z[i] if right else 1 - z[i])))
    df = pd.DataFrame(rows, columns=["task", "worker", "label"])
    return df, z, correct


@pytest.fixture(scope="module")
def fitted():
    df, z, correct = _simulate()
    return DawidSkene().fit(df), df, z, correct


def test_confusion_matrices_and_labels_are_recovered(fitted):
    ds, df, z, correct = fitted
    estimated = np.stack([ds.confusion_[:, 0, 0], ds.confusion_[:, 1, 1]], axis=1)
    # ~250 labels per worker: each rate has a binomial s.e. below 0.05.
    assert np.abs(estimated - correct).max() < 0.15
    accuracy = (ds.labels_.to_numpy() == z).mean()
    votes = df.groupby("task")["label"].mean().to_numpy()
    majority = ((votes > 0.5) | ((votes == 0.5) & (np.arange(len(z)) % 2 == 0))).astype(int)
    # Negative control: majority vote, misled by the adversarial third, does worse.
    assert accuracy > (majority == z).mean() + 0.05
    assert accuracy > 0.9


def test_bound_never_decreases(fitted):
    ds = fitted[0]
    assert ds.n_iter_ > 2 and np.all(np.diff(ds.lower_bounds_) >= -1e-10)


def test_bad_tables_are_named():
    with pytest.raises(ValueError, match="lacks column"):
        DawidSkene().fit(pd.DataFrame({"task": [1], "label": [0]}))
    with pytest.raises(ValueError, match="class indices"):
        DawidSkene().fit(pd.DataFrame({"task": [1], "worker": [1], "label": [-1]}))
