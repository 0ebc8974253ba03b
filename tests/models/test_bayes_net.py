"""Tests of the discrete Bayesian network in ``models/bayes_net.py`` (course topic 2).

Three independent computations of the same posterior must agree: the hand sum written
out below, exact enumeration (``query``), and NumPyro's own log density of the model
program (``numpyro_query``); ancestral samples then agree with them within Monte Carlo
error, and a broken query (no normalisation, a wrong CPT) must not.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density

from bayesmin import models
from bayesmin.models import bayes_net
from bayesmin.models.base import DataError
from bayesmin.models.bayes_net import (
    NETWORK,
    DiscreteBayesNet,
    Node,
    from_frame,
    monte_carlo_query,
    numpyro_model,
    numpyro_query,
    query,
    sample_joint,
)

NODES = ("Cloudy", "Sprinkler", "Rain", "WetGrass")


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    return sample_joint(seed=1, n=40_000)


def test_graph_and_cpts_are_the_textbook_ones():
    assert NETWORK.parents == {
        "Cloudy": (),
        "Sprinkler": ("Cloudy",),
        "Rain": ("Cloudy",),
        "WetGrass": ("Sprinkler", "Rain"),
    }
    # Murphy (1998): P(S=1|C) = .5/.1, P(R=1|C) = .2/.8, P(W=1|S,R) = 0/.9/.9/.99.
    np.testing.assert_allclose(NETWORK.node("Sprinkler").cpt[:, 1], [0.5, 0.1])
    np.testing.assert_allclose(NETWORK.node("Rain").cpt[:, 1], [0.2, 0.8])
    np.testing.assert_allclose(NETWORK.node("WetGrass").cpt[..., 1], [[0.0, 0.9], [0.9, 0.99]])
    assert NETWORK.joint_table()["prob"].sum() == pytest.approx(1.0, abs=1e-12)


def test_query_rain_given_wet_grass_equals_hand_computation():
    # P(R=1 | W=1) = sum_{c,s} P(c) P(s|c) P(R=1|c) P(W=1|s,R=1) / sum_{c,s,r} (same with r).
    # Numerator, r = 1:
    #   c=0,s=0: .5 * .5 * .2 * .90 = .0450    c=0,s=1: .5 * .5 * .2 * .99 = .0495
    #   c=1,s=0: .5 * .9 * .8 * .90 = .3240    c=1,s=1: .5 * .1 * .8 * .99 = .0396
    numerator = 0.0450 + 0.0495 + 0.3240 + 0.0396  # = .4581 = P(R=1, W=1)
    # The r = 0 terms (P(W=1 | S=0, R=0) = 0 kills the s = 0 ones):
    #   c=0,s=1: .5 * .5 * .8 * .9 = .1800      c=1,s=1: .5 * .1 * .2 * .9 = .0090
    rain_0 = 0.0 + 0.1800 + 0.0 + 0.0090  # = .1890 = P(R=0, W=1)
    hand = numerator / (numerator + rain_0)  # .4581 / .6471 = .70793
    result = query("Rain", {"WetGrass": 1})
    assert result[1] == pytest.approx(hand, abs=1e-12)
    assert result[0] == pytest.approx(1 - hand, abs=1e-12)
    # Without normalisation the query is Bayes' numerator P(Rain, WetGrass=1).
    unnormalised = query("Rain", {"WetGrass": 1}, normalize=False)
    np.testing.assert_allclose(unnormalised, [rain_0, numerator], atol=1e-12)
    assert unnormalised.sum() == pytest.approx(0.6471, abs=1e-12)  # P(W=1), sum rule


def test_explaining_away_in_numbers():
    # Learning it rained explains the wet grass away: the sprinkler becomes less likely.
    assert query("Sprinkler", {"WetGrass": 1})[1] == pytest.approx(0.2781 / 0.6471, abs=1e-12)
    assert query("Sprinkler", {"WetGrass": 1, "Rain": 1})[1] < 0.2
    # ... while given Cloudy, learning Rain tells nothing about Sprinkler.
    for c in (0, 1):
        np.testing.assert_allclose(
            query("Sprinkler", {"Cloudy": c, "Rain": 1}), query("Sprinkler", {"Cloudy": c})
        )


@pytest.mark.parametrize(
    ("target", "evidence"),
    [
        ("Rain", {"WetGrass": 1}),
        ("Sprinkler", {"WetGrass": 1}),
        ("Cloudy", {"WetGrass": 1, "Sprinkler": 0}),
        ("WetGrass", {}),
        ("Rain", {"Cloudy": 1, "WetGrass": 0}),
    ],
)
def test_query_equals_numpyro_log_density(target, evidence):
    exact = query(target, evidence)
    np.testing.assert_allclose(numpyro_query(target, evidence), exact, atol=2e-6)
    assert exact.sum() == pytest.approx(1.0)


def test_numpyro_log_density_equals_cpt_product_for_every_assignment():
    for values in itertools.product((0, 1), repeat=4):
        assignment = dict(zip(NODES, values, strict=True))
        lp, _ = log_density(numpyro_model, (), assignment, {})
        # Zero-probability assignments: NumPyro clamps probabilities, so compare in p.
        assert float(jnp.exp(lp)) == pytest.approx(NETWORK.joint(assignment), abs=1e-6)


def test_numpyro_model_sites_and_data_log_likelihood():
    trace = handlers.trace(handlers.seed(numpyro_model, 0)).get_trace(WetGrass=1)
    assert [k for k, s in trace.items() if s["type"] == "sample"] == list(NODES)
    assert trace["WetGrass"]["is_observed"]
    assert not trace["Rain"]["is_observed"]
    # Observed arrays go in a plate: the log density is the data log-likelihood.
    data = bayes_net.simulate(3, n=50)
    lp, _ = log_density(numpyro_model, (), data, {})
    rows = pd.DataFrame(data).to_dict("records")
    expected = sum(np.log(NETWORK.joint(r)) for r in rows)
    assert float(lp) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"unknown node.*Grass"):
        numpyro_model(Grass=1)


def test_monte_carlo_agrees_within_four_standard_errors(samples):
    mc = monte_carlo_query("Rain", {"WetGrass": 1}, samples)
    exact = query("Rain", {"WetGrass": 1})
    z = (mc["estimate"] - exact) / mc["se"]
    assert np.all(np.abs(z) < 4), z
    assert mc.attrs["n_accepted"] == int((samples["WetGrass"] == 1).sum())
    assert mc.attrs["n_samples"] == len(samples)


def test_monte_carlo_rejects_broken_queries(samples):
    """Negative controls: the same check must fail for a wrong answer."""
    mc = monte_carlo_query("Rain", {"WetGrass": 1}, samples)
    # Bayes without its denominator: P(R, W=1) instead of P(R | W=1).
    unnormalised = query("Rain", {"WetGrass": 1}, normalize=False)
    assert np.all(np.abs((mc["estimate"] - unnormalised) / mc["se"]) > 4)
    # A wrong CPT: rain made likelier when it is *not* cloudy.
    wrong = NETWORK.with_cpt("Rain", [[0.2, 0.8], [0.8, 0.2]])
    wrong_answer = wrong.query("Rain", {"WetGrass": 1})
    assert np.all(np.abs((mc["estimate"] - wrong_answer) / mc["se"]) > 4)


def test_sample_joint_is_reproducible_and_matches_marginals(samples):
    a, b = sample_joint(7, 500), sample_joint(7, 500)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(sample_joint(8, 500))
    assert list(samples.columns) == list(NODES)
    assert all(samples[c].dtype == np.int64 for c in NODES)
    n = len(samples)
    for node in NODES:
        p = query(node)[1]
        z = (samples[node].mean() - p) / np.sqrt(p * (1 - p) / n)
        assert abs(z) < 4, (node, z)
    # P(W=1 | S=0, R=0) = 0 holds exactly in the draws.
    assert not ((samples.Sprinkler == 0) & (samples.Rain == 0) & (samples.WetGrass == 1)).any()


def test_registered_as_topic_2():
    spec = models.get("bayes_net")
    assert spec.topic == 2
    assert spec.params == ()
    assert spec.numpyro is numpyro_model
    data = spec.simulate(0, n=100)
    assert set(data) == set(NODES)
    assert all(np.shape(v) == (100,) for v in data.values())
    assert "bayes_net" in models.names(topic=2)


def test_unknown_nodes_and_bad_evidence_are_clear_errors():
    with pytest.raises(ValueError, match=r"unknown node 'Sun'.*Cloudy, Sprinkler, Rain, WetGrass"):
        query("Sun")
    with pytest.raises(ValueError, match="unknown node 'Wet'"):
        query("Rain", {"Wet": 1})
    with pytest.raises(ValueError, match="not a value of 'Rain'"):
        query("Cloudy", {"Rain": 2})
    with pytest.raises(ValueError, match="probability zero"):
        query("Cloudy", {"WetGrass": 1, "Sprinkler": 0, "Rain": 0})


def test_network_checks_its_cpts():
    with pytest.raises(ValueError, match="sum to 1"):
        Node("A", (), [0.5, 0.6])
    with pytest.raises(ValueError, match="topological order"):
        DiscreteBayesNet((Node("B", ("A",), [[0.5, 0.5], [0.5, 0.5]]), Node("A", (), [0.5, 0.5])))
    with pytest.raises(ValueError, match="parent axes"):
        DiscreteBayesNet((Node("A", (), [0.5, 0.5]), Node("B", ("A",), [[0.2, 0.3, 0.5]])))
    with pytest.raises(ValueError, match="read-only"):
        NETWORK.node("Rain").cpt[0, 0] = 1.0


def test_monte_carlo_with_no_accepted_sample_gives_nan():
    few = sample_joint(0, 20)
    mc = monte_carlo_query("Cloudy", {"WetGrass": 1, "Sprinkler": 0, "Rain": 0}, few)
    assert mc.attrs["n_accepted"] == 0
    assert mc["estimate"].isna().all()


def test_from_frame_round_trip_and_errors():
    df = sample_joint(0, 30)
    data = from_frame(df)
    np.testing.assert_array_equal(data["Rain"], df["Rain"].to_numpy())
    with pytest.raises(DataError, match="missing: WetGrass"):
        from_frame(df.drop(columns="WetGrass"))
    with pytest.raises(DataError, match="unexpected: extra"):
        from_frame(df.assign(extra=0))
    with pytest.raises(DataError, match="column Rain"):
        from_frame(df.assign(Rain=2))


def test_funsor_enumeration_agrees_with_hand_sum():
    from numpyro.contrib.funsor import config_enumerate, enum
    from numpyro.contrib.funsor import log_density as enum_log_density

    model = enum(config_enumerate(numpyro_model), first_available_dim=-2)
    lp_w, _ = enum_log_density(model, (), {"WetGrass": 1}, {})
    lp_rw, _ = enum_log_density(model, (), {"WetGrass": 1, "Rain": 1}, {})
    assert float(jnp.exp(lp_rw - lp_w)) == pytest.approx(
        query("Rain", {"WetGrass": 1})[1], abs=1e-5
    )
