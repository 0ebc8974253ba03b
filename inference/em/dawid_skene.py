"""Dawid–Skene: crowd labels with one confusion matrix per worker, fitted by EM.

Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the
EM algorithm", *JRSS-C* 28(1). The baseline GLAD is judged against: each task i has a
true class z_i ~ Categorical(π); worker j reports label l with probability
π^{(j)}_{z_i, l} (row z_i of worker j's confusion matrix), independently given z.

* E-step: q_i(c) ∝ π_c Π_{(i, j, l)} π^{(j)}_{c, l} — exact, over the label list;
* M-step: π_c = mean_i q_i(c); π^{(j)}_{c, l} = (Σ_{labels of j equal to l} q_i(c) + α)
  / (Σ_{labels of j} q_i(c) + C α) — the MAP update under a Dirichlet(1 + α) prior on
  each row, which keeps unseen (worker, class) rows away from 0/0;
* the bound: the observed-data log-likelihood plus that log prior, per task.

Started, as usual, from the majority vote's class frequencies per task.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.special import logsumexp
from sklearn.base import BaseEstimator

from .driver import em

__all__ = ["DawidSkene"]


def _log_joint(params, data):
    """log π_c + Σ log π^{(j)}_{c, l} for every task and class, shape (tasks, C)."""
    log_conf = jnp.log(params["confusion"])  # (workers, C, C)
    per_label = log_conf[data["worker"], :, data["label"]]  # (labels, C)
    # Sizes come from array shapes (static under jit), so one compiled loop serves
    # every table with the same numbers of labels, tasks and workers.
    n_tasks = data["task_ids"].shape[0]
    summed = jax.ops.segment_sum(per_label, data["task"], num_segments=n_tasks)
    return jnp.log(params["prior"])[None, :] + summed


def _e_step(params, data):
    joint = _log_joint(params, data)
    return joint - logsumexp(joint, axis=1, keepdims=True)


def _lower_bound(params, log_q, data):
    joint = _log_joint(params, data)
    loglik = jnp.sum(logsumexp(joint, axis=1))
    log_prior = data["alpha"] * jnp.sum(jnp.log(params["confusion"]))
    return (loglik + log_prior) / data["task_ids"].shape[0]


def _m_step(log_q, data):
    q = jnp.exp(log_q)
    n_classes = q.shape[1]
    q_of_label = q[data["task"]]  # (labels, C)
    one_hot = jax.nn.one_hot(data["label"], n_classes, dtype=q.dtype)  # (labels, C)
    counts = jax.ops.segment_sum(
        q_of_label[:, :, None] * one_hot[:, None, :], data["worker"],
        num_segments=data["worker_ids"].shape[0],
    )  # fmt: skip
    counts = counts + data["alpha"]
    confusion = counts / counts.sum(axis=2, keepdims=True)
    return {"prior": q.mean(axis=0), "confusion": confusion}


class DawidSkene(BaseEstimator):
    """Dawid–Skene label aggregation by EM (see the module docstring).

    ``fit`` takes a DataFrame with columns ``task, worker, label`` (labels are class
    indices 0 … C−1); ``labels_`` and ``probas_`` are indexed by task,
    ``confusion_`` is (workers, C, C), ``lower_bounds_`` never decreases.
    """

    def __init__(self, *, alpha: float = 0.01, tol: float = 1e-7, max_iter: int = 200):
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, df: pd.DataFrame, y=None):
        missing = {"task", "worker", "label"} - set(df.columns)
        if missing:
            raise ValueError(f"the labels table lacks column(s) {', '.join(sorted(missing))}")
        if df.empty:
            raise ValueError("the labels table is empty")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        tasks, task_idx = np.unique(df["task"].to_numpy(), return_inverse=True)
        workers, worker_idx = np.unique(df["worker"].to_numpy(), return_inverse=True)
        label = df["label"].to_numpy()
        if not np.issubdtype(label.dtype, np.integer) or label.min() < 0:
            raise ValueError("labels must be class indices 0, 1, …")
        n_classes = int(label.max()) + 1
        votes = np.zeros((len(tasks), n_classes))
        np.add.at(votes, (task_idx, label), 1.0)
        q0 = votes / votes.sum(axis=1, keepdims=True)
        data = {
            "task": jnp.asarray(task_idx),
            "worker": jnp.asarray(worker_idx),
            "label": jnp.asarray(label),
            "task_ids": jnp.arange(len(tasks)),
            "worker_ids": jnp.arange(len(workers)),
            "alpha": jnp.asarray(float(self.alpha)),
        }
        start = _m_step(jnp.log(jnp.clip(jnp.asarray(q0), 1e-12)), data)
        result = em(
            start,
            data,
            e_step=_e_step,
            m_step=_m_step,
            lower_bound=_lower_bound,
            tol=float(self.tol),
            max_iter=int(self.max_iter),
        )
        log_q = _e_step(result.params, data)
        probas = np.exp(np.asarray(log_q))
        self.probas_ = pd.DataFrame(probas, index=pd.Index(tasks, name="task"))
        self.labels_ = pd.Series(probas.argmax(axis=1), index=self.probas_.index, name="agg_label")
        self.confusion_ = np.asarray(result.params["confusion"])
        self.prior_ = np.asarray(result.params["prior"])
        self.workers_ = workers
        self.lower_bounds_ = result.lower_bounds
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        return self
