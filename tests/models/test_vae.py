"""Topic 9: the VAE's data, registry entry, and declarative vs plain-JAX densities."""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers

from bayesmin import models
from bayesmin.models import vae


@pytest.fixture(scope="module")
def data():
    return vae.digits(0)


def test_digits_are_binary_float32_on_the_classifiers_split(data):
    from bayesmin.models.diffusion import dataset

    assert data["x_train"].shape == (1437, 64) and data["x_test"].shape == (360, 64)
    for name in ("x_train", "x_test"):
        assert data[name].dtype == np.float32
        assert set(np.unique(data[name])) == {0.0, 1.0}
    # The diffusion model's split, which the digit classifier is trained and judged on:
    # its held-out images are the VAE's, never among its training images. Grey levels
    # raw / 8 - 1 >= 0 are raw ink >= 8, the binarisation at raw > 7.
    grey = dataset("digits", seed=0)
    for part in ("train", "test"):
        np.testing.assert_array_equal(data[f"x_{part}"], grey[f"x_{part}"] >= 0.0)
        np.testing.assert_array_equal(data[f"y_{part}"], grey[f"y_{part}"])
        assert data[f"y_{part}"].dtype == np.int32
    np.testing.assert_array_equal(vae.digits(0)["x_test"], data["x_test"])


def test_larger_test_size_keeps_the_default_test_images_held_out(data):
    bigger = vae.digits(0, test_size=0.3)
    assert bigger["x_test"].shape == (540, 64)  # ceil(0.3 * 1797), scikit-learn's rounding
    # A prefix of the same permutation trains; the default test images stay held out.
    np.testing.assert_array_equal(bigger["x_train"], data["x_train"][:1257])
    np.testing.assert_array_equal(bigger["x_test"][-360:], data["x_test"])
    with pytest.raises(ValueError, match="test_size must be in"):
        vae.digits(0, test_size=1.0)


def test_registered_with_numpyro_only():
    spec = models.get("vae")
    assert spec.topic == 9 and "vae" in models.names(topic=9)
    assert spec.numpyro is not None and spec.pymc is None and spec.exact is None


def test_baseline_is_the_smoothed_independent_bernoulli_likelihood():
    x_train = np.array([[1, 0], [1, 0], [0, 0]], dtype=np.float32)
    x_test = np.array([[1, 1]], dtype=np.float32)
    # p = (Σx + 1) / (N + 2) = (3/5, 1/5)
    assert vae.independent_pixels(x_train, x_test) == pytest.approx(np.log(0.6) + np.log(0.2))


@pytest.mark.slow
@pytest.mark.parametrize("architecture", vae.ARCHITECTURES)
def test_plain_jax_densities_match_the_numpyro_program(data, architecture):
    enc, dec = vae.networks(2, 16, 1, key=jax.random.PRNGKey(1), architecture=architecture)
    x = jnp.asarray(data["x_test"][:5])
    with handlers.seed(rng_seed=0):
        guide_tr = handlers.trace(partial(vae.guide, encoder=enc)).get_trace(x)
    model_tr = handlers.trace(
        handlers.replay(partial(vae.model, decoder=dec), trace=guide_tr)
    ).get_trace(x)
    z = guide_tr["z"]["value"]
    assert z.dtype == jnp.float32 and z.shape == (5, 2)
    mu, log_sigma = jax.vmap(enc)(x)
    np.testing.assert_allclose(
        guide_tr["z"]["fn"].log_prob(z), jax.vmap(vae.log_qz_x)(mu, log_sigma, z), rtol=1e-5
    )
    np.testing.assert_allclose(model_tr["z"]["fn"].log_prob(z), jax.vmap(vae.log_pz)(z), rtol=1e-5)
    np.testing.assert_allclose(
        model_tr["x"]["fn"].log_prob(x),
        jax.vmap(partial(vae.log_px_z, dec))(x, z),
        rtol=1e-5,
    )


def test_registered_program_runs_on_the_data_dict(data):
    tr = handlers.trace(handlers.seed(models.get("vae").numpyro, 0)).get_trace(**data)
    assert tr["x"]["value"].shape == (1437, 64)
    assert tr["decoder$params"]["type"] == "param"


def test_impossible_network_sizes_are_refused():
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        vae.networks(0, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="unknown architecture 'resnet'; choose one of mlp, conv"):
        vae.networks(2, key=jax.random.PRNGKey(0), architecture="resnet")


@pytest.mark.slow
def test_conv_networks_map_one_image_and_one_latent_point_in_float32(data):
    enc, dec = vae.networks(3, key=jax.random.PRNGKey(2), architecture="conv")
    assert isinstance(enc, vae.ConvEncoder) and isinstance(dec, vae.ConvDecoder)
    x = jnp.asarray(data["x_test"][:4])
    mu, log_sigma = jax.vmap(enc)(x)
    assert mu.shape == log_sigma.shape == (4, 3)
    logits = jax.vmap(dec)(mu)
    assert logits.shape == (4, 64)
    leaves = jax.tree_util.tree_leaves(eqx.filter((enc, dec), eqx.is_inexact_array))
    assert {str(a.dtype) for a in (mu, logits, *leaves)} == {"float32"}
    # The 8×8 layout is used: moving ink moves the encoding (an MLP would see the same
    # 64 numbers in another order; a convolution sees a shifted stroke). Negative control
    # for a reshape that scrambles pixels: every pixel must reach the output.
    grad = jax.grad(lambda x: enc(x)[0].sum())(x[0])
    assert np.count_nonzero(np.asarray(grad)) > 48
    # One latent point -> one image's log-likelihood, as for the MLP.
    assert vae.log_px_z(dec, x[0], mu[0]).shape == ()
