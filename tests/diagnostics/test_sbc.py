"""Simulation-based calibration: the prior draw, the ranks, the uniformity tests, end to end."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmin import models
from bayesmin.diagnostics import sbc
from bayesmin.inference import mh
from bayesmin.reports import sbc as sbc_run


def test_prior_draw_follows_the_models_own_prior():
    spec = models.get("normal_normal")
    data = spec.simulate(0, n=5)
    draws = np.array([float(sbc.prior_draw(spec, data, s)[0]["mu"]) for s in range(400)])
    # mu ~ N(mu0, tau0): the mean within 4 standard errors, the sd within 4 of its s.e.
    mean_z = (draws.mean() - data["mu0"]) / (data["tau0"] / np.sqrt(draws.size))
    sd_z = (draws.std(ddof=1) - data["tau0"]) / (data["tau0"] / np.sqrt(2 * draws.size))
    assert abs(mean_z) < 4 and abs(sd_z) < 4
    # A wrong prior scale (a negative control for the check itself) is far outside.
    assert abs((draws.std(ddof=1) - 2 * data["tau0"]) / (data["tau0"] / np.sqrt(800))) > 4


def test_prior_draw_replaces_only_the_observations():
    spec = models.get("gamma_poisson")
    data = spec.simulate(0)
    theta, new = sbc.prior_draw(spec, data, 3)
    assert set(theta) == set(spec.params)
    assert set(new) == set(data)
    observed = [k for k in data if not np.array_equal(np.asarray(data[k]), np.asarray(new[k]))]
    assert len(observed) == 1
    key = observed[0]
    assert new[key].dtype == np.asarray(data[key]).dtype and new[key].shape == np.shape(data[key])
    # Same seed, same draw.
    again = sbc.prior_draw(spec, data, 3)
    np.testing.assert_array_equal(again[1][key], new[key])


def test_models_without_observations_are_refused():
    spec = models.get("correlated_gaussian")
    with pytest.raises(ValueError, match="observes nothing"):
        sbc.prior_draw(spec, spec.simulate(0), 0)


def _idata(draws: dict):
    import arviz as az

    return az.from_dict(posterior=draws)


def test_rank_is_the_number_of_thinned_draws_below_the_truth():
    # 2 chains x 10 draws of 0..19; L = 10 thinned draws: 5 per chain at 0, 2, 5, 7, 9.
    values = np.arange(20.0).reshape(2, 10)
    ranks, _ = sbc.rank_statistics(_idata({"a": values}), {"a": 6.5}, ranked_draws=10)
    kept = np.concatenate([values[c, [0, 2, 4, 7, 9]] for c in range(2)])
    assert ranks == {"a": int((kept < 6.5).sum())}
    vec = np.stack([values, -values], axis=-1)  # (chain, draw, 2)
    ranks, _ = sbc.rank_statistics(_idata({"b": vec}), {"b": [100.0, 100.0]}, ranked_draws=10)
    assert ranks == {"b[0]": 10, "b[1]": 10}


def _rank_table(ranks: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"simulation": i, "parameter": p, "rank": int(r)}
            for p, rs in ranks.items()
            for i, r in enumerate(rs)
        ]
    )


def test_uniform_ranks_pass_and_bent_ones_fail():
    rng = np.random.default_rng(1)
    n, L = 300, 99
    uniform = rng.integers(0, L + 1, size=n)
    # A posterior too narrow puts the truth in the tails: ∪-shaped ranks.
    narrow = np.where(rng.random(n) < 0.5, rng.integers(0, 15, n), rng.integers(85, 100, n))
    summary = sbc.uniformity(_rank_table({"ok": uniform, "narrow": narrow}), L)
    row = summary.set_index("parameter")
    assert row.loc["ok", "calibrated"] and row.loc["ok", "p_value"] > 0.001
    assert not row.loc["narrow", "calibrated"]
    assert row.loc["narrow", "p_value"] < 1e-6 and not row.loc["narrow", "ecdf_in_band"]
    assert list(summary.columns) == list(sbc.SUMMARY_COLUMNS)


def test_uniformity_with_ranks_that_do_not_split_evenly():
    rng = np.random.default_rng(2)
    r = rng.integers(0, 37, size=200)  # L = 36: 37 rank values, a prime
    row = sbc.uniformity(_rank_table({"x": r}), 36).iloc[0]
    assert row["calibrated"] and row["bins"] >= 2
    with pytest.raises(ValueError, match="outside"):
        sbc.uniformity(_rank_table({"x": r + 1}), 36)


def _exact_sampler(shrink: float):
    """Draws from the exact posterior of normal_normal, its sd multiplied by ``shrink``."""

    def sample(spec, data, seed):
        exact = spec.exact(data)["mu"]
        rng = np.random.default_rng(seed)
        draws = rng.normal(exact.mean, shrink * exact.sd, size=(2, 200))
        return _idata({"mu": draws})

    return sample


@pytest.mark.parametrize("shrink, calibrated", [(1.0, True), (0.5, False)])
def test_sbc_accepts_the_exact_posterior_and_flags_a_shrunken_one(tmp_path, shrink, calibrated):
    spec = models.get("normal_normal")
    data = spec.simulate(0)
    run = sbc_run.SBCSpec(spec.name, "exact", 200, 0, 200, 0, 2, 99, models.fingerprint(data))
    ranks, summary, errors = sbc_run.run_sbc(
        spec, data, run, tmp_path, sampler=_exact_sampler(shrink)
    )
    assert not errors and len(ranks) == 200
    assert bool(summary["calibrated"].iloc[0]) is calibrated


@pytest.mark.slow
def test_sbc_of_our_mh_and_its_negative_control(tmp_path):
    # A fixed-scale walk with a drift: with the Hastings correction it samples the
    # posterior; without it the stationary law is shifted, and SBC must say so.
    spec = models.get("normal_normal")
    data = spec.simulate(0)
    verdict = {}
    for hastings in (True, False):
        out = tmp_path / str(hastings)
        run = sbc_run.SBCSpec(spec.name, "mh", 20, 0, 1000, 500, 2, 99, models.fingerprint(data))
        options = dict(proposal=mh.drifting_random_walk(0.3), hastings=hastings)
        _, summary, errors = sbc_run.run_sbc(
            spec, data, sbc_run.prepare(out, run), out, adapt=False, scale=0.3, **options
        )
        assert not errors
        verdict[hastings] = summary.iloc[0]
    assert verdict[True]["calibrated"], verdict[True]
    assert not verdict[False]["calibrated"] and verdict[False]["p_value"] < 1e-3


def test_sbc_resumes_and_extends(tmp_path):
    spec = models.get("normal_normal")
    data = spec.simulate(0)
    run = sbc_run.SBCSpec(spec.name, "exact", 10, 0, 200, 0, 2, 99, models.fingerprint(data))
    calls = []

    def counting(spec_, data_, seed):
        calls.append(seed)
        return _exact_sampler(1.0)(spec_, data_, seed)

    first, _, _ = sbc_run.run_sbc(
        spec, data, sbc_run.prepare(tmp_path, run), tmp_path, sampler=counting
    )
    assert len(calls) == 10
    more = sbc_run.SBCSpec(**{**run.__dict__, "sims": 15})
    ranks, _, _ = sbc_run.run_sbc(
        spec, data, sbc_run.prepare(tmp_path, more), tmp_path, sampler=counting
    )
    assert len(calls) == 15
    pd.testing.assert_frame_equal(ranks.iloc[:10], first)
    other = sbc_run.SBCSpec(**{**run.__dict__, "model": "gamma_poisson"})
    with pytest.raises(ValueError, match="another SBC run"):
        sbc_run.prepare(tmp_path, other)


def test_exact_sampler_negative_control_is_a_real_shrinkage():
    # The shrunken sampler really is narrower than the exact posterior (so the
    # calibration test above fails for the right reason).
    spec = models.get("normal_normal")
    data = spec.simulate(0)
    draws = _exact_sampler(0.5)(spec, data, 0).posterior["mu"].values.ravel()
    sd = spec.exact(data)["mu"].sd
    assert stats.chi2(draws.size - 1).sf((draws.size - 1) * draws.var(ddof=1) / sd**2) > 0.999
