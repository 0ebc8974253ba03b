"""Topic 9: the variational autoencoder and the reparameterisation trick.

Trains the VAE of :mod:`models.vae` on binarised 8×8 digits by SVI
(:class:`inference.svi.VAETrainer`), then shows what it learned (reconstructions, new
digits from the prior, the 2-D latent map), how good a density model it is (test ELBO
and IWAE bound against the independent-pixel baseline, in nats per image), how
digit-like its samples are (a Fréchet distance in a digit classifier's features,
:func:`diagnostics.digits.vae_digit_metrics`, beside the reference rows of
:func:`diagnostics.digits.reference_table`, and a grid of samples labelled by the
classifier, :func:`reports.figures.digit_grid`), and why the
reparameterisation trick is what makes it trainable (gradient variance of the two
estimators).

:func:`fit` and :func:`figures` are also what ``bayesmin fit vae`` uses, so the CLI and
the report draw the same pictures.

Which configuration a report profile trains is :data:`SECTION_CONFIGS`: the ``test``
profile (the section's own test) trains a tiny network for a few hundred steps; every
other profile trains ``VAE_PROFILES["quick"]`` (under a minute on 2 CPU cores).

References
----------
Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*.
Burda, Y., Grosse, R. & Salakhutdinov, R. (2016). Importance weighted autoencoders.
*ICLR*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...diagnostics.digits import classifier, reference_table, vae_digit_metrics, vae_samples
from ...inference.svi import VAE_PROFILES, VAEConfig, VAETrainer
from ...inference.training import TrainState
from ...models.vae import digits
from ..context import Context
from ..figures import digit_grid, subplots
from ..html import Section

__all__ = ["SECTION_CONFIGS", "build", "config_for", "figures", "fit", "loss_figure"]


# The Python behind each figure, shown under it ("Reproduce"); run as written. Every figure
# starts from the same training run (the report's quick profile; under a minute).
_TRAIN = """\
import numpy as np
from bayesmin.inference.svi import VAE_PROFILES, VAETrainer
from bayesmin.models.vae import digits

data = digits(0)  # binarised 8x8 digits; the digit classifier's train/held-out split
trainer = VAETrainer(VAE_PROFILES["quick"], data)
state, losses = trainer.fit(0)  # -ELBO per image, one value per Adam step
"""
SNIPPETS = {
    "loss": _TRAIN
    + """smooth = np.convolve(losses, np.ones(100) / 100, mode="valid")  # mean of 100 steps
""",
    "reconstructions": _TRAIN
    + """y = np.asarray(data["y_test"])
x = np.asarray(data["x_test"])[[int(np.flatnonzero(y == d)[0]) for d in range(10)]]
reconstructed = trainer.reconstruct(state, x)  # Bernoulli means decoded at mu(x)
""",
    "prior-samples": _TRAIN
    + """new = trainer.sample_prior(state, 40, seed=1)  # z ~ N(0, I), decoded Bernoulli means
""",
    "digit-grid": _TRAIN
    + """from bayesmin.diagnostics.digits import classifier, vae_digit_metrics, vae_samples

metrics = vae_digit_metrics(trainer, state, n=360, seed=0)  # Frechet distances, confidence
draws = vae_samples(trainer, state, n=360, seed=0)["draws"][:40]  # x ~ Bernoulli, in {-1, 1}
proba = classifier().predict_proba(draws)
labels, confidence = proba.argmax(axis=1), proba.max(axis=1)
""",
    "latent-map": _TRAIN
    + """x_all = np.concatenate([data["x_train"], data["x_test"]])
mu = trainer.encode(state, x_all)  # the encoder's mean of q(z | x), one row per image
""",
    "decoded-grid": _TRAIN
    + """
from scipy import stats

q = stats.norm.ppf(np.linspace(0.03, 0.97, 12))  # prior quantiles
grid = np.array([[a, b] for b in q[::-1] for a in q], dtype=np.float32)
images = trainer.decode(state, grid).reshape(12, 12, 8, 8)
""",
}

# Report profile name → the VAE configuration the section trains. "test" keeps the
# section's test to seconds; any profile not listed trains the quick profile.
SECTION_CONFIGS: dict[str, VAEConfig] = {
    "test": VAEConfig(
        hidden=64,
        steps=300,
        batch_size=64,
        learning_rate=3e-3,
        iwae_k=1000,
        elbo_k=50,
        grad_samples=500,
    ),
    "quick": VAE_PROFILES["quick"],
    "full": VAE_PROFILES["quick"],
}

_INTRO = (
    "A <b>variational autoencoder</b> is a latent-variable model "
    r"$p_\theta(x, z) = p_\theta(x \mid z) p(z)$, $p(z) = \mathcal{N}(0, I)$, whose "
    "likelihood is a neural network — the <b>decoder</b> maps $z$ to the 64 Bernoulli "
    "probabilities of an 8×8 binary image — trained together with an <b>encoder</b> that "
    r"maps an image $x$ to the parameters $\mu(x)$, $\sigma(x)$ of a Gaussian "
    r"$q_\phi(z \mid x) = \mathcal{N}(z; \mu(x), \sigma^2(x))$, an approximation of the "
    r"intractable posterior $p(z \mid x)$. Both are trained by maximising the <b>ELBO</b>"
    r"$$\mathcal{L}(x) = \mathbb{E}_{q(z \mid x)} \log p(x \mid z) - \mathrm{KL}(q(z \mid x) "
    r"\| p(z)) \leq \log p(x):$$"
    "a reconstruction term (the output should look like the input) and a term keeping "
    r"$q(z \mid x)$ close to the prior; maximising $\mathcal{L}$ over $q$ minimises "
    r"$\mathrm{KL}(q(z \mid x) \| p(z \mid x))$, the gap of the bound. Each step: encode a "
    r"minibatch, draw $z$ from $q(z \mid x)$, decode, evaluate the ELBO, back-propagate, "
    r"update $\theta$ and $\phi$ with Adam (Kingma &amp; Welling 2014; here NumPyro's SVI "
    "with <code>Trace_ELBO</code>)."
)

_REPARAM = (
    "<b>The reparameterisation trick.</b> The ELBO's gradient with respect to $\\phi$ is a "
    "gradient of an expectation over a distribution that itself depends on $\\phi$. Writing "
    r"$z = \mu(x) + \sigma(x) \odot \varepsilon$, $\varepsilon \sim \mathcal{N}(0, I)$ moves "
    r"the randomness into $\varepsilon$, so"
    r"$$\nabla_\phi \mathbb{E}_q[f(z)] = \mathbb{E}_\varepsilon[\nabla_\phi f(\mu + \sigma "
    r"\odot \varepsilon)]$$"
    "and automatic differentiation goes straight through the sample. The alternative "
    "that needs no trick, the score-function (REINFORCE) estimator "
    r"$\mathbb{E}_q[f(z) \nabla_\phi \log q_\phi(z \mid x)]$, is unbiased too but uses only "
    "the value of $f$, not its slope. The table compares the two on the trained model: "
    "single-sample estimates of the gradient of one image's ELBO with respect to the "
    r"encoder's output $(\mu, \log \sigma)$, the same number of draws each."
)


def config_for(profile_name: str) -> VAEConfig:
    """The VAE configuration the section trains for a report profile."""
    return SECTION_CONFIGS.get(profile_name, VAE_PROFILES["quick"])


def fit(
    config: VAEConfig,
    seed: int = 0,
    *,
    data: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[VAETrainer, TrainState, np.ndarray, dict]:
    """Train ``config`` on the digits: ``(trainer, state, losses, data)``.

    ``progress(message)`` is called after each chunk of steps.
    """
    data = digits(0) if data is None else data
    trainer = VAETrainer(config, data)

    def callback(state, losses):
        if progress is not None:
            progress(f"VAE: step {int(state.step)}/{config.steps}, loss {losses.mean():.2f}")

    state, losses = trainer.fit(seed, callback=callback)
    return trainer, state, losses, data


def _image_rows(ax_rows, images, titles=None):
    for i, ax in enumerate(ax_rows):
        ax.imshow(images[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)


def figures(trainer: VAETrainer, state: TrainState, data: Mapping[str, Any]) -> dict[str, Any]:
    """The VAE's pictures as matplotlib figures (the caller saves them).

    Keys: ``"reconstructions"`` (one test image of each digit above its reconstruction
    σ(f(μ(x)))), ``"prior-samples"`` (Bernoulli means of new images decoded from
    z ~ N(0, I)), ``"latent-map"`` (μ(x) of every image, coloured by digit label; the
    first two latent coordinates when L > 2), and for L = 2 also ``"decoded-grid"``
    (images decoded along a grid of prior quantiles, Kingma & Welling's fig. 4).
    """
    from scipy import stats

    out: dict[str, Any] = {}
    x_test, y_test = np.asarray(data["x_test"]), np.asarray(data["y_test"])
    first = [int(np.flatnonzero(y_test == d)[0]) for d in range(10) if np.any(y_test == d)]
    x = x_test[first]
    rec = trainer.reconstruct(state, x)
    fig, axes = subplots(2, len(first), figsize=(1.0 * len(first), 2.3))
    axes = np.atleast_2d(axes)
    _image_rows(axes[0], x, [str(y_test[i]) for i in first])
    _image_rows(axes[1], rec)
    axes[0, 0].set_ylabel("test image", fontsize=8)
    axes[1, 0].set_ylabel("decoded μ(x)", fontsize=8)
    fig.tight_layout()
    out["reconstructions"] = fig

    new = trainer.sample_prior(state, 40, seed=1)
    fig, axes = subplots(4, 10, figsize=(8, 3.4))
    _image_rows(axes.ravel(), new)
    fig.suptitle("new digits: σ(f(z)), z ~ N(0, I)", fontsize=10)
    fig.tight_layout()
    out["prior-samples"] = fig

    x_all = np.concatenate([np.asarray(data["x_train"]), x_test])
    y_all = np.concatenate([np.asarray(data["y_train"]), y_test])
    mu = trainer.encode(state, x_all)
    fig, ax = subplots(figsize=(6, 5))
    second = mu[:, 1] if mu.shape[1] > 1 else np.zeros(len(mu))
    sc = ax.scatter(mu[:, 0], second, c=y_all, cmap="tab10", s=6, alpha=0.7)
    fig.colorbar(sc, ax=ax, label="digit")
    ax.set_xlabel("μ₁(x)")
    ax.set_ylabel("μ₂(x)")
    ax.set_title(f"latent map of {len(x_all):,} digits (mean of q(z | x))")
    fig.tight_layout()
    out["latent-map"] = fig

    if trainer.config.latent_dim == 2:
        n = 12
        q = stats.norm.ppf(np.linspace(0.03, 0.97, n))
        grid = np.array([[a, b] for b in q[::-1] for a in q], dtype=np.float32)
        imgs = trainer.decode(state, grid).reshape(n, n, 8, 8)
        # One blank pixel around each tile, or neighbouring digits run into each other.
        imgs = np.pad(imgs, ((0, 0), (0, 0), (1, 0), (1, 0)))
        fig, ax = subplots(figsize=(5.5, 5.5))
        ax.imshow(imgs.transpose(0, 2, 1, 3).reshape(9 * n, 9 * n), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("decoded grid of prior quantiles of (z₁, z₂)")
        fig.tight_layout()
        out["decoded-grid"] = fig
    return out


_DIGIT_METRIC = (
    "<b>Do the samples look like digits?</b> A log-likelihood says how much probability "
    "the model puts on real digits, not how digit-like its own samples are. For that the "
    "samples are compared with the 360 held-out digits in the features of a small digit "
    "classifier (its last hidden layer, 32 numbers per image): the Fréchet distance "
    "between Gaussians fitted to the two sets of features, an FID for 8×8 digits "
    "(Heusel et al. 2017). Lower is closer. The model's samples are binary: "
    r"$z \sim \mathcal{N}(0, I)$, then each pixel a coin with probability "
    r"$\sigma(f_\theta(z))$; the pictures above show these probabilities, which are "
    "judged too."
)


def _digit_metric(section: Section, ctx: Context, trainer: VAETrainer, state: TrainState):
    """The digit metric of the prior samples beside the reference rows, and a labelled grid."""
    section.heading3("Do the samples look like digits?")
    section.text(_DIGIT_METRIC, raw=True)
    ctx.progress("VAE: digit classifier's view of 360 prior samples")
    n = 360  # the held-out size: every row compares sets of equal size (the FID's bias)
    m = vae_digit_metrics(trainer, state, n=n, seed=ctx.seed)
    refs = reference_table(n=n, seed=ctx.seed)
    vae_rows = pd.DataFrame(
        {
            "reference": ["VAE prior samples, binary draws", "VAE prior samples, Bernoulli means"],
            "frechet_distance": [m["frechet_distance"], m["frechet_distance_means"]],
            "confidence": [m["digit_confidence"], m["digit_confidence_means"]],
            "class_entropy": [m["digit_class_entropy"], m["digit_class_entropy_means"]],
        }
    )
    columns = ["reference", "frechet_distance", "confidence", "class_entropy"]
    table = pd.concat([vae_rows, refs[columns]], ignore_index=True).set_index("reference")
    grey_floor = float(refs["frechet_distance"].iloc[0])
    section.table(
        table,
        f"The VAE's prior samples judged by the digit classifier, each row {n} images "
        f"against the {n} held-out digits, which the VAE never trained on. "
        "frechet_distance: lower is closer to real digits; the training images score "
        f"{grey_floor:.1f} (sampling noise alone), binarised "
        f"{m['frechet_distance_floor_binarised']:.1f} — what reproducing the VAE's "
        "binarised data exactly would score, not a bound: the classifier saw grey "
        "digits, and a model's coin flips at a stroke's edge can land nearer them. "
        "confidence: the classifier's mean top probability (1 for clear digits, 0.1 "
        "for a blind guess); class_entropy: entropy of the recognised digits' histogram "
        f"in nats (log 10 = {np.log(10):.2f} when all ten appear equally, 0 when the "
        "model makes one digit only). The Gaussians are clipped to [−1, 1]; the "
        "Bernoulli rows draw binary pixels, as the VAE does.",
        digits=3,
    )
    shown = 40
    draws = vae_samples(trainer, state, n=n, seed=ctx.seed)["draws"][:shown]
    proba = classifier().predict_proba(draws)
    fig = digit_grid(
        draws,
        proba.argmax(axis=1),
        proba.max(axis=1),
        ncols=10,
        title="VAE prior samples (binary draws) with the classifier's digit and confidence",
    )
    section.figure(
        fig,
        "digit-grid",
        f"The first {shown} of the {n} binary prior samples the table judges, each "
        "titled with the digit the classifier recognises and its probability for it: "
        "low numbers mark the shapes that are no clear digit.",
        code=SNIPPETS["digit-grid"],
    )


def loss_figure(losses: np.ndarray):
    """The training curve: negative ELBO per image of each minibatch, and its moving mean."""
    losses = np.asarray(losses, dtype=float)
    fig, ax = subplots(figsize=(7, 3.5))
    ax.plot(np.arange(1, len(losses) + 1), losses, lw=0.5, alpha=0.4, label="minibatch")
    w = max(1, min(100, len(losses) // 10))
    if len(losses) >= w:
        smooth = np.convolve(losses, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w, len(losses) + 1), smooth, lw=1.5, label=f"mean of {w} steps")
    ax.set_xlabel("SVI step")
    ax.set_ylabel("−ELBO per image (nats)")
    ax.set_ylim(top=np.percentile(losses, 99) if len(losses) > 1 else None)
    ax.legend()
    fig.tight_layout()
    return fig


def build(section: Section, ctx: Context) -> None:
    """Fill ``section`` with topic 9: train the VAE, its pictures, bounds and gradients."""
    section.text(_INTRO, raw=True)
    config = config_for(ctx.profile.name)
    ctx.progress(f"VAE: training {config.steps} SVI steps")
    trainer, state, losses, data = fit(config, ctx.seed, progress=ctx.progress)
    section.heading3("Training")
    section.figure(
        loss_figure(losses),
        "loss",
        rf"The loss $-\mathcal{{L}}$ (negative ELBO) per image on minibatches of "
        f"{config.batch_size} of the "
        f"{len(data['x_train']):,} training digits ({config.steps:,} Adam steps, step size "
        f"{config.learning_rate:g}; encoder and decoder MLPs with {config.depth} hidden "
        f"layer(s) of {config.hidden}, latent dimension {config.latent_dim}).",
        code=SNIPPETS["loss"],
    )

    section.heading3("What the VAE learned")
    captions = {
        "reconstructions": "Top: one test image of each digit (pixels > 7 of 16 set to "
        "1). Bottom: its reconstruction — the decoder's Bernoulli probabilities at the "
        r"encoder's mean $\mu(x)$.",
        "prior-samples": r"New digits: $z$ drawn from the prior $\mathcal{N}(0, I)$ and decoded "
        "(Bernoulli means shown). The model is generative: it needs no input image.",
        "latent-map": r"The encoder's mean $\mu(x)$ of every image, coloured by the digit's "
        "label, which the VAE never saw: similar digits land together.",
        "decoded-grid": r"The decoder along a grid of prior quantiles of $(z_1, z_2)$: the "
        "latent space is a continuous map of digit shapes.",
    }
    for name, fig in figures(trainer, state, data).items():
        section.figure(fig, name, captions.get(name, name), code=SNIPPETS[name])

    _digit_metric(section, ctx, trainer, state)

    section.heading3("How good a density model: ELBO and IWAE on held-out digits")
    ctx.progress(f"VAE: test bounds with k = {config.iwae_k} importance samples")
    m = trainer.metrics(state, seed=ctx.seed)
    base = m["baseline_independent_pixels"]
    beats = m["test_elbo"] > base and m["test_iwae"] > base
    table = pd.DataFrame(
        {
            "log-likelihood (nats per image)": [
                m["test_elbo"],
                m["test_iwae"],
                m["train_elbo"],
                base,
            ]
        },
        index=[
            "VAE: ELBO, test",
            f"VAE: IWAE bound, k = {m['iwae_k']:,}, test",
            "VAE: ELBO, training",
            "independent pixels (Bernoulli), test",
        ],
    )
    section.text(
        r"The ELBO bounds $\log p(x)$ from below; so does the importance-weighted bound"
        r"$$\mathrm{IWAE}_k = \mathbb{E}_{z_1, \ldots, z_k \sim q(z \mid x)} \log \frac{1}{k} "
        r"\sum_{i=1}^k \frac{p(x, z_i)}{q(z_i \mid x)},$$"
        r"which equals the ELBO for $k = 1$ and tightens towards $\log p(x)$ as $k$ grows "
        "(Burda, Grosse &amp; "
        "Salakhutdinov 2016). Both are compared with the model that treats the 64 pixels "
        "as independent coins, each with its training frequency.",
        raw=True,
    )
    section.table(
        table,
        f"Held-out log-likelihood bounds on the {len(data['x_test'])} test digits (higher "
        f"is better; ELBO Monte Carlo standard error {m['test_elbo_mcse']:.3f}). IWAE minus "
        f"ELBO: {m['test_iwae'] - m['test_elbo']:.2f} nats; the VAE beats the "
        f"independent-pixel baseline by {m['test_iwae'] - base:.2f} nats per image: "
        f"{'yes' if beats else 'NO'}.",
        digits=5,
    )

    section.heading3("Why the reparameterisation trick matters")
    section.text(_REPARAM, raw=True)
    ctx.progress("VAE: gradient variance of the two estimators")
    grad = trainer.gradient_variance(state, seed=ctx.seed)
    ratio = float(grad["ratio"].iloc[-1])
    section.table(
        grad.set_index("estimator"),
        r"Variance per coordinate of single-sample estimates of $\nabla_{(\mu, \log "
        r"\sigma)} \mathcal{L}$, "
        f"averaged over {int(grad['images'].iloc[0])} test images; "
        f"{int(grad['samples'].iloc[0]):,} draws each. The score-function estimator's "
        f"variance is {ratio:,.0f} times larger, so it would need about that many more "
        "samples per step for the same precision. max_abs_z: the largest difference of "
        "the two estimators' means in standard errors — both are unbiased for the same "
        "gradient.",
        digits=4,
    )
