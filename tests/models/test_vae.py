"""Topic 9: the VAE's data, registry entry, and declarative vs plain-JAX densities."""

from __future__ import annotations

from functools import partial

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


def test_digits_are_binary_float32_and_stratified(data):
    assert data["x_train"].shape == (1437, 64) and data["x_test"].shape == (360, 64)
    for name in ("x_train", "x_test"):
        assert data[name].dtype == np.float32
        assert set(np.unique(data[name])) == {0.0, 1.0}
    # Stratified: every digit keeps its share (within one image) in the test set.
    share_train = np.bincount(data["y_train"]) / len(data["y_train"])
    share_test = np.bincount(data["y_test"]) / len(data["y_test"])
    assert np.all(np.abs(share_train - share_test) * len(data["y_test"]) <= 1.0)
    np.testing.assert_array_equal(vae.digits(0)["x_test"], data["x_test"])


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
def test_plain_jax_densities_match_the_numpyro_program(data):
    enc, dec = vae.networks(2, 16, 1, key=jax.random.PRNGKey(1))
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
