"""The ``bayesmin`` command line: outputs, resumable grids, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmin import diagnostics
from bayesmin.reports import cli
from bayesmin.reports.report import parse_topics


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def files(tmp_path):
    def write(name, text):
        path = tmp_path / name
        path.write_text(text)
        return path

    return {
        "counts": write("counts.csv", "visits\n3\n5\n2\n7\n"),
        "reg": write("reg.csv", "x1,x2,y\n1,2,3.1\n2,1,3.9\n3,5,8.2\n4,4,8.1\n5,0,5.2\n"),
        "nan": write("nan.csv", "x1,x2,y\n1,2,3.1\n2,,3.9\n3,1,4\n"),
        "inf": write("inf.csv", "visits\n3\ninf\n"),
        "text": write("text.csv", "x1,colour,y\n1,red,3.1\n2,blue,3.9\n"),
        "negative": write("negative.csv", "visits\n3\n-5\n2\n"),
        "fraction": write("fraction.csv", "visits\n3\n2.5\n"),
        "binom": write("binom.csv", "successes,trials\n3,10\n12,10\n"),
        "two": write("two.csv", "a,b\n1,2\n3,4\n"),
        "empty": write("empty.csv", ""),
        "header": write("header.csv", "visits\n"),
        "normal": write("normal.csv", "y\n1.2\n0.7\n1.9\n"),
        "table": write("table.csv", "a,b,c\n1,2,3\n2,,5\n4,1,0\n3,3,3\n"),
        "dup": write("dup.csv", "task,worker,label\n1,a,1\n1,a,0\n2,b,1\n"),
        "votes3": write("votes3.csv", "task,worker,label\n1,a,2\n1,b,1\n"),
        "votes": write("votes.csv", "task,worker,grade\n1,a,1\n"),
    }


def test_list_names_models_samplers_and_topics(capsys):
    code, out, _ = run(["list"], capsys)
    assert code == 0
    for word in ("gamma_poisson", "linear_regression", "nuts:blackjax", "metropolis:pymc"):
        assert word in out


def test_fit_conjugate_writes_the_closed_form_posterior(files, tmp_path, capsys, page_checker):
    out = tmp_path / "fit"
    code, _, err = run(
        [
            "fit",
            "gamma_poisson",
            "--data",
            files["counts"],
            "--set",
            "a=2",
            "--set",
            "b=0.5",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0, err
    summary = pd.read_csv(out / "summary.csv").set_index("parameter")
    truth = stats.gamma(2 + 17, scale=1 / (0.5 + 4))
    assert summary.loc["lam", "mean"] == pytest.approx(truth.mean())
    assert summary.loc["lam", "sd"] == pytest.approx(truth.std())
    assert summary.loc["lam", "q2.5"] == pytest.approx(truth.ppf(0.025))
    meta = json.loads((out / "fit.json").read_text())
    assert meta["posterior"]["lam"]["family"] == "gamma"
    assert meta["n_observations"] == 4
    # The page, ending with the command that made it.
    page = page_checker(out / "index.html")
    assert f"bayesmin fit gamma_poisson --data {files['counts']} --set a=2" in page.text


def test_fit_regression_names_features_and_writes_mle_map_posterior(files, tmp_path, capsys):
    out = tmp_path / "reg"
    code, _, err = run(
        [
            "fit",
            "linear_regression",
            "--data",
            files["reg"],
            "--target",
            "y",
            "--set",
            "beta=4",
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0, err
    est = pd.read_csv(out / "estimates.csv")
    assert est.feature.tolist() == ["intercept", "x1", "x2"]
    df = pd.read_csv(files["reg"])
    X = np.column_stack([np.ones(len(df)), df[["x1", "x2"]]])
    ridge = np.linalg.solve(X.T @ X + (1.0 / 4.0) * np.eye(3), X.T @ df.y)
    np.testing.assert_allclose(est["map"], ridge)
    np.testing.assert_allclose(est["mle"], np.linalg.lstsq(X, df.y, rcond=None)[0])
    summary = pd.read_csv(out / "summary.csv")
    assert summary.parameter.tolist() == ["w[intercept]", "w[x1]", "w[x2]"]


def test_fit_regression_without_intercept_names_the_design_it_fits(files, tmp_path, capsys):
    out = tmp_path / "reg0"
    argv = ["fit", "linear_regression", "--data", files["reg"], "--target", "y",
            "--set", "intercept=0", "--out", out]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert pd.read_csv(out / "estimates.csv").feature.tolist() == ["x1", "x2"]
    assert pd.read_csv(out / "summary.csv").parameter.tolist() == ["w[x1]", "w[x2]"]


def test_fit_with_a_sampler_writes_a_readable_posterior(files, tmp_path, capsys, page_checker):
    out = tmp_path / "nuts"
    code, printed, err = run(
        [
            "fit",
            "normal_normal",
            "--data",
            files["normal"],
            "--method",
            "nuts:pymc",
            "--draws",
            300,
            "--tune",
            300,
            "--chains",
            2,
            "--out",
            out,
        ],
        capsys,
    )
    assert code == 0, err
    # The convergence verdict, on one line of stderr (the warning itself is not repeated).
    (verdict,) = [line for line in err.splitlines() if line.startswith("bayesmin: nuts:pymc ")]
    assert "converge" in verdict and "ConvergenceWarning" not in err
    idata = az.from_netcdf(out / "posterior.nc")
    assert idata.posterior["mu"].shape == (2, 300)
    assert idata.attrs["convergence"] in verdict
    summary = pd.read_csv(out / "summary.csv")
    assert {"mean", "sd", "median", "mode", "r_hat"} <= set(summary.columns)
    assert printed.split() == [str(out / n) for n in
                               ("posterior.nc", "summary.csv", "fit.json", "index.html")]  # fmt: skip
    # The page: the run's verdict, its worst-mixing plots, NUTS's energy and divergences.
    page = page_checker(out / "index.html")
    assert "<code>nuts:pymc</code>: <span" in page.text
    for kind in ("trace", "rank", "ess-evolution", "autocorr", "energy"):
        assert any(src.startswith(f"figures/fit_{kind}-nuts-pymc") for src in page.images)
    assert "One parameter, no pair plot" in page.text  # normal_normal has only mu
    assert "seconds: total" in page.text and "version: pymc" in page.text


def test_convergence_lines_are_one_per_fit_and_a_count_for_a_grid(capsys):
    ok = {"converged": 1, "convergence": "converged (2 chains × 500 draws): R-hat 1.001"}
    bad = {"converged": 0, "convergence": "did not converge (...): R-hat 1.2 (mu); remedy: x"}
    vi = {"converged": 1, "convergence": "not checked (2 chains × 10 draws) [not MCMC]"}
    cli._print_convergence({"mh": bad})
    assert capsys.readouterr().err == f"bayesmin: mh {bad['convergence']}\n"
    cli._print_convergence({"advi": vi, "old/seed=0": {}})  # nothing to say
    assert capsys.readouterr().err == ""
    cli._print_convergence({"nuts/seed=0": ok, "nuts/seed=1": ok, "advi/seed=0": vi})
    assert capsys.readouterr().err == "bayesmin: all 2 runs converged\n"
    runs = {f"mh/seed={k}": bad for k in range(5)} | {"nuts/seed=0": ok}
    cli._print_convergence(runs)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "bayesmin: 5 of 6 runs did not converge (mh ×5)"
    assert lines[1] == f"  mh/seed=0: {bad['convergence']}" and len(lines) == 5
    assert lines[-1] == "  and 2 more: see the verdicts in index.html"


BAD = [
    (["fit", "linear_regression", "--data", "{nan}", "--target", "y"], "NaN"),
    (["fit", "gamma_poisson", "--data", "{inf}"], "NaN/inf"),
    (["fit", "linear_regression", "--data", "{reg}", "--target", "price"], "'price'"),
    (["fit", "linear_regression", "--data", "{text}", "--target", "y"], "non-numeric"),
    (["fit", "linear_regression", "--data", "{reg}"], "--target"),
    (["fit", "gamma_poisson", "--data", "{negative}"], "negative"),
    (["fit", "gamma_poisson", "--data", "{fraction}"], "whole numbers"),
    (["fit", "beta_binomial", "--data", "{binom}"], "exceed trials"),
    (["fit", "gamma_poisson", "--data", "{two}"], "--column"),
    (["fit", "gamma_poisson", "--data", "{counts}", "--column", "nope"], "'nope'"),
    (["fit", "gamma_poisson", "--data", "{empty}"], "empty"),
    (["fit", "gamma_poisson", "--data", "{header}"], "no rows"),
    (["fit", "gamma_poisson", "--data", "missing.csv"], "no such file"),
    (["fit", "normal_normal", "--data", "{normal}", "--set", "sigma=0"], "sigma"),
    (["fit", "normal_normal", "--data", "{normal}", "--set", "tau0=-1"], "tau0"),
    (["fit", "gamma_poisson", "--data", "{counts}", "--set", "c=1"], "unknown setting"),
    (["fit", "gamma_poisson", "--data", "{counts}", "--set", "a"], "KEY=VALUE"),
    (["fit", "no_such_model"], "unknown model"),
    (["fit", "gamma_poisson", "--method", "hmc:stan"], "unknown sampler"),
    (["compare", "gamma_poisson", "--samplers", "nuts,bogus"], "unknown sampler"),
    (["compare", "gamma_poisson", "--seeds", "x"], "seeds"),
    (["compare", "bayes_net"], "no continuous parameters"),
    (["compare", "gamma_poisson", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach"),
    (["compare", "gamma_poisson", "--workers", -1], "--workers"),
    (["sbc", "normal_normal", "--sims", 5], "--sims must be >= 10"),
    (["sbc", "normal_normal", "--sampler", "bogus"], "unknown sampler"),
    (["sbc", "correlated_gaussian"], "observes nothing"),
    (["sbc", "normal_normal", "--ranked-draws", 5000, "--draws", 100], "--ranked-draws"),
    (["sbc", "normal_normal", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach"),
    (["fit", "gaussian_mixture", "--data", "{nan}", "--k", 2], "NaN"),
    (["fit", "gaussian_mixture", "--data", "{two}", "--k", 5], "exceeds the 2 observations"),
    (["fit", "gaussian_mixture", "--data", "{text}", "--k", 2], "not numeric"),
    (["fit", "ppca", "--data", "{table}", "--q", 3], "1 <= q < 3"),
    (["fit", "gamma_poisson", "--data", "{counts}", "--method", "em"], "no EM fit"),
    (["fit", "gamma_poisson", "--data", "{counts}", "--method", "evidence"], "no type-II ML"),
    (["fit", "ard_regression", "--method", "exact"], "--method evidence"),
    (["fit", "ard_regression", "--data", "{reg}", "--target", "y", "--set", "gamma=0"], "gamma"),
    (["fit", "ard_regression", "--data", "{nan}", "--target", "y"], "NaN"),
    (["fit", "glad", "--data", "{dup}"], "duplicate (task, worker)"),
    (["fit", "glad", "--data", "{votes3}"], "labels must be 0 or 1"),
    (["fit", "glad", "--data", "{votes}"], "missing column(s) 'label'"),
    (["report", "--topics", "11"], "unknown topic"),
    (["report", "--profile", "huge"], "unknown profile"),
    (["report", "--jobs", 0], "--jobs must be at least 1, got 0"),
    (["fit", "gamma_poisson", "--no-such-flag"], "No such option"),
    # Run lengths: inference.sampling.check_run_lengths, spelt as the options.
    (["fit", "gamma_poisson", "--draws", 0], "--draws must be an integer >= 1, got 0"),
    (["fit", "gamma_poisson", "--tune", -1], "--tune must be an integer >= 0, got -1"),
    (["compare", "gamma_poisson", "--chains", 0], "--chains must be an integer >= 1, got 0"),
    (
        ["sbc", "normal_normal", "--ranked-draws", 0],
        "--ranked-draws must be an integer >= 1, got 0",
    ),
    (["sbc", "normal_normal", "--tune", -5], "--tune must be an integer >= 0, got -5"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD, ids=[" ".join(a[:2]) + f" {n}" for a, n in BAD])
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    out.mkdir()
    (out / "finished.csv").write_text("keep me\n")
    argv = [a.format(**files) if isinstance(a, str) else a for a in argv]
    code, _, err = run([*argv, "--out", out], capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err
    assert (out / "finished.csv").read_text() == "keep me\n"
    assert sorted(p.name for p in out.iterdir()) == ["finished.csv"]


def test_missing_out_is_a_usage_error(capsys):
    code, _, err = run(["fit", "gamma_poisson"], capsys)
    assert code == 2
    assert "--out" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_script_entry_point_exits_2_without_traceback(tmp_path):
    exe = Path(sys.executable).with_name("bayesmin")
    proc = subprocess.run(
        [str(exe), "fit", "no_such_model", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("bayesmin: error: unknown model")
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------ compare

GRID = [
    "--samplers", "nuts:pymc,metropolis:pymc", "--chains", 2, "--draws", 200, "--tune", 200,
    "--workers", 0,
]  # fmt: skip


@pytest.mark.slow
def test_compare_writes_contract_table_and_resumes_without_recomputing(
    tmp_path, capsys, monkeypatch, page_checker
):
    out = tmp_path / "cmp"
    code, _, err = run(["compare", "gamma_poisson", *GRID, "--seeds", "0-1", "--out", out], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "comparison.csv", index_col="run")
    assert list(table.columns[: len(diagnostics.COMPARE_COLUMNS)]) == list(
        diagnostics.COMPARE_COLUMNS
    )
    assert len(table) == 4 and table.index.is_unique
    assert (table["error"].fillna("") == "").all()
    assert table["max_abs_z"].notna().all()
    # Four runs: one summary line of their convergence (and the failed runs' lines).
    assert "runs converged" in err or "runs did not converge" in err
    page = page_checker(out / "index.html").text
    assert "interquartile" in page and "Verdict per sampler" in page
    assert "Convergence check per run" in page
    assert "bayesmin compare gamma_poisson" in page and "<code>nuts:pymc/seed=1</code>" in page
    for figure in ("compare_bias.png", "compare_forest.png", "compare_ess-per-second.png"):
        assert (out / "figures" / figure).stat().st_size > 0
    runs = sorted((out / "runs").glob("*.nc"))
    assert len(runs) == 4
    mtimes = {p: p.stat().st_mtime_ns for p in runs}

    # A rerun must not sample at all; extending the seeds samples only the new ones.
    calls = []
    from bayesmin import inference

    real = inference.sample

    def spy(*args, **kwargs):
        calls.append((args[1], kwargs["seed"]))
        return real(*args, **kwargs)

    monkeypatch.setattr("bayesmin.reports.grid.inference.sample", spy)
    code, _, err = run(["compare", "gamma_poisson", *GRID, "--seeds", "0-1", "--out", out], capsys)
    assert code == 0, err
    assert calls == []
    assert {p: p.stat().st_mtime_ns for p in runs} == mtimes
    pd.testing.assert_frame_equal(pd.read_csv(out / "comparison.csv", index_col="run"), table)

    code, _, err = run(["compare", "gamma_poisson", *GRID, "--seeds", "0,2", "--out", out], capsys)
    assert code == 0, err
    assert sorted(calls) == [("metropolis:pymc", 2), ("nuts:pymc", 2)]
    assert len(pd.read_csv(out / "comparison.csv")) == 6


def test_compare_refuses_a_folder_with_another_models_grid(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["--samplers", "metropolis:pymc", "--chains", 1, "--draws", 50, "--tune", 50]
    code, _, err = run(["compare", "normal_normal", *args, "--out", out], capsys)
    assert code == 0, err
    before = sorted(p.name for p in out.rglob("*"))
    code, _, err = run(["compare", "gamma_poisson", *args, "--out", out], capsys)
    assert code == 2 and "another grid" in err
    assert sorted(p.name for p in out.rglob("*")) == before

    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    code, _, err = run(["compare", "normal_normal", *args, "--out", other], capsys)
    assert code == 2 and "not empty" in err


# ------------------------------------------------------------------------------- report


def test_parse_topics_by_number_and_name():
    assert parse_topics("1,2,3") == [1, 2, 3]
    assert parse_topics("conjugate, 1") == [1, 3]
    assert parse_topics("all") == parse_topics(None)
    with pytest.raises(ValueError, match="unknown topic"):
        parse_topics("astrology")
    assert parse_topics("monte-carlo,mcmc") == [7, 8]
    assert parse_topics("vae,ddpm") == [9, 10]
    assert parse_topics(None) == list(range(1, 11))  # every topic has its section


@pytest.mark.slow
def test_report_topic_2_builds_a_page_with_figures(tmp_path, capsys):
    out = tmp_path / "report"
    code, _, err = run(["report", "--topics", "probability", "--out", out], capsys)
    assert code == 0, err
    page = (out / "index.html").read_text()
    assert "Conditional probability" in page
    figures = list((out / "figures").glob("*.png"))
    assert figures and all(p.stat().st_size > 1000 for p in figures)
    for src in [p.name for p in figures]:
        assert f"figures/{src}" in page


# ----------------------------------------------------------------------------------- sbc


@pytest.mark.slow
def test_sbc_writes_ranks_summary_and_page_and_resumes(tmp_path, capsys, monkeypatch, page_checker):
    out = tmp_path / "sbc"
    args = ["sbc", "normal_normal", "--sampler", "mh", "--sims", 10, "--chains", 2,
            "--draws", 300, "--tune", 300, "--workers", 0, "--save-runs", "--out", out]  # fmt: skip
    code, _, err = run(args, capsys)
    assert code == 0, err
    ranks = pd.read_csv(out / "ranks.csv")
    assert list(ranks.columns) == ["simulation", "parameter", "rank"]
    assert sorted(ranks["simulation"]) == list(range(10)) and ranks["rank"].between(0, 99).all()
    summary = pd.read_csv(out / "summary.csv")
    assert {"parameter", "n_sims", "p_value", "calibrated"} <= set(summary.columns)
    assert summary["n_sims"].tolist() == [10]
    assert len(list((out / "sims").glob("*.nc"))) == 10
    page = page_checker(out / "index.html").text
    assert "calibration" in page and "<pre><code>bayesmin sbc normal_normal" in page

    from bayesmin.diagnostics import sbc as sbc_diagnostics

    calls = []
    monkeypatch.setattr(sbc_diagnostics, "simulate", lambda task: calls.append(task) or 1 / 0)
    code, _, err = run(args, capsys)
    assert code == 0 and calls == []  # nothing recomputed
    pd.testing.assert_frame_equal(pd.read_csv(out / "ranks.csv"), ranks)


def test_sbc_refuses_a_folder_holding_a_comparison(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["--samplers", "metropolis:pymc", "--chains", 1, "--draws", 50, "--tune", 50]
    code, _, err = run(["compare", "normal_normal", *args, "--out", out], capsys)
    assert code == 0, err
    before = sorted(p.name for p in out.rglob("*"))
    code, _, err = run(["sbc", "normal_normal", "--out", out], capsys)
    assert code == 2 and "comparison grid" in err
    assert sorted(p.name for p in out.rglob("*")) == before


# ------------------------------------------------------------------------------- EM fits


def test_fit_by_em_writes_tables_and_the_bound(tmp_path, capsys):
    from bayesmin import models

    data = models.get("gaussian_mixture").simulate(2, n=200, k=2, d=2)
    csv = tmp_path / "X.csv"
    pd.DataFrame(data["X"], columns=["u", "v"]).to_csv(csv, index=False)
    out = tmp_path / "gm"
    code, _, err = run(["fit", "gaussian_mixture", "--data", csv, "--k", 2, "--out", out], capsys)
    assert code == 0, err
    comps = pd.read_csv(out / "summary.csv")
    assert list(comps["component"]) == [0, 1] and comps["weight"].sum() == pytest.approx(1)
    assert len(pd.read_csv(out / "assignments.csv")) == 200
    meta = json.loads((out / "fit.json").read_text())
    assert meta["method"] == "em" and meta["em"]["converged"]

    # PPCA reads a table with empty cells as missing values and fills them in.
    X = models.get("ppca").simulate(0, n=60, D=4, q=1)
    table = pd.DataFrame(X["X"])
    table.iloc[3, 2] = np.nan
    csv = tmp_path / "P.csv"
    table.to_csv(csv, index=False)
    out = tmp_path / "pp"
    code, _, err = run(["fit", "ppca", "--data", csv, "--q", 1, "--out", out], capsys)
    assert code == 0, err
    imputed = pd.read_csv(out / "imputed.csv")
    assert imputed.notna().all().all() and imputed.shape == (60, 4)
    assert json.loads((out / "fit.json").read_text())["em"]["missing_values"] == 1


def test_fit_by_evidence_writes_relevance_vectors_in_the_users_units(tmp_path, capsys):
    from bayesmin.inference.evidence import RVR

    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-10, 10, 120))
    y = 50.0 + 20.0 * np.sinc(x / np.pi) + rng.normal(0, 2.0, x.size)
    csv = tmp_path / "sinc.csv"
    pd.DataFrame({"x": x, "y": y}).to_csv(csv, index=False)
    out = tmp_path / "rvm"
    argv = ["fit", "ard_regression", "--data", csv, "--target", "y", "--set", "gamma=4"]
    code, _, err = run([*argv, "--out", out], capsys)
    assert code == 0, err
    meta = json.loads((out / "fit.json").read_text())
    assert meta["method"] == "evidence" and meta["evidence"]["converged"]
    pred = pd.read_csv(out / "predictions.csv")
    np.testing.assert_allclose(pred["target"], y)
    # The same fit by hand on the standardised table, mapped back to the user's units.
    z = ((x - x.mean()) / x.std())[:, None]
    fit = RVR(kernel="rbf", gamma=4.0).fit(z, (y - y.mean()) / y.std())
    mean, sd = fit.predict(z, return_std=True)
    np.testing.assert_allclose(pred["predicted_mean"], y.mean() + y.std() * mean)
    np.testing.assert_allclose(pred["predicted_sd"], y.std() * sd)
    rvs = pd.read_csv(out / "summary.csv")
    np.testing.assert_allclose(rvs["x0"], x[rvs["row"]])
    assert len(rvs) == meta["evidence"]["relevance_vectors"] < 20
    # In the user's units the noise sd is recovered (true 2.0) and the fit tracks the curve.
    assert 1.6 < meta["evidence"]["noise_sd"] < 2.4
    truth = 50.0 + 20.0 * np.sinc(x / np.pi)
    assert np.sqrt(np.mean((pred["predicted_mean"] - truth) ** 2)) < 1.0


def test_fit_glad_from_a_labels_table(tmp_path, capsys):
    from bayesmin.models import glad

    df, truth = glad.simulate(0, n_tasks=120, n_workers=12, labels_per_task=5)
    csv = tmp_path / "labels.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "glad"
    code, _, err = run(["fit", "glad", "--data", csv, "--out", out], capsys)
    assert code == 0, err
    tasks = pd.read_csv(out / "summary.csv")
    assert len(tasks) == 120 and tasks["p_label_1"].between(0, 1).all()
    accuracy = (tasks.sort_values("task")["label"].to_numpy() == truth["z"]).mean()
    assert accuracy > 0.8
    workers = pd.read_csv(out / "workers.csv")
    assert len(workers) == 12 and workers["alpha"].is_monotonic_decreasing
