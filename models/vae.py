"""Topic 9: the variational autoencoder on binarised 8×8 digits.

The generative model (Kingma & Welling 2014, their "M1" with a Bernoulli decoder)

    p(z) = N(z | 0, I),   z ∈ R^L
    p(x | z) = Π_{j=1}^{64} Bernoulli(x_j | σ(f_θ(z)_j))       (the decoder f_θ)

and the amortised variational posterior (the encoder g_φ)

    q(z | x) = N(z | μ_φ(x), diag σ_φ(x)²),   (μ_φ(x), log σ_φ(x)) = g_φ(x).

Training maximises the ELBO, E_q log p(x | z) − KL(q(z | x) ‖ p(z)) ≤ log p(x), by SVI
with the reparameterisation z = μ + σ ⊙ ε, ε ~ N(0, I) (:mod:`inference.svi`). The
course writes the same objective as "reconstruction error + closeness of Q(z|x) to the
prior".

Notation → code: θ is the decoder's weights (:class:`Decoder`, NumPyro parameter
``decoder$params``), φ the encoder's (:class:`Encoder`, ``encoder$params``); L is
``latent_dim``; x is a row of ``x_train``; the latent sample site is ``z``, the
observed one ``x``.

Two architectures of g_φ and f_θ (``networks(..., architecture=...)``): ``"mlp"``, one
hidden layer each, as in Kingma & Welling's experiments; and ``"conv"``
(:class:`ConvEncoder`, :class:`ConvDecoder`), two strided 3×3 convolutions down to a
2×2 map and transposed convolutions back up — the encoder/decoder pattern of
convolutional generative models (Radford, Metz & Chintala 2016) at the scale of 8×8
images. Both map one flat image (64,) and one latent point (L,), so nothing below
depends on which.

Everything here is written twice on purpose: once declaratively (:func:`model` and
:func:`guide`, with the networks registered through
:func:`numpyro.contrib.module.eqx_module`) for training, and once as plain JAX
functions of the same networks (:func:`log_px_z`, :func:`log_qz_x`, :func:`log_pz`)
for the metrics, so that an importance-weighted bound with k = 1,000 samples per image
does not go through NumPyro's effect handlers.

All arrays are float32, explicitly: in a process that runs JAX in 64-bit, one float64
array (a default ``jnp.zeros``, a default ``random.normal``) silently promotes a whole
network to float64 — several times slower on a CPU, far slower on a GPU.

References
----------
Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*.
Burda, Y., Grosse, R. & Salakhutdinov, R. (2016). Importance weighted autoencoders.
*ICLR*.
Radford, A., Metz, L. & Chintala, S. (2016). Unsupervised representation learning with
deep convolutional generative adversarial networks. *ICLR*.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.contrib.module import eqx_module

from .base import ModelSpec, register

__all__ = [
    "ARCHITECTURES",
    "N_PIXELS",
    "ConvDecoder",
    "ConvEncoder",
    "Decoder",
    "Encoder",
    "Normal32",
    "digits",
    "guide",
    "independent_pixels",
    "log_px_z",
    "log_pz",
    "log_qz_x",
    "model",
    "networks",
    "vae_numpyro",
]

N_PIXELS = 64
ARCHITECTURES = ("mlp", "conv")
_N_DIGITS = 1797  # images in scikit-learn's copy of the UCI digits
_F32 = jnp.float32
_LOG_2PI = float(np.log(2.0 * np.pi))


# ------------------------------------------------------------------------------ data


def digits(seed: int = 0, test_size: float = 0.2) -> dict[str, np.ndarray]:
    """scikit-learn's 1,797 handwritten digits, binarised, split train/test.

    Pixels (0-16 ink levels) become 1 where they exceed 7. Binary pixels make the
    Bernoulli likelihood a proper probability of the data, so every log-likelihood
    (the ELBO, the IWAE bound, the independent-pixel baseline) is in nats per image,
    ≤ 0, and directly comparable; a Bernoulli "likelihood" of grey levels would not be
    a distribution over the data at all.

    The split is the diffusion model's (:func:`bayesmin.models.diffusion.dataset`
    ``("digits", seed=seed)``): one seeded permutation of the images, the first ones for
    training, the rest held out. With ``seed=0`` and the default ``test_size`` the
    held-out images are exactly those on which the digit classifier of
    :mod:`bayesmin.diagnostics.digits` is judged and against which its Fréchet distance
    measures generated images; a VAE trained here has never seen them. (A stratified
    split of its own, as this function once drew, put 287 of those 360 images in the
    VAE's training set: its samples were then compared with images it had learned.)

    Parameters
    ----------
    seed : int
        Seed of the permutation. Only ``seed=0`` shares its held-out images with the
        digit classifier's.
    test_size : float
        Fraction held out for testing, in (0, 1): the last ``ceil(test_size · 1797)``
        images of the permutation (scikit-learn's rounding, so 0.2 gives 360). Any
        ``test_size >= 0.2`` keeps the classifier's 360 held-out images out of training
        (the training images are a prefix of the permutation); a smaller one does not.

    Returns
    -------
    dict
        ``x_train`` (n_train, 64) and ``x_test`` (n_test, 64) float32 in {0, 1};
        ``y_train``, ``y_test`` int32 digit labels (used for plots only). With the
        defaults, 1,437 training and 360 test images.
    """
    from .diffusion import dataset

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}; pass e.g. 0.2")
    n_test = math.ceil(test_size * _N_DIGITS)
    n_train = _N_DIGITS - n_test
    if n_test < 1 or n_train < 2:
        raise ValueError(f"test_size {test_size} leaves no test or training images; pass e.g. 0.2")
    d = dataset("digits", n_train, seed, n_test=n_test)
    # The diffusion scale is raw / 8 − 1 (exact in float32 for the integer ink levels
    # 0-16), so raw > 7, i.e. raw >= 8, is x >= 0.
    return {
        "x_train": (d["x_train"] >= 0.0).astype(np.float32),
        "x_test": (d["x_test"] >= 0.0).astype(np.float32),
        "y_train": np.asarray(d["y_train"], np.int32),
        "y_test": np.asarray(d["y_test"], np.int32),
    }


def independent_pixels(x_train, x_test) -> float:
    """Test log-likelihood per image (nats) of the independent-pixel Bernoulli model.

    The baseline every latent-variable model must beat: p(x) = Π_j p_j^{x_j} (1 −
    p_j)^{1 − x_j}, each p_j estimated on the training set with add-one (Laplace)
    smoothing, p_j = (Σ_n x_nj + 1) / (N + 2), so that a pixel never inked in training
    does not give a test image probability 0.
    """
    x_train = np.asarray(x_train, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    p = (x_train.sum(0) + 1.0) / (x_train.shape[0] + 2.0)
    ll = x_test @ np.log(p) + (1.0 - x_test) @ np.log1p(-p)
    return float(ll.mean())


# -------------------------------------------------------------------------- networks


class Encoder(eqx.Module):
    """g_φ: an image (64,) → (μ, log σ) of q(z | x), each (latent_dim,).

    One MLP with 2·latent_dim outputs: the first half is μ, the second log σ (log σ,
    not σ, so that the output is unconstrained).
    """

    mlp: eqx.nn.MLP
    latent_dim: int = eqx.field(static=True)

    def __init__(self, latent_dim: int, hidden: int, depth: int, *, key: jax.Array):
        self.latent_dim = latent_dim
        self.mlp = eqx.nn.MLP(
            N_PIXELS, 2 * latent_dim, hidden, depth, activation=jax.nn.relu, dtype=_F32, key=key
        )

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = self.mlp(x)
        return out[: self.latent_dim], out[self.latent_dim :]


class Decoder(eqx.Module):
    """f_θ: a latent point (latent_dim,) → 64 Bernoulli logits of p(x | z)."""

    mlp: eqx.nn.MLP
    latent_dim: int = eqx.field(static=True)

    def __init__(self, latent_dim: int, hidden: int, depth: int, *, key: jax.Array):
        self.latent_dim = latent_dim
        self.mlp = eqx.nn.MLP(
            latent_dim, N_PIXELS, hidden, depth, activation=jax.nn.relu, dtype=_F32, key=key
        )

    def __call__(self, z: jax.Array) -> jax.Array:
        return self.mlp(z)


# Channels of the two convolutions (8×8 → 4×4 → 2×2); the decoder mirrors them.
_CONV_CHANNELS = (32, 64)
_SIDE = 8  # the images are 8×8


class ConvEncoder(eqx.Module):
    """g_φ as a small convolutional network: an image (64,) → (μ, log σ), each (L,).

    The image is reshaped to one 8×8 channel; two 3×3 convolutions with stride 2 and
    ReLU (1 → 32 channels, 8×8 → 4×4; 32 → 64, 4×4 → 2×2) and one linear layer from the
    256 features to 2·L outputs, split as in :class:`Encoder`. Convolutions share their
    weights across positions, so a stroke is recognised wherever it lies — the prior
    an MLP has to learn from 1,437 images.
    """

    convs: tuple[eqx.nn.Conv2d, ...]
    head: eqx.nn.Linear
    latent_dim: int = eqx.field(static=True)

    def __init__(self, latent_dim: int, *, key: jax.Array):
        self.latent_dim = latent_dim
        k1, k2, k3 = jax.random.split(key, 3)
        c1, c2 = _CONV_CHANNELS
        self.convs = (
            eqx.nn.Conv2d(1, c1, 3, stride=2, padding=1, dtype=_F32, key=k1),
            eqx.nn.Conv2d(c1, c2, 3, stride=2, padding=1, dtype=_F32, key=k2),
        )
        self.head = eqx.nn.Linear(c2 * (_SIDE // 4) ** 2, 2 * latent_dim, dtype=_F32, key=k3)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = x.reshape(1, _SIDE, _SIDE)
        for conv in self.convs:
            h = jax.nn.relu(conv(h))
        out = self.head(h.reshape(-1))
        return out[: self.latent_dim], out[self.latent_dim :]


class ConvDecoder(eqx.Module):
    """f_θ as the mirror of :class:`ConvEncoder`: a latent point (L,) → 64 logits.

    A linear layer and ReLU to a 64-channel 2×2 feature map, then two 3×3 transposed
    convolutions with stride 2 (64 → 32 channels, 2×2 → 4×4, ReLU; 32 → 1, 4×4 → 8×8,
    no activation: the outputs are logits), flattened to (64,).
    """

    head: eqx.nn.Linear
    deconvs: tuple[eqx.nn.ConvTranspose2d, ...]
    latent_dim: int = eqx.field(static=True)

    def __init__(self, latent_dim: int, *, key: jax.Array):
        self.latent_dim = latent_dim
        k1, k2, k3 = jax.random.split(key, 3)
        c1, c2 = _CONV_CHANNELS
        self.head = eqx.nn.Linear(latent_dim, c2 * (_SIDE // 4) ** 2, dtype=_F32, key=k1)
        # output_padding=1: a stride-2 transposed convolution of a 3×3 kernel with
        # padding 1 maps n to 2n − 1; one more row and column gives exactly 2n.
        self.deconvs = (
            eqx.nn.ConvTranspose2d(
                c2, c1, 3, stride=2, padding=1, output_padding=1, dtype=_F32, key=k2
            ),
            eqx.nn.ConvTranspose2d(
                c1, 1, 3, stride=2, padding=1, output_padding=1, dtype=_F32, key=k3
            ),
        )

    def __call__(self, z: jax.Array) -> jax.Array:
        h = jax.nn.relu(self.head(z)).reshape(_CONV_CHANNELS[1], _SIDE // 4, _SIDE // 4)
        h = jax.nn.relu(self.deconvs[0](h))
        return self.deconvs[1](h).reshape(N_PIXELS)


def networks(
    latent_dim: int = 2,
    hidden: int = 256,
    depth: int = 1,
    *,
    key: jax.Array,
    architecture: str = "mlp",
) -> tuple[Encoder | ConvEncoder, Decoder | ConvDecoder]:
    """A freshly initialised (encoder, decoder) pair, float32.

    ``architecture`` is ``"mlp"`` (:class:`Encoder`, :class:`Decoder`: ``depth`` hidden
    layers of width ``hidden`` each) or ``"conv"`` (:class:`ConvEncoder`,
    :class:`ConvDecoder`: fixed 32/64 channels; ``hidden`` and ``depth`` are not used).
    Either way the encoder maps one image (64,) to (μ, log σ) and the decoder one latent
    point (L,) to 64 logits, so every density and bound below takes either pair.
    """
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}; pass e.g. 2")
    if hidden < 1 or depth < 1:
        raise ValueError(f"need hidden >= 1 and depth >= 1, got {hidden} and {depth}")
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
        )
    k_enc, k_dec = jax.random.split(key)
    if architecture == "conv":
        return ConvEncoder(latent_dim, key=k_enc), ConvDecoder(latent_dim, key=k_dec)
    return Encoder(latent_dim, hidden, depth, key=k_enc), Decoder(
        latent_dim, hidden, depth, key=k_dec
    )


# --------------------------------------------------------------- declarative program


class Normal32(dist.Normal):
    """NumPyro's ``Normal`` whose draws keep the dtype of its parameters.

    ``dist.Normal.sample`` draws ε with ``random.normal``'s default dtype — float64
    once x64 is on — and ``μ + σε`` then promotes the whole decoder to float64. Same
    reparameterised draw, ε in the dtype of ``loc``.
    """

    def sample(self, key, sample_shape=()):
        eps = jax.random.normal(
            key, sample_shape + self.batch_shape + self.event_shape, dtype=jnp.result_type(self.loc)
        )
        return self.loc + eps * self.scale


def model(x: jax.Array, decoder: Decoder | ConvDecoder) -> None:
    """p(x | z) p(z) over a batch: sites ``z`` (batch, L) and observed ``x`` (batch, 64).

    ``decoder`` gives the architecture and the initial weights; SVI substitutes the
    current weights through the NumPyro parameter ``decoder$params``.
    """
    net = eqx_module("decoder", decoder)
    latent_dim = net.latent_dim
    with numpyro.plate("batch", x.shape[0]):
        z = numpyro.sample(
            "z", Normal32(jnp.zeros(latent_dim, _F32), jnp.ones(latent_dim, _F32)).to_event(1)
        )
        logits = jax.vmap(net)(z)
        numpyro.sample("x", dist.Bernoulli(logits=logits).to_event(1), obs=x)


def guide(x: jax.Array, encoder: Encoder | ConvEncoder) -> None:
    """q(z | x) = N(μ_φ(x), diag σ_φ(x)²) over a batch; site ``z`` (batch, L).

    ``Normal`` has ``rsample``, so NumPyro's ``Trace_ELBO`` differentiates through
    z = μ + σ ε: the reparameterisation trick.
    """
    net = eqx_module("encoder", encoder)
    with numpyro.plate("batch", x.shape[0]):
        mu, log_sigma = jax.vmap(net)(x)
        numpyro.sample("z", Normal32(mu, jnp.exp(log_sigma)).to_event(1))


_DEFAULT_NETS: dict[tuple[int, int, int], tuple[Encoder, Decoder]] = {}


def _default_networks(latent_dim: int = 2, hidden: int = 256, depth: int = 1):
    key = (latent_dim, hidden, depth)
    if key not in _DEFAULT_NETS:
        _DEFAULT_NETS[key] = networks(latent_dim, hidden, depth, key=jax.random.PRNGKey(0))
    return _DEFAULT_NETS[key]


def vae_numpyro(x_train, x_test=None, y_train=None, y_test=None, *, latent_dim: int = 2):
    """The registered program: :func:`model` on ``x_train`` with default networks.

    Takes the :func:`digits` dict as keyword arguments (``x_test`` and the labels are
    accepted and ignored), as every registry model does. The VAE is fitted by SVI with
    its guide — :class:`inference.svi.VAETrainer` — not by a sampler: NUTS here would
    sample the 2 × 1,437 latent coordinates with the decoder frozen at its initial
    weights.
    """
    _, decoder = _default_networks(latent_dim)
    model(jnp.asarray(x_train, _F32), decoder)


def _simulate(seed: int = 0, **sizes) -> dict:
    return digits(seed, **sizes)


register(
    ModelSpec(
        name="vae",
        topic=9,
        title="Variational autoencoder: Bernoulli decoder, Gaussian encoder, binarised digits",
        simulate=_simulate,
        numpyro=vae_numpyro,
        tags=("neural", "svi"),
    )
)


# ------------------------------------------------------------- plain-JAX densities


def log_px_z(decoder: Decoder | ConvDecoder, x: jax.Array, z: jax.Array) -> jax.Array:
    """log p(x | z) = Σ_j [x_j log σ(ℓ_j) + (1 − x_j) log σ(−ℓ_j)], ℓ = f_θ(z).

    One image x (64,) and one latent point z (L,); vmap for batches. Same density as
    the ``x`` site of :func:`model`.
    """
    logits = decoder(z)
    return jnp.sum(x * jax.nn.log_sigmoid(logits) + (1.0 - x) * jax.nn.log_sigmoid(-logits))


def log_qz_x(mu: jax.Array, log_sigma: jax.Array, z: jax.Array) -> jax.Array:
    """log N(z | μ, diag σ²) for one latent point (L,), given the encoder's output."""
    eps = (z - mu) * jnp.exp(-log_sigma)
    return jnp.sum(-0.5 * eps**2 - log_sigma - 0.5 * _LOG_2PI)


def log_pz(z: jax.Array) -> jax.Array:
    """log N(z | 0, I) for one latent point (L,)."""
    return jnp.sum(-0.5 * z**2 - 0.5 * _LOG_2PI)
