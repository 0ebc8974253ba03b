"""KL divergence: each closed form against Monte Carlo (within its MCSE), and the properties."""

import numpy as np
import pytest
from scipy import stats

from bayesmin.diagnostics.kl import kl_beta, kl_gamma, kl_monte_carlo, kl_mvn, kl_normal

CASES = [
    ("normal", (0.3, 1.2, -0.5, 0.8), lambda a, b, c, d: (stats.norm(a, b), stats.norm(c, d))),
    ("beta", (2.0, 5.0, 3.0, 1.5), lambda a, b, c, d: (stats.beta(a, b), stats.beta(c, d))),
    (
        "gamma",
        (3.0, 2.0, 1.5, 0.7),
        lambda a, b, c, d: (stats.gamma(a, scale=1 / b), stats.gamma(c, scale=1 / d)),
    ),
]
CLOSED = {"normal": kl_normal, "beta": kl_beta, "gamma": kl_gamma}


@pytest.mark.parametrize(("family", "args", "frozen"), CASES, ids=[c[0] for c in CASES])
def test_closed_form_matches_monte_carlo(family, args, frozen):
    p, q = frozen(*args)
    exact = float(CLOSED[family](*args))
    estimate = kl_monte_carlo(p, q, n=200_000, seed=1)
    assert abs(estimate.z(exact)) < 4, (exact, estimate)
    # Negative control: the reverse direction is a different number, many s.e. away.
    reverse = float(CLOSED[family](*args[2:], *args[:2]))
    assert abs(estimate.z(reverse)) > 10


def test_multivariate_normal_matches_monte_carlo_and_the_univariate_form():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    cov_p, cov_q = A @ A.T + np.eye(3), B @ B.T + 0.5 * np.eye(3)
    mu_p, mu_q = rng.normal(size=3), rng.normal(size=3)
    exact = kl_mvn(mu_p, cov_p, mu_q, cov_q)
    p, q = stats.multivariate_normal(mu_p, cov_p), stats.multivariate_normal(mu_q, cov_q)
    assert abs(kl_monte_carlo(p, q, n=200_000, seed=2).z(exact)) < 4
    # d = 1 reduces to the univariate formula; independent coordinates add up.
    assert kl_mvn([0.3], [[1.44]], [-0.5], [[0.64]]) == pytest.approx(
        float(kl_normal(0.3, 1.2, -0.5, 0.8)), rel=1e-12
    )
    parts = kl_normal([0.0, 1.0], [1.0, 2.0], [0.5, -1.0], [1.5, 1.0]).sum()
    assert kl_mvn([0, 1], np.diag([1.0, 4.0]), [0.5, -1], np.diag([2.25, 1.0])) == pytest.approx(
        parts, rel=1e-12
    )


@pytest.mark.parametrize(
    ("fn", "p"),
    [(kl_normal, (0.3, 1.2)), (kl_beta, (2.0, 5.0)), (kl_gamma, (3.0, 2.0))],
)
def test_zero_only_for_equal_arguments_positive_otherwise_and_not_symmetric(fn, p):
    assert float(fn(*p, *p)) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(50):
        q = tuple(np.abs(v * rng.uniform(0.5, 1.5)) + 0.05 for v in p)
        forward, backward = float(fn(*p, *q)), float(fn(*q, *p))
        assert forward > 0 and backward > 0
    q = tuple(2 * np.abs(v) + 0.3 for v in p)
    assert float(fn(*p, *q)) != pytest.approx(float(fn(*q, *p)), rel=1e-3)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="sigma_q"):
        kl_normal(0, 1, 0, 0)
    with pytest.raises(ValueError, match="b2"):
        kl_gamma(1, 1, 1, -2)
    with pytest.raises(ValueError, match="shapes disagree"):
        kl_mvn([0, 0], np.eye(2), [0], np.eye(1))
    with pytest.raises(ValueError, match="positive definite"):
        kl_mvn([0, 0], np.eye(2), [0, 0], -np.eye(2))
    # A q with lighter tails than p: KL is infinite, the estimator says so.
    with pytest.raises(ValueError, match="infinite"):
        kl_monte_carlo(stats.norm(0, 1), stats.uniform(-1, 2), n=1000)
