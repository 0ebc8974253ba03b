"""Report section for topic 10: builds with a tiny DDPM, writes its figures and table."""

from __future__ import annotations

import pytest

from bayesmin.reports.context import Profile
from bayesmin.reports.sections import topic10

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

# Any profile name but "quick"/"full" trains the tiny test configuration.
PROFILE = Profile("test", draws=200, tune=200, chains=2, samplers=("nuts:numpyro",))


def test_topic10_builds_with_figures_and_table(tmp_path, build_section, check_figures):
    section = build_section(topic10, 10, tmp_path, PROFILE)
    srcs = {s.rsplit("/", 1)[-1] for s in check_figures(section, tmp_path)}
    for name in topic10.DATASETS:
        for kind in ("forward-strip", "reverse-strip", "samples"):
            assert f"topic10_{name}-{kind}.png" in srcs
    assert "topic10_loss.png" in srcs
    assert {"topic10_digits-reverse-strip.png", "topic10_digits-samples.png"} <= srcs
    tables = [b for b in section.blocks if b.kind == "table"]
    table = next(b for b in tables if "sliced Wasserstein" in b.caption)
    assert "Gaussian baseline" in table.html
    # The digits: the U-Net's row first, then the reference rows (the test profile skips
    # the VAE, which would train for seconds).
    digits = next(b for b in tables if "frechet_distance" in b.html)
    assert digits.html.index("DDPM samples (U-Net)") < digits.html.index("training images (floor)")
    assert "VAE" not in digits.html and "held-out digits" in digits.caption
    texts = " ".join(b.html for b in section.blocks if b.kind == "text")
    assert "Algorithm 2" in texts and "$" not in texts
    assert texts.count("<math") >= 20 and 'display="block"' in texts  # the closed forms
    forward = next(b for b in section.blocks if b.src.endswith("moons-forward-strip.png"))
    assert r"\sqrt{\bar{\alpha}_t} x_0" in forward.alt and "<math" in forward.caption_html


def test_figures_are_reusable_and_config_maps_profiles():
    from bayesmin.inference.diffusion import DDPMTrainer
    from bayesmin.inference.training import init_state
    from bayesmin.models.diffusion import dataset

    assert topic10.config_for("moons", "quick").steps > topic10.config_for("moons", "test").steps
    data = dataset("moons", n=200, seed=0)
    trainer = DDPMTrainer(topic10.config_for("moons", "test"), data)
    state = trainer.init(0)  # untrained: the figures only need a state
    assert int(init_state(state.carry).step) == 0
    figs = topic10.figures(trainer, state, data, n=100)
    assert set(figs) == {"forward-strip", "reverse-strip", "samples"}
