"""The bad-input matrix: every way a file, a number or an option can be wrong.

Each case runs through ``cli.main`` and must end with exit status 2, exactly one line on
stderr that names the problem, no traceback, and an output folder byte-identical to
what it held before: bad input is refused before anything is written. The folder holds
a finished result of the same command (``fit``, ``compare``) where one is cheap to make;
``sbc`` and ``report`` results cost far more, so their folders hold a file of the user's.
A UTF-8 byte-order mark and Windows line ends are not bad input: those cases must work.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmin.reports import cli, fitting

TEXT_FILES = {
    "counts.csv": "visits\n3\n5\n2\n7\n",
    "normal.csv": "y\n1.2\n0.7\n1.9\n",
    "empty.csv": "",
    "blank.csv": "\n\n  \n",
    "header.csv": "visits\n",
    "nan.csv": "visits\n3\n\n2\nnan\n",
    "inf.csv": "visits\n3\ninf\n",
    "text.csv": "visits\n3\nmany\n2\n",
    "two.csv": "visits,day\n3,1\n5,2\n",
    "fraction.csv": "visits\n3\n2.5\n",
    "negative.csv": "visits\n3\n-5\n2\n",
    "huge_float.csv": "visits\n3\n1e19\n2\n",  # int64 would wrap round: Gamma shape -9.2e18
    "huge_uint.csv": "visits\n3\n10000000000000000000\n",  # pandas: uint64
    "huge_object.csv": "visits\n3\n99999999999999999999999\n",  # pandas: Python ints
    "huge_trials.csv": "successes,trials\n3,10\n2,1e19\n",
    "json.json": '{"visits": [1, 2, 3]}',
    "json_named.csv": '{"visits": [1, 2, 3]}',
    "semicolon.csv": "visits;day\n3;1\n5;2\n",
    "tabs.csv": "visits\tday\n3\t1\n5\t2\n",
    "ragged.csv": "visits\n3\n5,6,7\n",
    "labels.csv": "task,worker,label\n1,a,1\n1,b,1e19\n",
}
BYTE_FILES = {
    "bom.csv": b"\xef\xbb\xbfvisits\n3\n5\n2\n7\n",
    "crlf.csv": b"visits\r\n3\r\n5\r\n2\r\n7\r\n",
    "latin1.csv": "visites_à\n3\n".encode("latin-1"),
    "utf16.csv": "visits\n3\n".encode("utf-16"),
    "binary.csv": bytes(range(256)) * 4,
    "workbook.csv": b"PK\x03\x04" + bytes(100),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The data files, and a finished result of ``fit`` and of ``compare``."""
    root = tmp_path_factory.mktemp("bad_input")
    for name, text in TEXT_FILES.items():
        (root / name).write_text(text)
    for name, data in BYTE_FILES.items():
        (root / name).write_bytes(data)
    (root / "folder.csv").mkdir()
    previous = {
        "fit": ["fit", "normal_normal"],
        "compare": ["compare", "normal_normal", "--samplers", "mh", "--chains", "1",
                    "--draws", "20", "--tune", "20", "--workers", "0"],
    }  # fmt: skip
    for command, argv in previous.items():
        assert cli.main([*argv, "--out", str(root / f"prev_{command}")]) == 0
    for command in ("sbc", "report"):
        (root / f"prev_{command}").mkdir()
        (root / f"prev_{command}" / "notes.txt").write_text("the user's own file\n")
    return root


def checksums(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


HUGE = 10**13  # draws no machine holds: 10**13 × 4 chains × 11 numbers × 8 bytes × 2

BAD = [
    # --- the data file
    (["fit", "gamma_poisson", "--data", "empty.csv"], "is empty"),
    (["fit", "gamma_poisson", "--data", "blank.csv"], "is empty"),
    (["fit", "gamma_poisson", "--data", "header.csv"], "has a header but no rows"),
    (["fit", "gamma_poisson", "--data", "nan.csv"], "NaN/inf"),
    (["fit", "gamma_poisson", "--data", "inf.csv"], "NaN/inf"),
    (["fit", "normal_normal", "--data", "inf.csv"], "NaN/inf"),
    (["fit", "gamma_poisson", "--data", "text.csv"], "'visits' is not numeric"),
    (["fit", "gamma_poisson", "--data", "counts.csv", "--column", "nope"], "'nope'"),
    (["fit", "gamma_poisson", "--data", "two.csv"], "--column"),
    (["fit", "gamma_poisson", "--data", "fraction.csv"], "whole numbers"),
    (["fit", "gamma_poisson", "--data", "negative.csv"], "must be >= 0"),
    (["fit", "gamma_poisson", "--data", "binary.csv"], "is a binary file, not CSV"),
    (["fit", "gamma_poisson", "--data", "workbook.csv"], "zip archive"),
    (["fit", "gamma_poisson", "--data", "folder.csv"], "is a folder"),
    (["fit", "gamma_poisson", "--data", "missing.csv"], "no such file"),
    (["fit", "gamma_poisson", "--data", "json.json"], "is a JSON file, not CSV"),
    (["fit", "gamma_poisson", "--data", "json_named.csv"], "does not look like CSV"),
    (["fit", "gamma_poisson", "--data", "semicolon.csv"], "looks ';'-separated"),
    (["fit", "gamma_poisson", "--data", "tabs.csv"], "looks tab-separated"),
    (["fit", "gamma_poisson", "--data", "latin1.csv"], "is not UTF-8"),
    (["fit", "gamma_poisson", "--data", "utf16.csv"], "UTF-16"),
    (["fit", "gamma_poisson", "--data", "ragged.csv"], "cannot parse ragged.csv as CSV"),
    # --- huge numbers: never wrapped round
    (["fit", "gamma_poisson", "--data", "huge_float.csv"], "visits has 1 value(s) beyond the largest count 2**53"),
    (["fit", "gamma_poisson", "--data", "huge_uint.csv"], "beyond the largest count 2**53"),
    (["fit", "gamma_poisson", "--data", "huge_object.csv"], "beyond the largest count 2**53"),
    (["fit", "beta_binomial", "--data", "huge_trials.csv"], "trials has 1 value(s) beyond"),
    (["fit", "glad", "--data", "labels.csv"], "labels must be 0 or 1"),
    # --- --set
    (["fit", "normal_normal", "--set", "sigma=nan"], "--set sigma must be a finite number"),
    (["fit", "normal_normal", "--set", "sigma=1e400"], "--set sigma must be a finite number"),
    (["fit", "normal_normal", "--set", "n=-3"], "n must be a whole number from 1 to"),
    (["fit", "normal_normal", "--set", "n=2.5"], "n must be a whole number"),
    (["fit", "normal_normal", "--set", "n=1e12"], "n must be a whole number from 1 to 10,000,000"),
    (["fit", "gamma_poisson", "--set", "lam=-1"], "lam must be a number from 0"),
    (["fit", "linear_regression", "--set", "d=20000"], "posterior covariance (d × d)"),
    (["fit", "gaussian_mixture", "--k", "1000"], "k must be a whole number from 1 to 300"),
    (["compare", "correlated_gaussian", "--set", "d=100000"], "covariance (d × d)"),
    (["compare", "funnel", "--set", "d=1e9"], "d must be a whole number from 2"),
    # --- seeds, run lengths, runs
    (["fit", "normal_normal", "--seed", "-1"], "--seed must be an integer from 0 to 4294967295"),
    (["fit", "normal_normal", "--seed", "99999999999999999999"], "--seed must be an integer from 0"),
    (["sbc", "normal_normal", "--seed", "-1"], "--seed must be an integer from 0"),
    (["report", "--seed", str(2**32)], "--seed must be an integer from 0 to 4294967295"),
    (["compare", "normal_normal", "--seeds", "0-99999999999"], "beyond the largest seed"),
    (["compare", "normal_normal", "--seeds", "0-20000"], "at most 10,000"),
    (["sbc", "normal_normal", "--sims", "100000"], "--sims must be <= 10,000"),
    (["fit", "normal_normal", "--method", "nuts", "--draws", HUGE], "lower --draws or --chains"),
    (["compare", "normal_normal", "--draws", HUGE], "GB of memory"),
    (["compare", "normal_normal", "--draws", HUGE // 10, "--seeds", "0-9"], "× 10 runs"),
    (["sbc", "normal_normal", "--draws", HUGE], "GB of memory"),
    (["fit", "vae", "--seed", "-1"], "--seed must be an integer from 0"),
    (["compare", "normal_normal", "--workers", "1000000000"], "--workers must be <="),
    # --- options
    (["report", "--topics", ""], "--topics is empty"),
    (["report", "--topics", " , "], "--topics is empty"),
]  # fmt: skip


def _command(argv) -> str:
    return argv[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    BAD,
    ids=[f"{i}-{' '.join(map(str, a[:2]))}" for i, (a, _) in enumerate(BAD)],
)
def test_bad_input_is_refused_in_one_line_before_anything_is_written(
    env, tmp_path, capsys, argv, needle
):
    out = tmp_path / "prev"
    shutil.copytree(env / f"prev_{_command(argv)}", out)
    before = checksums(out)
    argv = [str(env / a) if str(a).endswith((".csv", ".json")) else str(a) for a in argv]
    code = cli.main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("bayesmin: error: ")
    assert needle in lines[0]
    assert "Traceback" not in err
    assert checksums(out) == before


@pytest.mark.parametrize("name", ["bom.csv", "crlf.csv"])
def test_a_byte_order_mark_and_windows_line_ends_read_as_plain_csv(env, tmp_path, capsys, name):
    plain, other = tmp_path / "plain", tmp_path / "other"
    assert cli.main(["fit", "gamma_poisson", "--data", str(env / "counts.csv"), "--column",
                     "visits", "--out", str(plain)]) == 0  # fmt: skip
    code = cli.main(["fit", "gamma_poisson", "--data", str(env / name), "--column", "visits",
                     "--out", str(other)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    pd.testing.assert_frame_equal(
        pd.read_csv(other / "summary.csv"), pd.read_csv(plain / "summary.csv")
    )


def test_a_users_model_reads_a_bom_csv_with_its_column_names(env):
    from bayesmin.models import user

    assert list(user.read_data(env / "bom.csv").columns) == ["visits"]


def test_the_memory_estimate_names_its_parts(monkeypatch):
    from bayesmin import inference, models

    assert inference.values_per_draw("normal_normal") == 1
    assert inference.values_per_draw("linear_regression") == 3
    spec = models.get("normal_normal")
    monkeypatch.setattr(fitting, "available_memory", lambda: 10**9)
    data = spec.simulate(0)
    fitting.check_memory(spec, data, draws=1000, chains=4)  # 0.7 MB: fine
    with pytest.raises(models.DataError) as err:
        fitting.check_memory(spec, data, draws=10**7, chains=4, tune=10)
    message = str(err.value)
    # 10**7 × 4 × (1 + 10) × 8 bytes, twice: 7.04 GB.
    assert "--draws 10000000 × --chains 4 × 11 numbers per draw" in message
    assert "7.04 GB of memory; this machine has 1 GB available" in message


def test_counts_are_exact_integers_up_to_2_to_the_53():
    from bayesmin.models.base import MAX_COUNT, DataError, count_array

    assert count_array("n", [0, 3, MAX_COUNT]).tolist() == [0, 3, MAX_COUNT]
    assert count_array("n", np.array([1.0, 4.0])).dtype == np.int64
    for bad, word in (
        ([1, MAX_COUNT + 2], "beyond the largest count"),
        (np.array([1, 2**63], dtype=np.uint64), "beyond the largest count"),
        ([1, -1], "negative"),
        ([1, 0.5], "fractional"),
        ([], "empty"),
    ):
        with pytest.raises(DataError, match=word):
            count_array("n", bad)


def test_the_conjugate_sums_do_not_wrap_round():
    from bayesmin import models
    from bayesmin.models.base import MAX_COUNT

    spec = models.get("gamma_poisson")
    data = spec.from_frame(pd.DataFrame({"y": [MAX_COUNT] * 2000}))
    shape = spec.exact(data)["lam"].marginals[0].args[0]
    assert shape == pytest.approx(2.0 + 2000 * float(MAX_COUNT))


def test_seed_and_count_checks_name_their_range():
    from bayesmin.inference import check_run_lengths, check_seed

    assert check_seed(0) == 0 and check_seed(2**32 - 1) == 2**32 - 1
    for bad in (-1, 2**32, 1.0, True, "3"):
        with pytest.raises(ValueError, match="seed must be an integer from 0 to 4294967295"):
            check_seed(bad)
    assert check_run_lengths(draws=10, seed=5) == {"draws": 10, "seed": 5}


def test_seed_lists_are_bounded_before_they_are_expanded():
    from bayesmin.reports.grid import MAX_RUNS, parse_seeds

    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    assert len(parse_seeds(f"0-{MAX_RUNS - 1}")) == MAX_RUNS
    with pytest.raises(ValueError, match="at most 10,000"):
        parse_seeds(f"0-{MAX_RUNS}")
    with pytest.raises(ValueError, match="at most 10,000"):
        parse_seeds("0-9999,20000-20001")
    with pytest.raises(ValueError, match="beyond the largest seed"):
        parse_seeds("4294967296")


def test_repeated_samplers_run_once(env, tmp_path, capsys):
    # mh and mh:jax are one sampler: the grid holds it once.
    out = tmp_path / "cmp"
    shutil.copytree(env / "prev_compare", out)
    code = cli.main(["compare", "normal_normal", "--samplers", "mh,mh:jax,MH", "--chains", "1",
                     "--draws", "20", "--tune", "20", "--workers", "0", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert len(pd.read_csv(out / "comparison.csv")) == 1
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["mh__seed0.nc"]
