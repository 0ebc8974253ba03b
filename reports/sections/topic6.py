"""Topic 6: the EM algorithm — Gaussian mixtures, probabilistic PCA, GLAD.

The course's general scheme (maximise L(q, θ) = E_q log p(X, Z | θ) − E_q log q(Z)
alternately in q — the E-step, q = p(Z | X, θ) — and in θ — the M-step) run by one
jitted driver (:mod:`inference.em.driver`) on three models. The section shows that the
bound never decreases, checks each estimator against the library people use today, and
sets the point estimates beside NUTS on the same models written declaratively.
"""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.patches import Ellipse

from ... import models
from ...inference.em import PPCA, GaussianMixture
from .. import figures
from ..context import Context
from ..html import Section

__all__ = ["build"]


# The Python behind each figure, shown under it ("Reproduce"); run as written.
SNIPPETS = {
    "mixture-fit": """\
from bayesmin import get
from bayesmin.inference.em import GaussianMixture

data = get("gaussian_mixture").simulate(0, n=500, k=3, d=2, separation=4.0)
fit = GaussianMixture(3, n_init=5, random_state=0, tol=1e-6).fit(data["X"])
bounds = fit.lower_bounds_  # never decreasing
""",
    "ppca-map": """\
from sklearn.datasets import load_digits
from bayesmin.inference.em import PPCA

X = load_digits().data
z = PPCA(2).fit(X).transform(X)  # posterior means of z
""",
    "ppca-fill": """\
import numpy as np
from sklearn.datasets import load_digits
from bayesmin.inference.em import PPCA

X = load_digits().data
hidden = np.random.default_rng(0).random(X.shape) < 0.2
Xm = np.where(hidden, np.nan, X)
fit = PPCA(10, tol=1e-5).fit(Xm)  # EM with the hidden pixels as latent variables
""",
    "glad": """\
from bayesmin.inference.em import GLAD
from bayesmin.models import glad as glad_model

df, truth = glad_model.simulate(0, n_tasks=1000, n_workers=40, labels_per_task=5)
fit = GLAD().fit(df)
abilities, difficulties = fit.alphas_, fit.betas_
""",
}

_INTRO = (
    r"<b>EM</b> maximises the likelihood $\log p(X \mid \theta) \to \max_\theta$ of a model "
    r"with latent variables $Z$ through the lower bound"
    r"$$\mathcal{L}(q, \theta) = \int q(Z) \log \frac{p(X, Z \mid \theta)}{q(Z)} dZ = "
    r"\mathbb{E}_{q} \log p(X, Z \mid \theta) - \mathbb{E}_{q} \log q(Z) \leq \log p(X \mid "
    r"\theta).$$"
    r"The <b>E-step</b> maximises $\mathcal{L}$ in $q$: $q(Z) = p(Z \mid X, \theta)$, where "
    r"the bound touches the log-likelihood (the gap $\mathrm{KL}(q \| p(Z \mid X, \theta))$ "
    r"is 0). The <b>M-step</b> maximises $\mathcal{L}$ in $\theta$: $\theta^{\text{new}} = "
    r"\mathrm{argmax}_\theta \mathbb{E}_{Z \sim q(Z)} \log p(X, Z \mid \theta)$. Neither step can "
    r"lower $\mathcal{L}$, so the bound never decreases — every curve below is checked for "
    "that. All three models run through one jitted loop over their pure E-step, M-step and "
    "bound."
)


def _ellipse(ax, mean, cov, color):
    vals, vecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1]))
    for n_sd in (1, 2):
        w, h = 2 * n_sd * np.sqrt(vals[::-1])
        ax.add_patch(
            Ellipse(mean, w, h, angle=angle, fill=False, color=color, lw=1.5, alpha=0.9 / n_sd)
        )


def _mixtures(section: Section, ctx: Context) -> None:
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    section.heading3("Gaussian mixtures")
    ctx.progress("mixture: EM")
    spec = models.get("gaussian_mixture")
    data = spec.simulate(ctx.seed, n=500, k=3, d=2, separation=4.0)
    X = data["X"]
    fit = GaussianMixture(3, n_init=5, random_state=ctx.seed, tol=1e-6).fit(X)
    theirs = SkGaussianMixture(3, n_init=5, random_state=ctx.seed, tol=1e-6).fit(X)

    fig, (ax1, ax2) = figures.subplots(1, 2, figsize=(11, 4.2))
    labels = fit.predict(X)
    ax1.scatter(X[:, 0], X[:, 1], c=labels, s=8, cmap="viridis", alpha=0.6)
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 1, 3))
    for k in range(3):
        _ellipse(ax1, fit.means_[k], fit.covariances_[k], colors[k])
    ax1.set_title("EM fit: 1 and 2 standard-deviation ellipses")
    # A fresh run from a random start, to show a longer climb of the bound.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        climb = GaussianMixture(3, init_params="random", tol=1e-8, max_iter=300,
                                random_state=ctx.seed).fit(X)  # fmt: skip
    ax2.plot(np.arange(1, climb.n_iter_ + 1), climb.lower_bounds_, "o-", ms=3)
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("L(q, θ) per observation")
    ax2.set_title("the bound climbs (random start)")
    fig.tight_layout()
    monotone = bool(np.all(np.diff(climb.lower_bounds_) >= -1e-10))
    section.figure(
        fig,
        "mixture-fit",
        f"Left: three components found by EM (5 restarts). Right: the bound at every "
        f"iteration from a random start — never decreasing: {'yes' if monotone else 'NO'}.",
        code=SNIPPETS["mixture-fit"],
    )

    rows = []
    for k in range(1, 6):
        ours = GaussianMixture(k, n_init=3, random_state=ctx.seed).fit(X)
        sk = SkGaussianMixture(k, n_init=3, random_state=ctx.seed).fit(X)
        rows.append(
            {
                "K": k,
                "bound (bayesmin)": ours.lower_bound_,
                "bound (scikit-learn)": sk.lower_bound_,
                "BIC (bayesmin)": ours.bic(X),
                "BIC (scikit-learn)": sk.bic(X),
            }
        )
    table = pd.DataFrame(rows).set_index("K")
    best = int(table["BIC (bayesmin)"].idxmin())
    section.table(
        table,
        f"Choosing $K$ by BIC: the lowest is $K = {best}$ (the data have 3 components). "
        f"At $K = 3$, bound {fit.lower_bound_:.6f} here, {theirs.lower_bound_:.6f} with "
        "scikit-learn.",
        digits=5,
    )

    ctx.progress("mixture: NUTS on the declarative model")
    small = spec.simulate(ctx.seed, n=150, k=3, d=2)
    idata = ctx.sample("gaussian_mixture", "nuts", data=small)
    post_mean = idata.posterior["locs"].mean(("chain", "draw")).values
    post_sd = idata.posterior["locs"].std(("chain", "draw")).values
    em_fit = GaussianMixture(3, covariance_type="diag", n_init=3, random_state=0).fit(small["X"])
    order = np.argsort(em_fit.means_[:, 0])
    comp = pd.DataFrame(
        {
            "component": np.arange(3),
            "EM mean[0]": em_fit.means_[order, 0],
            "NUTS mean[0]": post_mean[:, 0],
            "NUTS sd[0]": post_sd[:, 0],
            "EM mean[1]": em_fit.means_[order, 1],
            "NUTS mean[1]": post_mean[:, 1],
            "NUTS sd[1]": post_sd[:, 1],
        }
    ).set_index("component")
    section.table(
        comp,
        "The same mixture written declaratively (NumPyro, $z$ enumerated) and sampled with "
        "NUTS, beside EM (diagonal covariances, as the declarative model). Label "
        "switching — $K!$ identical posterior modes — is broken by ordering the components "
        "on their first coordinate; EM's components are sorted the same way.",
        digits=3,
    )


def _ppca(section: Section, ctx: Context) -> None:
    from sklearn.datasets import load_digits

    section.heading3("Probabilistic PCA on the digits, with missing pixels")
    ctx.progress("PPCA: digits")
    digits = load_digits()
    X, y = digits.data, digits.target
    latent = PPCA(2).fit(X)
    Z = latent.transform(X)
    fig, ax = figures.subplots(figsize=(6, 5))
    sc = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", s=6, alpha=0.7)
    fig.colorbar(sc, ax=ax, label="digit")
    ax.set_xlabel("E[z₁ | x]")
    ax.set_ylabel("E[z₂ | x]")
    ax.set_title("2-D latent map of 1,797 digits (8×8 pixels)")
    fig.tight_layout()
    section.figure(
        fig,
        "ppca-map",
        r"Posterior means $\mathbb{E}[z \mid x]$ under PPCA, $p(x, z \mid \theta) = "
        r"\mathcal{N}(x \mid \mu + Wz, \sigma^2 I) \, \mathcal{N}(z \mid 0, I)$, with latent "
        r"dimension $d = 2$.",
        code=SNIPPETS["ppca-map"],
    )

    rng = np.random.default_rng(ctx.seed)
    hidden = rng.random(X.shape) < 0.2
    Xm = np.where(hidden, np.nan, X)
    fit = PPCA(10, tol=1e-5).fit(Xm)
    filled = fit.impute(Xm)
    colmean = np.where(hidden, np.nanmean(Xm, axis=0)[None, :], Xm)
    rmse = {
        "PPCA (d = 10), EM with missing values": np.sqrt(np.mean((filled - X)[hidden] ** 2)),
        "column means": np.sqrt(np.mean((colmean - X)[hidden] ** 2)),
    }
    section.table(
        pd.DataFrame({"RMSE on the hidden pixels": rmse}),
        "20% of the pixels hidden at random; EM fits PPCA on the rest (the missing "
        "pixels are integrated out in the E-step) and fills each hidden pixel with its "
        "conditional mean.",
        digits=3,
    )
    fig, axes = figures.subplots(3, 6, figsize=(9, 4.6))
    for j in range(6):
        for row, img, title in ((0, X[j], "original"), (1, Xm[j], "20% hidden"),
                                (2, filled[j], "PPCA fill")):  # fmt: skip
            ax = axes[row, j]
            ax.imshow(np.ma.masked_invalid(img.reshape(8, 8)), cmap="gray_r", vmin=0, vmax=16)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(title, fontsize=9)
    fig.tight_layout()
    section.figure(
        fig,
        "ppca-fill",
        "Hidden pixels (white) and their PPCA reconstruction.",
        code=SNIPPETS["ppca-fill"],
    )
    monotone = bool(np.all(np.diff(fit.lower_bounds_) >= -1e-9))
    section.text(
        f"EM on the incomplete digits: {fit.n_iter_} iterations, $\\sigma^2 = "
        f"{fit.noise_variance_:.3f}$, bound never decreasing: {'yes' if monotone else 'NO'}."
    )


def _glad(section: Section, ctx: Context) -> None:
    from scipy import stats

    from ...inference.em import GLAD, DawidSkene
    from ...models import glad as glad_model

    section.heading3("GLAD: whose vote should count more")
    ctx.progress("GLAD: EM on simulated crowd labels")
    df, truth = glad_model.simulate(ctx.seed, n_tasks=1000, n_workers=40, labels_per_task=5)
    fit = GLAD().fit(df)
    ds = DawidSkene().fit(df)
    mv = glad_model.majority_vote(df)
    z = pd.Series(truth["z"], index=pd.RangeIndex(len(truth["z"])))

    def accuracy(labels):
        return float((labels.reindex(z.index).to_numpy() == z.to_numpy()).mean())

    section.text(
        r"Each task $i$ has a true label $z_i$; worker $j$ labels it ($l_{ij}$) correctly "
        r"with probability $\sigma(\alpha_j \beta_i)$ — ability $\alpha_j \in \mathbb{R}$ "
        r"(negative: adversarial), inverse difficulty $\beta_i > 0$ (Whitehill et al. 2009). "
        r"The E-step is the exact posterior of each $z_i$,"
        r"$$q_i^*(z_i) \propto p(z_i) \prod_j \sigma(\alpha_j \beta_i)^{[l_{ij} = z_i]} "
        r"\sigma(-\alpha_j \beta_i)^{[l_{ij} \neq z_i]};$$"
        r"the M-step maximises $\mathbb{E}_{z \sim q(z)} \log p(z, l \mid \alpha, \beta)$ "
        "plus the priors with L-BFGS. (The course writes this M-step as a minimisation and "
        r"$\sigma(\alpha_j, \beta_i)$ for $\sigma(\alpha_j \beta_i)$; the code does the "
        "standard maximisation.)",
        raw=True,
    )
    table = pd.DataFrame(
        {
            "accuracy": {
                "GLAD (EM)": accuracy(fit.labels_),
                "Dawid–Skene (EM)": accuracy(ds.labels_),
                "majority vote": accuracy(mv),
            }
        }
    )
    section.table(
        table,
        "1,000 tasks, 40 workers, 5 labels per task, simulated from the GLAD model (about one "
        "worker in six adversarial): accuracy against the true labels.",
        digits=4,
    )
    alpha_true = truth["alpha"]
    alpha_hat = fit.alphas_.reindex(range(len(alpha_true))).to_numpy()
    rho = stats.spearmanr(alpha_true, alpha_hat).statistic
    fig, (ax1, ax2) = figures.subplots(1, 2, figsize=(10, 4))
    ax1.scatter(alpha_true, alpha_hat, s=18)
    lim = [min(alpha_true.min(), alpha_hat.min()), max(alpha_true.max(), alpha_hat.max())]
    ax1.plot(lim, lim, color="0.6", lw=1)
    ax1.axhline(0, color="0.85", lw=1)
    ax1.axvline(0, color="0.85", lw=1)
    ax1.set_xlabel("true ability α")
    ax1.set_ylabel("EM estimate α̂")
    ax1.set_title(f"worker abilities (Spearman {rho:.3f})")
    ax2.plot(np.arange(1, fit.n_iter_ + 1), fit.lower_bounds_, "o-", ms=3)
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("L(q, θ) per label")
    ax2.set_title("GLAD's bound")
    fig.tight_layout()
    monotone = bool(np.all(np.diff(fit.lower_bounds_) >= -1e-9))
    section.figure(
        fig,
        "glad",
        f"Left: fitted against true worker abilities; adversarial workers ($\\alpha_j < 0$) are "
        f"found. Right: the bound per iteration — never decreasing: "
        f"{'yes' if monotone else 'NO'}.",
        code=SNIPPETS["glad"],
    )


def build(section: Section, ctx: Context) -> None:
    """Fill ``section`` with topic 6: EM on mixtures, PPCA and GLAD."""
    section.text(_INTRO, raw=True)
    _mixtures(section, ctx)
    _ppca(section, ctx)
    _glad(section, ctx)
