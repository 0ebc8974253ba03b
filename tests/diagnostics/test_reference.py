"""``diagnostics.reference``: a checked long run (or a user's draws) as the reference posterior.

One short "long" NUTS run of ``normal_normal`` is made per module and checked against
the model's closed form; the comparison runs reuse the session's cached NUTS run. The
refusals are driven by hand-made InferenceData (stuck chains, divergences, one chain)
or by a stubbed sampler, so they cost no compilation.
"""

from __future__ import annotations

from collections.abc import Mapping

import arviz as az
import numpy as np
import pytest

from bayesmin import diagnostics, inference, models
from bayesmin.diagnostics import (
    REFERENCE_ESS_MIN,
    BadReference,
    Reference,
    compare,
    load_reference,
    reference,
    reference_from_idata,
    z_scores,
)

MODEL = "normal_normal"
# 4 chains x 1000 draws of a one-dimensional posterior give a bulk ESS of about 1500:
# enough for the tests (with min_ess lowered to match), a fraction of the defaults' cost.
SMALL = {"chains": 4, "draws": 1000, "tune": 500, "min_ess": 1000}


@pytest.fixture(scope="module")
def long_ref() -> Reference:
    return reference(MODEL, **SMALL)


@pytest.fixture(scope="module")
def exact():
    spec = models.get(MODEL)
    return spec.exact(spec.simulate(0))


def iid(rng_seed: int, *, means=(0.0, 0.0), chains=4, draws=1000, **stats) -> az.InferenceData:
    """``x ~ N(mean_c, 1)`` per chain ``c`` (chains cycle through ``means``) and an
    integer ``k``, with ``sample_stats`` from ``stats``."""
    rng = np.random.default_rng(rng_seed)
    shift = np.resize(np.asarray(means, float), chains)[:, None, None]
    x = shift + rng.standard_normal((chains, draws, 2))
    k = rng.integers(0, 3, (chains, draws))
    sample_stats = {"diverging": np.zeros((chains, draws), bool), **stats}
    return az.from_dict(posterior={"x": x, "k": k}, sample_stats=sample_stats)


# ----------------------------------------------------------------------------- a long run


def test_long_run_matches_the_closed_form(long_ref, exact):
    assert isinstance(long_ref, Mapping) and list(long_ref) == ["mu"] and len(long_ref) == 1
    assert long_ref.source == "long NUTS run: 4 chains × 1000 draws (nuts)"
    assert long_ref.min_ess == 1000
    checks = long_ref.checks
    assert set(checks) == {"rhat_max", "ess_bulk_min", "divergences", "worst_parameter"}
    assert checks["rhat_max"] <= diagnostics.RHAT_MAX and checks["divergences"] == 0
    assert checks["ess_bulk_min"] >= 1000 and checks["worst_parameter"] == "mu"
    mu = long_ref["mu"]
    # The reference's MCSEs are ArviZ's on its own draws ...
    assert mu.mcse_mean == pytest.approx(float(az.mcse(long_ref.idata, method="mean").mu))
    assert mu.mcse_sd == pytest.approx(float(az.mcse(long_ref.idata, method="sd").mu))
    # ... and the closed form lies within 4 of them (the closed form has none).
    z = z_scores(long_ref.idata, exact).set_index("statistic")
    np.testing.assert_allclose(z.estimate, [mu.mean, mu.sd])
    np.testing.assert_allclose(z.mcse, [mu.mcse_mean, mu.mcse_sd])
    assert z.z.abs().max() < diagnostics.Z_MAX, z


def test_compare_against_the_long_run_and_a_shrunk_negative_control(long_ref, run_cache):
    run = run_cache(MODEL, "nuts:numpyro")  # seed 0: independent of the reference's seed
    shrunk = run.copy()
    post = shrunk.posterior
    shrunk.posterior = post.assign(mu=post.mu.mean() + 0.5 * (post.mu - post.mu.mean()))
    table = compare({"nuts": run, "shrunk": shrunk}, long_ref)
    assert list(table.columns) == list(diagnostics.COMPARE_COLUMNS)
    assert table.loc["nuts", "max_abs_z"] < diagnostics.Z_MAX
    # The sd ratio is 1 (0.5 for the shrunk run) within 4 of its relative Monte Carlo
    # error: the run's and the reference's combined.
    z = z_scores(run, long_ref).set_index("statistic")
    assert z.loc["mean", "mcse_reference"] == long_ref["mu"].mcse_mean  # the reference's own
    z = z.loc["sd"]
    rel = np.hypot(z.mcse / z.estimate, z.mcse_reference / z.truth)
    assert table.loc["nuts", "sd_ratio_worst"] == pytest.approx(1.0, abs=4 * rel)
    assert table.loc["shrunk", "sd_ratio_worst"] == pytest.approx(0.5, abs=4 * 0.5 * rel)
    assert table.loc["shrunk", "max_abs_z"] >= diagnostics.Z_MAX
    assert not diagnostics.verdict(table.loc["shrunk"], ess_min=None).passed


def test_save_and_load_keep_moments_source_and_settings(long_ref, tmp_path):
    attrs_before = dict(long_ref.idata.posterior.attrs)
    path = long_ref.save(tmp_path / "run" / "reference.nc")
    assert path == tmp_path / "run" / "reference.nc"
    assert [p.name for p in path.parent.iterdir()] == ["reference.nc"]  # no temp file left
    assert dict(long_ref.idata.posterior.attrs) == attrs_before  # save changes nothing
    loaded = load_reference(path)
    assert loaded.source == long_ref.source and loaded.min_ess == long_ref.min_ess
    assert list(loaded) == list(long_ref)
    for field in ("mean", "sd", "mcse_mean", "mcse_sd"):
        np.testing.assert_allclose(getattr(loaded["mu"], field), getattr(long_ref["mu"], field))
    assert loaded.checks["worst_parameter"] == long_ref.checks["worst_parameter"]
    for key in ("rhat_max", "ess_bulk_min", "divergences"):
        assert loaded.checks[key] == pytest.approx(long_ref.checks[key])
    # Saving over a reference that was read from the same file is safe (it was read whole).
    loaded.save(path)
    assert load_reference(path).source == long_ref.source
    # An explicit min_ess wins over the saved one.
    with pytest.raises(BadReference, match="bulk ESS"):
        load_reference(path, min_ess=10**6)


# ----------------------------------------------------------------------------- refusals


def test_too_short_a_run_is_refused_with_the_draws_it_needs(monkeypatch, run_cache):
    run = run_cache(MODEL, "nuts:numpyro")  # stands in for the long run: no compilation
    monkeypatch.setattr(inference, "sample", lambda *a, **k: run)
    ess = float(az.ess(run, method="bulk").mu)
    with pytest.raises(BadReference) as err:
        reference(MODEL, draws=1000, min_ess=10 * ess)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"reference run too short: bulk ESS {ess:.0f} < ")
    assert " for mu; run it longer (draws=" in message
    need = int(message.split("draws=")[1].split()[0])
    assert 10_000 <= need <= 12_000  # ten times the ESS asked: about ten times the draws


def test_sampler_choice(monkeypatch, run_cache):
    import pymc as pm

    run = run_cache(MODEL, "nuts:numpyro")
    chosen = []
    monkeypatch.setattr(inference, "sample", lambda t, s, **k: chosen.append(s) or run)
    with pm.Model() as continuous:
        pm.Normal("mu")
    with pm.Model() as discrete:
        pm.Normal("mu")
        pm.Poisson("k", 3.0)
    for target in (MODEL, continuous, discrete):
        reference(target, min_ess=100)
    reference(discrete, sampler="mh", min_ess=100)
    assert chosen == ["nuts", "nuts", "nuts:pymc", "mh"]
    assert reference(MODEL, sampler="mh", min_ess=100).source.startswith("long run: 4 chains")
    with pytest.raises(ValueError, match="min_ess must be a number >= 0"):
        reference(MODEL, min_ess=-1)


def test_users_draws_keep_only_the_continuous_variables():
    ref = reference_from_idata(iid(0), source="draws from fit.nc", min_ess=1000)
    assert list(ref) == ["x"] and ref.source == "draws from fit.nc"
    assert ref["x"].mean.shape == ref["x"].mcse_sd.shape == (2,)
    assert ref.checks["worst_parameter"] in {"x[0]", "x[1]"}
    assert ref.min_ess == 1000 and REFERENCE_ESS_MIN == 2000


@pytest.mark.parametrize(
    ("idata", "min_ess", "message"),
    [
        # Chains stuck in different modes: R-hat far above 1.01, named with its element.
        (
            iid(1, means=(0.0, 3.0)),
            100,
            r"^reference draws not converged: R-hat \d\.\d{3} > 1.01 for x\[\d\]; give longer",
        ),
        (
            iid(2, diverging=np.eye(4, 1000, dtype=bool)),
            100,
            "^reference draws biased: 4 divergences; refit with a higher target acceptance",
        ),
        (iid(3, chains=1), 100, "^reference draws: 1 chain, .*; give at least 2 chains"),
        # 4000 iid draws cannot reach an ESS of 10^5.
        (iid(4), 100_000, r"^reference draws too short: bulk ESS \d+ < 100000 for x\[\d\]"),
        (
            az.from_dict(posterior={"k": np.ones((2, 10), int)}),
            100,
            "^reference draws: no draws of a continuous variable",
        ),
    ],
    ids=["stuck-chains", "divergences", "one-chain", "too-few-draws", "discrete-only"],
)
def test_unfit_draws_are_refused(idata, min_ess, message):
    with pytest.raises(BadReference, match=message) as err:
        reference_from_idata(idata, source="draws", min_ess=min_ess)
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)


def test_bad_files_are_refused_in_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^no such file: .*missing\.nc$"):
        load_reference(tmp_path / "missing.nc")
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"not a netCDF file")
    with pytest.raises(BadReference, match=r"^cannot read .*garbage\.nc as InferenceData"):
        load_reference(garbage)
    no_posterior = tmp_path / "prior.nc"
    az.from_dict(prior={"x": np.zeros((1, 10))}).to_netcdf(str(no_posterior))
    with pytest.raises(BadReference, match=r"prior\.nc has no posterior group"):
        load_reference(no_posterior)
    one_chain = tmp_path / "one_chain.nc"
    iid(5, chains=1).to_netcdf(str(one_chain))
    with pytest.raises(BadReference, match="give at least 2 chains"):
        load_reference(one_chain, min_ess=100)
    # A user's file without saved settings: its path is the source.
    good = tmp_path / "good.nc"
    iid(6).to_netcdf(str(good))
    assert load_reference(good, min_ess=1000).source == f"draws from {good}"
