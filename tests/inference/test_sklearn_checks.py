"""scikit-learn's own estimator checks, and the contract they do not cover.

``parametrize_with_checks`` runs scikit-learn's API checks (input validation, fit
idempotence, pickling, no mutation of inputs or settings, random_state determinism, ...)
on the mixture, PPCA and RVR. The crowdsourcing models take a labels table, not an
(n, d) array, so the checks do not apply to them; the contract tests below cover all
five: ``NotFittedError`` before ``fit``, ``random_state`` honoured, float64 results whatever
JAX's global precision.

The checks fit many small data sets of different shapes, and JAX compiles the EM loop
once per shape: about 40 s for the file on one core.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from bayesmin.inference._precision import _global_x64, float64
from bayesmin.inference.em import GLAD, PPCA, DawidSkene, GaussianMixture
from bayesmin.inference.evidence import RVR
from bayesmin.models.glad import simulate as simulate_crowd

ESTIMATORS = [
    GaussianMixture(),
    GaussianMixture(2, covariance_type="spherical", n_init=2),
    # q = 1: several checks fit two-feature data, and PPCA needs q < D.
    PPCA(1),
    PPCA(1, method="closed_form"),
    # gamma = 0.05 suits the checks' 10 standardised features (gamma ~ 1 / (2 d)); at the
    # default 0.5 the rbf design is nearly diagonal there, and the fast method walks to an
    # interpolating fit one basis function a step (minutes per check, the same verdicts).
    RVR(gamma=0.05),
    # Re-estimation creeps towards its fixed point (α_i → ∞ slowly: see RVR's ``tol``);
    # 100 steps are enough to check the interface, as scikit-learn's own suite shortens
    # max_iter of its iterative estimators for these checks.
    RVR(kernel="linear", method="reestimation", max_iter=100),
]


def expected_failures(estimator) -> dict[str, str]:
    """Checks that fail by design, with the reason (none but PPCA's closed form)."""
    if isinstance(estimator, PPCA) and estimator.method == "closed_form":
        return {
            "check_transformer_n_iter": (
                "the closed form solves Tipping & Bishop's equations without iterating: "
                "n_iter_ = 0 is its documented value (EM's is >= 1)"
            ),
            "check_estimators_nan_inf": (
                "the closed form needs complete data to fit (it rejects NaN, so allow_nan "
                "is False), but the fitted model conditions on the observed coordinates of "
                "a row with NaN in transform/score_samples, like every PPCA: a feature"
            ),
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scikit_learn_checks(estimator, check):
    check(estimator)


# ------------------------------------------------------------------ data and fits


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 0.0]])
    return centres[rng.integers(0, 2, 120)] + rng.normal(size=(120, 3))


@pytest.fixture(scope="module")
def crowd():
    df, _ = simulate_crowd(0, n_tasks=60, n_workers=8, labels_per_task=3)
    return df


def _data(name, blobs, crowd):
    """``(X, y)`` to fit, score or predict with for each estimator."""
    if name in ("glad", "dawid_skene"):
        return crowd, None
    if name == "rvr":
        return blobs[:, :2], blobs[:, 2]
    return blobs, None


def _make(name, **settings):
    cls, _ = UNFITTED[name]
    if name in ("mixture", "ppca"):
        settings = {"n_components": 2 if name == "mixture" else 1, **settings}
    return cls(**settings)


def _fitted(name, blobs, crowd, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _make(name, **settings).fit(*_data(name, blobs, crowd))


# Every public method that needs a fit: those taking the data, those taking nothing.
UNFITTED = {
    "mixture": (
        GaussianMixture,
        (["predict", "predict_proba", "score", "score_samples", "bic", "aic"], ["sample"]),
    ),
    "ppca": (PPCA, (["transform", "impute", "score", "score_samples"], ["get_covariance"])),
    "glad": (GLAD, (["score"], [])),
    "dawid_skene": (DawidSkene, (["score"], [])),
    "rvr": (RVR, (["predict", "score"], [])),
}


@pytest.mark.parametrize("name", UNFITTED)
def test_every_method_before_fit_raises_not_fitted(name, blobs, crowd):
    cls, (with_data, without) = UNFITTED[name]
    X, y = _data(name, blobs, crowd)

    def call(estimator, method):
        if method in without:
            return getattr(estimator, method)()
        return getattr(estimator, method)(*((X, y) if method == "score" else (X,)))

    for method in with_data + without:
        with pytest.raises(NotFittedError, match="not fitted"):
            call(cls(), method)
    if name == "ppca":
        with pytest.raises(NotFittedError, match="not fitted"):
            PPCA().inverse_transform(np.zeros((2, 2)))
    # Negative control: after fit the same calls work.
    fitted = _fitted(name, blobs, crowd)
    for method in with_data + without:
        call(fitted, method)


# ------------------------------------------------------------------- random_state


def test_mixture_sample_uses_the_estimators_random_state(blobs):
    fit = GaussianMixture(2, random_state=3).fit(blobs)
    first, labels = fit.sample(50)
    again, labels_again = fit.sample(50)
    np.testing.assert_array_equal(first, again)  # an int seed: the same draws every call
    np.testing.assert_array_equal(labels, labels_again)
    np.testing.assert_array_equal(fit.sample(50, random_state=3)[0], first)
    # Negative controls: another seed, or a Generator that moves on, changes the draws.
    assert not np.array_equal(fit.sample(50, random_state=4)[0], first)
    rng = np.random.default_rng(0)
    assert not np.array_equal(fit.sample(50, random_state=rng)[0], fit.sample(50, rng)[0])
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        fit.sample(0)


@pytest.mark.parametrize("name", ["mixture", "ppca", "glad", "dawid_skene"])
def test_random_state_fixes_the_restarts(name, blobs, crowd):
    settings = {"n_init": 3, "tol": 1e-8, "max_iter": 5}
    if name == "mixture":
        settings["init_params"] = "random"
    a = _fitted(name, blobs, crowd, random_state=0, **settings)
    b = _fitted(name, blobs, crowd, random_state=0, **settings)
    np.testing.assert_array_equal(a.lower_bounds_, b.lower_bounds_)
    # Negative control: the seed decides the random starts (every start of the mixture
    # and PPCA; the crowd models' second and later ones, the first being a vote).
    estimator = _make(name, **settings)
    with float64():
        X = estimator._check_input(_data(name, blobs, crowd)[0])
        data = estimator._em_data(X)
        starts = [
            estimator._initial_params(X, data, np.random.default_rng(seed), init)
            for seed in (0, 1)
            for init in (0, 1)
        ]
    starts = [jax.tree.map(np.asarray, s) for s in starts]
    first_fixed = name in ("glad", "dawid_skene")
    assert _same(starts[0], starts[2]) == first_fixed
    assert not _same(starts[1], starts[3])


def _same(a, b) -> bool:
    return all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


# ---------------------------------------------------------------------- precision


@pytest.fixture
def x64_off():
    """JAX's global flag off for the test (as without ``import bayesmin.inference``)."""
    before = _global_x64()
    jax.config.update("jax_enable_x64", False)
    yield
    jax.config.update("jax_enable_x64", before)


def _arrays(value):
    if isinstance(value, pd.DataFrame | pd.Series):
        return [value.to_numpy()]
    if isinstance(value, tuple | list):
        return [a for v in value for a in _arrays(v)]
    return [value] if isinstance(value, np.ndarray | jax.Array | float) else []


@pytest.mark.parametrize("name", ["mixture", "ppca", "glad", "dawid_skene"])
def test_results_are_float64_numpy_whatever_the_global_flag(name, blobs, crowd, x64_off):
    fit = _fitted(name, blobs, crowd, random_state=0)
    X, _ = _data(name, blobs, crowd)
    outputs = [fit.score(X)]
    outputs += {
        "mixture": lambda: [fit.predict_proba(X), fit.score_samples(X), fit.sample(5)],
        "ppca": lambda: [fit.transform(X), fit.impute(X), fit.score_samples(X)],
    }.get(name, list)()
    attributes = [v for k, v in vars(fit).items() if k.endswith("_") and not k.startswith("_")]
    floats = [a for a in _arrays(outputs + attributes) if np.asarray(a).dtype.kind == "f"]
    assert floats
    for a in floats:
        assert not isinstance(a, jax.Array)
        assert np.asarray(a).dtype == np.float64
    assert isinstance(fit.score(X), float)
    assert not jax.config.jax_enable_x64  # the flag is the user's again
    # Negative control: JAX itself computes in float32 here, so the check above can fail.
    assert jnp.asarray(blobs).dtype == jnp.float32
    with float64():
        assert jnp.asarray(blobs).dtype == jnp.float64
