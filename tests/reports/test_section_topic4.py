"""Report section for topic 4: builds, writes its figures, and says what it checked."""

from __future__ import annotations

import re

import pytest

from bayesmin.reports.context import Profile
from bayesmin.reports.sections import topic4

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

PROFILE = Profile("test", draws=300, tune=300, chains=2, samplers=("nuts:numpyro",))


def test_topic4_builds_with_figures_and_checks(tmp_path, build_section, check_figures):
    section = build_section(topic4, 4, tmp_path, PROFILE)
    srcs = check_figures(section, tmp_path)
    assert {s.rsplit("/", 1)[-1] for s in srcs} >= {
        "topic4_sinc-fit.png",
        "topic4_evidence.png",
        "topic4_nuts-vs-type2.png",
    }
    captions = " ".join(b.caption for b in section.blocks if b.kind in ("figure", "table"))
    # The evidence's monotonicity is checked and reported for both optimisers.
    assert "never decreasing: yes" in captions
    assert "NO" not in captions
    # Tipping's sinc: RMS error against the truth near his 0.0326, a handful of
    # relevance vectors, and a ±2 sd band that covers roughly its nominal 95 %.
    rms = float(re.search(r"1,000 test points: ([0-9.]+)", captions).group(1))
    assert 0.01 < rms < 0.06, rms
    n_rv = int(re.search(r"; (\d+) relevance vectors", captions).group(1))
    assert 3 <= n_rv <= 15, n_rv
    coverage = float(re.search(r"covers ([0-9.]+)%", captions).group(1))
    assert 88.0 < coverage < 99.5, coverage
    # NUTS and type-II agree in function space (within one predictive sd).
    gap = float(re.search(r"largest gap between the two means is ([0-9.]+)", captions).group(1))
    assert gap < 1.0, gap
