"""``diagnostics.summary``: the comparison table, z-scores against exact answers, moments.

Most checks run on synthetic InferenceData of iid (or AR(1)) draws with known
moments, so the truth is exact and no sampler is involved; one reuses the session's
cached NUTS runs.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmin import diagnostics, models
from bayesmin.diagnostics import (
    COMPARE_COLUMNS,
    ESS_MIN,
    RHAT_MAX,
    Z_MAX,
    Verdict,
    compare,
    flat_draws,
    moments,
    verdict,
    z_scores,
)
from bayesmin.models import Exact

MEAN = np.array([0.0, 5.0, -2.0])
SD = np.array([1.0, 2.0, 0.5])
CHAINS, DRAWS = 4, 1000


def iid_run(rng_seed: int, *, sd_factor: float = 1.0, **attrs) -> az.InferenceData:
    """Draws of ``x ~ N(MEAN, SD)`` (3,) and a scalar ``s ~ N(1, 3)``, as a sampler's result.

    ``attrs`` (``sampler``, ``seed``, timings) are stamped as ``inference.sample`` does.
    """
    rng = np.random.default_rng(rng_seed)
    x = MEAN + sd_factor * SD * rng.standard_normal((CHAINS, DRAWS, 3))
    s = 1.0 + 3.0 * rng.standard_normal((CHAINS, DRAWS))
    idata = az.from_dict(
        posterior={"x": x, "s": s},
        sample_stats={
            "lp": rng.standard_normal((CHAINS, DRAWS)),
            "acceptance_rate": rng.uniform(0.6, 1.0, (CHAINS, DRAWS)),
            "diverging": rng.uniform(size=(CHAINS, DRAWS)) < 0.01,
            "n_steps": np.full((CHAINS, DRAWS), 7.0),
        },
    )
    for group in (idata.posterior, idata.sample_stats):
        group.attrs.update(attrs)
    return idata


REFERENCE = {
    "x": Exact(MEAN, SD),
    "s": Exact.from_scipy(stats.norm(1.0, 3.0)),
}
Z_COLUMNS = ["parameter", "statistic", "estimate", "truth", "mcse", "mcse_reference", "z"]


# ----------------------------------------------------------------------------- compare


def test_compare_table_shape_and_columns():
    runs = {
        "nuts:numpyro/seed=0": iid_run(
            0, sampler="nuts:numpyro", seed=0, compile_seconds=2.0, sampling_seconds=0.5
        ),
        "mh/seed=1": iid_run(1, sampler="mh", seed=1, compile_seconds=1.0, sampling_seconds=4.0),
    }
    table = compare(runs)
    assert tuple(table.columns) == COMPARE_COLUMNS
    assert table.index.name == "run"
    assert list(table.index) == list(runs)
    row = table.loc["mh/seed=1"]
    assert row.sampler == "mh" and row.seed == 1
    assert row.compile_seconds == 1.0 and row.sampling_seconds == 4.0
    for label, idata in runs.items():
        row = table.loc[label]
        ess_bulk = az.ess(idata, method="bulk")
        expected = min(float(ess_bulk[v].values.min()) for v in ("x", "s"))
        assert row.ess_bulk_min == pytest.approx(expected)
        assert row.ess_bulk_per_second == pytest.approx(row.ess_bulk_min / row.sampling_seconds)
        assert row.divergences == int(idata.sample_stats.diverging.values.sum())
        assert row.acceptance_rate == pytest.approx(idata.sample_stats.acceptance_rate.mean())
        # iid draws: every chain sees the same distribution.
        assert row.rhat_max < 1.01
        assert row.ess_tail_min > 0.5 * CHAINS * DRAWS
        assert np.isnan(row.max_abs_z)  # no reference


def test_compare_max_abs_z_against_a_reference():
    runs = {
        "good": iid_run(2, sampler="a", seed=2, compile_seconds=0.0, sampling_seconds=1.0),
        "too-narrow": iid_run(
            3, sd_factor=0.8, sampler="b", seed=3, compile_seconds=0.0, sampling_seconds=1.0
        ),
    }
    table = compare(runs, REFERENCE)
    assert np.all(np.isfinite(table.max_abs_z))
    assert table.loc["good", "max_abs_z"] == pytest.approx(
        z_scores(runs["good"], REFERENCE).z.abs().max()
    )
    assert table.loc["good", "max_abs_z"] < 4
    assert table.loc["too-narrow", "max_abs_z"] > 10
    # The worst sd ratio: about 1 for the right width, 0.8 for the narrow run, each
    # within 4 of its relative Monte Carlo errors (the closed form has none).
    for label, factor in (("good", 1.0), ("too-narrow", 0.8)):
        z = z_scores(runs[label], REFERENCE)
        sd = z[z.statistic == "sd"]
        tol = 4 * (sd.mcse / sd.estimate).max()
        assert table.loc[label, "sd_ratio_worst"] == pytest.approx(factor, rel=tol)


def test_sd_ratio_worst_is_the_ratio_farthest_from_one_on_the_log_scale():
    # Element 0 twice as wide (|log 2| = 0.69), element 1 0.6 as wide (|log 0.6| = 0.51):
    # the worst is 2, though 0.6 is farther from 1 on the ratio's own scale.
    rng = np.random.default_rng(12)
    z = rng.standard_normal((2, 500, 2))
    z = (z - z.mean(axis=(0, 1))) / z.reshape(-1, 2).std(axis=0, ddof=1)  # sd exactly 1
    idata = az.from_dict(posterior={"x": z * np.array([2.0, 0.6])})
    table = compare({"run": idata}, {"x": Exact(np.zeros(2), np.ones(2))})
    assert table.loc["run", "sd_ratio_worst"] == pytest.approx(2.0)
    narrower = compare({"run": idata}, {"x": Exact(np.zeros(2), np.array([1.0, 6.0]))})
    assert narrower.loc["run", "sd_ratio_worst"] == pytest.approx(0.1)
    # Only parameters in both count; without a reference there is no ratio.
    only_absent = compare({"run": idata}, {"y": Exact(np.zeros(2), np.ones(2))})
    assert np.isnan(only_absent.loc["run", "sd_ratio_worst"])
    assert np.isnan(compare({"run": idata}).loc["run", "sd_ratio_worst"])


def test_compare_on_sampler_runs(run_cache):
    spec = models.get("normal_normal")
    runs = {s: run_cache(spec.name, s) for s in ("nuts:numpyro", "nuts:blackjax")}
    table = compare(runs, spec.exact(spec.simulate(0)))
    assert list(table.index) == list(runs)
    assert list(table.sampler) == list(runs)
    assert (table.seed == 0).all()
    assert (table.max_abs_z < 4).all()
    # Against the closed form the posterior sd is right to within a few percent.
    assert (abs(np.log(table.sd_ratio_worst)) < 0.1).all()
    assert (table.rhat_max < 1.05).all()
    assert (table.sampling_seconds > 0).all()
    np.testing.assert_allclose(
        table.ess_bulk_per_second, table.ess_bulk_min / table.sampling_seconds
    )


# ----------------------------------------------------------------------------- z_scores


def test_z_scores_small_against_the_truth():
    idata = iid_run(4)
    z = z_scores(idata, REFERENCE)
    assert list(z.columns) == Z_COLUMNS
    assert sorted(z.parameter.unique()) == ["s", "x[0]", "x[1]", "x[2]"]
    assert len(z) == 8 and set(z.statistic) == {"mean", "sd"}
    assert z.z.abs().max() < 4, z
    # A closed form carries no Monte Carlo error of its own.
    assert (z.mcse_reference == 0).all()
    # The MCSE is ArviZ's, and z is the bias in MCSEs.
    mcse = az.mcse(idata, var_names=["x"], method="mean").x.values
    means = z[(z.statistic == "mean") & z.parameter.str.startswith("x")]
    np.testing.assert_allclose(means.mcse, mcse)
    np.testing.assert_allclose(means.z, (means.estimate - means.truth) / means.mcse)
    # iid draws: the MCSE of a mean is close to sd / sqrt(n).
    np.testing.assert_allclose(means.mcse, SD / np.sqrt(CHAINS * DRAWS), rtol=0.15)


def test_z_scores_negative_controls():
    idata = iid_run(5)
    base = z_scores(idata, REFERENCE).set_index(["parameter", "statistic"])
    # A truth off by 10 MCSE is flagged ...
    shifted = {"x": Exact(MEAN + 10 * base.loc[("x[1]", "mean"), "mcse"] * np.eye(3)[1], SD)}
    z = z_scores(idata, shifted).set_index(["parameter", "statistic"])
    assert abs(z.loc[("x[1]", "mean"), "z"]) > 6
    # ... and so is a sample whose spread is 20% too small.
    narrow = z_scores(iid_run(5, sd_factor=0.8), REFERENCE)
    sd_rows = narrow[(narrow.statistic == "sd") & narrow.parameter.str.startswith("x")]
    assert (sd_rows.z < -10).all(), sd_rows


def test_z_scores_add_the_reference_mcse_to_the_runs():
    # A reference that is itself a Monte Carlo estimate carries its own error, and the
    # difference of two independent estimates has the sum of their variances.
    idata = iid_run(13)
    exact = z_scores(idata, REFERENCE)
    mcse_ref = np.array([0.01, 0.02, 0.03])
    noisy_ref = {"x": Exact(MEAN, SD, mcse_mean=mcse_ref, mcse_sd=2 * mcse_ref)}
    noisy = z_scores(idata, noisy_ref)
    assert list(noisy.columns) == Z_COLUMNS
    x = exact[exact.parameter.str.startswith("x")].reset_index(drop=True)
    np.testing.assert_array_equal(noisy.mcse, x.mcse)  # the run's own MCSE is unchanged
    np.testing.assert_array_equal(noisy.mcse_reference, np.r_[mcse_ref, 2 * mcse_ref])
    combined = np.hypot(x.mcse, noisy.mcse_reference)
    np.testing.assert_allclose(noisy.z, x.z * x.mcse / combined)
    assert (noisy.z.abs() < x.z.abs()).all()
    # Negative control: a truth off by 10 combined standard errors is still flagged.
    se = combined[1]
    shifted = {"x": Exact(MEAN + 10 * se * np.eye(3)[1], SD, mcse_mean=mcse_ref, mcse_sd=mcse_ref)}
    z = z_scores(idata, shifted).set_index(["parameter", "statistic"])
    assert z.loc[("x[1]", "mean"), "mcse_reference"] == mcse_ref[1]
    assert abs(z.loc[("x[1]", "mean"), "z"]) > 6


def test_z_scores_account_for_autocorrelation():
    # AR(1) chains with rho = 0.9 have an effective sample size ~19x smaller than
    # their length; scaled by ArviZ's MCSE the bias is still N(0, 1), where scaling
    # by the iid standard error would overstate it about four-fold.
    rng = np.random.default_rng(6)
    rho, n = 0.9, 4000
    x = np.empty((4, n))
    x[:, 0] = rng.standard_normal(4)
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(4)
    idata = az.from_dict(posterior={"x": x})
    z = z_scores(idata, {"x": Exact.from_scipy(stats.norm(0.0, 1.0))})
    assert z.z.abs().max() < 4
    mean_row = z[z.statistic == "mean"].iloc[0]
    assert mean_row.mcse > 3 * (1.0 / np.sqrt(x.size))


def test_z_scores_skip_absent_variables():
    idata = iid_run(7)
    z = z_scores(idata, {"s": REFERENCE["s"], "not_here": REFERENCE["s"]})
    assert set(z.parameter) == {"s"}
    empty = z_scores(idata, {"not_here": REFERENCE["s"]})
    assert empty.empty
    assert list(empty.columns) == Z_COLUMNS


# ----------------------------------------------------------------------------- moments


def test_moments_of_a_skewed_distribution():
    # Gamma(a=3, rate b=1): mean a/b = 3, variance a/b^2 = 3, mode (a-1)/b = 2,
    # median from scipy. Each is checked to within 4 Monte Carlo standard errors.
    a, b = 3.0, 1.0
    truth = stats.gamma(a, scale=1 / b)
    g = np.random.default_rng(8).gamma(a, 1 / b, size=(4, 2500))
    n = g.size
    row = moments(az.from_dict(posterior={"g": g})).table.loc["g"]
    assert list(row.index) == ["mean", "median", "mode", "variance", "sd"]
    assert abs(row["mean"] - truth.mean()) < 4 * np.sqrt(truth.var() / n)
    se_median = 1 / (2 * truth.pdf(truth.median()) * np.sqrt(n))
    assert abs(row["median"] - truth.median()) < 4 * se_median
    mu4 = 3 * a**2 + 6 * a  # fourth central moment of Gamma(a, 1)
    assert abs(row["variance"] - truth.var()) < 4 * np.sqrt((mu4 - truth.var() ** 2) / n)
    assert row["sd"] == pytest.approx(np.sqrt(row["variance"]))
    # The mode is read off a KDE: it cannot be finer than the kernel's bandwidth.
    bandwidth = stats.gaussian_kde(g.ravel()).factor * g.std(ddof=1)
    mode = (a - 1) / b
    assert abs(row["mode"] - mode) < bandwidth
    # Negative control: the tolerance does tell the mode from the mean and median.
    assert abs(row["mean"] - mode) > 3 * bandwidth
    assert abs(row["median"] - mode) > 2 * bandwidth


def test_moments_covariance():
    cov = np.array([[1.0, 0.6], [0.6, 2.0]])
    rng = np.random.default_rng(9)
    xy = rng.multivariate_normal([0.0, 1.0], cov, size=(2, 3000))
    g = rng.gamma(3.0, 1.0, size=(2, 3000))
    result = moments(az.from_dict(posterior={"g": g, "xy": xy}))
    labels = ["g", "xy[0]", "xy[1]"]
    assert list(result.table.index) == labels
    assert list(result.cov.index) == list(result.cov.columns) == labels
    c = result.cov.to_numpy()
    np.testing.assert_allclose(c, c.T)
    np.testing.assert_allclose(np.diag(c), result.table.variance)
    n = xy.shape[0] * xy.shape[1]
    # Sample covariance of a bivariate normal: variance (s11 s22 + s12^2) / n.
    assert abs(c[1, 2] - 0.6) < 4 * np.sqrt((1.0 * 2.0 + 0.6**2) / n)
    # Independent variables: covariance 0 within its MC error.
    assert abs(c[0, 1]) < 4 * np.sqrt(3.0 * 1.0 / n)
    assert abs(c[0, 2]) < 4 * np.sqrt(3.0 * 2.0 / n)
    # var_names selects.
    only = moments(az.from_dict(posterior={"g": g, "xy": xy}), var_names=["xy"])
    assert list(only.table.index) == ["xy[0]", "xy[1]"]


def test_flat_draws_stacks_chains():
    idata = iid_run(10)
    table = flat_draws(idata)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["x[0]", "x[1]", "x[2]", "s"]
    assert len(table) == CHAINS * DRAWS
    np.testing.assert_array_equal(table["x[1]"], idata.posterior.x.values[..., 1].ravel())
    assert list(flat_draws(idata, ["s"]).columns) == ["s"]


# ----------------------------------------------------------------------------- degenerate input


def test_one_chain_four_draws_gives_nan_not_an_exception():
    rng = np.random.default_rng(11)
    idata = az.from_dict(
        posterior={"x": rng.standard_normal((1, 4, 2))},
        sample_stats={"diverging": np.zeros((1, 4), bool), "acceptance_rate": np.ones((1, 4))},
    )
    ref = {"x": Exact(np.zeros(2), np.ones(2))}
    table = compare({"tiny": idata}, ref)
    assert tuple(table.columns) == COMPARE_COLUMNS
    row = table.loc["tiny"]
    # ArviZ's R-hat needs two chains: NaN, and so is the worst R-hat.
    assert np.all(np.isnan(az.rhat(idata).x.values))
    assert np.isnan(row.rhat_max)
    # No timing attrs: no rate, rather than a division by nothing.
    assert np.isnan(row.sampling_seconds) and np.isnan(row.ess_bulk_per_second)
    assert row.divergences == 0
    z = z_scores(idata, ref)
    assert len(z) == 4
    m = moments(idata).table
    assert np.all(np.isfinite(m.to_numpy()))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # ArviZ divides 0 by 0 on purpose
def test_constant_draws_give_nan_where_arviz_does():
    # A stuck chain: ArviZ cannot estimate the MCSE of the sd (NaN), so there is no
    # verdict on the sd either; the mean's MCSE is 0, so a wrong mean is infinitely off.
    idata = az.from_dict(posterior={"x": np.ones((2, 4))})
    assert np.isnan(az.mcse(idata, method="sd").x.values)
    z = z_scores(idata, {"x": Exact(np.asarray(0.0), np.asarray(1.0))}).set_index("statistic")
    assert np.isnan(z.loc["sd", "z"])
    assert z.loc["mean", "z"] == np.inf
    right = z_scores(idata, {"x": Exact(np.asarray(1.0), np.asarray(0.0))}).set_index("statistic")
    assert right.loc["mean", "z"] == 0.0
    # A run without sample_stats still gets a row.
    table = compare({"stuck": idata})
    assert np.isnan(table.loc["stuck", "rhat_max"])
    assert table.loc["stuck", "divergences"] == 0
    row = moments(idata).table.loc["x"]
    assert row["mode"] == 1.0 and row["variance"] == 0.0


def test_public_names():
    assert diagnostics.COMPARE_COLUMNS == COMPARE_COLUMNS
    assert COMPARE_COLUMNS[-2:] == ("max_abs_z", "sd_ratio_worst")
    assert len(set(COMPARE_COLUMNS)) == 12
    assert diagnostics.verdict is verdict and diagnostics.Verdict is Verdict
    # Vehtari et al. (2021) and the 4-MCSE bias bound.
    assert (RHAT_MAX, ESS_MIN, Z_MAX) == (1.01, 400, 4.0)


# ----------------------------------------------------------------------------- verdict

GOOD = {"rhat_max": 1.004, "ess_bulk_min": 850.0, "max_abs_z": 1.2, "divergences": 0}


def test_verdict_passes_a_good_row_and_shows_what_it_checked():
    v = verdict(pd.Series(GOOD))
    assert v == Verdict(True, (), "pass: R-hat 1.004, bulk ESS 850, max |z| 1.20, no divergences")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"rhat_max": 1.05}, "R-hat 1.050 > 1.01"),
        ({"rhat_max": np.nan}, "R-hat not estimated"),
        ({"ess_bulk_min": 399.0}, "bulk ESS 399 < 400"),
        ({"ess_bulk_min": np.nan}, "bulk ESS not estimated"),
        ({"max_abs_z": 4.0}, "bias |z| 4.0 ≥ 4"),
        ({"max_abs_z": 6.3}, "bias |z| 6.3 ≥ 4"),
        ({"divergences": 1}, "1 divergence"),
        ({"divergences": 3}, "3 divergences"),
    ],
)
def test_verdict_names_each_failure(change, problem):
    v = verdict({**GOOD, **change})
    assert not v.passed and v.problems == (problem,) and v.line == problem


def test_verdict_bounds_are_inclusive_where_the_source_says_so():
    assert verdict({**GOOD, "rhat_max": RHAT_MAX, "ess_bulk_min": ESS_MIN}).passed
    assert not verdict({**GOOD, "max_abs_z": Z_MAX}).passed  # |z| < 4 strictly


def test_verdict_lists_every_failure_in_order():
    v = verdict({"rhat_max": 1.2, "ess_bulk_min": 40.0, "max_abs_z": 9.0, "divergences": 2})
    assert v.problems == ("R-hat 1.200 > 1.01", "bulk ESS 40 < 400", "bias |z| 9.0 ≥ 4",
                          "2 divergences")  # fmt: skip
    assert v.line == "; ".join(v.problems)


def test_verdict_without_a_reference():
    row = {**GOOD, "max_abs_z": np.nan}
    v = verdict(row)  # no reference: nothing to check the bias against
    assert v.passed and "no reference" in v.line
    v = verdict(row, require_reference=True)  # the page has one, yet z could not be computed
    assert not v.passed and v.problems == ("no bias check (max |z| is NaN)",)


def test_verdict_settings():
    short = {**GOOD, "ess_bulk_min": 120.0}
    assert not verdict(short).passed
    v = verdict(short, ess_min=None)  # a short run, and its page says ESS is not demanded
    assert v.passed and "ESS" not in v.line
    assert verdict({**GOOD, "rhat_max": 1.03}, rhat_max=1.05).passed
    assert not verdict({**GOOD, "max_abs_z": 2.5}, z_max=2.0).passed
    del short["divergences"]  # absent counts as none (a sampler without the statistic)
    assert verdict(short, ess_min=None).passed


def test_verdict_on_compare_rows_separates_a_correct_sampler_from_a_biased_one():
    runs = {
        "good": iid_run(2, sampler="a", seed=2, compile_seconds=0.0, sampling_seconds=1.0),
        "too-narrow": iid_run(
            3, sd_factor=0.8, sampler="b", seed=3, compile_seconds=0.0, sampling_seconds=1.0
        ),
    }
    table = compare(runs, REFERENCE).assign(divergences=0)  # iid_run stamps random ones
    assert verdict(table.loc["good"], require_reference=True).passed
    bad = verdict(table.loc["too-narrow"], require_reference=True)
    assert not bad.passed and len(bad.problems) == 1 and bad.problems[0].startswith("bias |z|")
