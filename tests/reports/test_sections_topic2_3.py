"""Report sections for topics 2 and 3: each builds, writes its figures, and has its tables."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bayesmin.reports.context import Profile
from bayesmin.reports.sections import topic2, topic3

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

# Tiny sizes; two backends keep the JAX/PyMC compile cost of the comparison down.
PROFILE = Profile("test", draws=200, tune=200, chains=2, samplers=("nuts:numpyro", "nuts:pymc"))


def _body_rows(markup: str) -> list[str]:
    body = markup.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr.*?</tr>", body, flags=re.S)


@pytest.fixture(scope="module")
def topic2_section(tmp_path_factory, build_section):
    out = tmp_path_factory.mktemp("topic2")
    return build_section(topic2, 2, out, PROFILE), out


@pytest.fixture(scope="module")
def topic3_section(tmp_path_factory, build_section):
    out = tmp_path_factory.mktemp("topic3")
    return build_section(topic3, 3, out, PROFILE), out


def test_topic2_builds_with_figures_and_tables(topic2_section, check_figures):
    section, out = topic2_section
    assert section.error is None
    srcs = check_figures(section, out)
    assert {"figures/topic2_network.png", "figures/topic2_explaining-away.png"} <= set(srcs)
    tables = [b for b in section.blocks if b.kind == "table"]
    # Four CPTs, the query table and the independence table.
    assert len(tables) == 6
    independence = next(b for b in tables if "d_separated" in b.html)
    assert "p_value" in independence.html and "agrees" in independence.html
    assert len(_body_rows(independence.html)) == 24  # C(4, 2) pairs x 2^2 conditioning sets
    queries = next(b for b in tables if "NumPyro" in b.html)
    assert len(_body_rows(queries.html)) == len(topic2.QUERIES)


def test_topic2_queries_agree():
    samples = topic2.bayes_net.sample_joint(0, 20_000)
    table = topic2.query_table(samples)
    np.testing.assert_allclose(table["NumPyro"], table["exact"], atol=1e-5)
    z = table["z"].dropna()
    assert (z.abs() < 5).all(), z
    # Explaining away: a second cause of wet grass makes the first less likely.
    s_w = table.loc["P(Sprinkler=1 | WetGrass=1)", "exact"]
    s_wr = table.loc["P(Sprinkler=1 | WetGrass=1, Rain=1)", "exact"]
    assert s_wr < s_w


def test_topic2_layout_is_the_diamond():
    pos = topic2._layout(topic2.bayes_net.NETWORK.parents)
    assert pos["Cloudy"][1] > pos["Sprinkler"][1] == pos["Rain"][1] > pos["WetGrass"][1]
    assert pos["Sprinkler"][0] < pos["Rain"][0]


def test_topic2_cpt_table_shape():
    node = topic2.bayes_net.NETWORK.node("WetGrass")
    table = topic2.cpt_table(node)
    assert table.shape == (4, 2)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)


def test_topic3_builds_with_comparison(topic3_section, check_figures):
    section, out = topic3_section
    assert section.error is None
    srcs = check_figures(section, out)
    for name in topic3.PAIRS:
        slug = name.replace("_", "-")
        for kind in ("update", "sequential", "nuts", "predictive"):
            assert f"figures/topic3_{slug}-{kind}.png" in srcs
    assert "figures/topic3_gamma-poisson-ess-per-second.png" in srcs
    assert "figures/topic3_gamma-poisson-trace.png" in srcs
    tables = [b for b in section.blocks if b.kind == "table"]
    assert len(tables) == len(topic3.PAIRS) + 1
    comparison = next(b for b in tables if "ess_bulk_min" in b.html)
    rows = _body_rows(comparison.html)
    assert len(rows) == len(PROFILE.samplers)
    for sampler in PROFILE.samplers:
        assert sum(sampler in row for row in rows) == 1
    verdicts = next(b for b in section.blocks if b.kind == "html")
    assert verdicts.html.count("<li>") == len(PROFILE.samplers)
    assert "could not run" not in verdicts.html


@pytest.mark.parametrize("name", list(topic3.PAIRS))
def test_topic3_numeric_bayes_matches_closed_form(name):
    # The dotted line of the update figure: prior x likelihood normalised on a grid
    # must equal the closed-form posterior density.
    from bayesmin import models

    pair = topic3.PAIRS[name]
    data = models.get(name).simulate(0)
    prior, post = pair.posterior(data, 0), pair.posterior(data, pair.n_obs(data))
    grid = topic3._grid(pair, (prior, post), n=4000)
    loglik = pair.loglik(data, grid)
    numeric = np.exp(loglik - loglik.max()) * prior.pdf(grid)
    numeric /= np.trapezoid(numeric, grid)
    np.testing.assert_allclose(numeric, post.pdf(grid), atol=1e-3 * post.pdf(grid).max())
