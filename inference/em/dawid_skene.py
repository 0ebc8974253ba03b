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

Started, as usual, from the majority vote's class frequencies per task; further starts
(``n_init > 1``) from random responsibilities, drawn with ``random_state``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.special import logsumexp

from ...models.glad import show_id
from .base import EMEstimator

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


@jax.jit
def _task_log_evidence(params, data):
    """log p(l_i | θ) = log Σ_c π_c Π π^{(j)}_{c, l} for every task, shape (tasks,)."""
    return logsumexp(_log_joint(params, data), axis=1)


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


def _encode(df: pd.DataFrame):
    """``(task_idx, worker_idx, label, tasks, workers)`` of a labels table, ids sorted."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(
            f"DawidSkene takes a pandas DataFrame with columns task, worker, label; "
            f"got {type(df).__name__}"
        )
    missing = {"task", "worker", "label"} - set(df.columns)
    if missing:
        raise ValueError(f"the labels table lacks column(s) {', '.join(sorted(missing))}")
    if df.empty:
        raise ValueError("the labels table is empty")
    tasks, task_idx = np.unique(df["task"].to_numpy(), return_inverse=True)
    workers, worker_idx = np.unique(df["worker"].to_numpy(), return_inverse=True)
    label = df["label"].to_numpy()
    if not np.issubdtype(label.dtype, np.integer) or label.min() < 0:
        raise ValueError("labels must be class indices 0, 1, …")
    return task_idx, worker_idx, label, tasks, workers


def _data(task_idx, worker_idx, label, n_tasks: int, n_workers: int, alpha: float) -> dict:
    """The pytree of the steps (NumPy: JAX takes it in the precision of the caller)."""
    return {
        "task": np.asarray(task_idx),
        "worker": np.asarray(worker_idx),
        "label": np.asarray(label),
        "task_ids": np.arange(n_tasks),
        "worker_ids": np.arange(n_workers),
        "alpha": np.asarray(float(alpha)),
    }


class DawidSkene(EMEstimator):
    """Dawid–Skene label aggregation by EM (see the module docstring).

    Parameters
    ----------
    alpha : float
        Dirichlet smoothing of every confusion row (> 0).
    tol : float
        Stop when the per-task bound changes by less than this.
    max_iter : int
        EM iterations at most.
    n_init : int
        Starts: the first from the majority vote, the others from random
        responsibilities; the run with the highest final bound is kept.
    random_state : int, numpy.random.Generator or None
        Seed of the random starts (used only when ``n_init > 1``).
    warm_start : bool
        Start EM from the last fit's parameters (``n_init`` is then ignored); the table
        must have the same workers and classes.

    Attributes
    ----------
    labels_ : pandas.Series
        Most probable class of each task, indexed by task id.
    probas_ : pandas.DataFrame
        q_i(c), indexed by task id.
    confusion_ : ndarray (workers, C, C)
        π^{(j)}_{c, l}: row c is worker j's distribution of labels for true class c.
    prior_ : ndarray (C,)
        π_c.
    workers_ : ndarray
        Worker ids, in the order of ``confusion_``.
    lower_bounds_, lower_bound_, n_iter_, converged_
        As in every EM estimator; the bound is per task and never decreases.

    Notes
    -----
    ``fit`` takes a DataFrame with columns ``task, worker, label`` (labels are class
    indices 0 … C−1). :meth:`score` is the mean log marginal likelihood per task of a
    table, log p(l_i | θ̂) = log Σ_c π_c Π_j π^{(j)}_{c, l_ij}, without the prior.

    References
    ----------
    Dawid, A. P. & Skene, A. M. (1979). Maximum likelihood estimation of observer
    error-rates using the EM algorithm. *JRSS-C* 28(1), 20–28.
    """

    _remedy = ", or raise alpha (smoother confusion matrices)"
    _collapse = "raise alpha"

    def __init__(
        self,
        *,
        alpha: float = 0.01,
        tol: float = 1e-7,
        max_iter: int = 200,
        n_init: int = 1,
        random_state: int | np.random.Generator | None = None,
        warm_start: bool = False,
    ):
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state
        self.warm_start = warm_start

    # -- checks
    def _check_input(self, X: pd.DataFrame):
        return _encode(X)

    def _check_model_settings(self, X) -> None:
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")

    # -- the model's part of EM
    def _em_steps(self):
        return _e_step, _m_step, _lower_bound

    def _em_data(self, X) -> dict:
        task_idx, worker_idx, label, tasks, workers = X
        return _data(task_idx, worker_idx, label, len(tasks), len(workers), self.alpha)

    def _initial_params(self, X, data, rng: np.random.Generator, init: int) -> dict:
        task_idx, _, label, tasks, _ = X
        n_classes = int(label.max()) + 1
        if init == 0:  # the majority vote's class frequencies
            votes = np.zeros((len(tasks), n_classes))
            np.add.at(votes, (task_idx, label), 1.0)
            q0 = votes / votes.sum(axis=1, keepdims=True)
        else:
            q0 = rng.dirichlet(np.ones(n_classes), size=len(tasks))
        return _m_step(jnp.log(jnp.clip(jnp.asarray(q0), 1e-12)), data)

    def _warm_params(self, X) -> dict:
        _, _, label, _, workers = X
        confusion = self._params["confusion"]
        if not np.array_equal(workers, self.workers_) or int(label.max()) + 1 > confusion.shape[1]:
            raise ValueError(
                "warm_start=True continues the last fit, whose workers or classes differ "
                "from these; set warm_start=False to refit"
            )
        return self._params

    def _set_attributes(self, X, data) -> None:
        _, _, _, tasks, workers = X
        probas = np.exp(np.asarray(_e_step(self._params, data)))
        self.probas_ = pd.DataFrame(probas, index=pd.Index(tasks, name="task"))
        self.labels_ = pd.Series(probas.argmax(axis=1), index=self.probas_.index, name="agg_label")
        self.confusion_ = self._params["confusion"]
        self.prior_ = self._params["prior"]
        self.workers_ = workers

    # -- results
    def score(self, X: pd.DataFrame, y=None) -> float:
        """Mean log marginal likelihood per task, log p(l_i | θ̂), of a labels table.

        The true classes are summed out with ``prior_``; the Dirichlet prior is not
        included. Tasks may be new; every worker must have been in the fitted table and
        every label a fitted class.
        """
        self._check_fitted()
        task_idx, worker_idx, label, tasks, workers = _encode(X)
        known = np.isin(workers, self.workers_)
        if not known.all():
            raise ValueError(
                f"worker {show_id(workers[~known][0])} was not in the fitted data; Dawid-Skene's "
                "confusion matrices are per worker: refit with it included"
            )
        n_classes = self.confusion_.shape[1]
        if label.max() >= n_classes:
            raise ValueError(
                f"label {label.max()} is not one of the {n_classes} fitted classes 0 … "
                f"{n_classes - 1}"
            )
        w = np.searchsorted(self.workers_, workers)[worker_idx]
        data = _data(task_idx, w, label, len(tasks), len(self.workers_), self.alpha)
        return float(self._compute(_task_log_evidence, self._params, data).mean())
