"""GLAD — crowdsourced binary labels aggregated by EM, in the scikit-learn estimator contract.

Model (Whitehill, Ruvolo, Wu, Bergsma & Movellan 2009, "Whose vote should count more"),
for tasks i = 1 … T, workers j = 1 … W and the labels l_ij ∈ {0, 1} that were given:

* z_i ~ Bernoulli(π), the unknown true label (π is the class prior, ``class_prior_``);
* α_j ∈ ℝ, worker ability (``alphas_``): α > 0 better than chance, α = 0 a coin flip,
  α < 0 adversarial (systematically wrong, so still informative);
* β_i > 0, task inverse difficulty (``betas_``), parametrised as β_i = exp(b_i) so the
  optimiser works without constraints;
* p(l_ij = z_i | α_j, β_i) = σ(α_j β_i), p(l_ij ≠ z_i) = σ(−α_j β_i);
* MAP regularisers: α_j ~ N(``alpha_prior_mean``, ``alpha_prior_sd``²),
  b_i = log β_i ~ N(``log_beta_prior_mean``, ``log_beta_prior_sd``²), and, when π is
  estimated (``class_prior=None``), π ~ Beta(2, 2). Without the priors the likelihood only
  sees the products α_j β_i (α → cα, β → β/c leaves it unchanged) and a task labelled
  unanimously pushes β_i → ∞; the priors fix the scale and keep every estimate finite.

Notation of the paper → the code: their l_ij, Z_j, α_i, β_j (tasks j, labellers i) are our
``label``, z_i, ``alphas_[j]``, ``betas_[i]`` (tasks i, workers j, the course's indices).

EM in the course's notation (COURSE.ru.md, topic 6), with θ = (α, b, π):

* E-step (exact): q_i(t) = p(z_i = t | l_i, θ) ∝ p(z_i = t) Π_j σ(α_j β_i)^[l_ij = t]
  σ(−α_j β_i)^[l_ij ≠ t], computed in log space as a ``segment_sum`` over the label list;
* M-step: maximise E_q log p(l, z | α, b) + log p(α) + log p(b) over (α, b) by optax
  L-BFGS with a zoom line search (diagonally preconditioned), run inside the jitted loop
  until the largest gradient entry is below ``m_step_tol`` (or ``m_step_max_iter``
  steps); π in closed form, π = (Σ_i q_i(1) + 1) / (T + 2) under its Beta(2, 2) prior.
  Writing w_ij = q_i(l_ij), the posterior probability that label l_ij is right, the
  (α, b) objective is a weighted logistic log-likelihood
  Σ w_ij log σ(α_j β_i) + (1 − w_ij) log σ(−α_j β_i), plus the priors.
  The course writes this objective "→ min" and σ(α_j, β_i); the M-step *maximises* it and
  the argument is the product σ(α_j β_i) — we implement the standard result.
* Lower bound: L(q, θ) = E_q log p(l, z, θ) − E_q log q. After the exact E-step it
  equals log p(l | θ) + log p(θ), the log posterior density of θ (in the coordinates
  (α, log β, π)) up to its normaliser; ``lower_bounds_`` report it **per label** (divided by
  the number of labels), so ``tol`` does not depend on the size of the data. The M-step
  keeps its start point if L-BFGS ever ends worse than it began, so no iteration can
  lower the bound.

Everything is vectorised over the label list (``task``, ``worker``, ``label`` arrays of
one length): any number of labels per task and per worker works, and one compiled loop
(:func:`inference.em.driver.em`) serves every data set with the same numbers of labels,
tasks and workers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from jax.scipy.special import logsumexp
from jax.scipy.stats import norm

from ...models.base import DataError
from ...models.glad import encode, show_id
from .base import EMEstimator, check_count

__all__ = ["GLAD", "e_step", "lower_bound", "m_step", "m_step_objective"]

_LOG_BETA22 = math.log(6.0)  # log of the Beta(2, 2) normaliser 1 / B(2, 2)


# ------------------------------------------------------------------ input checks


def _log_prior(params, data):
    """log p(α) + log p(log β) + log p(π) (the last only when π is estimated)."""
    lp_alpha = norm.logpdf(params["alpha"], data["alpha_mean"], data["alpha_sd"]).sum()
    lp_beta = norm.logpdf(params["log_beta"], data["log_beta_mean"], data["log_beta_sd"]).sum()
    pi = params["pi"]
    lp_pi = jnp.where(data["estimate_pi"], _LOG_BETA22 + jnp.log(pi) + jnp.log1p(-pi), 0.0)
    return lp_alpha + lp_beta + lp_pi


def _logits(theta, data):
    """x_k = α_{j(k)} β_{i(k)} for every label k: the log-odds that label k is right."""
    return theta["alpha"][data["worker"]] * jnp.exp(theta["log_beta"][data["task"]])


def _log_joint(params, data):
    """log p(l_i, z_i = t | θ) for every task i and t ∈ {0, 1}, shape (T, 2)."""
    x = _logits(params, data)
    right, wrong = jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)
    label = data["label"]
    # log p(l_k | z = t): right when the label equals t, wrong otherwise.
    per_label = jnp.stack(
        [label * wrong + (1 - label) * right, label * right + (1 - label) * wrong], axis=1
    )
    n_tasks = params["log_beta"].shape[0]
    per_task = jax.ops.segment_sum(per_label, data["task"], num_segments=n_tasks)
    pi = params["pi"]
    return per_task + jnp.stack([jnp.log1p(-pi), jnp.log(pi)])


def e_step(params, data):
    """q_i(t) = p(z_i = t | l_i, θ) in log space, and the bound it attains.

    Returns ``{"log_q": (T, 2), "bound": per-label L(q, θ), "params": θ}``; θ rides along
    so that the M-step can start L-BFGS from it (the driver's ``m_step`` sees only q).
    """
    joint = _log_joint(params, data)
    log_evidence = logsumexp(joint, axis=1)  # log p(l_i | θ)
    n_labels = data["label"].shape[0]
    bound = (log_evidence.sum() + _log_prior(params, data)) / n_labels
    return {"log_q": joint - log_evidence[:, None], "bound": bound, "params": params}


def lower_bound(params, q, data):
    """L(q, θ) per label: for the exact E-step, (log p(l | θ) + log p(θ)) / n_labels."""
    return q["bound"]


def m_step_objective(theta, q, data):
    """Minus the (α, log β) part of the M-step objective, per label.

    −[Σ_k w_k log σ(x_k) + (1 − w_k) log σ(−x_k) + log p(α) + log p(log β)] / n_labels,
    with x_k = α_j β_i and w_k = q_i(l_k) the posterior probability that label k is right.
    ``theta`` = {"alpha", "log_beta"}. Since log σ(−x) = log σ(x) − x, each label costs
    one ``log_sigmoid``: w log σ(x) + (1 − w) log σ(−x) = log σ(x) − (1 − w) x.
    """
    label = data["label"]
    q1 = jnp.exp(q["log_q"][:, 1])[data["task"]]
    w = label * q1 + (1 - label) * (1 - q1)
    x = _logits(theta, data)
    expected = jnp.sum(jax.nn.log_sigmoid(x) - (1 - w) * x)
    prior = (
        norm.logpdf(theta["alpha"], data["alpha_mean"], data["alpha_sd"]).sum()
        + norm.logpdf(theta["log_beta"], data["log_beta_mean"], data["log_beta_sd"]).sum()
    )
    return -(expected + prior) / label.shape[0]


_LBFGS = optax.lbfgs()


def _max_abs(tree) -> jax.Array:
    return jnp.max(jnp.stack([jnp.max(jnp.abs(leaf)) for leaf in jax.tree.leaves(tree)]))


def _diagonal_scale(theta, data):
    """sqrt of the diagonal of the objective's Gauss–Newton Hessian (per label), at ``theta``.

    A worker's α collects curvature from all of that worker's labels, a task's log β from
    a handful, so the raw problem is badly scaled (hundreds to one); L-BFGS with 10 pairs
    of memory then needs ~3× more steps. Optimising u = s ⊙ θ makes the diagonal ~1.
    """
    n_labels = data["label"].shape[0]
    beta = jnp.exp(theta["log_beta"])[data["task"]]
    x = theta["alpha"][data["worker"]] * beta
    v = jax.nn.sigmoid(x) * jax.nn.sigmoid(-x)  # d²/dx² of −log σ(x)
    h_alpha = (
        jax.ops.segment_sum(v * beta**2, data["worker"], num_segments=theta["alpha"].shape[0])
        + 1.0 / data["alpha_sd"] ** 2
    )
    h_beta = (
        jax.ops.segment_sum(v * x**2, data["task"], num_segments=theta["log_beta"].shape[0])
        + 1.0 / data["log_beta_sd"] ** 2
    )
    return {"alpha": jnp.sqrt(h_alpha / n_labels), "log_beta": jnp.sqrt(h_beta / n_labels)}


def m_step(q, data):
    """θ ← argmax_θ E_q log p(l, z | θ) + log p(θ): L-BFGS for (α, log β), π exactly.

    L-BFGS (optax, zoom line search, diagonally preconditioned by
    :func:`_diagonal_scale`) starts from the previous θ and stops when every entry of the
    gradient of the *summed* objective (log-probability units) is below ``m_step_tol``,
    or after ``m_step_max_iter`` steps.
    """
    start = {"alpha": q["params"]["alpha"], "log_beta": q["params"]["log_beta"]}
    n_labels = data["label"].shape[0]
    scale = _diagonal_scale(start, data)

    def to_theta(u):
        return jax.tree.map(jnp.divide, u, scale)

    def f(u):
        return m_step_objective(to_theta(u), q, data)

    value_and_grad = optax.value_and_grad_from_state(f)

    def largest_gradient(state):
        # ∂/∂θ = s ⊙ ∂/∂u, and the summed objective is n_labels × the per-label one.
        grad_u = optax.tree_utils.tree_get(state, "grad")
        return _max_abs(jax.tree.map(jnp.multiply, grad_u, scale)) * n_labels

    def cond(carry):
        _, state, i = carry
        more = (i < data["m_step_max_iter"]) & (largest_gradient(state) >= data["m_step_tol"])
        return (i == 0) | more

    def body(carry):
        u, state, i = carry
        value, grad = value_and_grad(u, state=state)
        updates, state = _LBFGS.update(grad, state, u, value=value, grad=grad, value_fn=f)
        return optax.apply_updates(u, updates), state, i + 1

    u0 = jax.tree.map(jnp.multiply, start, scale)
    u, _, _ = jax.lax.while_loop(cond, body, (u0, _LBFGS.init(u0), 0))
    theta = to_theta(u)
    # Guard of the monotone bound: a line search that fails can end above its start.
    better = m_step_objective(theta, q, data) <= m_step_objective(start, q, data)
    theta = jax.tree.map(lambda new, old: jnp.where(better, new, old), theta, start)

    q1 = jnp.exp(q["log_q"][:, 1])
    n_tasks = q1.shape[0]
    pi_hat = (q1.sum() + 1.0) / (n_tasks + 2.0)  # MAP under Beta(2, 2)
    pi = jnp.where(data["estimate_pi"], pi_hat, data["class_prior"])
    return {"alpha": theta["alpha"], "log_beta": theta["log_beta"], "pi": pi}


_posterior = jax.jit(e_step)


@jax.jit
def _task_log_evidence(params, data):
    """log p(l_i | θ) per task, z_i summed out with the class prior (no prior on θ)."""
    return logsumexp(_log_joint(params, data), axis=1)


# ------------------------------------------------------------------------ estimator


class GLAD(EMEstimator):
    """GLAD (Whitehill et al. 2009) by EM: binary labels from workers of unknown ability.

    Parameters
    ----------
    alpha_prior_mean, alpha_prior_sd : float
        Normal prior on each worker ability α_j. The default N(1, 1) says a worker is a
        priori better than chance (σ(α β) = 0.94 right at α = 1 on a typical task, β = e).
    log_beta_prior_mean, log_beta_prior_sd : float
        Normal prior on each log β_i. The default N(1, 1) (a typical task has β = e) is
        crowd-kit's, so that at ``class_prior=0.5`` the two maximise the same objective;
        on ten data sets of 2,000 tasks simulated with log β ~ N(0, 1) it was also more
        accurate than a N(0, 1) prior, by 17 tasks in 20,000.
    class_prior : float in (0, 1) or None
        p(z_i = 1). ``None`` (default) estimates it in the M-step as its MAP under a
        Beta(2, 2) prior; a number fixes it.
    tol : float
        Stop when the per-label lower bound changes by less than this.
    max_iter : int
        EM iterations at most.
    m_step_tol : float
        L-BFGS stops when every entry of the gradient of the summed M-step objective is
        below this (log-probability units).
    m_step_max_iter : int
        L-BFGS steps at most per M-step.
    n_init : int
        Starts: the first at the prior means (α_j = ``alpha_prior_mean``: equal weights,
        i.e. the first E-step is a majority vote), the others drawn from the priors;
        the run with the highest final bound is kept.
    random_state : int, numpy.random.Generator or None
        Seed of the random starts (used only when ``n_init > 1``).
    warm_start : bool
        Start EM from the last fit's parameters (``n_init`` is then ignored); the frame
        must hold the same tasks and workers (in any order).

    Attributes
    ----------
    labels_ : pandas.Series
        Most probable true label of each task (0 on an exact tie), indexed by task id.
    probas_ : pandas.DataFrame
        q_i(t) = p(z_i = t | labels, θ̂), columns ``[0, 1]``, indexed by task id.
    alphas_ : pandas.Series
        α̂_j, indexed by worker id.
    betas_ : pandas.Series
        β̂_i = exp(log β̂_i) > 0, indexed by task id (crowd-kit's ``betas_`` hold log β).
    class_prior_ : float
        π̂ (or the fixed ``class_prior``).
    lower_bounds_ : ndarray
        The per-label bound at every iteration of the kept run (never decreasing).
    lower_bound_ : float
        Its last value.
    n_iter_ : int
    converged_ : bool

    Notes
    -----
    ``fit`` takes crowd-kit's long layout: one row per label, columns ``task, worker,
    label`` and nothing else; ids may be any hashable values; labels must be 0 or 1.
    A (task, worker) pair may appear once: duplicates are an error (the model treats a
    worker's labels as independent evidence, so a repeated label would count twice);
    remove them with ``df.drop_duplicates(['task', 'worker'])``. Only tasks that appear in
    the frame get a prediction — a task without labels is simply absent from it. See the
    module docstring for the model, the steps and the bound.

    References
    ----------
    Whitehill, J., Ruvolo, P., Wu, T., Bergsma, J. & Movellan, J. (2009). Whose vote
    should count more: optimal integration of labels from labelers of unknown expertise.
    *NIPS 22*, 2035–2043. Dempster, Laird & Rubin (1977), EM. Liu & Nocedal (1989), L-BFGS.

    Examples
    --------
    >>> from bayesmin.models.glad import simulate
    >>> df, truth = simulate(0, n_tasks=200, n_workers=20, labels_per_task=5)
    >>> glad = GLAD().fit(df)
    >>> float((glad.labels_.sort_index().to_numpy() == truth["z"]).mean()) > 0.8
    True
    """

    _remedy = ", or tighten the priors (smaller alpha_prior_sd / log_beta_prior_sd)"
    _collapse = "tighten the priors (smaller alpha_prior_sd / log_beta_prior_sd)"

    def __init__(
        self,
        *,
        alpha_prior_mean: float = 1.0,
        alpha_prior_sd: float = 1.0,
        log_beta_prior_mean: float = 1.0,
        log_beta_prior_sd: float = 1.0,
        class_prior: float | None = None,
        tol: float = 1e-6,
        max_iter: int = 100,
        m_step_tol: float = 1e-6,
        m_step_max_iter: int = 100,
        n_init: int = 1,
        random_state: int | np.random.Generator | None = None,
        warm_start: bool = False,
    ):
        self.alpha_prior_mean = alpha_prior_mean
        self.alpha_prior_sd = alpha_prior_sd
        self.log_beta_prior_mean = log_beta_prior_mean
        self.log_beta_prior_sd = log_beta_prior_sd
        self.class_prior = class_prior
        self.tol = tol
        self.max_iter = max_iter
        self.m_step_tol = m_step_tol
        self.m_step_max_iter = m_step_max_iter
        self.n_init = n_init
        self.random_state = random_state
        self.warm_start = warm_start

    # -- checks
    def _check_input(self, X: pd.DataFrame):
        """``(task_idx, worker_idx, label, tasks, workers)`` of a checked frame."""
        return encode(X)

    def _check_model_settings(self, X) -> None:
        for name in ("alpha_prior_mean", "log_beta_prior_mean"):
            if not np.isfinite(getattr(self, name)):
                raise DataError(f"{name} must be a finite number, got {getattr(self, name)}")
        for name in ("alpha_prior_sd", "log_beta_prior_sd"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise DataError(
                    f"{name} must be a positive finite prior standard deviation, got {value}"
                )
        if self.class_prior is not None and not 0 < self.class_prior < 1:
            raise DataError(
                f"class_prior must be in (0, 1) or None (estimate it), got {self.class_prior}"
            )
        if not self.m_step_tol >= 0:
            raise DataError(f"m_step_tol must be >= 0, got {self.m_step_tol}")
        check_count("m_step_max_iter", self.m_step_max_iter)

    def _data(self, task_idx, worker_idx, label) -> dict:
        """The pytree every step receives: the label list and the settings, as arrays.

        NumPy arrays: JAX takes them in the precision of the block that uses them.
        """
        estimate = self.class_prior is None
        return {
            "task": np.asarray(task_idx),
            "worker": np.asarray(worker_idx),
            "label": np.asarray(label),
            "alpha_mean": np.asarray(float(self.alpha_prior_mean)),
            "alpha_sd": np.asarray(float(self.alpha_prior_sd)),
            "log_beta_mean": np.asarray(float(self.log_beta_prior_mean)),
            "log_beta_sd": np.asarray(float(self.log_beta_prior_sd)),
            "estimate_pi": np.asarray(estimate),
            "class_prior": np.asarray(0.5 if estimate else float(self.class_prior)),
            "m_step_tol": np.asarray(float(self.m_step_tol)),
            "m_step_max_iter": np.asarray(int(self.m_step_max_iter)),
        }

    # -- the model's part of EM
    def _em_steps(self):
        return e_step, m_step, lower_bound

    def _em_data(self, X) -> dict:
        task_idx, worker_idx, label, _, _ = X
        return self._data(task_idx, worker_idx, label)

    def _initial_params(self, X, data, rng: np.random.Generator, init: int) -> dict:
        """The first start at the prior means (a majority vote), the others drawn from them."""
        *_, tasks, workers = X
        pi = np.asarray(0.5 if self.class_prior is None else float(self.class_prior))
        if init == 0:
            return {
                "alpha": np.full(len(workers), float(self.alpha_prior_mean)),
                "log_beta": np.full(len(tasks), float(self.log_beta_prior_mean)),
                "pi": pi,
            }
        return {
            "alpha": rng.normal(self.alpha_prior_mean, self.alpha_prior_sd, len(workers)),
            "log_beta": rng.normal(self.log_beta_prior_mean, self.log_beta_prior_sd, len(tasks)),
            "pi": pi,
        }

    def _warm_params(self, X) -> dict:
        *_, tasks, workers = X
        t, w = self.tasks_.get_indexer(tasks), self.workers_.get_indexer(workers)
        if len(t) != len(self.tasks_) or len(w) != len(self.workers_) or min(t.min(), w.min()) < 0:
            raise DataError(
                "warm_start=True continues the last fit, whose tasks and workers differ "
                "from these; set warm_start=False to refit"
            )
        p = self._params
        return {"alpha": p["alpha"][w], "log_beta": p["log_beta"][t], "pi": p["pi"]}

    def _set_attributes(self, X, data) -> None:
        *_, tasks, workers = X
        params = self._params
        # One last E-step, so probas_ belong to the returned parameters.
        log_q = np.asarray(_posterior(params, data)["log_q"])
        self.tasks_, self.workers_ = tasks, workers
        self.probas_ = pd.DataFrame(np.exp(log_q), index=tasks, columns=[0, 1])
        self.labels_ = pd.Series(log_q.argmax(axis=1), index=tasks, name="agg_label")
        self.alphas_ = pd.Series(params["alpha"], index=workers, name="alpha")
        self.betas_ = pd.Series(np.exp(params["log_beta"]), index=tasks, name="beta")
        self.class_prior_ = float(params["pi"])

    # -- results
    def fit_predict(self, X: pd.DataFrame, y=None) -> pd.Series:
        """``fit(X).labels_``."""
        return self.fit(X).labels_

    def fit_predict_proba(self, X: pd.DataFrame, y=None) -> pd.DataFrame:
        """``fit(X).probas_``."""
        return self.fit(X).probas_

    def score(self, X: pd.DataFrame, y=None) -> float:
        """Mean log p(l_i | θ̂) per label of a frame over fitted tasks and workers.

        z_i is marginalised with the fitted class prior; the priors on θ are not included.
        Every task and worker of ``X`` must have been in the frame given to ``fit``.
        """
        self._check_fitted()
        task_idx, worker_idx, label, tasks, workers = encode(X)
        for ids, known, what in ((tasks, self.tasks_, "task"), (workers, self.workers_, "worker")):
            unknown = ids[~ids.isin(known)]
            if len(unknown):
                raise DataError(
                    f"{what} {show_id(unknown[0])} was not in the fitted data; GLAD's parameters "
                    f"are per {what}: refit with it included"
                )
        # Re-index to the fitted parameters; only the tasks of X contribute.
        t = self.tasks_.get_indexer(tasks)[task_idx]
        w = self.workers_.get_indexer(workers)[worker_idx]
        per_task = self._compute(_task_log_evidence, self._params, self._data(t, w, label))
        return float(per_task[np.unique(t)].sum() / len(label))
