"""Finite Markov chains: the Metropolis–Hastings matrix, detailed balance and convergence.

Course topic 8 builds a Markov chain whose invariant distribution is a target ``p`` known up
to a constant, and states (ДОПОЛНИТЕЛЬНО) that detailed balance makes ``p`` invariant and
that for an ergodic chain ``p_n → p_*`` from any start. On a finite state space
``{0, ..., K-1}`` every one of these statements is a finite computation, so this module
checks them exactly rather than by Monte Carlo:

- :func:`mh_transition_matrix` — the transition matrix ``P`` of the MH chain for a target
  vector and a proposal matrix (with ``hastings=False`` the Metropolis rule without the
  proposal correction: the negative control, wrong under an asymmetric proposal);
- :func:`detailed_balance` — the net probability flux ``π_i P_ij − π_j P_ji``;
- :func:`stationary_distribution` — the left eigenvector of ``P`` for eigenvalue 1;
- :func:`tv_distance`, :func:`convergence` — ``‖p_0 Pⁿ − π‖_TV`` step by step;
- :func:`spectral_gap`, :func:`relaxation_time`, :func:`tv_bound` — how fast that happens;
- :func:`step_distributions` — ``p_n = p_0 Pⁿ`` at chosen steps;
- :func:`random_walk_proposal`, :func:`discretised_target` — ready-made examples, and
  :func:`finite_chain` / :func:`finite_chain_table` — course topic 8's example: one target
  and asymmetric proposal, MH with and without the Hastings correction, side by side.

For a random-walk proposal on a continuous target, :func:`efficient_band` gives the
acceptance rates at which the chain is near its most efficient in the high-dimensional
limit (:data:`OPTIMAL_ACCEPTANCE` = 0.234 at the optimum) [6]_.

Vectors are probability vectors (rows); ``P[i, j] = P(x_{n+1} = j | x_n = i)``, so a row
vector of state probabilities evolves as ``p_{n+1} = p_n P``.

References
----------
.. [1] Metropolis, N., Rosenbluth, A. W., Rosenbluth, M. N., Teller, A. H. & Teller, E.
   (1953). Equation of state calculations by fast computing machines. *J. Chem. Phys.*
   21(6), 1087-1092.
.. [2] Hastings, W. K. (1970). Monte Carlo sampling methods using Markov chains and their
   applications. *Biometrika* 57(1), 97-109.
.. [3] Levin, D. A., Peres, Y. & Wilmer, E. L. (2017). *Markov Chains and Mixing Times*,
   2nd ed., AMS. Sec. 1.5-1.6 (stationarity, reversibility), ch. 4 (total variation,
   Prop. 4.2, Exercise 4.2), sec. 12.2 (spectral decomposition, absolute spectral gap,
   relaxation time, Theorem 12.4).
.. [4] Roberts, G. O. & Rosenthal, J. S. (2004). General state space Markov chains and MCMC
   algorithms. *Probability Surveys* 1, 20-71.
.. [5] Diaconis, P. & Stroock, D. (1991). Geometric bounds for eigenvalues of Markov chains.
   *Ann. Appl. Probab.* 1(1), 36-61, Proposition 3.
.. [6] Roberts, G. O., Gelman, A. & Gilks, W. R. (1997). Weak convergence and optimal scaling
   of random walk Metropolis algorithms. *Ann. Appl. Probab.* 7(1), 110-120.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = [
    "OPTIMAL_ACCEPTANCE",
    "DetailedBalance",
    "FiniteChain",
    "convergence",
    "detailed_balance",
    "discretised_target",
    "efficient_band",
    "finite_chain",
    "finite_chain_table",
    "mh_transition_matrix",
    "random_walk_proposal",
    "relaxation_time",
    "spectral_gap",
    "stationary_distribution",
    "step_distributions",
    "tv_bound",
    "tv_distance",
]

# Rows of a transition matrix built in floating point sum to 1 only up to rounding; this is
# far above that rounding and far below any real modelling mistake.
_ROW_TOL = 1e-10
# Residual allowed for π P = π after the eigen-solve (about sqrt(machine epsilon)).
_STATIONARY_TOL = 1.5e-8
# Eigenvalues this close to 1 count as 1 when deciding whether π is unique.
_UNIT_EIG_TOL = 1e-10


# --------------------------------------------------------------------------- validation


def _as_target(target: ArrayLike, name: str = "target") -> NDArray[np.float64]:
    """``target`` as a 1-D float array of strictly positive finite weights, normalised."""
    t = np.asarray(target, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D vector; got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(
            f"{name} must be finite; entries {np.flatnonzero(~np.isfinite(t))} are not"
        )
    if np.any(t <= 0):
        bad = np.flatnonzero(t <= 0)
        raise ValueError(
            f"{name} must be > 0 in every state (MH needs π_i > 0 to form π_j/π_i); "
            f"entries {bad.tolist()} are <= 0 — drop those states instead"
        )
    # Normalising by the max first keeps a target with a huge dynamic range from overflowing.
    t = t / t.max()
    return t / t.sum()


def _as_stochastic(matrix: ArrayLike, name: str) -> NDArray[np.float64]:
    """``matrix`` as a square, nonnegative, row-stochastic float array."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"{name} must be a square (K, K) matrix; got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} must be finite")
    if np.any(m < 0):
        i, j = np.argwhere(m < 0)[0]
        raise ValueError(
            f"{name} must be nonnegative; {name}[{i}, {j}] = {m[i, j]:.3g} (and "
            f"{int(np.sum(m < 0))} negative entries in all)"
        )
    sums = m.sum(axis=1)
    off = np.abs(sums - 1.0) > _ROW_TOL
    if np.any(off):
        i = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{name} must be row-stochastic (each row sums to 1); row {i} sums to "
            f"{sums[i]:.12g} ({int(off.sum())} rows off in all)"
        )
    return m


def _as_distribution(p: ArrayLike, k: int, name: str) -> NDArray[np.float64]:
    """A start: a state index (a point mass) or a length-``k`` probability vector."""
    if np.ndim(p) == 0 and float(p) == int(p):
        i = int(p)
        if not 0 <= i < k:
            raise ValueError(f"{name} = {i} is not a state of a chain with {k} states")
        out = np.zeros(k)
        out[i] = 1.0
        return out
    v = np.asarray(p, dtype=float)
    if v.shape != (k,):
        raise ValueError(f"{name} must have shape ({k},) to match P; got {v.shape}")
    if not np.all(np.isfinite(v)) or np.any(v < 0) or abs(v.sum() - 1.0) > _ROW_TOL:
        raise ValueError(f"{name} must be a probability vector (nonnegative, sums to 1)")
    return v


def _check_sizes(P: NDArray[np.float64], pi: NDArray[np.float64], p_name: str) -> None:
    if P.shape[0] != pi.size:
        raise ValueError(
            f"{p_name} is {P.shape[0]}x{P.shape[1]} but target has {pi.size} states; "
            "they must describe the same state space"
        )


# --------------------------------------------------------------------------- the MH matrix


def mh_transition_matrix(
    target: ArrayLike, proposal: ArrayLike, *, hastings: bool = True
) -> NDArray[np.float64]:
    """Transition matrix of the Metropolis–Hastings chain on ``K`` states.

    Parameters
    ----------
    target : array_like, shape (K,)
        Target probabilities ``π``, possibly unnormalised; every entry finite and > 0.
    proposal : array_like, shape (K, K)
        Row-stochastic proposal matrix, ``proposal[i, j] = q(j | i)``.
    hastings : bool, default True
        Include the Hastings correction ``Q[j, i] / Q[i, j]`` in the acceptance ratio.
        ``False`` gives Metropolis et al.'s rule ``min(1, π_j / π_i)``, which is correct
        only for a symmetric proposal — the deliberately broken kernel for negative
        controls.

    Returns
    -------
    P : ndarray, shape (K, K)
        ``P[i, j]`` is the probability of moving from ``i`` to ``j`` in one MH step.

    Raises
    ------
    ValueError
        If ``target`` is not a positive finite vector, ``proposal`` is not a nonnegative
        row-stochastic square matrix, or their sizes differ.

    See Also
    --------
    detailed_balance, stationary_distribution

    Notes
    -----
    For ``i ≠ j``, with acceptance probability ``A(i, j)``,

    .. math::

        P_{ij} = Q_{ij}\\, A(i, j), \\qquad
        A(i, j) = \\min\\Bigl(1, \\frac{π_j Q_{ji}}{π_i Q_{ij}}\\Bigr),

    and ``P_ii = 1 − Σ_{j≠i} P_ij``: a rejected proposal (and a proposal to stay) leaves the
    chain where it is. A move that cannot be proposed (``Q_ij = 0``) has ``P_ij = 0``; a move
    that can be proposed but not reversed (``Q_ij > 0``, ``Q_ji = 0``) is always rejected,
    which is what the ratio's zero numerator says. Then ``π_i P_ij = min(π_i Q_ij, π_j Q_ji)``
    is symmetric in ``(i, j)``: detailed balance, hence ``π P = π`` [2]_, [4]_.

    Examples
    --------
    >>> Q = random_walk_proposal(4, p_right=0.8)
    >>> P = mh_transition_matrix([1.0, 2.0, 3.0, 4.0], Q)
    >>> bool(detailed_balance(P, [1.0, 2.0, 3.0, 4.0]).holds)
    True
    """
    # Course typo (COURSE.ru.md, topic 8): it calls A(x, x') "the probability of accepting
    # the move from x' to x"; the formula it then gives, min(1, p(x')q(x|x') / (p(x)q(x'|x))),
    # is the standard one for the move from the current x TO the proposed x' — which is
    # what is implemented here. (It also writes x_n ~ p̂(x_n) for the limit, with the
    # unnormalised p̂; the limit is the normalised p, and it is reached as n → ∞, not
    # exactly after some finite N.)
    pi = _as_target(target)
    Q = _as_stochastic(proposal, "proposal")
    _check_sizes(Q, pi, "proposal")

    can_move = Q > 0
    # Ratios only where Q_ij > 0; elsewhere P_ij = 0 whatever the ratio would say.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = pi[None, :] / pi[:, None]
        if hastings:
            ratio = ratio * (Q.T / Q)
    accept = np.where(can_move, np.minimum(1.0, ratio), 0.0)
    P = Q * accept
    np.fill_diagonal(P, 0.0)
    # Off-diagonal row sums are <= 1 − Q_ii, so the diagonal is >= Q_ii >= 0 up to rounding.
    np.fill_diagonal(P, np.clip(1.0 - P.sum(axis=1), 0.0, 1.0))
    return P


# --------------------------------------------------------------------------- detailed balance


@dataclass(frozen=True)
class DetailedBalance:
    """Result of :func:`detailed_balance`.

    Attributes
    ----------
    holds : bool
        ``max_violation <= atol``.
    max_violation : float
        ``max_ij |π_i P_ij − π_j P_ji|`` with ``π`` normalised to sum 1.
    worst : tuple of int
        ``(i, j)`` where the largest violation occurs (``i < j``).
    flux : ndarray, shape (K, K)
        Net probability flux ``π_i P_ij − π_j P_ji`` (antisymmetric; zero iff reversible).
    """

    holds: bool
    max_violation: float
    worst: tuple[int, int]
    flux: NDArray[np.float64]


def detailed_balance(P: ArrayLike, target: ArrayLike, *, atol: float = 1e-12) -> DetailedBalance:
    """Check the detailed balance equations ``π_i P_ij = π_j P_ji`` for all ``i, j``.

    Parameters
    ----------
    P : array_like, shape (K, K)
        Row-stochastic transition matrix.
    target : array_like, shape (K,)
        Candidate invariant distribution, possibly unnormalised (it is normalised first,
        so ``atol`` is an absolute tolerance on probability fluxes).
    atol : float, default 1e-12
        Largest violation still counted as balance.

    Returns
    -------
    DetailedBalance
        ``holds``, ``max_violation``, ``worst`` location and the full net ``flux``.

    Notes
    -----
    Summing ``π_i P_ij = π_j P_ji`` over ``i`` gives ``(π P)_j = π_j``: detailed balance
    implies invariance (the course's "уравнение детального баланса", where its ``q(x'|x)``
    is the transition of the chain — for MH the full ``P`` with rejections, not the
    proposal). The converse fails: a chain may leave ``π`` invariant without being
    reversible. See [3]_ sec. 1.6.
    """
    pi = _as_target(target)
    P = _as_stochastic(P, "P")
    _check_sizes(P, pi, "P")
    outflow = pi[:, None] * P
    flux = outflow - outflow.T
    i, j = np.unravel_index(int(np.argmax(np.abs(flux))), flux.shape)
    worst = (int(min(i, j)), int(max(i, j)))
    violation = float(np.abs(flux[i, j]))
    return DetailedBalance(holds=violation <= atol, max_violation=violation, worst=worst, flux=flux)


# --------------------------------------------------------------------------- stationarity


def stationary_distribution(P: ArrayLike) -> NDArray[np.float64]:
    """The stationary distribution ``π`` of ``P``: ``π P = π``, ``Σ π = 1``, ``π >= 0``.

    Parameters
    ----------
    P : array_like, shape (K, K)
        Row-stochastic transition matrix with a unique stationary distribution (e.g.
        irreducible).

    Returns
    -------
    pi : ndarray, shape (K,)

    Raises
    ------
    ValueError
        If ``P`` is not row-stochastic, if eigenvalue 1 is repeated (``π`` not unique:
        the chain is reducible), or if the computed vector fails ``‖π P − π‖₁ < 1.5e-8``.

    Notes
    -----
    ``π`` is the left eigenvector of ``P`` for eigenvalue 1, i.e. the right eigenvector of
    ``Pᵀ``. It is taken from ``numpy.linalg.eig(P.T)`` at the eigenvalue closest to 1, made
    real, given a positive sum, clipped at 0 (only rounding is clipped; genuinely mixed
    signs raise) and normalised. Perron–Frobenius guarantees a nonnegative choice when
    ``π`` is unique [3]_ sec. 1.5.
    """
    P = _as_stochastic(P, "P")
    values, vectors = np.linalg.eig(P.T)
    near_one = np.abs(values - 1.0)
    if int(np.sum(near_one < _UNIT_EIG_TOL)) > 1:
        raise ValueError(
            "the stationary distribution is not unique: eigenvalue 1 of P is repeated "
            "(the chain is reducible — it has more than one closed class)"
        )
    v = np.real(vectors[:, int(np.argmin(near_one))])
    v = v / v.sum()
    if np.any(v < -_STATIONARY_TOL):
        raise ValueError("the eigenvector for eigenvalue 1 has entries of both signs")
    pi = np.clip(v, 0.0, None)
    pi = pi / pi.sum()
    residual = float(np.abs(pi @ P - pi).sum())
    if residual > _STATIONARY_TOL:
        raise ValueError(f"computed π fails π P = π (‖πP − π‖₁ = {residual:.2e})")
    return pi


def tv_distance(p: ArrayLike, q: ArrayLike) -> float:
    """Total variation distance ``½ Σ_i |p_i − q_i|`` between two distributions.

    Parameters
    ----------
    p, q : array_like, shape (K,)
        Probability vectors (not renormalised here).

    Returns
    -------
    float
        In ``[0, 1]`` for probability vectors; equals ``max_A |p(A) − q(A)|`` [3]_ Prop. 4.2.
    """
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape; got {p.shape} and {q.shape}")
    return 0.5 * float(np.abs(p - q).sum())


def convergence(
    P: ArrayLike, p0: ArrayLike | int, n_steps: int, *, target: ArrayLike | None = None
) -> pd.DataFrame:
    """Total variation distance of ``p_n = p_0 Pⁿ`` to the stationary distribution.

    Parameters
    ----------
    P : array_like, shape (K, K)
        Row-stochastic transition matrix.
    p0 : int or array_like, shape (K,)
        Starting distribution, or a state index for a point mass there.
    n_steps : int
        Last step ``n`` reported (steps ``0, 1, ..., n_steps``).
    target : array_like, shape (K,), optional
        Distribution to measure against (normalised first). Default: ``P``'s own
        :func:`stationary_distribution`. Passing the MH target shows whether the chain
        converges to the *right* distribution — the negative control's converges elsewhere.

    Returns
    -------
    pandas.DataFrame
        Columns ``step`` (int) and ``tv`` (float), ``n_steps + 1`` rows.

    Notes
    -----
    The course's ``lim p_n = p_*``. Against ``P``'s stationary ``π`` the distance is
    non-increasing in ``n`` for every chain, reversible or not ([3]_ Exercise 4.2:
    ``‖μP − π‖_TV ≤ ‖μ − π‖_TV``); an ergodic chain drives it to 0 [4]_ Theorem 4.
    """
    P = _as_stochastic(P, "P")
    k = P.shape[0]
    if int(n_steps) != n_steps or n_steps < 0:
        raise ValueError(f"n_steps must be a nonnegative integer; got {n_steps!r}")
    p = _as_distribution(p0, k, "p0")
    if target is None:
        ref = stationary_distribution(P)
    else:
        ref = _as_target(target)
        _check_sizes(P, ref, "P")
    tv = np.empty(int(n_steps) + 1)
    for n in range(int(n_steps) + 1):
        tv[n] = tv_distance(p, ref)
        p = p @ P
    return pd.DataFrame({"step": np.arange(int(n_steps) + 1), "tv": tv})


def step_distributions(
    P: ArrayLike, p0: ArrayLike | int, steps: Iterable[int]
) -> dict[int, NDArray[np.float64]]:
    """The chain's distribution ``p_n = p_0 Pⁿ`` at each step ``n`` in ``steps``.

    Parameters
    ----------
    P : array_like, shape (K, K)
        Row-stochastic transition matrix.
    p0 : int or array_like, shape (K,)
        Starting distribution, or a state index for a point mass there.
    steps : iterable of int
        Nonnegative steps, in any order.

    Returns
    -------
    dict of int to ndarray, shape (K,)
        ``{n: p_n}`` in increasing ``n``.
    """
    P = _as_stochastic(P, "P")
    wanted = sorted({int(n) for n in steps})
    if not wanted or wanted[0] < 0:
        raise ValueError(f"steps must be nonnegative integers, at least one; got {wanted}")
    p = _as_distribution(p0, P.shape[0], "p0")
    out = {}
    for n in range(wanted[-1] + 1):
        if n in wanted:
            out[n] = p.copy()
        p = p @ P
    return out


# --------------------------------------------------------------------------- mixing


def _slem(P: NDArray[np.float64]) -> float:
    """Second-largest eigenvalue modulus λ* (one eigenvalue 1 removed); 0 for K = 1."""
    values = np.linalg.eigvals(P)
    if values.size == 1:
        return 0.0
    rest = np.delete(values, int(np.argmin(np.abs(values - 1.0))))
    return float(min(1.0, np.max(np.abs(rest))))


def spectral_gap(P: ArrayLike) -> float:
    """Absolute spectral gap ``γ* = 1 − λ*``, ``λ* = max{|λ| : λ eigenvalue of P, λ ≠ 1}``.

    Parameters
    ----------
    P : array_like, shape (K, K)
        Row-stochastic transition matrix.

    Returns
    -------
    float
        In ``[0, 1]``: 0 for a periodic or reducible chain, 1 for ``K = 1`` or a chain that
        reaches ``π`` in one step (e.g. independent draws from ``π``).

    Notes
    -----
    [3]_ sec. 12.2. For a reversible ``P`` (every MH chain) the eigenvalues are real and
    ``λ*`` governs the geometric rate of ``‖p_n − π‖_TV`` (see :func:`tv_bound`); for a
    non-reversible chain the moduli still give the asymptotic rate but no bound of that form.
    Exactly one eigenvalue 1 is removed, so a repeated one (reducible chain) gives 0.
    """
    return 1.0 - _slem(_as_stochastic(P, "P"))


def relaxation_time(P: ArrayLike) -> float:
    """Relaxation time ``t_rel = 1 / γ*`` ([3]_ sec. 12.2); ``inf`` when the gap is 0."""
    gap = spectral_gap(P)
    return float("inf") if gap <= 0 else 1.0 / gap


def tv_bound(P: ArrayLike, target: ArrayLike, n: ArrayLike) -> float | NDArray[np.float64]:
    """Upper bound on ``‖p_0 Pⁿ − π‖_TV`` for a reversible chain, from any start ``p_0``.

    Parameters
    ----------
    P : array_like, shape (K, K)
        Row-stochastic transition matrix, reversible with respect to ``target``.
    target : array_like, shape (K,)
        Its stationary distribution ``π`` (possibly unnormalised).
    n : int or array_like of int
        Step(s), ``>= 0``.

    Returns
    -------
    float or ndarray
        ``½ sqrt((1 − π_min) / π_min) · λ*ⁿ`` with the shape of ``n``. Not capped at 1 (TV
        never exceeds 1 anyway).

    Raises
    ------
    ValueError
        If ``P`` is not reversible with respect to ``target`` (detailed balance fails by
        more than 1e-10): the bound is false for non-reversible chains in general.

    Notes
    -----
    The exact form is Diaconis & Stroock [5]_ Proposition 3,
    ``4 ‖P^n(x, ·) − π‖²_TV ≤ (1 − π(x)) / π(x) · λ*^{2n}``, maximised over the start ``x``
    (``(1 − π)/π`` decreases in ``π``) and extended to any ``p_0`` by convexity of the TV
    norm. It follows from the spectral decomposition of a reversible ``P`` ([3]_ Lemma
    12.2: ``Σ_j f_j(x)² = 1/π(x)`` with ``f_1 ≡ 1``) and ``2‖μ − π‖_TV ≤ ‖μ/π − 1‖_{2,π}``
    (Cauchy–Schwarz); [3]_ Theorem 12.4, ``t_mix(ε) ≤ t_rel log(1/(ε π_min))``, is the
    cruder ``λ*ⁿ / π_min`` version of the same argument. ``λ*`` is computed from the
    symmetric matrix ``D^{1/2} P D^{-1/2}`` (``D = diag π``), whose eigenvalues are those
    of ``P`` and real.
    """
    pi = _as_target(target)
    P = _as_stochastic(P, "P")
    _check_sizes(P, pi, "P")
    balance = detailed_balance(P, pi, atol=1e-10)
    if not balance.holds:
        raise ValueError(
            "tv_bound needs a chain reversible with respect to target; detailed balance "
            f"fails by {balance.max_violation:.2e} at states {balance.worst}"
        )
    steps = np.asarray(n)
    if not np.issubdtype(steps.dtype, np.integer) or np.any(steps < 0):
        raise ValueError("n must be a nonnegative integer (or an array of them)")
    root = np.sqrt(pi)
    S = root[:, None] * P / root[None, :]
    values = np.linalg.eigvalsh(0.5 * (S + S.T))  # ascending; the largest is 1
    slem = 0.0 if values.size == 1 else float(min(1.0, max(abs(values[0]), abs(values[-2]))))
    pi_min = float(pi.min())
    bound = 0.5 * np.sqrt(max(0.0, 1.0 - pi_min) / pi_min) * slem ** steps.astype(float)
    return float(bound) if bound.ndim == 0 else bound


# --------------------------------------------------------------------------- examples


def random_walk_proposal(
    K: int,
    *,
    p_right: float = 0.5,
    lazy: float = 0.0,
    boundary: Literal["ring", "reflect"] = "ring",
) -> NDArray[np.float64]:
    """Nearest-neighbour random-walk proposal on ``K`` states.

    Parameters
    ----------
    K : int
        Number of states, ``>= 1``.
    p_right : float, default 0.5
        Probability of proposing ``i + 1`` (otherwise ``i − 1``) when moving. Any value
        other than 0.5 makes the proposal asymmetric, so plain Metropolis is then wrong.
    lazy : float, default 0.0
        Probability of proposing to stay at ``i``.
    boundary : {"ring", "reflect"}, default "ring"
        ``"ring"``: state ``K − 1`` neighbours state 0. ``"reflect"``: a step off either
        end is proposed as staying put.

    Returns
    -------
    Q : ndarray, shape (K, K)
        Row-stochastic, ``Q[i, j] = q(j | i)``.
    """
    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer; got {K!r}")
    if not 0.0 <= p_right <= 1.0:
        raise ValueError(f"p_right must lie in [0, 1]; got {p_right}")
    if not 0.0 <= lazy <= 1.0:
        raise ValueError(f"lazy must lie in [0, 1]; got {lazy}")
    if boundary not in ("ring", "reflect"):
        raise ValueError(f"boundary must be 'ring' or 'reflect'; got {boundary!r}")
    K = int(K)
    states = np.arange(K)
    if boundary == "ring":
        right, left = (states + 1) % K, (states - 1) % K
    else:
        right, left = np.minimum(states + 1, K - 1), np.maximum(states - 1, 0)
    Q = np.zeros((K, K))
    # add.at, not assignment: for K <= 2 or at a reflecting end, targets coincide.
    np.add.at(Q, (states, states), lazy)
    np.add.at(Q, (states, right), (1.0 - lazy) * p_right)
    np.add.at(Q, (states, left), (1.0 - lazy) * (1.0 - p_right))
    return Q


def discretised_target(
    K: int,
    *,
    locs: tuple[float, ...] = (0.25, 0.7),
    scale: float = 0.08,
    weights: tuple[float, ...] = (0.6, 0.4),
) -> NDArray[np.float64]:
    """A Gaussian mixture on ``[0, 1]`` discretised to ``K`` states (default: bimodal).

    Parameters
    ----------
    K : int
        Number of states; state ``k`` sits at ``(k + 0.5) / K``.
    locs, weights : tuple of float
        Component centres in ``[0, 1]`` and their (positive, possibly unnormalised)
        weights; same length.
    scale : float, default 0.08
        Common component standard deviation.

    Returns
    -------
    pi : ndarray, shape (K,)
        Strictly positive probabilities summing to 1.
    """
    if int(K) != K or K < 1:
        raise ValueError(f"K must be a positive integer; got {K!r}")
    if len(locs) != len(weights) or len(locs) == 0:
        raise ValueError("locs and weights must be non-empty and of the same length")
    if scale <= 0 or any(w <= 0 for w in weights):
        raise ValueError("scale and every weight must be > 0")
    x = (np.arange(int(K)) + 0.5) / K
    z = (x[:, None] - np.asarray(locs, dtype=float)[None, :]) / scale
    density = (np.exp(-0.5 * z**2) * np.asarray(weights, dtype=float)).sum(axis=1)
    if np.any(density <= 0):
        raise ValueError("some states underflow to probability 0; use a larger scale")
    return density / density.sum()


# ------------------------------------------------------------- course topic 8's example


@dataclass(frozen=True)
class FiniteChain:
    """One target and three MH chains for it: the course's rule, and two ways around it.

    Attributes
    ----------
    target : ndarray, shape (K,)
        The distribution to sample (:func:`discretised_target`).
    proposal : ndarray, shape (K, K)
        Asymmetric nearest-neighbour proposal: right with probability ``p_right``.
    symmetric : ndarray, shape (K, K)
        The symmetric proposal (right or left with probability ½).
    P : ndarray, shape (K, K)
        MH under ``proposal``, with the Hastings correction: ``target`` is invariant.
    P_wrong : ndarray, shape (K, K)
        The Metropolis rule under the asymmetric ``proposal`` (no correction): the
        negative control, invariant for some other distribution.
    P_sym : ndarray, shape (K, K)
        The Metropolis rule under ``symmetric``, where the correction is 1 anyway.
    p_right : float
        The asymmetric proposal's probability of stepping right.
    """

    target: NDArray[np.float64]
    proposal: NDArray[np.float64]
    symmetric: NDArray[np.float64]
    P: NDArray[np.float64]
    P_wrong: NDArray[np.float64]
    P_sym: NDArray[np.float64]
    p_right: float


def finite_chain(K: int = 20, p_right: float = 0.75) -> FiniteChain:
    """The bimodal target on a ring of ``K`` states and its three MH matrices.

    Parameters
    ----------
    K : int
        Number of states (a ring: :func:`random_walk_proposal` with ``boundary="ring"``).
    p_right : float
        Probability that the asymmetric proposal steps right; ``0.5`` would make it
        symmetric and the three chains agree.

    Returns
    -------
    FiniteChain

    Examples
    --------
    >>> chain = finite_chain(K=8, p_right=0.8)
    >>> bool(detailed_balance(chain.P, chain.target).holds)
    True
    >>> bool(detailed_balance(chain.P_wrong, chain.target).holds)
    False
    """
    pi = discretised_target(K)
    Q = random_walk_proposal(K, p_right=p_right)
    Q_sym = random_walk_proposal(K, p_right=0.5)
    return FiniteChain(
        target=pi,
        proposal=Q,
        symmetric=Q_sym,
        P=mh_transition_matrix(pi, Q),
        P_wrong=mh_transition_matrix(pi, Q, hastings=False),
        P_sym=mh_transition_matrix(pi, Q_sym, hastings=False),
        p_right=float(p_right),
    )


def finite_chain_table(chain: FiniteChain) -> pd.DataFrame:
    """Detailed balance and the stationary distribution of each of the three chains.

    Returns
    -------
    pandas.DataFrame
        One row per chain (MH; Metropolis under the asymmetric proposal; Metropolis
        under the symmetric one): ``proposal``, ``Hastings correction``, ``max |π_i P_ij
        − π_j P_ji|``, ``detailed balance`` ("holds"/"fails"), ``TV(stationary,
        target)``, ``spectral gap``, ``relaxation time``.
    """
    asymmetric = f"asymmetric (right w.p. {chain.p_right:g})"
    rows = []
    for label, correction, P in (
        (asymmetric, "yes", chain.P),
        (asymmetric, "no", chain.P_wrong),
        ("symmetric (right w.p. 0.5)", "no (not needed)", chain.P_sym),
    ):
        balance = detailed_balance(P, chain.target)
        rows.append(
            {
                "proposal": label,
                "Hastings correction": correction,
                "max |π_i P_ij − π_j P_ji|": balance.max_violation,
                "detailed balance": "holds" if balance.holds else "fails",
                "TV(stationary, target)": tv_distance(stationary_distribution(P), chain.target),
                "spectral gap": spectral_gap(P),
                "relaxation time": relaxation_time(P),
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------- random-walk MH: optimal scaling

# Acceptance rate of the most efficient random-walk MH as d → ∞ ([6]_).
OPTIMAL_ACCEPTANCE = 0.234


def efficient_band(fraction: float = 0.8) -> tuple[float, float]:
    """Acceptance rates where the d → ∞ efficiency of random-walk MH is within ``fraction``
    of its optimum.

    Parameters
    ----------
    fraction : float
        Share of the optimal efficiency, in ``(0, 1]``.

    Returns
    -------
    (float, float)
        The lowest and highest acceptance rate in the band.

    Notes
    -----
    Roberts, Gelman & Gilks (1997) [6]_: for a target of d i.i.d. coordinates and proposal
    sd ℓ/√d (in the target's own units) the scaled chain converges to a diffusion of speed
    h(ℓ) = ℓ² · a(ℓ), where a(ℓ) = 2Φ(−ℓ/2) is the acceptance rate; h peaks at ℓ ≈ 2.38,
    a ≈ 0.234. The band is read off h on a fine grid of ℓ.

    Examples
    --------
    >>> lo, hi = efficient_band()
    >>> round(lo, 2), round(hi, 2)
    (0.1, 0.43)
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1]; got {fraction}")
    ell = np.linspace(1e-3, 8.0, 20_001)
    accept = 2.0 * stats.norm.cdf(-ell / 2.0)
    speed = ell**2 * accept
    ok = speed >= fraction * speed.max()
    return float(accept[ok].min()), float(accept[ok].max())
