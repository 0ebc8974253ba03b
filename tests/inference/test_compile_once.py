"""Compile once per shape; keep the chains going until the answer is there.

* A repeated ``inference.sample`` call, a new seed or a new data set of the same shapes
  compiles nothing (counted through ``jax.monitoring``, not timed).
* Chunks continue the same chains: two chunks of ``n`` are one run of ``2n``.
* ``until_ess`` stops with its target met, and says so when the budget ends first.
* Our MH's warm-up takes chains out of a mode with no mass and pools its covariance
  within chains.
"""

from __future__ import annotations

import dataclasses
import warnings
from contextlib import contextmanager

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesmin import inference, models
from bayesmin.inference import mh, nuts
from bayesmin.inference._precision import float64
from bayesmin.inference.bridge import from_numpyro, from_pymc

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_counter = {"n": 0}


def _on_event(event: str, duration: float, **_kwargs) -> None:
    if event == _BACKEND_COMPILE:
        _counter["n"] += 1


jax.monitoring.register_event_duration_secs_listener(_on_event)


@contextmanager
def compilations():
    """Count the XLA programs compiled inside the block."""
    box = {}
    start = _counter["n"]
    yield box
    box["n"] = _counter["n"] - start


JAX_SAMPLERS = ["mh", "nuts", "nuts:blackjax"]
SMALL = dict(draws=40, tune=40, chains=2, progress=False)


@pytest.mark.parametrize("sampler", JAX_SAMPLERS)
def test_new_seed_and_new_data_compile_nothing(sampler):
    spec = models.get("normal_normal")
    data = spec.simulate(0)
    shifted = {**data, "y": np.asarray(data["y"]) + 3.0}
    inference.sample(spec, sampler, seed=0, data=data, **SMALL)
    with compilations() as again:
        inference.sample(spec, sampler, seed=0, data=data, **SMALL)
    with compilations() as other:
        idata = inference.sample(spec, sampler, seed=1, data=shifted, **SMALL)
    assert again["n"] == 0
    assert other["n"] == 0
    # The new data were used, not the first data set's constants: the posterior mean
    # is the shifted data's (the first data set's is about 3 posterior sds away).
    exact_new = spec.exact(shifted)["mu"]
    exact_old = spec.exact(data)["mu"]
    assert abs(exact_new.mean - exact_old.mean) > 5 * exact_new.sd
    assert abs(float(idata.posterior["mu"].mean()) - exact_new.mean) < 2 * exact_new.sd


def _pymc_model(y, *, scale_from_data=False):
    import pymc as pm

    with pm.Model() as model:
        sigma = float(np.std(y)) if scale_from_data else 10.0
        mu = pm.Normal("mu", 0.0, sigma)
        pm.Normal("y", mu, 1.0, observed=y)
    return model


def test_pymc_models_of_one_structure_share_one_program():
    rng = np.random.default_rng(0)
    y1, y2 = rng.normal(1.0, 1.0, 20), rng.normal(-2.0, 1.0, 20)
    with float64():
        a, b = from_pymc(_pymc_model(y1)), from_pymc(_pymc_model(y2))
        # Negative control: a prior that reads the data is another program.
        c, d = (from_pymc(_pymc_model(y, scale_from_data=True)) for y in (y1, y2))
    assert a.structure == b.structure
    assert c.structure != d.structure
    inference.sample(_pymc_model(y1), "mh", **SMALL)
    with compilations() as second:
        idata = inference.sample(_pymc_model(y2), "mh", **SMALL)
    assert second["n"] == 0
    # Its own data: the posterior mean of mu is near y2's mean, not y1's.
    assert abs(float(idata.posterior["mu"].mean()) - y2.mean()) < 1.0


def test_numpyro_model_that_sizes_a_plate_from_data_keeps_those_arrays_constant():
    import numpyro
    import numpyro.distributions as dist

    def model(group, y):
        n_groups = int(np.max(group)) + 1  # needs the values: cannot be traced
        with numpyro.plate("groups", n_groups):
            theta = numpyro.sample("theta", dist.Normal(0.0, 5.0))
        numpyro.sample("y", dist.Normal(theta[group], 1.0), obs=y)

    group = np.array([0, 0, 1, 1, 2])
    y = np.array([1.0, 1.2, -1.0, -0.8, 3.0])
    ld = from_numpyro(model, {"group": group, "y": y})
    assert list(ld.data) == ["y"]  # the float observations stay an argument
    with float64():
        # Theta at the group means gives the highest density of these three points.
        at = {k: jnp.asarray(v) for k, v in {"m": [1.1, -0.9, 3.0], "z": [0.0, 0.0, 0.0]}.items()}
        assert float(ld.logdensity(at["m"])) > float(ld.logdensity(at["z"]))


START = {"mh": mh.start, "nuts": nuts.numpyro_start, "nuts:blackjax": nuts.blackjax_start}


@pytest.mark.parametrize("sampler", JAX_SAMPLERS)
def test_two_chunks_are_one_long_run(sampler):
    ld = inference.resolve_target("normal_normal").logdensity

    def positions(chunk, times):
        run = START[sampler](ld, chunk=chunk, tune=30, chains=2, seed=3)
        out = []
        for _ in range(times):
            drawn = run.draw()
            out.append(np.asarray(drawn[0]))
        return np.concatenate(out, axis=1)

    with float64():
        long, chunked = positions(40, 1), positions(20, 2)
    np.testing.assert_array_equal(long, chunked)
    # Negative control: another seed gives other draws.
    with float64():
        other = np.asarray(START[sampler](ld, chunk=40, tune=30, chains=2, seed=4).draw()[0])
    assert not np.array_equal(long, other)


def test_until_ess_stops_with_the_target_met():
    idata = inference.sample(
        "normal_normal", "nuts", draws=100, tune=200, chains=2, until_ess=600, progress=False
    )
    assert idata.attrs["stopped"] == "ess"
    assert idata.attrs["chunks"] >= 2  # one chunk of 2 × 100 draws cannot hold ESS 600
    assert idata.posterior.sizes["draw"] == 100 * idata.attrs["chunks"]
    assert float(az.ess(idata, method="bulk")["mu"]) >= 600
    assert float(az.ess(idata, method="tail")["mu"]) >= 600
    assert float(az.rhat(idata)["mu"]) < 1.01


def test_until_ess_warns_when_the_budget_ends_first():
    with pytest.warns(inference.UntilESSWarning, match=r"worst: mu \(ESS"):
        idata = inference.sample(
            "normal_normal",
            "mh",
            draws=20,
            tune=20,
            chains=2,
            until_ess=10_000,
            max_seconds=1e-6,
            progress=False,
        )
    assert idata.attrs["stopped"] == "max_seconds"
    assert idata.attrs["chunks"] == 1


@pytest.mark.parametrize(
    ("sampler", "options", "message"),
    [
        ("nuts:pymc", {}, "until_ess works with"),
        ("nuts", {"chain_method": "sequential"}, "until_ess works with"),
        ("mh", {"until_ess": -1.0}, "until_ess must be a positive number"),
    ],
)
def test_until_ess_refusals_are_one_line(sampler, options, message):
    options = {"until_ess": 400, **options}
    with pytest.raises(ValueError, match=message):
        inference.sample("normal_normal", sampler, **SMALL, **options)


def test_max_seconds_alone_is_refused():
    with pytest.raises(ValueError, match="pass until_ess too"):
        inference.sample("normal_normal", "mh", max_seconds=10, **SMALL)


def _two_modes(weight_far: float):
    """log of (1 - w) N(0, 1) + w N(40, 1) in one dimension: too far apart for a walk."""

    def logdensity(x):
        near = jnp.log1p(-weight_far) - 0.5 * x[0] ** 2
        far = jnp.log(weight_far) - 0.5 * (x[0] - 40.0) ** 2
        return jnp.logaddexp(near, far)

    return logdensity


def _warmed(logdensity, starts, seed=0):
    with float64():
        x0 = jnp.asarray(starts, dtype=jnp.float64)[:, None]
        lp0 = jax.vmap(logdensity)(x0)
        run = mh.ChainRun(lambda x, data: logdensity(x), x0, lp0, tune=400, chunk=200, seed=seed)
        positions = np.asarray(run.draw()[0])[..., 0]
    return run, positions


def test_warmup_restarts_a_chain_stuck_where_there_is_no_mass():
    # One chain of four starts in a mode holding e^-20 of the mass: a random walk tuned to
    # unit scale never leaves it; the warm-up moves it to the other chains' mode.
    run, positions = _warmed(_two_modes(np.exp(-20.0)), [0.1, -0.2, 0.3, 40.0])
    assert run.restarts >= 1
    assert np.all(np.abs(positions.mean(axis=1)) < 1.0)
    # Negative control: two modes of equal mass keep their chains where they are.
    run, positions = _warmed(_two_modes(0.5), [0.1, -0.2, 40.3, 39.8])
    assert run.restarts == 0
    means = positions.mean(axis=1)
    assert np.all(np.abs(means[:2]) < 1.0) and np.all(np.abs(means[2:] - 40.0) < 1.0)
    # The covariance is pooled within chains: the unit scale of each mode, not the
    # distance between the modes (a total covariance would be about 400).
    cov = float(np.asarray(run.params.chol)[0, 0, 0] ** 2)
    assert 0.3 < cov < 3.0


def test_until_ess_on_a_user_numpyro_model_records_its_rule():
    import numpyro
    import numpyro.distributions as dist

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    y = np.random.default_rng(1).normal(2.0, 1.0, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error", inference.UntilESSWarning)
        idata = inference.sample(
            model, "mh", data={"y": y}, draws=200, tune=200, chains=4, until_ess=400
        )
    assert idata.attrs["until_ess"] == 400.0
    assert idata.attrs["max_seconds"] == inference.sampling.MAX_SECONDS
    assert idata.attrs["chunk"] == 200
    assert abs(float(idata.posterior["mu"].mean()) - y.mean() * 30 / (30 + 0.01)) < 0.1


def test_function_digest_sees_the_program_and_its_constants():
    from bayesmin.inference._compiled import function_digest

    x = np.zeros(3)

    def scaled(c):
        c = np.asarray(c)
        return lambda v: jnp.sum(c * v**2)

    assert function_digest(scaled([1.0, 2.0, 3.0]), x) == function_digest(scaled([1.0, 2, 3]), x)
    # Negative controls: another constant value, another operation, another shape.
    assert function_digest(scaled([1.0, 2.0, 3.0]), x) != function_digest(scaled([1.0, 2, 4]), x)
    assert function_digest(lambda v: jnp.sum(v**2), x) != function_digest(
        lambda v: jnp.sum(v**3), x
    )
    assert function_digest(lambda v: jnp.sum(v**2), x) != function_digest(
        lambda v: jnp.sum(v**2), np.zeros(4)
    )


def test_a_later_process_loads_the_traced_nuts_program(tmp_path, monkeypatch):
    """With the persistent cache on, NUTS's programs are traced once, then loaded.

    A later process is played by emptying the in-memory cache: the second start traces
    the model's log density once (the digest that finds the program), never NumPyro's
    kernel, and draws exactly what the first drew.
    """
    from bayesmin.inference import _compiled

    monkeypatch.setattr(_compiled, "export_folder", lambda: tmp_path)
    base = inference.resolve_target("normal_normal").logdensity
    calls = {"n": 0}

    def counted(x, data):
        calls["n"] += 1
        return base.logdensity_fn(x, data)

    ld = dataclasses.replace(base, logdensity_fn=counted, structure=("counted", base.structure))

    def run():
        nuts._NUMPYRO_COMPILED.clear()
        calls["n"] = 0
        with float64():
            drawn = nuts.numpyro_start(ld, chunk=20, tune=20, chains=2, seed=5).draw()[0]
        return np.asarray(drawn), calls["n"]

    first, traced_first = run()
    assert len(list(tmp_path.glob("*.jaxexport"))) == 2  # init and loop
    second, traced_second = run()
    assert traced_second <= 1 < traced_first  # 0 where JAX kept the digest's trace
    np.testing.assert_array_equal(first, second)
    # Two processes at once: one finds the start program on disk but not yet the loop
    # (the other is still writing it). It traces the loop alone, and draws the same.
    max(tmp_path.glob("*.jaxexport"), key=lambda p: p.stat().st_size).unlink()
    third, _ = run()
    np.testing.assert_array_equal(first, third)
    # Negative control: other settings are other programs, traced again.
    nuts._NUMPYRO_COMPILED.clear()
    calls["n"] = 0
    with float64():
        nuts.numpyro_start(ld, chunk=20, tune=20, chains=2, seed=5, max_tree_depth=6)
    assert calls["n"] > 1
    assert len(list(tmp_path.glob("*.jaxexport"))) == 4
