"""Report section for topic 9: trains a tiny VAE, writes its figures, says what it checked."""

from __future__ import annotations

import re

import pytest

from bayesmin.reports.context import Profile
from bayesmin.reports.sections import topic9

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

# Profile name "test": the section trains topic9.SECTION_CONFIGS["test"] (seconds).
PROFILE = Profile("test", draws=200, tune=200, chains=2, samplers=("nuts:numpyro",))


def test_topic9_builds_with_figures_and_checks(tmp_path, build_section, check_figures):
    section = build_section(topic9, 9, tmp_path, PROFILE)
    srcs = check_figures(section, tmp_path)
    assert {s.rsplit("/", 1)[-1] for s in srcs} >= {
        "topic9_loss.png",
        "topic9_reconstructions.png",
        "topic9_prior-samples.png",
        "topic9_latent-map.png",
        "topic9_digit-grid.png",
    }
    captions = " ".join(b.caption for b in section.blocks if b.kind in ("figure", "table"))
    texts = " ".join(b.text + b.html for b in section.blocks)
    assert "baseline by" in captions and "per image: yes" in captions
    assert "NO" not in captions + texts
    # The gradient-variance table reports a large ratio.
    ratio = float(re.search(r"variance is ([0-9,]+) times larger", captions)[1].replace(",", ""))
    assert ratio > 20
    assert "ELBO" in texts and "IWAE" in texts
    # The digit metric: the VAE's two rows above the reference rows, binarised floor last.
    digit_table = next(b.html for b in section.blocks if "VAE prior samples, binary" in b.html)
    rows = re.findall(r"<th>([^<]+)</th>\s*<td>", digit_table)
    assert rows == [
        "VAE prior samples, binary draws",
        "VAE prior samples, Bernoulli means",
        "training images (floor)",
        "Gaussian, full covariance",
        "Gaussian, independent pixels",
        "Bernoulli, independent pixels",
        "training images, binarised",
    ]
    assert "never trained on" in captions and "not a bound" in captions
    # The formulas are MathML: the reparameterisation z = mu(x) + sigma(x) * eps among them.
    reparam = next(b.html for b in section.blocks if "reparameterisation trick" in b.html)
    assert reparam.count("<math") >= 5 and 'display="block"' in reparam
    assert "<code>" not in reparam and "$" not in texts


def test_figures_keys_for_the_cli():
    trainer, state, _, data = topic9.fit(topic9.SECTION_CONFIGS["test"], 0)
    figs = topic9.figures(trainer, state, data)
    assert {"reconstructions", "prior-samples", "latent-map"} <= set(figs)


def test_unknown_profiles_train_the_quick_vae():
    assert topic9.config_for("nightly") == topic9.VAE_PROFILES["quick"]
    assert topic9.config_for("test").steps < topic9.VAE_PROFILES["quick"].steps
