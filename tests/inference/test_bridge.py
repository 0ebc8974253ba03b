"""The model bridge: one log density, whichever PPL the model is written in.

Every registry model written in both PyMC and NumPyro must give the same log density
on the same unconstrained point (tier 4: two independent implementations), up to an
additive constant. Both PPLs map positive variables through ``log`` and unit-interval
variables through ``logit``, so the two unconstrained points of one constrained point
are the same numbers and the log Jacobians agree. Points are drawn in PyMC's
unconstrained space, constrained by the PyMC bridge, and taken back to NumPyro's
unconstrained space by NumPyro's own ``unconstrain_fn``.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
import pymc as pm
import pytest
from jax.flatten_util import ravel_pytree
from numpyro.infer.util import unconstrain_fn
from scipy import stats

from bayesmin import models
from bayesmin.inference._precision import float64
from bayesmin.inference._timing import clock
from bayesmin.inference.bridge import LogDensity, from_numpyro, from_pymc


@pytest.fixture(autouse=True)
def _in_float64():
    # Comparisons to 1e-8 need the tests' own JAX arithmetic (NumPyro's transforms of
    # the points, ``jnp.asarray``) in float64, as the bridge's is.
    with float64():
        yield


# Models whose two programs use different unconstrained spaces, so points cannot be
# matched coordinate by coordinate: PyMC maps a Dirichlet through its own simplex
# transform, NumPyro through stick-breaking. (The mixture's two programs are checked
# against each other and against EM by sampling, in tests/models/test_mixture.py.)
DIFFERENT_TRANSFORMS = {"gaussian_mixture"}
PAIRED = [
    n
    for n in models.names()
    if models.get(n).pymc is not None
    and models.get(n).numpyro is not None
    and models.get(n).params
    and n not in DIFFERENT_TRANSFORMS
]


@functools.cache
def _built(name: str):
    """``(spec, data, pymc model, PyMC bridge, NumPyro bridge)``, built once per model."""
    spec = models.get(name)
    data = spec.simulate(0)
    model = spec.pymc(data)
    return spec, data, model, from_pymc(model), from_numpyro(spec.numpyro, data)


@pytest.fixture(params=PAIRED)
def bridges(request):
    return _built(request.param)


def _points(ld: LogDensity, n: int = 4) -> np.ndarray:
    """``n`` unconstrained points around the model's initial point, not on it."""
    rng = np.random.default_rng(1)
    return ld.initial_positions(0, n) + 0.5 * rng.standard_normal((n, ld.dim))


def _to_numpyro(spec, data, constrained: dict) -> dict:
    """NumPyro's own unconstrained values of the free variables of ``constrained``."""
    params = {k: constrained[k] for k in spec.params}
    return unconstrain_fn(spec.numpyro, (), data, params)


def test_paired_models_cover_the_registry():
    # The bridge test is only as good as its coverage: the conjugate models and the
    # benchmarks must all be here.
    assert {"beta_binomial", "gamma_poisson", "normal_normal", "linear_regression"} <= set(PAIRED)
    assert {"eight_schools_noncentered", "funnel", "banana"} <= set(PAIRED)


def test_same_unconstrained_space(bridges):
    spec, data, model, pymc_ld, numpyro_ld = bridges
    assert pymc_ld.dim == numpyro_ld.dim
    value_to_rv = {model.rvs_to_values[rv].name: rv.name for rv in model.free_RVs}
    for x in _points(pymc_ld):
        u = _to_numpyro(spec, data, pymc_ld.constrain(jnp.asarray(x)))
        by_rv = {value_to_rv[k]: np.asarray(v) for k, v in pymc_ld.unravel(jnp.asarray(x)).items()}
        assert set(by_rv) == set(u) == set(spec.params)
        for name in spec.params:
            # Same transform in both PPLs: the unconstrained numbers are the same.
            np.testing.assert_allclose(np.asarray(u[name]), by_rv[name], rtol=1e-8, atol=1e-10)


def test_log_densities_differ_by_a_constant(bridges):
    spec, data, _, pymc_ld, numpyro_ld = bridges
    lp_pymc, lp_numpyro = [], []
    for x in _points(pymc_ld):
        constrained = pymc_ld.constrain(jnp.asarray(x))
        flat, _ = ravel_pytree(_to_numpyro(spec, data, constrained))
        lp_pymc.append(float(pymc_ld.logdensity(jnp.asarray(x))))
        lp_numpyro.append(float(numpyro_ld.logdensity(flat)))
        # Both bridges map the point back to the same constrained values,
        # deterministics included.
        back = numpyro_ld.constrain(flat)
        assert set(back) == set(constrained)
        for k in constrained:
            np.testing.assert_allclose(np.asarray(back[k]), np.asarray(constrained[k]), rtol=1e-8)
    lp_pymc, lp_numpyro = np.array(lp_pymc), np.array(lp_numpyro)
    assert np.all(np.isfinite(lp_pymc)) and np.all(np.isfinite(lp_numpyro))
    # The points are far enough apart for the log density to change ...
    assert np.ptp(lp_pymc) > 1e-2
    # ... but the difference between the two PPLs does not.
    diff = lp_pymc - lp_numpyro
    assert np.ptp(diff) < 1e-6 * (1 + np.abs(lp_pymc).max()), (spec.name, diff)


def test_constant_check_catches_a_different_model():
    # Negative control: the same comparison against a model with another prior must
    # fail, or the check above proves nothing.
    spec, data, _, pymc_ld, _ = _built("beta_binomial")
    wrong = from_numpyro(spec.numpyro, {**data, "a": data["a"] + 3.0})
    diff = []
    for x in _points(pymc_ld):
        flat, _ = ravel_pytree(_to_numpyro(spec, data, pymc_ld.constrain(jnp.asarray(x))))
        diff.append(float(pymc_ld.logdensity(jnp.asarray(x))) - float(wrong.logdensity(flat)))
    assert np.ptp(diff) > 1e-2


@pytest.mark.parametrize("build", ["pymc", "numpyro"])
def test_log_density_is_plus_logp_with_jacobian(build):
    # Against scipy (an independent implementation), with its sign: log density
    # (higher is better) of u = log(lam), i.e. log p(lam | y) + log |d lam / d u|.
    _, data, _, pymc_ld, numpyro_ld = _built("gamma_poisson")
    ld = pymc_ld if build == "pymc" else numpyro_ld
    for u in (0.5, 1.3, 2.0):
        lam = np.exp(u)
        expected = (
            stats.gamma.logpdf(lam, data["a"], scale=1.0 / data["b"])
            + stats.poisson.logpmf(data["counts"], lam).sum()
            + u
        )
        got = float(ld.logdensity(jnp.array([u])))
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert float(ld.constrain(jnp.array([u]))["lam"]) == pytest.approx(lam)


def _check_initial_positions(ld: LogDensity) -> None:
    first = ld.initial_positions(3, 2)
    assert first.shape == (2, ld.dim)
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, ld.initial_positions(3, 2))
    # Jittered: chains start apart, and another seed starts elsewhere.
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first, ld.initial_positions(4, 2))
    # Each start lies in the support.
    assert all(np.isfinite(float(ld.logdensity(jnp.asarray(row)))) for row in first)


def test_initial_positions_pymc(bridges):
    _check_initial_positions(bridges[3])


def test_initial_positions_numpyro():
    # NumPyro compiles its batched initialisation anew on every call (seconds each),
    # so one model with a transformed scalar and a vector stands for all.
    _check_initial_positions(_built("eight_schools_noncentered")[4])


@pytest.mark.parametrize("which", ["pymc", "numpyro"])
def test_constrain_draws_shapes(which):
    # Deterministics come back with the free variables, in the (chain, draw, ...) layout.
    ld = _built("eight_schools_noncentered")[3 if which == "pymc" else 4]
    draws = np.random.default_rng(0).standard_normal((2, 3, ld.dim))
    out = ld.constrain_draws(jnp.asarray(draws))
    assert set(out) == {"mu", "tau", "theta_tilde", "theta"}
    assert out["mu"].shape == out["tau"].shape == (2, 3)
    assert out["theta_tilde"].shape == out["theta"].shape == (2, 3, 8)
    assert all(isinstance(v, np.ndarray) for v in out.values())
    assert np.all(out["tau"] > 0)
    np.testing.assert_allclose(
        out["theta"], out["mu"][..., None] + out["tau"][..., None] * out["theta_tilde"]
    )
    # Draw by draw, the same as constraining one point.
    one = ld.constrain(jnp.asarray(draws[1, 2]))
    np.testing.assert_allclose(out["theta"][1, 2], np.asarray(one["theta"]), rtol=1e-12)


def test_batched_functions_compile_once_per_log_density():
    # Each run of a model (a sweep's scales, a grid's seeds) goes through these: they must
    # reuse one compiled program, not retrace per call.
    ld = _built("eight_schools_noncentered")[4]  # shared: other tests may have compiled
    rng = np.random.default_rng(1)
    compile_seconds = []
    for _ in range(3):
        x = jnp.asarray(rng.standard_normal((5, ld.dim)))
        with clock() as c:
            lp = np.asarray(ld.batched_logdensity(x))
            ld.constrain_draws(x[None])
        compile_seconds.append(c.compile)
    assert ld.batched_logdensity is ld.batched_logdensity
    # The same shapes again: nothing traced or compiled (JAX reports every trace and
    # compile; a fresh jax.jit per call would retrace each time).
    assert compile_seconds[1] == compile_seconds[2] == 0.0, compile_seconds
    np.testing.assert_allclose(lp, [float(ld.logdensity(row)) for row in x], rtol=1e-12)


def test_pymc_unravel_follows_value_vars_order():
    _, _, model, ld, _ = _built("linear_regression_unknown_noise")
    parts = ld.unravel(jnp.arange(float(ld.dim)))
    assert list(parts) == [v.name for v in model.value_vars]
    flat = np.concatenate([np.ravel(parts[v.name]) for v in model.value_vars])
    np.testing.assert_array_equal(flat, np.arange(ld.dim))


def test_discrete_pymc_model_is_refused():
    with pm.Model() as model:
        n = pm.Poisson("n", 3.0)
        pm.Normal("y", n, 1.0, observed=[1.0, 2.0])
        pm.Normal("mu", 0.0, 1.0)
    with pytest.raises(ValueError, match=r"n are discrete"):
        from_pymc(model)
