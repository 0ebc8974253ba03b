"""Report sections for topics 7 and 8: each builds, writes its figures, and has its tables."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from scipy import integrate

from bayesmin.models import get as get_model
from bayesmin.reports.context import Profile
from bayesmin.reports.html import Section
from bayesmin.reports.sections import topic7, topic8

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

# Tiny sizes and one NUTS backend: JAX compilation is most of the cost.
PROFILE = Profile("test", draws=200, tune=200, chains=2, samplers=("nuts:numpyro",))


def _rows(markup: str) -> list[list[str]]:
    """Body rows of a rendered table as lists of cell texts."""
    body = markup.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr.*?</tr>", body, flags=re.S)
    return [
        [
            html.unescape(re.sub(r"<.*?>", "", c)).strip()
            for c in re.findall(r"<t[hd].*?</t[hd]>", r, flags=re.S)
        ]
        for r in rows
    ]


def _header(markup: str) -> list[str]:
    head = markup.split("<thead>", 1)[1].split("</thead>", 1)[0]
    return [
        html.unescape(re.sub(r"<.*?>", "", c)).strip()
        for c in re.findall(r"<th.*?</th>", head, flags=re.S)
    ]


def _table(section: Section, column: str) -> tuple[list[str], list[list[str]]]:
    """The first table with a column header containing ``column``."""
    for block in section.blocks:
        if block.kind == "table" and column in html.unescape(block.html):
            return _header(block.html), _rows(block.html)
    raise AssertionError(f"no table with a column {column!r}")


@pytest.fixture(scope="module")
def topic7_section(tmp_path_factory, build_section):
    out = tmp_path_factory.mktemp("topic7")
    return build_section(topic7, 7, out, PROFILE), out


# Two of the three benchmark models (one with an exact answer, one without) keep two
# NUTS/MH compilations out of the test; the report itself runs all of topic8.BENCHMARKS.
TEST_BENCHMARKS = ("banana", "eight_schools_noncentered")


@pytest.fixture(scope="module")
def topic8_section(tmp_path_factory, build_section):
    out = tmp_path_factory.mktemp("topic8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(topic8, "BENCHMARKS", TEST_BENCHMARKS)
        return build_section(topic8, 8, out, PROFILE), out


# ------------------------------------------------------------------------ topic 7


def test_topic7_builds_with_figures_and_tables(topic7_section, check_figures):
    section, out = topic7_section
    assert section.error is None
    srcs = set(check_figures(section, out))
    assert {
        "figures/topic7_mc-convergence.png",
        "figures/topic7_rejection-envelope.png",
        "figures/topic7_rejection-histogram.png",
        "figures/topic7_importance-weights.png",
    } <= srcs
    assert len([b for b in section.blocks if b.kind == "table"]) == 3


def test_topic7_monte_carlo_table_is_within_its_standard_errors(topic7_section):
    section, _ = topic7_section
    header, rows = _table(section, "|error| / s.e.")
    assert len(rows) == len(topic7.INTEGRALS) * len(topic7.MC_TABLE_N)
    col = header.index("|error| / s.e.")
    assert all(float(r[col]) < 4 for r in rows)


def test_topic7_rejection_rate_matches_z_over_m(topic7_section):
    section, _ = topic7_section
    header, rows = _table(section, "Z/M (expected rate)")
    assert len(rows) == len(topic7.PROPOSALS)
    expected, rate, se = (
        header.index(c) for c in ("Z/M (expected rate)", "acceptance rate", "s.e. of rate")
    )
    for r in rows:
        assert abs(float(r[rate]) - float(r[expected])) < 4 * float(r[se]), r


def test_topic7_importance_verdicts_separate_good_from_poor(topic7_section):
    section, _ = topic7_section
    header, rows = _table(section, "Pareto k̂")
    assert len(rows) == 2
    k, verdict, ess_n = header.index("Pareto k̂"), header.index("verdict"), header.index("ESS/n")
    good, poor = rows
    assert float(good[k]) < 0.7 and good[verdict].startswith("reliable")
    assert float(poor[k]) >= 0.7 and poor[verdict].startswith("unreliable")
    assert float(good[ess_n]) > 10 * float(poor[ess_n])


def test_topic7_target_constants_are_exact():
    target = topic7.TARGET
    z, _ = integrate.quad(lambda x: np.exp(target.log_p_tilde(np.array([x]))[0]), -np.inf, np.inf)
    mean, _ = integrate.quad(lambda x: x * target.pdf(np.array([x]))[0], -np.inf, np.inf)
    assert z == pytest.approx(target.Z, rel=1e-8)
    assert mean == pytest.approx(target.mean, abs=1e-8)
    assert target.cdf(np.array([50.0]))[0] == pytest.approx(1.0)


def test_topic7_k_verdict_thresholds():
    assert topic7.k_verdict(0.3).startswith("reliable (")
    assert topic7.k_verdict(0.6).startswith("reliable, slower")
    assert topic7.k_verdict(0.7).startswith("unreliable")
    assert topic7.k_verdict(float("nan")) == "no estimate"


# ------------------------------------------------------------------------ topic 8


def test_topic8_builds_with_figures_and_tables(topic8_section, check_figures):
    section, out = topic8_section
    assert section.error is None
    srcs = set(check_figures(section, out))
    assert {
        "figures/topic8_markov-convergence.png",
        "figures/topic8_banana-paths.png",
        "figures/topic8_scale-sweep.png",
        "figures/topic8_autocorrelation.png",
        "figures/topic8_mh-vs-nuts-ess-per-second.png",
        "figures/topic8_banana-mh-trace.png",
    } <= srcs
    assert len([b for b in section.blocks if b.kind == "table"]) == 3


def test_topic8_detailed_balance_table(topic8_section):
    section, _ = topic8_section
    header, rows = _table(section, "detailed balance")
    balance, tv = header.index("detailed balance"), header.index("TV(stationary, target)")
    assert [r[balance] for r in rows] == ["holds", "fails", "holds"]
    assert float(rows[0][tv]) < 1e-9 and float(rows[2][tv]) < 1e-9
    assert float(rows[1][tv]) > 0.1


def test_topic8_scale_sweep_table(topic8_section):
    section, _ = topic8_section
    header, rows = _table(section, "ESS per step")
    assert len(rows) == len(topic8.SCALES) * len(topic8.SWEEP_TARGETS)
    acc = header.index("acceptance rate")
    for name in topic8.SWEEP_TARGETS:
        rates = [float(r[acc]) for r in rows if r[header.index("target")] == name]
        # A larger step is accepted less often. At the two smallest scales the chains
        # may still be crawling in from their starting points during the kept draws
        # (fewer acceptances there), so monotonicity is checked from the third on.
        assert min(rates[:2]) > 0.7 and rates[-1] < 0.05
        assert np.all(np.diff(rates[2:]) < 0.02), rates


def test_topic8_mh_vs_nuts_table(topic8_section):
    section, _ = topic8_section
    header, rows = _table(section, "draws per chain")
    # The index column ("run") is the first cell of each row.
    assert len(rows) == 2 * len(TEST_BENCHMARKS)
    labels = [r[0] for r in rows]
    for name in TEST_BENCHMARKS:
        assert f"{name} / mh" in labels and f"{name} / {topic8.NUTS}" in labels
    draws = {r[0]: int(r[header.index("draws per chain")]) for r in rows}
    assert draws["banana / mh"] == topic8.MH_FACTOR * PROFILE.draws
    assert draws[f"banana / {topic8.NUTS}"] == PROFILE.draws
    # max_abs_z is reported exactly where the model has an exact answer.
    z = header.index("max_abs_z")
    for r in rows:
        model = r[0].split(" / ")[0]
        has_exact = get_model(model).exact is not None
        assert (r[z] != "—") == has_exact, r


def test_topic8_verdicts_cover_the_runs_with_an_exact_answer(topic8_section):
    section, _ = topic8_section
    block = next(b for b in section.blocks if b.kind == "html" and "diagnostics.verdict" in b.html)
    items = re.findall(
        r"<li><code>(.*?)</code>: <span class=\"(pass|fail)\">(.*?)</span>", block.html
    )
    # banana has an exact answer (two runs: MH and NUTS); eight schools has none.
    assert sorted(label for label, _, _ in items) == sorted(
        ["banana / mh", f"banana / {topic8.NUTS}"]
    )
    for _, cls, line in items:
        assert (cls == "pass") == line.startswith("pass:"), line
        assert "ESS" not in line  # the short runs are not held to the ESS bound


def test_topic8_benchmarks_are_registered_models():
    for name in topic8.BENCHMARKS:
        spec = get_model(name)
        assert spec.numpyro is not None and spec.params
    for name in topic8.SWEEP_TARGETS:
        assert get_model(name).exact is not None  # the sweep shapes its proposal by it
