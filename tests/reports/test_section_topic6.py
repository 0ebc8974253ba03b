"""Report section for topic 6: builds, writes its figures, and says what it checked."""

from __future__ import annotations

import re

import pytest

from bayesmin.reports.context import Profile
from bayesmin.reports.sections import topic6

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

PROFILE = Profile("test", draws=200, tune=200, chains=2, samplers=("nuts:numpyro",))


def test_topic6_builds_with_figures_and_checks(tmp_path, build_section, check_figures):
    section = build_section(topic6, 6, tmp_path, PROFILE)
    srcs = check_figures(section, tmp_path)
    assert {s.rsplit("/", 1)[-1] for s in srcs} >= {
        "topic6_mixture-fit.png",
        "topic6_ppca-map.png",
        "topic6_ppca-fill.png",
        "topic6_glad.png",
    }
    captions = " ".join(b.caption for b in section.blocks if b.kind in ("figure", "table"))
    texts = " ".join(b.text + b.html for b in section.blocks)
    # The bound's monotonicity is checked and reported, and BIC picks the true K = 3.
    assert "never decreasing: yes" in captions + texts
    assert "the lowest is $K = 3$" in captions  # the caption as written (LaTeX)
    assert "NO" not in captions + texts
    # GLAD's accuracy table: GLAD at least as good as majority vote.
    table = next(b for b in section.blocks if b.kind == "table" and "1,000 tasks" in b.caption)
    cells = re.findall(r"<td>([0-9.]+)</td>", table.html)
    glad, _, majority = (float(c) for c in cells[:3])
    assert glad >= majority
