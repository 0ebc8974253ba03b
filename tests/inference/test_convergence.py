"""The convergence check of every sampler's result (``inference.convergence``).

Negative controls are synthetic InferenceData (no sampling, milliseconds): chains in
different modes, AR(1) chains too autocorrelated for their length, divergences, one bad
parameter among good ones. The sampled tests: a converged NUTS run passes silently; our
``mh`` at its defaults on the two posteriors of issue 15 either converges or warns.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest

from bayesmin.inference import ConvergenceWarning, check_convergence
from bayesmin.inference import convergence as conv


def _hard_models():
    # tests/ is not a package (--import-mode=importlib): load the sibling module by path.
    path = Path(__file__).with_name("hard_models.py")
    spec = importlib.util.spec_from_file_location("bayesmin_tests_hard_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _idata(posterior, *, lp=None, diverging=None, sampler="mh"):
    stats = {}
    if lp is not None:
        stats["lp"] = lp
    if diverging is not None:
        stats["diverging"] = diverging
    idata = az.from_dict(posterior=posterior, sample_stats=stats or None)
    idata.attrs = {"sampler": sampler}
    return idata


def _ar1(rng, phi, chains, draws, size=()):
    """Stationary AR(1) chains with unit marginal variance: ESS per draw ~ (1-phi)/(1+phi)."""
    eps = rng.normal(size=(chains, draws, *size)) * np.sqrt(1 - phi**2)
    x = np.empty_like(eps)
    x[:, 0] = rng.normal(size=(chains, *size))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + eps[:, t]
    return x


# ------------------------------------------------------------------- synthetic controls


def test_independent_draws_pass():
    rng = np.random.default_rng(0)
    v = check_convergence(_idata({"theta": rng.normal(size=(4, 500, 3))}))
    assert v.ok and not v.problems and not v.worst
    assert v.rhat_max < 1.01 and v.ess_bulk_min >= 400 and v.ess_tail_min >= 400
    assert v.line.startswith("converged (4 chains × 500 draws): R-hat")
    assert v.remedy == ""


def test_two_chains_in_different_modes_fail_rhat_and_stuck_naming_the_parameter():
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(4, 500, 2))
    theta[2:, :, 1] += 8.0  # chains 2 and 3 sit 8 sds away in theta[1]
    lp = -0.5 * (theta**2).sum(-1)
    v = check_convergence(_idata({"theta": theta}, lp=lp))
    assert not v.ok
    assert {"rhat", "stuck"} <= set(v.kinds)
    assert v.worst[0] == "theta[1]"
    assert "theta[0]" not in v.worst  # it mixes: R-hat fine, ESS fine
    assert any(p.startswith("R-hat") and "theta[1]" in p for p in v.problems)
    assert "reparameterisation" in v.remedy and "another sampler (nuts)" in v.remedy


def test_one_chain_stuck_in_a_minor_mode_is_named_by_lp():
    # Chain 3 explores a mode whose log density is lower by ~40 within-chain sds:
    # the stuck check names it (and only it), whatever R-hat says.
    rng = np.random.default_rng(2)
    mu = rng.normal(size=(4, 1000))
    mu[3] += 6.0
    lp = -0.5 * mu**2
    lp[3] = -0.5 * (mu[3] - 6.0) ** 2 - 40.0
    v = check_convergence(_idata({"mu": mu}, lp=lp))
    assert v.stuck_chains == (3,)
    assert "chain 3 stuck apart from the others" in v.line


def test_well_mixed_chains_are_not_called_stuck():
    # Negative control of the stuck check: four chains of one AR(1) process, ESS per
    # chain well above 100, never flagged, however many parameters.
    rng = np.random.default_rng(3)
    x = _ar1(rng, 0.5, 4, 2000, (20,))
    v = check_convergence(_idata({"x": x}, lp=-0.5 * (x**2).sum(-1)))
    assert v.ok, v.line
    assert v.stuck_chains == ()


def test_autocorrelated_chains_fail_ess_with_the_remedy():
    rng = np.random.default_rng(4)
    x = _ar1(rng, 0.98, 4, 500)  # ESS ~ 4 * 500 * 0.01 = 20 < 400
    v = check_convergence(_idata({"x": x}))
    assert not v.ok and "ess" in v.kinds
    assert v.ess_bulk_min < 400 and v.ess_min == 400
    assert any("ESS" in p and "< 400" in p for p in v.problems)
    assert "until_ess=400" in v.remedy and "more draws" in v.remedy


def test_a_marginal_rhat_also_suggests_a_longer_run():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, 1000))
    x[1] += 0.35  # chains a little apart: R-hat ~1.02, ESS fine
    v = check_convergence(_idata({"x": x}))
    assert v.kinds == ("rhat",) and 1.01 <= v.rhat_max < 1.05, v.line
    assert "more draws" in v.remedy and "longer warm-up" in v.remedy


def test_ess_threshold_is_per_chain():
    rng = np.random.default_rng(5)
    idata = _idata({"x": rng.normal(size=(4, 150))})  # ESS ~ 600 total, 150 per chain
    assert check_convergence(idata).ok
    v = check_convergence(idata, ess_per_chain_min=200)
    assert not v.ok and v.ess_min == 800


def test_divergences_are_counted_and_named():
    rng = np.random.default_rng(6)
    diverging = np.zeros((4, 500), dtype=bool)
    diverging[1, [10, 20, 30]] = True
    v = check_convergence(_idata({"x": rng.normal(size=(4, 500))}, diverging=diverging))
    assert not v.ok and v.kinds == ("divergences",) and v.divergences == 3
    assert "3 divergent transition(s)" in v.line
    assert "raise target_accept" in v.remedy


def test_the_worst_parameter_is_named_first_among_several():
    rng = np.random.default_rng(7)
    theta = rng.normal(size=(4, 1000, 5))
    theta[..., 3] = _ar1(rng, 0.995, 4, 1000)  # the only one that mixes badly
    theta[..., 1] = _ar1(rng, 0.9, 4, 1000)  # slower than the rest, but ESS ~ 200
    v = check_convergence(_idata({"theta": theta, "sigma": np.abs(rng.normal(size=(4, 1000)))}))
    assert not v.ok
    assert v.worst[0] == "theta[3]"
    assert "sigma" not in v.worst and "theta[0]" not in v.worst


def test_one_chain_checks_ess_only_and_says_so():
    rng = np.random.default_rng(8)
    v = check_convergence(_idata({"x": rng.normal(size=(1, 500))}))
    assert v.ok and np.isnan(v.rhat_max)
    assert "one chain: R-hat not computed" in v.line


def test_too_few_draws_fail_without_raising():
    v = check_convergence(_idata({"x": np.array([[0.0, 1.0], [1.0, 0.0]])}))
    assert not v.ok and "too few" in v.problems[0]


def test_constants_are_skipped():
    rng = np.random.default_rng(9)
    v = check_convergence(_idata({"x": rng.normal(size=(4, 500)), "c": np.ones((4, 500))}))
    assert v.ok, v.line


@pytest.mark.parametrize("sampler", ["advi:jax", "fullrank_advi:pymc", "advi:numpyro"])
def test_variational_results_are_not_checked(sampler):
    rng = np.random.default_rng(10)
    x = _ar1(rng, 0.99, 4, 100)  # would fail as MCMC
    v = check_convergence(_idata({"x": x}, sampler=sampler))
    assert v.ok and not v.mcmc and v.line.startswith("not checked")


def test_the_record_survives_netcdf(tmp_path):
    rng = np.random.default_rng(11)
    idata = _idata({"x": _ar1(rng, 0.99, 2, 100)})
    conv.record(idata, check_convergence(idata))
    idata.to_netcdf(str(tmp_path / "run.nc"))
    back = az.from_netcdf(str(tmp_path / "run.nc"))
    assert back.attrs["converged"] == 0
    assert str(back.attrs["convergence"]).startswith("did not converge")


# ------------------------------------------------------------------------- sampled runs


def test_a_converged_run_passes_silently():
    from bayesmin import inference

    # Four chains: with two, R-hat's own noise crosses 1.01 in short runs that are fine.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = inference.sample(
            "normal_normal", "mh", draws=2000, tune=500, chains=4, seed=0, progress=False
        )
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert idata.attrs["converged"] == 1
    assert idata.attrs["convergence"].startswith("converged (4 chains × 2000 draws)")


def test_a_short_mh_run_warns_once_at_the_callers_line():
    from bayesmin import inference

    with pytest.warns(ConvergenceWarning) as caught:
        idata = inference.sample("normal_normal", "mh", draws=20, tune=20, chains=2, progress=False)
    ours = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(ours) == 1
    assert Path(ours[0].filename) == Path(__file__)  # the warning points at this call
    text = str(ours[0].message)
    assert text.startswith("bayesmin: mh on normal_normal did not converge: ")
    assert "mu" in text and "remedy: " in text
    assert idata.attrs["converged"] == 0 and "did not converge" in idata.attrs["convergence"]


def test_check_false_records_nothing_and_stays_silent():
    from bayesmin import inference

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        idata = inference.sample(
            "normal_normal", "mh", draws=20, tune=20, chains=2, progress=False, check=False
        )
    assert "convergence" not in idata.attrs


@pytest.mark.slow  # ADVI compiles its own optimiser; the synthetic test above is the check
def test_variational_sampling_does_not_warn():
    from bayesmin import inference

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        idata = inference.sample("normal_normal", "advi", draws=20, chains=2, progress=False)
    assert idata.attrs["converged"] == 1 and idata.attrs["convergence"].startswith("not checked")


# The two posteriors of issue 15, at mh's defaults: either R-hat < 1.01 or a warning.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["ordered_mixture", "gp_poisson"])
def test_mh_on_hard_posteriors_converges_or_says_so(name):
    from bayesmin import inference

    model, data = getattr(_hard_models(), name)()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = inference.sample(model, "mh", data=data, progress=False)
    warned = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    rhat = float(az.rhat(idata).to_array().max())
    if rhat >= 1.01:
        assert len(warned) == 1 and idata.attrs["converged"] == 0
    else:
        assert idata.attrs["converged"] == int(not warned)
