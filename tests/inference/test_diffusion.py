"""DDPM (Ho et al. 2020): schedule, forward process, posterior, sampler, training, resume."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesmin.diagnostics.distance import ddpm_metrics
from bayesmin.inference.diffusion import (
    DDPMConfig,
    DDPMTrainer,
    ddpm_config,
    linear_schedule,
    mean_from_eps,
    posterior_mean_variance,
    q_sample,
    sample_ddpm,
)
from bayesmin.inference.training import train
from bayesmin.models.diffusion import dataset

SCHEDULE = linear_schedule()  # Ho et al.: T = 1000, beta from 1e-4 to 0.02
#: Small enough to train in seconds, big enough to beat a Gaussian on the moons.
TINY = dict(hidden=64, depth=3, steps=3000, learning_rate=5e-3, n_eval=1000, chunk=500)


@pytest.fixture(scope="module")
def moons():
    return dataset("moons", n=1000, seed=0)


@pytest.fixture(scope="module")
def trained(moons):
    trainer = DDPMTrainer(ddpm_config("moons", **TINY), moons)
    state, losses = train(
        trainer.step, trainer.init(0), trainer.config.steps, key=jax.random.PRNGKey(0),
        chunk=trainer.config.chunk,
    )  # fmt: skip
    return trainer, state, losses


# --------------------------------------------------------------------------- schedule


def test_linear_schedule_values():
    s = SCHEDULE
    assert s.T == 1000 and s.beta.dtype == jnp.float32
    np.testing.assert_allclose([s.beta[0], s.beta[-1]], [1e-4, 0.02], rtol=1e-6)
    np.testing.assert_allclose(s.alpha, 1 - s.beta, rtol=1e-6)
    # x_T is pure noise: almost no signal is left (Ho et al.'s choice makes ᾱ_T ≈ 4e-5).
    assert 0 < float(s.alpha_bar[-1]) < 1e-4
    assert np.all(np.diff(np.asarray(s.alpha_bar)) < 0)
    np.testing.assert_allclose(s.alpha_bar_prev[1:], s.alpha_bar[:-1])
    assert float(s.alpha_bar_prev[0]) == 1.0
    # β̃_1 = 0 (x_0 is given), and 0 ≤ β̃_t ≤ β_t: the two bounds on σ_t².
    assert float(s.beta_tilde[0]) == 0.0
    assert np.all(np.asarray(s.beta_tilde) <= np.asarray(s.beta) + 1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(T=1), "T must be an integer >= 2"),
        (dict(beta_1=0.0), "beta_1 must lie in"),
        (dict(beta_T=1.5), "beta_T must lie in"),
        (dict(beta_1=0.03, beta_T=0.02), "swap them"),
        (dict(steps=0), "steps must be an integer >= 1"),
        (dict(dataset="cifar"), "unknown dataset 'cifar'"),
        (dict(sigma="learned"), "unknown sigma"),
        (dict(learning_rate=-1.0), "learning_rate must be"),
        (dict(ema_decay=1.0), "ema_decay must be in"),
    ],
)
def test_impossible_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DDPMConfig(**kwargs)


def test_header_is_json_and_names_the_settings():
    import json

    h = ddpm_config("moons", "quick").header()
    assert json.loads(json.dumps(h)) == h
    assert h["T"] == 1000 and h["dataset"] == "moons" and h["model"] == "ddpm"
    assert ddpm_config("moons", "full").steps > ddpm_config("moons", "quick").steps


# --------------------------------------------------------------------------- forward process


@pytest.mark.parametrize("t", [1, 10, 250, 1000])
def test_q_sample_moments_match_the_closed_form(t):
    n = 20_000
    x0 = jnp.array([[2.0, -1.0]], jnp.float32)
    eps = jax.random.normal(jax.random.PRNGKey(t), (n, 2), jnp.float32)
    xt = np.asarray(q_sample(SCHEDULE, jnp.broadcast_to(x0, (n, 2)), t, eps), float)
    ab = float(SCHEDULE.alpha_bar[t - 1])
    var = 1 - ab
    # |mean − truth| / MCSE < 4 and the same for the variance (MCSE of s² ≈ σ² √(2/n)).
    z_mean = (xt.mean(0) - np.sqrt(ab) * np.asarray(x0[0])) / np.sqrt(var / n)
    z_var = (xt.var(0) - var) / (var * np.sqrt(2 / n))
    assert np.all(np.abs(z_mean) < 4), z_mean
    assert np.all(np.abs(z_var) < 4), z_var


@pytest.mark.parametrize("t", [1, 2, 50, 999, 1000])
def test_posterior_is_the_gaussian_conditional(t):
    # Computed independently: (x_{t-1}, x_t) given x_0 are jointly Gaussian with
    # Var x_{t-1} = v = 1 − ᾱ_{t−1}, Cov = √α_t v, Var x_t = 1 − ᾱ_t.
    beta = np.linspace(1e-4, 0.02, 1000)
    ab = np.cumprod(1 - beta)
    ab_prev = 1.0 if t == 1 else ab[t - 2]
    alpha, v, vt = 1 - beta[t - 1], 1 - ab_prev, 1 - ab[t - 1]
    x0 = np.array([[0.7, -1.2], [2.0, 0.1]])
    xt = np.array([[0.3, 0.5], [-1.0, 1.5]])
    mean = np.sqrt(ab_prev) * x0 + np.sqrt(alpha) * v / vt * (xt - np.sqrt(ab[t - 1]) * x0)
    var = v - alpha * v * v / vt
    got_mean, got_var = posterior_mean_variance(
        SCHEDULE, jnp.asarray(x0, jnp.float32), jnp.asarray(xt, jnp.float32), t
    )
    np.testing.assert_allclose(got_mean, mean, atol=2e-5)
    np.testing.assert_allclose(np.ravel(got_var)[0], var, atol=1e-7, rtol=1e-4)


def test_mean_from_the_true_noise_is_the_posterior_mean():
    # μ_θ with ε_θ = the ε that made x_t equals μ̃_t(x_t, x_0): why predicting ε suffices.
    key = jax.random.PRNGKey(3)
    x0 = jax.random.normal(key, (6, 2), jnp.float32)
    eps = jax.random.normal(jax.random.fold_in(key, 1), (6, 2), jnp.float32)
    t = jnp.array([1, 2, 10, 100, 500, 1000])
    xt = q_sample(SCHEDULE, x0, t, eps)
    mean, _ = posterior_mean_variance(SCHEDULE, x0, xt, t)
    np.testing.assert_allclose(mean_from_eps(SCHEDULE, xt, t, eps), mean, atol=2e-4)


# --------------------------------------------------------------------------- sampler


M, S = 1.5, 0.5  # x_0 ~ N(M, S² I)


def _eps_oracle(x, t):
    # x_t ~ N(√ᾱ M, ᾱ S² + 1 − ᾱ), and E[ε | x_t] = √(1−ᾱ) (x_t − √ᾱ M) / (ᾱ S² + 1 − ᾱ):
    # the exact minimiser of L_simple for Gaussian data.
    ab = SCHEDULE.alpha_bar[t - 1][:, None]
    v = SCHEDULE.one_minus_alpha_bar[t - 1][:, None]
    return jnp.sqrt(v) * (x - jnp.sqrt(ab) * M) / (ab * S**2 + v)


@pytest.fixture(scope="module")
def oracle_draws():
    n = 20_000

    def run(sigma):
        fn = jax.jit(lambda k: sample_ddpm(_eps_oracle, SCHEDULE, k, (n, 2), sigma=sigma)[0])
        return np.asarray(fn(jax.random.PRNGKey(0)), float).ravel()

    return run


def test_oracle_sampler_reproduces_the_data_distribution(oracle_draws):
    x = oracle_draws("beta")
    assert x.dtype == np.float64  # converted here; the sampler returned float32
    n = x.size / 2  # two coordinates, independent
    assert abs(x.mean() - M) / (S / np.sqrt(n)) < 4
    assert abs(x.var() - S**2) / (S**2 * np.sqrt(2 / n)) < 4
    # σ_t² = β̃_t, the other choice of Ho et al., also lands on it (within 3%: β̃ is
    # exact only for a point mass, β only for N(0, I); with T = 1000 both are close).
    y = oracle_draws("beta_tilde")
    assert abs(y.var() / S**2 - 1) < 0.03 and abs(y.mean() - M) < 0.02


@pytest.mark.parametrize(
    "wrong", ["sigma = beta (not its root)", "no noise z"], ids=["sigma-beta", "no-z"]
)
def test_negative_control_wrong_sigma_gives_wrong_variance(oracle_draws, wrong):
    sigma = SCHEDULE.beta**2 if wrong.startswith("sigma") else jnp.zeros(1000, jnp.float32)
    x = oracle_draws(sigma)
    n = x.size / 2
    assert abs(x.var() - S**2) / (S**2 * np.sqrt(2 / n)) > 50


@pytest.mark.slow
def test_sampler_strip_and_determinism(trained):
    trainer, state, _ = trained
    x, strip = trainer.sample(state, 50, seed=4, return_strip=True)
    assert x.shape == (50, 2) and x.dtype == np.float32
    assert strip.shape == (len(trainer.strip), 50, 2)
    assert trainer.strip[0] == 1000 and trainer.strip[-1] == 0
    np.testing.assert_array_equal(strip[-1], x)  # the strip ends on the samples
    np.testing.assert_array_equal(trainer.sample(state, 50, seed=4), x)
    assert not np.array_equal(trainer.sample(state, 50, seed=5), x)
    fwd = trainer.forward_strip(trainer.x_train[:30], seed=0)
    assert fwd.shape == (len(trainer.strip), 30, 2)
    np.testing.assert_array_equal(fwd[0], trainer.x_train[:30])  # t = 0 is the data


# --------------------------------------------------------------------------- training


@pytest.mark.slow
def test_params_stay_float32_under_x64(trained):
    trainer, state, losses = trained
    leaves = jax.tree_util.tree_leaves(trainer.params(state))
    assert leaves and all(leaf.dtype == jnp.float32 for leaf in leaves)
    assert losses.dtype == np.float32
    # No float64 array in the step as traced for a user who runs JAX in 64-bit (one
    # float64 input would otherwise promote the network); Adam's scalar bias corrections
    # (b1 ** count) may be float64, they cost nothing.
    key = jax.random.PRNGKey(0)
    with jax.enable_x64(True):
        jaxpr = str(jax.make_jaxpr(trainer.step)(trainer.init(0).carry, key))
    assert re.search(r"f64\[\d", jaxpr) is None


@pytest.mark.slow
def test_short_training_beats_the_gaussian_on_moons(trained):
    trainer, state, losses = trained
    assert losses[-200:].mean() < 0.7 * losses[:50].mean()
    m = ddpm_metrics(trainer, state, seed=0)
    assert m["metric"] == "sliced_wasserstein"
    assert m["distance"] <= 0.5 * m["baseline_gaussian_distance"], m


def test_resume_two_plus_two_chunks_equals_four(moons):
    trainer = DDPMTrainer(ddpm_config("moons", hidden=16, depth=1, steps=40), moons)
    key = jax.random.PRNGKey(7)
    whole, _ = train(trainer.step, trainer.init(1), 40, key=key, chunk=10)
    half, _ = train(trainer.step, trainer.init(1), 20, key=key, chunk=10)
    rest, losses = train(trainer.step, half, 40, key=key, chunk=10)
    assert losses.shape == (20,) and int(rest.step) == 40
    for a, b in zip(jax.tree_util.tree_leaves(rest), jax.tree_util.tree_leaves(whole), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_sampling_uses_the_moving_average_of_the_weights(moons):
    """``params`` is the EMA: with decay 0 it is the last iterate, otherwise an average of
    the iterates that lags the last one (checked against the recursion by hand)."""
    key = jax.random.PRNGKey(3)
    plain = DDPMTrainer(ddpm_config("moons", hidden=16, depth=1, steps=30, ema_decay=0.0), moons)
    state, _ = train(plain.step, plain.init(0), 30, key=key, chunk=10)
    for a, b in zip(
        jax.tree.leaves(plain.params(state)), jax.tree.leaves(state.carry[0]), strict=True
    ):
        np.testing.assert_array_equal(a, b)

    averaged = DDPMTrainer(ddpm_config("moons", hidden=16, depth=1, steps=30, ema_decay=0.9), moons)
    params, opt_state, ema, count = averaged.init(0).carry
    expected = ema
    carry = (params, opt_state, ema, count)
    for n, k in enumerate(jax.random.split(key, 3), start=1):
        carry, _ = averaged.step(carry, k)
        d = min(0.9, (1 + n) / (10 + n))
        expected = jax.tree.map(lambda e, p, d=d: d * e + (1 - d) * p, expected, carry[0])
    ema, last = jax.tree.leaves(carry[2]), jax.tree.leaves(carry[0])
    for a, b in zip(ema, jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(ema, last, strict=True))


def test_datasets_are_float32_with_a_held_out_set():
    for name in ("moons", "swissroll"):
        d = dataset(name, n=300, seed=1)
        assert d["x_train"].shape == (300, 2) and d["x_test"].shape == (300, 2)
        assert d["x_train"].dtype == np.float32
        np.testing.assert_allclose(d["x_train"].mean(0), 0, atol=1e-5)
    d = dataset("digits", n=100, seed=0)
    assert d["x_train"].shape == (100, 64) and d["x_test"].shape == (360, 64)
    assert d["x_train"].min() >= -1 and d["x_train"].max() <= 1 and "y_train" in d
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        dataset("cifar")
    with pytest.raises(ValueError, match="ask for fewer"):
        dataset("digits", n=1700)


@pytest.mark.slow
def test_an_untrained_network_scores_worse_than_the_gaussian_on_the_digits():
    """Negative control of the digits' Fréchet distance (diagnostics.digits): samples of
    an untrained ε-network are farther from the held-out digits than the fitted
    Gaussian's, which are farther than the training images (the floor)."""
    from bayesmin.models.diffusion import dataset

    for network in ("unet", "mlp"):
        config = ddpm_config("digits", network=network, channels=4, hidden=32, depth=1,
                             steps=1, n_eval=200)  # fmt: skip
        trainer = DDPMTrainer(config, dataset("digits", seed=0))  # untrained
        m = ddpm_metrics(trainer, trainer.init(0), seed=0, vae=False)
        assert m["frechet_distance_floor"] < m["frechet_distance_gaussian"]
        assert m["frechet_distance_gaussian"] < m["frechet_distance"], network
        assert 0.0 <= m["digit_class_entropy"] <= np.log(10) + 1e-9
        assert "frechet_distance_vae" not in m


# ------------------------------------------------------------------------------ U-Net

UNET = dict(network="unet", channels=4, T=20, steps=6, batch_size=8, n_eval=16, chunk=3)


@pytest.fixture(scope="module")
def digits_small():
    return dataset("digits", n=64, n_test=16, seed=0)


def test_unet_maps_an_image_to_its_noise_in_float32_and_starts_at_zero():
    from bayesmin.models.diffusion import UNet

    net = UNet(64, channels=8, key=jax.random.PRNGKey(0))
    x = jnp.linspace(-1.0, 1.0, 64)
    with jax.enable_x64(True):
        out = net(x, jnp.asarray(500))
        assert out.shape == (64,) and out.dtype == jnp.float32
    # The output convolution starts at zero (every residual block as the identity too).
    np.testing.assert_array_equal(np.asarray(out), 0.0)
    # Negative control: with every weight moved off its initial value (as training does),
    # the network responds to both x and t.
    import equinox as eqx

    params, static = eqx.partition(net, eqx.is_array)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    moved = [
        p + 0.1 * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys, strict=True)
    ]
    live = eqx.combine(jax.tree.unflatten(tree, moved), static)
    a, b = live(x, jnp.asarray(10)), live(x, jnp.asarray(900))
    assert np.abs(np.asarray(a)).max() > 0 and not np.allclose(a, b)
    assert not np.allclose(live(x, 10), live(-x, 10))
    for bad in (63, 49, 0):  # not a square with an even side
        with pytest.raises(ValueError, match="square images with an even side"):
            UNet(bad, key=jax.random.PRNGKey(0))


def test_unet_header_names_the_network_and_mlp_headers_stay_as_they_were():
    mlp = ddpm_config("moons", "quick").header()
    assert "network" not in mlp and "channels" not in mlp  # old checkpoints still resume
    unet = ddpm_config("digits", "quick").header()
    assert unet["network"] == "unet" and unet["channels"] == 16
    with pytest.raises(ValueError, match="unknown network 'cnn'"):
        ddpm_config("digits", network="cnn")


def test_per_step_training_and_sampling_take_the_scans_steps(digits_small):
    """One compiled call per step (the U-Net's loop on the CPU) follows the same keys as
    the ``lax.scan`` loops: the same parameters, the same samples and strips."""
    trainer = DDPMTrainer(ddpm_config("digits", **UNET), digits_small)
    key = trainer.train_key(0)
    scanned, loss_a = train(trainer.step, trainer.init(0), 6, key=key, chunk=3)
    stepped, loss_b = train(trainer.step, trainer.init(0), 6, key=key, chunk=3, per_step=True)
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5, atol=1e-6)

    def flat(state):
        return np.concatenate([np.ravel(a) for a in jax.tree.leaves(trainer.params(state))])

    # Adam moves each weight by about the learning rate (3e-3) per step whatever the
    # gradient's size, so where a gradient is near zero the last bits in which the two
    # programs' sums differ can flip a step (4e-4 apart after six steps, measured): the
    # weights agree to 1e-4 almost everywhere, not everywhere.
    agree = np.mean(np.abs(flat(scanned) - flat(stepped)) < 1e-4)
    assert agree > 0.99, agree
    # Negative control: another key leaves most weights more than that apart.
    other, _ = train(trainer.step, trainer.init(0), 6, key=trainer.train_key(1), chunk=3)
    assert np.mean(np.abs(flat(scanned) - flat(other)) < 1e-4) < 0.5

    params = trainer.params(stepped)
    x_scan, strip_scan = trainer._sample(params, jax.random.PRNGKey(3), 16)
    x_step, strip_step = trainer._sample_per_step(params, jax.random.PRNGKey(3), 16)
    np.testing.assert_allclose(np.asarray(x_scan), np.asarray(x_step), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(strip_scan), np.asarray(strip_step), atol=1e-5)
    assert strip_step.shape == (len(trainer.strip), 16, 64)


def test_fit_resumes_exactly_and_the_last_draw_is_kept(digits_small):
    trainer = DDPMTrainer(ddpm_config("digits", **UNET), digits_small)
    whole, losses = trainer.fit(2)
    assert int(whole.step) == 6 and losses.shape == (6,)
    # Stopped after the first chunk (3 steps), then resumed from that state.
    first, _ = trainer.fit(2, callback=lambda state, losses: True)
    assert int(first.step) == 3
    resumed, rest = trainer.fit(2, state=first)
    np.testing.assert_allclose(rest, losses[3:], rtol=1e-5)
    a = trainer.sample(resumed, 16, seed=0)
    b = trainer.sample(resumed, 16, seed=0)  # the kept draw: no second run of the T steps
    assert trainer._last_draw[0] is resumed and np.array_equal(a, b)
    a[:] = 99.0  # callers get copies: changing one leaves the kept draw as it was
    assert not np.array_equal(a, trainer.sample(resumed, 16, seed=0))
    assert not np.array_equal(b, trainer.sample(resumed, 16, seed=1))  # another seed


def test_ddpm_metrics_take_given_samples_and_the_vae_reference(digits_small, monkeypatch):
    from bayesmin.diagnostics import digits

    trainer = DDPMTrainer(ddpm_config("digits", **UNET), digits_small)
    state = trainer.init(0)
    monkeypatch.setattr(digits, "vae_reference", lambda seed: {"frechet_distance": 6.5 + seed})
    x = np.clip(np.asarray(digits_small["x_train"][:16]), -1, 1)
    m = ddpm_metrics(trainer, state, seed=1, samples=x)
    assert m["frechet_distance_vae"] == 7.5
    # The given samples are the ones judged: training images score near the floor.
    assert m["frechet_distance"] == pytest.approx(
        digits.frechet_distance(x, digits.digits_split()["x_test"])
    )
    with pytest.raises(ValueError, match=r"samples must be \(16, 64\)"):
        ddpm_metrics(trainer, state, samples=x[:5])


@pytest.mark.parametrize("network", ["mlp", "unet"])
def test_compiled_initialisation_is_equinoxs_own(network):
    # The weights come from one compiled program (not one per layer, eagerly): the same
    # bits as building the network eagerly from the same key.
    import equinox as eqx

    name = "digits" if network == "unet" else "moons"
    config = ddpm_config(name, network=network, hidden=16, depth=1, channels=8)
    trainer = DDPMTrainer(config, dataset(name, n=64, n_test=16))
    compiled = jax.tree.leaves(trainer.init(3).carry[0])
    built = trainer._network(jax.random.PRNGKey(3))
    eager = jax.tree.leaves(eqx.partition(built, eqx.is_array)[0])
    assert len(compiled) == len(eager) > 0
    assert all(np.array_equal(a, b) for a, b in zip(compiled, eager, strict=True))
    other = jax.tree.leaves(trainer.init(4).carry[0])  # negative control: another seed
    assert not np.array_equal(other[0], compiled[0])
