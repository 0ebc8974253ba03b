"""The VAE's SVI training and its bounds (topic 9).

One tiny configuration is trained once per module (a few seconds on 2 CPU cores) and
shared; the bounds are compared with Monte Carlo standard errors, not fixed
tolerances.
"""

from __future__ import annotations

import dataclasses
import json
import re

import jax
import numpy as np
import pytest

from bayesmin.inference.svi import VAE_PROFILES, VAEConfig, VAETrainer
from bayesmin.inference.training import train
from bayesmin.models.vae import digits

# 400 steps of a 64-unit network: the test ELBO ends ~3 nats above the independent-pixel
# baseline (−21.9 vs −25.2 nats per image), far beyond the Monte Carlo error (~0.01).
TINY = VAEConfig(
    hidden=64,
    steps=400,
    batch_size=64,
    learning_rate=3e-3,
    iwae_k=1000,
    elbo_k=50,
    grad_samples=500,
    chunk=100,
)


@pytest.fixture(scope="module")
def data():
    return digits(0)


@pytest.fixture(scope="module")
def trainer(data):
    return VAETrainer(TINY, data)


@pytest.fixture(scope="module")
def trained(trainer):
    state, losses = trainer.fit(0)
    return state, losses, trainer.metrics(state, seed=0)


@pytest.mark.slow
def test_parameters_and_matmuls_are_float32(trainer, trained):
    # Traced as for a user who runs JAX in 64-bit: one float64 input would promote the
    # networks to float64 without any error.
    state, _, _ = trained
    leaves = jax.tree_util.tree_leaves(trainer.params(state))
    assert leaves and {str(leaf.dtype) for leaf in leaves} == {"float32"}
    with jax.enable_x64(True):
        jaxpr = str(jax.make_jaxpr(trainer.step)(state.carry, jax.random.PRNGKey(0)))
    matmuls = [line for line in jaxpr.splitlines() if "dot_general" in line]
    assert matmuls and not [line for line in matmuls if "f64" in line]


@pytest.mark.slow
def test_training_lowers_the_loss(trained):
    _, losses, _ = trained
    assert losses.shape == (TINY.steps,)
    assert losses[-100:].mean() < losses[:100].mean() - 3.0


@pytest.mark.slow
def test_iwae_is_at_least_the_elbo(trained):
    # Independent draws for the two estimates: allow 3 MCSEs of the ELBO estimate (the
    # IWAE estimate with k = 1,000 varies far less than the ELBO's per-draw spread).
    _, _, m = trained
    assert m["test_iwae"] >= m["test_elbo"] - 3 * m["test_elbo_mcse"]
    assert m["iwae_k"] == 1000


@pytest.mark.slow
def test_iwae_with_one_sample_is_the_elbo_in_expectation(trainer, trained):
    state, _, m = trained
    one = trainer.metrics(state, seed=1, iwae_k=1)["test_iwae"]
    # IWAE_1 averages one log w per test image; its standard error is the ELBO
    # estimate's times sqrt(elbo_k) (one draw per image instead of elbo_k).
    se = m["test_elbo_mcse"] * np.sqrt(1 + TINY.elbo_k)
    assert abs(one - m["test_elbo"]) < 4 * se
    # ... and more samples tighten the bound by far more than that error (measured: by
    # 0.28 nats, 7.8 standard errors, on the 360 held-out digits of models.vae.digits(0)).
    assert m["test_iwae"] > one + 5 * se


@pytest.mark.slow
def test_trained_vae_beats_the_independent_pixel_baseline(trained):
    _, _, m = trained
    base = m["baseline_independent_pixels"]
    assert -40 < base < -15
    assert m["test_elbo"] > base + 1.0
    assert m["test_iwae"] > base + 1.0


def test_untrained_vae_does_not_beat_the_baseline(trainer):
    # Negative control: the comparison must be able to fail.
    m = trainer.metrics(trainer.init(0), seed=0)
    assert m["test_iwae"] < m["baseline_independent_pixels"]
    assert m["test_elbo"] < m["baseline_independent_pixels"]


@pytest.mark.slow
def test_reparameterised_gradients_vary_far_less(trainer, trained):
    state, _, _ = trained
    table = trainer.gradient_variance(state, seed=0).set_index("estimator")
    assert list(table.index) == ["reparameterised", "score function (REINFORCE)"]
    assert table.loc["score function (REINFORCE)", "ratio"] > 20
    # Both are unbiased for the same gradient: means agree within MC error (2L × 8
    # coordinates, so allow the maximum of 32 |z|-scores to reach 4.5).
    assert table.loc["score function (REINFORCE)", "max_abs_z"] < 4.5


def _params(trainer, state):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(trainer.params(state))]


def test_same_seed_same_result_other_seed_other_result(trainer):
    key = trainer.train_key(3)
    a, la = train(trainer.step, trainer.init(3), 100, key=key, chunk=50)
    b, lb = train(trainer.step, trainer.init(3), 100, key=key, chunk=50)
    c, _ = train(trainer.step, trainer.init(4), 100, key=trainer.train_key(4), chunk=50)
    np.testing.assert_array_equal(la, lb)
    for x, y in zip(_params(trainer, a), _params(trainer, b), strict=True):
        np.testing.assert_array_equal(x, y)
    pairs = zip(_params(trainer, a), _params(trainer, c), strict=True)
    assert any(not np.array_equal(x, y) for x, y in pairs)


def test_resumed_run_equals_a_straight_run(trainer):
    key = trainer.train_key(5)
    straight, l_all = train(trainer.step, trainer.init(5), 200, key=key, chunk=50)
    half, l1 = train(trainer.step, trainer.init(5), 100, key=key, chunk=50)
    resumed, l2 = train(trainer.step, half, 200, key=key, chunk=50)
    np.testing.assert_array_equal(np.concatenate([l1, l2]), l_all)
    for x, y in zip(_params(trainer, straight), _params(trainer, resumed), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_figure_helpers_shapes(trainer, trained, data):
    state, _, _ = trained
    x = data["x_test"][:5]
    assert trainer.encode(state, x).shape == (5, 2)
    rec = trainer.reconstruct(state, x)
    new = trainer.sample_prior(state, 7, seed=0)
    assert rec.shape == (5, 64) and new.shape == (7, 64)
    assert 0 <= rec.min() and rec.max() <= 1 and 0 <= new.min() and new.max() <= 1
    np.testing.assert_array_equal(new, trainer.sample_prior(state, 7, seed=0))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"latent_dim": 0}, "latent_dim must be an integer >= 1"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"iwae_k": 0}, "iwae_k must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"elbo_k": 1}, "elbo_k must be >= 2"),
        ({"learning_rate": 0.0}, "learning_rate must be finite and > 0"),
    ],
)
def test_impossible_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        VAEConfig(**settings)


def test_batch_larger_than_the_training_set_is_refused(data):
    with pytest.raises(ValueError, match="exceeds the 1437 training images; lower batch_size"):
        VAETrainer(VAEConfig(batch_size=5000), data)


def test_header_names_the_architecture_only_when_it_is_not_the_mlp():
    # Checkpoints written before the choice existed have the MLP's header: still resumable.
    mlp = VAEConfig().header()
    assert set(mlp) == {
        "model",
        "latent_dim",
        "hidden",
        "depth",
        "batch_size",
        "learning_rate",
        "chunk",
    }
    conv = VAEConfig(architecture="conv").header()
    assert conv == {**mlp, "architecture": "conv"}
    assert VAE_PROFILES["conv"].header()["architecture"] == "conv"
    with pytest.raises(ValueError, match="unknown architecture 'cnn'; choose one of mlp, conv"):
        VAEConfig(architecture="cnn")


# Convolutions are ~30 times slower per step than the 64-unit MLP on a CPU: a short run.
TINY_CONV = dataclasses.replace(TINY, architecture="conv", steps=200, batch_size=32, iwae_k=100)


@pytest.mark.slow
def test_conv_vae_trains_in_float32_and_its_bounds_improve(data):
    trainer = VAETrainer(TINY_CONV, data)
    untrained = trainer.metrics(trainer.init(0), seed=0)
    state, losses = trainer.fit(0)
    leaves = jax.tree_util.tree_leaves(trainer.params(state))
    assert {str(leaf.dtype) for leaf in leaves} == {"float32"}
    with jax.enable_x64(True):
        jaxpr = str(jax.make_jaxpr(trainer.step)(state.carry, jax.random.PRNGKey(0)))
    convs = [line for line in jaxpr.splitlines() if "conv_general_dilated" in line]
    assert convs and not [line for line in convs if "f64" in line]
    assert losses[-50:].mean() < losses[:50].mean() - 3.0
    m = trainer.metrics(state, seed=0)
    se = m["test_elbo_mcse"] + untrained["test_elbo_mcse"]
    assert m["test_elbo"] > untrained["test_elbo"] + 10 * se
    assert m["test_iwae"] >= m["test_elbo"] - 3 * m["test_elbo_mcse"]
    assert trainer.sample_prior(state, 5).shape == (5, 64)


def test_header_is_json_and_leaves_out_steps():
    header = VAE_PROFILES["quick"].header()
    assert json.loads(json.dumps(header)) == header
    assert "steps" not in header and header["model"] == "vae"
    assert VAEConfig(steps=10).header() == VAEConfig(steps=20).header()
    assert VAEConfig(hidden=10).header() != VAEConfig(hidden=20).header()
    assert VAE_PROFILES["quick"].iwae_k >= 1000 and VAE_PROFILES["full"].iwae_k >= 1000
