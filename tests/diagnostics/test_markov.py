"""Tests of ``diagnostics/markov.py``: the MH transition matrix on a finite state space.

Everything but the simulation cross-check is exact linear algebra, so tolerances are
rounding-level. The negative control is plain Metropolis (no Hastings correction) under an
asymmetric proposal: it must fail the same checks that the MH matrix passes. The simulation
runs the MH *algorithm* (propose, accept, reject) written out independently here, and
compares it with the matrix — so a matrix that misstates the algorithm would be caught too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmin.diagnostics.markov import (
    OPTIMAL_ACCEPTANCE,
    DetailedBalance,
    FiniteChain,
    convergence,
    detailed_balance,
    discretised_target,
    efficient_band,
    finite_chain,
    finite_chain_table,
    mh_transition_matrix,
    random_walk_proposal,
    relaxation_time,
    spectral_gap,
    stationary_distribution,
    step_distributions,
    tv_bound,
    tv_distance,
)

K = 10


@pytest.fixture(scope="module")
def target() -> np.ndarray:
    """Non-uniform and deliberately unnormalised (sum ≈ 32.5)."""
    k = np.arange(K)
    return np.linspace(1.0, 4.0, K) + 3.0 * np.exp(-0.5 * (k - 2.0) ** 2)


@pytest.fixture(scope="module")
def pi(target) -> np.ndarray:
    return target / target.sum()


@pytest.fixture(scope="module")
def Q() -> np.ndarray:
    return random_walk_proposal(K, p_right=0.8)


@pytest.fixture(scope="module")
def P(target, Q) -> np.ndarray:
    return mh_transition_matrix(target, Q)


@pytest.fixture(scope="module")
def P_bad(target, Q) -> np.ndarray:
    return mh_transition_matrix(target, Q, hastings=False)


# --------------------------------------------------------------------------- the MH matrix


def test_hand_computed_three_state_matrix():
    # π ∝ (1, 2, 3). Q_12 > 0 but Q_21 = 0 (proposable, not reversible); Q_11 > 0 (a
    # proposal to stay).
    # Entries worked out by hand from P_ij = Q_ij min(1, π_j Q_ji / (π_i Q_ij)).
    Q3 = np.array([[0.0, 0.5, 0.5], [0.25, 0.5, 0.25], [1.0, 0.0, 0.0]])
    expected = np.array(
        [
            [0.0, 0.5, 0.5],  # both uphill moves accepted
            [0.25, 0.75, 0.0],  # 1 → 2 proposed but never reversible (Q_21 = 0): rejected
            [1 / 6, 0.0, 5 / 6],  # 2 → 0 accepted w.p. (1 · 0.5) / (3 · 1)
        ]
    )
    np.testing.assert_allclose(mh_transition_matrix([1.0, 2.0, 3.0], Q3), expected, atol=1e-15)


def test_mh_matrix_is_row_stochastic(P):
    assert P.shape == (K, K)
    assert np.all(P >= 0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-14)


def test_mh_matrix_moves_only_where_proposed(P, Q):
    off = ~np.eye(K, dtype=bool)
    assert np.all(P[off & (Q == 0)] == 0)
    assert np.all(P[off] <= Q[off] + 1e-15)  # acceptance probabilities are <= 1


def test_one_way_proposal_never_moves():
    # p_right = 1 on a ring: every proposal is irreversible, so MH rejects them all.
    Q1 = random_walk_proposal(5, p_right=1.0)
    P1 = mh_transition_matrix(np.arange(1.0, 6.0), Q1)
    assert np.all(np.isfinite(P1))
    np.testing.assert_array_equal(P1, np.eye(5))


def test_detailed_balance_holds(P, target):
    result = detailed_balance(P, target)
    assert isinstance(result, DetailedBalance)
    assert result.holds
    assert result.max_violation < 1e-12
    np.testing.assert_allclose(result.flux, -result.flux.T, atol=0)


def test_stationary_distribution_is_the_target(P, pi):
    np.testing.assert_allclose(stationary_distribution(P), pi, rtol=0, atol=1e-10)


def test_convergence_in_tv_is_monotone_and_below_the_bound(P, target, pi):
    n = 300
    bound = tv_bound(P, target, np.arange(n + 1))
    for start in range(K):  # every point mass: the worst starts for the bound
        table = convergence(P, start, n)
        tv = table["tv"].to_numpy()
        assert np.all(np.diff(tv) <= 1e-15), f"TV increased from start {start}"
        assert np.all(tv <= bound + 1e-15), f"TV above the bound from start {start}"
        assert tv[-1] < 1e-5
    # a spread start and the explicit target give the same thing
    p0 = np.full(K, 1.0 / K)
    a = convergence(P, p0, 50)
    b = convergence(P, p0, 50, target=target)
    np.testing.assert_allclose(a["tv"], b["tv"], atol=1e-12)


def test_convergence_table_layout(P, pi):
    table = convergence(P, 3, 7)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["step", "tv"]
    assert table["step"].tolist() == list(range(8))
    assert table["tv"].iloc[0] == pytest.approx(1.0 - pi[3], abs=1e-12)


def test_spectral_gap_and_relaxation_time(P, target):
    gap = spectral_gap(P)
    assert 0.0 < gap <= 1.0
    assert relaxation_time(P) == pytest.approx(1.0 / gap)
    # reversible: the eigenvalues are real
    assert np.max(np.abs(np.linalg.eigvals(P).imag)) < 1e-10
    # tv_bound's symmetrised eigen-solve agrees with spectral_gap's general one
    assert tv_bound(P, target, 1) / tv_bound(P, target, 0) == pytest.approx(1.0 - gap, rel=1e-9)


def test_spectral_gap_edge_cases():
    flip = np.array([[0.0, 1.0], [1.0, 0.0]])  # periodic: eigenvalue −1
    assert spectral_gap(flip) == pytest.approx(0.0, abs=1e-12)
    assert relaxation_time(flip) == float("inf")
    iid = np.tile([0.3, 0.7], (2, 1))  # independent draws from π: mixes in one step
    assert spectral_gap(iid) == pytest.approx(1.0)
    assert spectral_gap([[1.0]]) == 1.0


# --------------------------------------------------------------------------- negative control


def test_metropolis_without_hastings_breaks_detailed_balance(P_bad, target):
    result = detailed_balance(P_bad, target)
    assert not result.holds
    assert result.max_violation > 1e-3
    i, j = result.worst
    assert abs(result.flux[i, j]) == pytest.approx(result.max_violation)


def test_metropolis_without_hastings_converges_to_the_wrong_distribution(P_bad, target, pi):
    assert tv_distance(stationary_distribution(P_bad), pi) > 0.01
    assert convergence(P_bad, 0, 500, target=target)["tv"].iloc[-1] > 0.01
    with pytest.raises(ValueError, match="reversible"):
        tv_bound(P_bad, target, 10)


def test_symmetric_proposal_makes_hastings_irrelevant(target):
    # Metropolis et al. (1953) is MH with a symmetric proposal.
    for Qs in (random_walk_proposal(K), random_walk_proposal(K, lazy=0.3, boundary="reflect")):
        np.testing.assert_array_equal(
            mh_transition_matrix(target, Qs), mh_transition_matrix(target, Qs, hastings=False)
        )
    rng = np.random.default_rng(11)
    S = rng.random((K, K)) * (rng.random((K, K)) < 0.5)
    S = (S + S.T) / 2
    Qs = S / (1.5 * S.sum(axis=1).max())
    np.fill_diagonal(Qs, 0.0)
    np.fill_diagonal(Qs, 1.0 - Qs.sum(axis=1))
    np.testing.assert_array_equal(Qs, Qs.T)
    np.testing.assert_allclose(
        mh_transition_matrix(target, Qs), mh_transition_matrix(target, Qs, hastings=False)
    )


def test_independence_proposal(target, pi):
    q = np.random.default_rng(5).dirichlet(np.ones(K))
    Qi = np.tile(q, (K, 1))
    Pi = mh_transition_matrix(target, Qi)
    assert detailed_balance(Pi, target).holds
    np.testing.assert_allclose(stationary_distribution(Pi), pi, atol=1e-10)
    assert not detailed_balance(mh_transition_matrix(target, Qi, hastings=False), target).holds
    # proposing from the target itself accepts everything: P = Q, exact draws, gap 1
    Qpi = np.tile(pi, (K, 1))
    np.testing.assert_allclose(mh_transition_matrix(target, Qpi), Qpi, atol=1e-15)
    assert spectral_gap(Qpi) == pytest.approx(1.0)


# --------------------------------------------------------------------------- simulation


def _run_mh(target, Q, *, hastings, chains, burn, steps, seed):
    """The MH algorithm itself, vectorised over independent chains all started at state 0.

    Returns per-chain state counts after burn-in (chains, K) and pooled one-step
    transition counts (K, K).
    """
    rng = np.random.default_rng(seed)
    k = len(target)
    cum = np.cumsum(Q, axis=1)
    x = np.zeros(chains, dtype=int)
    visits = np.zeros((chains, k))
    moves = np.zeros((k, k))
    rows = np.arange(chains)
    for t in range(burn + steps):
        u_prop, u_acc = rng.random(chains), rng.random(chains)
        y = np.minimum((u_prop[:, None] >= cum[x]).sum(axis=1), k - 1)  # y ~ Q[x, ·]
        ratio = target[y] / target[x]
        if hastings:
            ratio = ratio * Q[y, x] / Q[x, y]
        new = np.where(u_acc < np.minimum(1.0, ratio), y, x)
        if t >= burn:
            visits[rows, new] += 1
            np.add.at(moves, (x, new), 1)
        x = new
    return visits, moves


@pytest.fixture(scope="module")
def simulated(target, Q):
    # 400 independent chains x 2000 steps after a burn-in of 300 (≈ 15 relaxation times).
    return {
        hastings: _run_mh(target, Q, hastings=hastings, chains=400, burn=300, steps=2000, seed=7)
        for hastings in (True, False)
    }


def _frequency_z(visits, reference):
    # Chains are independent, so per-chain visit fractions are iid across chains and their
    # standard deviation over chains gives an honest s.e. despite autocorrelation within one.
    frac = visits / visits.sum(axis=1, keepdims=True)
    se = frac.std(axis=0, ddof=1) / np.sqrt(frac.shape[0])
    return (frac.mean(axis=0) - reference) / se


def test_simulated_state_frequencies_match_the_target(simulated, pi, P_bad):
    visits, _ = simulated[True]
    assert np.max(np.abs(_frequency_z(visits, pi))) < 4
    # the negative control's algorithm matches its own matrix, and visibly misses π
    bad_visits, _ = simulated[False]
    assert np.max(np.abs(_frequency_z(bad_visits, stationary_distribution(P_bad)))) < 4
    assert np.max(np.abs(_frequency_z(bad_visits, pi))) > 10


@pytest.mark.parametrize("hastings", [True, False])
def test_simulated_transitions_match_the_matrix(simulated, P, P_bad, hastings):
    # By the Markov property the moves out of state i are iid draws from P[i, ·], so each
    # count is binomial given the visits n_i: z = (f − P) / sqrt(P (1 − P) / n_i).
    _, moves = simulated[hastings]
    matrix = P if hastings else P_bad
    n = moves.sum(axis=1, keepdims=True)
    assert np.all(moves[matrix == 0] == 0)
    live = (matrix > 0) & (matrix < 1)
    z = (moves / n - matrix)[live] / np.sqrt(matrix * (1 - matrix) / n)[live]
    assert np.max(np.abs(z)) < 4.5  # ~30 cells; P(any |z| > 4.5) ≈ 2e-4 if correct


# --------------------------------------------------------------------------- examples


def test_random_walk_proposal():
    Q = random_walk_proposal(6, p_right=0.7, lazy=0.2)
    np.testing.assert_allclose(Q.sum(axis=1), 1.0)
    assert Q[0, 1] == pytest.approx(0.8 * 0.7) and Q[0, 5] == pytest.approx(0.8 * 0.3)
    assert Q[2, 2] == pytest.approx(0.2)
    assert not np.allclose(Q, Q.T)
    np.testing.assert_array_equal(random_walk_proposal(6), random_walk_proposal(6).T)
    R = random_walk_proposal(4, p_right=0.7, boundary="reflect")
    assert R[0, 0] == pytest.approx(0.3) and R[3, 3] == pytest.approx(0.7) and R[0, 3] == 0
    np.testing.assert_allclose(random_walk_proposal(2).sum(axis=1), 1.0)
    np.testing.assert_array_equal(random_walk_proposal(1), [[1.0]])


def test_discretised_target_is_a_bimodal_distribution():
    p = discretised_target(40)
    assert np.all(p > 0) and p.sum() == pytest.approx(1.0)
    peaks = np.flatnonzero((p[1:-1] > p[:-2]) & (p[1:-1] > p[2:])) + 1
    assert len(peaks) == 2
    # an MH chain on it converges to it
    P = mh_transition_matrix(p, random_walk_proposal(40, p_right=0.6, boundary="reflect"))
    np.testing.assert_allclose(stationary_distribution(P), p, atol=1e-10)


def test_tv_distance():
    assert tv_distance([1, 0, 0], [0, 0.5, 0.5]) == 1.0
    assert tv_distance([0.2, 0.8], [0.2, 0.8]) == 0.0
    assert tv_distance([0.5, 0.5], [0.8, 0.2]) == pytest.approx(0.3)


def test_step_distributions_are_powers_of_the_matrix(P, pi):
    p0 = np.zeros(K)
    p0[3] = 1.0
    out = step_distributions(P, 3, [5, 0, 1])  # a state index stands for its point mass
    assert list(out) == [0, 1, 5]
    np.testing.assert_array_equal(out[0], p0)
    np.testing.assert_allclose(out[1], P[3], atol=1e-15)
    np.testing.assert_allclose(out[5], p0 @ np.linalg.matrix_power(P, 5), atol=1e-14)
    # the TV column of convergence() is the distance of these same p_n
    tv = convergence(P, 3, 5, target=pi)["tv"]
    assert tv.iloc[5] == pytest.approx(tv_distance(out[5], pi), abs=1e-15)
    with pytest.raises(ValueError, match="nonnegative"):
        step_distributions(P, 3, [-1])


# ------------------------------------------------------------------ topic 8's finite chain


@pytest.fixture(scope="module")
def chain() -> FiniteChain:
    return finite_chain(K=8, p_right=0.8)


def test_finite_chain_holds_the_three_matrices(chain):
    assert chain.p_right == 0.8 and chain.target.shape == (8,)
    np.testing.assert_array_equal(chain.proposal, random_walk_proposal(8, p_right=0.8))
    np.testing.assert_array_equal(chain.symmetric, chain.symmetric.T)
    np.testing.assert_array_equal(chain.P, mh_transition_matrix(chain.target, chain.proposal))
    np.testing.assert_array_equal(
        chain.P_wrong, mh_transition_matrix(chain.target, chain.proposal, hastings=False)
    )


def test_finite_chain_without_hastings_is_wrong(chain):
    table = finite_chain_table(chain)
    assert table["detailed balance"].tolist() == ["holds", "fails", "holds"]
    tv = table["TV(stationary, target)"]
    assert tv.iloc[0] < 1e-9 and tv.iloc[2] < 1e-9
    assert tv.iloc[1] > 0.05  # the negative control converges elsewhere
    assert table["Hastings correction"].tolist() == ["yes", "no", "no (not needed)"]
    assert table["proposal"].iloc[0] == "asymmetric (right w.p. 0.8)"
    assert table["spectral gap"].iloc[0] == pytest.approx(spectral_gap(chain.P))


def test_efficient_band_contains_the_optimum():
    lo, hi = efficient_band()
    assert lo < OPTIMAL_ACCEPTANCE < hi
    assert lo == pytest.approx(0.095, abs=0.005) and hi == pytest.approx(0.435, abs=0.005)
    # Roberts, Gelman & Gilks (1997): speed ℓ² 2Φ(−ℓ/2) peaks at ℓ ≈ 2.38, acceptance 0.234.
    assert 2 * stats.norm.cdf(-2.38 / 2) == pytest.approx(OPTIMAL_ACCEPTANCE, abs=1e-3)
    # the band narrows to the optimum as the fraction tends to 1, and widens below
    lo99, hi99 = efficient_band(0.99)
    assert lo < lo99 < OPTIMAL_ACCEPTANCE < hi99 < hi
    with pytest.raises(ValueError, match="fraction"):
        efficient_band(0.0)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("target", "proposal", "match"),
    [
        ([1.0, 2.0, 3.0], [[0.5, 0.5, 0], [0.5, 0.4, 0], [0, 0, 1]], "row-stochastic.*row 1"),
        ([1.0, 2.0, 3.0], [[1.5, -0.5, 0], [0, 1, 0], [0, 0, 1]], "nonnegative.*\\[0, 1\\]"),
        ([1.0, 0.0, 3.0], np.eye(3), "target must be > 0.*\\[1\\]"),
        ([1.0, -2.0, 3.0], np.eye(3), "target must be > 0"),
        ([1.0, np.nan, 3.0], np.eye(3), "target must be finite"),
        ([1.0, np.inf, 3.0], np.eye(3), "target must be finite"),
        ([1.0, 2.0], np.eye(3), "3x3 but target has 2 states"),
        ([1.0, 2.0, 3.0], np.ones((3, 2)) / 2, "square"),
        ([[1.0, 2.0, 3.0]], np.eye(3), "1-D"),
        ([], np.eye(3), "non-empty"),
    ],
)
def test_invalid_inputs_raise(target, proposal, match):
    with pytest.raises(ValueError, match=match) as info:
        mh_transition_matrix(target, proposal)
    assert "\n" not in str(info.value)


def test_other_validation(P, target):
    with pytest.raises(ValueError, match="not unique"):
        stationary_distribution(np.eye(2))
    with pytest.raises(ValueError, match="row-stochastic"):
        detailed_balance(2 * P, target)
    with pytest.raises(ValueError, match="same state space"):
        detailed_balance(P, target[:-1])
    with pytest.raises(ValueError, match="not a state"):
        convergence(P, K, 5)
    with pytest.raises(ValueError, match="probability vector"):
        convergence(P, np.ones(K), 5)
    with pytest.raises(ValueError, match="same shape"):
        tv_distance([0.5, 0.5], [1.0])
    with pytest.raises(ValueError, match="nonnegative integer"):
        tv_bound(P, target, -1)
    with pytest.raises(ValueError, match="p_right"):
        random_walk_proposal(5, p_right=1.2)
