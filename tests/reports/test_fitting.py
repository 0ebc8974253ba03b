"""``reports.fitting``'s decisions, as the CLI calls them: the default method and its
refusals, and the user's data with the feature names of a regression design."""

from __future__ import annotations

import pytest

from bayesmin import models
from bayesmin.models import DataError
from bayesmin.reports.fitting import UserData, choose_method, load_data, read_csv


@pytest.mark.parametrize(
    ("model", "default"),
    [
        ("gamma_poisson", "exact"),  # closed form
        ("linear_regression", "exact"),
        ("gaussian_mixture", "em"),  # no closed form: the model's point fit
        ("ard_regression", "evidence"),
        ("eight_schools_noncentered", "nuts"),  # neither
    ],
)
def test_default_method(model, default):
    assert choose_method(models.get(model)) == default
    assert choose_method(models.get(model), "auto") == default


@pytest.mark.parametrize(
    ("model", "method", "message"),
    [
        (
            "ard_regression",
            "exact",
            "ard_regression has no closed-form posterior; use --method evidence or a sampler",
        ),
        (
            "eight_schools_noncentered",
            "exact",
            "eight_schools_noncentered has no closed-form posterior; use --method nuts",
        ),
        (
            "gamma_poisson",
            "em",
            "gamma_poisson has no EM fit; use --method exact or a sampler (--method nuts)",
        ),
        (
            "gaussian_mixture",
            "evidence",
            "gaussian_mixture has no type-II ML (evidence) fit; use --method em or a sampler "
            "(--method nuts)",
        ),
    ],
)
def test_a_method_the_model_lacks_is_refused_naming_those_it_has(model, method, message):
    with pytest.raises(DataError) as info:
        choose_method(models.get(model), method)
    assert str(info.value) == message


def test_methods_the_model_has_pass_through():
    assert choose_method(models.get("gamma_poisson"), "exact") == "exact"
    assert choose_method(models.get("ppca"), "em") == "em"
    assert choose_method(models.get("gamma_poisson"), "nuts:pymc") == "nuts:pymc"
    with pytest.raises(ValueError, match="unknown sampler"):
        choose_method(models.get("gamma_poisson"), "hmc:stan")


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "reg.csv"
    path.write_text("x1,x2,y\n1,2,3.1\n2,1,3.9\n3,5,8.2\n4,4,8.1\n")
    return path


def test_a_regression_from_a_table_comes_with_its_feature_names(table):
    spec = models.get("linear_regression")
    loaded = load_data(spec, table, target="y", settings={"beta": 4.0})
    assert isinstance(loaded, UserData)
    assert loaded.feature_names == ["intercept", "x1", "x2"]
    assert loaded.data["X"].shape == (4, 3) and loaded.data["beta"] == 4.0
    # Without the intercept the design, and so the names, lose their first column.
    loaded = load_data(spec, table, target="y", settings={"intercept": 0.0})
    assert loaded.feature_names == ["x1", "x2"] and loaded.data["X"].shape == (4, 2)


def test_other_data_have_no_feature_names(table, tmp_path):
    built_in = load_data(models.get("gamma_poisson"), settings={"a": 3.0})
    assert built_in.feature_names is None and built_in.data["a"] == 3.0
    # The RVM's weights are per relevance vector, not per feature.
    assert load_data(models.get("ard_regression"), table, target="y").feature_names is None
    counts = tmp_path / "counts.csv"
    counts.write_text("visits\n3\n5\n")
    assert load_data(models.get("gamma_poisson"), counts).feature_names is None


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        ("gamma_poisson", {"settings": {"c": 1.0}}, "unknown setting(s) c for gamma_poisson"),
        ("gamma_poisson", {"target": "y"}, "gamma_poisson takes no --target"),
        ("linear_regression", {"column": "y"}, "linear_regression takes no --column"),
        ("banana", {}, "model banana does not read user data; run it without --data"),
    ],
)
def test_options_a_model_does_not_take_are_refused(table, model, kwargs, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_data(models.get(model), table, **kwargs)


def test_read_csv_says_what_is_wrong_with_the_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_csv(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="is a folder"):
        read_csv(tmp_path)
    (tmp_path / "header.csv").write_text("visits\n")
    with pytest.raises(DataError, match="has a header but no rows"):
        read_csv(tmp_path / "header.csv")
