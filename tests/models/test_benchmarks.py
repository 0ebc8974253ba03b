"""Tests of the sampler benchmarks in ``models/benchmarks.py`` (no MCMC).

Three independent descriptions of each target must agree: the PyMC model, the NumPyro
model, and the paper's definition written here with scipy (log density) and numpy
(iid draws). The iid draws then check the closed-form moments in ``exact``.
"""

from __future__ import annotations

import jax
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density
from scipy import integrate, stats

from bayesmin.models import base, benchmarks  # noqa: F401  (importing registers the benchmarks)
from bayesmin.models.base import DataError, Exact

NAMES = (
    "eight_schools_centered",
    "eight_schools_noncentered",
    "funnel",
    "banana",
    "correlated_gaussian",
)

# Deterministic sites each model exposes besides its free variables.
DETERMINISTICS = {"eight_schools_noncentered": ("theta",)}


def spec(name: str) -> base.ModelSpec:
    # Read the registry directly: ``models.get`` imports every topic module, and this
    # file should test the benchmarks whatever state the other modules are in.
    return base._REGISTRY[name]


@pytest.fixture(scope="module", params=NAMES)
def built(request):
    """``(name, data, pymc model, numpyro trace)`` for each benchmark, built once."""
    s = spec(request.param)
    data = s.simulate(0)
    model = s.pymc(data)
    trace = handlers.trace(handlers.seed(s.numpyro, 0)).get_trace(**data)
    return request.param, data, model, trace


# ----------------------------------------------------------------------------- (a) building


def test_registered_as_benchmarks():
    for name in NAMES:
        s = spec(name)
        assert s.name == name
        assert s.topic == 8
        assert s.tags == ("benchmark",)
        assert s.pymc is not None and s.numpyro is not None
        assert s.title and "\n" not in s.title


def test_both_ppls_build_with_same_variables(built):
    name, _, model, trace = built
    s = spec(name)
    free_pymc = tuple(rv.name for rv in model.free_RVs)
    free_numpyro = tuple(
        k for k, site in trace.items() if site["type"] == "sample" and not site["is_observed"]
    )
    assert free_pymc == s.params
    assert free_numpyro == s.params
    assert tuple(v.name for v in model.deterministics) == DETERMINISTICS.get(name, ())
    det_numpyro = tuple(k for k, site in trace.items() if site["type"] == "deterministic")
    assert det_numpyro == DETERMINISTICS.get(name, ())
    observed_pymc = tuple(rv.name for rv in model.observed_RVs)
    observed_numpyro = tuple(
        k for k, site in trace.items() if site["type"] == "sample" and site["is_observed"]
    )
    assert observed_pymc == observed_numpyro

    draws = pm.draw([model[k] for k in (*s.params, *DETERMINISTICS.get(name, ()))], random_seed=1)
    for k, value in zip((*s.params, *DETERMINISTICS.get(name, ())), draws, strict=True):
        assert np.shape(value) == np.shape(trace[k]["value"]), k


def test_exact_matches_variable_shapes(built):
    name, data, _, trace = built
    s = spec(name)
    if name.startswith("eight_schools"):
        assert s.exact is None  # no closed-form posterior: claim none
        return
    exact = s.exact(data)
    assert set(exact) <= set(s.params)
    for k, ref in exact.items():
        shape = np.shape(trace[k]["value"])
        assert np.shape(ref.mean) == shape and np.shape(ref.sd) == shape
        if ref.marginals is not None:
            assert len(ref.marginals) == max(int(np.prod(shape)), 1)


def test_eight_schools_data_are_rubins():
    data = spec("eight_schools_centered").simulate(123)  # the seed is ignored
    np.testing.assert_array_equal(data["y"], [28, 8, -3, 7, -1, 1, 18, 12])
    np.testing.assert_array_equal(data["sigma"], [15, 10, 16, 11, 9, 11, 10, 18])
    data["y"][0] = 0.0  # a caller's edit must not leak into the next simulate
    assert spec("eight_schools_noncentered").simulate(0)["y"][0] == 28


def test_eight_schools_from_frame():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "sigma": [1.0, 1.0, 2.0], "school": list("abc")})
    data = spec("eight_schools_centered").from_frame(df)
    model = spec("eight_schools_centered").pymc(data)
    assert model["theta"].type.shape == (3,)
    with pytest.raises(DataError, match="sigma"):
        spec("eight_schools_centered").from_frame(df.drop(columns="sigma"))


# ----------------------------------------------------------------------------- (b) log density


def reference_logp(name: str, data: dict, point: dict) -> float:
    """The papers' definitions, written with scipy, independent of both PPLs."""
    if name in ("eight_schools_centered", "eight_schools_noncentered"):
        mu, tau = point["mu"], point["tau"]
        if name == "eight_schools_centered":
            theta = point["theta"]
            lp = stats.norm.logpdf(theta, mu, tau).sum()
        else:
            theta = mu + tau * point["theta_tilde"]
            lp = stats.norm.logpdf(point["theta_tilde"]).sum()
        return (
            stats.norm.logpdf(mu, 0, 5)
            + stats.halfcauchy.logpdf(tau, scale=5)
            + lp
            + stats.norm.logpdf(data["y"], theta, data["sigma"]).sum()
        )
    if name == "funnel":
        v, x = point["v"], point["x"]
        return stats.norm.logpdf(v, 0, data["scale"]) + stats.norm.logpdf(x, 0, np.exp(v / 2)).sum()
    if name == "banana":
        # Haario et al.: f(phi_b(x)), f = N(0, diag(s^2, 1)), phi_b has unit Jacobian.
        b, s = data["b"], data["scale"]
        x1, x2 = point["x1"], point["x2"]
        phi = [x1, x2 + b * x1**2 - b * s**2]
        return stats.multivariate_normal.logpdf(phi, cov=np.diag([s**2, 1.0]))
    if name == "correlated_gaussian":
        return stats.multivariate_normal.logpdf(point["x"], data["mu"], data["cov"])
    raise AssertionError(name)


def random_points(model: pm.Model, params: tuple[str, ...], n: int, seed: int) -> list[dict]:
    """Prior draws of the free variables, in the constrained space."""
    draws = pm.draw([model[k] for k in params], draws=n, random_seed=seed)
    return [
        {k: np.asarray(d[i], dtype=float) for k, d in zip(params, draws, strict=True)}
        for i in range(n)
    ]


def pymc_value_point(model: pm.Model, point: dict) -> dict:
    """Map a constrained point to PyMC's value variables (``tau`` -> ``tau_log__``)."""
    out = {}
    for rv in model.free_RVs:
        value = point[rv.name]
        transform = model.rvs_to_transforms.get(rv)
        if transform is not None:
            value = transform.forward(pt.as_tensor(value), *rv.owner.inputs).eval()
        out[model.rvs_to_values[rv].name] = np.asarray(value, dtype=float)
    return out


def numpyro_logp(fn, data: dict, point: dict) -> float:
    # float64 only inside this block, so other tests keep JAX's default.
    with jax.enable_x64(True):
        lp, _ = log_density(fn, (), data, point)
        return float(lp)


def test_pymc_numpyro_and_paper_agree_on_log_density(built):
    name, data, model, _ = built
    s = spec(name)
    # jacobian=False: the density of the constrained values, the same quantity
    # NumPyro's log_density returns for constrained params.
    logp = model.compile_logp(jacobian=False)
    points = random_points(model, s.params, n=5, seed=7)
    for point in points:
        lp_pymc = float(logp(pymc_value_point(model, point)))
        lp_numpyro = numpyro_logp(s.numpyro, data, point)
        lp_ref = reference_logp(name, data, point)
        assert np.isfinite(lp_ref)
        np.testing.assert_allclose(lp_pymc, lp_ref, rtol=1e-9, atol=1e-7)
        np.testing.assert_allclose(lp_numpyro, lp_ref, rtol=1e-9, atol=1e-7)


def test_log_density_check_sees_a_mirrored_banana():
    # Negative control: the other sign convention of the banana, x2 | x1 ~
    # N(+b (x1^2 - s^2), 1), has the same moments but must fail the density check.
    s = spec("banana")
    data = s.simulate(0)
    point = {"x1": np.asarray(12.0), "x2": np.asarray(-1.3)}
    mirrored = {"x1": point["x1"], "x2": -point["x2"]}
    assert abs(numpyro_logp(s.numpyro, data, point) - reference_logp("banana", data, mirrored)) > 1


def test_eight_schools_parameterisations_are_one_model():
    # theta = mu + tau * theta_tilde has Jacobian tau^J, so the two log densities
    # differ by exactly J log tau at corresponding points.
    c, nc = spec("eight_schools_centered"), spec("eight_schools_noncentered")
    data = c.simulate(0)
    rng = np.random.default_rng(3)
    for _ in range(3):
        mu, tau, tt = rng.normal(0, 5), np.exp(rng.normal()), rng.normal(size=8)
        lp_c = numpyro_logp(c.numpyro, data, {"mu": mu, "tau": tau, "theta": mu + tau * tt})
        lp_nc = numpyro_logp(nc.numpyro, data, {"mu": mu, "tau": tau, "theta_tilde": tt})
        np.testing.assert_allclose(lp_nc, lp_c + 8 * np.log(tau), rtol=1e-10)


# ----------------------------------------------------------------------------- (c) exact moments

N_IID = 400_000
Z_MAX = 4.0


def moment_z(draws: np.ndarray, ref: Exact) -> tuple[np.ndarray, np.ndarray]:
    """z-scores of the sample mean and sd of ``draws`` (first axis: draws) against ``ref``.

    The sd's Monte Carlo standard error is the delta method on the variance:
    ``se(sd) = se(var) / (2 sd)``, with ``se(var)`` from the spread of squared deviations.
    """
    n = draws.shape[0]
    mean = draws.mean(axis=0)
    sd = draws.std(axis=0, ddof=1)
    se_mean = sd / np.sqrt(n)
    se_sd = ((draws - mean) ** 2).std(axis=0, ddof=1) / np.sqrt(n) / (2 * sd)
    return (mean - ref.mean) / se_mean, (sd - ref.sd) / se_sd


def assert_moments(draws: np.ndarray, ref: Exact) -> None:
    z_mean, z_sd = moment_z(draws, ref)
    assert np.all(np.abs(z_mean) < Z_MAX), z_mean
    assert np.all(np.abs(z_sd) < Z_MAX), z_sd


def funnel_iid(rng, n: int, d: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    v = rng.normal(0.0, scale, size=n)
    x = rng.normal(size=(n, d - 1)) * np.exp(v / 2)[:, None]
    return v, x


def banana_iid(rng, n: int, b: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    # Invert Haario's twist: (x1, x2 + b x1^2 - b s^2) ~ N(0, diag(s^2, 1)).
    x1 = rng.normal(0.0, scale, size=n)
    x2 = rng.normal(size=n) - b * (x1**2 - scale**2)
    return x1, x2


@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_funnel_moments_iid(scale):
    # At Neal's scale 3, x has a lognormal variance whose own variance (e^18) is
    # beyond any affordable sample; the formula is checked here at milder scales
    # and at scale 3 by quadrature below.
    data = spec("funnel").simulate(0, d=4, scale=scale)
    exact = spec("funnel").exact(data)
    v, x = funnel_iid(np.random.default_rng(11), N_IID, data["d"], scale)
    assert_moments(v, exact["v"])
    assert_moments(x, exact["x"])
    # Negative control: the sd of x "at the typical v" (e^0 = 1) is a common slip.
    wrong = Exact(exact["x"].mean, np.ones(data["d"] - 1))
    assert np.all(np.abs(moment_z(x, wrong)[1]) > Z_MAX)


def test_funnel_default_exact():
    data = spec("funnel").simulate(0)
    assert data == {"d": 10, "scale": 3.0}
    exact = spec("funnel").exact(data)
    assert exact["v"].marginals[0].std() == 3.0
    assert exact["x"].marginals is None
    # E[Var(x_i | v)] = E[e^v] under v ~ N(0, 3), by quadrature.
    var_x, _ = integrate.quad(lambda v: np.exp(v) * stats.norm.pdf(v, 0, 3), -60, 60)
    np.testing.assert_allclose(exact["x"].sd, np.sqrt(var_x), rtol=1e-8)
    np.testing.assert_allclose(exact["x"].sd, np.sqrt(np.exp(4.5)))
    np.testing.assert_allclose(exact["x"].cov, np.eye(9) * var_x, rtol=1e-8)
    v, _ = funnel_iid(np.random.default_rng(12), N_IID, 10, 3.0)
    assert_moments(v, exact["v"])


@pytest.mark.parametrize("b", [0.03, 0.1])
def test_banana_moments_iid(b):
    data = spec("banana").simulate(0, b=b)
    exact = spec("banana").exact(data)
    x1, x2 = banana_iid(np.random.default_rng(13), N_IID, b, data["scale"])
    assert_moments(x1, exact["x1"])
    assert_moments(x2, exact["x2"])
    assert exact["x1"].marginals[0].std() == 10.0
    assert exact["x2"].marginals is None
    # Negative control: claiming x2's sd is the conditional sd, 1, must fail.
    wrong = Exact(np.asarray(0.0), np.asarray(1.0))
    assert abs(moment_z(x2, wrong)[1]) > Z_MAX


def test_banana_default_sd_is_sqrt_19():
    exact = spec("banana").exact(spec("banana").simulate(0))
    np.testing.assert_allclose(exact["x2"].sd, np.sqrt(19.0))
    assert float(exact["x2"].mean) == 0.0


def test_correlated_gaussian_moments_iid():
    d, rho = 5, 0.9
    data = spec("correlated_gaussian").simulate(0, d=d, rho=rho)
    exact = spec("correlated_gaussian").exact(data)["x"]
    scales = np.logspace(-1, 1, d)
    # One-factor construction of equicorrelation, independent of the code that
    # builds cov: x_i = s_i (sqrt(rho) w_0 + sqrt(1 - rho) w_i).
    rng = np.random.default_rng(14)
    w0 = rng.normal(size=(N_IID, 1))
    x = scales * (np.sqrt(rho) * w0 + np.sqrt(1 - rho) * rng.normal(size=(N_IID, d)))
    assert_moments(x, exact)
    np.testing.assert_allclose(exact.sd, scales)
    corr = np.corrcoef(x, rowvar=False)[np.triu_indices(d, 1)]
    se_corr = (1 - rho**2) / np.sqrt(N_IID)
    exact_corr = (exact.cov / np.outer(exact.sd, exact.sd))[np.triu_indices(d, 1)]
    assert np.all(np.abs(corr - exact_corr) / se_corr < Z_MAX)
    # Negative control: unit scales (the plain equicorrelated target) must fail.
    wrong = Exact(exact.mean, np.ones(d))
    assert np.sum(np.abs(moment_z(x, wrong)[1]) > Z_MAX) == d - 1  # the middle scale is 1


def test_correlated_gaussian_negative_rho_boundary():
    # PD exactly for rho > -1/(d-1): just inside builds, the boundary does not.
    data = spec("correlated_gaussian").simulate(0, d=5, rho=-0.249)
    assert np.linalg.eigvalsh(data["cov"]).min() > 0
    with pytest.raises(DataError, match="rho"):
        spec("correlated_gaussian").simulate(0, d=5, rho=-0.25)


# ----------------------------------------------------------------------------- (d) bad input

BAD = [
    ("funnel", {"d": 1}, "d"),
    ("funnel", {"d": 2.5}, "d"),
    ("funnel", {"d": True}, "d"),
    ("funnel", {"scale": 0.0}, "scale"),
    ("funnel", {"scale": -3.0}, "scale"),
    ("funnel", {"scale": float("nan")}, "scale"),
    ("funnel", {"scale": "wide"}, "scale"),
    ("banana", {"b": float("nan")}, "b"),
    ("banana", {"b": float("inf")}, "b"),
    ("banana", {"scale": 0.0}, "scale"),
    ("banana", {"scale": -10.0}, "scale"),
    ("correlated_gaussian", {"d": 1}, "d"),
    ("correlated_gaussian", {"rho": 1.0}, "rho"),
    ("correlated_gaussian", {"rho": 1.5}, "rho"),
    ("correlated_gaussian", {"rho": -0.5}, "rho"),
    ("correlated_gaussian", {"rho": float("nan")}, "rho"),
    ("correlated_gaussian", {"d": 3, "scales": [1.0, 2.0]}, "scales"),
    ("correlated_gaussian", {"d": 2, "scales": [1.0, 0.0]}, "scales"),
]


@pytest.mark.parametrize(("name", "kwargs", "word"), BAD)
def test_bad_hyperparameters_raise_one_line(name, kwargs, word):
    with pytest.raises(DataError, match=word) as err:
        spec(name).simulate(0, **kwargs)
    assert "\n" not in str(err.value)


BAD_DATA = [
    ("eight_schools_centered", {"y": [1.0, 2.0], "sigma": [1.0, 0.0]}, "sigma"),
    ("eight_schools_noncentered", {"y": [1.0, 2.0], "sigma": [1.0, -1.0]}, "sigma"),
    ("eight_schools_centered", {"y": [1.0, 2.0], "sigma": [1.0]}, "length"),
    ("eight_schools_centered", {"y": [1.0, np.nan], "sigma": [1.0, 1.0]}, "NaN"),
    ("eight_schools_centered", {"y": [1.0]}, "sigma"),
    ("funnel", {"d": 0, "scale": 3.0}, "d"),
    ("banana", {"b": 0.03, "scale": -1.0}, "scale"),
    (
        "correlated_gaussian",
        {"mu": np.zeros(2), "cov": np.array([[1.0, 2.0], [2.0, 1.0]])},
        "positive definite",
    ),
    (
        "correlated_gaussian",
        {"mu": np.zeros(2), "cov": np.array([[1.0, 0.5], [0.0, 1.0]])},
        "symmetric",
    ),
    ("correlated_gaussian", {"mu": np.zeros(3), "cov": np.eye(2)}, "match mu"),
]


@pytest.mark.parametrize(("name", "data", "word"), BAD_DATA)
def test_bad_data_passed_to_builders_raise(name, data, word):
    with pytest.raises(DataError, match=word) as err:
        spec(name).pymc(data)
    assert "\n" not in str(err.value)
