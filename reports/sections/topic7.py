"""Topic 7: Monte Carlo integration, rejection sampling and importance sampling.

Three exact checks of :mod:`inference.monte_carlo`: plain Monte Carlo on two integrals
with known values (one 1-D, one 10-D) and its 1/√n standard error; accept–reject under
an envelope ``M q(x)`` on an unnormalised bimodal target, with the acceptance rate set
against ``Z / M``; and self-normalised importance sampling from a good and a poor
proposal, judged by the effective sample size and the Pareto k̂ of Vehtari et al. (2024).
Everything here is NumPy: no sampler is compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ...inference import monte_carlo as mc
from .. import figures
from ..context import Context
from ..html import Section

__all__ = ["PROPOSALS", "TARGET", "Mixture", "build", "k_verdict"]

# Plain Monte Carlo: the largest n of the running estimate, and where it is reported.
MC_MAX_DRAWS = 1_000_000
MC_GRID = np.unique(np.logspace(1, 6, 26).round().astype(int))
MC_TABLE_N = (100, 10_000, 1_000_000)
DIM = 10  # dimension of the second integral
REJECTION_DRAWS = 5_000  # accepted draws wanted
SHOWN_PROPOSALS = 1_500  # points drawn in the envelope figure
IMPORTANCE_DRAWS = 10_000
K_GOOD, K_OK = 0.5, 0.7  # Pareto k̂ thresholds (Vehtari et al. 2024, §3)


@dataclass(frozen=True)
class Mixture:
    """An unnormalised two-component Gaussian mixture, p̃(x) = Σ wₖ exp(−(x − μₖ)² / 2σₖ²).

    The Gaussian normalising constants are left out on purpose, so ``p̃`` is known only up
    to ``Z = Σ wₖ σₖ √(2π)`` — the situation of the course's ``p(x) = p̂(x) / B`` — yet
    ``Z``, the mean and the CDF are all in closed form for checking.
    """

    weights: tuple[float, ...]
    locs: tuple[float, ...]
    scales: tuple[float, ...]

    def log_p_tilde(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        terms = [
            np.log(w) - 0.5 * ((x - m) / s) ** 2
            for w, m, s in zip(self.weights, self.locs, self.scales, strict=True)
        ]
        return np.logaddexp.reduce(np.stack(terms), axis=0)

    @property
    def masses(self) -> np.ndarray:
        """∫ of each unnormalised component: wₖ σₖ √(2π)."""
        return np.asarray(self.weights) * np.asarray(self.scales) * np.sqrt(2 * np.pi)

    @property
    def Z(self) -> float:
        return float(self.masses.sum())

    @property
    def component_probs(self) -> np.ndarray:
        return self.masses / self.Z

    @property
    def mean(self) -> float:
        return float(self.component_probs @ np.asarray(self.locs))

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.log_p_tilde(x)) / self.Z

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return sum(
            p * stats.norm.cdf(x, m, s)
            for p, m, s in zip(self.component_probs, self.locs, self.scales, strict=True)
        )


TARGET = Mixture(weights=(0.35, 0.65), locs=(-2.0, 1.5), scales=(0.6, 1.0))

# name -> (frozen proposal, one line on why); the first is the figure's envelope.
PROPOSALS: dict[str, tuple[object, str]] = {
    "wide N(0.5, 2.5²)": (stats.norm(0.5, 2.5), "covers both modes with heavier tails"),
    "narrow N(1.2, 1.2²)": (stats.norm(1.2, 1.2), "sits on the right mode; left mode in its tail"),
}
IS_PROPOSALS: dict[str, tuple[object, str]] = {
    "good: N(0.5, 2.5²)": (stats.norm(0.5, 2.5), "wider than the target"),
    "poor: N(0.5, 0.5²)": (stats.norm(0.5, 0.5), "narrower than the target"),
}

_INTRO = (
    "The Monte Carlo method replaces an integral by an average: "
    r"$\mathbb{E}_p f = \int f(x)\, p(x)\, dx \approx \frac{1}{n} \sum_{i=1}^{n} f(x_i)$ with "
    r"$x_i \sim p$. By the central limit theorem the error is about $\sigma_f / \sqrt{n}$ "
    "whatever the dimension of $x$ — which is why it is the tool for the high-dimensional "
    "integrals of machine learning. It needs draws from $p$: sampling is that "
    r"step. When $p = \tilde p / Z$ is known only up to its constant, draws from a "
    "simple proposal $q$ can be <b>rejected</b> (keep $x \\sim q$ when "
    r"$u \cdot M q(x) \le \tilde p(x)$, $u \sim U(0, 1)$, which needs an envelope "
    r"$M q \ge \tilde p$) or <b>reweighted</b> (importance sampling, "
    r"$w_i = \tilde p(x_i) / q(x_i)$, $\mathbb{E}_p f \approx \sum_i w_i f(x_i) / \sum_i w_i$). "
    "Metropolis–Hastings, the third method the course lists, is topic 8."
)

# The Python behind each figure, shown under it ("Reproduce"); run as written. The
# target is the section's two-component mixture p̃(x) = Σ_k w_k exp(-(x - m_k)² / 2s_k²).
_TARGET = """\
import numpy as np
from scipy import stats
from bayesmin.inference import monte_carlo as mc

def log_p_tilde(x):  # unnormalised: 0.35 N(-2, 0.6^2) + 0.65 N(1.5, 1) without constants
    x = np.asarray(x, dtype=float)
    return np.logaddexp(np.log(0.35) - 0.5 * ((x + 2.0) / 0.6) ** 2,
                        np.log(0.65) - 0.5 * (x - 1.5) ** 2)
"""
SNIPPETS = {
    "mc-convergence": """\
import numpy as np
from bayesmin.inference import monte_carlo as mc

x = np.random.default_rng(0).random(1_000_000)
running = {n: mc.expectation(lambda x: 4.0 / (1.0 + x**2), draws=x[:n])
           for n in (10, 100, 1_000, 10_000, 100_000, 1_000_000)}
pi_hat = running[1_000_000].estimate  # std_error falls as 1/sqrt(n)
""",
    "rejection-envelope": _TARGET
    + """
q = stats.norm(0.5, 2.5)
result = mc.rejection_sample(log_p_tilde, lambda rng, m: q.rvs(m, random_state=rng),
                             q.logpdf, 5_000, seed=0)
rate = result.acceptance_rate  # Z / M
""",
    "rejection-histogram": _TARGET
    + """
q = stats.norm(0.5, 2.5)
result = mc.rejection_sample(log_p_tilde, lambda rng, m: q.rvs(m, random_state=rng),
                             q.logpdf, 5_000, seed=0)
draws = result.samples  # exact draws from p = p_tilde / Z
""",
    "importance-weights": _TARGET
    + """
results = {}
for i, sd in enumerate((2.5, 0.5)):  # the good and the poor proposal
    q = stats.norm(0.5, sd)
    results[sd] = mc.importance_sample(log_p_tilde, lambda rng, m, q=q: q.rvs(m, random_state=rng),
                                       q.logpdf, lambda x: x, 10_000, seed=i)
weights = {sd: r.weights for sd, r in results.items()}  # normalised, summing to one
""",
}


# ------------------------------------------------------------------- plain Monte Carlo


@dataclass(frozen=True)
class Integral:
    label: str
    formula: str
    exact: float
    sample: Callable[[np.random.Generator, int], np.ndarray]
    f: Callable[[np.ndarray], np.ndarray]


INTEGRALS = (
    Integral(
        "∫₀¹ 4 / (1 + x²) dx = π",
        "E[4 / (1 + x²)], x ~ U(0, 1)",
        float(np.pi),
        lambda rng, n: rng.random(n),
        lambda x: 4.0 / (1.0 + x**2),
    ),
    Integral(
        f"P(‖x‖² ≤ {DIM}), x ~ N(0, I_{DIM})",
        f"E[1{{‖x‖² ≤ {DIM}}}], x ~ N(0, I_{DIM})",
        float(stats.chi2.cdf(DIM, DIM)),
        lambda rng, n: rng.standard_normal((n, DIM)),
        lambda x: (np.sum(x**2, axis=1) <= DIM).astype(float),
    ),
)


def running_estimates(integral: Integral, seed: int) -> pd.DataFrame:
    """:func:`inference.monte_carlo.expectation` on the first n of one stream of draws."""
    draws = integral.sample(np.random.default_rng(seed), MC_MAX_DRAWS)
    rows = []
    for n in MC_GRID:
        est = mc.expectation(integral.f, draws=draws[:n])
        rows.append({"n": int(n), "estimate": est.estimate, "std_error": est.std_error})
    table = pd.DataFrame(rows)
    table["error"] = table["estimate"] - integral.exact
    table["z"] = table["error"] / table["std_error"]
    return table


def convergence_figure(results: dict[Integral, pd.DataFrame]):
    fig, axes = figures.subplots(1, len(results) + 1, figsize=(4.2 * (len(results) + 1), 3.3))
    for ax, (integral, table) in zip(axes, results.items(), strict=False):
        n, est, se = table["n"], table["estimate"], table["std_error"]
        ax.fill_between(n, est - 2 * se, est + 2 * se, color="C0", alpha=0.25, label="± 2 s.e.")
        ax.plot(n, est, "C0o-", ms=3, label="estimate")
        ax.axhline(integral.exact, color="k", lw=1.2, ls="--", label="exact")
        ax.set_xscale("log")
        ax.set_xlabel("n (log scale)")
        ax.set_title(integral.label, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    ax = axes[-1]
    for i, (integral, table) in enumerate(results.items()):
        ax.loglog(table["n"], table["std_error"], f"C{i}o-", ms=3, label=integral.label)
        ax.loglog(table["n"], table["error"].abs(), f"C{i}x", ms=4, alpha=0.6)
    n = table["n"].to_numpy(dtype=float)
    ax.loglog(n, 1.0 / np.sqrt(n), "k:", label="1/√n")
    ax.set_xlabel("n (log scale)")
    ax.set_title("standard error (o) and |error| (x)", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _plain_monte_carlo(section: Section, ctx: Context) -> None:
    section.heading3("Plain Monte Carlo: the error shrinks as 1/√n")
    ctx.progress("plain Monte Carlo on two integrals")
    results = {
        integral: running_estimates(integral, ctx.seed + i) for i, integral in enumerate(INTEGRALS)
    }
    section.figure(
        convergence_figure(results),
        "mc-convergence",
        r"Running Monte Carlo estimates on one stream of draws, with $\pm 2$ standard errors, "
        r"against the exact value (dashed); right: the standard error falls as $1/\sqrt{n}$ "
        f"(dotted) in one dimension and in {DIM} alike.",
        code=SNIPPETS["mc-convergence"],
    )
    rows = []
    for integral, table in results.items():
        for n in MC_TABLE_N:
            row = table.loc[table["n"] == n].iloc[0]
            rows.append(
                {
                    "integral": integral.formula,
                    "n": n,
                    "estimate": row["estimate"],
                    "std_error": row["std_error"],
                    "exact": integral.exact,
                    "|error| / s.e.": abs(row["z"]),
                }
            )
    section.table(
        pd.DataFrame(rows),
        "A hundred times more draws, ten times smaller standard error; the actual error "
        "stays within a few standard errors.",
        index=False,
    )


# ------------------------------------------------------------------- rejection sampling


def _sampler(q) -> Callable[[np.random.Generator, int], np.ndarray]:
    return lambda rng, m: q.rvs(size=m, random_state=rng)


def envelope_figure(result: mc.RejectionResult, q, *, shown: int = SHOWN_PROPOSALS):
    x, h, ok = result.proposals[:shown], result.heights[:shown], result.accept_flags[:shown]
    lo = min(q.ppf(0.001), float(x.min()))
    hi = max(q.ppf(0.999), float(x.max()))
    grid = np.linspace(lo, hi, 600)
    fig, ax = figures.subplots(figsize=(7.2, 3.6))
    ax.plot(
        grid, result.M * q.pdf(grid), "k-", lw=1.6, label=f"envelope M·q(x), M = {result.M:.3g}"
    )
    ax.plot(grid, np.exp(TARGET.log_p_tilde(grid)), "C0-", lw=2, label="target p̃(x)")
    ax.scatter(x[ok], h[ok], s=5, c="C2", alpha=0.6, label="accepted (u·M·q(x) ≤ p̃(x))")
    ax.scatter(x[~ok], h[~ok], s=5, c="C3", alpha=0.5, label="rejected")
    ax.set_xlabel("x")
    ax.set_ylabel("height")
    ax.set_ylim(0, None)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def rejection_histogram(result: mc.RejectionResult):
    grid = np.linspace(result.samples.min() - 0.5, result.samples.max() + 0.5, 500)
    fig, ax = figures.subplots(figsize=(6.2, 3.2))
    ax.hist(result.samples, bins=60, density=True, color="C2", alpha=0.5, label="accepted draws")
    ax.plot(grid, TARGET.pdf(grid), "k-", lw=1.6, label="p(x) = p̃(x) / Z")
    ax.set_xlabel("x")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def rejection_table(results: dict[str, mc.RejectionResult]) -> pd.DataFrame:
    rows = []
    for name, res in results.items():
        rate = res.acceptance_rate
        ks = stats.kstest(res.samples, TARGET.cdf)
        rows.append(
            {
                "proposal q": name,
                "M": res.M,
                "1/M": 1.0 / res.M,
                "Z/M (expected rate)": TARGET.Z / res.M,
                "acceptance rate": rate,
                "s.e. of rate": np.sqrt(rate * (1 - rate) / res.proposed),
                "proposed": res.proposed,
                "accepted": res.accepted,
                "KS p-value vs p": ks.pvalue,
            }
        )
    return pd.DataFrame(rows)


def _rejection(section: Section, ctx: Context) -> None:
    section.heading3("Rejection sampling under an envelope")
    ctx.progress("rejection sampling")
    weights = " + ".join(
        rf"{w:g} \exp(-(x {'+' if m < 0 else '-'} {abs(m):g})^2 / (2 \cdot {s:g}^2))"
        for w, m, s in zip(TARGET.weights, TARGET.locs, TARGET.scales, strict=True)
    )
    section.text(
        rf"Target: $\tilde p(x) = {weights}$, a bimodal density whose normalising constant "
        rf"$Z = {TARGET.Z:.4f}$ the sampler is not told. $M = \sup \tilde p / q$ is found "
        r"numerically. Each proposal $x \sim q$ gets a height $u \cdot M q(x)$; those under "
        r"$\tilde p$ are kept, and what is kept is an exact sample from $p = \tilde p / Z$. "
        r"The fraction kept is $Z/M$ ($1/M$ when $\tilde p$ is normalised): the tighter the "
        "envelope, the less is wasted."
    )
    results = {}
    for i, (name, (q, _)) in enumerate(PROPOSALS.items()):
        results[name] = mc.rejection_sample(
            TARGET.log_p_tilde, _sampler(q), q.logpdf, REJECTION_DRAWS, seed=ctx.seed + i
        )
    first = next(iter(PROPOSALS))
    q0 = PROPOSALS[first][0]
    section.figure(
        envelope_figure(results[first], q0),
        "rejection-envelope",
        f"The first {SHOWN_PROPOSALS} proposals from $q$ = {first} at their heights "
        r"$u \cdot M q(x)$: green under the target are accepted, red between target and "
        "envelope are rejected.",
        code=SNIPPETS["rejection-envelope"],
    )
    section.figure(
        rejection_histogram(results[first]),
        "rejection-histogram",
        f"{REJECTION_DRAWS} accepted draws against the normalised target.",
        code=SNIPPETS["rejection-histogram"],
    )
    section.table(
        rejection_table(results),
        "Acceptance rate against its expectation $Z/M$ (and $1/M$, the rate for a normalised "
        "target). "
        + " ".join(f"{name}: {why}." for name, (_, why) in PROPOSALS.items())
        + " The KS test compares the accepted draws with the exact CDF of p (its p-value is "
        "uniform on (0, 1) when the draws are exact: one below 0.05 in twenty is expected).",
        index=False,
    )


# ------------------------------------------------------------------- importance sampling


def k_verdict(k: float) -> str:
    """Pareto k̂ in words (Vehtari et al. 2024): below 0.7 the estimate can be trusted."""
    if not np.isfinite(k):
        return "no estimate"
    if k < K_GOOD:
        return "reliable (k̂ < 0.5)"
    if k < K_OK:
        return "reliable, slower convergence (0.5 ≤ k̂ < 0.7)"
    return "unreliable (k̂ ≥ 0.7)"


def weights_figure(results: dict[str, tuple[object, mc.ImportanceResult]]):
    fig, axes = figures.subplots(
        1, len(results), figsize=(4.6 * len(results), 3.4), sharey=False, squeeze=False
    )
    grid = np.linspace(-5, 6, 600)
    for ax, (name, (q, res)) in zip(axes[0], results.items(), strict=True):
        ax.plot(grid, TARGET.pdf(grid), "k-", lw=1.6, label="target p")
        ax.plot(grid, q.pdf(grid), "C0--", lw=1.4, label="proposal q")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        twin = ax.twinx()
        # n·w̄ᵢ: 1 is the weight every draw would carry if q were p.
        twin.scatter(res.draws, res.n * res.weights, s=3, c="C3", alpha=0.3, lw=0)
        twin.set_ylabel("n · w̄ᵢ (normalised weight × n)", color="C3")
        twin.set_ylim(0, None)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_title(f"{name}\nESS = {res.ess:.0f} of {res.n}, k̂ = {res.pareto_k:.2f}", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def importance_table(results: dict[str, tuple[object, mc.ImportanceResult]]) -> pd.DataFrame:
    rows = []
    for name, (_, res) in results.items():
        rows.append(
            {
                "proposal q": name,
                "E[x] estimate": res.estimate,
                "± s.e.": res.std_error,
                "exact E[x]": TARGET.mean,
                "z": (res.estimate - TARGET.mean) / res.std_error,
                "PSIS estimate": res.psis_estimate,
                "log Ẑ": res.log_normaliser,
                "exact log Z": np.log(TARGET.Z),
                "ESS": res.ess,
                "ESS/n": res.ess / res.n,
                "Pareto k̂": res.pareto_k,
                "verdict": k_verdict(res.pareto_k),
            }
        )
    return pd.DataFrame(rows)


def _importance(section: Section, ctx: Context) -> None:
    section.heading3("Importance sampling: weights, ESS and Pareto k̂")
    ctx.progress("importance sampling")
    section.text(
        r"Self-normalised importance sampling of $\mathbb{E}_p x$ and of $\log Z$ for the same "
        r"target, from two proposals. The effective sample size $(\sum_i w_i)^2 / \sum_i w_i^2$ "
        "says how many "
        "independent draws from p the weighted sample is worth; it is computed from the "
        "weights themselves, so a proposal that never visits part of p can look fine by it. "
        r"The Pareto $\hat k$ of Vehtari et al. (2024) fits a generalised Pareto tail to the "
        r"largest weights: $\hat k < 0.7$ — the estimate is reliable; $\hat k \ge 0.7$ — the weights' "
        "variance is likely infinite and neither the estimate nor its standard error can be "
        r"trusted (the threshold is $\min(1 - 1/\log_{10} n, 0.7)$, i.e. 0.7 for $n \ge 2200$). "
        r"For a Gaussian proposal of sd $\sigma_q$ narrower than a Gaussian part of the target "
        r"of sd $s$, the weights' tail has $k = 1 - \sigma_q^2/s^2$: here $1 - 0.5^2/1^2 = 0.75$ "
        "from the right mode, "
        "so the poor proposal's weights have infinite variance however many draws are taken."
    )
    results = {}
    for i, (name, (q, _)) in enumerate(IS_PROPOSALS.items()):
        res = mc.importance_sample(
            TARGET.log_p_tilde,
            _sampler(q),
            q.logpdf,
            lambda x: x,
            IMPORTANCE_DRAWS,
            seed=ctx.seed + i,
        )
        results[name] = (q, res)
    section.figure(
        weights_figure(results),
        "importance-weights",
        "Target and proposal densities with each draw's normalised weight times n (red "
        "dots, right axis; 1 = an equal share). The narrow proposal rarely reaches the modes' outer flanks; the few draws "
        "that land there carry most of the weight.",
        code=SNIPPETS["importance-weights"],
    )
    section.table(
        importance_table(results),
        f"n = {IMPORTANCE_DRAWS} draws per proposal. "
        + " ".join(f"{name}: {why}." for name, (_, why) in IS_PROPOSALS.items())
        + r" $z = (\text{estimate} - \text{exact}) / \text{s.e.}$; the PSIS column uses Pareto-smoothed weights.",
        index=False,
    )


def build(section: Section, ctx: Context) -> None:
    """Fill ``section`` with topic 7: Monte Carlo, rejection and importance sampling."""
    section.text(_INTRO, raw=True)
    _plain_monte_carlo(section, ctx)
    _rejection(section, ctx)
    _importance(section, ctx)
