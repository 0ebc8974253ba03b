"""Monte Carlo integration, rejection sampling and importance sampling (course topic 7).

The Monte Carlo method replaces an integral :math:`\\mathbb{E}_p[f] = \\int f(x) p(x) dx`
by an average over draws. When :math:`p` cannot be sampled directly, a simpler proposal
:math:`q` is sampled instead and its draws are either *rejected* until they follow
:math:`p` (:func:`rejection_sample`, needs an envelope :math:`M q \\ge \\tilde p`) or
*reweighted* by :math:`\\tilde p / q` (:func:`importance_sample`).

Conventions shared by every function here
------------------------------------------
- Randomness is a NumPy :class:`numpy.random.Generator`. ``seed`` is an ``int`` (or an
  existing ``Generator``); same seed, same result. Internally it is split by purpose
  (envelope search, envelope check, sampling) with :meth:`numpy.random.SeedSequence.spawn`.
- A *sampler* is a callable ``sampler(rng, m) -> array`` returning ``m`` draws with the draw
  index first: shape ``(m,)`` for a scalar variable, ``(m, d)`` for a vector. For example
  ``lambda rng, m: rng.normal(0.0, 1.0, size=m)``. A JAX sampler can be wrapped by drawing a key
  from the generator: ``lambda rng, m: np.asarray(jax.random.normal(jax.random.key(
  int(rng.integers(2**32))), (m,)))``.
- Log densities are vectorised: ``log_p_tilde(x)`` takes the whole ``(m, ...)`` batch and
  returns shape ``(m,)``; ``-inf`` outside the support (never NaN). ``log_p_tilde`` may be
  unnormalised, :math:`\\tilde p = Z p`.
- Test functions ``f`` are vectorised too: ``f(x)`` returns shape ``(m,)`` or ``(m, k...)``;
  vector-valued ``f`` is estimated elementwise.

References
----------
* C. P. Robert and G. Casella (2004). *Monte Carlo Statistical Methods*, 2nd ed.
  Springer. Ch. 2.3 (accept–reject), 3.2–3.3 (Monte Carlo integration, importance sampling).
* A. B. Owen (2013). *Monte Carlo theory, methods and examples*. Ch. 2 (plain Monte
  Carlo), 4.7 (acceptance–rejection), 9 (importance sampling; self-normalised estimator,
  its delta-method variance and the effective sample size :math:`(\\sum w)^2 / \\sum w^2`).
* A. Vehtari, D. Simpson, A. Gelman, Y. Yao and J. Gabry (2024). Pareto smoothed
  importance sampling. *Journal of Machine Learning Research* 25(72):1–58.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

__all__ = [
    "ImportanceResult",
    "MCEstimate",
    "RejectionResult",
    "expectation",
    "importance_sample",
    "rejection_sample",
]

Seed = int | np.random.Generator | np.random.SeedSequence | None
Sampler = Callable[[np.random.Generator, int], np.ndarray]
LogDensity = Callable[[np.ndarray], np.ndarray]

# The envelope found numerically is inflated by this much on the log scale (M * 1.001):
# the optimiser's answer is a lower bound on the supremum, never an upper one.
_LOG_M_MARGIN = 1e-3
# Points of the 1-D search grid inside the pilot range, and of the check grid that extends
# one pilot range beyond it on each side (where too-light proposal tails show up).
_SEARCH_GRID = 2001
_CHECK_GRID = 4001
# Proposal batches in rejection sampling are kept between these sizes.
_MIN_BATCH, _MAX_BATCH = 1_000, 1_000_000

_COVER_MSG = (
    "envelope M·q(x) does not cover the target at x = {x} "
    "(log p̃(x) − log q(x) = {lr:.6g} > log M = {lm:.6g}); "
    "increase M or choose a wider proposal"
)


# --------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, eq=False)
class MCEstimate:
    """A plain Monte Carlo estimate of :math:`\\mathbb{E}_p[f]`.

    Attributes
    ----------
    estimate : float or ndarray
        The sample mean of ``f``; shape of one ``f`` value (a float for scalar ``f``).
    std_error : float or ndarray
        Its Monte Carlo standard error ``sd(f) / sqrt(n)`` (``ddof=1``), same shape;
        NaN when ``n == 1``.
    n : int
        Number of draws.
    """

    estimate: float | np.ndarray
    std_error: float | np.ndarray
    n: int


@dataclass(frozen=True, eq=False)
class RejectionResult:
    """Output of :func:`rejection_sample`.

    Attributes
    ----------
    samples : ndarray, shape (n, ...)
        The accepted draws, in the order they were accepted; exact draws from
        :math:`p = \\tilde p / Z`.
    accepted : int
        Number of accepted draws (``n``).
    proposed : int
        Number of proposals made up to and including the ``n``-th acceptance.
    acceptance_rate : float
        ``accepted / proposed``; estimates :math:`Z / M` (``1 / M`` for a normalised target).
    log_M : float
        The envelope constant used, on the log scale (found numerically or given).
    proposals : ndarray, shape (proposed, ...)
        Every proposed point, for plotting.
    accept_flags : ndarray of bool, shape (proposed,)
        Whether each proposal was accepted; ``proposals[accept_flags] == samples``.
    heights : ndarray, shape (proposed,)
        The uniform heights :math:`u \\, M q(x)` with :math:`u \\sim U(0, 1)`; a proposal is
        accepted when its height is at most :math:`\\tilde p(x)`.
    """

    samples: np.ndarray
    accepted: int
    proposed: int
    acceptance_rate: float
    log_M: float
    proposals: np.ndarray
    accept_flags: np.ndarray
    heights: np.ndarray

    @property
    def M(self) -> float:
        """The envelope constant :math:`M = e^{\\log M}` (may overflow for huge targets)."""
        return float(np.exp(self.log_M))


@dataclass(frozen=True, eq=False)
class ImportanceResult:
    """Output of :func:`importance_sample`.

    Attributes
    ----------
    estimate : float or ndarray
        Self-normalised importance sampling estimate :math:`\\sum_i \\bar w_i f(x_i)`.
    std_error : float or ndarray
        Delta-method standard error :math:`\\sqrt{\\sum_i \\bar w_i^2 (f(x_i) - \\hat\\mu)^2}`
        (Owen 2013, §9.2); same shape as ``estimate``.
    weights : ndarray, shape (n,)
        Normalised importance weights :math:`\\bar w_i`, summing to one.
    log_weights : ndarray, shape (n,)
        Unnormalised log weights :math:`\\log \\tilde p(x_i) - \\log q(x_i)`.
    ess : float
        Kish's effective sample size :math:`(\\sum w)^2 / \\sum w^2 = 1 / \\sum \\bar w_i^2`,
        between 1 and ``n``.
    pareto_k : float
        PSIS shape estimate :math:`\\hat k` (Vehtari et al. 2024): below 0.5 fine, 0.5–0.7 usable
        with care, above 0.7 the estimate is unreliable (the weights' variance is likely
        infinite). NaN for ``n < 2``; ``inf`` when ``n`` is too small to fit a tail.
    psis_estimate : float or ndarray
        The same self-normalised estimate with Pareto-smoothed weights.
    log_normaliser : float
        :math:`\\log \\hat Z = \\log \\frac1n \\sum_i w_i`, an estimate of
        :math:`\\log \\int \\tilde p` — the evidence when :math:`\\tilde p` is
        likelihood × prior.
    log_normaliser_std_error : float
        Its delta-method standard error on the log scale, :math:`\\mathrm{sd}(w) /
        (\\sqrt n \\, \\bar w)`; NaN for ``n == 1``.
    draws : ndarray, shape (n, ...)
        The proposal draws :math:`x_i \\sim q`.
    n : int
        Number of draws.
    """

    estimate: float | np.ndarray
    std_error: float | np.ndarray
    weights: np.ndarray
    log_weights: np.ndarray
    ess: float
    pareto_k: float
    psis_estimate: float | np.ndarray
    log_normaliser: float
    log_normaliser_std_error: float
    draws: np.ndarray
    n: int


# --------------------------------------------------------------------------------------
# plain Monte Carlo


def expectation(
    f: Callable[[np.ndarray], np.ndarray],
    sampler: Sampler | None = None,
    n: int | None = None,
    seed: Seed = 0,
    *,
    draws: np.ndarray | None = None,
) -> MCEstimate:
    """Plain Monte Carlo estimate of :math:`\\mathbb{E}_p[f(x)]`.

    Parameters
    ----------
    f : callable
        Vectorised test function: ``f(x)`` with ``x`` of shape ``(n, ...)`` returns shape
        ``(n,)`` or ``(n, k...)``; vector values are averaged elementwise.
    sampler : callable, optional
        ``sampler(rng, n)`` draws ``n`` points from :math:`p` with the NumPy generator
        ``rng``. Give either ``sampler`` and ``n`` or ``draws``.
    n : int, optional
        Number of draws, at least 1.
    seed : int or numpy.random.Generator, default 0
        Seed of the generator handed to ``sampler``.
    draws : array_like, optional
        Precomputed draws from :math:`p`, draw index first, instead of ``sampler``.

    Returns
    -------
    MCEstimate
        ``estimate`` :math:`\\hat\\mu = \\frac1n \\sum f(x_i)`, ``std_error``
        :math:`\\hat\\sigma_f / \\sqrt n` and ``n``.

    Raises
    ------
    ValueError
        When both or neither of ``sampler`` and ``draws`` are given, ``n < 1``, or ``f``
        does not return one value per draw.

    Notes
    -----
    By the law of large numbers :math:`\\hat\\mu \\to \\mathbb{E}_p[f]` and by the central
    limit theorem its error is about :math:`\\sigma_f / \\sqrt n` whatever the dimension of
    :math:`x` (Robert & Casella 2004, §3.2; Owen 2013, ch. 2): quadrupling ``n`` halves the standard error.

    References
    ----------
    * Robert & Casella (2004), *Monte Carlo Statistical Methods*, §3.2.
    * Owen (2013), *Monte Carlo theory, methods and examples*, ch. 2.

    Examples
    --------
    >>> est = expectation(lambda x: x**2, lambda rng, m: rng.normal(size=m), n=10_000, seed=1)
    >>> abs(est.estimate - 1.0) < 4 * est.std_error
    True
    """
    if (sampler is None) == (draws is None):
        raise ValueError("Only one of `sampler` (with `n`) or `draws` must be specified.")
    if draws is None:
        n = _check_n(n)
        x = _draw(sampler, np.random.default_rng(seed), n, "sampler")
    else:
        if n is not None:
            raise ValueError("`n` is taken from `draws`; do not pass both.")
        x = np.asarray(draws)
        if x.ndim == 0:
            raise ValueError("`draws` must have the draw index first; got a scalar.")
        n = _check_n(x.shape[0], what="len(draws)")
    fx = _apply_f(f, x, n)
    estimate = fx.mean(axis=0)
    std_error = fx.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.full_like(estimate, np.nan)
    return MCEstimate(_scalar(estimate), _scalar(std_error), n)


# --------------------------------------------------------------------------------------
# rejection sampling


def rejection_sample(
    log_p_tilde: LogDensity,
    proposal_sample: Sampler,
    proposal_logpdf: LogDensity,
    n: int,
    seed: Seed = 0,
    log_M: float | None = None,
    *,
    pilot_size: int = 100_000,
    max_proposals: int = 10_000_000,
) -> RejectionResult:
    """Exact draws from :math:`p \\propto \\tilde p` by accept–reject under an envelope.

    Parameters
    ----------
    log_p_tilde : callable
        Vectorised log target, possibly unnormalised: ``(m, ...) -> (m,)``.
    proposal_sample : callable
        ``proposal_sample(rng, m)`` draws ``m`` points from the proposal :math:`q`.
    proposal_logpdf : callable
        Vectorised normalised log density of :math:`q`: ``(m, ...) -> (m,)``.
    n : int
        Number of accepted draws wanted, at least 1.
    seed : int or numpy.random.Generator, default 0
        Split into independent streams for the envelope search, the envelope check and
        the sampling.
    log_M : float, optional
        :math:`\\log M` with :math:`\\tilde p(x) \\le M q(x)` for all :math:`x`. Found
        numerically when omitted (see Notes). A given value is checked the same way.
    pilot_size : int, default 100_000
        Size of the pilot samples from :math:`q` used to find and to check :math:`M`.
    max_proposals : int, default 10_000_000
        Give up (``RuntimeError``) after this many proposals; they are all kept in memory.

    Returns
    -------
    RejectionResult
        The samples, acceptance counts and rate, ``log_M``, and every proposal with its
        accept flag and uniform height :math:`u M q(x)` for plotting.

    Raises
    ------
    ValueError
        ``n < 1``; a non-finite ``log_M``; NaN log densities at proposal points (with how
        many); a proposal with zero density where the target is positive; an envelope that
        does not cover the target (``"envelope M·q(x) does not cover the target at x =
        ..."``), including a target with heavier tails than the proposal.
    RuntimeError
        When ``max_proposals`` proposals did not yield ``n`` acceptances.

    Notes
    -----
    Draw :math:`x \\sim q` and :math:`u \\sim U(0, 1)`; accept :math:`x` when
    :math:`u M q(x) \\le \\tilde p(x)`. Accepted points are uniform under the graph of
    :math:`\\tilde p`, hence exact draws from :math:`p`, and each proposal is accepted with
    probability :math:`\\int \\tilde p / M = Z / M` (Robert & Casella 2004, §2.3; Owen 2013, §4.7). The
    comparison is done on the log scale.

    *Finding M.* :math:`\\log M = \\sup_x [\\log \\tilde p(x) - \\log q(x)]` is searched on a
    pilot sample of ``pilot_size`` draws from :math:`q` (plus, in one dimension, a grid of
    2001 points over the pilot's range), then refined from the best point — in 1-D by
    bounded Brent search (:func:`scipy.optimize.minimize_scalar`) between the neighbouring
    candidates, in more dimensions by Nelder–Mead (:func:`scipy.optimize.minimize`) from
    the three best pilot points. A safety margin of 0.1 % is added (:math:`M \\times 1.001`).

    *Checking M* (found or given). The log ratio must not exceed :math:`\\log M` on a fresh
    pilot sample from :math:`q` and, in 1-D, on a grid spanning three times the pilot's
    range (one range beyond each end), where a proposal with lighter tails than the target
    shows a growing ratio; a grid point with :math:`q = 0` but :math:`\\tilde p > 0` is a
    support error. Every batch of proposals is checked again while sampling. These checks
    are empirical: a violation far outside anything :math:`q` proposes cannot be seen.

    References
    ----------
    * Robert & Casella (2004), *Monte Carlo Statistical Methods*, §2.3.
    * Owen (2013), *Monte Carlo theory, methods and examples*, §4.7.

    Examples
    --------
    >>> from scipy import stats
    >>> res = rejection_sample(stats.beta(2, 5).logpdf, lambda rng, m: rng.uniform(size=m),
    ...                        stats.uniform.logpdf, n=1000, seed=0)
    >>> round(res.M, 2)  # sup of the Beta(2, 5) density, at its mode 0.2, times 1.001
    2.46
    """
    n = _check_n(n)
    pilot_size = _check_n(pilot_size, what="pilot_size")
    if log_M is not None:
        log_M = float(log_M)
        if not np.isfinite(log_M):
            raise ValueError(f"log_M must be finite; got {log_M}.")
    rng_search, rng_check, rng_sample = _spawn(seed, 3)

    if log_M is None:
        log_M = _find_log_M(log_p_tilde, proposal_sample, proposal_logpdf, rng_search, pilot_size)
    rate = _check_envelope(
        log_p_tilde, proposal_sample, proposal_logpdf, rng_check, pilot_size, log_M
    )

    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    n_acc = n_prop = 0
    while n_acc < n:
        if n_prop >= max_proposals:
            raise RuntimeError(
                f"rejection sampling stopped after {n_prop} proposals with {n_acc} of {n} "
                f"accepted (acceptance ≈ {n_acc / n_prop:.3g}); tighten the envelope, use a "
                "proposal closer to the target, or raise max_proposals."
            )
        remaining = n - n_acc
        # Enough proposals to finish in one batch with high probability.
        want = (1.1 * remaining + 3.0 * np.sqrt(remaining)) / rate
        m = int(min(_MAX_BATCH, max(_MIN_BATCH, np.ceil(want)), max_proposals - n_prop))
        x = _draw(proposal_sample, rng_sample, m, "proposal_sample")
        lp, lq = _evaluate(log_p_tilde, proposal_logpdf, x)
        _check_proposal_points(lp, lq)
        log_r = lp - lq
        _raise_if_uncovered(x, log_r, log_M)
        with np.errstate(divide="ignore"):
            log_h = np.log(rng_sample.random(m)) + log_M + lq
        flags = log_h <= lp
        k = int(flags.sum())
        if n_acc + k >= n:
            # Stop right after the n-th acceptance so `proposed` counts one geometric run.
            cut = int(np.flatnonzero(flags)[remaining - 1]) + 1
            x, flags, log_h = x[:cut], flags[:cut], log_h[:cut]
            k = remaining
        parts.append((x, flags, log_h))
        n_acc += k
        n_prop += flags.shape[0]

    proposals = np.concatenate([p[0] for p in parts])
    accept_flags = np.concatenate([p[1] for p in parts])
    heights = np.exp(np.concatenate([p[2] for p in parts]))
    return RejectionResult(
        samples=proposals[accept_flags],
        accepted=n_acc,
        proposed=n_prop,
        acceptance_rate=n_acc / n_prop,
        log_M=float(log_M),
        proposals=proposals,
        accept_flags=accept_flags,
        heights=heights,
    )


def _find_log_M(log_p_tilde, proposal_sample, proposal_logpdf, rng, pilot_size) -> float:
    """:math:`\\sup_x \\log \\tilde p - \\log q` on a pilot sample (+ 1-D grid), refined."""
    x = _draw(proposal_sample, rng, pilot_size, "proposal_sample")
    lp, lq = _evaluate(log_p_tilde, proposal_logpdf, x)
    _check_proposal_points(lp, lq)
    cand, log_r = x, lp - lq
    grid = _grid(x, _SEARCH_GRID, extend=0.0)
    if grid is not None:
        glp, glq = _evaluate(log_p_tilde, proposal_logpdf, grid)
        _raise_if_zero_proposal(grid, glp, glq)
        ok = np.isfinite(glq)  # grid points where q vanishes or NaNs are not candidates
        cand, log_r = np.concatenate([cand, grid[ok]]), np.concatenate([log_r, glp[ok] - glq[ok]])
    finite = np.isfinite(log_r)
    if np.any(log_r == np.inf):
        i = int(np.flatnonzero(log_r == np.inf)[0])
        raise ValueError(_COVER_MSG.format(x=_fmt(cand[i]), lr=np.inf, lm=np.inf))
    if not finite.any():
        raise ValueError(
            f"the target is zero at every one of the {pilot_size} pilot proposals; the "
            "proposal does not overlap the target — choose one that does."
        )
    cand, log_r = cand[finite], log_r[finite]
    best = float(log_r.max())

    def neg_log_r(z):
        zz = np.asarray(z, dtype=float).reshape((1, *cand.shape[1:]))
        a, b = _evaluate(log_p_tilde, proposal_logpdf, zz)
        v = a[0] - b[0]
        return -v if np.isfinite(v) else 1e300

    if _is_one_dimensional(cand):
        flat = cand.reshape(-1)
        order = np.argsort(flat)
        flat, lr_sorted = flat[order], log_r[order]
        i = int(np.argmax(lr_sorted))
        lo, hi = flat[max(i - 1, 0)], flat[min(i + 1, flat.size - 1)]
        if hi > lo:
            res = optimize.minimize_scalar(
                neg_log_r,
                bounds=(lo, hi),
                method="bounded",
                options={"xatol": 1e-10 * max(1.0, abs(flat[i]))},
            )
            best = max(best, -float(res.fun))
    else:
        for i in np.argsort(log_r)[-3:]:
            res = optimize.minimize(
                lambda z: neg_log_r(z),
                cand[i].reshape(-1),
                method="Nelder-Mead",
                options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000},
            )
            if np.isfinite(res.fun) and res.fun < 1e300:
                best = max(best, -float(res.fun))
    return best + _LOG_M_MARGIN


def _check_envelope(log_p_tilde, proposal_sample, proposal_logpdf, rng, pilot_size, log_M):
    """Raise if the envelope fails on a fresh pilot (+ wide 1-D grid); return est. Z / M."""
    x = _draw(proposal_sample, rng, pilot_size, "proposal_sample")
    lp, lq = _evaluate(log_p_tilde, proposal_logpdf, x)
    _check_proposal_points(lp, lq)
    log_r = lp - lq
    _raise_if_uncovered(x, log_r, log_M)
    grid = _grid(x, _CHECK_GRID, extend=1.0)
    if grid is not None:
        glp, glq = _evaluate(log_p_tilde, proposal_logpdf, grid)
        _raise_if_zero_proposal(grid, glp, glq)
        ok = np.isfinite(glq)
        _raise_if_uncovered(grid[ok], glp[ok] - glq[ok], log_M)
    # E_q[p̃ / (M q)] = Z / M: the acceptance rate, used to size the batches.
    rate = float(np.mean(np.exp(log_r - log_M)))
    if rate <= 0.0:
        raise ValueError(
            f"the target is zero at every one of the {pilot_size} pilot proposals; the "
            "proposal does not overlap the target — choose one that does."
        )
    return max(rate, 1.0 / _MAX_BATCH)


def _raise_if_uncovered(x, log_r, log_M):
    tol = 1e-9 * max(1.0, abs(log_M))  # round-off when M is exactly the supremum
    bad = np.flatnonzero(log_r > log_M + tol)
    if bad.size:
        i = bad[np.argmax(log_r[bad])]
        raise ValueError(_COVER_MSG.format(x=_fmt(x[i]), lr=log_r[i], lm=log_M))


# --------------------------------------------------------------------------------------
# importance sampling


def importance_sample(
    log_p_tilde: LogDensity,
    proposal_sample: Sampler,
    proposal_logpdf: LogDensity,
    f: Callable[[np.ndarray], np.ndarray],
    n: int,
    seed: Seed = 0,
) -> ImportanceResult:
    """Self-normalised importance sampling estimate of :math:`\\mathbb{E}_p[f]`, and of
    :math:`\\log Z`.

    Parameters
    ----------
    log_p_tilde : callable
        Vectorised log target, possibly unnormalised: ``(n, ...) -> (n,)``.
    proposal_sample : callable
        ``proposal_sample(rng, n)`` draws ``n`` points from the proposal :math:`q`.
    proposal_logpdf : callable
        Vectorised normalised log density of :math:`q`. It must be positive wherever the
        target is.
    f : callable
        Vectorised test function ``(n, ...) -> (n,)`` or ``(n, k...)``.
    n : int
        Number of proposal draws, at least 1.
    seed : int or numpy.random.Generator, default 0
        Seed of the generator handed to ``proposal_sample``.

    Returns
    -------
    ImportanceResult
        Estimate and delta-method standard error, normalised and log weights, ESS, PSIS
        :math:`\\hat k` and the PSIS-smoothed estimate, :math:`\\log \\hat Z` with its
        standard error, the draws.

    Raises
    ------
    ValueError
        ``n < 1``; NaN log densities at proposal points (with how many); ``-inf`` proposal
        density at its own draws; a proposal with zero density where the target is positive
        (checked in 1-D on a grid three times the draws' range); a target that is zero at
        every draw.

    Notes
    -----
    With :math:`x_i \\sim q` and weights :math:`w_i = \\tilde p(x_i) / q(x_i)`,

    .. math::

        \\hat\\mu = \\frac{\\sum_i w_i f(x_i)}{\\sum_i w_i}, \\qquad
        \\widehat{\\mathrm{se}}^2 = \\sum_i \\bar w_i^2 (f(x_i) - \\hat\\mu)^2, \\qquad
        \\bar w_i = w_i / \\textstyle\\sum_j w_j,

    the second being the delta-method variance of the ratio estimator (Owen 2013, §9.2).
    :math:`\\hat Z = \\frac1n \\sum w_i` is unbiased for :math:`Z = \\int \\tilde p`; its
    relative error :math:`\\mathrm{sd}(w) / (\\sqrt n \\bar w)` is the standard error of
    :math:`\\log \\hat Z`. Kish's effective sample size :math:`(\\sum w)^2 / \\sum w^2`
    (Owen 2013, §9.3) tends to :math:`n / \\mathbb{E}_q[(p/q)^2]`; it only measures the spread
    of the weights, not whether :math:`q` missed part of :math:`p`.

    :math:`\\hat k` is the shape of a generalised Pareto fit to the largest weights
    (:func:`arviz.psislw`, ``reff=1`` for independent draws; Vehtari et al. 2024). The weights have
    finite variance only for :math:`k < 1/2`; above 0.7 even the smoothed estimate is
    unreliable — typically a proposal narrower than the target.

    References
    ----------
    * Robert & Casella (2004), *Monte Carlo Statistical Methods*, §3.3.
    * Owen (2013), *Monte Carlo theory, methods and examples*, ch. 9.
    * Vehtari, Simpson, Gelman, Yao & Gabry (2024), Pareto smoothed importance
      sampling, *JMLR* 25(72).

    Examples
    --------
    >>> from scipy import stats
    >>> res = importance_sample(lambda x: stats.norm.logpdf(x, 1, 0.5) + np.log(3),
    ...                         lambda rng, m: rng.normal(size=m), stats.norm.logpdf,
    ...                         f=lambda x: x, n=20_000, seed=0)
    >>> bool(abs(res.estimate - 1) < 4 * res.std_error)
    True
    >>> round(res.log_normaliser, 1)  # log 3 = 1.0986
    1.1
    """
    import arviz as az  # heavy import, only needed here

    n = _check_n(n)
    x = _draw(proposal_sample, np.random.default_rng(seed), n, "proposal_sample")
    lp, lq = _evaluate(log_p_tilde, proposal_logpdf, x)
    _check_proposal_points(lp, lq)
    grid = _grid(x, _CHECK_GRID, extend=1.0)
    if grid is not None:
        _raise_if_zero_proposal(grid, *_evaluate(log_p_tilde, proposal_logpdf, grid))
    log_w = lp - lq
    if np.any(log_w == np.inf):
        raise ValueError(
            "log_p_tilde returned +inf at a proposal point; the target must be finite."
        )
    if not np.any(np.isfinite(log_w)):
        raise ValueError(
            f"the target is zero at every one of the {n} proposal draws; the proposal does "
            "not overlap the target — choose one that does."
        )
    log_sum = logsumexp(log_w)
    weights = np.exp(log_w - log_sum)
    fx = _apply_f(f, x, n)
    estimate = np.tensordot(weights, fx, axes=1)
    std_error = np.sqrt(np.tensordot(weights**2, (fx - estimate) ** 2, axes=1))
    ess = float(1.0 / np.sum(weights**2))

    if n >= 2:
        # ArviZ's Pareto fit can overflow harmlessly in exp() on very heavy tails.
        with np.errstate(over="ignore"):
            psis_lw, k = az.psislw(log_w.copy(), reff=1.0)
        pareto_k = float(k)
        psis_estimate = np.tensordot(np.exp(psis_lw - logsumexp(psis_lw)), fx, axes=1)
    else:
        pareto_k, psis_estimate = np.nan, np.full_like(estimate, np.nan)

    log_normaliser = float(log_sum - np.log(n))
    if n >= 2:
        scaled = np.exp(log_w - log_w.max())  # w / max w: same relative spread, no overflow
        log_z_se = float(scaled.std(ddof=1) / (np.sqrt(n) * scaled.mean()))
    else:
        log_z_se = np.nan

    return ImportanceResult(
        estimate=_scalar(estimate),
        std_error=_scalar(std_error),
        weights=weights,
        log_weights=log_w,
        ess=ess,
        pareto_k=pareto_k,
        psis_estimate=_scalar(psis_estimate),
        log_normaliser=log_normaliser,
        log_normaliser_std_error=log_z_se,
        draws=x,
        n=n,
    )


# --------------------------------------------------------------------------------------
# helpers


def _check_n(n, what: str = "n") -> int:
    if n is None:
        raise ValueError(f"`{what}` is required: the number of draws, at least 1.")
    if isinstance(n, bool) or not float(n).is_integer():
        raise ValueError(f"`{what}` must be a whole number of draws; got {n!r}.")
    n = int(n)
    if n < 1:
        raise ValueError(f"`{what}` must be at least 1; got {n}.")
    return n


def _spawn(seed: Seed, k: int) -> list[np.random.Generator]:
    """``k`` independent generators from one seed (keys split by purpose)."""
    if isinstance(seed, np.random.Generator):
        return seed.spawn(k)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in ss.spawn(k)]


def _draw(sampler: Sampler, rng: np.random.Generator, m: int, name: str) -> np.ndarray:
    x = np.asarray(sampler(rng, m))
    if x.ndim == 0 or x.shape[0] != m:
        raise ValueError(
            f"{name}(rng, m) must return m draws with the draw index first; asked for "
            f"m = {m}, got shape {x.shape}."
        )
    return x


def _evaluate(log_p_tilde, proposal_logpdf, x) -> tuple[np.ndarray, np.ndarray]:
    m = x.shape[0]
    # The user's formulas may take logs of negatives outside their support; NaNs are
    # reported by the callers with counts, so NumPy's warnings would only be noise.
    with np.errstate(all="ignore"):
        lp = np.asarray(log_p_tilde(x), dtype=float)
        lq = np.asarray(proposal_logpdf(x), dtype=float)
    for name, v in (("log_p_tilde", lp), ("proposal_logpdf", lq)):
        if v.shape != (m,):
            raise ValueError(
                f"{name} must return one log density per point: expected shape ({m},), "
                f"got {v.shape}."
            )
    return lp, lq


def _check_proposal_points(lp: np.ndarray, lq: np.ndarray) -> None:
    """Log densities at draws from q: no NaN anywhere, and q itself must be positive."""
    m = lp.shape[0]
    for name, v in (("log_p_tilde", lp), ("proposal_logpdf", lq)):
        bad = int(np.isnan(v).sum())
        if bad:
            raise ValueError(
                f"{name} returned NaN at {bad} of {m} proposal points; return -inf outside "
                "the support instead of NaN."
            )
    bad = int(np.sum(lq == -np.inf))
    if bad:
        raise ValueError(
            f"proposal_logpdf is -inf at {bad} of {m} of the proposal's own draws; "
            "proposal_logpdf and proposal_sample must describe the same distribution."
        )
    if np.any(lq == np.inf):
        raise ValueError("proposal_logpdf returned +inf; the proposal density must be finite.")


def _raise_if_zero_proposal(x, lp, lq) -> None:
    """Points where q = 0 but p̃ > 0: no proposal can ever land there."""
    bad = np.flatnonzero((lq == -np.inf) & np.isfinite(lp))
    if bad.size:
        raise ValueError(
            f"the proposal has zero density where the target is positive (at x = "
            f"{_fmt(x[bad[0]])}, {bad.size} grid points in all); choose a proposal whose "
            "support covers the target's."
        )


def _is_one_dimensional(x: np.ndarray) -> bool:
    return x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1)


def _grid(x: np.ndarray, num: int, extend: float) -> np.ndarray | None:
    """1-D grid over the range of ``x`` widened by ``extend`` ranges on each side."""
    if not (_is_one_dimensional(x) and np.issubdtype(x.dtype, np.floating)):
        return None
    flat = x.reshape(-1)
    flat = flat[np.isfinite(flat)]
    if flat.size < 2:
        return None
    lo, hi = float(flat.min()), float(flat.max())
    span = hi - lo
    if not span > 0:
        return None
    g = np.linspace(lo - extend * span, hi + extend * span, num)
    return g.reshape((num, *x.shape[1:]))


def _apply_f(f, x, n) -> np.ndarray:
    fx = np.asarray(f(x), dtype=float)
    if fx.ndim == 0 or fx.shape[0] != n:
        raise ValueError(
            f"f must be vectorised and return one value per draw (shape ({n}, ...)); "
            f"got shape {fx.shape}."
        )
    return fx


def _scalar(v):
    v = np.asarray(v)
    return float(v) if v.ndim == 0 else v


def _fmt(x) -> str:
    x = np.asarray(x)
    return f"{float(x.reshape(-1)[0]):.6g}" if x.size == 1 else np.array2string(x, precision=6)
