"""Gaussian mixtures by EM against scikit-learn, step for step, and the EM driver's contract."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from bayesmin.inference._precision import float64
from bayesmin.inference.em import GaussianMixture, em

TYPES = ["full", "diag", "spherical"]


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(
        n_samples=1500, centers=4, n_features=3, cluster_std=[1.0, 2.0, 0.5, 1.5], random_state=0
    )
    return X, y


def _sklearn_start(X, covariance_type):
    # One iteration of scikit-learn from its own k-means start: a common starting point.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = SkGaussianMixture(4, covariance_type=covariance_type, random_state=3, max_iter=1)
        first.fit(X)
    return {
        "weights_init": first.weights_,
        "means_init": first.means_,
        "precisions_init": first.precisions_,
    }


@pytest.mark.parametrize("covariance_type", TYPES)
def test_same_start_same_bound_as_scikit_learn(blobs, covariance_type):
    X, _ = blobs
    start = _sklearn_start(X, covariance_type)
    kwargs = dict(covariance_type=covariance_type, tol=1e-8, max_iter=500, **start)
    theirs = SkGaussianMixture(4, **kwargs).fit(X)
    ours = GaussianMixture(4, **kwargs).fit(X)
    assert ours.converged_ and theirs.converged_
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, abs=1e-6)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.means_, theirs.means_, atol=1e-5)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-8)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-8)
    # Negative control: a different start really gives a different path.
    with pytest.warns(ConvergenceWarning):
        other = GaussianMixture(4, covariance_type=covariance_type, tol=1e-8, max_iter=3).fit(X)
    assert other.lower_bounds_[0] != pytest.approx(ours.lower_bounds_[0], abs=1e-6)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_lower_bound_never_decreases(blobs, covariance_type):
    X, _ = blobs
    fit = GaussianMixture(4, covariance_type=covariance_type, init_params="random",
                          tol=1e-10, max_iter=200, random_state=1).fit(X)  # fmt: skip
    assert len(fit.lower_bounds_) == fit.n_iter_ > 5
    assert np.all(np.diff(fit.lower_bounds_) >= -1e-10)
    assert fit.lower_bound_ == fit.lower_bounds_[-1]


@pytest.mark.parametrize("covariance_type", TYPES)
def test_restarts_score_at_least_as_well_as_scikit_learn(covariance_type):
    X, _ = make_blobs(n_samples=2000, centers=5, n_features=4, cluster_std=1.5, random_state=1)
    tol = 1e-3
    theirs = SkGaussianMixture(5, covariance_type=covariance_type, n_init=4, tol=tol,
                               random_state=0).fit(X)  # fmt: skip
    ours = GaussianMixture(5, covariance_type=covariance_type, n_init=4, tol=tol,
                           random_state=0).fit(X)  # fmt: skip
    # Both stop once the bound moves by less than tol, so they agree to within tol.
    assert ours.score(X) >= theirs.score(X) - tol
    one = GaussianMixture(5, covariance_type=covariance_type, n_init=1, tol=tol, random_state=0)
    assert ours.lower_bound_ >= one.fit(X).lower_bound_ - 1e-12  # restarts keep the best


def test_predict_recovers_well_separated_clusters(blobs):
    X, y = blobs
    fit = GaussianMixture(4, random_state=0, n_init=2).fit(X)
    labels = fit.predict(X)
    # Accuracy up to a relabelling: each true cluster maps to one fitted component.
    agree = sum(np.bincount(labels[y == c]).max() for c in range(4)) / len(y)
    assert agree > 0.9
    proba = fit.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(proba.argmax(axis=1), labels)
    np.testing.assert_allclose(fit.score(X), fit.score_samples(X).mean())


def test_sample_follows_the_fitted_mixture(blobs):
    X, _ = blobs
    fit = GaussianMixture(4, random_state=0).fit(X)
    draws, labels = fit.sample(20000, random_state=1)
    assert draws.shape == (20000, 3)
    # Component frequencies within 5 binomial standard errors of the weights.
    freq = np.bincount(labels, minlength=4) / len(labels)
    se = np.sqrt(fit.weights_ * (1 - fit.weights_) / len(labels))
    assert np.all(np.abs(freq - fit.weights_) < 5 * se)
    # The draws' overall mean matches the mixture mean within 5 standard errors.
    mix_mean = fit.weights_ @ fit.means_
    se_mean = draws.std(axis=0) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - mix_mean) < 5 * se_mean)


def test_warm_start_continues_from_the_last_fit(blobs):
    X, _ = blobs
    with pytest.warns(ConvergenceWarning, match="raise max_iter"):
        fit = GaussianMixture(4, max_iter=2, tol=1e-12, random_state=0, warm_start=True).fit(X)
    first = fit.lower_bound_
    with pytest.warns(ConvergenceWarning):
        fit.fit(X)
    assert fit.lower_bounds_[0] >= first - 1e-12


BAD = [
    (dict(n_components=2000), np.random.default_rng(0).normal(size=(10, 2)), "exceeds the 10"),
    (dict(covariance_type="tied"), None, "covariance_type"),
    (dict(init_params="magic"), None, "init_params"),
    (dict(reg_covar=-1.0), None, "reg_covar"),
    (dict(n_init=0), None, "n_init"),
]


@pytest.mark.parametrize(("kwargs", "X", "needle"), BAD)
def test_bad_settings_are_named(blobs, kwargs, X, needle):
    X = blobs[0] if X is None else X
    with pytest.raises(ValueError, match=needle):
        GaussianMixture(**{"n_components": 2, **kwargs}).fit(X)


def test_bad_data_is_named(blobs):
    X = blobs[0].copy()
    X[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN/inf.*row 5, column 1"):
        GaussianMixture(2).fit(X)
    constant = np.column_stack([blobs[0], np.ones(len(blobs[0]))])
    with pytest.raises(ValueError, match="column\\(s\\) 3 of X are constant"):
        GaussianMixture(2).fit(constant)
    with pytest.raises(ValueError, match="2-D"):
        GaussianMixture(2).fit(blobs[0][:, 0])
    fit = GaussianMixture(2, random_state=0).fit(blobs[0])
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        fit.predict(blobs[0][:, :2])


def test_driver_stops_on_tol_and_records_every_bound():
    # A toy fixed-point iteration x <- x/2 + 1 with "bound" -(x - 2)^2: monotone to 0.
    def e_step(params, data):
        return params

    def lower_bound(params, q, data):
        return -((params - data) ** 2)

    def m_step(q, data):
        return q / 2 + data / 2

    result = em(jnp.asarray(0.0), jnp.asarray(2.0), e_step=e_step, m_step=m_step,
                lower_bound=lower_bound, tol=1e-6, max_iter=100)  # fmt: skip
    assert result.converged and result.n_iter == len(result.lower_bounds)
    expected = -((2.0 - 2.0 * (1 - 0.5 ** np.arange(result.n_iter))) ** 2)
    np.testing.assert_allclose(result.lower_bounds, expected, rtol=1e-12)
    short = em(jnp.asarray(0.0), jnp.asarray(2.0), e_step=e_step, m_step=m_step,
               lower_bound=lower_bound, tol=1e-6, max_iter=3)  # fmt: skip
    assert not short.converged and short.n_iter == 3
    with pytest.raises(ValueError, match="max_iter"):
        em(jnp.asarray(0.0), jnp.asarray(2.0), e_step=e_step, m_step=m_step,
           lower_bound=lower_bound, max_iter=0)  # fmt: skip


def test_data_far_from_the_origin_give_the_same_fit(blobs):
    # Covariances are translation invariant; the fast path must not lose them to
    # cancellation when the data sit far from 0.
    X, _ = blobs
    start = _sklearn_start(X, "full")
    near = GaussianMixture(4, tol=1e-8, max_iter=500, **start).fit(X)
    shifted = {**start, "means_init": start["means_init"] + 1e6}
    far = GaussianMixture(4, tol=1e-8, max_iter=500, **shifted).fit(X + 1e6)
    np.testing.assert_allclose(far.covariances_, near.covariances_, rtol=1e-6, atol=1e-8)
    assert far.lower_bound_ == pytest.approx(near.lower_bound_, abs=1e-6)


def test_design_matrix_path_matches_the_plain_path(blobs, monkeypatch):
    # Full covariances run on the design matrix [1, x, x xᵀ] where it fits in memory,
    # on X itself otherwise: from the same k-means start both take the same steps.
    from bayesmin.inference.em import mixture

    X, _ = blobs
    kwargs = dict(covariance_type="full", tol=1e-8, max_iter=500, random_state=1)
    design = GaussianMixture(4, **kwargs).fit(X)
    monkeypatch.setattr(mixture, "MAX_OUTER_ENTRIES", 0)
    plain = GaussianMixture(4, **kwargs).fit(X)
    assert design.n_iter_ == plain.n_iter_
    np.testing.assert_allclose(design.lower_bounds_, plain.lower_bounds_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(design.means_, plain.means_, atol=1e-8)
    np.testing.assert_allclose(design.covariances_, plain.covariances_, atol=1e-8)
    # Negative control: another seed's k-means start takes another path.
    other = GaussianMixture(4, **{**kwargs, "random_state": 5}).fit(X)
    assert other.lower_bounds_[0] != pytest.approx(design.lower_bounds_[0], abs=1e-6)


@float64()  # the test's own JAX arithmetic in 64-bit, as the estimator's
def test_kmeans_labels_are_scikit_learns_lloyd():
    # Our Lloyd's iterations stop on the centres' shift alone; scikit-learn also stops
    # when the labels repeat, which gives the same labels one iteration sooner. From the
    # same seeds, on overlapping clusters (many iterations), the labels are KMeans'.
    from bayesmin.inference.em import mixture

    X, _ = make_blobs(n_samples=3000, centers=5, n_features=4, cluster_std=3.0, random_state=2)
    Xc = X - X.mean(axis=0)
    sq = np.einsum("ij,ij->i", Xc, Xc)
    rows = mixture._kmeans_plus_plus(Xc, sq, 5, np.random.default_rng(0))
    theirs = KMeans(5, init=X[rows], n_init=1, tol=1e-4, algorithm="lloyd").fit(X)
    X1 = jnp.asarray(np.c_[np.ones(len(X)), Xc])
    threshold = 1e-4 * sq.mean() / X.shape[1]  # scikit-learn's tol times the mean variance
    ours = np.asarray(mixture._lloyd(X1, jnp.asarray(Xc[rows]), threshold))
    assert theirs.n_iter_ > 5
    np.testing.assert_array_equal(ours, theirs.labels_)
    # Negative control: stopping after one iteration leaves other labels.
    early = np.asarray(mixture._lloyd(X1, jnp.asarray(Xc[rows]), threshold, max_iter=1))
    assert np.mean(early != theirs.labels_) > 0.01


@float64()
def test_host_start_parameters_are_the_compiled_m_steps():
    # A k-means start's θ comes from the clusters' sums on the host (NumPy), the EM
    # loop's from the same function compiled: both agree, NaN included for a Σ_k that
    # is not positive definite (so a collapsed start fails the same way).
    from bayesmin.inference.em import mixture

    rng = np.random.default_rng(0)
    Xc = rng.normal(size=(500, 3))
    Z = np.asarray(mixture._design(jnp.asarray(Xc)))
    resp = rng.dirichlet(np.ones(4), size=500)
    sums, centre = resp.T @ Z, np.array([1.0, -2.0, 0.5])
    host = mixture._from_sums(sums, centre, 1e-6, np)
    compiled = mixture._from_sums(jnp.asarray(sums), jnp.asarray(centre), 1e-6)
    for name in ("weights", "means", "prec_chol"):
        np.testing.assert_allclose(host[name], compiled[name], rtol=1e-12, atol=1e-12)
    precision = host["prec_chol"] @ np.swapaxes(host["prec_chol"], 1, 2)
    cov = np.linalg.inv(precision)
    mc = host["means"] - centre
    expected = (resp.T[:, :, None] * Xc[None]).swapaxes(1, 2) @ Xc / resp.sum(0)[:, None, None]
    np.testing.assert_allclose(cov, expected - mc[:, :, None] * mc[:, None, :] + 1e-6 * np.eye(3))
    # Negative control: a component with a negative variance has no Cholesky factor.
    bad = sums.copy()
    bad[0, 4] = -1.0  # Σ x₁² of component 0 below (Σ x₁)²/N₀
    assert np.isnan(mixture._from_sums(bad, centre, 0.0, np)["prec_chol"][0]).all()
    assert np.isnan(
        np.asarray(mixture._from_sums(jnp.asarray(bad), centre, 0.0)["prec_chol"][0])
    ).any()
    assert np.isfinite(mixture._from_sums(bad, centre, 0.0, np)["prec_chol"][1:]).all()


def test_fit_leaves_blas_threads_as_it_found_them(blobs):
    # The k-means start runs NumPy's BLAS on one thread; the user's setting comes back.
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    GaussianMixture(4, random_state=0).fit(blobs[0])
    assert blas_threads() == before
