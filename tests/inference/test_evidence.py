"""RVR (inference.evidence) against Tipping (2001)'s sinc results, invariants and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError

from bayesmin.inference.evidence import RVR

# Tipping (2001): Gaussian kernel of width r = 3, i.e. gamma = 1/r².
SINC_GAMMA = 1.0 / 9.0
N_SETS = 20
X_TRAIN = np.linspace(-10.0, 10.0, 100)[:, None]
X_TEST = np.linspace(-10.0, 10.0, 1000)[:, None]


def sinc(x: np.ndarray) -> np.ndarray:
    # np.sinc is sin(πx)/(πx); the paper's sinc is sin(x)/x.
    return np.sinc(x / np.pi)


F_TEST = sinc(X_TEST[:, 0])


def sinc_targets(seed: int) -> np.ndarray:
    return sinc(X_TRAIN[:, 0]) + np.random.default_rng(seed).normal(0.0, 0.1, len(X_TRAIN))


def fit_quiet(model: RVR, X, y) -> RVR:
    # The re-estimation rules creep towards α = ∞ for irrelevant weights; a fit that stops
    # at max_iter still has its relevance vectors, and the tests check the outcome.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


@pytest.fixture(scope="module", params=["fast", "reestimation"])
def sinc_runs(request):
    """Each method fitted to the same 20 sinc data sets (seeds 0..19)."""
    runs = []
    for seed in range(N_SETS):
        model = fit_quiet(
            RVR(kernel="rbf", gamma=SINC_GAMMA, method=request.param), X_TRAIN, sinc_targets(seed)
        )
        mean, sd = model.predict(X_TEST, return_std=True)
        runs.append((model, mean, sd))
    return request.param, runs


def test_sinc_matches_tipping_2001(sinc_runs):
    # The paper: RMS 0.0326 with 6.7 relevance vectors (averaged over its data sets).
    _, runs = sinc_runs
    rms = np.mean([np.sqrt(np.mean((mean - F_TEST) ** 2)) for _, mean, _ in runs])
    n_rv = np.mean([len(m.relevance_indices_) for m, _, _ in runs])
    assert rms <= 0.034
    assert n_rv <= 8


def test_predictive_band_covers_truth(sinc_runs):
    _, runs = sinc_runs
    for _, mean, sd in runs:
        assert np.all(sd > 0)
        assert np.mean(np.abs(mean - F_TEST) <= 2.0 * sd) >= 0.8


def test_fitted_attributes_consistent(sinc_runs):
    _, runs = sinc_runs
    model = runs[0][0]
    k = len(model.alpha_)
    assert model.coef_.shape == (k,) and model.sigma_.shape == (k, k)
    assert k == len(model.relevance_indices_) + int(model.bias_used_)
    np.testing.assert_array_equal(model.relevance_vectors_, X_TRAIN[model.relevance_indices_])
    assert np.all(model.alpha_ > 0) and model.noise_variance_ > 0
    # The posterior covariance is symmetric positive definite.
    np.testing.assert_allclose(model.sigma_, model.sigma_.T, rtol=1e-10, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(model.sigma_) > 0)
    # The true noise sd is 0.1; 100 points pin σ² within a factor of ~1.5.
    assert 0.1**2 / 1.6 < model.noise_variance_ < 0.1**2 * 1.6


def test_log_evidence_never_decreases(sinc_runs):
    method, runs = sinc_runs
    for model, _, _ in runs:
        h = np.asarray(model.log_evidence_)
        assert len(h) == model.n_iter_ + 1
        steps = np.diff(h)
        if method == "fast":
            # Every fast step is an exact maximisation in one α_i or an accepted noise
            # update: only rounding can make a step negative.
            assert steps.min() >= -1e-9 * np.abs(h).max()
        else:
            # The re-estimation rules are not a proven ascent; in practice they rise.
            # Check the end beats the start by far and any dip is negligible.
            assert h[-1] > h[0]
            assert steps.min() >= -1e-6 * np.abs(h).max()


def test_methods_agree():
    # Same data, both methods: maxima of the same evidence, found by different paths.
    t = sinc_targets(123)
    fast = fit_quiet(RVR(gamma=SINC_GAMMA, method="fast"), X_TRAIN, t)
    slow = fit_quiet(RVR(gamma=SINC_GAMMA, method="reestimation", max_iter=3000), X_TRAIN, t)
    assert abs(fast.log_evidence_[-1] - slow.log_evidence_[-1]) < 1.0
    rms = [np.sqrt(np.mean((m.predict(X_TEST) - F_TEST) ** 2)) for m in (fast, slow)]
    assert abs(rms[0] - rms[1]) < 0.01
    assert abs(len(fast.alpha_) - len(slow.alpha_)) <= 2


def test_negative_control_pure_noise_has_no_relevance_vectors():
    # Targets with no function in them: the evidence keeps (almost) no basis function
    # and attributes the spread to noise, while sinc data keep several (test above).
    for seed in range(5):
        t = np.random.default_rng(seed).normal(0.0, 0.1, len(X_TRAIN))
        model = fit_quiet(RVR(gamma=SINC_GAMMA), X_TRAIN, t)
        assert len(model.alpha_) <= 2
        assert 0.1**2 / 1.6 < model.noise_variance_ < 0.1**2 * 1.6


def test_linear_kernel_recovers_linear_function():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    w = np.array([1.5, -2.0, 0.5])
    y = X @ w + 0.7 + rng.normal(0.0, 0.2, 200)
    model = fit_quiet(RVR(kernel="linear"), X, y)
    X_new = rng.normal(size=(500, 3))
    truth = X_new @ w + 0.7
    # 200 points with noise sd 0.2 determine a 4-parameter plane to a few hundredths.
    assert np.sqrt(np.mean((model.predict(X_new) - truth) ** 2)) < 0.05
    assert 0.2**2 / 1.5 < model.noise_variance_ < 0.2**2 * 1.5
    # The linear kernel's span is 3-dimensional: at most 3 inputs plus the bias remain.
    assert len(model.alpha_) <= 4


def test_linear_spline_kernel_fits_sinc():
    errs = []
    for seed in range(5):
        model = fit_quiet(RVR(kernel="linear_spline"), X_TRAIN, sinc_targets(seed))
        errs.append(np.sqrt(np.mean((model.predict(X_TEST) - F_TEST) ** 2)))
        assert len(model.relevance_indices_) < 20
    # Tipping (2001) reports spline RVMs close to the Gaussian ones on sinc.
    assert np.mean(errs) < 0.06


def test_linear_spline_kernel_formula():
    from bayesmin.inference.evidence import linear_spline_kernel

    x, z = 0.7, -0.4
    m = min(x, z)
    expected = 1 + x * z + x * z * m - (x + z) / 2 * m**2 + m**3 / 3
    assert linear_spline_kernel(np.array([[x]]), np.array([[z]]))[0, 0] == pytest.approx(expected)
    # Product over dimensions.
    a, b = np.array([[x, z]]), np.array([[z, x]])
    k1 = linear_spline_kernel(a[:, :1], b[:, :1]) * linear_spline_kernel(a[:, 1:], b[:, 1:])
    np.testing.assert_allclose(linear_spline_kernel(a, b), k1)


def test_callable_kernel_equals_builtin():
    t = sinc_targets(7)

    def rbf(A, B):
        return np.exp(-SINC_GAMMA * (A[:, None, 0] - B[None, :, 0]) ** 2)

    ours = fit_quiet(RVR(kernel=rbf), X_TRAIN, t)
    builtin = fit_quiet(RVR(kernel="rbf", gamma=SINC_GAMMA), X_TRAIN, t)
    np.testing.assert_allclose(ours.predict(X_TEST), builtin.predict(X_TEST), atol=1e-8)
    np.testing.assert_array_equal(ours.relevance_indices_, builtin.relevance_indices_)


def test_same_input_same_result():
    t = sinc_targets(3)
    a = fit_quiet(RVR(gamma=SINC_GAMMA), X_TRAIN, t)
    b = fit_quiet(RVR(gamma=SINC_GAMMA), X_TRAIN, t)
    np.testing.assert_array_equal(a.predict(X_TEST), b.predict(X_TEST))


@pytest.mark.parametrize(
    ("model", "X", "y", "match"),
    [
        (RVR(), X_TRAIN, np.full(100, 2.0), "constant"),
        (
            RVR(),
            np.where(np.arange(100)[:, None] == 5, np.nan, X_TRAIN),
            sinc_targets(0),
            "Input X contains NaN",
        ),
        (
            RVR(),
            X_TRAIN,
            np.where(np.arange(100) == 5, np.inf, sinc_targets(0)),
            "Input y contains infinity",
        ),
        (RVR(), X_TRAIN, sinc_targets(0)[:99], r"inconsistent numbers of samples: \[100, 99\]"),
        (RVR(gamma=0.0), X_TRAIN, sinc_targets(0), "gamma"),
        (RVR(gamma=-1.0), X_TRAIN, sinc_targets(0), "gamma"),
        (
            RVR(kernel=lambda A, B: np.ones((len(A), len(B) + 1))),
            X_TRAIN,
            sinc_targets(0),
            "kernel returned shape",
        ),
        (RVR(kernel="cosine"), X_TRAIN, sinc_targets(0), "unknown kernel"),
        (RVR(method="em"), X_TRAIN, sinc_targets(0), "unknown method"),
    ],
)
def test_bad_input(model, X, y, match):
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_predict_before_fit_and_wrong_width():
    with pytest.raises(NotFittedError, match="not fitted"):
        RVR().predict(X_TEST)
    model = fit_quiet(RVR(gamma=SINC_GAMMA), X_TRAIN, sinc_targets(0))
    with pytest.raises(ValueError, match="X has 2 features, but RVR is expecting 1"):
        model.predict(np.zeros((3, 2)))


def test_inputs_follow_scikit_learn():
    # X is 2-D, as in scikit-learn: a 1-D array could be one feature or one sample.
    t = sinc_targets(0)
    with pytest.raises(ValueError, match="Reshape your data"):
        RVR(gamma=SINC_GAMMA).fit(X_TRAIN[:, 0], t)
    # A column-vector y is raveled, with scikit-learn's warning, to the same fit.
    flat = fit_quiet(RVR(gamma=SINC_GAMMA), X_TRAIN, t)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = RVR(gamma=SINC_GAMMA).fit(X_TRAIN, t[:, None])
    np.testing.assert_array_equal(column.predict(X_TEST), flat.predict(X_TEST))
    with pytest.raises(ValueError, match="requires y to be passed"):
        RVR().fit(X_TRAIN, None)


def test_reestimation_prunes_a_weight_whose_gamma_rounds_to_zero():
    # Integer inputs on a 3-value grid: the linear kernel's 21 basis functions span 6
    # dimensions. An irrelevant weight's γ_i = s_i / (α_i + s_i) rounds to 0 there; it
    # used to become α_i = γ_i / μ_i² = 0 (an infinite prior variance), and the next
    # Cholesky factor of A + βΦᵀΦ failed. It is pruned now.
    X = (3 * np.random.RandomState(0).uniform(size=(20, 5)).astype(np.float32)).astype(int)
    y = np.tile([1.0, 2.0], 10)
    model = fit_quiet(RVR(kernel="linear", method="reestimation"), X, y)
    assert np.all(np.isfinite(model.alpha_)) and np.all(model.alpha_ > 0)
    assert len(model.alpha_) <= 6  # no more weights than the span has dimensions
    h = np.asarray(model.log_evidence_)
    assert h[-1] > h[0] and np.diff(h).min() >= -1e-6 * np.abs(h).max()
    # The fast method, which never sets α to 0, agrees on the evidence it reaches.
    fast = fit_quiet(RVR(kernel="linear"), X, y)
    assert abs(fast.log_evidence_[-1] - h[-1]) < 1.0
