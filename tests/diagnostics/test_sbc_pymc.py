"""SBC's prior draw for models that have only a PyMC program, and what it refuses."""

import numpy as np
import numpyro
import numpyro.distributions as dist
import pymc as pm
import pytest
from numpyro import handlers

from bayesmin import models
from bayesmin.diagnostics import sbc
from bayesmin.reports import sbc as sbc_run

MU0, TAU0, SIGMA, N = 1.0, 2.0, 1.5, 5


def normal_model(y, sigma, mu0, tau0):
    """A user's own model: a function of its inputs returning a pm.Model."""
    with pm.Model() as model:
        mu = pm.Normal("mu", mu0, tau0)
        pm.Normal("y", mu, sigma, observed=y)
    return model


def _spec(pymc, name="pymc_normal", params=("mu",), numpyro=None):
    return models.ModelSpec(
        name=name,
        topic=0,
        title="t",
        simulate=lambda seed: {},
        pymc=pymc,
        numpyro=numpyro,
        params=params,
    )


def _data(dtype=np.float64):
    return {"y": np.zeros(N, dtype=dtype), "sigma": SIGMA, "mu0": MU0, "tau0": TAU0}


def _z(sample, mean, sd):
    """z-scores of a sample's mean and sd against the truth (normal sample)."""
    n = sample.size
    return (sample.mean() - mean) / (sd / np.sqrt(n)), (sample.std(ddof=1) - sd) / (
        sd / np.sqrt(2 * n)
    )


@pytest.fixture(scope="module")
def normal_draws():
    spec = _spec(lambda data: normal_model(**data))
    data = _data(np.float32)
    return data, [sbc.prior_draw(spec, data, seed) for seed in range(250)]


def test_pymc_prior_draw_follows_the_prior_and_the_likelihood(normal_draws):
    _, draws = normal_draws
    mu = np.array([float(theta["mu"]) for theta, _ in draws])
    assert all(abs(z) < 4 for z in _z(mu, MU0, TAU0))
    # ỹ | θ̃ ~ N(θ̃, σ²): the residuals are N(0, σ²) only if ỹ is drawn given this θ̃.
    resid = np.concatenate([new["y"] - float(theta["mu"]) for theta, new in draws])
    assert all(abs(z) < 4 for z in _z(resid, 0.0, SIGMA))
    # Negative control: ỹ drawn with an independent μ would spread as sqrt(σ² + τ0²).
    assert abs(_z(resid, 0.0, np.hypot(SIGMA, TAU0))[1]) > 4


def test_pymc_prior_draw_replaces_only_the_observation(normal_draws):
    data, draws = normal_draws
    theta, new = draws[3]
    assert set(theta) == {"mu"} and set(new) == set(data)
    assert new["y"].dtype == np.float32 and new["y"].shape == (N,)
    assert not np.array_equal(new["y"], data["y"])
    assert all(new[k] is data[k] for k in ("sigma", "mu0", "tau0"))
    # Same seed, same draw; another seed, another draw.
    spec = _spec(lambda d: normal_model(**d))
    again = sbc.prior_draw(spec, data, 3)
    np.testing.assert_array_equal(again[1]["y"], new["y"])
    assert float(again[0]["mu"]) == float(theta["mu"])
    assert float(draws[4][0]["mu"]) != float(theta["mu"])


def test_a_spec_with_both_programs_draws_through_numpyro():
    registry = models.get("normal_normal")

    def no_pymc(data):
        raise AssertionError("the NumPyro program comes first")

    both = _spec(no_pymc, name="both", numpyro=registry.numpyro)
    data = registry.simulate(0)
    theta, new = sbc.prior_draw(both, data, 7)
    ref_theta, ref_new = sbc.prior_draw(registry, data, 7)
    assert float(theta["mu"]) == float(ref_theta["mu"])
    np.testing.assert_array_equal(new["y"], ref_new["y"])


# ---------------------------------------------------------- a fixed model with pm.Data


X = np.linspace(-1.0, 1.0, 6)


@pytest.fixture(scope="module")
def fixed_regression():
    # y_data starts equal to x: only the container's name can tell which entry feeds y.
    with pm.Model() as fixed:
        x = pm.Data("x", X)
        y_data = pm.Data("y_data", X.copy())
        w = pm.Normal("w", 0.0, 2.0)
        pm.Normal("y", w * x, 0.5, observed=y_data, shape=x.shape)
    return fixed


def test_with_data_sets_the_containers_of_a_copy(fixed_regression):
    copy = models.with_data(fixed_regression, {"x": np.ones(3), "y_data": np.arange(3.0)})
    np.testing.assert_array_equal(copy["y_data"].get_value(), np.arange(3.0))
    assert pm.draw(copy["y"], random_seed=0).shape == (3,)
    np.testing.assert_array_equal(fixed_regression["x"].get_value(), X)  # untouched
    np.testing.assert_array_equal(fixed_regression["y_data"].get_value(), X)
    with pytest.raises(models.DataError, match=r"'z' is not a pm.Data container.*: x, y_data"):
        models.with_data(fixed_regression, {"z": np.ones(3)})
    with pytest.raises(models.DataError, match=r"cannot set the pm\.Data container 'x'"):
        models.with_data(fixed_regression, {"x": np.ones((2, 2))})


def test_pymc_prior_draw_of_a_fixed_model_with_data_containers(fixed_regression):
    spec = _spec(lambda data: models.with_data(fixed_regression, data), params=("w",))
    data = {"x": X, "y_data": X.copy()}
    draws = [sbc.prior_draw(spec, data, seed) for seed in range(200)]
    w = np.array([float(theta["w"]) for theta, _ in draws])
    assert all(abs(z) < 4 for z in _z(w, 0.0, 2.0))
    resid = np.concatenate([new["y_data"] - float(theta["w"]) * X for theta, new in draws])
    assert all(abs(z) < 4 for z in _z(resid, 0.0, 0.5))
    for _, new in draws[:5]:
        assert new["x"] is data["x"] and not np.array_equal(new["y_data"], X)
    np.testing.assert_array_equal(fixed_regression["y_data"].get_value(), X)


def test_integer_data_in_a_container_is_found_through_the_cast():
    # Integers observed by a Normal reach PyMC as Cast(container): still the container.
    def build(data):
        with pm.Model() as model:
            counts = pm.Data("counts", data["counts"])
            mu = pm.Normal("mu", 10.0, 1.0)
            pm.Normal("obs", mu, 1.0, observed=counts)
        return model

    data = {"counts": np.array([9, 10, 11], dtype=np.int64)}
    _, new = sbc.prior_draw(_spec(build), data, 0)
    assert new["counts"].dtype == np.int64 and new["counts"].shape == (3,)
    assert not np.array_equal(new["counts"], data["counts"])


# -------------------------------------------------------------------- what is refused


def _refused(build, data, match):
    spec = _spec(build, name="mine")
    with pytest.raises(ValueError, match=match) as info:
        sbc.prior_draw(spec, data, 0)
    message = str(info.value)
    assert "mine" in message and "\n" not in message
    return message


def test_a_potential_is_refused():
    def build(data):
        model = normal_model(**data)
        with model:
            pm.Potential("soft", -(model["mu"] ** 2))
        return model

    _refused(build, _data(), r"pm.Potential terms \(soft\), which cannot be simulated")


def test_observed_values_computed_inside_the_model_are_refused():
    def logged(data):  # a constant that is no data entry
        with pm.Model() as model:
            mu = pm.Normal("mu", 0, 1)
            pm.Normal("y", mu, 1, observed=np.log(data["y"]))
        return model

    def doubled(data):  # a graph of a container
        with pm.Model() as model:
            y = pm.Data("y", data["y"])
            mu = pm.Normal("mu", 0, 1)
            pm.Normal("obs", mu, 1, observed=2 * y)
        return model

    data = {"y": np.array([1.0, 2.0, 3.0])}
    line = "the observed data of {} in mine is built inside the model"
    msg = _refused(logged, data, line.format("y"))
    assert msg.endswith("pass it in as an argument")
    _refused(doubled, data, line.format("obs"))


def test_models_observing_nothing_or_with_improper_priors_are_refused():
    def prior_only(data):
        with pm.Model() as model:
            pm.Normal("mu", 0, 1)
        return model

    def flat(data):
        with pm.Model() as model:
            mu = pm.Flat("mu")
            pm.Normal("y", mu, 1, observed=data["y"])
        return model

    _refused(prior_only, _data(), "mine observes nothing, so there is nothing to calibrate")
    _refused(flat, _data(), r"cannot draw from the prior of mine \(Cannot sample from flat")
    bare = models.ModelSpec(name="bare", topic=0, title="t", simulate=lambda seed: {})
    with pytest.raises(ValueError, match="neither a NumPyro program nor a PyMC model"):
        sbc.prior_draw(bare, {}, 0)


def test_ambiguous_observations_are_refused():
    data = {"a": np.zeros(3), "b": np.zeros(3)}

    def build(d):
        with pm.Model() as model:
            mu = pm.Normal("mu", 0, 1)
            pm.Normal("y", mu, 1, observed=d["a"])
        return model

    _refused(
        build,
        data,
        r"feeds the observed y of mine \(a, b hold the same values\); name the data key",
    )


def _factor_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("n", y.shape[0]), handlers.mask(mask=y > -1):
        numpyro.factor("soft", -(mu**2))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def _logged_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=np.log(y))


@pytest.mark.parametrize(
    "program, match",
    [
        (_factor_model, r"numpyro.factor terms \(soft\), which cannot be simulated"),
        # Named after a data entry but not its values: replacing y would be wrong.
        (_logged_model, "the observed data of y in mine is built inside the model"),
    ],
)
def test_numpyro_programs_are_refused_the_same_way(program, match):
    spec = _spec(None, name="mine", numpyro=program)
    with pytest.raises(ValueError, match=match):
        sbc.prior_draw(spec, {"y": np.array([1.0, 2.0, 3.0])}, 0)


# ------------------------------------------------------------------------- end to end


def _exact_sampler(spec, data, seed):
    """The closed-form posterior of the normal model, whatever program drew the data."""
    import arviz as az

    precision = 1 / data["tau0"] ** 2 + data["y"].size / data["sigma"] ** 2
    mean = (data["mu0"] / data["tau0"] ** 2 + data["y"].sum() / data["sigma"] ** 2) / precision
    draws = np.random.default_rng(seed).normal(mean, precision**-0.5, size=(2, 100))
    return az.from_dict(posterior={"mu": draws})


@pytest.mark.parametrize("noise, calibrated", [(1.0, True), (2.0, False)])
def test_sbc_of_a_pymc_only_model_with_an_exact_posterior(tmp_path, noise, calibrated):
    # The PyMC program draws ỹ with noise x σ; the exact posterior assumes σ. Only the
    # true program (noise 1) is calibrated: the check sees a wrong prior draw.
    spec = _spec(lambda d: normal_model(**{**d, "sigma": noise * d["sigma"]}))
    data = _data()
    run = sbc_run.SBCSpec(spec.name, "exact", 100, 0, 100, 0, 2, 99, models.fingerprint(data))
    ranks, summary, errors = sbc_run.run_sbc(spec, data, run, tmp_path, sampler=_exact_sampler)
    assert not errors and len(ranks) == 100
    assert bool(summary["calibrated"].iloc[0]) is calibrated


def test_sbc_simulation_of_a_pymc_only_model_with_pymc_nuts():
    spec = _spec(lambda d: normal_model(**d))
    for index in range(2):
        task = sbc.SimulationTask(
            spec,
            _data(),
            "nuts:pymc",
            index,
            draws=100,
            tune=100,
            chains=2,
            ranked_draws=50,
            options={"cores": 1},
        )
        result = sbc.simulate(task)
        assert set(result.ranks) == {"mu"} and 0 <= result.ranks["mu"] <= 50
        assert result.ranked_draws == 50


@pytest.mark.slow
def test_sbc_of_a_pymc_only_model_with_pymc_nuts(tmp_path):
    spec = _spec(lambda d: normal_model(**d))
    data = _data()
    run = sbc_run.SBCSpec(spec.name, "nuts:pymc", 100, 0, 200, 200, 2, 99, models.fingerprint(data))
    ranks, summary, errors = sbc_run.run_sbc(spec, data, run, tmp_path)
    assert not errors and len(ranks) == 100
    assert bool(summary["calibrated"].iloc[0]), summary
