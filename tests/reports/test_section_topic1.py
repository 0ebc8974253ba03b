"""The topic 1 report section builds end to end with a small profile."""

from __future__ import annotations

import pytest

from bayesmin.reports.context import Context, Profile
from bayesmin.reports.html import Section, render
from bayesmin.reports.sections import topic1

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow


def test_topic1_section_has_every_figure_and_table(tmp_path):
    steps = []
    section = Section("1. Regression", tmp_path, prefix="topic1_")
    profile = Profile("test", draws=200, tune=200, chains=2, samplers=("nuts:numpyro", "nuts:pymc"))
    topic1.build(section, Context(profile, steps.append))

    figures = {b.src for b in section.blocks if b.kind == "figure"}
    for name in (
        "posterior-vs-exact",
        "trace",
        "ess-per-second",
        "unknown-noise",
        "polynomial-fits",
        "polynomial-scores",
    ):
        assert f"figures/topic1_{name}.png" in figures
        assert (tmp_path / "figures" / f"topic1_{name}.png").stat().st_size > 1000
    tables = [b for b in section.blocks if b.kind == "table"]
    assert len(tables) >= 6
    # The MLE/MAP table carries the declarative model's MAP next to ridge.
    assert any("MAP of the PyMC model" in t.html for t in tables)
    assert any(s.startswith("sampling") for s in steps)
    assert "Sampler comparison" in render([section], title="t")
