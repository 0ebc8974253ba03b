"""Training the variational autoencoder (topic 9) by SVI, and measuring it.

:class:`VAETrainer` wraps the declarative model and guide of :mod:`models.vae` in
NumPyro's ``SVI`` with ``Trace_ELBO`` and Adam, and exposes one optimiser step as the
pure function ``step(carry, key) -> (carry, loss)`` that :func:`inference.training.train`
runs in jitted chunks (resumable, exact). The metrics use plain-JAX densities of the
same networks:

* the ELBO, E_q[log p(x, z) − log q(z | x)] ≤ log p(x) (Kingma & Welling 2014),
  estimated with ``elbo_k`` independent draws per test image;
* the importance-weighted bound of Burda, Grosse & Salakhutdinov (2016),
  IWAE_k = E[log (1/k) Σ_i w_i], w_i = p(x, z_i) / q(z_i | x), z_i ~ q(z | x) i.i.d.,
  with ELBO = IWAE_1 ≤ IWAE_k ≤ IWAE_{k+1} ≤ log p(x); k = ``iwae_k`` (≥ 1,000 in the
  profiles) — the tightest estimate of the test log-likelihood here;
* the independent-pixel Bernoulli model (:func:`models.vae.independent_pixels`), the
  baseline a latent-variable model must beat.

All three are in nats per test image; higher is better.

Notation → code: the paper's log w is ``log_weights``; μ_φ(x), log σ_φ(x) are the
encoder's outputs; θ, φ are ``params["decoder$params"]``, ``params["encoder$params"]``.

References
----------
Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*.
Burda, Y., Grosse, R. & Salakhutdinov, R. (2016). Importance weighted autoencoders.
*ICLR*.
Williams, R. J. (1992). Simple statistical gradient-following algorithms for
connectionist reinforcement learning. *Machine Learning* 8, 229–256 (the score-function
estimator).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from numpyro.infer import SVI, Trace_ELBO

from ..models import vae
from ._checks import check_counts
from .training import Trainer, TrainState, init_state

__all__ = ["VAE_PROFILES", "VAEConfig", "VAETrainer"]

_F32 = jnp.float32
# Test images evaluated together in one vmapped block of the metrics: k latent draws ×
# this many images × the hidden width stay a few tens of MB whatever the test set size.
_EVAL_BLOCK = 8


@dataclass(frozen=True)
class VAEConfig:
    """Settings of one VAE run.

    Parameters
    ----------
    latent_dim : int
        L, the dimension of z (2: the latent map is the latent space itself).
    hidden, depth : int
        Width and number of hidden layers of the encoder and decoder MLPs (unused by
        the convolutional networks).
    steps : int
        Optimiser steps (minibatches).
    batch_size : int
        Images per minibatch, drawn without replacement from the training set.
    learning_rate : float
        Adam's step size.
    iwae_k : int
        Importance samples per test image for the IWAE bound.
    elbo_k : int
        Independent draws per image for the ELBO estimate (≥ 2: its Monte Carlo
        standard error is estimated from them).
    grad_images, grad_samples : int
        Test images and single-sample gradient estimates per image for
        :meth:`VAETrainer.gradient_variance`.
    chunk : int
        Steps per compiled call of the training loop (the callback — progress,
        checkpoints — runs between chunks). It fixes the keys of the chunks, so it is
        part of the run's identity.
    architecture : {"mlp", "conv"}
        The encoder and decoder (:func:`models.vae.networks`): multilayer perceptrons,
        or strided convolutions and their transposes.
    """

    latent_dim: int = 2
    hidden: int = 256
    depth: int = 1
    steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 2e-3
    iwae_k: int = 1000
    elbo_k: int = 100
    grad_images: int = 8
    grad_samples: int = 1000
    chunk: int = 100
    architecture: str = "mlp"

    def __post_init__(self):
        names = ("latent_dim", "hidden", "depth", "steps", "batch_size", "iwae_k")
        check_counts(**{name: getattr(self, name) for name in (*names, "grad_images", "chunk")})
        for name in ("elbo_k", "grad_samples"):
            if getattr(self, name) < 2:
                raise ValueError(
                    f"{name} must be >= 2 to estimate a variance, got {getattr(self, name)!r}"
                )
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(
                f"learning_rate must be finite and > 0, got {self.learning_rate!r}; try 1e-3"
            )
        if self.architecture not in vae.ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {self.architecture!r}; choose one of "
                f"{', '.join(vae.ARCHITECTURES)}"
            )

    def header(self) -> dict[str, Any]:
        """The settings that fix the training trajectory, as a JSON-able dict.

        A checkpoint written under another header must not be resumed. ``steps`` is left
        out on purpose — the loop derives every chunk's key from the step count, so a
        longer run resumed from a shorter one's checkpoint takes exactly the steps of a
        run that was never stopped — and so are the evaluation-only settings
        (``iwae_k``, ``elbo_k``, ``grad_*``), which do not touch the parameters.
        ``architecture`` is there only when it is not ``"mlp"``.
        """
        keep = ("latent_dim", "hidden", "depth", "batch_size", "learning_rate", "chunk")
        fields = dataclasses.asdict(self)
        header = {"model": "vae", **{k: fields[k] for k in keep}}
        # The MLP came first, and checkpoints written before there was a choice have no
        # such key: leaving the default out keeps them resumable, while a conv run's
        # header differs from every MLP run's, so neither resumes the other.
        if self.architecture != "mlp":
            header["architecture"] = self.architecture
        return header


VAE_PROFILES: dict[str, VAEConfig] = {
    # Train and evaluate in well under a minute on 2 CPU cores (compile included).
    "quick": VAEConfig(steps=3000, hidden=256, batch_size=128, learning_rate=2e-3),
    # About 35 s on 2 CPU cores: seven times the steps at a smaller step size, and
    # tighter estimates (k = 5,000, more ELBO and gradient draws). Not a wider network:
    # with 1,437 training images a 2 × 512 MLP overfits (training ELBO −13.8 but test
    # ELBO −28.2 nats after 20,000 steps, worse than the independent-pixel baseline;
    # measured on the earlier, stratified split of models.vae.digits).
    "full": VAEConfig(
        steps=20000,
        hidden=256,
        batch_size=128,
        learning_rate=1e-3,
        iwae_k=5000,
        elbo_k=1000,
        grad_samples=5000,
    ),
    # The quick profile with the convolutional networks (``bayesmin fit vae --profile
    # conv``). Measured against the MLP (seed 0): test ELBO −20.5 vs −19.6, IWAE −19.0 vs
    # −18.7 nats, but prior samples nearer real digits (Fréchet distance of binary draws
    # 5.5 vs 6.2; diagnostics.digits.vae_reference uses it), at about 110 s of training
    # on 2 CPU cores instead of 4 s.
    "conv": VAEConfig(
        steps=3000, hidden=256, batch_size=128, learning_rate=2e-3, architecture="conv"
    ),
}


class VAETrainer(Trainer):
    """SVI for the VAE of :mod:`models.vae`: a pure step for the loop, and the metrics.

    Parameters
    ----------
    config : VAEConfig
    data : mapping
        ``x_train`` (n, 64) and ``x_test`` (m, 64) binary images — the dict of
        :func:`models.vae.digits`. Held as float32 device arrays.

    Attributes
    ----------
    step : callable
        ``step(carry, key) -> (carry, loss)``: one SVI step on a minibatch of
        ``batch_size`` training images drawn with ``key``; ``carry`` is NumPyro's
        ``SVIState``; ``loss`` is the negative ELBO per image of that minibatch (nats).
        Built once, so :func:`inference.training.train` compiles it once.

    Examples
    --------
    >>> from bayesmin.models.vae import digits
    >>> from bayesmin.inference.svi import VAE_PROFILES, VAETrainer
    >>> trainer = VAETrainer(VAE_PROFILES["quick"], digits(0))
    >>> state, losses = trainer.fit(seed=0)            # doctest: +SKIP
    >>> trainer.metrics(state)["test_iwae"]            # doctest: +SKIP
    """

    def __init__(self, config: VAEConfig, data: Mapping[str, Any]):
        self.config = config
        for name in ("x_train", "x_test"):
            if name not in data:
                raise ValueError(f"data has no {name!r}; pass the dict of models.vae.digits()")
        self.x_train = jnp.asarray(data["x_train"], _F32)
        self.x_test = jnp.asarray(data["x_test"], _F32)
        for name, x in (("x_train", self.x_train), ("x_test", self.x_test)):
            if x.ndim != 2 or x.shape[1] != vae.N_PIXELS:
                raise ValueError(f"{name} must be (images, 64), got shape {x.shape}")
        n_train = int(self.x_train.shape[0])
        if config.batch_size > n_train:
            raise ValueError(
                f"batch_size {config.batch_size} exceeds the {n_train} training images; "
                "lower batch_size"
            )
        if config.grad_images > self.x_test.shape[0]:
            raise ValueError(
                f"grad_images {config.grad_images} exceeds the {self.x_test.shape[0]} test "
                "images; lower grad_images"
            )
        # The architecture (static part) of the networks; init(seed) draws the weights.
        self._encoder0, self._decoder0 = vae.networks(
            config.latent_dim,
            config.hidden,
            config.depth,
            key=jax.random.PRNGKey(0),
            architecture=config.architecture,
        )
        self.svi = SVI(
            partial(vae.model, decoder=self._decoder0),
            partial(vae.guide, encoder=self._encoder0),
            optax.adam(config.learning_rate),
            Trace_ELBO(),
        )
        # SVI.init sets the constraint transforms that update() uses; run it once here
        # so a state loaded from a checkpoint can be stepped without calling init.
        self.svi.init(jax.random.PRNGKey(0), self.x_train[: config.batch_size])
        self.step = self._build_step()
        #: Train one compiled call per step (see :func:`inference.training.train`): the
        #: convolutional networks run 5-17× slower inside XLA:CPU's loops.
        self.per_step = config.architecture == "conv" and jax.default_backend() == "cpu"
        self._log_weights = jax.jit(self._log_weights_impl, static_argnames="k")
        self._grads = jax.jit(self._grads_impl, static_argnames="s")

    # ------------------------------------------------------------------ training

    def _build_step(self) -> Callable:
        svi, x, batch = self.svi, self.x_train, self.config.batch_size
        n = x.shape[0]

        def step(carry, key):
            k_batch, k_elbo = jax.random.split(key)
            idx = jax.random.choice(k_batch, n, (batch,), replace=False)
            # Every draw of the step comes from `key`: the SVI state's own key is
            # replaced, so the loop's keys alone fix the run.
            carry, loss = svi.update(carry._replace(rng_key=k_elbo), x[idx])
            return carry, loss / batch

        return step

    def _keys(self, seed: int) -> tuple[jax.Array, jax.Array]:
        # One seed, split by purpose: the initial weights, the training loop.
        return tuple(jax.random.split(jax.random.PRNGKey(seed)))

    def init(self, seed: int) -> TrainState:
        """A fresh state: networks initialised from ``seed``, Adam at step 0."""
        k_init, _ = self._keys(seed)
        k_net, k_svi = jax.random.split(k_init)
        cfg = self.config
        enc, dec = vae.networks(
            cfg.latent_dim, cfg.hidden, cfg.depth, key=k_net, architecture=cfg.architecture
        )
        params = {
            "encoder$params": eqx.filter(enc, eqx.is_inexact_array),
            "decoder$params": eqx.filter(dec, eqx.is_inexact_array),
        }
        carry = self.svi.init(k_svi, self.x_train[: self.config.batch_size], init_params=params)
        return init_state(carry)

    def train_key(self, seed: int) -> jax.Array:
        """The key to pass to :func:`inference.training.train` for run ``seed``."""
        return self._keys(seed)[1]

    def params(self, state: TrainState) -> dict[str, Any]:
        """The trained parameters: ``{"encoder$params": ..., "decoder$params": ...}``.

        Each value is the network with its non-array fields set to ``None``
        (``eqx.filter``); :meth:`networks` puts the architecture back.
        """
        return self.svi.get_params(state.carry)

    def networks(self, state: TrainState) -> tuple[vae.Encoder, vae.Decoder]:
        """The trained (encoder, decoder) as callable Equinox modules."""
        p = self.params(state)
        return (
            eqx.combine(p["encoder$params"], self._encoder0),
            eqx.combine(p["decoder$params"], self._decoder0),
        )

    # ------------------------------------------------------------------ metrics

    def _log_weights_impl(self, params, x, key, k):
        enc = eqx.combine(params["encoder$params"], self._encoder0)
        dec = eqx.combine(params["decoder$params"], self._decoder0)
        latent = self.config.latent_dim

        def one(x, key):
            mu, log_sigma = enc(x)
            z = mu + jnp.exp(log_sigma) * jax.random.normal(key, (k, latent), _F32)

            def log_w(z):
                return vae.log_px_z(dec, x, z) + vae.log_pz(z) - vae.log_qz_x(mu, log_sigma, z)

            return jax.vmap(log_w)(z)

        keys = jax.random.split(key, x.shape[0])
        return jax.lax.map(lambda a: one(*a), (x, keys), batch_size=_EVAL_BLOCK)

    def log_weights(self, state: TrainState, x, k: int, seed: int = 0) -> np.ndarray:
        """log w_i = log p(x, z_i) − log q(z_i | x), z_i ~ q(z | x): shape (images, k).

        The building block of both bounds: the ELBO is E[log w], IWAE_k is
        E[log mean_i w_i] (Burda et al. 2016, eq. 8).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        x = jnp.asarray(x, _F32)
        return np.asarray(self._log_weights(self.params(state), x, jax.random.PRNGKey(seed), k))

    def _elbo(self, state, x, seed) -> tuple[float, float]:
        lw = self.log_weights(state, x, self.config.elbo_k, seed).astype(np.float64)
        per_image_var = lw.var(axis=1, ddof=1) / lw.shape[1]
        return float(lw.mean()), float(np.sqrt(per_image_var.sum()) / lw.shape[0])

    def metrics(
        self, state: TrainState, seed: int = 0, *, iwae_k: int | None = None
    ) -> dict[str, float]:
        """Test (and training) bounds on log p(x), in nats per image; higher is better.

        ``iwae_k`` overrides ``config.iwae_k`` (e.g. 1, where IWAE_1 is the ELBO).

        Returns
        -------
        dict
            ``test_elbo`` — the ELBO averaged over the test images, each estimated with
            ``elbo_k`` draws; ``test_elbo_mcse`` — its Monte Carlo standard error;
            ``test_iwae`` — IWAE_k with k = ``iwae_k`` (draws independent of the
            ELBO's); ``baseline_independent_pixels``; ``train_elbo`` — the ELBO on the
            training images (a gap to ``test_elbo`` measures overfitting); ``iwae_k``.

        Notes
        -----
        IWAE_k ≥ ELBO holds for the expectations; the two estimates here use
        independent draws, so a comparison allows a few ``test_elbo_mcse`` of slack.
        IWAE_k estimated from one set of k draws is itself biased low (Jensen), by less
        as k grows.
        """
        k = self.config.iwae_k if iwae_k is None else int(iwae_k)
        # Independent draws for each estimate, all fixed by `seed`.
        s_iwae, s_elbo, s_train = (int(s) for s in np.random.SeedSequence(seed).generate_state(3))
        lw = self.log_weights(state, self.x_test, k, s_iwae)
        lw = lw.astype(np.float64)
        iwae = _logmeanexp(lw, axis=1).mean()
        elbo, elbo_se = self._elbo(state, self.x_test, s_elbo)
        train_elbo, _ = self._elbo(state, self.x_train, s_train)
        return {
            "test_elbo": elbo,
            "test_elbo_mcse": elbo_se,
            "test_iwae": float(iwae),
            "baseline_independent_pixels": vae.independent_pixels(self.x_train, self.x_test),
            "train_elbo": train_elbo,
            "iwae_k": k,
        }

    # -------------------------------------------------------- gradient variance

    def _grads_impl(self, params, x, key, s):
        enc = eqx.combine(params["encoder$params"], self._encoder0)
        dec = eqx.combine(params["decoder$params"], self._decoder0)
        latent = self.config.latent_dim

        def one(x, key):
            lam = jnp.concatenate(enc(x))  # λ = (μ, log σ), (2L,)

            def split(lam):
                return lam[:latent], lam[latent:]

            def log_joint(z):
                return vae.log_px_z(dec, x, z) + vae.log_pz(z)

            def reparam(eps):
                # d/dλ of f(λ, ε) = log p(x, z) − log q(z | λ), z = μ + σ ε.
                def f(lam):
                    mu, log_sigma = split(lam)
                    z = mu + jnp.exp(log_sigma) * eps
                    return log_joint(z) - vae.log_qz_x(mu, log_sigma, z)

                return jax.grad(f)(lam)

            def score(eps):
                # [log p(x, z) − log q(z | λ)] · d/dλ log q(z | λ), z held fixed:
                # E_q[d/dλ log q] = 0, so this is the whole gradient in expectation.
                mu, log_sigma = split(lam)
                z = jax.lax.stop_gradient(mu + jnp.exp(log_sigma) * eps)
                f = log_joint(z) - vae.log_qz_x(mu, log_sigma, z)
                return f * jax.grad(lambda lam: vae.log_qz_x(*split(lam), z))(lam)

            eps = jax.random.normal(key, (s, latent), _F32)
            return jax.vmap(reparam)(eps), jax.vmap(score)(eps)

        keys = jax.random.split(key, x.shape[0])
        return jax.lax.map(lambda a: one(*a), (x, keys))

    def gradient_variance(self, state: TrainState, seed: int = 0) -> pd.DataFrame:
        """Why the reparameterisation trick matters: variance of two gradient estimators.

        What is differentiated: for each of the first ``grad_images`` test images x,
        the ELBO of that image as a function of the encoder's output λ = (μ, log σ) of
        q(z | x) (2L numbers), at the trained parameters:
        ∇_λ E_{q_λ}[log p(x, z) − log q_λ(z)]. Two single-sample unbiased estimators,
        each drawn ``grad_samples`` times with the same ε ~ N(0, I):

        * reparameterised (Kingma & Welling 2014): ∇_λ [log p(x, z) − log q_λ(z)] at
          z = μ + σ ε — the gradient flows through z;
        * score function / REINFORCE (Williams 1992), no baseline:
          [log p(x, z) − log q_λ(z)] ∇_λ log q_λ(z) with z = μ + σ ε held fixed.

        Both have the same mean (checked: ``max_abs_z``); the variance per coordinate
        over the draws, averaged over coordinates and images, is what differs. The
        encoder's weights φ receive these gradients through the chain rule
        ∂λ/∂φ, so the ratio carries over to them.

        Returns
        -------
        DataFrame
            One row per estimator: ``estimator``, ``images``, ``samples``,
            ``mean_variance`` (per coordinate), ``ratio`` (to the reparameterised one),
            ``max_abs_z`` (largest |mean difference from the reparameterised mean| in
            standard errors, over all coordinates).
        """
        cfg = self.config
        x = self.x_test[: cfg.grad_images]
        rep, sf = self._grads(self.params(state), x, jax.random.PRNGKey(seed), cfg.grad_samples)
        rep, sf = np.asarray(rep, np.float64), np.asarray(sf, np.float64)  # (images, s, 2L)
        var_rep, var_sf = rep.var(axis=1, ddof=1), sf.var(axis=1, ddof=1)
        se = np.sqrt((var_rep + var_sf) / cfg.grad_samples)
        z = np.abs(sf.mean(1) - rep.mean(1)) / np.where(se > 0, se, np.inf)
        rows = [
            ("reparameterised", var_rep.mean(), 0.0),
            ("score function (REINFORCE)", var_sf.mean(), float(z.max())),
        ]
        return pd.DataFrame(
            [
                {
                    "estimator": name,
                    "images": cfg.grad_images,
                    "samples": cfg.grad_samples,
                    "mean_variance": float(v),
                    "ratio": float(v / var_rep.mean()),
                    "max_abs_z": mz,
                }
                for name, v, mz in rows
            ]
        )

    # ------------------------------------------------------------ figure data

    def encode(self, state: TrainState, x) -> np.ndarray:
        """μ_φ(x), the mean of q(z | x): (images, L)."""
        enc, _ = self.networks(state)
        mu, _ = jax.vmap(enc)(jnp.asarray(x, _F32))
        return np.asarray(mu)

    def reconstruct(self, state: TrainState, x) -> np.ndarray:
        """Bernoulli means σ(f_θ(μ_φ(x))) of the decoded posterior mean: (images, 64)."""
        enc, dec = self.networks(state)
        mu, _ = jax.vmap(enc)(jnp.asarray(x, _F32))
        return np.asarray(jax.nn.sigmoid(jax.vmap(dec)(mu)))

    def sample_prior(self, state: TrainState, n: int, seed: int = 0) -> np.ndarray:
        """Bernoulli means σ(f_θ(z)) for z ~ N(0, I): (n, 64) new images."""
        _, dec = self.networks(state)
        z = jax.random.normal(jax.random.PRNGKey(seed), (n, self.config.latent_dim), _F32)
        return np.asarray(jax.nn.sigmoid(jax.vmap(dec)(z)))

    def decode(self, state: TrainState, z) -> np.ndarray:
        """Bernoulli means σ(f_θ(z)) for given latent points (n, L): (n, 64)."""
        _, dec = self.networks(state)
        return np.asarray(jax.nn.sigmoid(jax.vmap(dec)(jnp.asarray(z, _F32))))


def _logmeanexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.mean(np.exp(a - m), axis=axis))
