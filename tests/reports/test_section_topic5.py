"""Report section for topic 5: builds, writes its figures, and says what it checked."""

from __future__ import annotations

import pytest

from bayesmin.reports.context import Profile
from bayesmin.reports.sections import topic5

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

PROFILE = Profile("test", draws=200, tune=200, chains=2, samplers=("nuts:numpyro",))


def test_topic5_builds_with_figures_and_checks(tmp_path, build_section, check_figures):
    section = build_section(topic5, 5, tmp_path, PROFILE)
    srcs = check_figures(section, tmp_path)
    assert {s.rsplit("/", 1)[-1] for s in srcs} >= {
        "topic5_forward-reverse.png",
        "topic5_kl-landscape.png",
        "topic5_vi-marginals.png",
        "topic5_elbo.png",
    }
    captions = " ".join(b.caption for b in section.blocks if b.kind in ("figure", "table"))
    assert "Reverse fits sit on a mode (mean within 0.2 mode sd): yes" in captions
    assert "land on different modes: yes" in captions
    assert "mixture mean with the mixture's sd: yes" in captions
    assert "sits on a blob: yes" in captions
    assert "two local minima, at the modes: yes" in captions
    assert "all within 4 se: yes" in captions
    assert "mean-field ADVI is under-dispersed: yes" in captions
    assert "equal: yes" in captions
    assert "NO" not in captions
