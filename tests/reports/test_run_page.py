"""The diagnostics page of a run directory (``reports.run_page``): pages that open with
nothing broken, the verdict that flags a bad run, the worst-mixing parameters first, a
model with hundreds of parameters summarised by its worst, and the provenance."""

from __future__ import annotations

import json
import re
import shlex
import sys
from datetime import datetime

import arviz as az
import numpy as np
import pandas as pd
import pytest

from bayesmin import diagnostics, inference, models
from bayesmin.diagnostics import sbc as sbc_diagnostics
from bayesmin.reports import compare_page, run_page
from bayesmin.reports import sbc as sbc_page
from bayesmin.reports.fitting import fit_and_write


def _handmade(n_params=3, *, chains=2, draws=100, bad=None, sampler="nuts", seed=0):
    """A posterior ``theta`` of ``n_params`` iid N(0, 1) elements and a scalar ``mu``; the
    chains of ``theta[bad]`` disagree (one shifted by 3). NUTS-like sample_stats."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(chains, draws, n_params))
    if bad is not None:
        theta[1, :, bad] += 3.0
    idata = az.from_dict(
        posterior={"mu": rng.normal(size=(chains, draws)), "theta": theta},
        sample_stats={
            "diverging": rng.random((chains, draws)) < 0.02,
            "energy": rng.normal(size=(chains, draws)),
        },
    )
    idata.posterior.attrs.update(sampler=sampler, seed=seed)
    return idata


def _table(runs, reference=None):
    table = diagnostics.compare(runs, reference)
    table["error"] = ""
    return table


def _worst_named(page_text: str, sampler: str) -> list[str]:
    match = re.search(rf"Worst over {re.escape(sampler)}&#x27;s \d+ run\(s\): ([^.]*)\.", page_text)
    assert match, f"no worst-parameter line for {sampler}"
    return match.group(1).split(", ")


def _table_with(page, column: str, index: str):
    """The rows (header rows included) of the page's first table with ``column``, indexed
    by ``index`` (pandas writes the index name on the second header row)."""
    return next(
        t for t in page.tables if len(t) > 1 and column in t[0] and t[1] and t[1][0] == index
    )


# ------------------------------------------------------------------------- provenance


def test_provenance_records_the_command_versions_seed_and_time(monkeypatch):
    record = run_page.provenance(
        ["bayesmin", "fit", "my model", "--out", "o"],
        seed=3,
        timings={"total": 1.25},
        extra={"draws": 10},
    )
    assert record["command"] == "bayesmin fit 'my model' --out o"
    assert shlex.split(record["command"])[2] == "my model"  # pastes back as given
    assert set(record["versions"]) == {"bayesmin", "python", *run_page.VERSIONED}
    assert record["versions"]["arviz"] == az.__version__
    assert record["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["seed"] == 3 and record["timings"] == {"total": 1.25}
    assert record["extra"] == {"draws": 10} and record["platform"]
    assert datetime.fromisoformat(record["timestamp"]).utcoffset().total_seconds() == 0
    json.dumps(record)  # plain data, ready for a manifest

    # By default the process's own command line, the program spelt ``bayesmin``.
    monkeypatch.setattr(sys, "argv", ["/venv/bin/bayesmin", "compare", "funnel"])
    assert run_page.provenance()["command"] == "bayesmin compare funnel"
    monkeypatch.setattr(run_page, "VERSIONED", (*run_page.VERSIONED, "no-such-dist-bayesmin"))
    assert run_page.provenance()["versions"]["no-such-dist-bayesmin"] == "not installed"


# ------------------------------------------------------------------------ parameters


def test_worst_parameters_puts_the_parameter_whose_chains_disagree_first():
    runs = {"nuts/seed=0": _handmade(5, seed=1), "mh/seed=0": _handmade(5, bad=3, seed=2)}
    assert run_page.worst_parameters(runs, k=1) == ["theta[3]"]
    table = run_page.parameter_table(runs)
    assert len(table) == 6 and table.index[0] == "theta[3]"
    assert table["rhat_max"].is_monotonic_decreasing
    assert table.loc["theta[3]", "rhat_max"] > 1.5
    # The worst over samplers, and each sampler's own numbers beside it.
    assert table.loc["theta[3]", "mh rhat_max"] == table.loc["theta[3]", "rhat_max"]
    assert table.loc["theta[3]", "nuts rhat_max"] < 1.1
    assert {"ess_bulk_min", "ess_tail_min", "nuts ess_bulk_min"} <= set(table.columns)
    assert run_page.worst_parameters(runs, k=3)[0] == "theta[3]"


def test_locate_turns_labels_into_var_names_and_coords():
    idata = az.from_dict(
        posterior={
            "mu": np.zeros((2, 10)),
            "theta": np.zeros((2, 10, 3)),
            "w": np.zeros((2, 10, 2, 4)),
            "school": np.zeros((2, 10, 2)),
        },
        coords={"name": ["Choate", "Deerfield"]},
        dims={"school": ["name"]},
    )
    assert run_page.locate(idata, "mu") == ("mu", {})
    assert run_page.locate(idata, "theta[2]") == ("theta", {"theta_dim_0": [2]})
    assert run_page.locate(idata, "w[1,3]") == ("w", {"w_dim_0": [1], "w_dim_1": [3]})
    assert run_page.locate(idata, "school[1]") == ("school", {"name": ["Deerfield"]})
    # Every label of the draws' table is found, and selects exactly one element.
    for label in diagnostics.flat_draws(idata).columns:
        name, coords = run_page.locate(idata, label)
        assert idata.posterior[name].sel(coords).size == 2 * 10
    for bad in ("nope", "theta[3]", "theta[0,1]", "mu[0]"):
        with pytest.raises(KeyError):
            run_page.locate(idata, bad)


def test_mcse_table_puts_samplers_and_the_reference_side_by_side():
    runs = {"nuts": _handmade(2, seed=1), "mh": _handmade(2, seed=2)}
    reference = {"theta": models.Exact(np.array([0.0, 0.5]), np.ones(2))}
    shown, numbers = run_page.mcse_table(runs, ["theta[1]", "mu"], reference)
    assert list(shown.columns) == ["nuts mean ± mcse", "mh mean ± mcse", "reference mean"]
    assert list(shown.index) == ["theta[1]", "mu"]
    assert shown.loc["theta[1]", "reference mean"] == 0.5 and np.isnan(shown.loc["mu"].iloc[2])
    mean = float(runs["mh"].posterior["theta"][..., 1].mean())
    mcse = float(az.mcse(runs["mh"], method="mean")["theta"][1])
    row = numbers[(numbers["run"] == "mh") & (numbers["parameter"] == "theta[1]")].iloc[0]
    assert row["mean"] == pytest.approx(mean) and row["mcse"] == pytest.approx(mcse)
    assert shown.loc["theta[1]", "mh mean ± mcse"] == f"{mean:.4g} ± {mcse:.2g}"


# ----------------------------------------------------------------------------- pages


def test_two_hundred_parameters_show_the_first_20_rows_and_plot_the_worst_k(tmp_path, page_checker):
    runs = {"nuts/seed=0": _handmade(200, bad=117)}
    out = tmp_path / "big"
    run_page.write_compare_page(out, "big", runs, _table(runs), ["nuts"], k=4)
    page = page_checker(out / "index.html")
    assert "could not be drawn" not in page.text
    worst = _worst_named(page.text, "nuts")
    assert len(worst) == 4 and worst[0] == "theta[117]"
    every = _table_with(page, "ess_tail_min", "parameter")
    assert sum(row[0].startswith(("theta[", "mu")) for row in every) == run_page.TOP_ROWS
    assert f"the first {run_page.TOP_ROWS} of 201" in page.text
    means = _table_with(page, "nuts mean ± mcse", "parameter")
    assert sum(row[0].startswith(("theta[", "mu")) for row in means) == run_page.TOP_ROWS
    # One figure of each kind, nothing per parameter (no timings: no ESS/s bars).
    kinds = ["forest", "trace-nuts", "rank-nuts", "ess-evolution-nuts", "autocorr-nuts",
             "energy-nuts", "pair-nuts", "means-mcse"]  # fmt: skip
    assert sorted(page.images) == sorted(f"figures/compare_{k}.png" for k in kinds)
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        f"compare_{k}.png" for k in kinds
    )


def test_a_figure_that_fails_is_one_line_not_a_failed_page(tmp_path, page_checker, monkeypatch):
    def broken(idata):
        raise ValueError("no energy today\nsecond line")

    monkeypatch.setattr(run_page, "energy_figure", broken)
    runs = {"nuts/seed=0": _handmade(3), "nuts/seed=1": _handmade(3, seed=1)}
    run_page.write_compare_page(tmp_path, "m", runs, _table(runs), ["nuts"])
    page = page_checker(tmp_path / "index.html")
    assert "figure energy-nuts could not be drawn: no energy today" in page.text
    assert "second line" not in page.text
    assert "figures/compare_pair-nuts.png" in page.images


def test_reference_sd_ratio_and_the_former_name(tmp_path, page_checker):
    runs = {"mh/seed=0": _handmade(2, sampler="mh"), "mh/seed=1": _handmade(2, sampler="mh")}
    reference = {"theta": models.Exact(np.zeros(2), np.ones(2)), "mu": models.Exact(0.0, 1.0)}
    table = _table(runs, reference)
    table["sd_ratio_worst"] = [1.1, 0.5]
    compare_page.write_page(tmp_path, "m", runs, table, ["mh"], reference)
    page = page_checker(tmp_path / "index.html")
    assert "figures/compare_bias.png" in page.images
    per_sampler = _table_with(page, "verdict", "sampler")
    assert "sd_ratio_worst" in per_sampler[0]
    row = next(r for r in per_sampler if r[0] == "mh")
    assert row[per_sampler[0].index("sd_ratio_worst")] == "0.5"  # the furthest from 1
    assert "reference mean" in _table_with(page, "mh mean ± mcse", "parameter")[0]
    # No NUTS run: no energy or pair plot, and no section for them.
    assert not any("energy" in src or "pair" in src for src in page.images)
    assert "NUTS: energy" not in page.text
    del table["sd_ratio_worst"]
    run_page.write_compare_page(tmp_path, "m", runs, table, ["mh"], reference)
    assert "sd_ratio_worst" not in page_checker(tmp_path / "index.html").text


@pytest.fixture(scope="module")
def short_and_long():
    """normal_normal by our MH: 2 x 3000 draws (plenty), and its first 30 (too few)."""
    long = inference.sample("normal_normal", "mh", draws=3000, tune=300, chains=2, progress=False)
    return {"mh/seed=0": long, "mh/seed=1": long.isel(draw=slice(0, 30))}


def test_a_run_with_too_few_draws_is_flagged_and_a_long_one_passes(
    short_and_long, tmp_path, page_checker
):
    spec = models.get("normal_normal")
    reference = spec.exact(spec.simulate(0))
    table = _table(short_and_long, reference)
    run_page.write_compare_page(tmp_path, "normal_normal", short_and_long, table, ["mh"], reference)
    page = page_checker(tmp_path / "index.html")
    verdict_list = page.text.split("Verdict per run")[1].split("</ul>")[0]
    lines = dict(
        re.findall(r"<li><code>([^<]*)</code>: <span class=\"(pass|fail)\">", verdict_list)
    )
    assert lines == {"mh/seed=0": "pass", "mh/seed=1": "fail"}
    bad = re.search(r"<code>mh/seed=1</code>: <span class=\"fail\">([^<]*)<", page.text)[1]
    assert "bulk ESS" in bad and "&lt; 400" in bad
    # The sampler's worst over its seeds fails with it.
    per_sampler = _table_with(page, "verdict", "sampler")
    assert "bulk ESS" in next(r for r in per_sampler if r[0] == "mh")[-1]


def test_each_runs_convergence_check_is_on_the_compare_and_fit_pages(tmp_path, page_checker):
    from bayesmin.inference import convergence

    runs = {"mh/seed=0": _handmade(bad=1, draws=200), "mh/seed=1": _handmade(draws=2000)}
    for idata in runs.values():
        idata.sample_stats["diverging"] = idata.sample_stats["diverging"] & False
        convergence.record(idata, convergence.check(idata))
    runs["mh/seed=2"] = _handmade(seed=2)  # saved before the check existed: no line
    run_page.write_compare_page(tmp_path / "cmp", "m", runs, _table(runs), ["mh"])
    text = page_checker(tmp_path / "cmp" / "index.html").text
    checks = text.split("Convergence check per run")[1].split("</ul>")[0]
    found = dict(re.findall(r"<code>([^<]*)</code>: <span class=\"(pass|fail)\">", checks))
    assert found == {"mh/seed=0": "fail", "mh/seed=1": "pass"}
    assert "theta[1]" in checks and "remedy: " in checks

    html = run_page.convergence_list({"mh": runs["mh/seed=0"]})
    assert html.startswith('<ul><li><code>mh</code>: <span class="fail">did not converge')
    assert run_page.convergence_list({"mh": runs["mh/seed=2"]}) == ""


@pytest.fixture(scope="module")
def grid_runs():
    """eight_schools_noncentered by NUTS and by our MH: vector parameters, NUTS stats."""
    opts = {"draws": 200, "tune": 200, "chains": 2, "progress": False}
    return {
        f"{s}/seed=0": inference.sample("eight_schools_noncentered", s, **opts)
        for s in ("nuts", "mh")
    }


@pytest.mark.slow
def test_compare_page_opens_with_every_section_and_nothing_broken(
    grid_runs, tmp_path, page_checker
):
    record = run_page.provenance(["bayesmin", "compare", "eight_schools_noncentered"], seed=0)
    path = run_page.write_compare_page(
        tmp_path,
        "eight_schools_noncentered",
        grid_runs,
        _table(grid_runs),
        ["nuts", "mh"],
        provenance=record,
    )
    page = page_checker(path)
    assert "could not be drawn" not in page.text
    # The sections in order, each in the page's navigation.
    assert [link for link in page.links if link.startswith("#")] == [
        "#verdicts",
        "#sampler-comparison-eight-schools-noncentered",
        "#worst-mixing-parameters",
        "#nuts-energy-and-divergences",
        "#posterior-means-and-mcse",
        "#provenance",
    ]
    for sampler in ("nuts", "mh"):
        for kind in ("trace", "rank", "ess-evolution", "autocorr"):
            assert f"figures/compare_{kind}-{sampler}.png" in page.images
        assert len(_worst_named(page.text, sampler)) == 4
        assert f"<code>{sampler}/seed=0</code>" in page.text
    # Energy and divergences for NUTS only (our MH records neither energy nor a momentum).
    assert {"figures/compare_energy-nuts.png", "figures/compare_pair-nuts.png"} <= set(page.images)
    assert not any(src.endswith(("energy-mh.png", "pair-mh.png")) for src in page.images)
    assert "E-BFMI per chain" in page.text
    assert f"<pre><code>{record['command']}</code></pre>" in page.text
    assert "version: pymc" in page.text


def test_fit_pages_for_a_closed_form_and_for_draws(tmp_path, page_checker):
    spec = models.get("gamma_poisson")
    written = fit_and_write(
        spec, spec.simulate(0), tmp_path / "exact", method="exact", feature_names=None,
        source="built-in", draws=10, tune=10, chains=1, seed=0,
        provenance=run_page.provenance(["bayesmin", "fit", "gamma_poisson"], seed=0),
    )  # fmt: skip
    assert written[-1] == tmp_path / "exact" / "index.html"
    page = page_checker(written[-1])
    assert "Fit: gamma_poisson (exact)" in page.text and not page.images
    assert {"summary.csv", "fit.json"} <= set(page.links)
    assert "<pre><code>bayesmin fit gamma_poisson</code></pre>" in page.text

    # Draws: the verdict and the worst-mixing plots; the record is made when the page is.
    spec = models.get("normal_normal")
    calls = []

    def record():
        calls.append(1)
        return run_page.provenance(["bayesmin", "fit", "normal_normal"], timings={"total": 2.0})

    written = fit_and_write(
        spec, spec.simulate(0), tmp_path / "mh", method="mh", feature_names=None,
        source="built-in", draws=200, tune=200, chains=2, seed=0, progress=False,
        provenance=record,
    )  # fmt: skip
    assert calls == [1] and written[-1].name == "index.html"
    page = page_checker(written[-1])
    assert re.search(r"<code>mh</code>: <span class=\"(pass|fail)\">", page.text)
    assert "The sampler&#x27;s own convergence check" in page.text
    for kind in ("trace", "rank", "ess-evolution", "autocorr"):
        assert f"figures/fit_{kind}-mh.png" in page.images
    assert "posterior.nc" in page.links and "NUTS: energy" not in page.text
    assert "seconds: total" in page.text


def test_sbc_page_ends_with_the_provenance(tmp_path, page_checker):
    rng = np.random.default_rng(0)
    ranks = pd.DataFrame(
        {"simulation": np.arange(20), "parameter": "mu", "rank": rng.integers(0, 100, 20)}
    )
    summary = sbc_diagnostics.uniformity(ranks, 99)
    summary["ess_bulk_min"] = 500.0
    spec = sbc_page.SBCSpec("normal_normal", "mh", 20, 0, 300, 300, 2, 99, "x")
    record = run_page.provenance(["bayesmin", "sbc", "normal_normal"], seed=0)
    sbc_page.write_page(tmp_path, spec, ranks, summary, {}, provenance=record)
    page = page_checker(tmp_path / "index.html")
    assert "<pre><code>bayesmin sbc normal_normal</code></pre>" in page.text
    assert "#provenance" in page.links and len(page.images) == 2
