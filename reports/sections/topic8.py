"""Topic 8: Metropolis–Hastings, Markov chains and detailed balance.

Four parts: the MH rule; a finite-state chain where invariance, detailed balance and
``p_n → p*`` are exact matrix computations (:mod:`diagnostics.markov`, which holds the
theory: :func:`~diagnostics.markov.finite_chain`, :func:`~diagnostics.markov.efficient_band`),
with the Hastings correction and without it; our JAX MH (``inference.sample(..., "mh")``)
on the banana — traces, a sweep of fixed proposal scales (acceptance rate, ESS per step,
autocorrelation); and MH against NumPyro's NUTS on three benchmark models. This module
holds the text, figures and tables.

Compile time dominates a quick report; the proposal scale is an argument of MH's
compiled program, so every scale of the sweep reuses one executable per target.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import arviz as az
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.linalg import block_diag

from ... import diagnostics, inference, models
from ...diagnostics import markov
from .. import figures
from ..context import Context
from ..html import Section, verdict_list
from ..mathml import typeset

__all__ = ["BENCHMARKS", "SCALES", "build", "scale_sweep"]


# The Python behind each figure, shown under it ("Reproduce"); run as written.
_SWEEP = """\
import arviz as az
import numpy as np
import bayesmin
from scipy.linalg import block_diag


def sweep(name, scales=(0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 6.0)):
    \"\"\"Random-walk MH, proposal N(x, s^2 Sigma) with Sigma the target's covariance.\"\"\"
    spec = bayesmin.get(name)
    data = spec.simulate(0)
    exact = spec.exact(data)
    cov = block_diag(*(np.diag(np.ravel(r.sd) ** 2) if r.cov is None else r.cov
                       for r in exact.values()))
    runs = {s: bayesmin.sample(spec, "mh", data=data, adapt=False, scale=s, cov=cov,
                               draws=5000, tune=500, chains=8, seed=0, progress=False)
            for s in scales}
    acceptance = {s: float(r.sample_stats["acceptance_rate"].mean()) for s, r in runs.items()}
    ess_per_step = {s: float(az.ess(r, method="bulk").to_array().min()) / (8 * 5000)
                    for s, r in runs.items()}
    return runs, acceptance, ess_per_step


runs, acceptance, ess_per_step = sweep("banana")
best = max(ess_per_step, key=ess_per_step.get)  # the most efficient scale
"""
SNIPPETS = {
    "markov-convergence": """\
import numpy as np
from bayesmin.diagnostics import markov

chain = markov.finite_chain(20, 0.75)  # 20 states in a ring; proposal steps right w.p. 0.75
p0 = np.eye(20)[0]  # all mass on state 0
p_n = markov.step_distributions(chain.P, p0, (0, 10, 100, 1000))
limit_without_hastings = markov.stationary_distribution(chain.P_wrong)
n_steps = int(np.ceil(12.0 / markov.spectral_gap(chain.P)))
tv = {P: markov.convergence(getattr(chain, P), 0, n_steps, target=chain.target)
      for P in ("P", "P_sym", "P_wrong")}  # MH, symmetric q, no Hastings correction
bound = markov.tv_bound(chain.P, chain.target, tv["P"]["step"].to_numpy())
""",
    "banana-paths": _SWEEP
    + """paths = {s: (runs[s].posterior["x1"].values, runs[s].posterior["x2"].values)
         for s in (0.1, best, 6.0)}  # the figure: 600 steps of chain 0, 6,000 of 4 chains
""",
    "scale-sweep": _SWEEP
    + """gaussian = sweep("correlated_gaussian")
""",
    "autocorrelation": _SWEEP
    + """rho = {s: {v: az.autocorr(runs[s].posterior[v].values.ravel())[:201] for v in ("x1", "x2")}
       for s in (0.1, best)}  # the figure: az.plot_autocorr(runs[s], combined=True)
""",
    "mh-vs-nuts-ess-per-second": """\
import bayesmin

tables = {}
for name in ("banana", "correlated_gaussian", "eight_schools_noncentered"):
    spec = bayesmin.get(name)
    data = spec.simulate(0)
    runs = {"mh": bayesmin.sample(spec, "mh", data=data, draws=5000, tune=5000, chains=2,
                                  seed=0, progress=False),
            "nuts:numpyro": bayesmin.sample(spec, "nuts:numpyro", data=data, draws=500,
                                            tune=500, chains=2, seed=0, progress=False)}
    exact = spec.exact(data) if spec.exact is not None else None
    tables[name] = bayesmin.compare(runs, exact)  # ess_bulk_per_second and more
""",
    "banana-mh-trace": """\
import arviz as az
import bayesmin

spec = bayesmin.get("banana")
data = spec.simulate(0)
idata = bayesmin.sample(spec, "mh", data=data, draws=5000, tune=5000, chains=2, seed=0,
                        progress=False)  # adaptive: scale and proposal covariance learned
summary = az.summary(idata)  # the figure is az.plot_trace(idata, kind="rank_bars")
scale = float(idata.sample_stats["proposal_scale"].mean())
""",
}

# ---- finite chain
K_STATES = 20
P_RIGHT = 0.75  # proposal moves right with this probability: asymmetric
SHOWN_STEPS = (0, 10, 100, 1000)

# ---- MH on continuous targets
# Proposal N(x, s² Σ), Σ the target's covariance; s = 2.38/√d is the Gaussian optimum.
SCALES = (0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 6.0)
SWEEP_TARGETS = ("banana", "correlated_gaussian")
SWEEP_CHAINS = 8  # vectorised, so more chains cost little and steady the ESS estimates
MH_FACTOR = 10  # MH draws (and warm-up) per NUTS draw: its steps are cheap
PATH_STEPS = 600  # steps of chain 0 drawn over the banana
SHOWN_CHAINS = 4  # chains in the trace panels

BENCHMARKS = ("banana", "correlated_gaussian", "eight_schools_noncentered")
NUTS = "nuts:numpyro"
# Runs with an exact answer are judged by diagnostics.verdict; short illustrative runs are
# not held to its bulk-ESS bound (the page says so), and the bias must have been checked.
VERDICT = {"ess_min": None, "require_reference": True}

_INTRO = (
    r"<b>The Metropolis–Hastings rule.</b> To sample $p(x) = \hat{p}(x) / B$, known only up "
    r"to the constant $B$, build a Markov chain: from the current state $x$ propose $x' \sim "
    r"q(x' \mid x)$ and move there with probability"
    r"$$A(x, x') = \min\left(1, \frac{\hat{p}(x') q(x \mid x')}{\hat{p}(x) q(x' \mid x)}"
    r"\right);$$"
    r"otherwise stay at $x$ (the repeat counts as a draw). $B$ cancels in the ratio, and "
    r"$p(x) P(x \to x') = \min(p(x) q(x' \mid x), p(x') q(x \mid x'))$ is symmetric in $x, "
    r"x'$: <b>detailed balance</b>, so $p$ is invariant, and an ergodic chain's distribution "
    r"$p_n$ tends to it from any start (as $n \to \infty$, not exactly after a finite $N$). "
    r"For a symmetric proposal (a Gaussian random walk) the $q$ terms cancel — Metropolis's "
    "original rule; for an asymmetric one they are the Hastings correction and cannot be "
    r"dropped. (The course calls $A(x, x')$ the probability of the move <i>from $x'$ to "
    r"$x$</i>; the formula it gives is for the move from the current $x$ to the proposal "
    r"$x'$, as above.)"
)


# ------------------------------------------------------------------- finite chain


def convergence_figure(chain: markov.FiniteChain, start: int, n_steps: int):
    K = chain.target.size
    p0 = np.zeros(K)
    p0[start] = 1.0
    fig, (left, right) = figures.subplots(1, 2, figsize=(11, 3.6))
    states = np.arange(K)
    left.bar(states, chain.target, color="0.8", label="target p*")
    for i, (n, p) in enumerate(markov.step_distributions(chain.P, p0, SHOWN_STEPS).items()):
        label = f"p_n, n = {n}" if n else f"p_0: all mass on state {start}"
        left.step(states, p, where="mid", color=f"C{i}", lw=1.4, label=label)
    wrong = markov.stationary_distribution(chain.P_wrong)
    left.plot(states, wrong, "k--", lw=1.2, label="limit without Hastings")
    left.set_ylim(0, 1.6 * max(chain.target.max(), wrong.max()))
    left.set_xlabel("state")
    left.set_ylabel("probability")
    left.legend(fontsize=7, frameon=False, ncol=2)

    tv = markov.convergence(chain.P, start, n_steps, target=chain.target)
    tv_wrong = markov.convergence(chain.P_wrong, start, n_steps, target=chain.target)
    tv_sym = markov.convergence(chain.P_sym, start, n_steps, target=chain.target)
    bound = markov.tv_bound(chain.P, chain.target, tv["step"].to_numpy())
    right.semilogy(tv["step"], tv["tv"], "C0-", lw=1.6, label="MH (Hastings), ‖p_n − p*‖_TV")
    right.semilogy(tv["step"], bound, "C0:", lw=1.4, label="spectral-gap bound")
    right.semilogy(tv_sym["step"], tv_sym["tv"], "C2-", lw=1.2, label="symmetric q, Metropolis")
    right.semilogy(tv_wrong["step"], tv_wrong["tv"], "C3--", lw=1.4, label="no Hastings correction")
    right.set_ylim(max(1e-8, float(tv["tv"].min()) / 3), 1.5)
    right.set_xlabel("step n")
    right.set_ylabel("total variation to the target")
    right.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _finite_state(section: Section, ctx: Context) -> None:
    section.heading3("A finite chain: detailed balance and convergence to the target")
    ctx.progress("finite-state Markov chain")
    chain = markov.finite_chain(K_STATES, P_RIGHT)
    gap = markov.spectral_gap(chain.P)
    n_steps = int(np.ceil(12.0 / gap))
    start = 0
    section.text(
        rf"On {K_STATES} states in a ring, a bimodal target $p_*$ (a discretised "
        "two-Gaussian mixture) and a nearest-neighbour proposal that steps right with "
        f"probability {P_RIGHT:g}, left with {1 - P_RIGHT:g}: asymmetric, "
        r"$q(x' \mid x) \neq q(x \mid x')$. Everything below is exact linear algebra on the "
        r"transition matrix $P$ ($P_{ij} = q(j \mid i) A(i, j)$ off the diagonal; rejections "
        f"stay on it), not simulation. The chain starts in state {start}; $p_n = p_0 P^n$. "
        "For a reversible chain"
        r"$$\|p_n - p_*\|_{TV} \leq \frac{1}{2} \sqrt{\frac{1 - \pi_{\min}}{\pi_{\min}}} "
        r"\lambda_*^n, \qquad \lambda_* = 1 - \text{spectral gap}$$"
        "(Diaconis &amp; Stroock 1991; Levin, Peres &amp; Wilmer 2017, §12.2).",
        raw=True,
    )
    section.figure(
        convergence_figure(chain, start, n_steps),
        "markov-convergence",
        "Left: $p_n$ after 0, 10, 100 and 1000 steps of MH against the target (grey bars), "
        "and where the chain goes without the Hastings correction (dashed). Right: total "
        "variation to the target, log scale: MH falls geometrically under its spectral-gap "
        "bound; without the correction the chain converges — to the wrong distribution.",
        code=SNIPPETS["markov-convergence"],
    )
    section.table(
        markov.finite_chain_table(chain),
        r"Detailed balance $\pi_i P_{ij} = \pi_j P_{ji}$ checked for every pair of states, "
        r"and the distance from each chain's stationary distribution (left eigenvector of "
        r"$P$) to the "
        "target. Dropping the Hastings correction under an asymmetric proposal breaks both; "
        "under a symmetric proposal the correction is 1 and nothing is lost.",
        digits=3,
        index=False,
    )


# ------------------------------------------------------------------- scale sweep


def _target_cov(ld, exact: Mapping[str, Any]) -> np.ndarray:
    """The target's covariance in the flat order of ``ld`` (block-diagonal across variables)."""
    blocks = []
    for name, value in ld.unravel(jnp.zeros(ld.dim)).items():
        ref = exact[name]
        size = int(np.size(value))
        cov = ref.cov if ref.cov is not None else np.diag(np.ravel(ref.sd) ** 2)
        blocks.append(np.asarray(cov, dtype=float).reshape(size, size))
    return block_diag(*blocks)


@dataclass
class Sweep:
    """MH runs at fixed proposal scales on one target."""

    name: str
    table: pd.DataFrame  # one row per scale
    runs: dict[float, az.InferenceData]
    ld: Any


def scale_sweep(name: str, *, draws: int, tune: int, seed: int) -> Sweep:
    """Random-walk MH with proposal N(x, s² Σ) for each s in :data:`SCALES`, no adaptation.

    Every scale is one ``inference.sample(spec, "mh", adapt=False, scale=s, ...)`` from
    the same starting points; the scale is an argument of MH's compiled program, not a
    constant in it, so all scales run one executable.
    """
    spec = models.get(name)
    data = spec.simulate(seed)
    # The same traced log density inference.sample uses (cached by model and data).
    ld = inference.resolve_target(spec, data).logdensity
    cov = _target_cov(ld, spec.exact(data))
    start = np.asarray(ld.initial_positions(seed, SWEEP_CHAINS))
    runs, rows = {}, []
    for scale in SCALES:
        idata = inference.sample(
            spec,
            "mh",
            adapt=False,
            scale=scale,
            cov=cov,
            initial_positions=start,
            draws=draws,
            tune=tune,
            chains=SWEEP_CHAINS,
            seed=seed,
            data=data,
            progress=False,
        )
        ess = az.ess(idata, method="bulk")
        ess_min = min(float(np.min(ess[v].values)) for v in ess.data_vars)
        runs[scale] = idata
        rows.append(
            {
                "target": name,
                "scale s": scale,
                "s·√d / 2.38": scale * np.sqrt(ld.dim) / 2.38,
                "acceptance rate": float(idata.sample_stats["acceptance_rate"].mean()),
                "ESS bulk (worst)": ess_min,
                "ESS per step": ess_min / (SWEEP_CHAINS * draws),
            }
        )
    return Sweep(name, pd.DataFrame(rows), runs, ld)


def sweep_figure(sweeps: list[Sweep]):
    fig, (left, right) = figures.subplots(1, 2, figsize=(11, 3.6))
    for i, sw in enumerate(sweeps):
        t = sw.table
        left.semilogx(t["scale s"], t["acceptance rate"], f"C{i}o-", label=sw.name)
        right.semilogy(t["acceptance rate"], t["ESS per step"], f"C{i}o-", label=sw.name)
        best = t["ESS per step"].idxmax()
        right.plot(
            t.loc[best, "acceptance rate"], t.loc[best, "ESS per step"], f"C{i}*", ms=14, mec="k"
        )
    for ax in (left, right):
        ax.legend(fontsize=7, frameon=False)
    left.axhline(markov.OPTIMAL_ACCEPTANCE, color="k", ls=":", lw=1)
    left.set_xlabel("proposal scale s (proposal N(x, s²Σ), log scale)")
    left.set_ylabel("acceptance rate")
    lo, hi = markov.efficient_band()
    right.axvspan(lo, hi, color="0.9", zorder=0)
    right.axvline(markov.OPTIMAL_ACCEPTANCE, color="k", ls=":", lw=1)
    right.text(markov.OPTIMAL_ACCEPTANCE, right.get_ylim()[0], " 0.234", fontsize=8, va="bottom")
    right.set_xlabel("acceptance rate")
    right.set_ylabel("worst bulk ESS per step (log scale)")
    fig.tight_layout()
    return fig


def paths_figure(sweep: Sweep, scales: list[float]):
    ld = sweep.ld
    names = list(sweep.runs[scales[0]].posterior.data_vars)
    x1 = np.linspace(-30, 30, 200)
    x2 = np.linspace(-25, 10, 200)
    g1, g2 = np.meshgrid(x1, x2)
    grid = jnp.asarray(np.column_stack([g1.ravel(), g2.ravel()]))
    logp = np.asarray(ld.batched_logdensity(grid)).reshape(g1.shape)
    fig, axes = figures.subplots(2, len(scales), figsize=(4 * len(scales), 6.4), squeeze=False)
    rates = sweep.table.set_index("scale s")["acceptance rate"]
    for j, scale in enumerate(scales):
        post = sweep.runs[scale].posterior
        a, b = (post[n].values for n in names)
        ax = axes[0, j]
        ax.contour(
            g1, g2, logp - logp.max(), levels=[-8, -4.5, -2, -0.5], colors="0.6", linestyles="-"
        )
        ax.plot(a[0, :PATH_STEPS], b[0, :PATH_STEPS], "C0.-", ms=2, lw=0.5, alpha=0.7)
        ax.set_title(f"s = {scale:g}: acceptance {rates[scale]:.2f}", fontsize=9)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax = axes[1, j]
        for c in range(min(a.shape[0], SHOWN_CHAINS)):
            ax.plot(a[c, : 10 * PATH_STEPS], lw=0.6, alpha=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel(names[0])
    fig.tight_layout()
    return fig


def autocorr_figure(sweep: Sweep, scales: list[float]):
    names = list(sweep.runs[scales[0]].posterior.data_vars)
    fig, axes = figures.subplots(len(scales), len(names), figsize=(9, 2.6 * len(scales)))
    axes = np.atleast_2d(axes)
    rates = sweep.table.set_index("scale s")["acceptance rate"]
    for i, scale in enumerate(scales):
        az.plot_autocorr(sweep.runs[scale], combined=True, max_lag=200, ax=axes[i], textsize=8)
        for ax, name in zip(axes[i], names, strict=True):
            ax.set_title(f"{name}, s = {scale:g} (acceptance {rates[scale]:.2f})", fontsize=9)
            ax.set_ylim(-0.25, 1.05)
            ax.set_xlabel("lag")
    fig.tight_layout()
    return fig


def _continuous(section: Section, ctx: Context) -> None:
    section.heading3("MH on a continuous target: the proposal scale")
    draws, tune = MH_FACTOR * ctx.profile.draws, ctx.profile.tune
    sweeps = []
    for name in SWEEP_TARGETS:
        ctx.progress(f"MH scale sweep on {name} ({len(SCALES)} scales, one compile)")
        sweeps.append(scale_sweep(name, draws=draws, tune=tune, seed=ctx.seed))
    banana = sweeps[0]
    t = banana.table
    best = float(t.loc[t["ESS per step"].idxmax(), "scale s"])
    small, large = SCALES[1], SCALES[-1]
    section.text(
        r"Random-walk MH, $x' = x + s L z$ with $z \sim \mathcal{N}(0, I)$ and $L L^T = "
        r"\Sigma$ the target's covariance (diagonal for the banana, whose coordinates are "
        r"uncorrelated), at fixed scales $s$ "
        f"with no adaptation: {SWEEP_CHAINS} chains of {draws} draws after {tune} steps of "
        "burn-in per scale. Small steps are almost always accepted but crawl; large steps "
        "jump far but are almost always refused. The course calls the scheme efficient "
        "when candidates are accepted often — the sweep shows that high acceptance alone "
        "is the small-step failure."
    )
    section.figure(
        paths_figure(banana, [small, best, large]),
        "banana-paths",
        f"Top: the first {PATH_STEPS} steps of one chain over the banana's density contours "
        f"for a small scale, the most efficient one of the sweep ($s = {best:g}$) and a large "
        f"one. Bottom: the first coordinate of {SHOWN_CHAINS} of the {SWEEP_CHAINS} chains "
        "against the step.",
        code=SNIPPETS["banana-paths"],
    )
    band = markov.efficient_band()
    accept = {
        sw.name: float(sw.table.loc[sw.table["ESS per step"].idxmax(), "acceptance rate"])
        for sw in sweeps
    }
    section.figure(
        sweep_figure(sweeps),
        "scale-sweep",
        "Left: acceptance rate against the proposal scale. Right: worst bulk ESS per MH "
        "step against the acceptance rate; the star marks each target's best scale. "
        r"Roberts, Gelman &amp; Gilks (1997) prove 0.234 optimal as $d \to \infty$ for "
        "targets of i.i.d. coordinates with a proposal shaped like the target; in that limit "
        r"the efficiency $2 \ell^2 \Phi(-\ell / 2)$ stays within 80% of its optimum for "
        f"acceptance rates {band[0]:.2f}–"
        f"{band[1]:.2f} (grey), and in low dimension the optimum is higher (0.44 in 1-D). "
        "Best scales accept: "
        + ", ".join(f"{name} {a:.2f}" for name, a in accept.items())
        + ". A Gaussian with a proposal of its own shape is the theory's setting; the "
        "curved banana, which no linear proposal fits, tends to do best with bolder, "
        "rarer moves.",
        code=SNIPPETS["scale-sweep"],
    )
    table = pd.concat([sw.table for sw in sweeps], ignore_index=True)
    section.table(
        table,
        r"The sweep in numbers: $s \sqrt{d} / 2.38 = 1$ is the Gaussian-optimal scale of "
        "Roberts et al.; ESS per step = worst bulk ESS over the coordinates / (chains "
        "times draws).",
        digits=3,
        index=False,
    )
    section.figure(
        autocorr_figure(banana, [small, best]),
        "autocorrelation",
        f"Autocorrelation of the banana chains (ArviZ, chains combined) for $s = {small:g}$, "
        f"where successive draws are nearly the same point, and for $s = {best:g}$, where it "
        r"dies out far sooner: the ESS is the number of draws divided by $1 + 2 \sum_k "
        r"\rho_k$, the sum running over these autocorrelations at lags $k \geq 1$.",
        code=SNIPPETS["autocorrelation"],
    )


# ------------------------------------------------------------------- MH vs NUTS


def _comparison(section: Section, ctx: Context) -> None:
    section.heading3("MH against NUTS on the benchmark models")
    p = ctx.profile
    mh_draws, mh_tune = MH_FACTOR * p.draws, MH_FACTOR * p.tune
    section.text(
        f"Our adaptive MH (warm-up tunes the scale towards acceptance "
        f"{markov.OPTIMAL_ACCEPTANCE} and learns the proposal covariance, Haario et al. 2001) gets "
        f"{MH_FACTOR} times the draws and warm-up of NumPyro's NUTS — {mh_draws} draws after "
        f"{mh_tune} warm-up per chain against {p.draws} after {p.tune} — because an MH step "
        "costs one log-density evaluation and a NUTS step up to $2^{10}$ gradients. Same chains "
        f"({p.chains}) and seed. Where the model has an exact answer, max_abs_z is the "
        "worst bias of a posterior mean or sd in Monte Carlo standard errors; eight schools "
        "has none (—)."
    )
    tables, runs_by_model, failures, exact_models = [], {}, {}, set()
    for name in BENCHMARKS:
        spec = models.get(name)
        data = spec.simulate(ctx.seed)
        runs = {}
        for label, kwargs in (("mh", dict(draws=mh_draws, tune=mh_tune)), (NUTS, {})):
            try:
                runs[label] = ctx.sample(spec, label, data=data, **kwargs)
            except Exception as err:  # one broken run must not hide the others
                failures[f"{name} / {label}"] = f"{type(err).__name__}: {err}"
        if not runs:
            continue
        exact = spec.exact(data) if spec.exact is not None else None
        if exact is not None:
            exact_models.add(name)
        table = diagnostics.compare(runs, exact)
        table.insert(0, "model", name)
        table.insert(2, "draws per chain", [int(r.posterior.sizes["draw"]) for r in runs.values()])
        tables.append(table)
        runs_by_model[name] = runs
    if not tables:
        raise RuntimeError(f"no benchmark run finished: {failures}")
    table = pd.concat(tables)
    table.index = [f"{m} / {r}" for m, r in zip(table["model"], table.index, strict=True)]
    table.index.name = "run"
    section.table(
        table.drop(columns=["model"]),
        "One row per model and sampler. ess_bulk_per_second counts sampling only; the "
        "figure below also shows it with compilation included.",
        digits=3,
    )
    if failures:
        items = "".join(
            f'<li><code>{html.escape(k)}</code>: <span class="fail">could not run: '
            f"{html.escape(v)}</span></li>"
            for k, v in failures.items()
        )
        section.html(f"<ul>{items}</ul>")
    bars = table.assign(sampler=table.index)
    section.figure(
        figures.ess_per_second_bars(bars),
        "mh-vs-nuts-ess-per-second",
        "Worst bulk ESS per second, sampling only and with compilation, per model and "
        "sampler (log scale).",
        code=SNIPPETS["mh-vs-nuts-ess-per-second"],
    )
    banana_mh = runs_by_model.get("banana", {}).get("mh")
    if banana_mh is not None:
        rate = float(banana_mh.sample_stats["acceptance_rate"].mean())
        scale = float(banana_mh.sample_stats["proposal_scale"].mean())
        section.figure(
            figures.trace_plot(banana_mh),
            "banana-mh-trace",
            f"Rank bars and densities of the adaptive MH run on the banana (adapted scale "
            f"{scale:.2f} on the learned covariance, acceptance {rate:.2f}); uniform rank "
            "bars across chains mean the chains agree.",
            code=SNIPPETS["banana-mh-trace"],
        )
    section.text(_comparison_summary(table))
    section.html(_verdicts(table, p.chains, exact_models))


def _comparison_summary(table: pd.DataFrame) -> str:
    """One sentence per model: NUTS over MH in ESS per draw and per second of sampling."""
    lines = []
    for model, rows in table.groupby("model", sort=False):
        by = {str(row["sampler"]).split(":")[0]: row for _, row in rows.iterrows()}
        if "mh" not in by or "nuts" not in by:
            continue
        mh_row, nuts_row = by["mh"], by["nuts"]
        per_draw = (nuts_row["ess_bulk_min"] / nuts_row["draws per chain"]) / (
            mh_row["ess_bulk_min"] / mh_row["draws per chain"]
        )
        per_second = nuts_row["ess_bulk_per_second"] / mh_row["ess_bulk_per_second"]
        lines.append(
            f"{model}: NUTS gives {per_draw:.3g}× the ESS per draw and {per_second:.2g}× "
            "the ESS per second of sampling"
        )
    if not lines:
        return ""
    return "Ratios NUTS / MH — " + "; ".join(lines) + "."


def _verdicts(table: pd.DataFrame, chains: int, exact_models: set[str]) -> str:
    """:func:`diagnostics.verdict` for each run of a model with an exact answer, and why
    the banana may fail."""
    judged = table[table["model"].isin(exact_models)]
    if judged.empty:
        return ""
    banana = judged[judged["model"] == "banana"]
    banana_failed = any(
        not diagnostics.verdict(row, **VERDICT).passed for _, row in banana.iterrows()
    )
    note = (
        "<p>Short runs rarely reach the banana's narrow, strongly curved arms (roughly "
        r"$|x_1| > 20$, $x_2 < -10$), so the sd of $x_2$ comes out too small, and the "
        "MCSE, estimated from the "
        "same draws, cannot know what was missed; for NUTS, divergences flag where one step "
        "size is too large for the curvature.</p>"
        if banana_failed
        else ""
    )
    intro = (
        f"<p>Against the exact moments (diagnostics.verdict: $\\max |z| < "
        f"{diagnostics.Z_MAX:g}$, $\\hat{{R}} \\leq {diagnostics.RHAT_MAX}$, no divergences; "
        f"these short runs are not held to bulk ESS $\\geq {diagnostics.ESS_MIN}$, since $z$ "
        f"is already in MCSE units; with {chains} chains R-hat is itself noisy at the 0.01 "
        "level, so a short run of a correct sampler can miss that bound):</p>"
    )
    return typeset(intro, raw=True) + verdict_list(judged, **VERDICT) + typeset(note, raw=True)


def build(section: Section, ctx: Context) -> None:
    """Fill ``section`` with topic 8: the MH rule, a finite chain, MH on continuous
    targets, and MH against NUTS."""
    section.text(_INTRO, raw=True)
    _finite_state(section, ctx)
    _continuous(section, ctx)
    _comparison(section, ctx)
