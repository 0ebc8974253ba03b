"""Course topic 6: GLAD, crowdsourced binary labels from workers of unknown ability.

The generative model of Whitehill, Ruvolo, Wu, Bergsma & Movellan (2009), "Whose vote
should count more", with tasks i, workers j and the labels l_ij that were given:

    z_i ~ Bernoulli(π)                      the true label of task i
    α_j ~ N(μ_α, σ_α²)                      worker ability (α < 0: adversarial)
    log β_i ~ N(μ_b, σ_b²)                  task inverse difficulty β_i > 0
    p(l_ij = z_i) = σ(α_j β_i)

(the paper's labellers i and images j are our workers j and tasks i, the course's
indices). The likelihood is unchanged by the mirror map z → 1 − z, α → −α (with
π → 1 − π): only the α prior's positive mean tells the two apart, by a factor
exp(2 Σ_j α_j) under the default N(1, 1). With few labels the posterior is therefore
bimodal, and a sampler started at random may settle in the mirror mode: start it at the
EM estimate, or check that Σ_j α_j > 0.
This module holds what is model, not fitting:

- :func:`simulate` draws a data set with known z, α, β, in crowd-kit's long layout;
- :func:`glad_numpyro` is the same model as a declarative NumPyro program with z
  enumerated (summed out exactly), so NUTS samples α and log β;
- :func:`majority_vote`, the baseline every aggregator is compared with.

EM for this model is :class:`inference.em.glad.GLAD`; its default priors are those of
:func:`glad_numpyro` (α ~ N(1, 1), log β ~ N(1, 1), π ~ Beta(2, 2)). :func:`simulate`
draws log β ~ N(0, 1) by default — harder tasks than the prior's typical β = e, the
regime where weighting workers matters — so the fits also face a misspecified prior.

References
----------
.. [1] Whitehill, J., Ruvolo, P., Wu, T., Bergsma, J. & Movellan, J. (2009). Whose vote
   should count more: optimal integration of labels from labelers of unknown expertise.
   *NIPS 22*, 2035–2043.
.. [2] Obermeyer, F. et al. (2019). Tensor variable elimination for plated factor graphs.
   *ICML* (the enumeration NumPyro uses for z).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from .base import DataError, ModelSpec, check_cells, register, whole_number

__all__ = [
    "COLUMNS",
    "encode",
    "glad_numpyro",
    "majority_vote",
    "pad_labels",
    "show_id",
    "simulate",
]


def simulate(
    seed: int = 0,
    n_tasks: int = 300,
    n_workers: int = 30,
    labels_per_task: int = 5,
    *,
    class_prior: float = 0.5,
    alpha: Any = None,
    alpha_mean: float = 1.0,
    alpha_sd: float = 1.0,
    log_beta_mean: float = 0.0,
    log_beta_sd: float = 1.0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Labels drawn from the GLAD model with known truth.

    Each task is labelled by ``labels_per_task`` distinct workers drawn uniformly at
    random. With the defaults α ~ N(1, 1), so about 16% of workers are adversarial
    (α < 0) and many more are near chance, the regime where weighting workers beats
    counting votes.

    Parameters
    ----------
    seed : int
        One seed, split by purpose (z, α, β, assignment, labels): overriding ``alpha``
        leaves the other draws unchanged.
    n_tasks, n_workers, labels_per_task : int
    class_prior : float
        p(z_i = 1).
    alpha : array (n_workers,), optional
        Worker abilities; drawn from N(``alpha_mean``, ``alpha_sd``²) when not given.
    log_beta_mean, log_beta_sd : float
        log β_i ~ N(``log_beta_mean``, ``log_beta_sd``²).

    Returns
    -------
    df : pandas.DataFrame
        One row per label, columns ``task, worker, label`` (ids are 0-based integers).
    truth : dict
        ``z`` (n_tasks,) ints, ``alpha`` (n_workers,), ``beta`` (n_tasks,), positions
        equal to the ids.
    """
    n_tasks = whole_number("n_tasks", n_tasks)
    n_workers = whole_number("n_workers", n_workers)
    labels_per_task = whole_number("labels_per_task", labels_per_task)
    # The assignment draws one uniform per (task, worker).
    check_cells("the assignment (n_tasks × n_workers)", n_tasks * n_workers, "n_tasks or n_workers")
    if labels_per_task > n_workers:
        raise DataError(
            f"labels_per_task = {labels_per_task} exceeds n_workers = {n_workers}: a worker "
            "labels a task at most once"
        )
    if not 0 <= class_prior <= 1:
        raise DataError(f"class_prior must be in [0, 1], got {class_prior}")
    k_z, k_alpha, k_beta, k_assign, k_label = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    z = (k_z.uniform(size=n_tasks) < class_prior).astype(int)
    if alpha is None:
        alpha = k_alpha.normal(alpha_mean, alpha_sd, n_workers)
    alpha = np.asarray(alpha, dtype=float)
    if alpha.shape != (n_workers,):
        raise DataError(f"alpha must have shape ({n_workers},), got {alpha.shape}")
    beta = np.exp(k_beta.normal(log_beta_mean, log_beta_sd, n_tasks))
    # The first labels_per_task columns of a random permutation of the workers, per task.
    workers = np.argsort(k_assign.uniform(size=(n_tasks, n_workers)), axis=1)[:, :labels_per_task]
    tasks = np.repeat(np.arange(n_tasks), labels_per_task)
    workers = workers.ravel()
    p_right = 1.0 / (1.0 + np.exp(-alpha[workers] * beta[tasks]))
    right = k_label.uniform(size=tasks.size) < p_right
    label = np.where(right, z[tasks], 1 - z[tasks])
    df = pd.DataFrame({"task": tasks, "worker": workers, "label": label})
    return df, {"z": z, "alpha": alpha, "beta": beta}


def majority_vote(df: pd.DataFrame, *, seed: int = 0) -> pd.Series:
    """The label most workers gave each task; ties broken uniformly at random.

    Ties go to a fair coin (seeded, so reproducible) rather than to a fixed class, which
    would bias the baseline's accuracy whenever the classes are unbalanced. Returns a
    Series indexed by task id (sorted), named ``agg_label`` like crowd-kit's.
    """
    share = df.groupby("task")["label"].mean()
    coin = np.random.default_rng(seed).uniform(size=len(share)) < 0.5
    vote = np.where(share > 0.5, 1, np.where(share < 0.5, 0, coin.astype(int)))
    return pd.Series(vote, index=share.index, name="agg_label")


def pad_labels(
    task: Any, worker: Any, label: Any, n_tasks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The long label list as (n_tasks, K) arrays, K = most labels on one task.

    Returns ``(workers, labels, mask)``: row i holds task i's labels in their order in
    the list, padded with worker 0, label 0 and ``mask`` False.
    """
    task = np.asarray(task, dtype=int)
    order = np.argsort(task, kind="stable")
    sorted_task = task[order]
    counts = np.bincount(task, minlength=n_tasks)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(task.size) - first[sorted_task]
    k = max(int(counts.max()), 1) if task.size else 1
    workers = np.zeros((n_tasks, k), dtype=int)
    labels = np.zeros((n_tasks, k), dtype=int)
    mask = np.zeros((n_tasks, k), dtype=bool)
    workers[sorted_task, slot] = np.asarray(worker, dtype=int)[order]
    labels[sorted_task, slot] = np.asarray(label, dtype=int)[order]
    mask[sorted_task, slot] = True
    return workers, labels, mask


def glad_numpyro(
    task: Any,
    worker: Any,
    label: Any,
    n_tasks: int,
    n_workers: int,
    *,
    alpha_prior: tuple[float, float] = (1.0, 1.0),
    log_beta_prior: tuple[float, float] = (1.0, 1.0),
    class_prior: float | None = None,
) -> None:
    """GLAD as a NumPyro program; z is enumerated, so NUTS sees only α, log β and π.

    Parameters
    ----------
    task, worker, label : int arrays (n_labels,)
        The long label list: 0-based task and worker indices and 0/1 labels.
    n_tasks, n_workers : int
    alpha_prior, log_beta_prior : (mean, sd)
        Normal priors, those of :class:`inference.em.glad.GLAD` by default.
    class_prior : float or None
        p(z_i = 1); ``None`` puts a Beta(2, 2) prior on it (site ``pi``).

    Notes
    -----
    Exact enumeration needs each task's labels inside that task's plate, so the label
    list is laid out as a (tasks × slots) grid by :func:`pad_labels`, with the empty
    slots masked out: z_i (enumerated, shape (2, 1, 1)) then multiplies the whole row.
    The layout is computed in NumPy from the data, which are constants of NumPyro's
    compiled potential (its default ``jit_model_args=False``).
    Sites: ``alpha`` (n_workers,), ``log_beta`` (n_tasks,), ``pi`` (when estimated),
    ``z`` (enumerated, in the ``tasks`` plate) and the observed ``label`` grid
    (``tasks`` × ``slots``); ``beta`` = exp(``log_beta``) is deterministic.
    """
    workers, labels, mask = pad_labels(task, worker, label, n_tasks)
    alpha = numpyro.sample(
        "alpha", dist.Normal(alpha_prior[0], alpha_prior[1]).expand([n_workers]).to_event(1)
    )
    pi = (
        numpyro.sample("pi", dist.Beta(2.0, 2.0))
        if class_prior is None
        else jnp.asarray(class_prior)
    )
    log_beta = numpyro.sample(
        "log_beta",
        dist.Normal(log_beta_prior[0], log_beta_prior[1]).expand([n_tasks]).to_event(1),
    )
    beta = numpyro.deterministic("beta", jnp.exp(log_beta))
    with numpyro.plate("tasks", n_tasks, dim=-2):
        z = numpyro.sample("z", dist.Bernoulli(pi), infer={"enumerate": "parallel"})
        with numpyro.plate("slots", workers.shape[1], dim=-1):
            # Label = 1 has log-odds +α_j β_i when z = 1 and −α_j β_i when z = 0.
            logits = (2 * z - 1) * alpha[workers] * beta[:, None]
            numpyro.sample("label", dist.Bernoulli(logits=logits).mask(mask), obs=labels)


# -------------------------------------------------------------- the label table

COLUMNS = ("task", "worker", "label")


def show_id(value: Any) -> str:
    """repr of an id or label as the user wrote it (``2``, not ``np.int64(2)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def encode(df: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index, pd.Index]:
    """Check a ``task, worker, label`` frame and map ids to indices.

    Returns ``(task_idx, worker_idx, label, tasks, workers)``: integer codes (n_labels,),
    the labels as float 0/1, and the task and worker ids in order of first appearance.
    Every problem raises :class:`models.DataError` (a ``ValueError``) with one line that
    names it and the fix.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"GLAD.fit takes a pandas DataFrame with columns task, worker, label; "
            f"got {type(df).__name__}"
        )
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(map(repr, missing))}; "
            "GLAD.fit needs exactly the columns task, worker, label"
        )
    extra = [c for c in df.columns if c not in COLUMNS]
    if extra:
        raise DataError(
            f"unexpected column(s) {', '.join(map(repr, extra))}; GLAD.fit takes exactly "
            "task, worker, label: pass df[['task', 'worker', 'label']]"
        )
    if len(df) == 0:
        raise DataError("the frame has no rows: GLAD needs at least one label")
    for col in COLUMNS:
        na = df[col].isna().to_numpy()
        if na.any():
            raise DataError(
                f"column {col!r} has {int(na.sum())} missing value(s) (first in row "
                f"{show_id(df.index[np.argmax(na)])}); drop those rows (df.dropna())"
            )
    label = df["label"]
    bad = ~label.isin([0, 1]).to_numpy()
    if bad.any():
        values = pd.unique(label[bad])
        shown = ", ".join(map(show_id, values[:5])) + (", ..." if len(values) > 5 else "")
        raise DataError(
            f"labels must be 0 or 1 (binary GLAD); found {shown}; "
            "recode the labels to 0/1 (one class against the rest)"
        )
    dup = df.duplicated(["task", "worker"]).to_numpy()
    if dup.any():
        first = df.iloc[int(np.argmax(dup))]
        raise DataError(
            f"{int(dup.sum())} duplicate (task, worker) pair(s), the first task="
            f"{show_id(first['task'])}, worker={show_id(first['worker'])}; GLAD takes one label per "
            "worker per task: keep one with df.drop_duplicates(['task', 'worker'])"
        )
    task_idx, tasks = pd.factorize(df["task"], sort=False)
    worker_idx, workers = pd.factorize(df["worker"], sort=False)
    return (
        task_idx.astype(np.int32),
        worker_idx.astype(np.int32),
        (label.to_numpy() == 1).astype(float),
        pd.Index(tasks, name="task"),
        pd.Index(workers, name="worker"),
    )


# ------------------------------------------------------------- the model's steps
#
# ``params`` = {"alpha": (W,), "log_beta": (T,), "pi": ()}. ``data`` holds the label list
# and every setting as arrays, so the compiled loop is shared across settings too.


# ------------------------------------------------------------------ the registry entry


def labels_data(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """A checked ``task, worker, label`` table as arrays (ids kept, as text)."""
    encode(df)  # every check of GLAD.fit, with its messages
    return {
        "task": df["task"].astype(str).to_numpy(),
        "worker": df["worker"].astype(str).to_numpy(),
        "label": df["label"].to_numpy(dtype=int),
    }


def _simulate(seed: int = 0, n_tasks: int = 300, n_workers: int = 30, labels_per_task: int = 5):
    df, _ = simulate(seed, n_tasks=n_tasks, n_workers=n_workers, labels_per_task=labels_per_task)
    return labels_data(df)


def _from_frame(df: pd.DataFrame, **_: Any) -> dict[str, np.ndarray]:
    return labels_data(df)


register(
    ModelSpec(
        name="glad",
        topic=6,
        title="GLAD: crowdsourced labels, worker ability and task difficulty (EM)",
        simulate=_simulate,
        from_frame=_from_frame,
    )
)
