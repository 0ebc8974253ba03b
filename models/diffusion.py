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

Networks (:class:`EpsNet`, :class:`UNet`)
------------------------------------------
Both take x_t and a sinusoidal embedding of the step t (Vaswani et al. 2017, as Ho et al.
use it), so that every layer knows the noise level.

- :class:`EpsNet` — an MLP with SiLU activations, the embedding added to every hidden
  layer: for the 2-D data sets, where an image's neighbourhoods do not exist.
- :class:`UNet` — the convolutional network Ho et al. use for images (their appendix B),
  scaled down to 8×8: residual blocks with group normalisation and the embedding added
  between their two convolutions, one down-sampling to 4×4 and back, a skip connection
  across. It sees strokes as local patterns wherever they sit in the image: on the digits
  its samples score a Fréchet distance in a digit classifier's features of 2.9-3.6 after
  1,000 steps (19 s on 2 CPU cores), the MLP's 5.0 after 4,000 (9 s), the fitted
  Gaussian's 9.5 (:mod:`bayesmin.diagnostics.digits`).

Every array is float32 explicitly, so the networks stay float32 in a process that runs
JAX in 64-bit (float64 networks are slow).

References
----------
.. [1] Ho, J., Jain, A., & Abbeel, P. (2020). Denoising diffusion probabilistic models.
   *NeurIPS 33*, 6840-6851.
.. [2] Vaswani, A., et al. (2017). Attention is all you need. *NeurIPS 30* (section 3.5,
   the sinusoidal positional encoding).
.. [3] Ronneberger, O., Fischer, P., & Brox, T. (2015). U-Net: convolutional networks for
   biomedical image segmentation. *MICCAI 2015*.
.. [4] Wu, Y., & He, K. (2018). Group normalization. *ECCV 2018*.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .base import DataError, ModelSpec, register

__all__ = ["DATASETS", "NETWORKS", "EpsNet", "UNet", "dataset", "simulate", "timestep_embedding"]

#: The ε-networks: an MLP for points, a U-Net for square images.
NETWORKS = ("mlp", "unet")

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


class _ResBlock(eqx.Module):
    """GroupNorm → SiLU → conv 3×3, plus the step's embedding, → GroupNorm → SiLU → conv
    3×3, added to the input (through a 1×1 convolution when the channels change).

    The second convolution starts at zero, so every block starts as the identity and the
    network as a shallow one (Ho et al.'s code does the same; it steadies early training).
    """

    norm1: eqx.nn.GroupNorm
    conv1: eqx.nn.Conv2d
    time: eqx.nn.Linear
    norm2: eqx.nn.GroupNorm
    conv2: eqx.nn.Conv2d
    skip: eqx.nn.Conv2d | None

    def __init__(self, c_in: int, c_out: int, t_dim: int, groups: int, *, key):
        f32 = jnp.float32
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.norm1 = eqx.nn.GroupNorm(math.gcd(groups, c_in), c_in, dtype=f32)
        self.conv1 = eqx.nn.Conv2d(c_in, c_out, 3, padding=1, key=k1, dtype=f32)
        self.time = eqx.nn.Linear(t_dim, c_out, key=k2, dtype=f32)
        self.norm2 = eqx.nn.GroupNorm(math.gcd(groups, c_out), c_out, dtype=f32)
        self.conv2 = _zeroed(eqx.nn.Conv2d(c_out, c_out, 3, padding=1, key=k3, dtype=f32))
        self.skip = None if c_in == c_out else eqx.nn.Conv2d(c_in, c_out, 1, key=k4, dtype=f32)

    def __call__(self, h: jax.Array, emb: jax.Array) -> jax.Array:
        y = self.conv1(jax.nn.silu(self.norm1(h))) + self.time(emb)[:, None, None]
        y = self.conv2(jax.nn.silu(self.norm2(y)))
        return (h if self.skip is None else self.skip(h)) + y


def _zeroed(conv: eqx.nn.Conv2d) -> eqx.nn.Conv2d:
    return eqx.tree_at(
        lambda c: (c.weight, c.bias), conv, (jnp.zeros_like(conv.weight), jnp.zeros_like(conv.bias))
    )


class UNet(eqx.Module):
    """ε_θ(x_t, t) for square one-channel images: a small U-Net (Ho et al. 2020, app. B).

    For an image of side s (even; 8 for the digits) with C = ``channels``::

        x (s², ) → s×s×1 → conv 3×3 → C ─ ResBlock(C) ──────────────── skip ─┐
                                            ↓ conv 3×3, stride 2                  │
                           s/2×s/2:  ResBlock(C → 2C) → ResBlock(2C)              │
                                            ↓ nearest ×2, conv 3×3 → C            │
                           s×s:      concat(·, skip) → ResBlock(2C → C) ←─────────┘
                                     → GroupNorm → SiLU → conv 3×3 → 1 → ε (s², )

    The step's sinusoidal embedding goes through a two-layer MLP (width 4C) and is added
    inside every residual block. Ho et al.'s 32×32 network has four resolutions, two
    blocks per resolution, 128 base channels and self-attention at 16×16; at 8×8 one
    down-sampling is what the image allows and attention over 16 positions adds nothing a
    3×3 convolution at 4×4 does not already see. One image at a time: batch with
    ``jax.vmap``. Its output layer starts at zero (ε_θ ≡ 0 before training).

    Parameters
    ----------
    dim : int
        Pixels per image, a perfect square with an even side (64 for the digits).
    channels : int
        C, the channels at full resolution (2C at half).
    emb_dim : int
        Size of the sinusoidal embedding (even).
    groups : int
        Groups of the group normalisations (Wu & He 2018), at most: each uses the largest
        divisor of its channels not above this.
    key : jax.Array
        Initialisation key.
    """

    time: eqx.nn.MLP
    inp: eqx.nn.Conv2d
    down: _ResBlock
    downsample: eqx.nn.Conv2d
    mid: list
    upsample: eqx.nn.Conv2d
    up: _ResBlock
    out_norm: eqx.nn.GroupNorm
    out: eqx.nn.Conv2d
    side: int = eqx.field(static=True)
    emb_dim: int = eqx.field(static=True)

    def __init__(self, dim: int, channels: int = 32, emb_dim: int = 64, groups: int = 8, *, key):
        side = math.isqrt(dim) if dim > 0 else 0
        if side * side != dim or side < 2 or side % 2:
            raise ValueError(
                f"a UNet needs square images with an even side, got {dim} pixels; use the "
                "MLP (network='mlp') for other data"
            )
        if channels < 1 or groups < 1 or emb_dim < 2 or emb_dim % 2:
            raise ValueError(
                f"need channels >= 1, groups >= 1 and an even emb_dim >= 2, got {channels}, "
                f"{groups}, {emb_dim}"
            )
        f32 = jnp.float32
        c, c2, t_dim = channels, 2 * channels, 4 * channels
        ks = iter(jax.random.split(key, 9))
        self.side, self.emb_dim = side, emb_dim
        self.time = eqx.nn.MLP(
            emb_dim, t_dim, t_dim, 1, activation=jax.nn.silu, final_activation=jax.nn.silu,
            key=next(ks), dtype=f32,
        )  # fmt: skip
        self.inp = eqx.nn.Conv2d(1, c, 3, padding=1, key=next(ks), dtype=f32)
        self.down = _ResBlock(c, c, t_dim, groups, key=next(ks))
        self.downsample = eqx.nn.Conv2d(c, c, 3, stride=2, padding=1, key=next(ks), dtype=f32)
        self.mid = [
            _ResBlock(c, c2, t_dim, groups, key=next(ks)),
            _ResBlock(c2, c2, t_dim, groups, key=next(ks)),
        ]
        self.upsample = eqx.nn.Conv2d(c2, c, 3, padding=1, key=next(ks), dtype=f32)
        self.up = _ResBlock(2 * c, c, t_dim, groups, key=next(ks))
        self.out_norm = eqx.nn.GroupNorm(math.gcd(groups, c), c, dtype=f32)
        self.out = _zeroed(eqx.nn.Conv2d(c, 1, 3, padding=1, key=next(ks), dtype=f32))

    def __call__(self, x: jax.Array, t: jax.Array) -> jax.Array:
        """ε_θ(x_t, t) for one image ``x`` (s², ) at step ``t`` (scalar, 1..T)."""
        emb = self.time(timestep_embedding(t, self.emb_dim))
        h = self.inp(jnp.asarray(x, jnp.float32).reshape(1, self.side, self.side))
        skip = h = self.down(h, emb)
        h = self.downsample(h)
        for block in self.mid:
            h = block(h, emb)
        h = self.upsample(jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2))
        h = self.up(jnp.concatenate([h, skip]), emb)
        return self.out(jax.nn.silu(self.out_norm(h))).reshape(-1)


register(
    ModelSpec(
        name="ddpm",
        topic=10,
        title="Denoising diffusion probabilistic model (Ho et al. 2020) on 2-D data or digits",
        simulate=simulate,
        tags=("neural",),
    )
)
