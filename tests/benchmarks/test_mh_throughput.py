"""The throughput benchmark runs where only JAX is installed, and both loops sample the target."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mh_throughput():
    spec = importlib.util.spec_from_file_location(
        "mh_throughput", ROOT / "benchmarks" / "mh_throughput.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kernel_and_its_imports_need_no_pymc():
    # A GPU machine may have JAX and NumPyro but not PyMC: the kernel, the target's
    # simulator and the benchmark itself must import without it.
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); import mh_throughput; "
        "assert 'pymc' not in sys.modules and 'pytensor' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('pymc', 'pytensor')))"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_and_plain_loop_agree(mh_throughput, dtype):
    table = mh_throughput.run([512], dim=3, steps=300, dtypes=(dtype,), repeats=1)
    assert list(table["impl"]) == ["mh", "plain"]
    assert (table["chain-steps/s"] > 0).all()
    # 512 chains x 300 steps started in the target: the pooled mean is within a few
    # hundredths of a marginal sd (MCSE ~ 1/sqrt(512 x 300 / IAT)), and both loops
    # make the same accept/reject rule, so their acceptance rates agree.
    assert (table["max_mean_err/sd"] < 0.1).all()
    acc = table["acceptance"].to_numpy()
    assert abs(acc[0] - acc[1]) < 0.02
    # Optimal 3-d random walk at scale 2.38/sqrt(d) accepts ~0.35-0.45 of moves; a
    # kernel that accepted everything (or nothing) would fail here.
    assert np.all((acc > 0.25) & (acc < 0.6))


def test_arguments_are_checked(mh_throughput):
    with pytest.raises(SystemExit):
        mh_throughput.parse_args(["--dtype", "float16"])
    with pytest.raises(SystemExit):
        mh_throughput.parse_args(["--chains", "0"])
    args = mh_throughput.parse_args(["--chains", "100_000,1000000", "--dtype", "float32,float64"])
    assert args.chains == [100000, 1000000] and args.dtype == ("float32", "float64")
