"""A user's own model: references, data files, argument binding, one-line errors."""

from __future__ import annotations

import json
import pickle
import textwrap

import numpy as np
import pandas as pd
import pytest

from bayesmin.models import DataError, fingerprint, user

PYMC_FUNCTION = """
import pymc as pm

def model(group, y):
    k = int(group.max()) + 1
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 5)
        tau = pm.HalfNormal("tau", 2)
        z = pm.Normal("z", 0, 1, shape=k)
        pm.Normal("y", mu + tau * z[group], 1.0, observed=y)
    return m
"""

PYMC_OBJECT = """
import numpy as np
import pymc as pm

with pm.Model() as fixed:
    mu = pm.Normal("mu", 0, 1)
    pm.Normal("y", mu, 1, observed=np.array([0.1, -0.3, 0.4]))
"""

NUMPYRO = """
import numpyro
import numpyro.distributions as dist

def model(x, y=None):
    a = numpyro.sample("a", dist.Normal(0, 2))
    b = numpyro.sample("b", dist.Normal(0, 2))
    numpyro.sample("y", dist.Bernoulli(logits=a + b * x), obs=y)

def whole(df):
    mu = numpyro.sample("mu", dist.Normal(0, 1))
    numpyro.sample("obs", dist.Normal(mu, 1), obs=df["v"].to_numpy())

def discrete(y):
    k = numpyro.sample("k", dist.Bernoulli(0.5))
    numpyro.sample("mu", dist.Normal(k, 1))

def nothing():
    return None

def everything_observed(y):
    numpyro.sample("y", dist.Normal(0, 1), obs=y)

def returns_number():
    return 3

value = 3
"""


@pytest.fixture
def scripts(tmp_path):
    for name, text in (("hier", PYMC_FUNCTION), ("fixed", PYMC_OBJECT), ("npy", NUMPYRO)):
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(3), 4)
    pd.DataFrame({"group": group, "y": rng.normal(group, 1.0)}).to_csv(
        tmp_path / "hier.csv", index=False
    )
    x = rng.normal(size=20)
    pd.DataFrame({"x": x, "y": (x > 0).astype(int)}).to_csv(tmp_path / "logit.csv", index=False)
    return tmp_path


def test_each_kind_of_model_is_recognised(scripts):
    spec, data = user.load("hier.py:model", user.read_data(scripts / "hier.csv"), cwd=scripts)
    assert spec.kind == "pymc_function" and spec.params == ("mu", "tau", "z")
    # Integer columns stay integers: they index groups.
    assert data["group"].dtype.kind == "i" and data["y"].dtype == np.float64
    assert spec.pymc(data).free_RVs[0].name == "mu"

    spec, data = user.load("fixed.py:fixed", cwd=scripts)
    assert spec.kind == "pymc_model" and spec.params == ("mu",) and data == {}

    spec, data = user.load("npy.py:model", user.read_data(scripts / "logit.csv"), cwd=scripts)
    assert spec.kind == "numpyro" and spec.params == ("a", "b") and spec.numpyro is not None
    assert spec.name == "npy.py:model" and spec.path == str((scripts / "npy.py").resolve())


def test_a_module_reference_imports_from_the_working_folder(scripts):
    spec, _ = user.load("npy:model", user.read_data(scripts / "logit.csv"), cwd=scripts)
    assert spec.kind == "numpyro"


def test_a_csv_is_one_argument_per_column_or_the_whole_table(scripts):
    table = pd.DataFrame({"v": [0.1, 0.2, 0.3]})
    spec, data = user.load("npy.py:whole", table, cwd=scripts)
    assert list(data) == ["df"] and data["df"] is table
    assert spec.params == ("mu",)


def test_the_digest_follows_the_script_and_the_spec_pickles_as_its_reference(scripts):
    raw = user.read_data(scripts / "logit.csv")
    spec, _ = user.load("npy.py:model", raw, cwd=scripts)
    again = pickle.loads(pickle.dumps(spec))
    assert (again.kind, again.params, again.digest) == (spec.kind, spec.params, spec.digest)
    assert again.numpyro is not None
    (scripts / "npy.py").write_text(NUMPYRO + "\n# edited\n")
    edited, _ = user.load("npy.py:model", raw, cwd=scripts)
    assert edited.digest != spec.digest
    # A worker that finds the script edited refuses to run the old spec.
    with pytest.raises(DataError, match="changed"):
        pickle.loads(pickle.dumps(spec))


def test_data_files_of_every_format_give_the_same_arguments(scripts):
    x = np.linspace(-1, 1, 5)
    y = np.array([0, 1, 0, 1, 1])
    np.savez(scripts / "d.npz", x=x, y=y)
    (scripts / "d.json").write_text(json.dumps({"x": x.tolist(), "y": y.tolist()}))
    import arviz as az

    az.from_dict(
        posterior={"a": np.zeros((1, 2))}, constant_data={"x": x}, observed_data={"y": y}
    ).to_netcdf(scripts / "d.nc")
    pd.DataFrame({"x": x, "y": y}).to_csv(scripts / "d.csv", index=False)
    prints = set()
    for suffix in ("npz", "json", "nc", "csv"):
        _, data = user.load("npy.py:model", user.read_data(scripts / f"d.{suffix}"), cwd=scripts)
        np.testing.assert_allclose(data["x"], x)
        np.testing.assert_array_equal(data["y"], y)
        prints.add(fingerprint({k: np.asarray(v, float) for k, v in data.items()}))
    assert len(prints) == 1


BAD_REFERENCES = [
    ("missing.py:model", "no such file"),
    ("npy.py", "names no model"),
    ("npy.py:absent", "has no 'absent' (it defines:"),
    ("npy.py:value", "is of type int, not a model"),
    ("npy.py:nothing", "returned None"),
    ("npy.py:returns_number", "returned a int"),
    ("nosuch_package_xyz.mod:model", "no module named"),
    ("npy.py:not an identifier", "is not a Python name"),
]


@pytest.mark.parametrize(("reference", "needle"), BAD_REFERENCES)
def test_bad_references_are_one_line(scripts, reference, needle):
    with pytest.raises(DataError) as err:
        user.load(reference, cwd=scripts)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_a_script_that_raises_is_named_with_its_line(scripts):
    (scripts / "boom.py").write_text("import math\n\nvalue = undefined_name + 1\n")
    with pytest.raises(DataError, match=r"boom.py raised NameError: .*\(line 3\); fix the script"):
        user.load("boom.py:model", cwd=scripts)
    (scripts / "syntax.py").write_text("def model(:\n")
    with pytest.raises(DataError, match=r"raised SyntaxError.*line 1"):
        user.load("syntax.py:model", cwd=scripts)


BAD_DATA = [
    ("x,y,extra\n1,0,5\n", "column(s) extra of the data are not arguments of model(x, y)"),
    ("a,b\n1,2\n", "needs column(s) x, which the data lack (it has a, b)"),
    ("x,y\n1,0\nnan,1\n", "column 'x' has 1 NaN/inf value(s)"),
    ("x,y\nred,0\n", "column 'x' is text"),
    ("x,y\n", "has a header but no rows"),
    ("", "is empty"),
]


@pytest.mark.parametrize(("text", "needle"), BAD_DATA)
def test_bad_data_is_one_line(scripts, text, needle):
    (scripts / "bad.csv").write_text(text)
    with pytest.raises(DataError) as err:
        user.load("npy.py:model", user.read_data(scripts / "bad.csv"), cwd=scripts)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_data_for_a_fixed_model_and_no_data_for_a_function_are_refused(scripts):
    with pytest.raises(DataError, match=r"is a pm\.Model built when the script runs, with no"):
        user.load("fixed.py:fixed", {"y": np.zeros(3)}, cwd=scripts)
    with pytest.raises(DataError, match=r"model\(group, y\) needs data for group, y"):
        user.load("hier.py:model", cwd=scripts)
    with pytest.raises(DataError, match="unknown_format"):
        (scripts / "d.unknown_format").write_text("1")
        user.read_data(scripts / "d.unknown_format")


def test_a_fixed_model_takes_data_for_its_containers(scripts):
    (scripts / "contained.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            import pymc as pm

            with pm.Model() as fixed:
                y = pm.Data("y", np.zeros(3))
                mu = pm.Normal("mu", 0, 1)
                pm.Normal("obs", mu, 1, observed=y)
            """
        )
    )
    spec, data = user.load("contained.py:fixed", cwd=scripts)
    np.testing.assert_array_equal(data["y"], np.zeros(3))
    spec, data = user.load("contained.py:fixed", {"y": np.ones(5)}, cwd=scripts)
    assert spec.pymc(data)["y"].get_value().tolist() == [1.0] * 5
    with pytest.raises(DataError, match="the data have x, which"):
        user.load("contained.py:fixed", {"x": np.ones(5)}, cwd=scripts)


def test_discrete_latents_are_found(scripts):
    spec, data = user.load("npy.py:discrete", {"y": np.zeros(2)}, cwd=scripts)
    assert user.discrete_variables(spec, data) == ["k"]
    spec, data = user.load("hier.py:model", user.read_data(scripts / "hier.csv"), cwd=scripts)
    assert user.discrete_variables(spec, data) == []
