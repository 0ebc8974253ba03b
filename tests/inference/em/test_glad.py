"""GLAD by EM on data simulated from the GLAD model: accuracy, abilities, the bound, the M-step.

Compiled EM loops are shared: one data shape (600 tasks × 20 workers × 5 labels) with one
``(tol, max_iter)`` serves every fit of the main tests (priors and starts are data to the
loop, not constants), and the tiny NUTS data set has its own.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.exceptions import ConvergenceWarning

from bayesmin.inference._precision import float64
from bayesmin.inference.em.glad import GLAD, e_step, encode, m_step_objective
from bayesmin.models.glad import glad_numpyro, majority_vote, pad_labels, simulate

# 100 labels per worker on average: enough that the ranking of 20 abilities is a property
# of the estimator, not of two workers whose true α happen to be 0.1 apart. Across seeds
# 0-9 of this design the rank correlation of the EM estimate was 0.93-0.99.
SIZES = dict(n_tasks=600, n_workers=20, labels_per_task=5, alpha_sd=1.5)
TIGHT = dict(tol=1e-10, max_iter=500)


@pytest.fixture(scope="module")
def simulated():
    return simulate(0, **SIZES)


@pytest.fixture(scope="module")
def fitted(simulated):
    df, _ = simulated
    return GLAD(**TIGHT).fit(df)


def _accuracy(labels: pd.Series, z: np.ndarray) -> np.ndarray:
    """Per-task correctness, tasks in id order (simulate's ids are 0 … T−1)."""
    return labels.sort_index().to_numpy() == z


def _sign_test_p(better: np.ndarray, worse: np.ndarray) -> float:
    """One-sided exact sign (McNemar) test on tasks where exactly one method is right."""
    wins, losses = int(np.sum(better & ~worse)), int(np.sum(worse & ~better))
    if wins + losses == 0:
        return 1.0
    return float(stats.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue)


# ------------------------------------------------------------------ (a) accuracy


def test_glad_beats_majority_vote(simulated, fitted):
    df, truth = simulated
    glad = _accuracy(fitted.labels_, truth["z"])
    vote = _accuracy(majority_vote(df), truth["z"])
    assert fitted.converged_
    assert glad.mean() > vote.mean()
    # Paired: on the tasks where the two disagree, GLAD is right significantly more often.
    assert _sign_test_p(glad, vote) < 1e-3

    # Negative control: pin every α at its prior mean (prior sd 1e-3). The decision for a
    # task is then the sign of Σ_j (2 l_ij − 1) β_i — a majority vote — and the gain goes.
    pinned = GLAD(alpha_prior_sd=1e-3, **TIGHT).fit(df)
    assert np.ptp(pinned.alphas_) < 0.05
    same = _accuracy(pinned.labels_, truth["z"])
    assert _sign_test_p(same, vote) > 0.05
    assert abs(same.mean() - vote.mean()) < 0.02


def test_probas_and_layout(simulated, fitted):
    df, _ = simulated
    assert list(fitted.probas_.columns) == [0, 1]
    np.testing.assert_allclose(fitted.probas_.sum(axis=1), 1.0, atol=1e-12)
    assert (fitted.labels_ == fitted.probas_.idxmax(axis=1)).all()
    assert set(fitted.labels_.index) == set(df["task"])
    assert set(fitted.alphas_.index) == set(df["worker"])
    assert (fitted.betas_ > 0).all()
    assert 0 < fitted.class_prior_ < 1


def test_ids_and_row_order_do_not_matter(simulated, fitted):
    df, _ = simulated
    shuffled = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    shuffled = shuffled.assign(
        task=[f"task-{t}" for t in shuffled["task"]], worker=[("w", w) for w in shuffled["worker"]]
    )
    other = GLAD(**TIGHT).fit(shuffled)
    np.testing.assert_allclose(
        other.probas_.loc[[f"task-{t}" for t in fitted.probas_.index]].to_numpy(),
        fitted.probas_.to_numpy(),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        other.alphas_.loc[[("w", w) for w in fitted.alphas_.index]].to_numpy(),
        fitted.alphas_.to_numpy(),
        atol=1e-5,
    )


# ------------------------------------------------------------ (b) abilities


def test_worker_ability_ranking_recovered(simulated, fitted):
    _, truth = simulated
    rho = stats.spearmanr(fitted.alphas_.sort_index().to_numpy(), truth["alpha"])[0]
    assert rho >= 0.9
    # The adversarial workers (true α < −0.5) are found: every one gets α̂ < 0.
    adversarial = truth["alpha"] < -0.5
    assert adversarial.any()
    assert (fitted.alphas_.sort_index().to_numpy()[adversarial] < 0).all()


# --------------------------------------------------------- (c) the lower bound


def test_lower_bound_never_decreases(simulated, fitted):
    df, _ = simulated
    restarts = GLAD(n_init=3, random_state=0, **TIGHT).fit(df)
    fixed_prior = GLAD(class_prior=0.3, **TIGHT).fit(df)
    for glad in (fitted, restarts, fixed_prior):
        assert glad.n_iter_ > 3
        assert np.all(np.diff(glad.lower_bounds_) >= -1e-9)
    # n_init keeps the best start, and the first start is the default one.
    assert restarts.lower_bound_ >= fitted.lower_bound_ - 1e-9
    assert fixed_prior.class_prior_ == 0.3


# ------------------------------------------------ (d) the M-step optimises


def _numpyro_log_joint(df: pd.DataFrame, n_tasks: int, n_workers: int):
    """log p(labels, α, log β, π) of the declarative NumPyro model, z summed out by funsor."""
    from numpyro.contrib.funsor import enum, log_density

    kwargs = dict(
        task=df["task"].to_numpy(),
        worker=df["worker"].to_numpy(),
        label=df["label"].to_numpy(),
        n_tasks=n_tasks,
        n_workers=n_workers,
    )
    model = enum(glad_numpyro, first_available_dim=-3)
    return jax.jit(jax.value_and_grad(lambda p: log_density(model, (), kwargs, p)[0]))


@float64()  # the test's own JAX arithmetic in 64-bit, as the estimators'
def test_fit_is_a_stationary_point_of_the_log_posterior(simulated, fitted):
    """An independent implementation: NumPyro's enumerated log joint of the same model.

    With the exact E-step the bound *is* log p(l, θ) (per label), and a converged EM fit
    is a stationary point of it — so its gradient, taken through NumPyro, is ~0 there.
    """
    df, _ = simulated
    log_joint = _numpyro_log_joint(df, SIZES["n_tasks"], SIZES["n_workers"])

    def params(alpha, beta, pi):
        return {"alpha": jnp.asarray(alpha), "log_beta": jnp.log(beta), "pi": jnp.asarray(pi)}

    at_fit = params(
        fitted.alphas_.sort_index().to_numpy(),
        fitted.betas_.sort_index().to_numpy(),
        fitted.class_prior_,
    )
    value, grad = log_joint(at_fit)
    # lower_bounds_[-1] is taken one M-step before the returned θ, and EM only goes up.
    gap = float(value) / len(df) - fitted.lower_bound_
    assert -1e-12 <= gap <= 10 * TIGHT["tol"]
    largest = max(float(jnp.max(jnp.abs(g))) for g in grad.values())
    assert largest < 1e-3
    # Negative control: at EM's start (α = 1, β = e, π = 1/2) the gradient is large.
    start = params(np.ones(SIZES["n_workers"]), np.full(SIZES["n_tasks"], np.e), 0.5)
    _, grad0 = log_joint(start)
    assert max(float(jnp.max(jnp.abs(g))) for g in grad0.values()) > 10.0


# ------------------------------------------------------------ tiny data set

TINY = dict(n_tasks=40, n_workers=8, labels_per_task=3)


@pytest.fixture(scope="module")
def tiny():
    return simulate(0, **TINY)


def _one_iteration(df, **settings):
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 iterations.*max_iter"):
        return GLAD(max_iter=1, **settings).fit(df)


@pytest.mark.slow
@float64()  # the test's own JAX arithmetic in 64-bit, as the estimators'
def test_max_iter_one_warns_and_the_m_step_really_optimises(tiny):
    """(f) and (d): after one iteration θ₁ = M-step(q₀); its objective's gradient is ~0."""
    df, _ = tiny
    glad = _one_iteration(df)
    assert glad.n_iter_ == 1 and not glad.converged_

    # q₀ is the E-step at the start the estimator uses (α, log β at their prior means).
    settings = GLAD()
    task_idx, worker_idx, label, tasks, workers = encode(df)
    data = settings._data(task_idx, worker_idx, label)
    start = {
        "alpha": jnp.full(len(workers), settings.alpha_prior_mean),
        "log_beta": jnp.full(len(tasks), settings.log_beta_prior_mean),
        "pi": jnp.asarray(0.5),
    }
    q0 = e_step(start, data)
    grad = jax.jit(jax.grad(m_step_objective))

    def largest(theta) -> float:
        # Gradient of the summed objective, the units of m_step_tol.
        g = grad(theta, q0, data)
        return len(df) * max(float(jnp.max(jnp.abs(v))) for v in g.values())

    def theta_of(fit):
        return {
            "alpha": jnp.asarray(fit.alphas_.loc[workers].to_numpy()),
            "log_beta": jnp.log(jnp.asarray(fit.betas_.loc[tasks].to_numpy())),
        }

    assert largest(theta_of(glad)) < settings.m_step_tol
    assert largest({"alpha": start["alpha"], "log_beta": start["log_beta"]}) > 1.0
    # Negative control: "a few loose gradient steps" (two L-BFGS steps) stop far from it.
    loose = _one_iteration(df, m_step_max_iter=2)
    assert largest(theta_of(loose)) > 1e3 * settings.m_step_tol


@pytest.mark.slow
def test_nuts_on_the_enumerated_model_agrees_with_em(tiny):
    """(g) NUTS on the NumPyro model (z enumerated) and EM rank the workers alike.

    GLAD's posterior has a mirror mode (z → 1 − z, α → −α, π → 1 − π: the same
    likelihood), down by exp(−2 Σ_j α_j) through the α prior, so ~e⁻⁸ here; a chain
    started at random can still settle in it and never leave. NUTS therefore starts at
    EM's mode, as one would in practice, and must then move off it: the chains' means
    are those of the posterior around that mode.

    EM returns the mode, NUTS the mean, of the same posterior (same priors). For a
    unimodal distribution |mean − mode| ≤ √3 sd (Johnson & Rogers 1951); the two orderings
    of 8 workers agree up to a swap of close neighbours (Spearman ≥ 0.8; it was ≥ 0.95
    on every seed tried), skewed marginals being able to swap a mean and a mode.
    """
    from numpyro.infer import MCMC, NUTS, init_to_value

    df, _ = tiny
    em = GLAD().fit(df)
    mode = em.alphas_.sort_index().to_numpy()
    start = {
        "alpha": jnp.asarray(mode),
        "log_beta": jnp.log(jnp.asarray(em.betas_.sort_index().to_numpy())),
        "pi": jnp.asarray(em.class_prior_),
    }
    mcmc = MCMC(
        NUTS(glad_numpyro, init_strategy=init_to_value(values=start)),
        num_warmup=300,
        num_samples=300,
        num_chains=2,
        chain_method="sequential",
        progress_bar=False,
    )
    mcmc.run(
        jax.random.PRNGKey(0),
        task=df["task"].to_numpy(),
        worker=df["worker"].to_numpy(),
        label=df["label"].to_numpy(),
        n_tasks=TINY["n_tasks"],
        n_workers=TINY["n_workers"],
    )
    alpha = np.asarray(mcmc.get_samples(group_by_chain=True)["alpha"])
    assert int(mcmc.get_extra_fields()["diverging"].sum()) == 0
    # The chains moved away from the start, and both sit in the same mode.
    assert np.all(alpha.std(axis=1) > 0.1)
    assert np.max(np.abs(alpha[0].mean(axis=0) - alpha[1].mean(axis=0))) < 0.5
    draws = alpha.reshape(-1, TINY["n_workers"])
    mean, sd = draws.mean(axis=0), draws.std(axis=0)
    assert stats.spearmanr(mean, mode)[0] >= 0.8
    assert np.all(np.abs(mean - mode) <= np.sqrt(3) * sd)


# ------------------------------------------------------------- model helpers


def test_simulate_and_majority_vote():
    df, truth = simulate(3, n_tasks=50, n_workers=6, labels_per_task=4)
    assert list(df.columns) == ["task", "worker", "label"]
    assert len(df) == 200 and not df.duplicated(["task", "worker"]).any()
    assert set(df["label"]) <= {0, 1}
    assert truth["z"].shape == (50,) and truth["alpha"].shape == (6,)
    assert (truth["beta"] > 0).all()
    again, _ = simulate(3, n_tasks=50, n_workers=6, labels_per_task=4)
    pd.testing.assert_frame_equal(df, again)
    # Overriding α leaves the other draws (z, β, who labels what) as they were.
    _, other = simulate(3, n_tasks=50, n_workers=6, labels_per_task=4, alpha=np.zeros(6))
    np.testing.assert_array_equal(other["z"], truth["z"])
    np.testing.assert_array_equal(other["beta"], truth["beta"])

    tie = pd.DataFrame({"task": ["a"] * 2 + ["b"] * 3, "worker": [1, 2, 1, 2, 3]})
    tie["label"] = [0, 1, 1, 1, 0]
    votes = [majority_vote(tie, seed=s)["a"] for s in range(20)]
    assert set(votes) == {0, 1}  # the tie goes either way, seeded
    assert majority_vote(tie)["b"] == 1


def test_pad_labels_keeps_every_label():
    task = np.array([2, 0, 2, 2, 1])
    worker = np.array([0, 1, 2, 3, 4])
    label = np.array([1, 0, 0, 1, 1])
    workers, labels, mask = pad_labels(task, worker, label, n_tasks=4)
    assert workers.shape == (4, 3) and mask.sum() == 5
    assert list(workers[2][mask[2]]) == [0, 2, 3] and list(labels[2][mask[2]]) == [1, 0, 1]
    assert not mask[3].any()  # a task without labels: an empty, masked row


# --------------------------------------------------------------- (e) bad input


def _frame(**columns):
    base = {"task": [0, 0, 1], "worker": ["a", "b", "a"], "label": [1, 0, 1]}
    base.update(columns)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("df", "match"),
    [
        (_frame(label=None), r"missing column\(s\) 'label'"),
        (_frame(extra=[1, 2, 3]), r"unexpected column\(s\) 'extra'"),
        (_frame(label=[1, 2, 0]), r"labels must be 0 or 1.*found 2"),
        (_frame(label=["yes", 0, 1]), r"labels must be 0 or 1.*'yes'"),
        (_frame(worker=["a", None, "a"]), r"column 'worker' has 1 missing"),
        (_frame(label=[1.0, np.nan, 0.0]), r"column 'label' has 1 missing"),
        (_frame().iloc[:0], r"no rows"),
        (
            _frame(worker=["a", "a", "b"]),
            r"duplicate \(task, worker\).*task=0, worker='a'.*drop_duplicates",
        ),
        (np.zeros((3, 3)), r"pandas DataFrame"),
    ],
    ids=[
        "missing",
        "extra",
        "label2",
        "label-str",
        "nan-worker",
        "nan-label",
        "empty",
        "dup",
        "array",
    ],
)
def test_bad_input_raises_one_clear_line(df, match):
    with pytest.raises(ValueError, match=match) as err:
        GLAD().fit(df)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"alpha_prior_sd": 0.0}, "alpha_prior_sd must be a positive"),
        ({"log_beta_prior_sd": -1.0}, "log_beta_prior_sd must be a positive"),
        ({"alpha_prior_mean": np.inf}, "alpha_prior_mean must be a finite"),
        ({"tol": -1e-3}, "tol must be >= 0"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"m_step_max_iter": 0}, "m_step_max_iter must be an integer >= 1"),
        ({"n_init": 0}, "n_init must be an integer >= 1"),
        ({"class_prior": 1.0}, r"class_prior must be in \(0, 1\)"),
    ],
)
def test_impossible_settings_raise(settings, match):
    with pytest.raises(ValueError, match=match):
        GLAD(**settings).fit(_frame())


def test_init_stores_settings_only_and_score_checks_ids(tiny):
    glad = GLAD(tol=0.5, n_init=2)
    assert glad.get_params()["tol"] == 0.5 and not hasattr(glad, "labels_")
    df, _ = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        glad = GLAD(max_iter=1).fit(df)  # shares the compiled loop of the test above
    assert np.isfinite(glad.score(df)) and glad.score(df) < 0
    unseen = pd.DataFrame({"task": [0], "worker": [99], "label": [1]})
    with pytest.raises(ValueError, match="worker 99 was not in the fitted data"):
        glad.score(unseen)


def test_warm_start_continues_on_the_same_tasks_and_workers(tiny):
    df, _ = tiny
    with pytest.warns(ConvergenceWarning):
        glad = GLAD(max_iter=2, tol=1e-12, warm_start=True).fit(df)
    first = glad.lower_bound_
    # Rows in another order: the same tasks and workers, the parameters reindexed.
    with pytest.warns(ConvergenceWarning):
        glad.fit(df.sample(frac=1.0, random_state=0))
    assert glad.lower_bounds_[0] >= first - 1e-12
    # Negative control: a cold fit of the same length starts lower.
    with pytest.warns(ConvergenceWarning):
        cold = GLAD(max_iter=2, tol=1e-12).fit(df)
    assert cold.lower_bounds_[0] < glad.lower_bounds_[0]
    with pytest.raises(ValueError, match="warm_start=True continues the last fit"):
        glad.fit(df[df["task"] != 0])
