"""Routes 2 and 3 to our MH kernel: ``numpyro.infer.MCMC`` and ``pm.sample``.

Route 2 is :class:`inference.mh_numpyro.MetropolisHastings` inside ``MCMC`` with every
``chain_method``; route 3 is :class:`inference.mh_pymc.MetropolisHastingsStep` inside
``pm.sample``, alone, beside PyMC's NUTS, and as ``inference.sample(..., "mh:pymc")``.
Every statistical check is MCSE-scaled (|z| < 4) against a closed-form posterior, and a
kernel without the Hastings correction must fail the same check.
"""

from __future__ import annotations

import logging

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
import pytest
from numpyro.infer import MCMC

from bayesmin import diagnostics, inference, models
from bayesmin.inference import mh
from bayesmin.inference.mh_numpyro import MetropolisHastings
from bayesmin.inference.mh_pymc import MetropolisHastingsStep

Z_MAX = 4.0
WARMUP, DRAWS, CHAINS = 1000, 2500, 2
CONTRACT_STATS = ("lp", "acceptance_rate", "diverging", "n_steps")
CONTRACT_ATTRS = ("sampler", "backend", "seed", "compile_seconds", "sampling_seconds")


@pytest.fixture(autouse=True)
def _quiet_pymc():
    # pm.sample logs its step hierarchy at INFO; keep the test output to failures.
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def max_abs_z(idata, exact) -> float:
    z = diagnostics.z_scores(idata, exact)["z"].to_numpy(dtype=float)
    assert z.size and np.all(np.isfinite(z)), z
    return float(np.max(np.abs(z)))


def run_numpyro(
    kernel,
    data,
    *,
    seed=0,
    chain_method="vectorized",
    warmup=WARMUP,
    draws=DRAWS,
    chains=CHAINS,
):
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(seed), **data)
    return mcmc


def pymc_sample(model, step, *, seed=0, tune=WARMUP, draws=DRAWS):
    """``pm.sample``; ``step`` is a step or a function making one inside ``with model``."""
    with model:
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=CHAINS,
            cores=1,
            step=step() if callable(step) else step,
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
        )


@pytest.fixture(scope="module")
def normal_normal():
    spec = models.get("normal_normal")
    data = spec.simulate(0)
    return spec, data, spec.exact(data)


# ------------------------------------------------------------ route 2: NumPyro MCMC


@pytest.fixture(scope="module")
def numpyro_runs(normal_normal):
    spec, data, _ = normal_normal
    with pytest.warns(UserWarning, match="not enough devices"):  # "parallel" on one CPU
        parallel = run_numpyro(MetropolisHastings(spec.numpyro), data, chain_method="parallel")
    return {
        "sequential": run_numpyro(
            MetropolisHastings(spec.numpyro), data, chain_method="sequential"
        ),
        "parallel": parallel,
        "vectorized": run_numpyro(MetropolisHastings(spec.numpyro), data),
    }


@pytest.mark.slow
@pytest.mark.parametrize("chain_method", ["sequential", "parallel", "vectorized"])
def test_numpyro_chain_methods_match_exact_posterior(numpyro_runs, normal_normal, chain_method):
    _, _, exact = normal_normal
    mcmc = numpyro_runs[chain_method]
    idata = az.from_numpyro(mcmc)  # needs ``kernel.model``
    assert idata.posterior["mu"].shape == (CHAINS, DRAWS)
    for name in CONTRACT_STATS:
        assert name in idata.sample_stats, name
    rate = idata.sample_stats["acceptance_rate"].values
    assert np.all((rate >= 0) & (rate <= 1))
    assert not idata.sample_stats["diverging"].values.any()
    # Tuned towards 0.234 (Roberts, Gelman & Gilks 1997).
    assert 0.15 < rate.mean() < 0.4
    assert max_abs_z(idata, exact) < Z_MAX
    assert "y" in idata.observed_data


@pytest.mark.slow
def test_numpyro_chain_methods_agree(numpyro_runs):
    # One key per chain whatever the driver: the chain methods are the same chains.
    draws = {
        k: np.asarray(m.get_samples(group_by_chain=True)["mu"]) for k, m in numpyro_runs.items()
    }
    np.testing.assert_allclose(draws["sequential"], draws["vectorized"], rtol=1e-10)
    np.testing.assert_allclose(draws["sequential"], draws["parallel"], rtol=1e-10)


@pytest.mark.slow
def test_numpyro_same_seed_same_draws(numpyro_runs, normal_normal):
    spec, data, _ = normal_normal
    first = np.asarray(numpyro_runs["vectorized"].get_samples()["mu"])
    again = run_numpyro(MetropolisHastings(spec.numpyro), data, seed=0)  # a new kernel
    np.testing.assert_array_equal(np.asarray(again.get_samples()["mu"]), first)
    again.run(jax.random.PRNGKey(1), **data)
    assert not np.allclose(np.asarray(again.get_samples()["mu"]), first)


def test_numpyro_linear_regression():
    spec = models.get("linear_regression")
    data = spec.simulate(0)
    mcmc = run_numpyro(MetropolisHastings(spec.numpyro), data)
    assert max_abs_z(az.from_numpyro(mcmc), spec.exact(data)) < Z_MAX


# The hard targets through the model route: the correlated Gaussian (scales 0.1 to 10,
# rho 0.9) needs the learnt covariance; the banana's curved arms need many draws, so
# many cheap vectorised chains, long enough for each to walk round the curve.
HARD_TARGETS = {  # name: (chains, warm-up, draws)
    "correlated_gaussian": (8, 2000, 5000),
    "banana": (16, 5000, 30000),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HARD_TARGETS))
def test_numpyro_hard_targets(name):
    spec = models.get(name)
    data = spec.simulate(0)
    chains, warmup, draws = HARD_TARGETS[name]
    mcmc = run_numpyro(
        MetropolisHastings(spec.numpyro), data, warmup=warmup, draws=draws, chains=chains
    )
    idata = az.from_numpyro(mcmc)
    assert 0.15 < float(idata.sample_stats["acceptance_rate"].mean()) < 0.4
    assert max_abs_z(idata, spec.exact(data)) < Z_MAX


def test_numpyro_potential_fn_correlated_gaussian():
    # The potential_fn route: the correlated Gaussian (scales 0.1 to 10, rho 0.9)
    # needs the learnt covariance.
    spec = models.get("correlated_gaussian")
    data = spec.simulate(0)
    precision = jnp.asarray(np.linalg.inv(data["cov"]))

    def potential(x):
        return 0.5 * x @ precision @ x

    mcmc = MCMC(
        MetropolisHastings(potential_fn=potential),
        num_warmup=2000,
        num_samples=5000,
        num_chains=CHAINS,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.PRNGKey(0), init_params=jnp.zeros((CHAINS, 5)))
    draws = np.asarray(mcmc.get_samples(group_by_chain=True))
    idata = az.from_dict(posterior={"x": draws})
    assert max_abs_z(idata, spec.exact(data)) < Z_MAX


def test_numpyro_kernel_errors(normal_normal):
    spec, data, _ = normal_normal
    with pytest.raises(ValueError, match="Only one of `model` or `potential_fn`"):
        MetropolisHastings(spec.numpyro, potential_fn=lambda z: z)
    with pytest.raises(ValueError, match="Only one of `model` or `potential_fn`"):
        MetropolisHastings()
    with pytest.raises(ValueError, match="unknown proposal 'hmc'"):
        MetropolisHastings(spec.numpyro, proposal="hmc")
    with pytest.raises(ValueError, match="not positive definite"):
        MetropolisHastings(spec.numpyro, cov=[[-1.0]])
    with pytest.raises(ValueError, match=r"proposal covariance must be 1×1, got shape \(2, 2\)"):
        run_numpyro(MetropolisHastings(spec.numpyro, cov=np.eye(2)), data, warmup=10, draws=10)
    with pytest.raises(ValueError, match="init_params"):
        run_numpyro(MetropolisHastings(potential_fn=lambda x: x @ x), {}, warmup=10, draws=10)


def test_routes_exported_from_mh():
    assert mh.MetropolisHastings is MetropolisHastings
    assert mh.MetropolisHastingsStep is MetropolisHastingsStep


# ------------------------------------------------------------ route 3: PyMC step


def test_pymc_step_alone(normal_normal):
    spec, data, exact = normal_normal
    model = spec.pymc(data)
    idata = pymc_sample(model, lambda: [MetropolisHastingsStep([model["mu"]])], seed=1)
    assert max_abs_z(idata, exact) < Z_MAX
    stats = idata.sample_stats
    assert {"accept", "accepted", "scaling"} <= set(stats.data_vars)
    assert 0.15 < float(stats["accept"].mean()) < 0.4
    # The scale moved away from 2.38 during tuning and stayed put afterwards.
    scaling = stats["scaling"].values
    assert np.all(scaling == scaling[:, :1]) and not np.allclose(scaling, 2.38)


def test_pymc_step_beside_nuts():
    spec = models.get("linear_regression_unknown_noise")
    data = spec.simulate(0)
    model = spec.pymc(data)
    idata = pymc_sample(
        model,
        lambda: [MetropolisHastingsStep([model["w"]]), pm.NUTS([model["beta"]])],
        seed=2,
        tune=500,
        draws=1500,
    )
    z = diagnostics.z_scores(idata, spec.exact(data))
    assert set(z["parameter"].str.split("[").str[0]) == {"w", "beta"}
    assert max_abs_z(idata, spec.exact(data)) < Z_MAX
    assert {"accept", "scaling", "acceptance_rate", "step_size"} <= set(idata.sample_stats)


def test_pymc_step_same_seed_same_draws(normal_normal):
    spec, data, _ = normal_normal
    model = spec.pymc(data)
    # One step object for every run: pm.sample reseeds it per chain (``set_rng``) and
    # resets its tuning, so nothing from one run leaks into the next.
    step = MetropolisHastingsStep([model["mu"]], model=model)

    def draws(seed):
        return pymc_sample(model, step, seed=seed, tune=200, draws=300).posterior["mu"].values

    first = draws(5)
    np.testing.assert_array_equal(draws(5), first)
    assert not np.allclose(draws(6), first)


def test_mh_pymc_sampler_contract():
    spec = models.get("gamma_poisson")  # lam > 0: the step works on log(lam)
    idata = inference.sample(
        spec, "mh:pymc", draws=DRAWS, tune=WARMUP, chains=CHAINS, seed=3, progress=False
    )
    stats = idata.sample_stats
    for name in CONTRACT_STATS:
        assert name in stats and stats[name].dims == ("chain", "draw"), name
    rate = stats["acceptance_rate"].values
    assert np.all((rate >= 0) & (rate <= 1))
    assert stats["diverging"].dtype == bool and not stats["diverging"].values.any()
    assert np.all(stats["n_steps"].values == 1)
    assert np.all(np.isfinite(stats["lp"].values))
    for group in (idata.posterior, stats):
        assert set(CONTRACT_ATTRS) <= set(group.attrs)
        assert (group.attrs["sampler"], group.attrs["backend"]) == ("mh:pymc", "pymc")
        assert group.attrs["seed"] == 3
    assert list(idata.posterior.data_vars) == ["lam"]  # lam_log__ dropped
    assert max_abs_z(idata, spec.exact(spec.simulate(0))) < Z_MAX


def _pymc_hard_cov(name, spec, data):
    # A proposal shape the user supplies; covariance learning is route 1's job (the
    # step tunes only its scale). The correlated Gaussian's own covariance; for the
    # banana the marginal variances of (x1, x2): 100 and 1 + 2 b² s⁴ = 19.
    if name == "correlated_gaussian":
        return spec.exact(data)["x"].cov
    return np.diag([100.0, 19.0])


@pytest.mark.parametrize(("name", "draws"), [("correlated_gaussian", 10000), ("banana", 15000)])
def test_mh_pymc_hard_targets(name, draws):
    spec = models.get(name)
    data = spec.simulate(0)
    idata = inference.sample(
        spec,
        "mh:pymc",
        draws=draws,
        tune=2000,
        chains=CHAINS,
        seed=7,
        progress=False,
        cores=1,
        cov=_pymc_hard_cov(name, spec, data),
    )
    assert 0.15 < float(idata.sample_stats["acceptance_rate"].mean()) < 0.4
    assert max_abs_z(idata, spec.exact(data)) < Z_MAX


def test_step_refuses_what_is_not_a_free_variable(normal_normal):
    spec, data, _ = normal_normal
    model = spec.pymc(data)
    with model:
        pm.Deterministic("mu2", 2 * model["mu"])
    for var, kind in ((model["y"], "an observed variable"), ("mu2", "a deterministic")):
        name = var if isinstance(var, str) else var.name
        with pytest.raises(ValueError) as err:
            MetropolisHastingsStep([var], model=model)
        message = str(err.value)
        assert "\n" not in message
        assert f"'{name}' is {kind}, not a free variable" in message
        assert message.endswith("free variables: mu")
    with pytest.raises(ValueError, match="not positive definite"):
        MetropolisHastingsStep(["mu"], model=model, cov=[[-1.0]])


def test_step_can_be_pickled(normal_normal):
    # pm.sample pickles steps into worker processes for cores > 1.
    import cloudpickle

    spec, data, _ = normal_normal
    model = spec.pymc(data)
    step = MetropolisHastingsStep([model["mu"]], model=model, rng=0)
    clone = cloudpickle.loads(cloudpickle.dumps(step))
    point = model.initial_point()
    clone.set_rng(np.random.default_rng(1))
    step.set_rng(np.random.default_rng(1))
    assert clone.step(point)[0]["mu"] == step.step(point)[0]["mu"]


# --------------------------------------------------- negative control, both routes


def _off_centre(exact):
    # An independence proposal centred two posterior sds above the mean, twice as
    # wide. With the Hastings correction it is exact; without it the chain targets
    # p(x) q(x), whose mean is 0.4 sd too high and whose sd is 11% too small.
    m, s = float(exact["mu"].mean), float(exact["mu"].sd)
    return {"proposal": "independence", "mean": [m + 2 * s], "cov": [[(2 * s) ** 2]], "scale": 1.0}


@pytest.mark.parametrize("hastings", [True, False], ids=["hastings", "no_hastings"])
def test_negative_control_numpyro(normal_normal, hastings):
    spec, data, exact = normal_normal
    kernel = MetropolisHastings(spec.numpyro, adapt=False, hastings=hastings, **_off_centre(exact))
    z = max_abs_z(az.from_numpyro(run_numpyro(kernel, data, seed=4)), exact)
    assert (z < Z_MAX) if hastings else (z > 2 * Z_MAX), z


@pytest.mark.parametrize("hastings", [True, False], ids=["hastings", "no_hastings"])
def test_negative_control_pymc(normal_normal, hastings):
    spec, data, exact = normal_normal
    model = spec.pymc(data)
    step = MetropolisHastingsStep(
        [model["mu"]], model=model, hastings=hastings, **_off_centre(exact)
    )
    z = max_abs_z(pymc_sample(model, step, seed=4, tune=200, draws=1500), exact)
    assert (z < Z_MAX) if hastings else (z > Z_MAX), z
