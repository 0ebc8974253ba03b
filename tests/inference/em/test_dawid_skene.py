"""Dawid–Skene by EM: recovers confusion matrices, beats majority vote, bound never drops."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

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


def test_score_is_the_mean_log_marginal_likelihood_per_task(fitted):
    ds, df, _, _ = fitted
    few = df[df["task"] < 5]
    # Brute force, task by task: log Σ_c π_c Π_j π^{(j)}_{c, l}.
    worker = {w: j for j, w in enumerate(ds.workers_)}
    per_task = []
    for _, rows in few.groupby("task"):
        log_joint = np.log(ds.prior_).copy()
        for w, label in zip(rows["worker"], rows["label"], strict=True):
            log_joint += np.log(ds.confusion_[worker[w], :, label])
        per_task.append(np.logaddexp.reduce(log_joint))
    assert ds.score(few) == pytest.approx(np.mean(per_task), abs=1e-12)
    # Negative control: labels drawn at random, not by these workers, are far less likely
    # (by ~1 nat per task; the mean over 600 tasks has a standard error of ~0.02).
    noise = df.assign(label=np.random.default_rng(1).integers(0, 2, len(df)))
    assert ds.score(noise) < ds.score(df) - 0.5
    # New tasks are fine (the parameters are per worker); unknown workers are not.
    assert np.isfinite(ds.score(few.assign(task=few["task"] + 10_000)))
    with pytest.raises(ValueError, match="worker 99 was not in the fitted data"):
        ds.score(pd.DataFrame({"task": [0], "worker": [99], "label": [1]}))
    with pytest.raises(ValueError, match="label 2 is not one of the 2 fitted classes"):
        ds.score(pd.DataFrame({"task": [0], "worker": [0], "label": [2]}))


def test_restarts_warm_start_and_the_convergence_warning(fitted):
    ds, df, _, _ = fitted
    with pytest.warns(ConvergenceWarning, match="did not converge in 2 iterations.*max_iter"):
        short = DawidSkene(max_iter=2, warm_start=True).fit(df)
    first = short.lower_bound_
    with pytest.warns(ConvergenceWarning):
        short.fit(df)
    # A warm refit continues: its first bound is no lower than the last one.
    assert short.lower_bounds_[0] >= first - 1e-12
    restarts = DawidSkene(n_init=3, random_state=0).fit(df)
    # The first start is the majority vote, so restarts can only keep a better bound.
    assert restarts.lower_bound_ >= ds.lower_bound_ - 1e-12
    assert np.all(np.diff(restarts.lower_bounds_) >= -1e-10)
    other = df.assign(worker=df["worker"] + 100)
    with pytest.raises(ValueError, match="warm_start=True continues the last fit"):
        short.fit(other)
    with pytest.raises(ValueError, match="n_init must be an integer >= 1"):
        DawidSkene(n_init=0).fit(df)
