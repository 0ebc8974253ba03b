"""Our Metropolis–Hastings kernel: stubbed proposals, exact targets, invariants, controls."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

from bayesmin import diagnostics, inference, models
from bayesmin.inference import mh

# --------------------------------------------------------------- tier 1: stubbed proposals


def _fixed_proposal(target_point):
    return mh.Proposal(lambda key, x, params: jnp.asarray(target_point, float), None, "stub")


def _std_normal(x):
    return -0.5 * jnp.sum(x**2)


PARAMS = mh.params_from(1, scale=1.0)


def test_uphill_proposal_is_always_accepted_at_the_exact_position():
    kernel = mh.build_kernel(_fixed_proposal([0.1]))
    state = mh.init(jnp.array([2.0]), _std_normal)
    for seed in range(20):
        new, info = kernel(jax.random.PRNGKey(seed), state, _std_normal, PARAMS)
        assert bool(info.is_accepted)
        # Exactly the proposed point, in whatever precision JAX runs (the kernel keeps it).
        np.testing.assert_array_equal(new.position, jnp.asarray([0.1]))
        assert float(new.logdensity) == pytest.approx(-0.005)
        assert float(info.acceptance_rate) == 1.0


def test_downhill_acceptance_probability_is_the_density_ratio():
    kernel = mh.build_kernel(_fixed_proposal([1.0]))
    state = mh.init(jnp.array([0.0]), _std_normal)
    accepted = []
    for seed in range(4000):
        new, info = kernel(jax.random.PRNGKey(seed), state, _std_normal, PARAMS)
        assert float(info.acceptance_rate) == pytest.approx(np.exp(-0.5))
        # Rejected moves leave the state exactly where it was.
        np.testing.assert_array_equal(new.position, [1.0] if info.is_accepted else [0.0])
        accepted.append(bool(info.is_accepted))
    p = np.exp(-0.5)
    assert abs(np.mean(accepted) - p) / np.sqrt(p * (1 - p) / 4000) < 4


def test_proposals_outside_the_support_or_nan_are_rejected():
    def wall(x):
        return jnp.where(x[0] > 1.0, -jnp.inf, jnp.where(x[0] < -1.0, jnp.nan, 0.0))

    for point in ([2.0], [-2.0]):
        kernel = mh.build_kernel(_fixed_proposal(point))
        new, info = kernel(jax.random.PRNGKey(0), mh.init(jnp.array([0.0]), wall), wall, PARAMS)
        assert not bool(info.is_accepted) and float(info.acceptance_rate) == 0.0
        np.testing.assert_array_equal(new.position, [0.0])


def test_hastings_ratio_enters_for_an_asymmetric_proposal():
    # From x = 0 propose x' = 0.5 with a drift of 0.5: q(x'|x) = N(0.5; 0.5, 1) and
    # q(x|x') = N(0; 1.0, 1); the log ratio is the target ratio plus their difference.
    drift = mh.drifting_random_walk(0.5)
    stub = mh.Proposal(lambda key, x, params: x + 0.5, drift.logpdf, "stub")
    state = mh.init(jnp.array([0.0]), _std_normal)
    _, with_h = mh.build_kernel(stub)(jax.random.PRNGKey(0), state, _std_normal, PARAMS)
    _, without = mh.build_kernel(stub, hastings=False)(
        jax.random.PRNGKey(0), state, _std_normal, PARAMS
    )
    log_target = -0.5 * 0.25
    log_q = -0.5 * 1.0 - (-0.5 * 0.0)
    assert float(with_h.acceptance_rate) == pytest.approx(np.exp(log_target + log_q))
    assert float(without.acceptance_rate) == pytest.approx(np.exp(log_target))


# ------------------------------------------------------------------- warm-up and inputs


def test_warmup_schedule_windows_double_and_cover_the_middle():
    learn, adopt = mh.warmup_schedule(1000)
    ends = np.flatnonzero(adopt)
    assert learn[:150].sum() == 0 and learn[900:].sum() == 0 and learn[150:900].all()
    sizes = np.diff(np.concatenate([[149], ends]))
    assert all(b >= 2 * a for a, b in itertools.pairwise(sizes))
    short_learn, short_adopt = mh.warmup_schedule(30)
    assert not short_learn.any() and not short_adopt.any()


def test_params_from_refuses_bad_covariances():
    with pytest.raises(ValueError, match="not positive definite"):
        mh.params_from(2, scale=1.0, cov=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="2×2"):
        mh.params_from(2, scale=1.0, cov=np.eye(3))
    with pytest.raises(ValueError, match="not symmetric"):
        mh.params_from(2, scale=1.0, cov=[[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="scale"):
        mh.params_from(2, scale=0.0)


def test_sample_refuses_non_pd_covariance_and_unknown_proposal():
    with pytest.raises(ValueError, match="not positive definite"):
        inference.sample("correlated_gaussian", "mh", adapt=False, cov=-np.eye(5), progress=False)
    with pytest.raises(ValueError, match="unknown proposal"):
        inference.sample("normal_normal", "mh", proposal="hamiltonian", progress=False)


def test_non_finite_start_names_the_variable():
    def walled(threshold=1.0):
        x = numpyro.sample("x", dist.Normal(0.0, 1.0))
        numpyro.factor("wall", jnp.where(x > threshold, -jnp.inf, 0.0))

    with pytest.raises(ValueError, match=r"initial point of chain 1.*x=2"):
        inference.sample(
            walled,
            "mh",
            chains=2,
            draws=10,
            tune=0,
            initial_positions=[[0.0], [2.0]],
            progress=False,
        )


# --------------------------------------------------------------- tier 2: exact targets

EXACT = {
    # model: (draws, tune) — the banana's curved ridge needs a long random walk.
    "normal_normal": (4000, 1000),
    "gamma_poisson": (4000, 1000),
    "beta_binomial": (4000, 1000),
    "linear_regression": (4000, 2000),
    "correlated_gaussian": (6000, 3000),
    "banana": (40000, 4000),
}


@pytest.fixture(scope="module")
def mh_runs():
    cache = {}

    def run(name, **options):
        key = (name, tuple(sorted(options.items())))
        if key not in cache:
            draws, tune = EXACT[name]
            cache[key] = inference.sample(
                name, "mh", draws=draws, tune=tune, chains=4, seed=1, progress=False, **options
            )
        return cache[key]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXACT))
def test_mh_matches_exact_posterior(mh_runs, name):
    spec = models.get(name)
    z = diagnostics.z_scores(mh_runs(name), spec.exact(spec.simulate(0)))
    assert len(z) and z.z.abs().max() < 4, z.loc[z.z.abs().idxmax()].to_dict()


def test_adapted_walk_hits_the_target_acceptance_and_learns_the_covariance(mh_runs):
    idata = mh_runs("correlated_gaussian")
    rate = float(idata.sample_stats.acceptance_rate.mean())
    assert 0.18 < rate < 0.30
    truth = models.get("correlated_gaussian").exact(models.get("correlated_gaussian").simulate(0))
    learned = idata.adaptation["cov"].values.mean(axis=0)
    rel = np.linalg.norm(learned - truth["x"].cov) / np.linalg.norm(truth["x"].cov)
    assert rel < 0.3
    assert np.allclose(idata.sample_stats.proposal_scale.values[:, 0], idata.adaptation["scale"])


def test_independence_sampler_matches_exact_posterior(mh_runs):
    spec = models.get("linear_regression")
    idata = mh_runs("linear_regression", proposal="independence")
    assert idata.adaptation.attrs["proposal"] == "independence"
    z = diagnostics.z_scores(idata, spec.exact(spec.simulate(0)))
    assert z.z.abs().max() < 4
    # A proposal fitted to the posterior accepts far more often than a random walk.
    assert float(idata.sample_stats.acceptance_rate.mean()) > 0.4


def test_same_seed_same_draws_other_seed_other_draws():
    a = inference.sample(
        "gamma_poisson", "mh", draws=300, tune=200, chains=2, seed=5, progress=False
    )
    b = inference.sample(
        "gamma_poisson", "mh", draws=300, tune=200, chains=2, seed=5, progress=False
    )
    c = inference.sample(
        "gamma_poisson", "mh", draws=300, tune=200, chains=2, seed=6, progress=False
    )
    np.testing.assert_array_equal(a.posterior.lam.values, b.posterior.lam.values)
    assert not np.array_equal(a.posterior.lam.values, c.posterior.lam.values)
    for key in ("sampler", "backend", "seed", "compile_seconds", "sampling_seconds"):
        assert key in a.attrs
    assert a.attrs["sampler"] == "mh"


# --------------------------------------------------------------------- negative control


def _normal_moments_z(positions):
    from arviz import convert_to_dataset, ess

    x = np.asarray(positions)[..., 0]
    ds = convert_to_dataset({"x": x})
    n_eff = float(ess(ds)["x"])
    mean_z = x.mean() / np.sqrt(1.0 / n_eff)
    return abs(mean_z)


def test_dropping_the_hastings_correction_biases_a_drifting_walk():
    start = jnp.zeros((4, 1))
    params = mh.params_from(1, scale=1.0)
    proposal = mh.drifting_random_walk(0.7)
    z = {}
    for hastings in (True, False):
        pos, *_ = mh.sample_chains(
            _std_normal,
            start,
            draws=20000,
            tune=500,
            seed=3,
            proposal=proposal,
            hastings=hastings,
            adapt=False,
            params=params,
        )
        z[hastings] = _normal_moments_z(pos)
    assert z[True] < 4
    assert z[False] > 4


def test_top_level_constructor_is_the_kernel_closed_over_its_tunables():
    params = mh.params_from(2, scale=0.7)
    algo = mh.metropolis_hastings(_std_normal, params)
    state = algo.init(jnp.array([1.0, -1.0]))
    assert float(state.logdensity) == pytest.approx(-1.0)
    kernel = mh.build_kernel(mh.random_walk())
    for seed in range(5):
        key = jax.random.PRNGKey(seed)
        a, info_a = algo.step(key, state)
        b, info_b = kernel(key, state, _std_normal, params)
        np.testing.assert_array_equal(a.position, b.position)
        assert float(info_a.acceptance_rate) == float(info_b.acceptance_rate)
