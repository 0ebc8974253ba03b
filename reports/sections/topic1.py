"""Topic 1: moments, likelihood, MLE vs MAP, Bayesian linear regression."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd

from ... import diagnostics, models
from ...models import linear_regression as lr
from .. import figures
from ..context import Context
from ..html import Section

# The Python behind each figure, shown under it ("Reproduce"); run as written.
SNIPPETS = {
    "posterior-vs-exact": """\
import bayesmin

spec = bayesmin.get("linear_regression")
data = spec.simulate(0)
runs = {s: bayesmin.sample(spec, s, data=data, draws=500, tune=500, chains=2, progress=False)
        for s in ("nuts:numpyro", "nuts:pymc")}
exact = spec.exact(data)["w"]  # the Gaussian posterior N(m_N, S_N)
""",
    "trace": """\
import arviz as az
import bayesmin

spec = bayesmin.get("linear_regression")
data = spec.simulate(0)
idata = bayesmin.sample(spec, "nuts", data=data, draws=500, tune=500, chains=2, progress=False)
summary = az.summary(idata)  # the figure is az.plot_trace(idata, kind="rank_bars")
""",
    "ess-per-second": """\
import bayesmin

spec = bayesmin.get("linear_regression")
data = spec.simulate(0)
runs = {s: bayesmin.sample(spec, s, data=data, draws=500, tune=500, chains=2, progress=False)
        for s in ("nuts:numpyro", "nuts:pymc")}
table = bayesmin.compare(runs, spec.exact(data))
ess_per_second = table["ess_bulk_per_second"]
""",
    "unknown-noise": """\
import bayesmin

spec = bayesmin.get("linear_regression_unknown_noise")
data = spec.simulate(0)
idata = bayesmin.sample(spec, "nuts", data=data, draws=500, tune=500, chains=2, progress=False)
z = bayesmin.diagnostics.z_scores(idata, spec.exact(data))  # Normal-Gamma posterior
""",
    "polynomial-fits": """\
from bayesmin.models import linear_regression as lr

sweep, curves = lr.polynomial_sweep(seed=0)
fits = curves["fits"]  # per degree: "mle", "map", "bayes_mean", "bayes_sd" on curves["grid"]
""",
    "polynomial-scores": """\
from bayesmin.models import linear_regression as lr

sweep, curves = lr.polynomial_sweep(seed=0)
scores = sweep[["degree", "test_rmse_mle", "test_lpd_bayes", "log_evidence"]]
""",
}


def _model_graph(section: Section, model) -> None:
    # pm.model_to_graphviz needs the graphviz binaries (`dot`), an optional extra.
    if shutil.which("dot") is None:
        section.text(
            "Model graph: install Graphviz (the `dot` program) and the `graph` extra to draw it."
        )
        return
    import pymc as pm

    graph = pm.model_to_graphviz(model)
    png = graph.pipe(format="png")
    target = section.out_dir / "figures" / f"{section.prefix}model-graph.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(png)
    from ..html import Block

    section.blocks.append(
        Block("figure", src=f"figures/{target.name}", caption="The declarative PyMC model.")
    )


def build(section: Section, ctx: Context) -> None:
    section.text(
        r"The course's regression model is $p(t \mid X, w) = \mathcal{N}(t \mid Xw, "
        r"\beta^{-1} I)$ with prior $w \sim \mathcal{N}(0, \alpha^{-1} I)$. Maximum "
        r"likelihood gives least squares, $\|t - Xw\|^2 \to \min_w$; maximum a posteriori "
        r"adds the prior, $-\frac{\beta}{2} \|t - Xw\|^2 - \frac{\alpha}{2} \|w\|^2 \to "
        r"\max_w$, which is ridge regression with $\lambda = \alpha / \beta$. The full "
        r"posterior is Gaussian, $\mathcal{N}(m_N, S_N)$ with $S_N = (\alpha I + \beta X^T "
        r"X)^{-1}$ and $m_N = \beta S_N X^T t$ (Bishop 2006, §3.3); each sampler below is "
        "checked against it."
    )
    spec = models.get("linear_regression")
    data = spec.simulate(ctx.seed)
    exact = spec.exact(data)

    section.heading3("The data and the model")
    frame = pd.DataFrame(data["X"], columns=[f"x{j}" for j in range(data["X"].shape[1])])
    frame["t"] = data["t"]
    section.table(
        frame.head(6),
        f"First rows of {len(frame)} simulated observations (x0 is the intercept); "
        rf"$\alpha = {data['alpha']:g}$, $\beta = {data['beta']:g}$.",
    )
    model = spec.pymc(data)
    _model_graph(section, model)

    section.heading3("MLE, MAP and the exact posterior")
    ctx.progress("MAP of the declarative model")
    import pymc as pm

    map_point = pm.find_MAP(model=model, progressbar=False)
    w_ml = lr.mle(data["X"], data["t"])
    w_map = lr.map_estimate(data["X"], data["t"], data["alpha"], data["beta"])
    runs = {}
    for sampler in ctx.profile.samplers:
        runs[sampler] = ctx.sample(spec, sampler, data=data)
    nuts = runs[ctx.profile.samplers[0]]
    post_w = nuts.posterior["w"].values.reshape(-1, data["X"].shape[1])
    estimates = pd.DataFrame(
        {
            "MLE (least squares)": w_ml,
            "MAP (ridge, λ = α/β)": w_map,
            "MAP of the PyMC model": np.asarray(map_point["w"]),
            "exact posterior mean": exact["w"].mean,
            "exact posterior sd": exact["w"].sd,
            f"{ctx.profile.samplers[0]} mean": post_w.mean(axis=0),
            f"{ctx.profile.samplers[0]} sd": post_w.std(axis=0, ddof=1),
        },
        index=[f"w[{j}]" for j in range(len(w_ml))],
    )
    section.table(
        estimates,
        "Ridge and the optimiser on the declarative model agree; with a Gaussian "
        "posterior the MAP is also the posterior mean.",
        digits=5,
    )
    section.figure(
        figures.posterior_vs_exact(runs, exact),
        "posterior-vs-exact",
        "Each NUTS backend's draws (histograms) against the exact Gaussian marginals (black).",
        code=SNIPPETS["posterior-vs-exact"],
    )
    section.figure(
        figures.trace_plot(nuts),
        "trace",
        f"Rank bars and densities of the {nuts.attrs['sampler']} run.",
        code=SNIPPETS["trace"],
    )

    section.heading3("Moments of the posterior")
    mom = diagnostics.moments(nuts)
    table = mom.table.copy()
    table["exact mean"] = exact["w"].mean
    table["exact variance"] = exact["w"].sd ** 2
    section.table(table, "Mean, median, mode (KDE maximum), variance: the topic's vocabulary.")
    cov = pd.DataFrame(
        np.column_stack([mom.cov.to_numpy(), exact["w"].cov]),
        index=mom.cov.index,
        columns=[
            *(f"{c} (draws)" for c in mom.cov.columns),
            *(f"{c} (exact)" for c in mom.cov.columns),
        ],
    )
    section.table(cov, "Posterior covariance matrix: from the draws and exact.", digits=3)

    section.heading3("Sampler comparison")
    cmp = diagnostics.compare(runs, exact)
    section.table(
        cmp,
        "One row per backend (same data, same seed). max_abs_z: worst bias of a posterior "
        "mean or sd against the exact answer, in Monte Carlo standard errors.",
        digits=3,
    )
    section.figure(
        figures.ess_per_second_bars(cmp),
        "ess-per-second",
        "Bulk ESS per second.",
        code=SNIPPETS["ess-per-second"],
    )

    section.heading3("Unknown noise: the Normal–Gamma model")
    ctx.progress("Normal-Gamma regression")
    spec_u = models.get("linear_regression_unknown_noise")
    data_u = spec_u.simulate(ctx.seed)
    exact_u = spec_u.exact(data_u)
    run_u = ctx.sample(spec_u, ctx.profile.samplers[0], data=data_u)
    section.figure(
        figures.posterior_vs_exact({run_u.attrs["sampler"]: run_u}, exact_u),
        "unknown-noise",
        r"Noise precision $\beta$ and weights when $\beta$ is unknown: Gamma and Student-t "
        "marginals (black).",
        code=SNIPPETS["unknown-noise"],
    )
    z = diagnostics.z_scores(run_u, exact_u)
    section.table(z, "Bias against the exact Normal–Gamma posterior in MCSE units.", index=False)

    section.heading3("Overfitting: MLE against MAP and the posterior predictive")
    ctx.progress("polynomial sweep")
    sweep, curves = lr.polynomial_sweep(seed=ctx.seed)
    section.figure(
        _sweep_fits(curves), "polynomial-fits", _FITS_CAPTION, code=SNIPPETS["polynomial-fits"]
    )
    section.figure(
        _sweep_scores(sweep),
        "polynomial-scores",
        _SCORES_CAPTION,
        code=SNIPPETS["polynomial-scores"],
    )
    section.table(sweep.set_index("degree"), "Scores by polynomial degree (10 training points).")


_FITS_CAPTION = (
    r"Polynomial fits to 10 noisy points of $\sin(2\pi x)$: MLE (least squares) interpolates "
    r"the noise at high degree, MAP (ridge) stays smooth, and the posterior predictive adds "
    r"$\pm 2$ sd."
)
_SCORES_CAPTION = (
    "Left: RMSE on training and fresh test points. Right: mean test log predictive density "
    "of the MLE and MAP plug-ins and the full posterior predictive, and the log evidence."
)


def _sweep_fits(curves):
    degrees = [d for d in (1, 3, 9) if d in curves["fits"]]
    fig, axes = figures.subplots(1, len(degrees), figsize=(4 * len(degrees), 3), sharey=True)
    for ax, m in zip(np.atleast_1d(axes), degrees, strict=True):
        fit = curves["fits"][m]
        grid = curves["grid"]
        ax.fill_between(
            grid,
            fit["bayes_mean"] - 2 * fit["bayes_sd"],
            fit["bayes_mean"] + 2 * fit["bayes_sd"],
            color="C2",
            alpha=0.2,
            label="posterior predictive ±2 sd",
        )
        ax.plot(grid, curves["truth"], "k--", lw=1, label="sin(2πx)")
        ax.plot(grid, fit["mle"], "C3", label="MLE")
        ax.plot(grid, fit["map"], "C0", label="MAP")
        ax.plot(curves["x_train"], curves["t_train"], "ko", ms=4)
        ax.set_ylim(-2, 2)
        ax.set_title(f"degree {m}")
    np.atleast_1d(axes)[0].legend(fontsize=7, frameon=False, loc="lower left")
    fig.tight_layout()
    return fig


def _sweep_scores(sweep: pd.DataFrame):
    fig, (a, b) = figures.subplots(1, 2, figsize=(10, 3.2))
    d = sweep["degree"]
    a.plot(d, sweep["train_rmse_mle"], "C3o--", label="MLE train")
    a.plot(d, sweep["test_rmse_mle"], "C3o-", label="MLE test")
    a.plot(d, sweep["test_rmse_map"], "C0s-", label="MAP test")
    a.set_yscale("log")
    a.set_xlabel("degree")
    a.set_ylabel("RMSE")
    a.legend(fontsize=8, frameon=False)
    b.plot(d, sweep["test_lpd_mle"], "C3o-", label="MLE plug-in")
    b.plot(d, sweep["test_lpd_map"], "C0s-", label="MAP plug-in")
    b.plot(d, sweep["test_lpd_bayes"], "C2^-", label="posterior predictive")
    b.set_ylim(max(sweep["test_lpd_mle"].min(), -10), None)
    b.set_xlabel("degree")
    b.set_ylabel("test log predictive density")
    b2 = b.twinx()
    b2.plot(d, sweep["log_evidence"], "k:", label="log evidence")
    b2.set_ylabel("log evidence")
    b.legend(fontsize=8, frameon=False, loc="lower left")
    fig.tight_layout()
    return fig
