"""The resumable training loop: exact resume, early stop, bad settings, non-finite losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bayesmin.inference.training import TrainState, init_state, train

X = jax.random.normal(jax.random.PRNGKey(0), (500, 3), jnp.float32)
W_TRUE = jnp.array([1.0, -2.0, 0.5], jnp.float32)
Y = X @ W_TRUE
OPT = optax.adam(1e-2)


def _step(carry, key):
    params, opt_state = carry
    idx = jax.random.randint(key, (32,), 0, X.shape[0])
    loss, grad = jax.value_and_grad(lambda w: jnp.mean((X[idx] @ w - Y[idx]) ** 2))(params)
    updates, opt_state = OPT.update(grad, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss


def _fresh() -> TrainState:
    w0 = jnp.zeros(3, jnp.float32)
    return init_state((w0, OPT.init(w0)))


def test_trains_and_counts_steps():
    state, losses = train(_step, _fresh(), 1200, key=jax.random.PRNGKey(1), chunk=200)
    assert int(state.step) == 1200 and losses.shape == (1200,)
    np.testing.assert_allclose(state.carry[0], W_TRUE, atol=1e-2)
    assert losses[-100:].mean() < 1e-2 * losses[:100].mean()
    assert state.carry[0].dtype == jnp.float32


def test_resume_from_a_chunk_boundary_equals_one_run():
    key = jax.random.PRNGKey(2)
    whole, _ = train(_step, _fresh(), 450, key=key, chunk=100)
    first, _ = train(_step, _fresh(), 200, key=key, chunk=100)
    rest, losses = train(_step, first, 450, key=key, chunk=100)
    assert losses.shape == (250,)
    np.testing.assert_array_equal(rest.carry[0], whole.carry[0])
    # Negative control: another key is another run.
    other, _ = train(_step, first, 450, key=jax.random.PRNGKey(3), chunk=100)
    assert not np.array_equal(other.carry[0], whole.carry[0])


def test_callback_sees_every_chunk_and_can_stop_early():
    seen = []

    def callback(state, losses):
        seen.append((int(state.step), losses.size))
        return int(state.step) >= 300

    state, losses = train(_step, _fresh(), 1000, key=jax.random.PRNGKey(0), callback=callback)
    assert seen == [(100, 100), (200, 100), (300, 100)]
    assert int(state.step) == 300 and losses.size == 300


def test_nothing_left_to_do_returns_the_state():
    state, _ = train(_step, _fresh(), 100, key=jax.random.PRNGKey(0))
    again, losses = train(_step, state, 100, key=jax.random.PRNGKey(0))
    assert again is state and losses.size == 0


@pytest.mark.parametrize(
    ("n_steps", "chunk", "match"),
    [(-1, 10, "n_steps >= 0"), (10, 0, "chunk >= 1")],
)
def test_bad_settings(n_steps, chunk, match):
    with pytest.raises(ValueError, match=match):
        train(_step, _fresh(), n_steps, key=jax.random.PRNGKey(0), chunk=chunk)


def test_more_steps_taken_than_asked_is_refused():
    state, _ = train(_step, _fresh(), 200, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="already taken 200 steps"):
        train(_step, state, 100, key=jax.random.PRNGKey(0))


def test_a_diverging_loss_stops_with_advice():
    def blow_up(carry, key):
        return carry * 1e30, jnp.sum(carry * 1e30)

    state = init_state(jnp.ones(2, jnp.float32))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train(blow_up, state, 100, key=jax.random.PRNGKey(0), chunk=10)
