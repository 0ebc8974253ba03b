"""Topic 10: the data and the noise-prediction network of a diffusion model (DDPM).

A DDPM (Ho, Jain & Abbeel 2020) has no posterior to sample: it is a generative model
fitted by stochastic gradient descent and judged by how close its samples come to
held-out data. This module holds its declarative half — the data sets and the network
ε_θ(x_t, t) — and registers the model as ``ddpm``; training and sampling (the paper's
Algorithms 1 and 2) live in :mod:`inference.diffusion`.

Data sets (:func:`dataset`)
---------------------------
- ``"moons"`` — scikit-learn's two interleaving half circles (noise 0.05), standardised.
- ``"swissroll"`` — scikit-learn's 3-D Swiss roll flattened to its (x, z) columns (the
  2-D spiral), noise 0.3 on a roll of radius ~10, standardised.
- ``"digits"`` — scikit-learn's 8×8 handwritten digits (1,797 images; they ship with
  scikit-learn, nothing is downloaded), 64 pixels scaled from [0, 16] to [−1, 1], the
  range Ho et al. scale their images to; the labels are kept.

Every set comes with a held-out test set drawn from the same distribution, on which the
sample-quality metric is computed.

Network (:class:`EpsNet`)
-------------------------
A sinusoidal embedding of the step t (Vaswani et al. 2017, as Ho et al. use it) feeds an
MLP with SiLU activations; the embedding is added to every hidden layer so that each
layer knows the noise level. Ho et al. use a U-Net for 32×32 and larger images; for 8×8
digits (64 numbers) an MLP with the same time embedding is enough and far cheaper on a
CPU, so the same class serves all three data sets. Every array is float32 explicitly, so
the network stays float32 in a process that runs JAX in 64-bit (float64 networks are slow).

References
----------
.. [1] Ho, J., Jain, A., & Abbeel, P. (2020). Denoising diffusion probabilistic models.
   *NeurIPS 33*, 6840-6851.
.. [2] Vaswani, A., et al. (2017). Attention is all you need. *NeurIPS 30* (section 3.5,
   the sinusoidal positional encoding).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .base import DataError, ModelSpec, register

__all__ = ["DATASETS", "EpsNet", "dataset", "simulate", "timestep_embedding"]

#: Data sets :func:`dataset` knows, with their default training-set sizes.
DATASETS: dict[str, int] = {"moons": 2000, "swissroll": 2000, "digits": 1437}
_DIGITS_TOTAL = 1797  # images in scikit-learn's copy of the UCI digits
_DIGITS_TEST = 360  # held out by default (20%)


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def dataset(
    name: str = "moons", n: int | None = None, seed: int = 0, *, n_test: int | None = None
) -> dict[str, Any]:
    """A training set and a held-out test set for the diffusion model.

    Parameters
    ----------
    name : {"moons", "swissroll", "digits"}
        Which data (see the module docstring).
    n : int, optional
        Training points; default 2,000 for the 2-D sets and 1,437 for the digits.
    seed : int
        Seeds the generator (2-D sets) or the shuffle of the train/test split (digits).
    n_test : int, optional
        Held-out points; default ``n`` for the 2-D sets and 360 for the digits. For the
        digits ``n + n_test`` cannot exceed the 1,797 images.

    Returns
    -------
    dict
        ``x_train`` (n, d) and ``x_test`` (n_test, d) float32; ``name``; ``shift`` and
        ``scale`` (d,), the map back to the raw units (``raw = x * scale + shift``);
        for the digits also ``y_train`` and ``y_test``, the digit labels.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    n = DATASETS[name] if n is None else _count("n", n, 2)
    if name == "digits":
        from sklearn.datasets import load_digits

        n_test = _DIGITS_TEST if n_test is None else _count("n_test", n_test, 1)
        if n + n_test > _DIGITS_TOTAL:
            raise DataError(
                f"the digits have {_DIGITS_TOTAL} images, fewer than n + n_test = "
                f"{n + n_test}; ask for fewer"
            )
        digits = load_digits()
        order = np.random.default_rng(seed).permutation(_DIGITS_TOTAL)
        x = digits.data[order] / 8.0 - 1.0  # [0, 16] -> [-1, 1]
        y = digits.target[order]
        d = x.shape[1]
        return {
            "name": name,
            "x_train": x[:n].astype(np.float32),
            "x_test": x[n : n + n_test].astype(np.float32),
            "y_train": y[:n],
            "y_test": y[n : n + n_test],
            "shift": np.full(d, 8.0, np.float32),
            "scale": np.full(d, 8.0, np.float32),
        }
    from sklearn.datasets import make_moons, make_swiss_roll

    n_test = n if n_test is None else _count("n_test", n_test, 1)
    if name == "moons":
        x, _ = make_moons(n + n_test, noise=0.05, random_state=seed)
    else:
        x3, _ = make_swiss_roll(n + n_test, noise=0.3, random_state=seed)
        x = x3[:, [0, 2]]  # the spiral lies in the (x, z) plane; y is the roll's length
    # Standardise with the training half only, so the test set stays unseen.
    shift, scale = x[:n].mean(axis=0), x[:n].std(axis=0)
    x = (x - shift) / scale
    return {
        "name": name,
        "x_train": x[:n].astype(np.float32),
        "x_test": x[n:].astype(np.float32),
        "shift": shift.astype(np.float32),
        "scale": scale.astype(np.float32),
    }


_dataset = dataset  # ``simulate`` takes a keyword named ``dataset``, as the CLI spells it


def simulate(
    seed: int = 0, dataset: str = "moons", n: int | None = None, n_test: int | None = None
) -> dict[str, Any]:
    """The registry's simulator: :func:`dataset` with the moons by default."""
    return _dataset(dataset, n, seed, n_test=n_test)


def timestep_embedding(t: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
    """Sinusoidal embedding of the diffusion step (Vaswani et al. 2017, section 3.5).

    Parameters
    ----------
    t : scalar array
        The step, 1..T (any real value works).
    dim : int
        Embedding size (even).
    max_period : float
        The slowest frequency's period, 10,000 as in both papers.

    Returns
    -------
    (dim,) float32 array
        ``[sin(t ω_k), cos(t ω_k)]`` for ``ω_k = max_period^(−k/(dim/2))``, k = 0..dim/2−1:
        a smooth code in which nearby steps are similar and every step is distinct.
    """
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    angle = jnp.asarray(t, jnp.float32) * freqs
    return jnp.concatenate([jnp.sin(angle), jnp.cos(angle)])


class EpsNet(eqx.Module):
    """The noise predictor ε_θ(x_t, t) of Ho et al. (2020): an MLP with a time embedding.

    ``x_t`` (d,) goes through an input layer; the sinusoidal embedding of ``t`` goes
    through a small MLP and is added to each of the ``depth`` hidden layers (SiLU); an
    output layer returns the predicted noise (d,). One point at a time: batch with
    ``jax.vmap``.

    Parameters
    ----------
    dim : int
        Data dimension d.
    hidden : int
        Width of the hidden layers.
    depth : int
        Number of hidden layers (>= 1).
    emb_dim : int
        Size of the sinusoidal embedding (even).
    key : jax.Array
        Initialisation key.
    """

    inp: eqx.nn.Linear
    time: eqx.nn.MLP
    layers: list
    out: eqx.nn.Linear
    emb_dim: int = eqx.field(static=True)

    def __init__(self, dim: int, hidden: int, depth: int, emb_dim: int = 32, *, key):
        if depth < 1 or hidden < 1 or emb_dim < 2 or emb_dim % 2:
            raise ValueError(
                f"need depth >= 1, hidden >= 1 and an even emb_dim >= 2, got {depth}, "
                f"{hidden}, {emb_dim}; pick sizes that make a network"
            )
        f32 = jnp.float32
        k_in, k_time, k_out, *k_layers = jax.random.split(key, 3 + depth)
        self.emb_dim = emb_dim
        self.inp = eqx.nn.Linear(dim, hidden, key=k_in, dtype=f32)
        self.time = eqx.nn.MLP(
            emb_dim, hidden, hidden, 1, activation=jax.nn.silu, key=k_time, dtype=f32
        )
        self.layers = [eqx.nn.Linear(hidden, hidden, key=k, dtype=f32) for k in k_layers]
        self.out = eqx.nn.Linear(hidden, dim, key=k_out, dtype=f32)

    def __call__(self, x: jax.Array, t: jax.Array) -> jax.Array:
        """ε_θ(x_t, t) for one point ``x`` (d,) at step ``t`` (scalar, 1..T)."""
        emb = self.time(timestep_embedding(t, self.emb_dim))
        h = self.inp(jnp.asarray(x, jnp.float32))
        for layer in self.layers:
            h = layer(jax.nn.silu(h + emb))
        return self.out(jax.nn.silu(h))


register(
    ModelSpec(
        name="ddpm",
        topic=10,
        title="Denoising diffusion probabilistic model (Ho et al. 2020) on 2-D data or digits",
        simulate=simulate,
        tags=("neural",),
    )
)
