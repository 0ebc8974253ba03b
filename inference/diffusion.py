"""Denoising diffusion probabilistic models: training and sampling (Ho et al. 2020).

The course's algorithms, in the paper's notation:

================================  ===========================================================
paper (Ho, Jain & Abbeel 2020)    code
================================  ===========================================================
β_t, t = 1..T (linear schedule)   ``Schedule.beta[t - 1]``
α_t = 1 − β_t                     ``Schedule.alpha[t - 1]``
ᾱ_t = Π_{s≤t} α_s                 ``Schedule.alpha_bar[t - 1]`` (ᾱ_0 = 1 by convention)
β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) β_t  ``Schedule.beta_tilde[t - 1]``
q(x_t | x_0), eq. (4)             :func:`q_sample`
q(x_{t−1} | x_t, x_0), eq. (6-7)  :func:`posterior_mean_variance`
μ_θ from ε_θ, eq. (11)            :func:`mean_from_eps`
L_simple, eq. (14), Algorithm 1   :func:`loss_simple`, ``DDPMTrainer.step``
Algorithm 2                       :func:`sample_ddpm`, ``DDPMTrainer.sample``
================================  ===========================================================

The forward process adds Gaussian noise in T small steps, q(x_t | x_{t−1}) =
N(√α_t x_{t−1}, β_t I), so that x_t given x_0 is Gaussian in closed form:
x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε with ε ~ N(0, I). (The course writes α_t where the
cumulative product ᾱ_t belongs, and σ_t I where the variance σ_t² I belongs; the code
implements the paper's standard result.) The reverse process p_θ(x_{t−1} | x_t) =
N(μ_θ(x_t, t), σ_t² I) is learnt by a network that predicts the noise ε from x_t.

References
----------
.. [1] Ho, J., Jain, A., & Abbeel, P. (2020). Denoising diffusion probabilistic models.
   *NeurIPS 33*, 6840-6851.
.. [2] Sohl-Dickstein, J., Weiss, E., Maheswaranathan, N., & Ganguli, S. (2015). Deep
   unsupervised learning using nonequilibrium thermodynamics. *ICML 2015*.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..models.diffusion import DATASETS, NETWORKS, EpsNet, UNet
from . import _xla
from ._checks import check_counts
from ._compiled import CompiledCache
from .training import Trainer, TrainState, init_state

__all__ = [
    "DDPMConfig",
    "DDPMTrainer",
    "Schedule",
    "ddpm_config",
    "linear_schedule",
    "loss_simple",
    "mean_from_eps",
    "posterior_mean_variance",
    "q_sample",
    "reverse_step",
    "sample_ddpm",
    "sigma2",
    "strip_steps",
]

F32 = jnp.float32


# --------------------------------------------------------------------------- schedule


class Schedule(NamedTuple):
    """The noise schedule, float32 arrays of length T; entry ``t - 1`` belongs to step t.

    Attributes
    ----------
    beta : (T,) β_t, the variance added at step t.
    alpha : (T,) α_t = 1 − β_t.
    alpha_bar : (T,) ᾱ_t = Π_{s≤t} α_s, the signal fraction left in x_t.
    alpha_bar_prev : (T,) ᾱ_{t−1}, with ᾱ_0 = 1.
    beta_tilde : (T,) β̃_t = (1 − ᾱ_{t−1})/(1 − ᾱ_t) β_t, the variance of q(x_{t−1} | x_t, x_0)
        (β̃_1 = 0: x_0 is known given x_1 and x_0).
    one_minus_alpha_bar : (T,) 1 − ᾱ_t.
    coef_x0, coef_xt : (T,) the weights of x_0 and x_t in μ̃_t (eq. 7).

    The derived arrays are computed in float64 before the cast: 1 − ᾱ_1 = β_1 = 1e-4
    taken in float32 from ᾱ_1 = 0.9999 would lose three of its seven digits.
    """

    beta: jax.Array
    alpha: jax.Array
    alpha_bar: jax.Array
    alpha_bar_prev: jax.Array
    beta_tilde: jax.Array
    one_minus_alpha_bar: jax.Array
    coef_x0: jax.Array
    coef_xt: jax.Array

    @property
    def T(self) -> int:
        return int(self.beta.shape[0])


def linear_schedule(T: int = 1000, beta_1: float = 1e-4, beta_T: float = 0.02) -> Schedule:
    """Ho et al.'s linear schedule: β_t from ``beta_1`` to ``beta_T`` in T equal steps.

    With the defaults ᾱ_T ≈ 4·10⁻⁵, so x_T is N(0, I) to within what any test can see.
    The products are taken in float64 and stored in float32.
    """
    _check_schedule(T, beta_1, beta_T)
    beta = np.linspace(beta_1, beta_T, T, dtype=np.float64)
    alpha = 1.0 - beta
    alpha_bar = np.cumprod(alpha)
    prev = np.concatenate([[1.0], alpha_bar[:-1]])
    one_minus = 1.0 - alpha_bar
    tilde = (1.0 - prev) / one_minus * beta
    coef_x0 = np.sqrt(prev) * beta / one_minus
    coef_xt = np.sqrt(alpha) * (1.0 - prev) / one_minus
    arrays = (beta, alpha, alpha_bar, prev, tilde, one_minus, coef_x0, coef_xt)
    return Schedule(*(jnp.asarray(a, F32) for a in arrays))


def _check_schedule(T: Any, beta_1: float, beta_T: float) -> None:
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 2:
        raise ValueError(f"T must be an integer >= 2, got {T!r}; Ho et al. use T = 1000")
    for name, b in (("beta_1", beta_1), ("beta_T", beta_T)):
        if not (0.0 < float(b) < 1.0):
            raise ValueError(f"{name} must lie in (0, 1), got {b!r}; the default is 1e-4 to 0.02")
    if beta_1 > beta_T:
        raise ValueError(
            f"beta_1 = {beta_1} exceeds beta_T = {beta_T}; the noise grows along the chain, "
            "swap them"
        )


def _at(a: jax.Array, t: jax.Array, like: jax.Array) -> jax.Array:
    """``a[t - 1]`` shaped to broadcast against ``like`` (batch, d): one value per row."""
    v = a[jnp.asarray(t) - 1]
    return jnp.reshape(v, jnp.shape(v) + (1,) * (jnp.ndim(like) - jnp.ndim(v)))


def q_sample(schedule: Schedule, x0: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε: a draw from q(x_t | x_0) (Ho et al., eq. 4).

    Parameters
    ----------
    schedule : Schedule
    x0 : (n, d) clean data.
    t : int scalar or (n,) steps in 1..T.
    eps : (n, d) standard normal noise.
    """
    ab = _at(schedule.alpha_bar, t, x0)
    return jnp.sqrt(ab) * x0 + jnp.sqrt(_at(schedule.one_minus_alpha_bar, t, x0)) * eps


def posterior_mean_variance(
    schedule: Schedule, x0: jax.Array, xt: jax.Array, t: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Mean μ̃_t(x_t, x_0) and variance β̃_t of q(x_{t−1} | x_t, x_0) (eq. 6-7).

    μ̃_t = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t and
    β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t: the Gaussian conditional of x_{t−1} given both
    ends, which the reverse model is trained to match.

    Returns
    -------
    mean : (n, d)
    variance : (n, 1) or scalar, broadcastable to ``mean``.
    """
    mean = _at(schedule.coef_x0, t, xt) * x0 + _at(schedule.coef_xt, t, xt) * xt
    return mean, _at(schedule.beta_tilde, t, xt)


def mean_from_eps(schedule: Schedule, xt: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
    """μ_θ(x_t, t) = (x_t − β_t / √(1 − ᾱ_t) · ε_θ(x_t, t)) / √α_t (Ho et al., eq. 11).

    This is μ̃_t(x_t, x_0) with x_0 replaced by its estimate (x_t − √(1 − ᾱ_t) ε)/√ᾱ_t.
    """
    beta = _at(schedule.beta, t, xt)
    root = jnp.sqrt(_at(schedule.one_minus_alpha_bar, t, xt))
    return (xt - beta / root * eps) / jnp.sqrt(_at(schedule.alpha, t, xt))


def sigma2(schedule: Schedule, sigma: str | jax.Array) -> jax.Array:
    """The reverse-step variances σ_t², (T,).

    ``"beta"``: σ_t² = β_t, the upper bound — optimal when x_0 ~ N(0, I).
    ``"beta_tilde"``: σ_t² = β̃_t, the lower bound — optimal when x_0 is one fixed point.
    Ho et al. (section 3.2) report similar sample quality with either. An array of T
    values is used as given (the tests pass wrong ones as negative controls).
    """
    if isinstance(sigma, str):
        if sigma == "beta":
            return schedule.beta
        if sigma == "beta_tilde":
            return schedule.beta_tilde
        raise ValueError(f"unknown sigma {sigma!r}; choose 'beta' or 'beta_tilde'")
    s2 = jnp.asarray(sigma, F32)
    if s2.shape != schedule.beta.shape:
        raise ValueError(f"sigma needs one variance per step, shape {schedule.beta.shape}")
    return s2


# --------------------------------------------------------------------------- algorithms


def loss_simple(
    eps_fn: Callable[[jax.Array, jax.Array], jax.Array],
    schedule: Schedule,
    x0: jax.Array,
    key: jax.Array,
) -> jax.Array:
    """L_simple of one minibatch: Algorithm 1 of Ho et al. (2020), lines 2-5.

    t ~ Uniform{1..T}, ε ~ N(0, I), and the loss is the mean over the batch and the
    coordinates of (ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t))².

    Parameters
    ----------
    eps_fn : callable
        ``eps_fn(x_t (n, d), t (n,)) -> (n, d)``, the batched network.
    schedule : Schedule
    x0 : (n, d) minibatch of data.
    key : jax.Array

    Notes
    -----
    The course (and the variational bound, term L_{t−1} of eq. 5) asks for
    ‖μ̃_t(x_t, x_0) − μ_θ(x_t, t)‖² / (2σ_t²). Writing x_0 through ε and μ_θ through ε_θ
    (:func:`mean_from_eps`), μ̃_t − μ_θ = β_t / (√α_t √(1 − ᾱ_t)) (ε_θ − ε), so that term
    is β_t² / (2σ_t² α_t (1 − ᾱ_t)) · ‖ε − ε_θ‖² (eq. 12): L_simple times a weight that
    depends on t only. Ho et al. drop the weight (eq. 14); it is large for small t, so
    dropping it lets the network spend its capacity on the harder, noisier steps, and
    gave them better samples. Predicting ε rather than μ is a reparameterisation; the
    minimiser is the same.
    """
    k_t, k_eps = jax.random.split(key)
    t = jax.random.randint(k_t, (x0.shape[0],), 1, schedule.T + 1)
    eps = jax.random.normal(k_eps, x0.shape, F32)
    pred = eps_fn(q_sample(schedule, x0, t, eps), t)
    return jnp.mean((eps - pred) ** 2)


def strip_steps(T: int, fractions: Sequence[float] = (1.0, 0.75, 0.5, 0.25, 0.1, 0.0)) -> tuple:
    """Steps shown in the figures' strips: ``round(f T)`` for each fraction, distinct."""
    steps = []
    for f in fractions:
        s = round(f * T)
        if s not in steps:
            steps.append(s)
    return tuple(steps)


def sample_ddpm(
    eps_fn: Callable[[jax.Array, jax.Array], jax.Array],
    schedule: Schedule,
    key: jax.Array,
    shape: tuple[int, int],
    *,
    sigma: str | jax.Array = "beta",
    strip: Sequence[int] = (),
) -> tuple[jax.Array, jax.Array]:
    """Algorithm 2 of Ho et al. (2020): ancestral sampling from x_T ~ N(0, I) down to x_0.

    For t = T, ..., 1: z ~ N(0, I) if t > 1 else z = 0, and
    x_{t−1} = μ_θ(x_t, t) + σ_t z with μ_θ from :func:`mean_from_eps`. One ``lax.scan``
    over the steps, the whole batch at once; jit it from the outside.

    Parameters
    ----------
    eps_fn : callable
        ``eps_fn(x_t (n, d), t (n,)) -> (n, d)``.
    schedule : Schedule
    key : jax.Array
    shape : (n, d)
    sigma : {"beta", "beta_tilde"} or (T,) array
        σ_t², see :func:`sigma2`.
    strip : sequence of int
        Steps t in 0..T whose x_t to keep (T is the starting noise, 0 the sample).

    Returns
    -------
    x0 : (n, d) float32, the samples.
    strip : (len(strip), n, d) float32, x_t at the requested steps, in the given order.
    """
    s2 = sigma2(schedule, sigma)
    T = schedule.T
    strip = tuple(int(s) for s in strip)
    if any(not 0 <= s <= T for s in strip):
        raise ValueError(f"strip steps must lie in 0..{T}, got {strip}")
    # slot[t] = where x_t goes in the strip, or -1: a lookup table lets the scan keep a
    # handful of states instead of all T of them (T × n × d would not fit for the digits).
    slot = np.full(T + 1, -1, np.int32)
    for i, s in enumerate(strip):
        slot[s] = i
    slot = jnp.asarray(slot)
    k_init, k_steps = jax.random.split(key)
    x_T = jax.random.normal(k_init, shape, F32)
    buffer = jnp.zeros((len(strip), *shape), F32)

    def keep(buf, x, t):
        if not strip:
            return buf
        i = slot[t]
        return jax.lax.cond(i >= 0, lambda b: b.at[i].set(x), lambda b: b, buf)

    def body(carry, inputs):
        x, buf = carry
        t, k = inputs
        x = reverse_step(eps_fn, schedule, s2, x, t, k)
        return (x, keep(buf, x, t - 1)), None

    ts = jnp.arange(T, 0, -1, dtype=jnp.int32)
    keys = jax.random.split(k_steps, T)
    (x0, buffer), _ = jax.lax.scan(body, (x_T, keep(buffer, x_T, T)), (ts, keys))
    return x0, buffer


def reverse_step(
    eps_fn: Callable[[jax.Array, jax.Array], jax.Array],
    schedule: Schedule,
    s2: jax.Array,
    x: jax.Array,
    t: jax.Array,
    key: jax.Array,
) -> jax.Array:
    """One step of Algorithm 2: x_{t−1} = μ_θ(x_t, t) + σ_t z, z ~ N(0, I) (z = 0 at t = 1).

    ``x`` (n, d) is x_t, ``t`` an int scalar in 1..T, ``s2`` the (T,) variances σ_t²
    (:func:`sigma2`); :func:`sample_ddpm` scans it from t = T down to 1.
    """
    tt = jnp.full((x.shape[0],), t)
    mean = mean_from_eps(schedule, x, tt, eps_fn(x, tt))
    z = jax.random.normal(key, x.shape, F32) * (t > 1)  # no noise on the last step
    return (mean + jnp.sqrt(s2[t - 1]) * z).astype(F32)


# --------------------------------------------------------------------------- configuration


@dataclasses.dataclass(frozen=True)
class DDPMConfig:
    """Settings of one DDPM run; :meth:`header` goes into checkpoints.

    Parameters
    ----------
    dataset : {"moons", "swissroll", "digits"}
    n_train : int, optional
        Training points (default: the data set's own, see :mod:`models.diffusion`).
    T, beta_1, beta_T :
        The linear schedule (Ho et al.: 1000, 1e-4, 0.02).
    network : {"mlp", "unet"}
        The ε-network: :class:`models.diffusion.EpsNet` (points) or
        :class:`models.diffusion.UNet` (square images).
    hidden, depth, emb_dim :
        The MLP's width and depth; ``emb_dim`` is both networks' time embedding.
    channels : int
        The U-Net's channels at full resolution.
    steps, batch_size, learning_rate :
        Adam with a cosine decay of the learning rate to a tenth over ``steps`` and the
        gradient norm clipped at 1 (Ho et al. clip at 1 too).
    sigma : {"beta", "beta_tilde"}
        σ_t² of the reverse steps (see :func:`sigma2`).
    n_eval : int
        Samples drawn for the metric (and the baseline Gaussian's draws).
    chunk : int
        Optimiser steps per compiled call of the training loop.
    ema_decay : float
        Decay of the exponential moving average of the weights used for sampling (Ho et
        al. use 0.9999 over 800k steps; 0.999 suits runs of thousands of steps; 0 = off).
    """

    dataset: str = "moons"
    n_train: int | None = None
    T: int = 1000
    beta_1: float = 1e-4
    beta_T: float = 0.02
    network: str = "mlp"
    hidden: int = 128
    depth: int = 3
    emb_dim: int = 32
    channels: int = 32
    steps: int = 4000
    batch_size: int = 256
    learning_rate: float = 2e-3
    sigma: str = "beta"
    n_eval: int = 2000
    chunk: int = 500
    ema_decay: float = 0.999

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}"
            )
        _check_schedule(self.T, self.beta_1, self.beta_T)
        if self.network not in NETWORKS:
            raise ValueError(
                f"unknown network {self.network!r}; choose one of {', '.join(NETWORKS)}"
            )
        names = ("hidden", "depth", "channels", "steps", "batch_size", "n_eval", "chunk")
        check_counts(**{name: getattr(self, name) for name in names})
        if self.emb_dim < 2 or self.emb_dim % 2:
            raise ValueError(f"emb_dim must be even and >= 2, got {self.emb_dim}")
        if not (self.learning_rate > 0 and np.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be finite and > 0, got {self.learning_rate}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}; 0 turns it off")
        if self.sigma not in ("beta", "beta_tilde"):
            raise ValueError(f"unknown sigma {self.sigma!r}; choose 'beta' or 'beta_tilde'")

    def header(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (a checkpoint records it; resuming compares).

        An MLP's header leaves out ``network`` and ``channels`` (which it does not use),
        so checkpoints written before the U-Net existed still resume.
        """
        fields = dataclasses.asdict(self)
        if self.network == "mlp":
            del fields["network"], fields["channels"]
        return {"model": "ddpm", **fields}


#: Profile -> settings beyond the defaults. "quick" trains moons in about 7 s on 2 CPU cores
#: (sliced Wasserstein 0.08 against the held-out set, the fitted Gaussian's 0.25); "full"
#: trains four times longer with a wider network (about 60 s; 0.077). On moons both sit at
#: the metric's floor: the training sample itself is 0.068 from the test sample.
#: The digits train the U-Net (:class:`models.diffusion.UNet`, 16 channels): "quick" takes
#: 1,000 steps of 64 images, about 19 s on 2 CPU cores plus 14-17 s to draw 360 samples.
#: Over training seeds 0-2 its samples score a Fréchet distance in the digit classifier's
#: features (:mod:`diagnostics.digits`) of 3.6, 3.1 and 2.9 against the held-out digits,
#: where the fitted Gaussian scores 9.5-11.8, the quick VAE's prior samples 5.3-7.5 and
#: the training images themselves 1.4; the MLP (256 wide, 4,000 steps, 9 s) scores 5.0.
#: "full" trains 32 channels for 20,000 steps.
_PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"hidden": 128, "depth": 3, "steps": 4000, "batch_size": 256},
    "full": {"hidden": 256, "depth": 3, "steps": 16000, "batch_size": 256},
}
_DIGITS: dict[str, dict[str, Any]] = {
    "quick": {
        "network": "unet",
        "channels": 16,
        "steps": 1000,
        "batch_size": 64,
        "learning_rate": 3e-3,
        "n_eval": 360,
    },
    "full": {"network": "unet", "channels": 32, "steps": 20000, "batch_size": 128, "n_eval": 360},
}


def ddpm_config(dataset: str = "moons", profile: str = "quick", **overrides: Any) -> DDPMConfig:
    """The :class:`DDPMConfig` of a profile (``"quick"`` or ``"full"``) for ``dataset``.

    Keyword ``overrides`` replace single fields (``ddpm_config("moons", steps=500)``).
    """
    if profile not in _PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(_PROFILES)}")
    table = _DIGITS if dataset == "digits" else _PROFILES
    return DDPMConfig(dataset=dataset, **{**table[profile], **overrides})


# --------------------------------------------------------------------------- trainer


# One compiled initialisation per network shape (every trainer of that shape shares it).
_INITS: CompiledCache[Callable] = CompiledCache("DDPM network initialisations", maxsize=8)


def _network(c: DDPMConfig, dim: int, key: jax.Array) -> EpsNet | UNet:
    """ε_θ for ``dim``-dimensional points as ``c`` says, initialised from ``key``."""
    if c.network == "unet":
        return UNet(dim, c.channels, c.emb_dim, key=key)
    return EpsNet(dim, c.hidden, c.depth, c.emb_dim, key=key)


def _is_array_like(x: Any) -> bool:
    """An array, or the shape and dtype of one (``eqx.filter_eval_shape``'s leaves)."""
    return eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


class DDPMTrainer(Trainer):
    """Train and sample a DDPM on one data set (Algorithms 1 and 2 of Ho et al. 2020).

    Parameters
    ----------
    config : DDPMConfig
    data : dict
        ``x_train`` (n, d) and ``x_test`` (m, d), as :func:`models.diffusion.dataset`
        returns them.

    Attributes
    ----------
    step : callable
        ``step(carry, key) -> (carry, loss)``: one Adam step on L_simple for a minibatch
        drawn with ``key`` from the training data (held on the device); ``carry`` is
        ``(params, opt_state, ema_params, count)``, where ``params`` are the network's
        arrays (the rest, its structure, stays on the trainer) and ``ema_params`` their
        moving average. Built once, so :func:`inference.training.train`
        compiles it once.
    schedule : Schedule
    strip : tuple of int
        The steps the sampling strip keeps (:func:`strip_steps`).

    Examples
    --------
    >>> from bayesmin.models.diffusion import dataset
    >>> trainer = DDPMTrainer(ddpm_config("moons", steps=200), dataset("moons"))
    >>> state, losses = trainer.fit(seed=0)  # 200 steps of Algorithm 1
    >>> x = trainer.sample(state, 100, seed=1)  # (100, 2)
    """

    def __init__(self, config: DDPMConfig, data: Mapping[str, Any]):
        self.config = config
        self.x_train = jnp.asarray(data["x_train"], F32)
        self.x_test = np.asarray(data["x_test"], np.float32)
        if self.x_train.ndim != 2 or self.x_test.ndim != 2 or len(self.x_train) < 2:
            raise ValueError(
                "data need x_train and x_test of shape (n, d) with n >= 2; "
                "use models.diffusion.dataset"
            )
        self.dim = int(self.x_train.shape[1])
        self.schedule = linear_schedule(config.T, config.beta_1, config.beta_T)
        self.strip = strip_steps(config.T)
        lr = optax.cosine_decay_schedule(config.learning_rate, config.steps, alpha=0.1)
        self.optimizer = optax.chain(
            optax.clip_by_global_norm(1.0),
            # float32 explicitly: the schedule divides an int32 count, which x64 mode
            # would promote to float64 and drag the updates with it.
            optax.adam(lambda count: jnp.asarray(lr(count), F32)),
        )
        c, d = config, self.dim
        # The network's structure from its shapes alone, and its weights from one compiled
        # program: built eagerly, every layer's draw of initial weights compiled a program
        # of its own (38 of them, 8 s for the digits' U-Net on 2 cores).
        shapes = eqx.filter_eval_shape(self._network, jax.random.PRNGKey(0))
        _, self._static = eqx.partition(shapes, _is_array_like)
        self._initial_params = _INITS.get(
            (c.network, d, c.channels, c.emb_dim, c.hidden, c.depth),
            lambda: _xla.jit(lambda key: eqx.partition(_network(c, d, key), eqx.is_array)[0]),
        )
        self.step = self._build_step()
        #: Train and sample one compiled call per step (see :func:`inference.training.train`):
        #: a U-Net's convolutions run 5-17× slower inside XLA:CPU's loops.
        self.per_step = config.network == "unet" and jax.default_backend() == "cpu"
        self._sample = _xla.jit(self._sample_fn, static_argnums=(2,))
        self._reverse = _xla.jit(self._reverse_fn)
        self._last_draw: tuple | None = None

    # -- pieces ------------------------------------------------------------------------

    def _network(self, key: jax.Array) -> EpsNet | UNet:
        return _network(self.config, self.dim, key)

    def _eps_fn(self, params) -> Callable[[jax.Array, jax.Array], jax.Array]:
        return jax.vmap(eqx.combine(params, self._static))

    def _build_step(self):
        x, schedule, optimizer = self.x_train, self.schedule, self.optimizer
        batch = self.config.batch_size
        eps_fn = self._eps_fn

        decay = jnp.asarray(self.config.ema_decay, F32)

        def step(carry, key):
            params, opt_state, ema, count = carry
            k_batch, k_loss = jax.random.split(key)
            x0 = x[jax.random.randint(k_batch, (batch,), 0, x.shape[0])]
            loss, grads = jax.value_and_grad(
                lambda p: loss_simple(eps_fn(p), schedule, x0, k_loss)
            )(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            # Exponential moving average of the weights (Ho et al. 2020, appendix B), with
            # the usual warm-up (1 + n)/(10 + n) so early averages are not stuck at the
            # initialisation. The last iterate of a short run still jitters with the
            # minibatch noise; the average does not.
            count = count + 1.0
            d = jnp.minimum(decay, (1.0 + count) / (10.0 + count))
            ema = jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, ema, params)
            return (params, opt_state, ema, count), loss

        return step

    def _sample_fn(self, params, key, n):
        return sample_ddpm(
            self._eps_fn(params),
            self.schedule,
            key,
            (n, self.dim),
            sigma=self.config.sigma,
            strip=self.strip,
        )

    def _reverse_fn(self, params, x, t, key):
        s2 = sigma2(self.schedule, self.config.sigma)
        return reverse_step(self._eps_fn(params), self.schedule, s2, x, t, key)

    def _sample_per_step(self, params, key, n):
        """:func:`sample_ddpm` with the same keys, one compiled call per reverse step."""
        T = self.schedule.T
        k_init, k_steps = jax.random.split(key)
        x = jax.random.normal(k_init, (n, self.dim), F32)
        kept = {T: x}
        for t, k in zip(range(T, 0, -1), jax.random.split(k_steps, T), strict=True):
            x = self._reverse(params, x, jnp.int32(t), k)
            if t - 1 in self.strip:
                kept[t - 1] = x
        return x, jnp.stack([kept[t] for t in self.strip])

    # -- public ------------------------------------------------------------------------

    def train_key(self, seed: int) -> jax.Array:
        """The key of the minibatches and noise of a run from ``seed`` (the network's
        initialisation uses ``PRNGKey(seed)`` itself)."""
        return jax.random.fold_in(jax.random.PRNGKey(seed), 1)

    def init(self, seed: int = 0) -> TrainState:
        """A fresh state: the network initialised from ``seed``, Adam's moments at 0."""
        params = self._initial_params(jax.random.PRNGKey(seed))
        count = jnp.zeros((), F32)
        return init_state((params, self.optimizer.init(params), params, count))

    def params(self, state: TrainState):
        """The network's arrays in ``state``: the moving average of the weights that sampling
        uses (the last iterate itself when ``ema_decay`` is 0)."""
        return state.carry[2]

    def network(self, state: TrainState) -> EpsNet:
        """The trained ε_θ as an :class:`~models.diffusion.EpsNet` (one point at a time)."""
        return eqx.combine(self.params(state), self._static)

    def sample(
        self, state: TrainState, n: int, seed: int = 0, return_strip: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """``n`` samples by Algorithm 2, (n, d); with ``return_strip`` also the strip.

        The strip is (len(self.strip), n, d): x_t at t in ``self.strip`` (T first, the
        samples last).

        The last draw is kept: asking again with the same ``state`` object, ``n`` and
        ``seed`` (the metrics, then the figures) returns it instead of running the T
        steps again (17 s for 360 digits from the quick U-Net on 2 CPU cores).
        """
        n, seed = int(n), int(seed)
        last = self._last_draw
        if last is not None and last[0] is state and last[1:3] == (n, seed):
            x0, strip = last[3]
        else:
            sample = self._sample_per_step if self.per_step else self._sample
            x0, strip = sample(self.params(state), jax.random.PRNGKey(seed), n)
            x0, strip = np.asarray(x0), np.asarray(strip)
            # The state itself, not its id: holding it keeps its id from being reused.
            self._last_draw = (state, n, seed, (x0, strip))
        return (x0.copy(), strip.copy()) if return_strip else x0.copy()

    def forward_strip(self, x0, ts: Sequence[int] | None = None, seed: int = 0) -> np.ndarray:
        """Draws of q(x_t | x_0) for each t in ``ts`` (default: the strip steps, rising).

        Returns (len(ts), n, d); t = 0 gives ``x0`` itself. Each t gets its own noise
        (each panel is an exact draw of its marginal).
        """
        x0 = jnp.asarray(x0, F32)
        ts = tuple(sorted(self.strip)) if ts is None else tuple(int(t) for t in ts)
        keys = jax.random.split(jax.random.PRNGKey(seed), len(ts))
        out = []
        for t, k in zip(ts, keys, strict=True):
            if t == 0:
                out.append(x0)
            else:
                out.append(q_sample(self.schedule, x0, t, jax.random.normal(k, x0.shape, F32)))
        return np.asarray(jnp.stack(out))

    def baseline(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` draws from the Gaussian fitted to the training data (the baseline)."""
        x = np.asarray(self.x_train, np.float64)
        rng = np.random.default_rng(seed)
        cov = np.atleast_2d(np.cov(x, rowvar=False))
        return rng.multivariate_normal(x.mean(axis=0), cov, size=n).astype(np.float32)
