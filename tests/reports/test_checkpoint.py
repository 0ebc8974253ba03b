"""Checkpoints: a round trip is exact; a checkpoint of another run is refused by name."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from bayesmin.inference.training import init_state
from bayesmin.reports.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

HEADER = {"model": "toy", "hidden": 8}


def _state(scale=1.0, shape=(3,)):
    return init_state({"w": jnp.full(shape, scale, jnp.float32), "b": jnp.zeros((), jnp.float32)})


def test_round_trip_is_exact(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.npz", _state(2.5), HEADER)
    back = load_checkpoint(path, _state(0.0), HEADER)
    np.testing.assert_array_equal(back.carry["w"], np.full(3, 2.5, np.float32))
    assert back.carry["w"].dtype == jnp.float32 and int(back.step) == 0
    assert not list(tmp_path.glob(".*tmp"))  # written through a temporary file


@pytest.mark.parametrize(
    ("template", "header", "match"),
    [
        (_state(), {"model": "toy", "hidden": 16}, r"other settings \(hidden: 8 there, 16 now\)"),
        (_state(shape=(4,)), HEADER, "expects float32"),
        (init_state({"w": jnp.zeros(3, jnp.float32)}), HEADER, "holds 3 arrays, this run has 2"),
    ],
)
def test_a_checkpoint_of_another_run_is_refused(tmp_path, template, header, match):
    path = save_checkpoint(tmp_path / "ckpt.npz", _state(), HEADER)
    with pytest.raises(CheckpointError, match=match) as err:
        load_checkpoint(path, template, header)
    assert "--out" in str(err.value)


def test_a_damaged_file_is_refused(tmp_path):
    path = tmp_path / "ckpt.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path, _state(), HEADER)
    np.savez(path, a=np.zeros(2))
    with pytest.raises(CheckpointError, match="not a bayesmin checkpoint"):
        load_checkpoint(path, _state(), HEADER)
