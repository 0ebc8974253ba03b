"""``inference.sample``: the public contract, every kind of target, and its errors.

Runs of registry models come from the session's ``run_cache`` (shared with
``test_nuts_exact.py``); the few runs of hand-built models here are small.
"""

from __future__ import annotations

import functools
import itertools

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pymc as pm
import pytest
from scipy import stats

from bayesmin import diagnostics, inference, models
from bayesmin.inference._timing import clock

BACKENDS = ["nuts:numpyro", "nuts:pymc", "nuts:nutpie", "nuts:blackjax"]
CONTRACT_STATS = ("lp", "acceptance_rate", "diverging", "n_steps")
CONTRACT_ATTRS = ("sampler", "backend", "seed", "compile_seconds", "sampling_seconds")
SMALL = {"draws": 200, "tune": 200, "chains": 2, "progress": False}

# A Gamma-Poisson model written by hand, outside the registry: its posterior is
# Gamma(A + sum(y), rate B + N), and lam > 0 exercises the log transform.
COUNTS = np.array([3, 5, 4, 6, 2, 4, 7, 3])
A, B = 2.0, 1.0
EXACT = {"lam": models.Exact.from_scipy(stats.gamma(A + COUNTS.sum(), scale=1 / (B + COUNTS.size)))}


def gamma_poisson_fn(counts, a, b):
    lam = numpyro.sample("lam", dist.Gamma(a, b))
    with numpyro.plate("obs", len(counts)):
        numpyro.sample("y", dist.Poisson(lam), obs=counts)


def gamma_poisson_pymc() -> pm.Model:
    with pm.Model() as model:
        lam = pm.Gamma("lam", alpha=A, beta=B)
        pm.Poisson("y", mu=lam, observed=COUNTS)
    return model


def check_contract(idata, sampler: str, *, seed: int, chains: int, draws: int) -> None:
    """The shape every result of ``inference.sample`` has, whichever backend made it."""
    spelling = inference.resolve_sampler(sampler).spelling
    stats_ = idata.sample_stats
    for name in CONTRACT_STATS:
        assert name in stats_, f"{sampler}: no sample_stats {name!r}"
        assert stats_[name].dims[:2] == ("chain", "draw")
    assert stats_["diverging"].dtype == bool
    assert np.all(np.isfinite(stats_["lp"].values))
    rate = stats_["acceptance_rate"].values
    assert np.all((rate >= 0) & (rate <= 1)), f"{sampler}: acceptance outside [0, 1]"
    assert np.all(stats_["n_steps"].values >= 1)
    for group in (idata.posterior, idata.sample_stats):
        attrs = group.attrs
        assert set(CONTRACT_ATTRS) <= set(attrs), f"{sampler}: attrs {sorted(attrs)}"
        assert attrs["sampler"] == spelling
        assert attrs["backend"] == spelling.split(":")[1]
        assert attrs["seed"] == seed
        for key in ("compile_seconds", "sampling_seconds"):
            assert np.isfinite(attrs[key]) and attrs[key] >= 0, (key, attrs[key])
    post = idata.posterior
    assert (post.sizes["chain"], post.sizes["draw"]) == (chains, draws)
    # 64-bit whatever ran before in the process (PyMC's JAX linker would otherwise
    # switch precision, and with it the draws of a seed, half-way through a session).
    assert all(v.dtype == np.float64 for v in post.data_vars.values()), sampler
    assert stats_["lp"].dtype == np.float64


@pytest.fixture(scope="module")
def hand_runs():
    """``sampler -> InferenceData`` for the hand-built PyMC Gamma-Poisson, run once each."""
    model, cache = gamma_poisson_pymc(), {}

    def run(sampler: str):
        if sampler not in cache:
            options = {"cores": 1} if sampler.endswith("pymc") else {}
            cache[sampler] = inference.sample(model, sampler, seed=0, **SMALL, **options)
        return cache[sampler]

    return run


# ----------------------------------------------------------------------------- the contract


@pytest.mark.slow
@pytest.mark.parametrize("sampler", BACKENDS)
def test_every_backend_meets_the_contract(run_cache, sampler):
    idata = run_cache("normal_normal", sampler)
    check_contract(idata, sampler, seed=0, chains=2, draws=1000)
    assert list(idata.posterior.data_vars) == ["mu"]
    # A NUTS transition takes at least one leapfrog step and accepts on average
    # near its target (0.8): a stuck or mis-signed sampler would not.
    assert 0.5 < float(idata.sample_stats.acceptance_rate.mean()) <= 1.0


def test_lp_is_the_same_log_density_on_every_backend(run_cache):
    # ``lp`` is the log density of the unconstrained draw (Jacobian included) on every
    # backend, so its posterior mean agrees across backends within Monte Carlo error.
    lp = {}
    for sampler in BACKENDS:
        ds = az.convert_to_dataset({"lp": run_cache("normal_normal", sampler).sample_stats.lp})
        lp[sampler] = (float(ds.lp.mean()), float(az.mcse(ds).lp))
    for (s1, (m1, e1)), (s2, (m2, e2)) in itertools.combinations(lp.items(), 2):
        assert abs(m1 - m2) / np.hypot(e1, e2) < 4, (s1, s2, lp)


def test_pymc_metropolis_meets_the_contract(hand_runs):
    idata = hand_runs("metropolis:pymc")
    check_contract(idata, "metropolis:pymc", seed=0, chains=2, draws=200)
    # One proposal per draw; some accepted, some not.
    assert np.all(idata.sample_stats.n_steps.values == 1)
    assert 0 < float(idata.sample_stats.acceptance_rate.mean()) < 1
    # Transformed values are internal: only the model's own variables come back.
    assert list(idata.posterior.data_vars) == ["lam"]


def test_compound_metropolis_step_has_one_statistic_per_draw():
    # Two free variables make PyMC compose two Metropolis steps; the contract still
    # has one acceptance rate and one step count per draw.
    idata = inference.sample(
        "linear_regression_unknown_noise", "metropolis:pymc", seed=0, cores=1, **SMALL
    )
    check_contract(idata, "metropolis:pymc", seed=0, chains=2, draws=200)
    for name in ("acceptance_rate", "diverging", "n_steps", "lp"):
        assert idata.sample_stats[name].dims == ("chain", "draw"), name
    assert np.all(idata.sample_stats.n_steps.values == 2)


# ----------------------------------------------------------------------------- seeds


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["nuts:numpyro", "nuts:blackjax"])
def test_numpyro_function_with_data_and_seeds(run_cache, sampler):
    # A plain NumPyro function with ``data=``: the registry's own function and data,
    # so with the same seed it must give the very draws of the cached registry run.
    spec = models.get("gamma_poisson")
    data = spec.simulate(0)
    cached = run_cache(spec.name, sampler)
    attrs = cached.posterior.attrs
    sizes = {k: attrs[k] for k in ("draws", "tune", "chains")}
    by_fn = inference.sample(spec.numpyro, sampler, data=data, seed=0, progress=False, **sizes)
    check_contract(by_fn, sampler, seed=0, chains=sizes["chains"], draws=sizes["draws"])
    assert by_fn.posterior.attrs["model"] == spec.numpyro.__name__
    np.testing.assert_array_equal(by_fn.posterior.lam.values, cached.posterior.lam.values)
    # The registry name with another seed: other draws, the same posterior.
    other = inference.sample(spec.name, sampler, seed=1, progress=False, **sizes)
    check_contract(other, sampler, seed=1, chains=sizes["chains"], draws=sizes["draws"])
    assert not np.array_equal(other.posterior.lam.values, cached.posterior.lam.values)
    for idata in (by_fn, other):
        z = diagnostics.z_scores(idata, spec.exact(data))
        assert z.z.abs().max() < 4, z.to_dict("records")


def test_pymc_same_seed_same_draws_different_seed_different_draws(run_cache):
    cached = run_cache("normal_normal", "nuts:pymc")
    attrs = cached.posterior.attrs
    sizes = {k: attrs[k] for k in ("draws", "tune", "chains")}
    again = inference.sample("normal_normal", "nuts:pymc", seed=0, progress=False, cores=1, **sizes)
    np.testing.assert_array_equal(again.posterior.mu.values, cached.posterior.mu.values)
    other = run_cache("normal_normal", "nuts:pymc", seed=1)
    assert other.posterior.attrs["seed"] == 1
    assert not np.array_equal(other.posterior.mu.values, cached.posterior.mu.values)
    # Chains of one run differ from each other too.
    assert not np.array_equal(cached.posterior.mu.values[0], cached.posterior.mu.values[1])


# ----------------------------------------------------------------------------- target kinds


def test_resolve_target_kinds():
    spec = models.get("normal_normal")
    by_name = inference.resolve_target("normal_normal")
    assert by_name.spec is spec and by_name.numpyro_fn is spec.numpyro
    builtin = spec.simulate(0)
    assert set(by_name.data) == set(builtin)
    for k, v in builtin.items():
        np.testing.assert_array_equal(by_name.data[k], v)
    own = {**builtin, "sigma": 3.0}
    assert inference.resolve_target(spec, own).data["sigma"] == 3.0
    model = gamma_poisson_pymc()
    assert inference.resolve_target(model).pymc() is model
    fn = inference.resolve_target(gamma_poisson_fn, {"counts": COUNTS})
    assert fn.numpyro_fn is gamma_poisson_fn and fn.name == "gamma_poisson_fn"
    assert fn.exact() is None


@pytest.mark.parametrize("sampler", ["nuts:numpyro", "nuts:pymc"])
def test_hand_built_pymc_model_matches_the_exact_posterior(hand_runs, sampler):
    # nuts:numpyro runs a pm.Model through the bridge; nuts:pymc through pm.sample.
    idata = hand_runs(sampler)
    check_contract(idata, sampler, seed=0, chains=2, draws=200)
    assert list(idata.posterior.data_vars) == ["lam"]
    assert np.all(idata.posterior.lam.values > 0)
    z = diagnostics.z_scores(idata, EXACT)
    assert len(z) == 2
    assert z.z.abs().max() < 4, z.to_dict("records")


@pytest.mark.slow
def test_deterministics_come_back_in_the_posterior(run_cache):
    idata = run_cache("eight_schools_noncentered", "nuts:numpyro")
    post = idata.posterior
    assert {"mu", "tau", "theta_tilde", "theta"} <= set(post.data_vars)
    assert post.theta.shape == (2, 1000, 8)
    np.testing.assert_allclose(
        post.theta.values,
        post.mu.values[..., None] + post.tau.values[..., None] * post.theta_tilde.values,
        rtol=1e-10,
        atol=1e-10,
    )


# ----------------------------------------------------------------------------- errors


def test_sampler_spellings():
    assert inference.resolve_sampler("nuts").spelling == "nuts:numpyro"
    assert inference.resolve_sampler(" NUTS:PyMC ").spelling == "nuts:pymc"
    assert inference.resolve_sampler("metropolis").spelling == "metropolis:pymc"
    for spelling, s in inference.SAMPLERS.items():
        assert inference.resolve_sampler(spelling) is s


def test_unknown_sampler_lists_known_spellings():
    with pytest.raises(ValueError, match="unknown sampler 'nuts:stan'") as err:
        inference.sample("normal_normal", "nuts:stan", progress=False)
    for spelling in ("nuts", *inference.SAMPLERS):
        assert spelling in str(err.value)


def test_unknown_model_lists_known_models():
    with pytest.raises(ValueError, match="unknown model 'no_such_model'") as err:
        inference.sample("no_such_model", "nuts", progress=False)
    for name in models.names():
        assert name in str(err.value)


@pytest.mark.parametrize("sampler", ["nuts:pymc", "nuts:nutpie", "metropolis:pymc"])
def test_pymc_sampler_on_numpyro_function_is_refused(sampler):
    with pytest.raises(ValueError, match="gamma_poisson_fn has no PyMC model") as err:
        inference.sample(gamma_poisson_fn, sampler, data={"counts": COUNTS, "a": A, "b": B})
    # The message names the remedy.
    assert "'nuts'" in str(err.value)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"draws": 0}, "draws must be an integer >= 1"),
        ({"chains": 0}, "chains must be an integer >= 1"),
        ({"tune": -1}, "tune must be an integer >= 0"),
    ],
)
def test_bad_sizes_are_refused(sizes, message):
    with pytest.raises(ValueError, match=message):
        inference.sample("normal_normal", "nuts", progress=False, **sizes)


def test_model_without_continuous_parameters_is_refused():
    with pytest.raises(ValueError, match="'bayes_net' has no continuous parameters"):
        inference.sample("bayes_net", "nuts", progress=False)


def test_unusable_target_is_refused():
    with pytest.raises(TypeError, match="got int"):
        inference.sample(42, "nuts", progress=False)


# ----------------------------------------------------------------------------- timing


def test_clock_splits_compile_from_run():
    x = jnp.linspace(0.0, 1.0, 64).reshape(8, 8)
    f = jax.jit(lambda a: jnp.sin(a) @ a.T + 1.0)
    with clock() as first:
        f(x).block_until_ready()
    assert 0 < first.compile <= first.total
    assert first.run == pytest.approx(first.total - first.compile)
    # Already compiled: the second call traces and compiles nothing.
    with clock() as second:
        f(x).block_until_ready()
    assert second.compile == 0.0
    assert second.run == second.total > 0


def test_clock_nested_blocks_share_compile_time():
    g = jax.jit(lambda a: jnp.cos(a).sum() * 3.0)
    with clock() as outer:
        with clock() as inner:
            g(jnp.ones(5)).block_until_ready()
        g(jnp.ones(5)).block_until_ready()
    assert inner.compile > 0
    assert inner.compile <= outer.compile <= outer.total


@pytest.mark.slow
def test_a_models_sampler_defaults_apply_unless_the_caller_overrides(monkeypatch):
    import dataclasses

    from bayesmin.inference import sampling

    seen = []
    real = sampling.SAMPLERS["nuts:numpyro"]

    @functools.wraps(real.run)  # the same options as the real one (sampler_options)
    def spy(ld, **options):
        seen.append(options.get("target_accept"))
        return real.run(ld, **options)

    monkeypatch.setitem(sampling.SAMPLERS, "nuts:numpyro", dataclasses.replace(real, run=spy))
    assert models.get("ard_regression").sampler_defaults["nuts"] == {"target_accept": 0.9}
    small = dict(draws=20, tune=20, chains=1, progress=False)
    inference.sample(
        "ard_regression", "nuts", data=models.get("ard_regression").simulate(0, n=8), **small
    )
    inference.sample(
        "ard_regression", "nuts", data=models.get("ard_regression").simulate(0, n=8),
        target_accept=0.95, **small,
    )  # fmt: skip
    inference.sample("normal_normal", "nuts", **small)  # no defaults: the backend's own
    assert seen == [0.9, 0.95, None]


@pytest.mark.parametrize(
    ("sampler", "option", "hint"),
    [
        ("nuts", "target_acept", "did you mean 'target_accept'"),
        ("nuts:blackjax", "chain_method", "it accepts: target_accept"),
        ("mh", "scal", "did you mean 'scale'"),
        ("advi", "learning_rte", "did you mean 'learning_rate'"),
        ("nuts:pymc", "random_seed", "it accepts:"),  # set from seed=, not passed through
        ("mh:pymc", "hastngs", "did you mean 'hastings'"),
    ],
)
def test_an_option_the_sampler_does_not_take_is_an_error_naming_those_it_does(
    sampler, option, hint
):
    with pytest.raises(ValueError, match=f"unknown option '{option}' for sampler") as err:
        inference.sample("normal_normal", sampler, progress=False, **{option: 1})
    assert hint in str(err.value)
    assert "\n" not in str(err.value)


def test_sampler_options_lists_each_adapters_own_and_pm_samples():
    assert inference.sampler_options("nuts") == ("chain_method", "max_tree_depth", "target_accept")
    assert "fullrank" not in inference.sampler_options("fullrank_advi")  # fixed by the spelling
    pymc = inference.sampler_options("nuts:pymc")
    assert {"target_accept", "cores", "init", "idata_kwargs"} <= set(pymc)
    assert not {"draws", "random_seed", "step", "progressbar"} & set(pymc)
