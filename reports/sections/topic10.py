"""Topic 10: the diffusion model (DDPM) — how to train it and how to sample from it.

Ho, Jain & Abbeel's (2020) Algorithm 1 (training on L_simple) and Algorithm 2
(ancestral sampling) from :mod:`inference.diffusion`, run on two 2-D data sets — the
moons and the Swiss roll — where every step of both processes can be drawn. Sample
quality is the sliced Wasserstein distance to held-out data, beside a Gaussian fitted
to the training data (what a model that knows only the first two moments achieves).

The report profile picks the training settings (:func:`inference.diffusion.ddpm_config`):

======================  ===================================================================
``ctx.profile.name``    settings
======================  ===================================================================
``"quick"``             ``ddpm_config(dataset, "quick")`` (≈ 10-15 s per 2-D data set on
                        2 CPU cores, sampling and metric included; the digits' U-Net
                        about 19 s of training and 15 s of sampling)
``"full"``              ``ddpm_config(dataset, "full")`` (256 wide, 4× the steps)
anything else (tests)   a tiny network, 300 steps, 300 evaluation samples: checks that the
                        section builds, not that the model is good
======================  ===================================================================

Then the 8×8 digits, with the convolutional ε-network (:class:`models.diffusion.UNet`),
judged where a reader can see it: a Fréchet distance in a digit classifier's features
(:mod:`diagnostics.digits`) beside the quick-profile VAE's prior samples, the fitted
Gaussian and the training images' own score, and a grid of samples each labelled with
the digit the classifier sees.

:func:`figures` draws the three pictures of one trained model and is shared with the CLI
(``bayesmin fit ddpm``), which saves them as PNGs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...diagnostics.digits import classifier, reference_table, vae_reference
from ...diagnostics.distance import ddpm_metrics
from ...inference.diffusion import DDPMConfig, DDPMTrainer, ddpm_config
from ...inference.training import TrainState
from ...models.diffusion import dataset
from ..context import Context
from ..figures import digit_grid, subplots
from ..html import Section

__all__ = ["build", "config_for", "digit_table", "figures", "loss_figure"]


# The Python behind each figure, shown under it ("Reproduce"); run as written (the report's
# quick settings; training takes 10-15 s per data set on 2 CPU cores).
_TRAIN = """\
from bayesmin.inference.diffusion import DDPMTrainer, ddpm_config
from bayesmin.models.diffusion import dataset

config = ddpm_config("{name}", "quick")
data = dataset("{name}", config.n_train, seed=0)
trainer = DDPMTrainer(config, data)
state, loss = trainer.fit(seed=0)  # Algorithm 1; loss: L_simple per step
"""
_FORWARD = """\
from bayesmin.inference.diffusion import DDPMTrainer, ddpm_config
from bayesmin.models.diffusion import dataset

config = ddpm_config("{name}", "quick")
data = dataset("{name}", config.n_train, seed=0)
trainer = DDPMTrainer(config, data)  # the forward process needs no training
ts = sorted(trainer.strip)
strip = trainer.forward_strip(data["x_train"][:1000], ts, seed=0)  # draws of q(x_t | x_0)
"""
_REVERSE = """
n = config.n_eval
samples, strip = trainer.sample(state, n, seed=0, return_strip=True)  # Algorithm 2
"""
_SAMPLES = """
from bayesmin.diagnostics.distance import ddpm_metrics

n = config.n_eval
samples = trainer.sample(state, n, seed=0)  # Algorithm 2
gaussian = trainer.baseline(n, seed=0)  # a Gaussian fitted to the training data
metrics = ddpm_metrics(trainer, state, seed=0)  # sliced Wasserstein-2 distances
"""
SNIPPETS = {
    **{
        f"{name}-{figure}": code.replace("{name}", name)
        for name in ("moons", "swissroll")
        for figure, code in (
            ("forward-strip", _FORWARD),
            ("reverse-strip", _TRAIN + _REVERSE),
            ("samples", _TRAIN + _SAMPLES),
        )
    },
    "loss": """\
from bayesmin.inference.diffusion import DDPMTrainer, ddpm_config
from bayesmin.models.diffusion import dataset

losses = {}
for name in ("moons", "swissroll", "digits"):
    config = ddpm_config(name, "quick")  # the digits: a U-Net, about 20 s on 2 CPU cores
    data = dataset(name, config.n_train, seed=0)
    trainer = DDPMTrainer(config, data)
    state, losses[name] = trainer.fit(seed=0)  # L_simple per step
""",
    "digits-reverse-strip": (_TRAIN + _REVERSE).replace("{name}", "digits"),
    "digits-samples": _TRAIN.replace("{name}", "digits")
    + """
from bayesmin.diagnostics.digits import classifier

samples = trainer.sample(state, config.n_eval, seed=0)  # Algorithm 2
proba = classifier().predict_proba(samples[:40])  # the digit classifier's view
labels, confidence = proba.argmax(axis=1), proba.max(axis=1)

# The table: the same samples' Frechet distance beside the VAE's and the references
from bayesmin.diagnostics.digits import reference_table, vae_reference
from bayesmin.diagnostics.distance import ddpm_metrics

metrics = ddpm_metrics(trainer, state, seed=0, samples=samples)
vae = vae_reference(0)  # the quick-profile VAE's prior samples (trained once, cached)
references = reference_table(n=config.n_eval, seed=0)  # floor, Gaussians, Bernoulli
""",
}

DATASETS = ("moons", "swissroll")
_TEST = dict(hidden=32, depth=2, steps=300, batch_size=128, n_eval=300, chunk=100)
# The section's own test on the digits: a U-Net of 4 channels, a few steps, few samples.
_TEST_DIGITS = dict(channels=4, steps=20, batch_size=32, n_eval=50, chunk=10)
N_GRID = 40  # labelled samples shown in the digits' grid

_INTRO = (
    "A <b>diffusion model</b> (Ho, Jain &amp; Abbeel 2020) learns to undo noise. The "
    r"<b>forward process</b> $q$ adds Gaussian noise in $T = 1000$ small steps, "
    r"$q(x_t \mid x_{t-1}) = \mathcal{N}(x_t \mid \sqrt{\alpha_t} x_{t-1}, \beta_t I)$, "
    r"$\beta_t$ rising linearly from $10^{-4}$ to $0.02$ and $\alpha_t = 1 - \beta_t$. Its "
    "steps compose in closed form:"
    r"$$x_t = \sqrt{\bar{\alpha}_t} x_0 + \sqrt{1 - \bar{\alpha}_t} \epsilon, \qquad \epsilon "
    r"\sim \mathcal{N}(0, I), \qquad \bar{\alpha}_t = \prod_{s \leq t} \alpha_s$$"
    r"with the <i>cumulative</i> product $\bar{\alpha}_t$ (the course writes $\alpha_t$ here); "
    r"$\bar{\alpha}_T \approx 4 \cdot 10^{-5}$, so $x_T$ is pure noise. Given both ends the "
    r"step back is Gaussian too, $q(x_{t-1} \mid x_t, x_0) = \mathcal{N}(x_{t-1} \mid "
    r"\widetilde{\mu}(x_t, x_0, t), \tilde{\beta}_t I)$ with"
    r"$$\widetilde{\mu}(x_t, x_0, t) = \frac{\sqrt{\bar{\alpha}_{t-1}} \beta_t}{1 - "
    r"\bar{\alpha}_t} x_0 + \frac{\sqrt{\alpha_t} (1 - \bar{\alpha}_{t-1})}{1 - \bar{\alpha}_t} "
    r"x_t, \qquad \tilde{\beta}_t = \frac{1 - \bar{\alpha}_{t-1}}{1 - \bar{\alpha}_t} \beta_t$$"
    r"(a variance: the course's $\sigma_t I$ means $\sigma_t^2 I$).<br>The <b>reverse "
    r"process</b> $p_\theta(x_{t-1} \mid x_t) = \mathcal{N}(x_{t-1} \mid \mu_\theta(x_t, t), "
    r"\sigma_t^2 I)$ is what we learn. Writing $x_0$ through the noise, $\mu_\theta(x_t, t) = "
    r"\frac{1}{\sqrt{\alpha_t}} \left(x_t - \frac{\beta_t}{\sqrt{1 - \bar{\alpha}_t}} "
    r"\epsilon_\theta(x_t, t)\right)$, so the network only predicts the noise "
    r"$\epsilon_\theta$. The course's loss $\frac{1}{2\sigma_t^2} \|\widetilde{\mu}(x_t, x_0, "
    r"t) - \mu_\theta(x_t, t)\|^2$ then equals $\|\epsilon - \epsilon_\theta\|^2$ times a "
    r"weight depending on $t$ only; Ho et al. drop the weight ($L_{\text{simple}}$). "
    r"<b>Training</b> (Algorithm 1): draw $x_0$ from the data, $t \sim "
    r"\mathrm{Uniform}(\{1, \ldots, T\})$, $\epsilon \sim \mathcal{N}(0, I)$, and take a "
    "gradient step on"
    r"$$\nabla_\theta \|\epsilon - \epsilon_\theta(\sqrt{\bar{\alpha}_t} x_0 + \sqrt{1 - "
    r"\bar{\alpha}_t} \epsilon, t)\|^2.$$"
    r"<b>Sampling</b> (Algorithm 2): $x_T \sim \mathcal{N}(0, I)$, then for $t = T, \ldots, "
    r"1$, $x_{t-1} = \mu_\theta(x_t, t) + \sigma_t z$ with $z \sim \mathcal{N}(0, I)$ ($z = 0$ "
    r"at $t = 1$) and $\sigma_t^2 = \beta_t$. $\epsilon_\theta$ here is an MLP fed a "
    r"sinusoidal embedding of $t$; as in Ho et al., samples come from an exponential moving "
    "average of the weights, which smooths out the last steps' minibatch noise."
)


def config_for(dataset_name: str, profile_name: str) -> DDPMConfig:
    """The settings the report uses for ``profile_name`` (see the module docstring)."""
    if profile_name in ("quick", "full"):
        return ddpm_config(dataset_name, profile_name)
    return ddpm_config(
        dataset_name, "quick", **(_TEST_DIGITS if dataset_name == "digits" else _TEST)
    )


def _is_image(dim: int) -> bool:
    return dim == 64  # the 8×8 digits


def _panels(axes, frames: np.ndarray, titles: list[str], ref: np.ndarray | None = None) -> None:
    """One scatter (2-D) or a column of 8×8 images (digits) per frame."""
    for ax, frame, title in zip(axes, frames, titles, strict=True):
        if _is_image(frame.shape[1]):
            k = min(4, len(frame))
            ax.imshow(
                np.concatenate([f.reshape(8, 8) for f in frame[:k]], axis=0),
                cmap="gray_r", vmin=-1, vmax=1,
            )  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            if ref is not None:
                ax.scatter(ref[:, 0], ref[:, 1], s=2, color="0.85")
            ax.scatter(frame[:, 0], frame[:, 1], s=2, alpha=0.5)
            ax.set_xlim(-3.5, 3.5)
            ax.set_ylim(-3.5, 3.5)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(title, fontsize=9)


def figures(
    trainer: DDPMTrainer, state: TrainState, data: dict[str, Any], *, n: int = 1000, seed: int = 0
) -> dict[str, Figure]:
    """The three pictures of a trained DDPM, as matplotlib figures (the caller saves them).

    Returns
    -------
    dict
        ``"forward-strip"`` — draws of q(x_t | x_0) for rising t, from the data to noise;
        ``"reverse-strip"`` — Algorithm 2 at falling t, from noise to samples;
        ``"samples"`` — the samples beside held-out data and a fitted Gaussian (2-D), or
        the first 40 samples labelled by the digit classifier (digits).
    """
    x_test = np.asarray(data["x_test"])
    x0 = np.asarray(data["x_train"])[:n]
    ts = sorted(trainer.strip)
    fwd = trainer.forward_strip(x0, ts, seed=seed)
    samples, strip = trainer.sample(state, n, seed=seed, return_strip=True)
    out: dict[str, Figure] = {}
    size = (2.1 * len(ts), 2.6 if not _is_image(trainer.dim) else 6.5)

    fig, axes = subplots(1, len(ts), figsize=size)
    _panels(axes, fwd, [f"q(x_{t} | x_0)" if t else "x_0 (data)" for t in ts])
    fig.suptitle("forward process: noise added until x_T ~ N(0, I)", fontsize=10)
    fig.tight_layout()
    out["forward-strip"] = fig

    fig, axes = subplots(1, len(trainer.strip), figsize=size)
    _panels(axes, strip, [f"x_{t}" for t in trainer.strip], ref=x_test)
    fig.suptitle("reverse process (Algorithm 2): x_T ~ N(0, I) denoised to x_0", fontsize=10)
    fig.tight_layout()
    out["reverse-strip"] = fig

    if _is_image(trainer.dim):
        shown = samples[:N_GRID]
        proba = classifier().predict_proba(shown)
        fig = digit_grid(
            shown, proba.argmax(axis=1), proba.max(axis=1), ncols=10,
            title="DDPM samples with the digit classifier's label and confidence",
        )  # fmt: skip
        out["samples"] = fig
        return out
    else:
        gauss = trainer.baseline(n, seed=seed)
        fig, axes = subplots(1, 3, figsize=(10, 3.5), sharex=True, sharey=True)
        for ax, pts, title in zip(
            axes, (x_test[:n], samples, gauss),
            ("held-out data", "DDPM samples", "Gaussian fitted to the data"), strict=True,
        ):  # fmt: skip
            ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.5)
            ax.set_title(title, fontsize=10)
            ax.set_aspect("equal")
    fig.tight_layout()
    out["samples"] = fig
    return out


def digit_table(
    metrics: dict[str, Any], references: pd.DataFrame, vae: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The digits' Fréchet-distance table: the DDPM, the VAE's prior samples, the references.

    Parameters
    ----------
    metrics : dict
        :func:`diagnostics.distance.ddpm_metrics` of the DDPM on the digits.
    references : DataFrame
        :func:`diagnostics.digits.reference_table` at the DDPM's ``n_eval``.
    vae : dict, optional
        :func:`diagnostics.digits.vae_reference`; its two rows are left out without it.

    Returns
    -------
    DataFrame
        Indexed by ``model``; columns ``frechet_distance``, ``confidence``,
        ``class_entropy``.
    """
    rows = [
        ("DDPM samples (U-Net)", metrics["frechet_distance"], metrics["digit_confidence"],
         metrics["digit_class_entropy"]),
    ]  # fmt: skip
    if vae is not None:
        rows += [
            ("VAE prior samples, binary draws", vae["frechet_distance"],
             vae["digit_confidence"], vae["digit_class_entropy"]),
            ("VAE prior samples, Bernoulli means", vae["frechet_distance_means"],
             vae["digit_confidence_means"], vae["digit_class_entropy_means"]),
        ]  # fmt: skip
    rows += [
        (r.reference, r.frechet_distance, r.confidence, r.class_entropy)
        for r in references.itertuples()
    ]
    columns = ["model", "frechet_distance", "confidence", "class_entropy"]
    return pd.DataFrame(rows, columns=columns).set_index("model")


_DIGITS_TEXT = (
    "<b>Digits.</b> On 8×8 images the MLP gives way to the convolutional network Ho et "
    "al. use for images, a U-Net scaled down to 8×8: residual blocks that see 3×3 "
    "neighbourhoods, one step down to 4×4 and back, a skip connection across, and the "
    r"embedding of $t$ added inside every block. Its samples are judged by a digit "
    "classifier (held-out accuracy 0.99): the Fréchet distance between Gaussians fitted "
    "to its penultimate-layer features of the samples and of the 360 held-out digits (an "
    "FID for 8×8 digits), the classifier's mean confidence, and the entropy of the digits "
    r"it recognises ($\log 10 pprox 2.30$ when all ten appear equally often)."
)


def _trim() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``).

    XLA's compiler and the freed programs leave hundreds of MB free inside the process's
    heap, which glibc keeps unless asked: the report runs two sections at once, and what
    one keeps the other cannot use. A no-op where there is no glibc.
    """
    import ctypes
    import ctypes.util

    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return  # no glibc (macOS, musl): nothing to give back this way
    trim(0)


def _release() -> None:
    """Drop the compiled programs of the data set just done: the section's process then
    holds one data set's programs at a time (the report runs two sections at once)."""
    import gc

    import jax

    from ...inference._compiled import clear_all

    clear_all()
    jax.clear_caches()
    gc.collect()
    _trim()


def _digits(section: Section, ctx: Context, losses: dict[str, np.ndarray]) -> None:
    """The digits: a U-Net trained, sampled, judged beside the VAE and the references."""
    config = config_for("digits", ctx.profile.name)
    # Split seed 0 always: the digit classifier's held-out images stay unseen.
    data = dataset("digits", config.n_train, seed=0)
    trainer = DDPMTrainer(config, data)
    section.heading3(f"digits: {len(data['x_train'])} training images, a U-Net")
    section.text(_DIGITS_TEXT, math=True)
    ctx.progress(f"DDPM: training a U-Net on the digits ({config.steps} steps)")
    start = time.perf_counter()
    state, losses["digits"] = trainer.fit(ctx.seed)
    seconds = time.perf_counter() - start
    _trim()  # what compiling the training step took
    ctx.progress(f"DDPM: sampling {config.n_eval} digits")
    samples = trainer.sample(state, config.n_eval, seed=ctx.seed)
    # The quick-profile VAE (topic 9's) trains in seconds; the section's own test skips it.
    with_vae = ctx.profile.name in ("quick", "full")
    metrics = ddpm_metrics(trainer, state, seed=ctx.seed, samples=samples, vae=with_vae)
    vae = vae_reference(ctx.seed) if with_vae else None
    table = digit_table(metrics, reference_table(n=config.n_eval, seed=ctx.seed), vae)
    ddpm = table["frechet_distance"].iloc[0]
    others = table["frechet_distance"].drop(index=table.index[0])
    beats = [m for m in others.index if "floor" not in m and ddpm < others[m]]
    section.table(
        table,
        f"{config.n_eval} samples of each model against the {config.n_eval} held-out digits "
        f"(the DDPM trained {config.steps} steps in {seconds:.0f} s). frechet_distance: "
        "lower is closer to real digits; the training images' row is what a perfect "
        "generator scores at this sample size. confidence: the classifier's mean top "
        "probability (1 for clear digits, 0.1 for a blind guess); class_entropy: entropy "
        "of the recognised digits' histogram in nats. The Gaussians are clipped to the "
        "pixels' range [−1, 1]; the VAE (topic 9, quick profile) and the Bernoulli rows "
        f"draw binary pixels. The DDPM scores below {len(beats)} of the "
        f"{sum('floor' not in m for m in others.index)} other models.",
        digits=3,
    )
    pictures = figures(trainer, state, data, n=config.n_eval, seed=ctx.seed)
    section.figure(
        pictures["reverse-strip"],
        "digits-reverse-strip",
        "Reverse process on the digits: x_t at falling t for four samples; the strokes "
        "appear only in the last few hundred steps.",
        code=SNIPPETS["digits-reverse-strip"],
    )
    section.figure(
        pictures["samples"],
        "digits-samples",
        f"The first {min(N_GRID, config.n_eval)} of the {config.n_eval} samples the table "
        "judges, each titled with the digit the classifier recognises and its probability "
        "for it.",
        code=SNIPPETS["digits-samples"],
    )


def loss_figure(losses: dict[str, np.ndarray]) -> Figure:
    """L_simple per step (a running mean over 1% of the steps) for each named run."""
    fig, ax = subplots(figsize=(6.5, 3.6))
    for name, curve in losses.items():
        w = max(1, len(curve) // 100)
        smooth = np.convolve(curve, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w, len(curve) + 1), smooth, label=name)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("L_simple = mean (ε − ε_θ)²")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return fig


def build(section: Section, ctx: Context) -> None:
    """Fill ``section`` with topic 10: DDPM trained and sampled on two 2-D data sets."""
    section.text(_INTRO, raw=True)
    rows, losses = [], {}
    for name in DATASETS:
        config = config_for(name, ctx.profile.name)
        data = dataset(name, config.n_train, seed=ctx.seed)
        trainer = DDPMTrainer(config, data)
        ctx.progress(f"DDPM: training on {name} ({config.steps} steps)")
        start = time.perf_counter()
        state, loss = trainer.fit(ctx.seed)
        seconds = time.perf_counter() - start
        losses[name] = loss
        ctx.progress(f"DDPM: sampling {name}")
        metrics = ddpm_metrics(trainer, state, seed=ctx.seed)
        rows.append(
            {
                "data": name,
                "DDPM": metrics["distance"],
                "Gaussian baseline": metrics["baseline_gaussian_distance"],
                "ratio": metrics["distance"] / metrics["baseline_gaussian_distance"],
                "training steps": config.steps,
                "training seconds": seconds,
            }
        )
        section.heading3(f"{name}: {len(data['x_train'])} training points")
        # The metrics' own draw (the trainer keeps it): no second run of the T steps.
        pictures = figures(trainer, state, data, n=config.n_eval, seed=ctx.seed)
        section.figure(
            pictures["forward-strip"],
            f"{name}-forward-strip",
            r"Forward process: exact draws of $q(x_t \mid x_0) = \mathcal{N}(x_t \mid "
            r"\sqrt{\bar{\alpha}_t} x_0, (1 - \bar{\alpha}_t) I)$ at rising $t$; the structure "
            "is gone well before $t = T$.",
            code=SNIPPETS[f"{name}-forward-strip"],
        )
        section.figure(
            pictures["reverse-strip"],
            f"{name}-reverse-strip",
            r"Reverse process: one run of Algorithm 2 ($\sigma_t^2 = \beta_t$), held-out data "
            r"in grey. The shape appears only in the last few hundred steps, where "
            r"$\bar{\alpha}_t$ is large.",
            code=SNIPPETS[f"{name}-reverse-strip"],
        )
        section.figure(
            pictures["samples"],
            f"{name}-samples",
            "Held-out data, DDPM samples and the Gaussian baseline (same number of points).",
            code=SNIPPETS[f"{name}-samples"],
        )
        _release()
    _digits(section, ctx, losses)
    _release()
    section.figure(
        loss_figure(losses),
        "loss",
        r"Training loss $L_{\text{simple}}$ (running mean). It cannot reach 0: at large $t$ "
        r"the noise is nearly all of $x_t$ and $\epsilon$ is predictable, at small $t$ it is "
        "not.",
        code=SNIPPETS["loss"],
    )
    table = pd.DataFrame(rows).set_index("data")
    ok = bool((table["ratio"] <= 0.5).all())
    section.table(
        table,
        f"Sample quality: sliced Wasserstein-2 distance (200 random projections) from "
        f"{config.n_eval} generated points to held-out data; the baseline draws as many "
        f"points from a Gaussian fitted to the training data. DDPM at most half the "
        f"baseline's distance on every data set: {'yes' if ok else 'no'}.",
        digits=3,
    )
