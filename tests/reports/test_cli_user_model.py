"""Your own model through every command: ``bayesmin fit|compare|sbc script.py:NAME --data``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmin.reports import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

NUMPYRO_SCRIPT = """
import numpyro
import numpyro.distributions as dist

def model(x, y=None):
    a = numpyro.sample("a", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    numpyro.sample("y", dist.Normal(a * x, sigma), obs=y)
"""


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder outside the repository holding a user's script and CSV."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text(NUMPYRO_SCRIPT)
    rng = np.random.default_rng(1)
    x = rng.normal(size=30)
    pd.DataFrame({"x": x, "y": 0.7 * x + rng.normal(0, 0.5, 30)}).to_csv("d.csv", index=False)
    return tmp_path


SMALL = ["--draws", 200, "--tune", 200, "--chains", 2]


def test_compare_records_the_script_and_refuses_a_resume_after_it_changed(
    work, capsys, page_checker
):
    argv = ["compare", "mine.py:model", "--data", "d.csv", "--samplers", "nuts", *SMALL]
    code, _out, err = run([*argv, "--out", "run"], capsys)
    assert code == 0, err
    manifest = json.loads((work / "run" / "grid.json").read_text())
    assert manifest["model"] == "mine.py:model"
    assert manifest["script"] == str(work / "mine.py") and len(manifest["script_sha256"]) == 64
    table = pd.read_csv(work / "run" / "comparison.csv")
    assert table["ess_bulk_min"].notna().all() and (table["error"].isna()).all()
    page = page_checker(work / "run" / "index.html")
    assert page.images and "mine.py:model" in page.text and "script_sha256" in page.text
    # Same script, same data: resumes (nothing to compute).
    code, _, err = run([*argv, "--out", "run"], capsys)
    assert code == 0, err
    # Other sampler options make other runs.
    code, _, err = run([*argv, "--option", "target_accept=0.9", "--out", "run"], capsys)
    assert code == 2 and "options is '' there" in err
    (work / "mine.py").write_text(NUMPYRO_SCRIPT + "\n# a comment changes the text\n")
    code, _, err = run([*argv, "--out", "run"], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "mine.py has changed since those runs" in err
    # Changed data likewise.
    (work / "mine.py").write_text(NUMPYRO_SCRIPT)
    pd.read_csv("d.csv").iloc[:-1].to_csv("d.csv", index=False)
    code, _, err = run([*argv, "--out", "run"], capsys)
    assert code == 2 and "the data differ" in err


BAD = [
    (["compare", "missing.py:model"], "no such file"),
    (["compare", "mine.py"], "names no model"),
    (["compare", "mine.py:other", "--data", "d.csv"], "has no 'other' (it defines: model)"),
    (["compare", "mine.py:model"], "needs data for x"),
    (["compare", "mine.py:model", "--data", "d.csv", "--target", "y"], "--target is for"),
    (["compare", "mine.py:model", "--data", "d.csv", "--samplers", "nuts:pymc"], "needs a PyMC"),
    (["sbc", "mine.py:model", "--data", "nope.csv"], "no such file"),
    (["fit", "mine.py:model", "--data", "d.csv", "--method", "exact"], "no closed-form"),
    (["compare", "mine.py:model", "--data", "d.csv", "--option", "foo=1"], "option(s) foo"),
    (["compare", "mine.py:model", "--data", "d.csv", "--option", "foo"], "takes KEY=VALUE"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD, ids=[" ".join(a[:2]) + f" {n}" for a, n in BAD])
def test_bad_references_exit_2_with_one_line_and_write_nothing(work, capsys, argv, needle):
    code, _, err = run([*argv, "--out", "out"], capsys)
    assert code == 2 and needle in err and err.strip().count("\n") == 0, err
    assert not (work / "out").exists()


def test_fit_of_a_numpyro_script_writes_posterior_and_records_its_origin(work, capsys):
    code, _out, err = run(["fit", "mine.py:model", "--data", "d.csv", *SMALL, "--out", "f"], capsys)
    assert code == 0, err
    meta = json.loads((work / "f" / "fit.json").read_text())
    assert meta["model"] == "mine.py:model" and meta["method"] == "nuts"
    assert len(meta["script_sha256"]) == 64 and len(meta["data_sha256"]) == 64
    summary = pd.read_csv(work / "f" / "summary.csv")
    # The slope the data were simulated with, within the posterior's spread.
    row = summary.set_index("parameter").loc["a"]
    assert abs(row["mean"] - 0.7) < 4 * row["sd"]


@pytest.mark.slow  # each simulation's new data compile the sampler anew
def test_sbc_of_a_numpyro_script_resimulates_the_observed_argument(work, capsys):
    argv = ["sbc", "mine.py:model", "--data", "d.csv", "--sampler", "nuts", "--sims", 10]
    code, _, err = run([*argv, *SMALL, "--ranked-draws", 49, "--out", "s"], capsys)
    assert code == 0, err
    ranks = pd.read_csv(work / "s" / "ranks.csv")
    assert set(ranks["parameter"]) == {"a", "sigma"} and ranks["rank"].between(0, 49).all()
    assert len(json.loads((work / "s" / "sbc.json").read_text())["script_sha256"]) == 64


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "data", "samplers"),
    [
        ("hierarchical.py", "hierarchical.csv", "nuts,mh"),
        ("logistic.py", "logistic.csv", "nuts,mh"),
        ("changepoint.py", "disasters.csv", "mh:pymc,nuts:pymc"),
    ],
)
def test_the_examples_run_through_the_command_line(
    tmp_path, monkeypatch, capsys, script, data, samplers
):
    for name in (script, data):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    argv = ["compare", f"{script}:model", "--data", data, "--samplers", samplers, "--out", "run"]
    code, _, err = run(
        [*argv, "--draws", 500, "--tune", 500, "--chains", 2, "--workers", 0], capsys
    )
    assert code == 0, err
    table = pd.read_csv(tmp_path / "run" / "comparison.csv")
    assert len(table) == len(samplers.split(",")) and table["rhat_max"].notna().all()


def test_the_discrete_example_is_refused_by_gradient_samplers_up_front(
    tmp_path, monkeypatch, capsys
):
    for name in ("changepoint.py", "disasters.csv"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "changepoint.py:model", "--data", "disasters.csv", "--samplers", "nuts"]
    code, _, err = run([*argv, "--out", "run"], capsys)
    assert code == 2 and "cannot sample the discrete variable(s) switchpoint" in err
    assert not (tmp_path / "run").exists()


def _draws_file(path, chains, rng, a_sd=0.1):
    import arviz as az

    az.from_dict(
        posterior={
            "a": rng.normal(0.7, a_sd, (chains, 3000)),
            "sigma": np.abs(rng.normal(0.5, 0.07, (chains, 3000))),
        }
    ).to_netcdf(path)
    return path


def test_compare_against_a_users_draws_fills_the_bias_columns(work, capsys):
    rng = np.random.default_rng(3)
    good = _draws_file(work / "ref.nc", 4, rng)
    argv = ["compare", "mine.py:model", "--data", "d.csv", "--samplers", "nuts", *SMALL]
    code, _, err = run([*argv, "--reference", good, "--out", "run"], capsys)
    assert code == 0, err
    table = pd.read_csv(work / "run" / "comparison.csv")
    assert np.isfinite(table["max_abs_z"]).all() and np.isfinite(table["sd_ratio_worst"]).all()
    # A reference the run disagrees with shows in the table: one twice as wide.
    wide = _draws_file(work / "wide.nc", 4, rng, a_sd=0.2)
    code, _, err = run([*argv, "--reference", wide, "--out", "run"], capsys)
    again = pd.read_csv(work / "run" / "comparison.csv")
    assert again["sd_ratio_worst"].iloc[0] < 0.8 * table["sd_ratio_worst"].iloc[0]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda work: _draws_file(work / "one.nc", 1, np.random.default_rng(0)), "2 chains"),
        (lambda work: work / "absent.nc", "no such file"),
    ],
    ids=["one chain", "missing"],
)
def test_a_bad_reference_file_exits_2_before_any_run(work, capsys, make, needle):
    argv = ["compare", "mine.py:model", "--data", "d.csv", "--samplers", "nuts", *SMALL]
    code, _, err = run([*argv, "--reference", make(work), "--out", "run"], capsys)
    assert code == 2 and needle in err and err.strip().count("\n") == 0, err
    assert not (work / "run" / "runs").exists()


@pytest.mark.slow
def test_the_long_reference_is_computed_once_and_kept(work, capsys):
    argv = ["compare", "mine.py:model", "--data", "d.csv", "--samplers", "mh", *SMALL]
    code, _, err = run([*argv, "--reference", "long", "--out", "run"], capsys)
    assert code == 0, err
    kept = work / "run" / "reference.nc"
    stamp = kept.stat().st_mtime_ns
    code, _, err = run([*argv, "--seeds", "0-1", "--reference", "long", "--out", "run"], capsys)
    assert code == 0, err
    assert kept.stat().st_mtime_ns == stamp
    table = pd.read_csv(work / "run" / "comparison.csv")
    assert len(table) == 2 and np.isfinite(table["max_abs_z"]).all()
