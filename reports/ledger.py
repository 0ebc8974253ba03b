"""The course's claims ledger: every display formula and stated property, each checked.

The course (``reports/course/COURSE.ru.md``, a byte-identical copy of the course text) is
read in order; every ``$$…$$`` display formula and every property it states becomes a
:class:`Claim`, and each claim with something to compute carries a ``check`` that computes
it on the spot with bayesmin's own code where the course's formula is implemented
(``where`` names the function) and with NumPy/SciPy otherwise. Definitions with nothing to
compute say so (``kind="definition"``, ``check=None``). Where the course has a typo the
ledger typesets and checks the standard result (``latex``) and quotes the course's own
writing (``course_latex``) beside it (``kind="typo"``).

Tolerances follow the house rules: deterministic identities to machine precision (float32
where the implementation stores float32), stochastic ones within 4 Monte Carlo standard
errors, with fixed seeds. The whole ledger runs in a few seconds: no long sampler runs,
small sizes, and the only compiled JAX programs are tiny.

Notation of the course → the code
---------------------------------
* Topic 1: t ~ N(Xw, β⁻¹I), w ~ N(0, α⁻¹I) → :mod:`bayesmin.models.linear_regression`
  (``mle`` is least squares, ``map_estimate`` ridge with λ = α/β; Bishop 2006, §3.1–3.3).
* Topic 2: x, y, A, B, C → nodes of the sprinkler network
  :data:`bayesmin.models.bayes_net.NETWORK` (Pearl 1988; Koller & Friedman 2009).
* Topic 3: Beta(α, β), Gamma(α, β) (β a rate) → ``a, b`` of
  :mod:`bayesmin.models.conjugate` (Gelman et al. 2013, ch. 2).
* Topic 4: RVM → :class:`bayesmin.inference.evidence.RVR` (Tipping 2001).
* Topic 5: KL(p‖q) → :mod:`bayesmin.diagnostics.kl` (Bishop 2006, §1.6.1, §10.1).
* Topic 6: GLAD's l_ij, z_i, α_j, β_i → :mod:`bayesmin.inference.em.glad` (Whitehill et
  al. 2009); EM, L(q, θ) → :class:`bayesmin.inference.em.GaussianMixture` (Bishop 2006,
  §9.4); PPCA → :class:`bayesmin.inference.em.PPCA` (Tipping & Bishop 1999).
* Topic 7: :mod:`bayesmin.inference.monte_carlo` (Bishop 2006, §11.1; Owen 2013).
* Topic 8: A(x, x'), q(x'|x) → :mod:`bayesmin.inference.mh` and
  :mod:`bayesmin.diagnostics.markov` (Metropolis et al. 1953; Hastings 1970).
* Topic 9: q(z|x) = N(μ(x), σ²(x)) → :mod:`bayesmin.models.vae` (Kingma & Welling 2014).
* Topic 10: the course's α_t → ᾱ_t of :mod:`bayesmin.inference.diffusion` (Ho et al. 2020).

References
----------
Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*. Springer.
Ho, J., Jain, A. & Abbeel, P. (2020). Denoising diffusion probabilistic models. NeurIPS 33.
Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. ICLR.
Tipping, M. E. (2001). Sparse Bayesian learning and the relevance vector machine. JMLR 1.
Tipping, M. E. & Bishop, C. M. (1999). Probabilistic principal component analysis. JRSS B 61.
Whitehill, J., Ruvolo, P., Wu, T., Bergsma, J. & Movellan, J. (2009). Whose vote should
count more. NIPS 22.
Owen, A. B. (2013). *Monte Carlo theory, methods and examples*.
"""

from __future__ import annotations

import functools
import html
import importlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import integrate, optimize, special, stats

from .mathml import tex, typeset
from .rundir import write_atomic

__all__ = [
    "CLAIMS",
    "COURSE_PATH",
    "Claim",
    "Outcome",
    "Result",
    "count_line",
    "course_formulas",
    "evaluate",
    "ledger_html",
    "resolve",
    "uncovered_formulas",
    "write_ledger_page",
]

COURSE_PATH = Path(__file__).with_name("course") / "COURSE.ru.md"

# A display formula is a line that starts and ends with $$ (the course writes each on its
# own line).
_DISPLAY = re.compile(r"^\$\$(.+?)\$\$\s*$", re.M)


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Outcome:
    """What a check found: ``value`` (short text with the numbers) and ``passed``."""

    value: str
    passed: bool


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One entry of the ledger.

    Attributes
    ----------
    topic : int
        Course section, 1–10 (the appendix items go to the topic they belong to).
    latex : str
        The formula as typeset; for a typo, the corrected formula.
    quote_ru : str
        The course's own words (a verbatim fragment of the course, markup removed).
    gloss_en : str
        English gloss.
    kind : {"check", "definition", "typo"}
    where : str or None
        A ``bayesmin.…`` dotted name that implements the formula, None where nothing does.
    check : callable or None
        ``check() -> Outcome``; None only for a definition.
    course_formulas : tuple of int
        Indices (0-based, in order of appearance) of the course's ``$$`` formulas covered.
    course_latex : str or None
        The course's own writing where it differs from ``latex``.
    """

    topic: int
    latex: str
    quote_ru: str
    gloss_en: str
    kind: str
    where: str | None
    check: Callable[[], Outcome] | None
    course_formulas: tuple[int, ...] = ()
    course_latex: str | None = None


@dataclass(frozen=True)
class Result:
    """A claim, its outcome (None for a definition) and the seconds its check took."""

    claim: Claim
    outcome: Outcome | None
    seconds: float


# ----------------------------------------------------------------------------- helpers


def course_text() -> str:
    """The course as shipped in the package."""
    return COURSE_PATH.read_text(encoding="utf-8")


def course_formulas() -> list[str]:
    """The course's display formulas (the LaTeX between ``$$``), in order of appearance."""
    return [m.group(1).strip() for m in _DISPLAY.finditer(course_text())]


def normalise_text(text: str) -> str:
    """Course text with bold markup dropped and runs of whitespace made one space."""
    return re.sub(r"\s+", " ", text.replace("**", "")).strip()


def resolve(dotted: str):
    """The object a ``bayesmin.…`` dotted name names (module, then attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def _f(x: float) -> str:
    return f"{x:.3g}"


def _within(estimate: float, exact: float, se: float, k: float = 4.0) -> bool:
    """|estimate − exact| < k · MCSE (STYLE.md, tier 2)."""
    return bool(np.isfinite(se) and abs(estimate - exact) < k * se)


def _all(*conditions) -> bool:
    return bool(all(bool(c) for c in conditions))


# ------------------------------------------------------------------ topic 1: moments, ML


def _expectation() -> Outcome:
    # Discrete: Poisson(3) summed over its support; continuous: Gamma(3, rate 2) by quadrature.
    k = np.arange(0, 200)
    e_disc = float(np.sum(k * stats.poisson.pmf(k, 3.0)))
    e_cont = integrate.quad(lambda x: x * stats.gamma.pdf(x, 3.0, scale=0.5), 0, np.inf)[0]
    ok = abs(e_disc - 3.0) < 1e-12 and abs(e_cont - 1.5) < 1e-9
    return Outcome(f"Σ k p_k = {e_disc:.12g} (Poisson(3): 3); ∫ x f = {e_cont:.10g} (1.5)", ok)


def _variance() -> Outcome:
    k = np.arange(0, 200)
    p = stats.poisson.pmf(k, 3.0)
    d_disc = float(np.sum((k - 3.0) ** 2 * p))
    d_cont = integrate.quad(
        lambda x: (x - 1.5) ** 2 * stats.gamma.pdf(x, 3.0, scale=0.5), 0, np.inf
    )[0]
    ok = abs(d_disc - 3.0) < 1e-12 and abs(d_cont - 0.75) < 1e-9
    return Outcome(f"D = {d_disc:.12g} (Poisson(3): 3), {d_cont:.10g} (Gamma(3, 2): 0.75)", ok)


def _median() -> Outcome:
    dist = stats.gamma(3.0, scale=0.5)
    m = optimize.brentq(lambda x: dist.cdf(x) - 0.5, 0.0, 20.0, xtol=1e-14)
    ok = abs(m - dist.median()) < 1e-10 and abs(dist.cdf(m) - 0.5) < 1e-12
    return Outcome(f"F(m) = 0.5 at m = {m:.10g}; scipy median {dist.median():.10g}", ok)


def _mode() -> Outcome:
    # Gamma(a, rate b) has its mode at (a − 1)/b (a > 1).
    dist = stats.gamma(3.0, scale=0.5)
    res = optimize.minimize_scalar(lambda x: -dist.logpdf(x), bounds=(1e-6, 10), method="bounded")
    ok = abs(res.x - 1.0) < 1e-4
    return Outcome(f"argmax f = {res.x:.6f}; (a − 1)/b = 1", ok)


def _covariance_independent() -> Outcome:
    rng = np.random.default_rng(1)
    n = 20_000
    x, y = rng.normal(size=n), rng.exponential(size=n)
    prod = (x - x.mean()) * (y - y.mean())
    cov, se = float(prod.mean()), float(prod.std(ddof=1) / np.sqrt(n))
    # The converse control: y2 depends on x, its covariance is far from 0.
    y2 = x + rng.normal(size=n)
    p2 = (x - x.mean()) * (y2 - y2.mean())
    z_dep = abs(p2.mean()) / (p2.std(ddof=1) / np.sqrt(n))
    ok = _within(cov, 0.0, se) and z_dep > 10
    return Outcome(
        f"independent: Cov = {_f(cov)} ± {_f(se)} (|z| = {abs(cov) / se:.2f} < 4); "
        f"dependent control: |z| = {z_dep:.0f}",
        ok,
    )


def _covariance_matrix() -> Outcome:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    S = np.cov(X, rowvar=False)
    eig = np.linalg.eigvalsh(S)
    ok = _all(np.array_equal(S, S.T), eig.min() > -1e-12, np.allclose(np.diag(S), X.var(0, ddof=1)))
    return Outcome(f"symmetric, eigenvalues ≥ 0 (min {_f(eig.min())}), diagonal = variances", ok)


def _likelihood_product() -> Outcome:
    rng = np.random.default_rng(3)
    x = rng.normal(1.0, 2.0, size=12)
    prod = float(np.prod(stats.norm.pdf(x, 1.0, 2.0)))
    joint = float(stats.multivariate_normal.pdf(x, np.full(12, 1.0), 4.0 * np.eye(12)))
    ok = abs(prod / joint - 1) < 1e-12
    return Outcome(f"Π p(x_i|θ) = {prod:.6e}, joint density of the iid sample = {joint:.6e}", ok)


def _ml_log() -> Outcome:
    rng = np.random.default_rng(4)
    x = rng.normal(0.7, 1.0, size=40)
    grid = np.linspace(-1, 2, 3001)
    lik = np.prod(stats.norm.pdf(x[None, :], grid[:, None], 1.0), axis=1)
    loglik = np.sum(stats.norm.logpdf(x[None, :], grid[:, None], 1.0), axis=1)
    i, j = int(np.argmax(lik)), int(np.argmax(loglik))
    ok = i == j and abs(grid[i] - x.mean()) <= 1e-3
    return Outcome(
        f"argmax Π = argmax Σ log = {grid[i]:.3f} (grid step 0.001); closed form x̄ = "
        f"{x.mean():.4f}",
        ok,
    )


def _regression_data(n: int = 30, seed: int = 5):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)])
    w = np.array([0.5, -1.0, 2.0])
    beta = 25.0
    t = X @ w + rng.normal(0, beta**-0.5, n)
    return X, t, 2.0, beta


def _concave() -> Outcome:
    from ..models.linear_regression import mle

    X, t, _, beta = _regression_data()

    def loglik(w):
        return stats.multivariate_normal.logpdf(t, X @ w, np.eye(len(t)) / beta)

    w0 = mle(X, t)
    h = 1e-3
    d = len(w0)
    H = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            e_i, e_j = np.eye(d)[i] * h, np.eye(d)[j] * h
            H[i, j] = (
                loglik(w0 + e_i + e_j)
                - loglik(w0 + e_i - e_j)
                - loglik(w0 - e_i + e_j)
                + loglik(w0 - e_i - e_j)
            ) / (4 * h * h)
    exact = -beta * X.T @ X
    ok = np.allclose(H, exact, rtol=1e-5, atol=1e-4) and np.linalg.eigvalsh(exact).max() < 0
    return Outcome(
        f"Hessian of log L = −βXᵀX (finite differences agree to 1e-5), largest eigenvalue "
        f"{_f(np.linalg.eigvalsh(exact).max())} < 0: one maximum",
        ok,
    )


def _map_typo() -> Outcome:
    from ..models.linear_regression import map_estimate, mle

    X, t, alpha, beta = _regression_data(n=10)

    def neg_log_post(w):
        return 0.5 * beta * np.sum((t - X @ w) ** 2) + 0.5 * alpha * w @ w

    res = optimize.minimize(neg_log_post, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    w_map, w_ml = map_estimate(X, t, alpha, beta), mle(X, t)
    gap = float(np.max(np.abs(res.x - w_map)))
    differ = float(np.max(np.abs(w_map - w_ml)))
    ok = gap < 1e-6 and differ > 1e-3
    return Outcome(
        "the course writes θ_ML for argmax p(θ|X), the standard result is θ_MAP: "
        f"argmax log posterior − map_estimate = {_f(gap)}; θ_MAP − θ_ML = {_f(differ)} ≠ 0",
        ok,
    )


def _ml_monotone() -> Outcome:
    X, t, _, beta = _regression_data(n=8)
    grid = np.linspace(-3, 3, 121)
    W = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    Wf = np.column_stack([np.full(len(W), 0.5), W])
    resid = t[None, :] - Wf @ X.T
    logp = 0.5 * len(t) * np.log(beta / (2 * np.pi)) - 0.5 * beta * np.sum(resid**2, 1)
    p = np.exp(logp)
    ok = int(np.argmax(p)) == int(np.argmax(logp))
    return Outcome(f"on a 121×121 grid argmax p = argmax log p = {Wf[np.argmax(p), 1:]}", ok)


def _ml_least_squares() -> Outcome:
    from ..models.linear_regression import mle

    X, t, _, beta = _regression_data()
    n = len(t)
    rng = np.random.default_rng(6)
    worst = 0.0
    for w in rng.normal(size=(5, 3)):
        exact = stats.multivariate_normal.logpdf(t, X @ w, np.eye(n) / beta)
        const = 0.5 * n * np.log(beta / (2 * np.pi))
        worst = max(worst, abs(exact - (const - 0.5 * beta * np.sum((t - X @ w) ** 2))))
    w_ml = mle(X, t)
    normal_eq = np.linalg.solve(X.T @ X, X.T @ t)
    ok = worst < 1e-9 and np.allclose(w_ml, normal_eq, atol=1e-12)
    return Outcome(
        f"log N(T|Xw, β⁻¹I) − (Const − β/2‖T−Xw‖²) ≤ {_f(worst)}; mle = (XᵀX)⁻¹XᵀT",
        ok,
    )


def _least_squares_min() -> Outcome:
    from ..models.linear_regression import mle

    X, t, _, _ = _regression_data()
    w = mle(X, t)

    def rss(v):
        return float(np.sum((t - X @ v) ** 2))

    rng = np.random.default_rng(7)
    deltas = rng.normal(scale=0.1, size=(200, 3))
    rises = min(rss(w + d) - rss(w) for d in deltas)
    unbounded = rss(1e3 * np.ones(3)) > 1e6
    ok = rises > 0 and unbounded
    return Outcome(
        "the course writes ‖T − Xw‖² → max over x, the standard result is → min over w: "
        f"every perturbation of mle raises ‖T − Xw‖² (smallest rise {_f(rises)}); it has no max",
        ok,
    )


def _ridge() -> Outcome:
    from sklearn.linear_model import Ridge

    from ..models.linear_regression import map_estimate

    X, t, alpha, beta = _regression_data()
    w = map_estimate(X, t, alpha, beta)
    ridge = Ridge(alpha=alpha / beta, fit_intercept=False, solver="cholesky").fit(X, t).coef_
    grad = -beta * X.T @ (t - X @ w) + alpha * w
    ok = np.allclose(w, ridge, atol=1e-10) and np.max(np.abs(grad)) < 1e-9
    return Outcome(
        f"map_estimate = sklearn Ridge(λ = α/β) to {_f(np.max(np.abs(w - ridge)))}; "
        f"gradient of the objective there {_f(np.max(np.abs(grad)))}",
        ok,
    )


def _ml_properties() -> Outcome:
    # Exponential rate λ, MLE 1/x̄: x̄ ~ Gamma(n, rate nλ), so E[λ̂] = nλ/(n − 1) and
    # Var[λ̂] = (nλ)² / ((n − 1)²(n − 2)); the Cramér–Rao bound is λ²/n.
    lam, R = 2.0, 4000
    rng = np.random.default_rng(8)
    lines, ok = [], True
    far = {}
    for n in (10, 400):
        est = 1.0 / rng.exponential(1 / lam, size=(R, n)).mean(1)
        mean_exact = n * lam / (n - 1)
        se = est.std(ddof=1) / np.sqrt(R)
        ok &= _within(est.mean(), mean_exact, se)
        far[n] = float(np.mean(np.abs(est - lam) > 0.2))
        eff = est.var(ddof=1) / (lam**2 / n)
        lines.append(f"n={n}: E λ̂ = {est.mean():.4f} (exact {mean_exact:.4f}), Var/CRB = {eff:.3f}")
    # Efficiency at n = 400: Var/CRB → 1; its sampling sd is about sqrt(2/R).
    ok &= abs(eff - 1.0) < 4 * np.sqrt(2 / R) + 1.0 / 400 * 3
    ok &= far[400] < far[10]
    lines.append(f"P(|λ̂ − λ| > 0.2): {far[10]:.3f} → {far[400]:.3f}")
    return Outcome("; ".join(lines), bool(ok))


def _overfitting() -> Outcome:
    from ..models.linear_regression import mle, polynomial_features

    rng = np.random.default_rng(9)
    x = np.linspace(0, 1, 10)
    t = np.sin(2 * np.pi * x) + rng.normal(0, 0.2, 10)
    xt = np.linspace(0, 1, 200)
    tt = np.sin(2 * np.pi * xt)
    rmse = {}
    for d in (3, 9):
        w = mle(polynomial_features(x, d), t)
        train = np.sqrt(np.mean((polynomial_features(x, d) @ w - t) ** 2))
        test = np.sqrt(np.mean((polynomial_features(xt, d) @ w - tt) ** 2))
        rmse[d] = (train, test)
    ok = rmse[9][0] < 1e-6 < rmse[3][0] and rmse[9][1] > 1.5 * rmse[3][1]
    return Outcome(
        f"degree 3: train/test RMSE {rmse[3][0]:.3f}/{rmse[3][1]:.3f}; degree 9: "
        f"{rmse[9][0]:.2e}/{rmse[9][1]:.3f} — fits the noise",
        ok,
    )


# ------------------------------------------------------------- topic 2: Bayes, networks


@functools.lru_cache(maxsize=1)
def _joint_table():
    """The sprinkler network's joint as an array indexed (Cloudy, Sprinkler, Rain, WetGrass)."""
    from ..models.bayes_net import NETWORK

    names = NETWORK.names
    J = np.zeros(tuple(NETWORK.cardinality[n] for n in names))
    for a in NETWORK.assignments():
        J[tuple(a[n] for n in names)] = NETWORK.joint(a)
    return names, J


def _conditional_words() -> Outcome:
    _, J = _joint_table()
    # x = Sprinkler (axis 1), y = Rain (axis 2).
    pxy = J.sum(axis=(0, 3))
    py, px = pxy.sum(0), pxy.sum(1)
    right = pxy / py[None, :]
    wrong = pxy / px[None, :]  # the course's "divided by the marginal p(x)"
    ok = np.allclose(right.sum(0), 1.0) and not np.allclose(wrong.sum(0), 1.0)
    return Outcome(
        "the course writes the joint as p(x|y) and the marginal as p(x), the standard result "
        f"is p(x,y)/p(y): Σ_x p(x,y)/p(y) = {right.sum(0).round(12)}, "
        f"Σ_x p(x,y)/p(x) = {wrong.sum(0).round(3)}",
        ok,
    )


def _conditional() -> Outcome:
    from ..models.bayes_net import NETWORK

    _, J = _joint_table()
    p_rain = J.sum(axis=(0, 1, 3))
    p_joint = J.sum(axis=(0, 1))  # (Rain, WetGrass)
    by_ratio = p_joint[1, :] / p_rain[1]
    by_query = NETWORK.query("WetGrass", {"Rain": 1}).to_numpy()
    product = by_query * p_rain[1]
    ok = np.allclose(by_ratio, by_query, atol=1e-14) and np.allclose(product, p_joint[1])
    return Outcome(
        f"P(W|R=1) = P(W,R=1)/P(R=1) = {by_ratio.round(6)} = query {by_query.round(6)}; "
        "P(W|R)P(R) = P(W,R)",
        ok,
    )


def _chain_rule() -> Outcome:
    from ..models.bayes_net import NETWORK

    _, J = _joint_table()
    # An order the network was not written in: WetGrass, Rain, Sprinkler, Cloudy.
    order = (3, 2, 1, 0)
    Jo = np.transpose(J, order)
    rebuilt = np.ones_like(Jo)
    for k in range(4):
        marg_k = Jo.sum(axis=tuple(range(k + 1, 4)), keepdims=True)
        marg_prev = Jo.sum(axis=tuple(range(k, 4)), keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rebuilt = rebuilt * np.where(marg_prev > 0, marg_k / marg_prev, 0.0)
    err = float(np.max(np.abs(rebuilt - Jo)))
    a = {"Cloudy": 1, "Sprinkler": 0, "Rain": 1, "WetGrass": 1}
    ok = err < 1e-15 and abs(NETWORK.joint(a) - J[1, 0, 1, 1]) < 1e-15
    return Outcome(
        f"p(x_1)Π p(x_k|x_1..x_(k−1)) in the order W, R, S, C reproduces the joint to {_f(err)}",
        ok,
    )


def _sum_rule() -> Outcome:
    from ..models.bayes_net import NETWORK

    _, J = _joint_table()
    marg = J.sum(axis=(2, 3))  # p(Cloudy, Sprinkler)
    cpt_c = NETWORK.node("Cloudy").cpt
    cpt_s = NETWORK.node("Sprinkler").cpt
    direct = np.asarray(cpt_c)[:, None] * np.asarray(cpt_s)
    ok = np.allclose(marg, direct, atol=1e-15) and abs(J.sum() - 1) < 1e-15
    return Outcome(
        "the course writes d_{k+1}, the standard result is dx_{k+1}: summing out Rain and "
        f"WetGrass gives p(C)p(S|C) to {_f(np.max(np.abs(marg - direct)))}",
        ok,
    )


def _bayes_typo() -> Outcome:
    from ..models.bayes_net import NETWORK

    _, J = _joint_table()
    p_cw = J.sum(axis=(1, 2))  # (Cloudy, WetGrass)
    p_c = p_cw.sum(1)
    lik = p_cw[:, 1] / p_c  # p(W=1 | C)
    bayes = lik * p_c / np.sum(lik * p_c)
    query = NETWORK.query("Cloudy", {"WetGrass": 1}).to_numpy()
    # The course's literal right-hand side with x = C, y = W is p(C, W)/p(C): p(W | C).
    literal = lik
    ok = np.allclose(bayes, query, atol=1e-14) and not np.allclose(literal, query, atol=1e-3)
    return Outcome(
        "the course writes p(x|y)p(y)/∫p(x|y)p(y)dy, the standard result is "
        f"p(y|x)p(x)/∫p(y|x)p(x)dx: P(C|W=1) = {bayes.round(6)} = query {query.round(6)}; the "
        f"literal form gives {literal.round(4)}",
        ok,
    )


def _posterior_normaliser() -> Outcome:
    from ..models.conjugate import beta_binomial_predictive, beta_binomial_update

    a, b, n, x = 2.0, 3.0, 12, 8
    unnorm = lambda th: stats.binom.pmf(x, n, th) * stats.beta.pdf(th, a, b)  # noqa: E731
    z = integrate.quad(unnorm, 0, 1, epsabs=1e-13)[0]
    z_closed = float(beta_binomial_predictive(a, b, n).pmf(x))
    a1, b1 = beta_binomial_update(a, b, [x], [n])
    th = np.linspace(0.01, 0.99, 99)
    err = float(np.max(np.abs(unnorm(th) / z - stats.beta.pdf(th, a1, b1))))
    ok = abs(z - z_closed) < 1e-10 and err < 1e-8
    return Outcome(
        f"z = ∫p(X|θ)p(θ)dθ = {z:.10f} (closed form {z_closed:.10f}); p(X|θ)p(θ)/z = "
        f"Beta({a1:g}, {b1:g}) to {_f(err)}",
        ok,
    )


def _cond_indep() -> Outcome:
    from ..diagnostics.independence import d_separated
    from ..models.bayes_net import NETWORK

    _, J = _joint_table()
    p_csr = J.sum(axis=3)  # (C, S, R)
    p_c = p_csr.sum(axis=(1, 2))
    joint_given = p_csr / p_c[:, None, None]
    product = joint_given.sum(2)[:, :, None] * joint_given.sum(1)[:, None, :]
    err = float(np.max(np.abs(joint_given - product)))
    p_sr = p_csr.sum(0)
    marg_err = float(np.max(np.abs(p_sr - np.outer(p_sr.sum(1), p_sr.sum(0)))))
    ok = _all(
        err < 1e-15,
        marg_err > 1e-3,
        d_separated(NETWORK, "Sprinkler", "Rain", "Cloudy"),
        not d_separated(NETWORK, "Sprinkler", "Rain"),
    )
    return Outcome(
        f"P(S,R|C) − P(S|C)P(R|C) = {_f(err)} (d-separated given C); without C they are "
        f"dependent (gap {marg_err:.3f})",
        ok,
    )


def _cond_indep_typo() -> Outcome:
    _, J = _joint_table()
    p_csr = J.sum(axis=3)
    # A = Sprinkler, B = Rain, C = Cloudy.
    p_a_bc = p_csr / p_csr.sum(axis=1, keepdims=True)  # P(S | C, R) as (C, S, R)
    p_a_c = p_csr.sum(2) / p_csr.sum(axis=(1, 2))[:, None]  # P(S | C)
    err = float(np.max(np.abs(p_a_bc - p_a_c[:, :, None])))
    p_sr = p_csr.sum(0)
    p_a_b = p_sr[1, 1] / p_sr[:, 1].sum()  # P(S=1 | R=1)
    literal = p_a_b + p_a_c[1, 1]  # P(A|B) + P(A|C) at S=1, R=1, C=1
    ok = err < 1e-15 and abs(literal - 1) > 1e-3
    return Outcome(
        "the course writes P(A|BC) = P(A|B) + P(A|C) = 1, the standard result is "
        f"P(A|B,C) = P(A|C): max gap {_f(err)}; the literal sum is {literal:.3f}",
        ok,
    )


# ----------------------------------------------------------------- topic 3: conjugacy


def _binomial_pmf() -> Outcome:
    n, th = 15, 0.3
    x = np.arange(n + 1)
    mine = special.comb(n, x) * th**x * (1 - th) ** (n - x)
    err = float(np.max(np.abs(mine - stats.binom.pmf(x, n, th))))
    return Outcome(
        f"C(n,x)θ^x(1−θ)^(n−x) = scipy binom.pmf to {_f(err)}; Σ = {mine.sum():.15f}",
        err < 1e-14 and abs(mine.sum() - 1) < 1e-13,
    )


def _beta_pdf() -> Outcome:
    a, b = 2.5, 4.0
    th = np.linspace(0.01, 0.99, 99)
    mine = th ** (a - 1) * (1 - th) ** (b - 1) / special.beta(a, b)
    err = float(np.max(np.abs(mine - stats.beta.pdf(th, a, b))))
    total = integrate.quad(lambda u: u ** (a - 1) * (1 - u) ** (b - 1) / special.beta(a, b), 0, 1)[
        0
    ]
    return Outcome(
        f"= scipy beta.pdf to {_f(err)}; ∫ = {total:.12f}", err < 1e-12 and abs(total - 1) < 1e-10
    )


def _proportional(pmf, prior, post, grid, label: str) -> Outcome:
    unnorm = pmf(grid) * prior(grid)
    z = integrate.trapezoid(unnorm, grid)
    err = float(np.max(np.abs(unnorm / z - post(grid))))
    ok = abs(z - 1) > 1e-3 and err < 1e-4
    return Outcome(
        f"the course writes p(θ|x) = p(x|θ)p(θ), the standard result is p(θ|x) = "
        f"p(x|θ)p(θ)/z: ∫ p(x|θ)p(θ) = {z:.5f} ≠ 1; divided by z it is {label} to {_f(err)}",
        ok,
    )


def _beta_binomial_posterior_typo() -> Outcome:
    a, b, n, x = 2.0, 3.0, 12, 8
    grid = np.linspace(0, 1, 20001)
    return _proportional(
        lambda th: stats.binom.pmf(x, n, th),
        lambda th: stats.beta.pdf(th, a, b),
        lambda th: stats.beta.pdf(th, a + x, b + n - x),
        grid,
        f"Beta({a + x:g}, {b + n - x:g})",
    )


def check_beta_update(update: Callable[[float, float, list, list], tuple[float, float]]) -> Outcome:
    """The course's Beta(α + x, β + n − x), checked for an ``update(a, b, [x], [n])``.

    The posterior it returns must match the normalised p(x|θ)p(θ) on a grid (the
    definition), not just a formula, so a wrong update (α + x − 1) fails.
    """
    a, b, n, x = 2.0, 3.0, 12, 8
    a1, b1 = update(a, b, [x], [n])
    grid = np.linspace(0.0005, 0.9995, 1000)
    unnorm = stats.binom.pmf(x, n, grid) * stats.beta.pdf(grid, a, b)
    z = integrate.quad(lambda th: stats.binom.pmf(x, n, th) * stats.beta.pdf(th, a, b), 0, 1)[0]
    err = float(np.max(np.abs(unnorm / z - stats.beta.pdf(grid, a1, b1))))
    return Outcome(
        f"update → Beta({a1:g}, {b1:g}) (α + x = {a + x:g}, β + n − x = {b + n - x:g}); "
        f"max |posterior − Beta pdf| = {_f(err)}",
        err < 1e-8,
    )


def _beta_update() -> Outcome:
    from ..models.conjugate import beta_binomial_update

    return check_beta_update(beta_binomial_update)


def _gamma_param_typo() -> Outcome:
    from ..models.conjugate import gamma_poisson_update

    a, b, x = 2.0, 1.0, 5
    a1, b1 = gamma_poisson_update(a, b, [x])
    lam = np.linspace(1e-6, 30, 30001)
    unnorm = stats.poisson.pmf(x, lam) * stats.gamma.pdf(lam, a, scale=1 / b)
    post = unnorm / integrate.trapezoid(unnorm, lam)
    err = float(np.max(np.abs(post - stats.gamma.pdf(lam, a1, scale=1 / b1))))
    return Outcome(
        "the course writes that Gamma(α, β) is conjugate for the parameter α, the standard "
        f"result is for λ: the posterior over λ is Gamma({a1:g}, {b1:g}) to {_f(err)}",
        err < 1e-5,
    )


def _poisson_pmf() -> Outcome:
    lam = 3.5
    x = np.arange(60)
    mine = lam**x * np.exp(-lam) / special.factorial(x)
    err = float(np.max(np.abs(mine - stats.poisson.pmf(x, lam))))
    return Outcome(f"= scipy poisson.pmf to {_f(err)}; Σ = {mine.sum():.15f}", err < 1e-14)


def _gamma_pdf() -> Outcome:
    a, b = 2.5, 1.5
    lam = np.linspace(0.01, 10, 200)
    mine = b**a * lam ** (a - 1) * np.exp(-b * lam) / special.gamma(a)
    err = float(np.max(np.abs(mine - stats.gamma.pdf(lam, a, scale=1 / b))))
    z = integrate.quad(lambda u: u ** (a - 1) * np.exp(-b * u), 0, np.inf)[0]
    ok = err < 1e-13 and abs(z - special.gamma(a) / b**a) < 1e-10
    return Outcome(
        f"= scipy gamma(α, scale 1/β).pdf to {_f(err)}; z = ∫λ^(α−1)e^(−βλ) = Γ(α)/β^α = {z:.8f}",
        ok,
    )


def _gamma_poisson_posterior_typo() -> Outcome:
    a, b, x = 2.0, 1.0, 5
    lam = np.linspace(1e-9, 40, 40001)
    return _proportional(
        lambda u: stats.poisson.pmf(x, u),
        lambda u: stats.gamma.pdf(u, a, scale=1 / b),
        lambda u: stats.gamma.pdf(u, a + x, scale=1 / (b + 1)),
        lam,
        f"Gamma({a + x:g}, {b + 1:g})",
    )


def check_gamma_update(update: Callable[[float, float, list], tuple[float, float]]) -> Outcome:
    """The course's Gamma(α + x, β + 1), checked for an ``update(a, b, [x])``."""
    a, b, x = 2.0, 1.0, 5
    a1, b1 = update(a, b, [x])
    lam = np.linspace(1e-9, 40, 40001)
    unnorm = stats.poisson.pmf(x, lam) * stats.gamma.pdf(lam, a, scale=1 / b)
    post = unnorm / integrate.trapezoid(unnorm, lam)
    err = float(np.max(np.abs(post - stats.gamma.pdf(lam, a1, scale=1 / b1))))
    return Outcome(
        f"update → Gamma({a1:g}, {b1:g}); max |posterior − Gamma pdf| = {_f(err)}", err < 1e-5
    )


def _gamma_update() -> Outcome:
    from ..models.conjugate import gamma_poisson_update

    return check_gamma_update(gamma_poisson_update)


def _full_bayes() -> Outcome:
    from ..models.conjugate import beta_binomial_predictive, beta_binomial_update

    a, b = 1.5, 1.5
    xs, ns = [3, 7, 2], [5, 10, 6]
    a1, b1 = beta_binomial_update(a, b, xs, ns)
    # Sequential updating through closed forms = one update with everything.
    a_seq, b_seq = a, b
    log_ev_closed = 0.0
    for x, n in zip(xs, ns, strict=True):
        log_ev_closed += float(beta_binomial_predictive(a_seq, b_seq, n).logpmf(x))
        a_seq, b_seq = beta_binomial_update(a_seq, b_seq, [x], [n])
    ev_quad = integrate.quad(
        lambda th: (
            np.prod([stats.binom.pmf(x, n, th) for x, n in zip(xs, ns, strict=True)])
            * stats.beta.pdf(th, a, b)
        ),
        0,
        1,
        epsabs=1e-14,
    )[0]
    ok = (a_seq, b_seq) == (a1, b1) and abs(np.exp(log_ev_closed) / ev_quad - 1) < 1e-8
    return Outcome(
        f"posterior Beta({a1:g}, {b1:g}) without integrals; evidence from closed forms "
        f"{np.exp(log_ev_closed):.6e} = quadrature {ev_quad:.6e}",
        ok,
    )


# --------------------------------------------------------------------------- topic 4: RVM


def _rvm() -> Outcome:
    from ..inference.evidence import RVR

    rng = np.random.default_rng(10)
    x = np.linspace(-10, 10, 80)[:, None]
    f = np.sinc(x[:, 0] / np.pi)
    t = f + rng.normal(0, 0.1, 80)
    model = RVR(kernel="rbf", gamma=1 / 9).fit(x, t)
    n_rv = len(model.relevance_indices_)
    steps = np.diff(model.log_evidence_)
    rmse = float(np.sqrt(np.mean((model.predict(x) - f) ** 2)))
    ok = n_rv <= 15 and steps.min() > -1e-8 and rmse < 0.1
    return Outcome(
        f"{n_rv} of 80 basis functions kept (sparse); log evidence never decreases "
        f"(smallest step {_f(steps.min())}); RMSE to sinc {rmse:.3f}",
        ok,
    )


def _evidence_closed_form() -> Outcome:
    from ..models.linear_regression import log_evidence

    X, t, alpha, beta = _regression_data()
    mine = log_evidence(X, t, alpha, beta)
    cov = np.eye(len(t)) / beta + X @ X.T / alpha
    direct = float(stats.multivariate_normal.logpdf(t, np.zeros(len(t)), cov))
    return Outcome(
        f"log p(T|α, β) = {mine:.10f}; log N(T|0, β⁻¹I + α⁻¹XXᵀ) = {direct:.10f}",
        abs(mine - direct) < 1e-8,
    )


# --------------------------------------------------------------------------- topic 5: KL


def _kl_definition() -> Outcome:
    from ..diagnostics.kl import kl_normal, kl_quadrature

    grid = np.linspace(-15, 15, 60001)
    closed = float(kl_normal(0.0, 1.0, 1.0, 2.0))
    quad = kl_quadrature(stats.norm.logpdf(grid, 0, 1), stats.norm.logpdf(grid, 1, 2), grid)
    direct = integrate.quad(
        lambda x: stats.norm.pdf(x) * (stats.norm.logpdf(x) - stats.norm.logpdf(x, 1, 2)),
        -np.inf,
        np.inf,
    )[0]
    ok = abs(closed - quad) < 1e-7 and abs(closed - direct) < 1e-9
    return Outcome(
        f"∫p log p/q = {direct:.10f}; kl_normal = {closed:.10f}; kl_quadrature = {quad:.10f}",
        ok,
    )


def _kl_nonnegative_typo() -> Outcome:
    from ..diagnostics.kl import kl_normal

    rng = np.random.default_rng(11)
    mu = rng.normal(size=(2, 1000))
    sd = np.exp(rng.normal(size=(2, 1000)))
    kl = kl_normal(mu[0], sd[0], mu[1], sd[1])
    same = float(kl_normal(0.3, 1.7, 0.3, 1.7))
    ok = kl.min() >= 0 and same == 0.0
    return Outcome(
        "the course writes KL(p‖q) > 0 for all p, q, the standard result is ≥ 0: "
        f"min over 1000 random pairs {_f(kl.min())} ≥ 0, and KL(p‖p) = {same} (so not > 0)",
        ok,
    )


def _kl_zero() -> Outcome:
    from ..diagnostics.kl import kl_mvn

    mu = np.array([0.5, -1.0])
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    same = kl_mvn(mu, cov, mu, cov)
    near = kl_mvn(mu, cov, mu + 1e-3, cov)
    return Outcome(
        f"KL(p‖p) = {_f(same)}; q = p shifted by 0.001: KL = {_f(near)} > 0",
        abs(same) < 1e-12 and near > 0,
    )


def _kl_asymmetric() -> Outcome:
    from ..diagnostics.kl import kl_normal

    pq = float(kl_normal(0.0, 1.0, 1.0, 2.0))
    qp = float(kl_normal(1.0, 2.0, 0.0, 1.0))
    return Outcome(
        f"KL(p‖q) = {pq:.3f}, KL(q‖p) = {qp:.3f}, both ≥ 0, differ: not a distance",
        pq >= 0 and qp >= 0 and abs(pq - qp) > 0.1,
    )


def _kl_approximation() -> Outcome:
    from ..diagnostics.kl import kl_normal, kl_quadrature
    from ..models.conjugate import normal_normal_update

    # Gaussian posterior: minimising KL(Q‖P) over Gaussians recovers it exactly.
    y = np.array([1.2, 0.4, 2.1, 1.7])
    mu_n, tau_n = normal_normal_update(0.0, 2.0, 1.0, y)
    res = optimize.minimize(
        lambda v: float(kl_normal(v[0], np.exp(v[1]), mu_n, tau_n)),
        np.array([0.0, 0.0]),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    # Non-Gaussian posterior Beta(3, 9): the best Gaussian is close, but KL stays > 0.
    grid = np.linspace(1e-9, 1 - 1e-9, 20001)
    logp = stats.beta.logpdf(grid, 3, 9)

    def kl_q(v):
        # Q is a Gaussian truncated to (0, 1), renormalised on the grid.
        logq = stats.norm.logpdf(grid, v[0], np.exp(v[1]))
        logq = logq - np.log(np.trapezoid(np.exp(logq), grid))
        return kl_quadrature(logq, logp, grid)

    res2 = optimize.minimize(kl_q, np.array([0.25, np.log(0.12)]), method="Nelder-Mead")
    ok = (
        abs(res.x[0] - mu_n) < 1e-5
        and abs(np.exp(res.x[1]) - tau_n) < 1e-5
        and res.fun < 1e-10
        and 0 < res2.fun < kl_q(np.array([0.25, np.log(0.12)]))
    )
    return Outcome(
        f"Normal posterior N({mu_n:.4f}, {tau_n:.4f}²): argmin_Q KL = N({res.x[0]:.4f}, "
        f"{np.exp(res.x[1]):.4f}²), KL = {_f(res.fun)}; Beta(3, 9): best Gaussian KL = "
        f"{res2.fun:.4f} > 0",
        bool(ok),
    )


# -------------------------------------------------------------------- topic 6: EM, GLAD


@functools.lru_cache(maxsize=1)
def _glad_problem():
    """A small crowd: 40 tasks, 5 workers, every worker labels every task."""
    rng = np.random.default_rng(12)
    T, W = 40, 5
    z = rng.integers(0, 2, T)
    alpha = np.array([2.0, 1.0, 0.5, 0.0, -1.0])
    log_beta = rng.normal(0, 0.5, T)
    task = np.repeat(np.arange(T), W)
    worker = np.tile(np.arange(W), T)
    x = alpha[worker] * np.exp(log_beta[task])
    right = rng.random(T * W) < 1 / (1 + np.exp(-x))
    label = np.where(right, z[task], 1 - z[task])
    params = {"alpha": alpha, "log_beta": log_beta, "pi": np.asarray(0.5)}
    data = {
        "task": task,
        "worker": worker,
        "label": label,
        "alpha_mean": np.asarray(1.0),
        "alpha_sd": np.asarray(1.0),
        "log_beta_mean": np.asarray(0.0),
        "log_beta_sd": np.asarray(1.0),
        "estimate_pi": np.asarray(False),
        "class_prior": np.asarray(0.5),
    }
    return params, data


def _sigmoid(x):
    return special.expit(x)


def _glad_course_e_step(params, data, pi: float, plus: bool = False) -> np.ndarray:
    """q_i(t) by the course's product formula (``plus=True``: its literal "+")."""
    T = len(params["log_beta"])
    x = params["alpha"][data["worker"]] * np.exp(params["log_beta"][data["task"]])
    q = np.zeros((T, 2))
    for t_val, prior in ((0, 1 - pi), (1, pi)):
        same = data["label"] == t_val
        if plus:
            factor = np.where(same, _sigmoid(x) + 1.0, 1.0 + _sigmoid(-x))
        else:
            factor = np.where(same, _sigmoid(x), _sigmoid(-x))
        prod = np.ones(T)
        np.multiply.at(prod, data["task"], factor)
        q[:, t_val] = prior * prod
    return q / q.sum(1, keepdims=True)


def _glad_e_step() -> Outcome:
    from ..inference.em.glad import e_step

    params, data = _glad_problem()
    params = {**params, "pi": np.asarray(0.3)}
    mine = np.exp(np.asarray(e_step(params, data)["log_q"]))
    course = _glad_course_e_step(params, data, 0.3)
    literal = _glad_course_e_step(params, data, 0.3, plus=True)
    err = float(np.max(np.abs(mine - course)))
    off = float(np.max(np.abs(literal - course)))
    return Outcome(
        "the course writes Π_j(σ(α_jβ_i)^[l=z] + σ(−α_jβ_i)^[l≠z]) and t ∈ [0, 1], the "
        "standard result is Π_j σ(α_jβ_i)^[l=z] σ(−α_jβ_i)^[l≠z] with t ∈ {0, 1}: e_step = "
        f"product formula to {_f(err)}; the literal '+' is off by {off:.3f}",
        err < 1e-5 and off > 1e-2,
    )


def _glad_e_step_log() -> Outcome:
    from ..inference.em.glad import e_step

    params, data = _glad_problem()  # π = 1/2: the course's formula omits p(z_i)
    x = params["alpha"][data["worker"]] * np.exp(params["log_beta"][data["task"]])
    T = len(params["log_beta"])
    s = np.zeros((T, 2))
    for t_val in (0, 1):
        same = data["label"] == t_val
        np.add.at(
            s[:, t_val], data["task"], np.where(same, np.log(_sigmoid(x)), np.log(_sigmoid(-x)))
        )
    course = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    mine = np.exp(np.asarray(e_step(params, data)["log_q"]))
    err = float(np.max(np.abs(mine - course)))
    return Outcome(
        f"exp(Σ_j …)/Σ_t exp(Σ_j …) = e_step (π = ½, where p(z_i) cancels) to {_f(err)}",
        err < 1e-5,
    )


def _glad_course_objective(alpha, log_beta, q1, data) -> float:
    """Σ_i Σ_j Σ_t q_i(t)([l_ij = t] log σ(α_jβ_i) + [l_ij ≠ t] log σ(−α_jβ_i))."""
    x = alpha[data["worker"]] * np.exp(log_beta[data["task"]])
    total = 0.0
    for t_val in (0, 1):
        qt = q1[data["task"]] if t_val == 1 else 1 - q1[data["task"]]
        same = data["label"] == t_val
        total += float(np.sum(qt * np.where(same, np.log(_sigmoid(x)), np.log(_sigmoid(-x)))))
    return total


def _glad_m_step_typo() -> Outcome:
    params, data = _glad_problem()
    rng = np.random.default_rng(13)
    q1 = rng.uniform(0.05, 0.95, len(params["log_beta"]))
    a, lb = params["alpha"], params["log_beta"]
    # Scaling every α up drives the objective to −∞: "→ min" has no minimiser.
    down = [
        _glad_course_objective(c * np.abs(a) * np.sign(a - 0.01) * -1, lb, q1, data)
        for c in (1, 10, 100)
    ]

    def neg(v):
        return -_glad_course_objective(v, lb, q1, data)

    res = optimize.minimize(neg, np.zeros(len(a)), method="BFGS")
    ok = down[2] < down[1] < down[0] and np.all(np.isfinite(res.x)) and res.success
    return Outcome(
        "the course writes E_q log p(z, l|α, β) → min, the standard result is → max: the "
        f"objective falls without bound ({down[0]:.1f}, {down[1]:.1f}, {down[2]:.1f} as α "
        f"grows), its maximum is finite (α* = {np.round(res.x, 2)})",
        bool(ok),
    )


def _glad_m_step_objective_typo() -> Outcome:
    from scipy.stats import norm

    from ..inference.em.glad import m_step_objective

    params, data = _glad_problem()
    rng = np.random.default_rng(14)
    q1 = rng.uniform(0.05, 0.95, len(params["log_beta"]))
    log_q = np.log(np.column_stack([1 - q1, q1]))
    theta = {"alpha": params["alpha"], "log_beta": params["log_beta"]}
    n = len(data["label"])
    mine = -float(m_step_objective(theta, {"log_q": log_q}, data)) * n
    prior = norm.logpdf(theta["alpha"], 1.0, 1.0).sum() + norm.logpdf(theta["log_beta"]).sum()
    course = _glad_course_objective(theta["alpha"], theta["log_beta"], q1, data)
    err = abs(mine - prior - course)
    return Outcome(
        "the course writes σ(α_j, β_i), the standard result is σ(α_j β_i): "
        f"−n·m_step_objective − log p(α, log β) = {mine - prior:.6f}, course sum = {course:.6f}",
        err < 1e-5 * max(1.0, abs(course)),
    )


@functools.lru_cache(maxsize=1)
def _gmm_fit():
    """bayesmin's GaussianMixture on 200 points of a two-component 1-D mixture."""
    from ..inference.em import GaussianMixture

    rng = np.random.default_rng(15)
    X = np.concatenate([rng.normal(-2, 1, (120, 1)), rng.normal(2, 0.7, (80, 1))])
    model = GaussianMixture(2, tol=1e-10, max_iter=60, random_state=0).fit(X)
    return X, model


def _gmm_log_joint(X, weights, means, sds):
    """log p(x_n, z_n = k | θ), shape (n, K)."""
    return np.log(weights)[None, :] + stats.norm.logpdf(X, means[None, :], sds[None, :])


def _gmm_theta(model):
    return (
        np.asarray(model.weights_, float),
        np.asarray(model.means_, float)[:, 0],
        np.sqrt(np.asarray(model.covariances_, float).reshape(-1)),
    )


def _elbo(q, log_joint):
    """L(q, θ) = Σ_n Σ_k q_nk (log p(x_n, k | θ) − log q_nk)."""
    return float(np.sum(q * (log_joint - np.log(q))))


def _em_e_step_typo() -> Outcome:
    X, model = _gmm_fit()
    lj = _gmm_log_joint(X, *_gmm_theta(model))
    log_px = float(np.sum(special.logsumexp(lj, axis=1)))
    post = np.asarray(model.predict_proba(X), float)
    at_post = _elbo(post, lj)
    rng = np.random.default_rng(16)
    others = [_elbo(rng.dirichlet(np.ones(2), size=len(X)), lj) for _ in range(20)]
    ok = abs(at_post - log_px) < 1e-6 * abs(log_px) and max(others) < log_px
    return Outcome(
        "the course writes L(θ, q_0) o max_q, the standard result is L(q, θ_0) → max_q: at "
        f"q = predict_proba, L = {at_post:.6f} = log p(X|θ) = {log_px:.6f}; 20 random q: "
        f"L ≤ {max(others):.2f}",
        ok,
    )


def _em_m_step_objective() -> Outcome:
    X, model = _gmm_fit()
    q = np.asarray(model.predict_proba(X), float)
    entropy = -float(np.sum(q * np.log(q)))
    rng = np.random.default_rng(17)
    gaps = []
    for _ in range(10):
        theta = (rng.dirichlet([1, 1]), rng.normal(0, 2, 2), np.exp(rng.normal(0, 0.5, 2)))
        lj = _gmm_log_joint(X, *theta)
        gaps.append(_elbo(q, lj) - float(np.sum(q * lj)))
    spread = float(np.ptp(gaps))
    return Outcome(
        f"L(q, θ) − E_q log p(X, Z|θ) = {gaps[0]:.8f} = entropy of q ({entropy:.8f}) for 10 "
        f"random θ (spread {_f(spread)}): same maximiser",
        spread < 1e-9 and abs(gaps[0] - entropy) < 1e-9,
    )


def _em_m_step() -> Outcome:
    X, model = _gmm_fit()
    bounds = np.asarray(model.lower_bounds_, float)
    steps = np.diff(bounds)
    q = np.asarray(model.predict_proba(X), float)
    w, m, s = _gmm_theta(model)
    best = float(np.sum(q * _gmm_log_joint(X, w, m, s)))
    rng = np.random.default_rng(18)
    worse = []
    for _ in range(20):
        dm, ds = rng.normal(0, 0.02, 2), np.exp(rng.normal(0, 0.02, 2))
        worse.append(float(np.sum(q * _gmm_log_joint(X, w, m + dm, s * ds))))
    ok = steps.min() > -1e-9 and max(worse) < best
    return Outcome(
        f"lower bound never decreases over {len(bounds)} iterations (smallest step "
        f"{_f(steps.min())}); perturbing θ_new lowers E_q log p(X, Z|θ) ({max(worse):.4f} < "
        f"{best:.4f})",
        ok,
    )


# ------------------------------------------------------------------ topic 7: Monte Carlo


def _monte_carlo() -> Outcome:
    from ..inference.monte_carlo import expectation

    def sampler(rng, n):
        return rng.normal(1.0, 1.0, n)

    small = expectation(lambda x: x**2, sampler, 1_000, seed=19)
    large = expectation(lambda x: x**2, sampler, 100_000, seed=20)
    ratio = float(small.std_error / large.std_error)
    ok = (
        _within(float(small.estimate), 2.0, float(small.std_error))
        and _within(float(large.estimate), 2.0, float(large.std_error))
        and abs(ratio / 10 - 1) < 0.15
    )
    return Outcome(
        f"E[x²] = 2: n = 10³ gives {float(small.estimate):.4f} ± {float(small.std_error):.4f}, "
        f"n = 10⁵ gives {float(large.estimate):.4f} ± {float(large.std_error):.5f}; "
        f"MCSE ratio {ratio:.2f} ≈ √100 = 10",
        bool(ok),
    )


def _rejection() -> Outcome:
    from ..inference.monte_carlo import rejection_sample

    # Target N(0, 1), proposal Cauchy(0, 1): M = sup p/q = √(2π) e^(−1/2) at x = ±1.
    M = np.sqrt(2 * np.pi) * np.exp(-0.5)
    res = rejection_sample(
        lambda x: stats.norm.logpdf(x),
        lambda rng, m: stats.cauchy.rvs(size=m, random_state=rng),
        lambda x: stats.cauchy.logpdf(x),
        5_000,
        seed=21,
        log_M=float(np.log(M)),
        pilot_size=20_000,
    )
    rate = res.acceptance_rate
    se_rate = np.sqrt((1 / M) * (1 - 1 / M) / res.proposed)
    s = np.asarray(res.samples, float).ravel()
    ok = _within(rate, 1 / M, se_rate) and _within(s.mean(), 0.0, s.std(ddof=1) / np.sqrt(s.size))
    return Outcome(
        f"acceptance {rate:.4f} vs 1/M = {1 / M:.4f} (MCSE {se_rate:.4f}); accepted mean "
        f"{s.mean():.4f} (N(0,1): 0)",
        bool(ok),
    )


def _importance() -> Outcome:
    from ..inference.monte_carlo import importance_sample

    res = importance_sample(
        lambda x: -0.5 * (x - 1.0) ** 2,
        lambda rng, n: rng.normal(0.0, 2.0, n),
        lambda x: stats.norm.logpdf(x, 0.0, 2.0),
        lambda x: x,
        20_000,
        seed=22,
    )
    log_z = 0.5 * np.log(2 * np.pi)
    ok = _within(float(res.estimate), 1.0, float(res.std_error)) and _within(
        res.log_normaliser, log_z, res.log_normaliser_std_error
    )
    return Outcome(
        f"E_p[x] = {float(res.estimate):.4f} ± {float(res.std_error):.4f} (exact 1); "
        f"log Z = {res.log_normaliser:.4f} ± {res.log_normaliser_std_error:.4f} "
        f"(exact {log_z:.4f})",
        bool(ok),
    )


def _importance_variance() -> Outcome:
    from ..inference.monte_carlo import expectation, importance_sample

    # Z = P(x > 3) for x ~ N(0, 1): plain MC averages 1[x > 3]; importance sampling draws
    # from q = 3 + Exp(rate 3), which lives where the integrand does, and averages
    # p̃/q with p̃ = φ on x > 3 (every draw is > 3).
    exact = float(stats.norm.sf(3.0))
    n = 20_000
    plain = expectation(
        lambda x: (x > 3).astype(float), lambda rng, m: rng.normal(size=m), n, seed=23
    )
    imp = importance_sample(
        lambda x: stats.norm.logpdf(x),
        lambda rng, m: 3.0 + rng.exponential(1 / 3, m),
        lambda x: np.log(3.0) - 3.0 * (x - 3.0),
        lambda x: x,
        n,
        seed=24,
    )
    z = float(np.exp(imp.log_normaliser))
    se = z * imp.log_normaliser_std_error
    ok = _within(z, exact, se) and se < float(plain.std_error) / 20
    return Outcome(
        f"P(x > 3) = {exact:.4e}: plain MC {float(plain.estimate):.2e} ± "
        f"{float(plain.std_error):.1e}; importance sampling from 3 + Exp(3) {z:.4e} ± "
        f"{se:.1e} ({float(plain.std_error) / se:.0f}× smaller error)",
        bool(ok),
    )


# ------------------------------------------------------------------------ topic 8: MCMC


def _acceptance_normaliser() -> Outcome:
    from ..diagnostics.markov import mh_transition_matrix, random_walk_proposal

    target = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    Q = random_walk_proposal(5, p_right=0.7)
    P1 = mh_transition_matrix(target, Q)
    P2 = mh_transition_matrix(target * 123.4, Q)
    err = float(np.max(np.abs(P1 - P2)))
    return Outcome(f"MH matrix for p̂ and for p̂·123.4 differ by {_f(err)}: B cancels", err < 1e-15)


def _acceptance_direction_typo() -> Outcome:
    from ..diagnostics.markov import mh_transition_matrix, random_walk_proposal

    pi = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    Q = random_walk_proposal(5, p_right=0.7)
    P = mh_transition_matrix(pi, Q)
    i, j = 0, 1
    forward = Q[i, j] * min(1.0, pi[j] * Q[j, i] / (pi[i] * Q[i, j]))  # move x = i → x' = j
    reverse = Q[i, j] * min(1.0, pi[i] * Q[i, j] / (pi[j] * Q[j, i]))
    ok = abs(P[i, j] - forward) < 1e-15 and abs(P[i, j] - reverse) > 1e-3
    return Outcome(
        "the course writes A(x, x') accepts the move from x' to x, the standard result is "
        f"from x to x': P(0→1) = {P[0, 1]:.4f} = q(1|0)A(0, 1) = {forward:.4f}, not "
        f"{reverse:.4f}",
        ok,
    )


@functools.lru_cache(maxsize=1)
def _mh_chain() -> np.ndarray:
    """5,000 steps of bayesmin's JAX MH kernel on N(0, 1) (random walk, scale 2.4)."""
    import jax
    import jax.numpy as jnp

    from ..inference import mh

    algo = mh.metropolis_hastings(lambda x: -0.5 * x @ x, mh.params_from(1, scale=2.4))

    def body(state, key):
        state, info = algo.step(key, state)
        return state, (state.position[0], info.acceptance_rate)

    keys = jax.random.split(jax.random.PRNGKey(25), 5_000)
    _, (xs, acc) = jax.lax.scan(body, algo.init(jnp.full(1, 3.0)), keys)
    return np.asarray(xs, float), np.asarray(acc, float)


def _ess(x: np.ndarray) -> float:
    import arviz as az

    return float(az.ess(x[None, :]))


def _mh_rule() -> Outcome:
    xs, acc = _mh_chain()
    xs = xs[500:]
    ess = _ess(xs)
    se_mean = xs.std(ddof=1) / np.sqrt(ess)
    sq = xs**2
    se_sq = sq.std(ddof=1) / np.sqrt(_ess(sq))
    ok = _within(xs.mean(), 0.0, se_mean) and _within(sq.mean(), 1.0, se_sq)
    return Outcome(
        f"mh kernel on N(0,1), 4500 kept steps: mean {xs.mean():.3f} ± {se_mean:.3f}, E[x²] "
        f"{sq.mean():.3f} ± {se_sq:.3f}, acceptance {acc.mean():.2f}",
        bool(ok),
    )


def _limit_typo() -> Outcome:
    from ..diagnostics.markov import convergence, finite_chain

    chain = finite_chain(K=20)
    tv = convergence(chain.P, 0, 20_000, target=chain.target)["tv"].to_numpy()
    # TV to the stationary distribution never increases along a chain.
    ok = tv[-1] < 1e-6 and np.all(tv > 0) and np.all(np.diff(tv) <= 1e-15)
    return Outcome(
        "the course writes ∃N: ∀n ≥ N x_n ~ p̂(x_n), the standard result is p_n → p "
        f"(normalised) as n → ∞: TV(p_n, p) = {tv[2]:.3f}, {tv[20]:.3f}, {tv[200]:.2e}, "
        f"{tv[-1]:.1e} at n = 2, 20, 200, 20000 — decreasing, never exactly 0",
        bool(ok),
    )


def _mh_correlated() -> Outcome:
    xs, _ = _mh_chain()
    xs = xs[500:]
    c = xs - xs.mean()
    rho = float(np.dot(c[:-1], c[1:]) / np.dot(c, c))
    ess = _ess(xs)
    ok = rho > 0.3 and ess < len(xs) / 2
    return Outcome(f"lag-1 autocorrelation {rho:.2f}; ESS {ess:.0f} of {len(xs)} draws", bool(ok))


def check_detailed_balance(P: np.ndarray, target: np.ndarray) -> Outcome:
    """The course's detailed balance and its consequence, invariance, for a matrix ``P``."""
    from ..diagnostics.markov import detailed_balance, stationary_distribution

    db = detailed_balance(P, target)
    pi = np.asarray(target, float) / np.sum(target)
    stat = stationary_distribution(P)
    inv = float(np.max(np.abs(pi @ P - pi)))
    tv = 0.5 * float(np.abs(stat - pi).sum())
    ok = db.holds and inv < 1e-12 and tv < 1e-9
    return Outcome(
        f"max |p*(x)q(x'|x) − p*(x')q(x|x')| = {_f(db.max_violation)}; |p*P − p*| = {_f(inv)}; "
        f"TV(stationary, p*) = {_f(tv)}",
        bool(ok),
    )


def _detailed_balance() -> Outcome:
    from ..diagnostics.markov import finite_chain

    chain = finite_chain(K=20)
    return check_detailed_balance(chain.P, chain.target)


def _markov_factorisation() -> Outcome:
    rng = np.random.default_rng(26)
    p1 = np.array([0.5, 0.3, 0.2])
    P = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]])
    n = 40_000
    x1 = rng.choice(3, size=n, p=p1)
    cum = P.cumsum(1)
    x2 = (rng.random(n)[:, None] > cum[x1]).sum(1)
    x3 = (rng.random(n)[:, None] > cum[x2]).sum(1)
    counts = np.zeros((3, 3, 3))
    np.add.at(counts, (x1, x2, x3), 1)
    freq = counts / n
    exact = p1[:, None, None] * P[:, :, None] * P[None, :, :]
    z = np.abs(freq - exact) / np.sqrt(exact * (1 - exact) / n)
    return Outcome(
        f"27 cells of p(x1, x2, x3) from 40,000 simulated chains vs p1(x1)q(x2|x1)q(x3|x2): "
        f"max |z| = {z.max():.2f} < 4",
        bool(z.max() < 4),
    )


def _ergodic() -> Outcome:
    from ..diagnostics.markov import finite_chain, stationary_distribution, step_distributions

    chain = finite_chain(K=20)
    pi = stationary_distribution(chain.P)
    starts = [0, 7, 13, np.full(20, 1 / 20)]
    tvs = [
        0.5 * np.abs(step_distributions(chain.P, s, [20_000])[20_000] - pi).sum() for s in starts
    ]
    ok = max(tvs) < 1e-8 and 0.5 * np.abs(pi - chain.target / chain.target.sum()).sum() < 1e-9
    return Outcome(
        f"from 4 starting distributions TV(p_20000, p*) ≤ {_f(max(tvs))}; p* is the unique "
        "stationary distribution (the target)",
        bool(ok),
    )


# ------------------------------------------------------------------------ topic 9: VAE


def _elbo_kl() -> Outcome:
    from ..models.conjugate import normal_normal_update

    # z ~ N(0, 1), x | z ~ N(z, 1): p(x) = N(x|0, 2), p(z|x) = N(x/2, 1/2).
    x = 1.3
    mu_n, tau_n = normal_normal_update(0.0, 1.0, 1.0, [x])
    log_px = float(stats.norm.logpdf(x, 0, np.sqrt(2)))
    rows = []
    for m, s in ((0.0, 1.0), (0.5, 0.5), (mu_n, tau_n)):
        # ELBO = E_q log p(x|z) + E_q log p(z) + H(q), in closed form for Gaussians.
        e_lik = -0.5 * np.log(2 * np.pi) - 0.5 * ((x - m) ** 2 + s**2)
        e_prior = -0.5 * np.log(2 * np.pi) - 0.5 * (m**2 + s**2)
        ent = 0.5 * np.log(2 * np.pi * np.e * s**2)
        elbo = e_lik + e_prior + ent
        kl = np.log(tau_n / s) + (s**2 + (m - mu_n) ** 2) / (2 * tau_n**2) - 0.5
        rows.append((elbo, kl))
    err = max(abs(e + k - log_px) for e, k in rows)
    ok = err < 1e-12 and abs(rows[-1][1]) < 1e-12
    return Outcome(
        f"ELBO + KL(q‖p(z|x)) = log p(x) = {log_px:.6f} for three q (to {_f(err)}); the "
        "ELBO is largest where KL = 0, at the exact posterior",
        ok,
    )


def _vae_kl() -> Outcome:
    import jax
    import jax.numpy as jnp

    from ..diagnostics.kl import kl_normal
    from ..models.vae import log_pz, log_qz_x

    mu = jnp.array([0.4, -1.1])
    log_sigma = jnp.array([-0.3, 0.2])
    eps = jax.random.normal(jax.random.PRNGKey(27), (20_000, 2))
    z = mu + jnp.exp(log_sigma) * eps
    d = np.asarray(jax.vmap(lambda zz: log_qz_x(mu, log_sigma, zz) - log_pz(zz))(z), float)
    exact = float(np.sum(kl_normal(np.asarray(mu), np.exp(np.asarray(log_sigma)), 0.0, 1.0)))
    se = d.std(ddof=1) / np.sqrt(d.size)
    return Outcome(
        f"KL(q(z|x)‖N(0, I)): E_q[log q − log p] = {d.mean():.4f} ± {se:.4f}, closed form "
        f"{exact:.4f}",
        _within(float(d.mean()), exact, float(se)),
    )


def _reparameterisation() -> Outcome:
    import jax
    import jax.numpy as jnp

    from ..models.vae import Normal32

    mu, sigma = 0.7, 1.3

    def f(z):
        return z**2 + jnp.sin(z)

    def one(key, m, s):
        return f(Normal32(m, s).sample(key))

    keys = jax.random.split(jax.random.PRNGKey(28), 20_000)
    g_mu, g_sigma = jax.vmap(jax.grad(one, argnums=(1, 2)), in_axes=(0, None, None))(
        keys, jnp.float32(mu), jnp.float32(sigma)
    )
    g_mu, g_sigma = np.asarray(g_mu, float), np.asarray(g_sigma, float)
    damp = np.exp(-(sigma**2) / 2)
    exact_mu = 2 * mu + np.cos(mu) * damp  # d/dμ (μ² + σ² + sin μ e^(−σ²/2))
    exact_sigma = 2 * sigma - sigma * np.sin(mu) * damp
    se_mu, se_sigma = (g.std(ddof=1) / np.sqrt(g.size) for g in (g_mu, g_sigma))
    ok = _within(g_mu.mean(), exact_mu, se_mu) and _within(g_sigma.mean(), exact_sigma, se_sigma)
    return Outcome(
        "the course writes ε N(0, I), the standard result is ε ~ N(0, I): with z = μ + σε, "
        f"mean ∂f/∂μ = {g_mu.mean():.4f} ± {se_mu:.4f} (exact {exact_mu:.4f}), ∂f/∂σ = "
        f"{g_sigma.mean():.4f} ± {se_sigma:.4f} (exact {exact_sigma:.4f}): unbiased",
        bool(ok),
    )


# -------------------------------------------------------------------- topic 10: DDPM


@functools.lru_cache(maxsize=1)
def _schedule():
    from ..inference.diffusion import linear_schedule

    return linear_schedule(1000)


def _schedule64():
    """Ho et al.'s schedule in float64 (the code stores float32)."""
    beta = np.linspace(1e-4, 0.02, 1000)
    alpha = 1 - beta
    return beta, alpha, np.cumprod(alpha)


def _ddpm_loss() -> Outcome:
    import jax
    import jax.numpy as jnp

    from ..inference.diffusion import mean_from_eps, posterior_mean_variance, q_sample

    sch = _schedule()
    key1, key2, key3 = jax.random.split(jax.random.PRNGKey(29), 3)
    x0 = jax.random.normal(key1, (64, 2))
    eps = jax.random.normal(key2, (64, 2))
    eps_theta = eps + 0.1 * jax.random.normal(key3, (64, 2))
    worst = 0.0
    for t in (2, 100, 500, 1000):
        xt = q_sample(sch, x0, jnp.full(64, t), eps)
        mu_tilde, _ = posterior_mean_variance(sch, x0, xt, jnp.full(64, t))
        mu_theta = mean_from_eps(sch, xt, jnp.full(64, t), eps_theta)
        b, a, ab = (float(v[t - 1]) for v in (sch.beta, sch.alpha, sch.alpha_bar))
        predicted = b / (np.sqrt(a) * np.sqrt(1 - ab)) * (np.asarray(eps_theta) - np.asarray(eps))
        diff = np.asarray(mu_tilde) - np.asarray(mu_theta)
        worst = max(
            worst, float(np.max(np.abs(diff - predicted))) / float(np.max(np.abs(predicted)))
        )
    return Outcome(
        "μ̃(x_t, x_0, t) − μ_θ(x_t, t) = β_t/(√α_t √(1−ᾱ_t)) (ε_θ − ε) at t = 2, 100, 500, "
        f"1000 (relative error {_f(worst)}, float32): the loss is a t-weighted ‖ε − ε_θ‖²",
        worst < 1e-3,
    )


def _ddpm_forward_typo() -> Outcome:
    import jax.numpy as jnp

    from ..inference.diffusion import q_sample

    sch = _schedule()
    beta, alpha, alpha_bar = _schedule64()
    # Iterated noising x_t = √α_t x_{t−1} + √β_t ε, 20,000 paths from x_0 = 1.5.
    rng = np.random.default_rng(30)
    n, t_end = 20_000, 300
    x = np.full(n, 1.5)
    for t in range(t_end):
        x = np.sqrt(alpha[t]) * x + np.sqrt(beta[t]) * rng.normal(size=n)
    closed = np.asarray(
        q_sample(sch, jnp.full((n, 1), 1.5), t_end, jnp.asarray(rng.normal(size=(n, 1))))
    ).ravel()
    mean_exact = np.sqrt(alpha_bar[t_end - 1]) * 1.5
    var_exact = 1 - alpha_bar[t_end - 1]
    se_m = np.sqrt(var_exact / n)
    se_v = var_exact * np.sqrt(2 / (n - 1))
    course_mean = np.sqrt(alpha[t_end - 1]) * 1.5  # the course's α_t
    ok = (
        _within(x.mean(), mean_exact, se_m)
        and _within(closed.mean(), mean_exact, se_m)
        and _within(x.var(ddof=1), var_exact, se_v)
        and _within(closed.var(ddof=1), var_exact, se_v)
        and abs(x.mean() - course_mean) > 10 * se_m
    )
    return Outcome(
        "the course writes x_t = √α_t x_0 + √(1−α_t) ε, the standard result is √ᾱ_t, "
        f"ᾱ_t = Π α_s: at t = 300 iterated noising gives mean {x.mean():.4f}, var "
        f"{x.var(ddof=1):.4f}; q_sample {closed.mean():.4f}, {closed.var(ddof=1):.4f}; exact "
        f"{mean_exact:.4f}, {var_exact:.4f}; the course's √α_t x_0 = {course_mean:.4f}",
        bool(ok),
    )


def _ddpm_prior() -> Outcome:
    from ..diagnostics.kl import kl_normal

    sch = _schedule()
    ab = float(sch.alpha_bar[-1])
    kl = float(np.max(kl_normal(np.sqrt(ab) * np.array([-3.0, 3.0]), np.sqrt(1 - ab), 0.0, 1.0)))
    return Outcome(f"ᾱ_T = {ab:.2e}; KL(q(x_T|x_0) ‖ N(0, 1)) ≤ {_f(kl)} for |x_0| ≤ 3", kl < 1e-3)


def _ddpm_posterior_typo() -> Outcome:
    import jax.numpy as jnp

    from ..inference.diffusion import posterior_mean_variance

    sch = _schedule()
    beta, alpha, alpha_bar = _schedule64()
    x0, xt = 0.8, -0.4
    worst_m, worst_v = 0.0, 0.0
    for t in (2, 50, 400, 1000):
        # Joint of (x_{t−1}, x_t) given x_0, conditioned on x_t (float64, from scratch).
        ab_prev = alpha_bar[t - 2]
        m_prev, v_prev = np.sqrt(ab_prev) * x0, 1 - ab_prev
        m_t, v_t = np.sqrt(alpha[t - 1]) * m_prev, alpha[t - 1] * v_prev + beta[t - 1]
        cov = np.sqrt(alpha[t - 1]) * v_prev
        mean = m_prev + cov / v_t * (xt - m_t)
        var = v_prev - cov**2 / v_t
        m, v = posterior_mean_variance(sch, jnp.array([[x0]]), jnp.array([[xt]]), t)
        worst_m = max(worst_m, abs(float(np.ravel(m)[0]) - mean))
        worst_v = max(worst_v, abs(float(np.ravel(v)[0]) / var - 1))
    return Outcome(
        "the course writes σ_t I, the standard result is the variance β̃_t I = "
        "(1−ᾱ_{t−1})/(1−ᾱ_t) β_t I: posterior_mean_variance = Gaussian conditioning of "
        f"(x_(t−1), x_t) | x_0 (mean to {_f(worst_m)}, variance to {_f(worst_v)} relative)",
        worst_m < 1e-5 and worst_v < 1e-4,
    )


def _ddpm_sampling() -> Outcome:
    import jax
    import jax.numpy as jnp

    from ..inference.diffusion import sample_ddpm

    # Data x_0 ~ N(m, s²) (1-D): the exact ε-predictor is linear in x_t,
    # ε*(x_t, t) = k_t (x_t − √ᾱ_t m) with k_t = √(1−ᾱ_t) / (ᾱ_t s² + 1 − ᾱ_t). Then every
    # step of Algorithm 2 is linear-Gaussian, so the law of its output is known exactly:
    # propagate the mean and variance through x_{t−1} = μ_θ(x_t, t) + σ_t ε, ε = 0 at t = 1.
    m, s = 2.0, 0.5
    sch = _schedule()
    beta, alpha, alpha_bar = _schedule64()

    def eps_fn(xt, t):
        ab = sch.alpha_bar[t - 1][:, None]
        return jnp.sqrt(1 - ab) * (xt - jnp.sqrt(ab) * m) / (ab * s**2 + 1 - ab)

    mean, var = 0.0, 1.0
    for t in range(1000, 0, -1):
        b, a, ab = beta[t - 1], alpha[t - 1], alpha_bar[t - 1]
        k = np.sqrt(1 - ab) / (ab * s**2 + 1 - ab)
        c = b / np.sqrt(1 - ab)
        slope = (1 - c * k) / np.sqrt(a)
        mean = slope * mean + c * k * np.sqrt(ab) * m / np.sqrt(a)
        var = slope**2 * var + (b if t > 1 else 0.0)
    x0, _ = jax.jit(lambda key: sample_ddpm(eps_fn, sch, key, (20_000, 1), sigma="beta"))(
        jax.random.PRNGKey(31)
    )
    x0 = np.asarray(x0, float).ravel()
    se_m = np.sqrt(var / x0.size)
    se_v = var * np.sqrt(2 / (x0.size - 1))
    ok = _within(x0.mean(), mean, se_m) and _within(x0.var(ddof=1), var, se_v)
    return Outcome(
        f"Algorithm 2 with the exact ε for N({m:g}, {s:g}²) data, σ_t² = β_t, T = 1000: "
        f"samples mean {x0.mean():.4f}, variance {x0.var(ddof=1):.4f}; the chain's exact "
        f"law {mean:.4f}, {var:.4f} (MCSE {se_m:.4f}, {se_v:.4f}); data {m:g}, {s**2:g}",
        bool(ok),
    )


# --------------------------------------------------------- appendix: bounds, PPCA


def _variational_bound_typo() -> Outcome:
    X, model = _gmm_fit()
    lj = _gmm_log_joint(X, *_gmm_theta(model))
    f = float(np.sum(special.logsumexp(lj, axis=1)))
    rng = np.random.default_rng(32)
    g = [_elbo(rng.dirichlet(np.ones(2), size=len(X)), lj) for _ in range(50)]
    tight = _elbo(np.asarray(model.predict_proba(X), float), lj)
    ok = max(g) <= f and abs(tight - f) < 1e-6 * abs(f)
    return Outcome(
        "the course writes f(x) ≤ g(x, ξ) for a lower bound (and ∀xi), the standard result is "
        f"f(x) ≥ g(x, ξ): f = log p(X|θ) = {f:.4f} ≥ L(q, θ) for 50 random q (max "
        f"{max(g):.2f}), equal at ξ = posterior ({tight:.4f})",
        ok,
    )


def _elbo_identity() -> Outcome:
    X, model = _gmm_fit()
    lj = _gmm_log_joint(X, *_gmm_theta(model))
    log_px = special.logsumexp(lj, axis=1)
    post = np.exp(lj - log_px[:, None])
    rng = np.random.default_rng(33)
    worst = 0.0
    for _ in range(10):
        q = rng.dirichlet(np.ones(2), size=len(X))
        kl = float(np.sum(q * (np.log(q) - np.log(post))))
        worst = max(worst, abs(_elbo(q, lj) + kl - float(log_px.sum())))
    return Outcome(
        f"L(q, θ) + KL(q ‖ p(Z|X, θ)) = log p(X|θ) = {log_px.sum():.6f} for 10 random q "
        f"(to {_f(worst)})",
        worst < 1e-8,
    )


def _ppca() -> Outcome:
    from sklearn.decomposition import PCA

    from ..inference.em import PPCA

    rng = np.random.default_rng(34)
    W = rng.normal(size=(5, 2))
    Z = rng.normal(size=(300, 2))
    X = 1.0 + Z @ W.T + 0.3 * rng.normal(size=(300, 5))
    model = PPCA(2, method="closed_form").fit(X)
    C = model.get_covariance()
    # scikit-learn's PCA estimates the same model with the n − 1 sample covariance.
    ref = PCA(2).fit(X).get_covariance() * (len(X) - 1) / len(X)
    ll = float(np.mean(stats.multivariate_normal.logpdf(X, model.mean_, C)))
    # The joint N(x|μ + Wz, σ²I) N(z|0, I) marginalises to N(μ, WWᵀ + σ²I).
    Wf = np.asarray(model.components_, float).T
    C_joint = Wf @ Wf.T + model.noise_variance_ * np.eye(5)
    em = PPCA(2, method="em", tol=1e-6, max_iter=2000, random_state=0).fit(X)
    steps = np.diff(np.asarray(em.lower_bounds_, float))
    ok = (
        np.allclose(C, ref, atol=1e-8)
        and np.allclose(C, C_joint, atol=1e-10)
        and abs(model.score(X) - ll) < 1e-8
        and steps.min() > -1e-9
    )
    return Outcome(
        f"WWᵀ + σ²I = scikit-learn's PPCA covariance to {_f(np.max(np.abs(C - ref)))}; "
        f"score = mean log N(x|μ, C) = {ll:.6f}; EM bound never decreases (smallest step "
        f"{_f(steps.min())})",
        bool(ok),
    )


# ------------------------------------------------------------------------ the ledger


def _c(**kw) -> Claim:
    return Claim(**kw)


CLAIMS: tuple[Claim, ...] = (
    # ---- 1
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_expectation,
        latex=r"E(X) = \sum_{i=1}^{N} X(\omega_i) p_i, \qquad E(X) = \int_{-\infty}^{+\infty} x f(x)\, dx",
        quote_ru="Математическим ожиданием (или ожидаемым значением) случайной величины X называется число",
        gloss_en="The expectation of X is the probability-weighted sum (or integral) of its values.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_variance,
        latex=r"D(X) = \sum_{i=1}^{N} (X(\omega_i) - E(X))^2 p_i = \int_{-\infty}^{+\infty} (x - E(X))^2 f(x)\, dx",
        quote_ru="Дисперсией случайной величины X называется ожидаемое значение случаной величины",
        gloss_en="The variance is the expected squared deviation from the mean.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_median,
        latex=r"F(m) = P(X \le m) = 0.5",
        quote_ru="Квантиль порядка 0.5 называется медианой случайной величины X.",
        gloss_en="The median is the quantile of order 0.5.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_mode,
        latex=r"x_0 = \mathrm{arg\,max}_x f(x)",
        quote_ru="если в точке $x_0$ функция f(x) имеет локальный максимум",
        gloss_en="A mode is a point where the density has a local maximum.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_covariance_independent,
        latex=r"\mathrm{Cov}(X,Y) = E((X-E(X))(Y-E(Y))), \qquad X \perp Y \Rightarrow \mathrm{Cov}(X,Y) = 0",
        quote_ru="Ковариация двух независимых случайных величин равна 0.",
        gloss_en="The covariance of two independent random variables is zero.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_covariance_matrix,
        latex=r"\Sigma = \Sigma^T \succeq 0, \qquad \Sigma_{ii} = D(X_i), \quad \Sigma_{ij} = \mathrm{Cov}(X_i, X_j)",
        quote_ru="квадратная симметрическая неотрицательно определенная матрица",
        gloss_en="A covariance matrix is square, symmetric and positive semi-definite, with the variances on its diagonal.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_likelihood_product,
        course_formulas=(0,),
        latex=r"L(\theta|x) = P(x|\theta) = \prod_{i=1}^{n} p(x_i|\theta)",
        quote_ru="функция правдоподобия (в случае независимых наблюдений) может быть записана как",
        gloss_en="For independent observations the likelihood is the product of the densities.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_ml_log,
        course_formulas=(1,),
        latex=r"\theta_{ML} = \mathrm{arg\,max}_{\theta} p(X|\theta) = \mathrm{arg\,max}_{\theta} \prod_{i=1}^{n} p(x_i|\theta) = \mathrm{arg\,max}_{\theta} \sum_{i=1}^{n} \log p(x_i|\theta)",
        quote_ru="найти такие параметры $\\hat{\\theta}$ , которые максимизируют функцию правдоподобия",
        gloss_en="The ML estimate maximises the likelihood, equivalently the sum of log-likelihoods.",
    ),
    _c(
        topic=1,
        kind="check",
        where="bayesmin.models.linear_regression.mle",
        check=_concave,
        latex=r"\nabla^2_w \log p(T|X,w) = -\beta X^T X \prec 0",
        quote_ru="сумма логарифмов правдоподобий будет выпуклой вверх функцией, то есть у неё один максимум",
        gloss_en="Often the log-likelihood is concave, so it has a single maximum that is easy to find.",
    ),
    _c(
        topic=1,
        kind="typo",
        where="bayesmin.models.linear_regression.map_estimate",
        check=_map_typo,
        latex=r"\theta_{MAP} = \mathrm{arg\,max}_{\theta} p(\theta|X) = \mathrm{arg\,max}_{\theta} p(X|\theta)p(\theta) = \mathrm{arg\,max}_{\theta} \sum_{i=1}^n \ln p(x_i|\theta) + \ln p(\theta)",
        course_latex=r"\theta_{ML} = \mathrm{arg\,max}_{\theta} p(\theta|X) = \ldots",
        quote_ru="Максимум апостериорного распределения:",
        gloss_en="The maximum of the posterior (MAP), which the course labels θ_ML.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_ml_monotone,
        course_formulas=(2,),
        latex=r"p(T|X, w) \to \max_{w}, \qquad \log p(T|X, w) \to \max_{w}",
        quote_ru="тогда используя метод максимального правдоподобия мы получим",
        gloss_en="Maximising the likelihood and the log-likelihood give the same w.",
    ),
    _c(
        topic=1,
        kind="check",
        where="bayesmin.models.linear_regression.mle",
        check=_ml_least_squares,
        course_formulas=(3,),
        latex=r"\log p(T|X,w) = \mathrm{Const} - \frac{\beta}{2}\|T - Xw\|^2 \to \max_{w}",
        quote_ru="Пусть $p(T|X,w) = N(T|Xw, \\beta^{-1}I)$",
        gloss_en="Under Gaussian noise the log-likelihood is a constant minus β/2 times the squared error.",
    ),
    _c(
        topic=1,
        kind="typo",
        where="bayesmin.models.linear_regression.mle",
        check=_least_squares_min,
        latex=r"\|T-Xw\|^2 \to \min_{w}",
        course_latex=r"||T-Xw||^2 \to \max_{x}",
        quote_ru="Полученная задача эквивалентна задаче минимизации",
        gloss_en="The problem is equivalent to least squares (the course writes → max over x).",
    ),
    _c(
        topic=1,
        kind="check",
        where="bayesmin.models.linear_regression.map_estimate",
        check=_ridge,
        course_formulas=(4,),
        latex=r"-\frac{\beta}{2}\|T-Xw\|^2-\frac{1}{2}\alpha\|w\|^2 \to \max_w",
        quote_ru="Если добавим регуляризацию, то получим",
        gloss_en="Adding a Gaussian prior (regularisation) gives ridge regression.",
    ),
    _c(
        topic=1,
        kind="check",
        where=None,
        check=_ml_properties,
        latex=r"\hat\lambda_{ML} = 1/\bar x: \; E\hat\lambda = \frac{n\lambda}{n-1} \to \lambda, \quad n\,\mathrm{Var}\,\hat\lambda / \lambda^2 \to 1",
        quote_ru="Оценка максимума правдоподобия (ОМП) обладает очень хорошими свойствами",
        gloss_en="The MLE is consistent, asymptotically unbiased, normal and efficient.",
    ),
    _c(
        topic=1,
        kind="check",
        where="bayesmin.models.linear_regression.polynomial_features",
        check=_overfitting,
        latex=r"\|T - \Phi w_{ML}\|^2 \to 0 \text{ as the model grows, while the test error grows}",
        quote_ru="переобучение (в сложных моделях при большом количестве параметров модель может «подогнаться» под данные",
        gloss_en="A drawback: with many parameters the ML fit overfits the data.",
    ),
    # ---- 2
    _c(
        topic=2,
        kind="typo",
        where=None,
        check=_conditional_words,
        latex=r"p(x|y) = \frac{p(x,y)}{p(y)} \quad \text{(joint } p(x,y) \text{, marginal } p(y)\text{)}",
        course_latex=r"\text{joint } p(x|y), \text{ marginal } p(x)",
        quote_ru="отношение совместного распределения p(x|y) (joint distribution) и маргинального распределения p(x)",
        gloss_en="The conditional is the joint divided by the marginal of the conditioning variable.",
    ),
    _c(
        topic=2,
        kind="check",
        where="bayesmin.models.bayes_net.DiscreteBayesNet.query",
        check=_conditional,
        course_formulas=(5,),
        latex=r"p(x|y) = \frac{p(x,y)}{p(y)}, \qquad p(x,y) = p(x|y)p(y)",
        quote_ru="Совместное распределение можно выразить через условное и маргинальное: p(x,y) = p(x|y)p(y)",
        gloss_en="Conditional = joint / marginal; joint = conditional × marginal.",
    ),
    _c(
        topic=2,
        kind="check",
        where="bayesmin.models.bayes_net.DiscreteBayesNet.joint",
        check=_chain_rule,
        course_formulas=(6,),
        latex=r"p(x_1, \dots, x_n) = p(x_n | x_1, \dots, x_{n-1}) \dots p(x_2 | x_1) p(x_1) = p(x_1) \prod_{k=2}^n p(x_k | x_1, \dots, x_{k-1})",
        quote_ru="Теорема 1 (Правило произведения)",
        gloss_en="Product (chain) rule: the joint factorises into successive conditionals.",
    ),
    _c(
        topic=2,
        kind="typo",
        where="bayesmin.models.bayes_net.DiscreteBayesNet.query",
        check=_sum_rule,
        course_formulas=(7,),
        latex=r"p(x_1,\ldots,x_k)=\int p(x_1,\ldots,x_n)\,\mathrm{d}x_{k+1}\ldots\mathrm{d}x_n",
        course_latex=r"p(x_1,\ldots,x_k)=\int p(x_1,\ldots,x_n)\mathrm{d}_{k+1}\ldots\mathrm{d}x_n.",
        quote_ru="Теорема 2 (Правило суммирования)",
        gloss_en="Sum rule: marginalise the other variables out.",
    ),
    _c(
        topic=2,
        kind="typo",
        where="bayesmin.models.bayes_net.query",
        check=_bayes_typo,
        course_formulas=(8,),
        latex=r"p(x|y) = \frac{p(y|x)p(x)}{\int p(y|x)p(x)\,dx}",
        course_latex=r"p(x|y) = \frac{p(x|y)p(y)}{\int p(x|y)p(y)dy}",
        quote_ru="Теорема Байеса. Пусть x и y – случайные величины.",
        gloss_en="Bayes' theorem.",
    ),
    _c(
        topic=2,
        kind="check",
        where="bayesmin.models.conjugate.beta_binomial_update",
        check=_posterior_normaliser,
        latex=r"p(\theta|X) = \frac{p(X|\theta)p(\theta)}{\int p(X|\theta)p(\theta)d\theta} = \frac{1}{z}p(X|\theta)p(\theta)",
        quote_ru="Важно, что знаменатель не зависит от $\\theta$ , то есть является нормировочной константой.",
        gloss_en="The posterior is likelihood × prior over a normalising constant that does not depend on θ.",
    ),
    _c(
        topic=2,
        kind="check",
        where="bayesmin.diagnostics.independence.d_separated",
        check=_cond_indep,
        latex=r"A \perp B \mid C \iff P(AB \mid C) = P(A \mid C)P(B \mid C)",
        quote_ru="A и B условно независимы относительно $C \\iff P(AB \\mid C) = P(A \\mid C)P(B \\mid C)$",
        gloss_en="Conditional independence: the conditional joint factorises.",
    ),
    _c(
        topic=2,
        kind="typo",
        where=None,
        check=_cond_indep_typo,
        latex=r"A \perp B \mid C \iff P(A \mid B, C) = P(A \mid C)",
        course_latex=r"P(A|BC) = P(A|B) + P(A|C) = 1",
        quote_ru="или равносильно:",
        gloss_en="Equivalently, conditioning on B adds nothing once C is known.",
    ),
    # ---- 3
    _c(
        topic=3,
        kind="definition",
        where=None,
        check=None,
        latex=r"p(X|\theta) \sim \mathcal{A}(\theta), \; p(\theta|\beta) \sim \mathcal{B}(\beta) \Rightarrow p(\theta|X) \sim \mathcal{B}(\beta')",
        quote_ru="если и априорное распределение, и апостериорное распределение принадлежат к одному семейству, то они сопряжены",
        gloss_en="Prior and likelihood families are conjugate when the posterior stays in the prior's family.",
    ),
    _c(
        topic=3,
        kind="check",
        where=None,
        check=_binomial_pmf,
        course_formulas=(9,),
        latex=r"p(x|\theta) = \binom{n}{x} \theta^{x} (1-\theta)^{n-x}",
        quote_ru="Если данные x следуют биномиальному распределению",
        gloss_en="The binomial likelihood.",
    ),
    _c(
        topic=3,
        kind="check",
        where=None,
        check=_beta_pdf,
        course_formulas=(10,),
        latex=r"p(\theta) = \frac{\theta^{\alpha-1} (1-\theta)^{\beta-1}}{B(\alpha,\beta)}",
        quote_ru="то бета- распределение $Beta(\\alpha,\\beta)$ является сопряженным априорным распределением",
        gloss_en="The Beta prior density.",
    ),
    _c(
        topic=3,
        kind="typo",
        where=None,
        check=_beta_binomial_posterior_typo,
        course_formulas=(11,),
        latex=r"p(\theta|x) = \frac{1}{z} p(x|\theta)p(\theta) = \frac{1}{z} \binom{n}{x} \theta^{x} (1-\theta)^{n-x} \frac{\theta^{\alpha-1} (1-\theta)^{\beta-1}}{B(\alpha,\beta)} = \frac{1}{z'} \theta^{\alpha+x-1} (1-\theta)^{\beta+n-x-1}",
        course_latex=r"p(\theta|x) = p(x|\theta)p(\theta) = \ldots",
        quote_ru="Апостериорное распределение $p(\\theta|x)$ также будет бета- распределением.",
        gloss_en="The posterior is proportional to likelihood × prior (the course drops the 1/z in the first step).",
    ),
    _c(
        topic=3,
        kind="check",
        where="bayesmin.models.conjugate.beta_binomial_update",
        check=_beta_update,
        course_formulas=(12,),
        latex=r"p(\theta|x) = \mathrm{Beta}(\alpha+x,\beta+n-x)",
        quote_ru="Апостериорное распределение $p(\\theta|x)$ также будет бета- распределением.",
        gloss_en="Beta–binomial conjugate update.",
    ),
    _c(
        topic=3,
        kind="typo",
        where="bayesmin.models.conjugate.gamma_poisson_update",
        check=_gamma_param_typo,
        latex=r"\lambda \sim \mathrm{Gamma}(\alpha, \beta) \text{ is conjugate for } \lambda",
        course_latex=r"\text{conjugate for the parameter } \alpha",
        quote_ru="является сопряженным для параметра $\\alpha$",
        gloss_en="The Gamma prior is conjugate for the Poisson rate λ (the course says α).",
    ),
    _c(
        topic=3,
        kind="check",
        where=None,
        check=_poisson_pmf,
        course_formulas=(13,),
        latex=r"p(x|\lambda) = \frac{\lambda^x e^{-\lambda}}{x!}",
        quote_ru="Пуассоновское распределение описывает число событий в единицу времени",
        gloss_en="The Poisson likelihood.",
    ),
    _c(
        topic=3,
        kind="check",
        where=None,
        check=_gamma_pdf,
        course_formulas=(14,),
        latex=r"p(\lambda) = \frac{\beta^{\alpha} \lambda^{\alpha - 1} e^{-\beta \lambda}}{\Gamma(\alpha)} = \frac{1}{z} \cdot \lambda^{\alpha - 1} e^{-\beta \lambda}",
        quote_ru="то гамма-распределение $Gamma(\\alpha, \\beta)$",
        gloss_en="The Gamma prior density (β a rate).",
    ),
    _c(
        topic=3,
        kind="typo",
        where=None,
        check=_gamma_poisson_posterior_typo,
        course_formulas=(15,),
        latex=r"p(\lambda|x) = \frac{1}{z} p(x|\lambda)p(\lambda) = \frac{1}{z} \cdot \frac{\lambda^x e^{-\lambda}}{x!} \cdot \lambda^{\alpha - 1} e^{-\beta \lambda} = \frac{1}{z'} \lambda^{\alpha + x - 1} e^{-\lambda(\beta + 1)}",
        course_latex=r"p(\lambda|x) = p(x|\lambda)p(\lambda) = \ldots",
        quote_ru="Пример 2 (Пуассоновское распределение и гамма-распределение)",
        gloss_en="The posterior is proportional to likelihood × prior (the course drops the 1/z in the first step).",
    ),
    _c(
        topic=3,
        kind="check",
        where="bayesmin.models.conjugate.gamma_poisson_update",
        check=_gamma_update,
        course_formulas=(16,),
        latex=r"p(\lambda|x) = \mathrm{Gamma}(\alpha + x, \beta + 1)",
        quote_ru="Пример 2 (Пуассоновское распределение и гамма-распределение)",
        gloss_en="Gamma–Poisson conjugate update.",
    ),
    _c(
        topic=3,
        kind="check",
        where="bayesmin.models.conjugate.beta_binomial_predictive",
        check=_full_bayes,
        latex=r"p(X) = \int p(X|\theta)p(\theta)\,d\theta = \binom{n}{x}\frac{B(\alpha+x, \beta+n-x)}{B(\alpha,\beta)}",
        quote_ru="обеспечивают аналитическую форму апостериорного распределения без необходимости вычисления сложных интегралов",
        gloss_en="Conjugacy gives the posterior (and the evidence) in closed form, without integrals.",
    ),
    # ---- 4
    _c(
        topic=4,
        kind="check",
        where="bayesmin.inference.evidence.RVR",
        check=_rvm,
        latex=r"p(w|\alpha) = \prod_i N(w_i|0, \alpha_i^{-1}), \qquad \alpha^* = \mathrm{arg\,max}_\alpha p(T|X, \alpha, \beta)",
        quote_ru="Обеспечить разреженность и улучшить интерпретируемость модели",
        gloss_en="RVM: one precision per weight, fitted by evidence maximisation, prunes irrelevant basis functions.",
    ),
    _c(
        topic=4,
        kind="check",
        where="bayesmin.models.linear_regression.log_evidence",
        check=_evidence_closed_form,
        latex=r"p(T|X,\alpha,\beta) = N(T \mid 0, \beta^{-1}I + \alpha^{-1}XX^T)",
        quote_ru="учитывая что распределения сопряжены и подсчёт обоснованности должен быть несложным",
        gloss_en="With conjugate distributions the evidence is available in closed form.",
    ),
    # ---- 5
    _c(
        topic=5,
        kind="check",
        where="bayesmin.diagnostics.kl.kl_normal",
        check=_kl_definition,
        latex=r"\mathrm{KL}(p\|q) = \int p(x) \log \frac{p(x)}{q(x)} dx",
        quote_ru="Дивергенцией Кульбака-Лейблера называется функционал",
        gloss_en="Definition of the Kullback–Leibler divergence.",
    ),
    _c(
        topic=5,
        kind="typo",
        where="bayesmin.diagnostics.kl.kl_normal",
        check=_kl_nonnegative_typo,
        latex=r"\mathrm{KL}(p\|q) \ge 0 \quad \forall p, q",
        course_latex=r"KL(p||q) > 0, \forall p, q",
        quote_ru="обладает следующими свойствами",
        gloss_en="KL is non-negative (Gibbs' inequality); the course writes a strict >.",
    ),
    _c(
        topic=5,
        kind="check",
        where="bayesmin.diagnostics.kl.kl_mvn",
        check=_kl_zero,
        latex=r"\mathrm{KL}(p\|q) = 0 \iff p = q",
        quote_ru="обладает следующими свойствами",
        gloss_en="KL vanishes exactly when the distributions coincide.",
    ),
    _c(
        topic=5,
        kind="check",
        where="bayesmin.diagnostics.kl.kl_normal",
        check=_kl_asymmetric,
        latex=r"\mathrm{KL}(p\|q) \ne \mathrm{KL}(q\|p)",
        quote_ru="Данный функционал имеет смысл «расстояния» между распределениями",
        gloss_en="KL is a 'distance' only in quotes: it is not symmetric.",
    ),
    _c(
        topic=5,
        kind="check",
        where="bayesmin.models.conjugate.normal_normal_update",
        check=_kl_approximation,
        course_formulas=(17,),
        latex=r"KL(Q(\theta)\|P(\theta|x)) = \int Q(\theta) \log \frac{Q(\theta)}{P(\theta|x)} d\theta \to \min_Q",
        quote_ru="Мы можем аппроксимировать его с помощью более простого распределения",
        gloss_en="Approximate an intractable posterior by the Q that minimises KL(Q‖P).",
    ),
    # ---- 6
    _c(
        topic=6,
        kind="typo",
        where="bayesmin.inference.em.glad.e_step",
        check=_glad_e_step,
        course_formulas=(18,),
        latex=r"q(z_i) = p(z_i|l_i, \alpha, \beta_i) = \frac{p(z_i, l_i|\alpha, \beta_i)}{p(l_i|\alpha, \beta_i)} = \frac{p(z_i) \prod_j \sigma(\alpha_j \beta_i)^{[l_{ij} = z_i]} \sigma(-\alpha_j \beta_i)^{[l_{ij} \neq z_i]}}{\sum_{t \in \{0,1\}} p(t) \prod_j \sigma(\alpha_j \beta_i)^{[l_{ij} = t]} \sigma(-\alpha_j \beta_i)^{[l_{ij} \neq t]}}",
        course_latex=r"\ldots \prod_j \left(\sigma(\alpha_j \beta_i)^{[l_{ij} = z_i]} + \sigma(-\alpha_j \beta_i)^{[l_{ij} \neq z_i]}\right) \ldots \sum_{t \in [0,1]} \ldots",
        quote_ru="E-step.",
        gloss_en="GLAD E-step (Whitehill et al. 2009): the posterior of each task's true label.",
    ),
    _c(
        topic=6,
        kind="check",
        where="bayesmin.inference.em.glad.e_step",
        check=_glad_e_step_log,
        course_formulas=(19,),
        latex=r"q_i^*(z_i) = \frac{\exp\left(\sum_j [l_{ij} = z_i] \log \sigma(\alpha_j \beta_i) + [l_{ij} \neq z_i] \log \sigma(-\alpha_j \beta_i)\right)}{\sum_{t \in \{0,1\}} \exp\left(\sum_j [l_{ij} = t] \log \sigma(\alpha_j \beta_i) + [l_{ij} \neq t] \log \sigma(-\alpha_j \beta_i)\right)}",
        quote_ru="E-step.",
        gloss_en="The same E-step in log space (with a uniform prior on z_i).",
    ),
    _c(
        topic=6,
        kind="typo",
        where="bayesmin.inference.em.glad.m_step",
        check=_glad_m_step_typo,
        course_formulas=(20,),
        latex=r"\mathbb{E}_{z \sim q(z)} \log p(z, l | \alpha, \beta) \to \max_{\alpha, \beta}",
        course_latex=r"\mathbb{E}_{z \sim q(z)} \log p(z, l | \alpha, \beta) \to \min_{\alpha, \beta}",
        quote_ru="M-step.",
        gloss_en="GLAD M-step: maximise the expected complete-data log-likelihood (the course writes min).",
    ),
    _c(
        topic=6,
        kind="typo",
        where="bayesmin.inference.em.glad.m_step_objective",
        check=_glad_m_step_objective_typo,
        course_formulas=(21,),
        latex=r"\mathbb{E}_{z \sim q(z)} \log p(z, l | \alpha, \beta) = \sum_{i} \sum_{j} \sum_{t \in \{0,1\}} q_i^*(t) \left( [l_{ij} = t] \log \sigma(\alpha_j \beta_i) + [l_{ij} \neq t] \log \sigma(-\alpha_j \beta_i) \right) + \mathrm{const}",
        course_latex=r"\ldots \log \sigma(\alpha_j, \beta_i) + [l_{ij} \neq t] \log \sigma(-\alpha_j, \beta_i) \ldots",
        quote_ru="M-step.",
        gloss_en="The M-step objective: a weighted logistic log-likelihood in the products α_j β_i.",
    ),
    _c(
        topic=6,
        kind="typo",
        where="bayesmin.inference.em.GaussianMixture.predict_proba",
        check=_em_e_step_typo,
        course_formulas=(22,),
        latex=r"\mathcal{L}(q, \theta_0) \to \max_q \Rightarrow q(Z) = p(Z|X, \theta_0) = \mathrm{arg\,min}_q \mathrm{KL}(q(Z)\|p(Z|X, \theta_0))",
        course_latex=r"\mathcal{L}(\theta, q_0) o \max_q \Rightarrow q(z) = p(z|X, \theta)",
        quote_ru="Максимизируем по q при фиксированном $\\theta$",
        gloss_en="E-step: for fixed θ the bound is maximised by the exact posterior of the latent variables.",
    ),
    _c(
        topic=6,
        kind="check",
        where=None,
        check=_em_m_step_objective,
        course_formulas=(23,),
        latex=r"\mathcal{L}(q_0, \theta) \to \max_{\theta} \Rightarrow \int q(Z) \log p(X, Z|\theta) dZ \to \max_{\theta}",
        quote_ru="Максимизируем по $\\theta$ при фиксированном q",
        gloss_en="M-step: the entropy of q does not depend on θ, so maximise the expected complete-data log-likelihood.",
    ),
    _c(
        topic=6,
        kind="check",
        where="bayesmin.inference.em.GaussianMixture.fit",
        check=_em_m_step,
        course_formulas=(24,),
        latex=r"\theta^{\text{new}} = \mathrm{arg\,max}_{\theta} \int q(Z) \log \frac{p(X, Z|\theta)}{q(Z)} dZ = \mathrm{arg\,max}_{\theta} \mathbb{E}_{Z \sim q(Z)} \log p(X, Z|\theta)",
        quote_ru="итерационный метод максимизации правдоподобия выборки, которая зависит от скрытых переменных",
        gloss_en="EM iterates E- and M-steps; the bound never decreases (Bishop 2006, §9.4).",
    ),
    # ---- 7
    _c(
        topic=7,
        kind="check",
        where="bayesmin.inference.monte_carlo.expectation",
        check=_monte_carlo,
        latex=r"\mathbb{E}_{p}f = \int f(x)p(x)dx \approx \frac{1}{n}\sum_{i=1}^n f(x_i), \; x_i \sim p(x), \qquad \mathrm{MCSE} = \frac{\mathrm{sd}(f)}{\sqrt{n}}",
        quote_ru="Метод Монте-Карло применяется для оценки математического ожидания функции f(x) по распределению p(x)",
        gloss_en="Monte Carlo estimates an expectation by a sample mean; its error falls as 1/√n.",
    ),
    _c(
        topic=7,
        kind="check",
        where="bayesmin.inference.monte_carlo.rejection_sample",
        check=_rejection,
        latex=r"p(x) \le M q(x), \qquad P(\text{accept}) = \frac{1}{M}",
        quote_ru="выбирается другая плотность q(x), которую можно промасштабировать, чтобы она покрывала p(x) сверху",
        gloss_en="Rejection sampling under an envelope Mq accepts a fraction 1/M of proposals.",
    ),
    _c(
        topic=7,
        kind="check",
        where="bayesmin.inference.monte_carlo.importance_sample",
        check=_importance,
        latex=r"\mathbb{E}_p f = \mathbb{E}_q\left[f(x)\frac{p(x)}{q(x)}\right], \qquad Z = \mathbb{E}_q \frac{\tilde p(x)}{q(x)}",
        quote_ru="Meтод Importance sampling",
        gloss_en="Importance sampling reweights draws from a proposal; the weights' mean is unbiased for Z.",
    ),
    _c(
        topic=7,
        kind="check",
        where="bayesmin.inference.monte_carlo.importance_sample",
        check=_importance_variance,
        latex=r"\mathrm{Var}_q\left[f \frac{p}{q}\right] \ll \mathrm{Var}_p[f] \text{ for } q \text{ near } |f|p",
        quote_ru="уменьшить отклонения сэмплов",
        gloss_en="A good proposal reduces the variance of the estimate.",
    ),
    # ---- 8
    _c(
        topic=8,
        kind="check",
        where="bayesmin.diagnostics.markov.mh_transition_matrix",
        check=_acceptance_normaliser,
        course_formulas=(25,),
        latex=r"A(x, x') = \min\left(1, \frac{\hat{p}(x')q(x \mid x')}{\hat{p}(x)q(x' \mid x)}\right) = \min\left(1, \frac{p(x')q(x \mid x')}{p(x)q(x' \mid x)}\right)",
        quote_ru="известное с точностью до нормировочной константы",
        gloss_en="The MH acceptance probability; the unknown normaliser cancels.",
    ),
    _c(
        topic=8,
        kind="typo",
        where="bayesmin.diagnostics.markov.mh_transition_matrix",
        check=_acceptance_direction_typo,
        latex=r"A(x, x') = P(\text{accept the move } x \to x')",
        course_latex=r"\text{accept the move from } x' \text{ to } x",
        quote_ru="Определим вероятность A(x,x') принятия перехода из x' в x как",
        gloss_en="A(x, x') is the probability of accepting the move from the current x to the proposed x'.",
    ),
    _c(
        topic=8,
        kind="check",
        where="bayesmin.inference.mh.metropolis_hastings",
        check=_mh_rule,
        course_formulas=(26,),
        latex=r"x_{n+1} = \begin{cases} x' \sim q(x' \mid x_n), & \text{with probability } A(x_n, x'), \\ x_n, & \text{with probability } 1 - A(x_n, x'), \end{cases}",
        quote_ru="Тогда для $\\forall x_0$ и марковской цепи с правилом перехода",
        gloss_en="The MH transition rule: accept the proposal with probability A, otherwise stay.",
    ),
    _c(
        topic=8,
        kind="typo",
        where="bayesmin.diagnostics.markov.convergence",
        check=_limit_typo,
        latex=r"\lim_{n \to \infty} p_n(x) = p(x) = \frac{\hat p(x)}{B}",
        course_latex=r"\exists N : \forall n \geq N \Rightarrow x_n \sim \hat{p}(x_n)",
        quote_ru="гарантируется, что",
        gloss_en="The chain's distribution converges to the normalised target as n → ∞.",
    ),
    _c(
        topic=8,
        kind="check",
        where="bayesmin.inference.mh.metropolis_hastings",
        check=_mh_correlated,
        latex=r"\mathrm{corr}(x_n, x_{n+1}) > 0, \qquad \mathrm{ESS} < n",
        quote_ru="высокая скоррелированность соседних случайных величин",
        gloss_en="MCMC draws are correlated, so n draws carry less information than n independent ones.",
    ),
    # ---- 9
    _c(
        topic=9,
        kind="check",
        where="bayesmin.models.conjugate.normal_normal_update",
        check=_elbo_kl,
        latex=r"\log p(x) = \mathcal{L}(q) + \mathrm{KL}(q(z)\|p(z|x)) \Rightarrow \mathrm{arg\,max}_q \mathcal{L}(q) = \mathrm{arg\,min}_q \mathrm{KL}(q\|p(z|x))",
        quote_ru="Задача тренировки заключается в максимизации ELBO, что эквивалентно минимизации расстояния между настоящим апостериорным распределением и вариационной аппроксимацией.",
        gloss_en="Maximising the ELBO is minimising the KL to the true posterior (Kingma & Welling 2014).",
    ),
    _c(
        topic=9,
        kind="check",
        where="bayesmin.models.vae.log_qz_x",
        check=_vae_kl,
        latex=r"\mathcal{L} = E_{q(z|x)}[\log P(x|z)] - \mathrm{KL}(q(z|x)\|P(z))",
        quote_ru="Вычисляется KL-дивергенция между q(z|x) и P(z).",
        gloss_en="The ELBO's second term: KL between the encoder's Gaussian and the N(0, I) prior.",
    ),
    _c(
        topic=9,
        kind="typo",
        where="bayesmin.models.vae.Normal32",
        check=_reparameterisation,
        latex=r"z = \mu(x) + \sigma(x)\epsilon, \quad \epsilon \sim N(0, I)",
        course_latex=r"z=\mu(x)+\sigma(x)\epsilon \quad \epsilon N(0,I)",
        quote_ru="Тогда вместо того, чтобы напрямую сэмплировать z, мы можем представить его как",
        gloss_en="The reparameterisation trick: z is a differentiable function of μ, σ and the noise.",
    ),
    # ---- 10
    _c(
        topic=10,
        kind="check",
        where="bayesmin.inference.diffusion.mean_from_eps",
        check=_ddpm_loss,
        course_formulas=(27,),
        latex=r"\nabla_{\theta} \frac{1}{2\sigma_t^2} \|\widetilde{\mu}(x_t, x_0, t) - \mu_{\theta}(x_t, t)\|^2",
        quote_ru="Выполняется шаг градиентного спуска для минимизации функции потерь",
        gloss_en="DDPM training step on the mean-matching loss (Ho et al. 2020, eq. 8–12).",
    ),
    _c(
        topic=10,
        kind="typo",
        where="bayesmin.inference.diffusion.q_sample",
        check=_ddpm_forward_typo,
        course_formulas=(28,),
        latex=r"x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t} \epsilon, \quad \bar\alpha_t = \prod_{s=1}^t \alpha_s, \quad \epsilon \sim N(0, I)",
        course_latex=r"x_t = \sqrt{\alpha_t} x_0 + \sqrt{1 - \alpha_t} \epsilon_t, \quad \epsilon \in N(0,1)",
        quote_ru="На каждом шаге добавляется шум, что можно записать следующим образом",
        gloss_en="Forward process in closed form q(x_t|x_0) (Ho et al. 2020, eq. 4).",
    ),
    _c(
        topic=10,
        kind="check",
        where="bayesmin.inference.diffusion.linear_schedule",
        check=_ddpm_prior,
        latex=r"q(x_T|x_0) = N(\sqrt{\bar\alpha_T} x_0, (1-\bar\alpha_T) I) \approx N(0, I)",
        quote_ru="которое близко к нормальному распределению",
        gloss_en="After T steps the forward process ends near a standard normal.",
    ),
    _c(
        topic=10,
        kind="typo",
        where="bayesmin.inference.diffusion.posterior_mean_variance",
        check=_ddpm_posterior_typo,
        course_formulas=(29,),
        latex=r"q(x_{t-1}|x_t, x_0) = N(x_{t-1}|\tilde\mu(x_t, x_0, t), \tilde\beta_t I), \quad \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t",
        course_latex=r"q(x_{t-1}|x_t, x_0) = N(x_{t-1}|\mu(x_t, x_0, t), \sigma_t I)",
        quote_ru="Обратный процесс описывается следующим образом",
        gloss_en="The forward process's posterior is Gaussian with variance β̃_t (Ho et al. 2020, eq. 6–7).",
    ),
    _c(
        topic=10,
        kind="definition",
        where="bayesmin.models.diffusion.EpsNet",
        check=None,
        course_formulas=(30,),
        latex=r"p_{\theta}(x_{t-1}|x_t) = N(x_{t-1}|\mu_{\theta}(x_t, t), \Sigma_{\theta}(x_t, t))",
        quote_ru="где $\\mu_{\\theta}$ и $\\Sigma_{\\theta}$ – параметры, предсказываемые нейронной сетью",
        gloss_en="The learnt reverse process: a Gaussian whose mean a neural network predicts.",
    ),
    _c(
        topic=10,
        kind="check",
        where="bayesmin.inference.diffusion.sample_ddpm",
        check=_ddpm_sampling,
        latex=r"x_T \sim N(0, I); \quad x_{t-1} = \mu_{\theta}(x_t, t) + \sigma_t \epsilon, \; \epsilon \sim N(0, I) \; (t > 1), \; \epsilon = 0 \; (t = 1)",
        quote_ru="Обратный процесс диффузии:",
        gloss_en="DDPM sampling (Algorithm 2 of Ho et al. 2020).",
    ),
    # ---- appendix (ДОПОЛНИТЕЛЬНО)
    _c(
        topic=6,
        kind="typo",
        where="bayesmin.inference.em.GaussianMixture.predict_proba",
        check=_variational_bound_typo,
        latex=r"\forall x, \forall \xi \quad f(x) \ge g(x, \xi); \qquad \forall x \; \exists \xi(x) : f(x) = g(x, \xi(x))",
        course_latex=r"\forall x, \forall xi \quad f(x) \le g(x, \xi)",
        quote_ru="называется вариоционной нижней оценкой функции f.",
        gloss_en="A variational lower bound lies below f everywhere and touches it for the right ξ.",
    ),
    _c(
        topic=6,
        kind="check",
        where=None,
        check=_elbo_identity,
        course_formulas=(31,),
        latex=r"\mathcal{L}(q,\theta) = \int q(Z) \log \frac{p(X,Z|\theta)}{q(Z)} dZ = \log p(X|\theta) - \mathrm{KL}(q(Z)\|p(Z|X,\theta))",
        quote_ru="Нижняя граница на обоснованность (ELBO, evidence lower bound):",
        gloss_en="The evidence lower bound; ELBO + KL = log evidence (Bishop 2006, eq. 9.70).",
    ),
    _c(
        topic=8,
        kind="check",
        where="bayesmin.diagnostics.markov.detailed_balance",
        check=_detailed_balance,
        course_formulas=(32,),
        latex=r"\forall x, x' \in \mathcal{X} \quad p_*(x)q(x'|x) = p_*(x')q(x|x') \Rightarrow p_* \text{ invariant}",
        quote_ru="Уравнение детального баланса.",
        gloss_en="Detailed balance implies that p_* is invariant.",
    ),
    _c(
        topic=8,
        kind="check",
        where=None,
        check=_markov_factorisation,
        course_formulas=(33,),
        latex=r"p(x_1, \ldots, x_n) = p_1(x_1)p_2(x_2|x_1)p_3(x_3|x_2)\ldots p_n(x_n|x_{n-1})",
        quote_ru="Марковской цепью назовём бесконечную последовательность случайных величин",
        gloss_en="A Markov chain's joint factorises through one-step transitions.",
    ),
    _c(
        topic=8,
        kind="definition",
        where=None,
        check=None,
        course_formulas=(34,),
        latex=r"\forall n \quad p_n(x_n|x_{n-1}) = q(x_n|x_{n-1})",
        quote_ru="Марковская цепь называется гомогенной (или однородной), если",
        gloss_en="A homogeneous chain uses the same transition at every step.",
    ),
    _c(
        topic=8,
        kind="check",
        where="bayesmin.diagnostics.markov.stationary_distribution",
        check=_ergodic,
        latex=r"\forall p_1(x) \quad \lim_{n \to \infty} p_n(x) = p_*(x)",
        quote_ru="будем называть эргодическими",
        gloss_en="An ergodic chain forgets its start: every initial distribution converges to p_*.",
    ),
    _c(
        topic=6,
        kind="check",
        where="bayesmin.inference.em.PPCA",
        check=_ppca,
        course_formulas=(35,),
        latex=r"p(x,z|\theta) = p(x|z,\theta)p(z) = N(x|\mu + Wz,\sigma^2 I)N(z|0,I)",
        quote_ru="Вводим модель с латентными переменными",
        gloss_en="Probabilistic PCA (Tipping & Bishop 1999): x is Wz + μ plus isotropic noise.",
    ),
)


# ------------------------------------------------------------------------- evaluation


def uncovered_formulas(claims: Sequence[Claim] = CLAIMS) -> list[int]:
    """Indices of the course's display formulas that no claim covers."""
    covered = {i for c in claims for i in c.course_formulas}
    return [i for i in range(len(course_formulas())) if i not in covered]


def evaluate(
    claims: Sequence[Claim] = CLAIMS, progress: Callable[[int, int, Claim], None] | None = None
) -> list[Result]:
    """Run every claim's check, timing each; a check that raises is a failed row."""
    results = []
    for k, claim in enumerate(claims):
        if progress is not None:
            progress(k, len(claims), claim)
        start = time.perf_counter()
        if claim.check is None:
            outcome = None
        else:
            try:
                outcome = claim.check()
            except Exception as error:  # a broken check is a failed row, never a crash
                outcome = Outcome(f"error: {type(error).__name__}: {error}", False)
        results.append(Result(claim, outcome, time.perf_counter() - start))
    return results


def count_line(results: Sequence[Result]) -> str:
    """ "N claims checked (P passed), M definitions, K course typos corrected"."""
    checked = [r for r in results if r.outcome is not None]
    passed = sum(r.outcome.passed for r in checked)
    definitions = sum(r.claim.kind == "definition" for r in results)
    typos = sum(r.claim.kind == "typo" for r in results)
    return (
        f"{len(checked)} claims checked ({passed} passed), {definitions} definitions, "
        f"{typos} course typos corrected"
    )


# --------------------------------------------------------------------------- rendering

# The page around the table (ledger.html alone).
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.4em 0.6em; }
th { background: #f4f4f4; }
.pass { color: #0a6b0a; font-weight: bold; }
.fail { color: #b00020; font-weight: bold; }
p.count { font-size: 1.1em; font-weight: bold; }
"""

# The table's own layout, carried with it (the report's page and ledger.html alike): a
# fixed layout keeps every column in view; a long formula scrolls inside its cell.
_TABLE_CSS = """
.ledger-wide { overflow-x: auto; max-width: 100%; }
table.ledger { table-layout: fixed; width: 100%; font-size: 0.85rem; }
table.ledger th, table.ledger td { vertical-align: top; text-align: left; }
table.ledger th:nth-child(1) { width: 3%; } table.ledger th:nth-child(2) { width: 5%; }
table.ledger th:nth-child(3) { width: 26%; } table.ledger th:nth-child(4) { width: 19%; }
table.ledger th:nth-child(5) { width: 11%; } table.ledger th:nth-child(6) { width: 8%; }
table.ledger th:nth-child(7) { width: 21%; } table.ledger th:nth-child(8) { width: 7%; }
table.ledger td { overflow-wrap: break-word; }
table.ledger td.formula { overflow-x: auto; }
table.ledger td code { overflow-wrap: anywhere; }
table.ledger .gloss { color: #555; font-size: 0.9em; }
table.ledger .course { color: #8a4b00; font-size: 0.85em; }
table.ledger .def { color: #555; }
"""


def _row(k: int, r: Result) -> str:
    c, e = r.claim, html.escape
    formula = tex(c.latex, display=True)
    if c.course_latex is not None:
        formula += f'<div class="course">the course writes: <code>{e(c.course_latex)}</code></div>'
    where = f"<code>{e(c.where)}</code>" if c.where else "—"
    if r.outcome is None:
        check, value, verdict = (
            "definition",
            "definition — nothing to compute",
            '<span class="def">—</span>',
        )
    else:
        check = "typo corrected; checked" if c.kind == "typo" else "checked"
        check += f" ({r.seconds:.2f} s)"
        value = r.outcome.value
        verdict = (
            '<span class="pass">pass</span>'
            if r.outcome.passed
            else '<span class="fail">fail</span>'
        )
    formulas = ", ".join(f"({i + 1})" for i in c.course_formulas)
    section = f"{c.topic}" + (f"<br><small>{e(formulas)}</small>" if formulas else "")
    return (
        f'<tr><td>{k}</td><td>{section}</td><td class="formula">{formula}</td>'
        f'<td>{typeset(c.quote_ru)}<div class="gloss">{e(c.gloss_en)}</div></td>'
        f"<td>{where}</td><td>{e(check)}</td><td>{e(value)}</td><td>{verdict}</td></tr>"
    )


def ledger_html(results: Sequence[Result]) -> str:
    """The ledger as an HTML fragment: the count line, then one table row per claim."""
    rows = "\n".join(_row(k + 1, r) for k, r in enumerate(results))
    return (
        f'<p class="count">{html.escape(count_line(results))}</p>\n'
        f"<style>{_TABLE_CSS}</style>\n"
        '<div class="ledger-wide"><table class="ledger">\n<thead><tr><th>#</th><th>course §</th><th>formula</th>'
        "<th>the course's words</th><th>where in the code</th><th>check</th><th>value</th>"
        "<th>pass/fail</th></tr></thead>\n<tbody>\n"
        f"{rows}\n</tbody>\n</table></div>\n"
    )


def write_ledger_page(out_dir: str | Path, results: Sequence[Result]) -> Path:
    """Write ``out_dir/ledger.html``, a standalone page (no scripts, no external files)."""
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>bayesmin — the course's claims ledger</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>The course's claims, each checked</h1>\n"
        "<p>Every display formula of the course (numbered in order of appearance) and every "
        "property it states, with the computation that checks it. Where the course has a typo "
        "the standard result is typeset and checked, and the course's writing is quoted.</p>\n"
        f"{ledger_html(results)}</body>\n</html>\n"
    )
    return write_atomic(Path(out_dir) / "ledger.html", page)
