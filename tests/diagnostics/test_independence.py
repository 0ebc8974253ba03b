"""Tests of ``diagnostics/independence.py``: d-separation and the empirical CI test.

d-separation is checked three ways: on the textbook three-node graphs (chain, fork,
collider), against exact conditional independence computed from the network's joint
table for every statement, and against a G-test on samples.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmin.diagnostics.independence import d_separated, independence_table, independence_test
from bayesmin.models.bayes_net import NETWORK, sample_joint

DAG = {
    "Cloudy": (),
    "Sprinkler": ("Cloudy",),
    "Rain": ("Cloudy",),
    "WetGrass": ("Sprinkler", "Rain"),
}


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    return sample_joint(seed=2, n=5000)


def _exact_dependence(x: str, y: str, given: tuple[str, ...]) -> float:
    """max |P(x, y | z) - P(x | z) P(y | z)| over z with P(z) > 0, from the joint table."""
    joint = NETWORK.joint_table()
    worst = 0.0
    strata = joint.groupby(list(given)) if given else [((), joint)]
    for _, part in strata:
        pz = part["prob"].sum()
        if pz == 0:
            continue
        pxy = part.groupby([x, y])["prob"].sum().unstack(fill_value=0.0).to_numpy() / pz
        outer = np.outer(pxy.sum(axis=1), pxy.sum(axis=0))
        worst = max(worst, float(np.abs(pxy - outer).max()))
    return worst


@pytest.mark.parametrize(
    ("graph", "x", "y", "given", "expected"),
    [
        # chain a -> b -> c: open, blocked by b
        ({"a": (), "b": ("a",), "c": ("b",)}, "a", "c", (), False),
        ({"a": (), "b": ("a",), "c": ("b",)}, "a", "c", ("b",), True),
        # fork a <- b -> c: open, blocked by b
        ({"b": (), "a": ("b",), "c": ("b",)}, "a", "c", (), False),
        ({"b": (), "a": ("b",), "c": ("b",)}, "a", "c", "b", True),
        # collider a -> b <- c: blocked, opened by b or by b's descendant d
        ({"a": (), "c": (), "b": ("a", "c"), "d": ("b",)}, "a", "c", (), True),
        ({"a": (), "c": (), "b": ("a", "c"), "d": ("b",)}, "a", "c", "b", False),
        ({"a": (), "c": (), "b": ("a", "c"), "d": ("b",)}, "a", "c", "d", False),
        # sets: {a} vs {c, d} in the chain a -> b -> c -> d
        ({"a": (), "b": ("a",), "c": ("b",), "d": ("c",)}, "a", ("c", "d"), "b", True),
    ],
)
def test_textbook_three_node_patterns(graph, x, y, given, expected):
    assert d_separated(graph, x, y, given) is expected
    assert d_separated(graph, y, x, given) is expected  # symmetric


@pytest.mark.parametrize("model", [NETWORK, "bayes_net", DAG])
def test_network_statements_from_every_graph_source(model):
    assert d_separated(model, "Sprinkler", "Rain", given="Cloudy")
    assert d_separated(model, "WetGrass", "Cloudy", given=("Sprinkler", "Rain"))
    assert not d_separated(model, "Sprinkler", "Rain")  # common cause Cloudy
    assert not d_separated(
        model, "Sprinkler", "Rain", given=("Cloudy", "WetGrass")
    )  # explaining away


def test_d_separation_equals_exact_independence_for_every_statement():
    """Soundness (d-separated => independent) and, for these CPTs, faithfulness."""
    nodes = list(NETWORK.names)
    checked = 0
    for x, y in itertools.combinations(nodes, 2):
        rest = [n for n in nodes if n not in (x, y)]
        for k in range(len(rest) + 1):
            for given in itertools.combinations(rest, k):
                gap = _exact_dependence(x, y, given)
                if d_separated(NETWORK, x, y, given):
                    assert gap < 1e-12, (x, y, given, gap)
                else:
                    assert gap > 1e-3, (x, y, given, gap)
                checked += 1
    assert checked == 24


def test_empirical_test_agrees_with_the_graph(samples):
    independent = [
        ("Sprinkler", "Rain", ("Cloudy",)),
        ("WetGrass", "Cloudy", ("Sprinkler", "Rain")),
    ]
    dependent = [
        ("Sprinkler", "Rain", ("WetGrass",)),
        ("Sprinkler", "Rain", ("Cloudy", "WetGrass")),
        ("Sprinkler", "Rain", ()),
    ]
    for x, y, given in independent:
        assert independence_test(samples, x, y, given)["p_value"] > 0.01, (x, y, given)
    for x, y, given in dependent:
        # The negative control: the same test must reject where the graph says dependent.
        assert independence_test(samples, x, y, given)["p_value"] < 1e-3, (x, y, given)


def test_g_statistic_by_hand():
    # Two binary columns; one stratum. G = 2 sum O ln(O / E), E = row * col / n.
    df = pd.DataFrame({"a": [0] * 30 + [1] * 20, "b": [0] * 20 + [1] * 10 + [0] * 5 + [1] * 15})
    observed = np.array([[20, 10], [5, 15]])
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    g = 2 * np.sum(observed * np.log(observed / expected))
    res = independence_test(df, "a", "b")
    assert res["statistic"] == pytest.approx(g)
    assert res["dof"] == 1
    assert res["p_value"] == pytest.approx(stats.chi2.sf(g, 1))
    pearson = independence_test(df, "a", "b", method="pearson")
    assert pearson["statistic"] == pytest.approx(np.sum((observed - expected) ** 2 / expected))


def test_strata_without_variation_add_no_degrees_of_freedom(samples):
    # Given Rain=0, WetGrass=1 the sprinkler must be on: that stratum cannot be tested.
    res = independence_test(samples, "Sprinkler", "Cloudy", given=("Rain", "WetGrass"))
    assert res["dof"] == 3 and res["n_strata"] == 3
    constant = pd.DataFrame({"a": [1] * 10, "b": [0, 1] * 5})
    assert np.isnan(independence_test(constant, "a", "b")["p_value"])


def test_independence_table_agrees_everywhere(samples):
    table = independence_table("bayes_net", samples)
    assert len(table) == 24
    assert table["agrees"].all()
    assert table["d_separated"].sum() == 2  # S ⟂ R | C and W ⟂ C | S, R
    row = table[table["statement"] == "Sprinkler ⟂ Rain | Cloudy"].iloc[0]
    assert row["d_separated"] and row["p_value"] > 0.01
    chosen = independence_table(
        NETWORK, samples, [("Sprinkler", "Rain", "WetGrass"), ("Rain", "Sprinkler")]
    )
    assert list(chosen["statement"]) == ["Sprinkler ⟂ Rain | WetGrass", "Rain ⟂ Sprinkler"]
    assert not chosen["d_separated"].any()
    no_data = independence_table(DAG, None, [("Sprinkler", "Rain", "Cloudy")])
    assert no_data["d_separated"].iloc[0] and no_data["agrees"].isna().all()


def test_unknown_nodes_and_bad_graphs_are_clear_errors(samples):
    with pytest.raises(ValueError, match=r"unknown node 'Sun'; known nodes: Cloudy, Sprinkler"):
        d_separated(NETWORK, "Sun", "Rain")
    with pytest.raises(ValueError, match=r"unknown node 'Wet'"):
        d_separated("bayes_net", "Rain", "Sprinkler", given="Wet")
    with pytest.raises(ValueError, match=r"unknown node 'Sun'; known nodes: Cloudy"):
        independence_test(samples, "Sun", "Rain")
    with pytest.raises(ValueError, match="unknown node 'Sun'"):
        independence_table(NETWORK, samples, [("Sun", "Rain")])
    with pytest.raises(ValueError, match="disjoint"):
        d_separated(DAG, "Rain", "Sprinkler", given="Rain")
    with pytest.raises(ValueError, match="cycle"):
        d_separated({"a": ("b",), "b": ("a",)}, "a", "b")
    with pytest.raises(ValueError, match="parent 'z' of 'a' is not a node"):
        d_separated({"a": ("z",), "b": ()}, "a", "b")
    with pytest.raises(ValueError, match="unknown method"):
        independence_test(samples, "Rain", "Cloudy", method="fisher")
    with pytest.raises(ValueError, match="exposes no graph"):
        d_separated("funnel", "a", "b")
