"""The time-to-answer benchmark's parent logic: arguments, stopping records, ratios.

Nothing here samples (a child process compiles for tens of seconds); the children are
exercised by running the script itself.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tta():
    spec = importlib.util.spec_from_file_location(
        "time_to_answer", ROOT / "benchmarks" / "time_to_answer.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_defaults_and_explicit_choices(tta):
    args = tta.parse_args(["--quick"])
    assert args.models == list(tta.QUICK_MODELS)
    assert args.ladder == tta.QUICK_LADDER
    assert args.samplers == list(tta.SAMPLERS)
    args = tta.parse_args(["--models", "regression", "--samplers", "mh,pymc", "--ladder", "8,16"])
    assert (args.models, args.samplers, args.ladder) == (["regression"], ["mh", "pymc"], (8, 16))
    assert args.timeout == 300.0


@pytest.mark.parametrize(
    "argv", [["--models", "nope"], ["--samplers", "nuts,gibbs"], ["--ladder", "10,x"]]
)
def test_bad_arguments_exit_2(tta, argv):
    with pytest.raises(SystemExit) as err:
        tta.parse_args(argv)
    assert err.value.code == 2


@pytest.mark.parametrize(
    "attrs",
    [
        {"until_ess": 400, "chunks": 3, "target_met": True},
        {"stopping": json.dumps({"rule": "until_ess", "n_chunks": 3, "met": 1})},
        {"stopping_rule": {"chunks_run": np.int64(3), "reached": np.bool_(True)}},
    ],
)
def test_stopping_record_is_read_whatever_the_keys(tta, attrs):
    chunks, met, text = tta._stopping_record({"sampler": "mh", "seed": 0, **attrs})
    assert (chunks, met) == (3, True)
    assert "sampler" not in text and "seed" not in text


def test_ratios_use_rows_that_met(tta):
    table = pd.DataFrame(
        [
            {"model": "m", "sampler": "nuts", "cold_s": 20.0, "warm_s": 6.0, "met": "yes"},
            {"model": "m", "sampler": "mh", "cold_s": 9.0, "warm_s": 3.0, "met": "yes"},
            {"model": "m", "sampler": "nutpie", "cold_s": 10.0, "warm_s": 4.0, "met": "yes"},
            {"model": "m", "sampler": "PyMC NUTS", "cold_s": 9.0, "warm_s": 2.0, "met": "no"},
            {"model": "m", "sampler": "PyMC Metropolis", "cold_s": 30.0, "warm_s": 25.0,
             "met": "yes"},
        ]
    )  # fmt: skip
    row = tta.ratios(table).iloc[0]
    assert row["fastest anchor (warm)"] == "nutpie"  # PyMC NUTS did not meet the target
    assert row["nuts / fastest anchor (warm)"] == pytest.approx(1.5)
    assert row["best of ours"] == "mh"
    assert row["best ours / fastest anchor (warm)"] == pytest.approx(0.75)
    assert row["mh / PyMC Metropolis (cold)"] == pytest.approx(0.3)


def test_hierarchical_data_are_balanced_groups(tta):
    data = tta.hierarchical_simulate(0, groups=97, per_group=8)
    assert data["y"].shape == (97, 8)
    np.testing.assert_array_equal(data["y"], tta.hierarchical_simulate(0)["y"])
