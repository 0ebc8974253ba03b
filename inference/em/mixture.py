"""Gaussian mixtures fitted by EM, in the scikit-learn estimator contract.

Model (Bishop 2006, §9.2): z_n ~ Categorical(π), x_n | z_n = k ~ N(μ_k, Σ_k). In the
course's notation the latent variables are Z = (z_1 … z_N), θ = (π, μ, Σ), and

* E-step: q(z_n = k) = r_nk = π_k N(x_n | μ_k, Σ_k) / Σ_j π_j N(x_n | μ_j, Σ_j)
  (``log_resp``); the bound L(q, θ) is then log p(X | θ), reported per observation
  (``mean log Σ_k π_k N(x_n | μ_k, Σ_k)``), as scikit-learn's ``lower_bound_`` is;
* M-step: N_k = Σ_n r_nk, π_k = N_k / N, μ_k = Σ_n r_nk x_n / N_k,
  Σ_k = Σ_n r_nk (x_n − μ_k)(x_n − μ_k)ᵀ / N_k + ``reg_covar``·I.

The arithmetic follows scikit-learn's ``GaussianMixture`` step for step (Cholesky
factors of the precisions, ``10·eps`` added to N_k, the same ``reg_covar``), so from the
same initial parameters the two reach the same bound; here the whole loop is one
jitted ``lax.while_loop`` (:func:`inference.em.driver.em`).

Covariance types: ``"full"`` (K, d, d), ``"diag"`` (K, d), ``"spherical"`` (K,).
"""

from __future__ import annotations

import functools
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax.scipy.special import logsumexp
from sklearn.base import DensityMixin
from threadpoolctl import ThreadpoolController

from .._xla import jit
from .base import EMEstimator, check_count

__all__ = ["GaussianMixture"]

COVARIANCE_TYPES = ("full", "diag", "spherical")
_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------- the model's steps


def _log_gaussian(X, means, prec_chol, covariance_type: str):
    """log N(x_n | μ_k, Σ_k), shape (n, K), from Cholesky factors of the precisions."""
    d = X.shape[1]
    if covariance_type == "full":
        log_det = jnp.sum(jnp.log(jnp.diagonal(prec_chol, axis1=1, axis2=2)), axis=1)
        y = jnp.einsum("nd,kde->nke", X, prec_chol) - jnp.einsum("kd,kde->ke", means, prec_chol)
        maha = jnp.sum(y**2, axis=2)
    elif covariance_type == "diag":
        log_det = jnp.sum(jnp.log(prec_chol), axis=1)
        prec = prec_chol**2
        maha = jnp.sum(means**2 * prec, 1) - 2.0 * X @ (means * prec).T + (X**2) @ prec.T
    else:  # spherical
        log_det = d * jnp.log(prec_chol)
        prec = prec_chol**2
        maha = (
            jnp.sum(means**2, 1) * prec
            - 2.0 * (X @ means.T) * prec
            + jnp.outer(jnp.sum(X**2, 1), prec)
        )
    return -0.5 * (d * _LOG_2PI + maha) + log_det


def _weighted_log_prob(params, X, covariance_type):
    lp = _log_gaussian(X, params["means"], params["prec_chol"], covariance_type)
    return lp + jnp.log(params["weights"])


def _covariances(resp, X, nk, means, reg, covariance_type):
    if covariance_type == "full":
        # Σ_k = Σ_n r_nk x_n x_nᵀ / N_k − μ_k μ_kᵀ as one batched product (K, d, n)·(n, d):
        # about twice as fast as centring X once per component (scikit-learn's way).
        # Centring X on its overall mean first keeps the subtraction well conditioned
        # for data far from the origin (Σ_k does not depend on the origin).
        centre = X.mean(axis=0)
        Xc, mc = X - centre, means - centre
        weighted = resp.T[:, :, None] * Xc[None, :, :]
        second = jnp.matmul(jnp.swapaxes(weighted, 1, 2), Xc) / nk[:, None, None]
        eye = jnp.eye(X.shape[1], dtype=X.dtype)
        return second - mc[:, :, None] * mc[:, None, :] + reg * eye
    avg_x2 = resp.T @ (X * X) / nk[:, None]
    diag = avg_x2 - means**2 + reg
    return diag if covariance_type == "diag" else diag.mean(axis=1)


def _precision_cholesky(cov, covariance_type):
    """Cholesky factors of the precisions, L⁻ᵀ for Σ = L Lᵀ (scikit-learn's ``precisions_cholesky_``).

    NaN where Σ_k is not positive definite. One batched triangular solve Lᵀ X = I gives
    L⁻ᵀ directly (scikit-learn transposes L⁻¹): less to trace and compile than a
    ``vmap`` of ``solve_triangular`` and a transpose. Σ is symmetric by construction,
    and LAPACK reads its lower triangle only, as scikit-learn's Cholesky does.
    """
    if covariance_type == "full":
        chol = jax.lax.linalg.cholesky(cov, symmetrize_input=False)
        eye = jnp.broadcast_to(jnp.eye(cov.shape[-1], dtype=cov.dtype), cov.shape)
        return jax.lax.linalg.triangular_solve(
            chol, eye, left_side=True, lower=True, transpose_a=True
        )
    return 1.0 / jnp.sqrt(cov)


def _m_step_from_resp(resp, X, reg, covariance_type):
    eps = jnp.finfo(X.dtype).eps
    nk = resp.sum(axis=0) + 10 * eps
    means = resp.T @ X / nk[:, None]
    cov = _covariances(resp, X, nk, means, reg, covariance_type)
    return {
        "weights": nk / nk.sum(),
        "means": means,
        "prec_chol": _precision_cholesky(cov, covariance_type),
    }


# Full covariances on data small enough for it (n · d(d+1)/2 entries): keep the design
# matrix Z = [1, x_n, x_n x_nᵀ (upper triangle)] of the centred data in memory once per
# fit. Each step is then one plain matrix product with Z — the E-step's Mahalanobis
# distances xᵀP_k x − 2 xᵀP_k μ_k + μ_kᵀP_k μ_k all at once, the M-step's N_k, Σ_n r_nk x_n
# and Σ_n r_nk x_n x_nᵀ all at once — which XLA's CPU backend runs about 4× faster than
# the batched (K, d, n) products they replace, reading the data once per step; and
# fewer, larger kernels take less time to compile (the first fit of a process).
MAX_OUTER_ENTRIES = 25_000_000


@jit
def _design(Xc):
    """Z (n, 1 + d + d(d+1)/2): 1, x, then x_i x_j for i ≤ j, off-diagonal terms doubled.

    The doubling makes Z @ [c, −2Pμ, vech(P)] = xᵀPx − 2xᵀPμ + c for a symmetric P.
    """
    n, d = Xc.shape
    iu, ju = np.triu_indices(d)
    factor = jnp.asarray(np.where(iu == ju, 1.0, 2.0), Xc.dtype)
    return jnp.concatenate([jnp.ones((n, 1), Xc.dtype), Xc, Xc[:, iu] * Xc[:, ju] * factor], 1)


def _unpack_upper(flat, d):
    """(K, d(d+1)/2) upper triangles (no doubling) -> (K, d, d) symmetric matrices."""
    iu, ju = np.triu_indices(d)
    index = np.empty((d, d), dtype=np.int32)
    index[iu, ju] = index[ju, iu] = np.arange(iu.size)
    return flat[:, index]  # one gather, not two scatters: less to compile


def _weighted_design(params, data):
    """log π_k N(x_n | μ_k, Σ_k) (n, K) from the stored design matrix: one product with Z.

    The small (K, d, d) pieces are written for XLA:CPU's compiler as much as for the
    reader: the diagonal of the factors as a strided slice of their flattened rows and
    the upper triangle of P as one ``take`` (``jnp.diagonal`` and 2-D fancy indexing
    lower to heavier gathers), together 15-20 ms less compilation of the EM loop.
    """
    Z, centre = data["Z"], data["centre"]
    pc = params["prec_chol"]
    k, d = pc.shape[0], centre.shape[0]
    P = pc @ jnp.swapaxes(pc, 1, 2)  # precisions L Lᵀ
    mc = params["means"] - centre
    # P μ as a product and a sum, not a batched (K, d, d)·(K, d) matrix product: XLA:CPU
    # compiles that tiny product into a kernel of its own, the sum joins a fused loop.
    Pm = jnp.sum(P * mc[:, None, :], axis=2)
    log_det = jnp.sum(jnp.log(pc.reshape(k, d * d)[:, :: d + 1]), axis=1)
    iu, ju = np.triu_indices(d)
    upper = jnp.take(P.reshape(k, d * d), iu * d + ju, axis=1, mode="clip")
    # −½(d log 2π + xᵀPx − 2xᵀPμ + μᵀPμ) + log|L| + log π as [1, x, vech(x xᵀ)] · w_k
    offset = -0.5 * (d * _LOG_2PI + jnp.sum(mc * Pm, axis=1)) + log_det + jnp.log(params["weights"])
    return Z @ jnp.concatenate([offset[:, None], Pm, -0.5 * upper], axis=1).T


def _m_step_design(resp, data):
    """θ from responsibilities through the design matrix: the sums rᵀZ, then :func:`_from_sums`."""
    return _from_sums(resp.T @ data["Z"], data["centre"], data["reg_covar"])


def _from_sums(sums, centre, reg, xp=jnp):
    """θ from the per-component sums rᵀZ (K, 1 + d + d(d+1)/2): N_k, Σ r x, Σ r x xᵀ.

    ``xp`` is ``jnp`` inside the compiled EM loop, ``np`` for a k-means start (five
    10 × 10 Cholesky factorisations need no compiled program of their own).
    """
    d = centre.shape[0]
    nk = sums[:, 0] + 10 * xp.finfo(sums.dtype).eps
    mc = sums[:, 1 : 1 + d] / nk[:, None]
    iu, ju = np.triu_indices(d)
    halve = np.where(iu == ju, 1.0, 0.5)  # the design matrix doubled the off-diagonal terms
    second = _unpack_upper(sums[:, 1 + d :] * halve / nk[:, None], d)
    cov = second - mc[:, :, None] * mc[:, None, :] + reg * xp.eye(d, dtype=sums.dtype)
    return {
        "weights": nk / nk.sum(),
        "means": mc + centre,
        "prec_chol": _precision_cholesky(cov, "full")
        if xp is jnp
        else _host_precision_cholesky(cov),
    }


def _host_precision_cholesky(cov: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`_precision_cholesky` (full): NaN where Σ_k is not positive definite.

    NaN, as the compiled factorisation gives, so that the fit fails the same way (a
    non-finite bound and the cure named by ``fit``) from either start.
    """
    out = np.full_like(cov, np.nan)
    eye = np.eye(cov.shape[-1])
    for k, c in enumerate(cov):
        try:
            chol = np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            continue
        out[k] = scipy.linalg.solve_triangular(chol, eye, lower=True).T
    return out


def _m_step(resp, data, covariance_type):
    """θ from responsibilities ``resp`` (n, K), by the stored design matrix where there is one."""
    if "Z" in data:  # the pytree's structure is static: decided when traced
        return _m_step_design(resp, data)
    return _m_step_from_resp(resp, data["X"], data["reg_covar"], covariance_type)


def _steps(covariance_type: str):
    """``(e_step, m_step, lower_bound)`` for one covariance type (stable identities)."""

    def e_step(params, data):
        if "Z" in data:  # the pytree's structure is static: decided when traced
            weighted = _weighted_design(params, data)
        else:
            weighted = _weighted_log_prob(params, data["X"], covariance_type)
        log_norm = logsumexp(weighted, axis=1)
        return {"log_resp": weighted - log_norm[:, None], "bound": jnp.mean(log_norm)}

    def lower_bound(params, q, data):
        # For the exact E-step, L(q, θ) = log p(X | θ): the normaliser of q.
        return q["bound"]

    def m_step(q, data):
        return _m_step(jnp.exp(q["log_resp"]), data, covariance_type)

    return e_step, m_step, lower_bound


_STEPS = {t: _steps(t) for t in COVARIANCE_TYPES}


@partial(jit, static_argnames="covariance_type")
def _log_probs(params, X, covariance_type):
    """log π_k N(x_n | μ_k, Σ_k) (n, K) and its log-sum over k, log p(x_n | θ) (n,)."""
    weighted = _weighted_log_prob(params, X, covariance_type)
    return weighted, logsumexp(weighted, axis=1)


# ------------------------------------------------------------------ initialisation


@functools.cache
def _blas_threads() -> ThreadpoolController:
    return ThreadpoolController()  # a few ms to list the loaded BLAS libraries: once


def _one_blas_thread():
    """NumPy's and SciPy's BLAS on one thread, for the small host arithmetic of a start.

    After a call on several threads, OpenBLAS keeps its worker threads spinning for a
    while; the XLA program that follows then shares the cores with them. A k-means++
    product (3 × 10 by 10 × 100,000) or a 10 × 10 triangular solve before the EM loop
    made that loop about 40 ms slower on 2 cores. scikit-learn's k-means limits BLAS
    the same way (``threadpool_limits(1, "blas")``).
    """
    return _blas_threads().limit(limits=1, user_api="blas")


def _kmeans_plus_plus(
    Xc: np.ndarray, sq: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Arthur & Vassilvitskii (2007) seeding, with 2 + log k candidates per centre (greedy).

    ``Xc`` is X centred on its mean and ``sq`` its rows' squared norms, so that the
    squared distances ‖x‖² − 2xᵀc + ‖c‖² are one matrix product per centre (not a pass
    over an (n, d) difference per candidate) and lose no precision for data far from
    the origin. Returns the chosen rows' indices.
    """
    n = Xc.shape[0]

    def distances(rows) -> np.ndarray:  # (len(rows), n) squared distances to Xc[rows]
        rows = np.atleast_1d(rows)
        d2 = sq[rows][:, None] - 2.0 * (Xc[rows] @ Xc.T) + sq[None, :]
        return np.maximum(d2, 0.0)

    first = rng.integers(n)
    chosen = [first]
    closest = distances(first)[0]
    trials = 2 + int(np.log(k))
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # fewer distinct points than k: repeat one
            chosen.append(rng.integers(n))
            continue
        candidates = rng.choice(n, size=trials, p=closest / total)
        dist = distances(candidates)
        best = np.argmin(np.minimum(closest[None, :], dist).sum(axis=1))
        chosen.append(candidates[best])
        closest = np.minimum(closest, dist[best])
    return np.asarray(chosen)


def _nearest(X1, centres):
    """Index of the nearest centre of every row of X1 = [1, x] (n, 1 + d).

    ‖x − c‖² = ‖x‖² − 2xᵀc + ‖c‖², and ‖x‖² is common to all centres: left out, so the
    rest is one product [1, x] · [‖c‖², −2c].
    """
    return jnp.argmin(X1 @ jnp.concatenate([jnp.sum(centres**2, 1)[:, None], -2 * centres], 1).T, 1)


def _lloyd(X1, centres, threshold, max_iter=300):
    """Lloyd's k-means iterations from ``centres`` on X1 = [1, x]: scikit-learn's stopping rule.

    As in scikit-learn (the start its ``GaussianMixture`` uses): stop when the centres'
    total squared shift is at most ``threshold`` (``tol`` = 1e-4 times the mean
    per-feature variance of ``X``), or after ``max_iter`` iterations; the labels
    returned are those of the last centres. Running on until the labels are exactly
    stable took 1.5-2× the iterations on overlapping clusters for the same mixture fit.
    scikit-learn also stops when the labels repeat; that needs no test of its own here:
    the same labels give the same centres, a shift of 0, so the loop ends one cheap
    iteration later with the same labels — and a test of 100,000 labels per iteration
    took a quarter of this program's compilation. The column of ones makes each step
    one product: [N_k, Σ x] = one_hotᵀ [1, x].
    """
    k = centres.shape[0]

    def body(state):
        c, labels, _, i = state
        sums = jax.nn.one_hot(labels, k, dtype=X1.dtype).T @ X1
        counts = sums[:, :1]
        new_c = jnp.where(counts > 0, sums[:, 1:] / jnp.maximum(counts, 1), c)
        return new_c, _nearest(X1, new_c), jnp.sum((new_c - c) ** 2) > threshold, i + 1

    state = (centres, _nearest(X1, centres), jnp.asarray(True), 0)
    _, labels, _, _ = jax.lax.while_loop(lambda s: s[2] & (s[3] < max_iter), body, state)
    return labels


def _with_ones(data):
    """[1, x] (n, 1 + d) of the stored data: the design matrix's first columns, where kept."""
    if "Z" in data:
        return data["Z"][:, : 1 + data["centre"].shape[0]]
    X = data["X"]
    return jnp.concatenate([jnp.ones((X.shape[0], 1), X.dtype), X], axis=1)


@partial(jit, static_argnames=("covariance_type", "lloyd"))
def _start_from_centres(data, centres, threshold, covariance_type, lloyd):
    """The hard labels of ``centres`` (k-means with ``lloyd``), one compiled program.

    Where ``data`` holds the design matrix Z it returns the clusters' sums onehotᵀZ
    (θ follows on the host: :func:`_from_sums`), otherwise θ. ``centres`` are in the
    frame of the stored data (centred where ``data`` holds Z); ``threshold`` is Lloyd's.
    """
    X1 = _with_ones(data)
    labels = _lloyd(X1, centres, threshold) if lloyd else _nearest(X1, centres)
    one_hot = jax.nn.one_hot(labels, centres.shape[0], dtype=X1.dtype)
    if "Z" in data:  # the pytree's structure is static: decided when traced
        return one_hot.T @ data["Z"]
    return _m_step(one_hot, data, covariance_type)


_start_from_resp = jit(_m_step, static_argnames="covariance_type")


# ------------------------------------------------------------------------ estimator


class GaussianMixture(DensityMixin, EMEstimator):
    """Gaussian mixture by EM; scikit-learn's ``GaussianMixture`` contract.

    Restarts, warm start, the convergence warning and 64-bit arithmetic are the shared
    EM base's (:class:`inference.em.base.EMEstimator`); this class holds the model.

    Parameters
    ----------
    n_components : int
        K, the number of components.
    covariance_type : {"full", "diag", "spherical"}
    tol : float
        Stop when the per-observation lower bound changes by less than this.
    reg_covar : float
        Added to the diagonal of every covariance (keeps them positive definite).
    max_iter : int
    n_init : int
        Restarts from different initialisations; the one with the highest final bound is kept.
    init_params : {"kmeans", "k-means++", "random"}
        Responsibilities to start from: k-means labels (k-means++ seeding then Lloyd's
        iterations), the k-means++ seeds' nearest-centre labels, or random soft ones.
    weights_init, means_init, precisions_init : array, optional
        Starting parameters (scikit-learn's names and shapes); when given they replace
        those of the initialisation.
    random_state : int, numpy.random.Generator or None
        Seed of the initialisations and the default seed of :meth:`sample`.
    warm_start : bool
        Start ``fit`` from the last fit's parameters (``n_init`` is then ignored).

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
    converged_, n_iter_, lower_bound_, n_features_in_ : as scikit-learn.
    lower_bounds_ : ndarray
        The bound at every iteration of the kept run (never decreasing).

    References
    ----------
    Dempster, Laird & Rubin (1977); Bishop (2006), *Pattern Recognition and Machine
    Learning*, §9.2; Arthur & Vassilvitskii (2007), k-means++.
    """

    _remedy = ", or try n_init > 1"
    _collapse = "a component collapsed: raise reg_covar, use fewer components or scale the data"
    _why_finite = (
        "a Gaussian mixture needs complete data: drop or impute those rows "
        "(PPCA handles missing values)"
    )

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        random_state: int | np.random.Generator | None = None,
        warm_start: bool = False,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start

    # -- checks
    def _check_model_settings(self, X: np.ndarray) -> None:
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}, "
                f"got {self.covariance_type!r}"
            )
        if self.init_params not in ("kmeans", "k-means++", "random"):
            raise ValueError(
                f"init_params must be 'kmeans', 'k-means++' or 'random', got {self.init_params!r}"
            )
        k = check_count("n_components", self.n_components)
        if k > X.shape[0]:
            raise ValueError(
                f"n_components = {k} exceeds the {X.shape[0]} observations; "
                "use fewer components or more data"
            )
        if not self.reg_covar >= 0:
            raise ValueError(f"reg_covar must be >= 0, got {self.reg_covar}")

    def _check_input(self, X) -> np.ndarray:
        X = self._validate_X(X, reset=True, min_samples=2, why_finite=self._why_finite)
        # "Differs from the first row somewhere": one pass, half the time of np.ptp.
        constant = np.flatnonzero(~(X != X[0]).any(axis=0))
        if constant.size:
            raise ValueError(
                f"column(s) {', '.join(map(str, constant[:5]))} of X are constant; "
                "drop them: they carry no information and make every covariance singular"
            )
        return X

    def _checked(self, X) -> np.ndarray:
        """``X`` for a fitted mixture: NotFittedError, then scikit-learn's checks."""
        self._check_fitted()
        return self._validate_X(X, reset=False, why_finite=self._why_finite)

    # -- the model's part of EM
    def _em_steps(self):
        return _STEPS[self.covariance_type]

    def _em_data(self, X: np.ndarray) -> dict:
        # device_put, not jnp.asarray: JAX 0.10 compiles a small program per shape for
        # the latter, a noticeable part of a first fit.
        reg = jax.device_put(np.float64(self.reg_covar))
        n, d = X.shape
        if self.covariance_type == "full" and n * d * (d + 1) // 2 <= MAX_OUTER_ENTRIES:
            centre = X.mean(axis=0)
            return {
                "centre": jax.device_put(centre),
                "Z": _design(jax.device_put(X - centre)),
                "reg_covar": reg,
            }
        return {"X": jax.device_put(X), "reg_covar": reg}

    def _initial_params(self, X: np.ndarray, data, rng: np.random.Generator, init: int) -> dict:
        k, t = int(self.n_components), self.covariance_type
        given = (self.weights_init, self.means_init, self.precisions_init)
        if all(v is not None for v in given):
            # Every starting parameter is given: no clustering needed.
            prec = np.asarray(self.precisions_init, float)
            return {
                "weights": np.asarray(self.weights_init, float),
                "means": np.asarray(self.means_init, float),
                "prec_chol": np.linalg.cholesky(prec) if t == "full" else np.sqrt(prec),
            }
        if self.init_params == "random":
            resp = rng.uniform(size=(X.shape[0], k))
            resp /= resp.sum(axis=1, keepdims=True)
            params = _start_from_resp(jax.device_put(resp), data, covariance_type=t)
        else:
            with _one_blas_thread():
                params = self._kmeans_start(X, data, rng)
        params = {name: np.asarray(v) for name, v in params.items()}
        if self.weights_init is not None:
            params["weights"] = np.asarray(self.weights_init, float)
        if self.means_init is not None:
            params["means"] = np.asarray(self.means_init, float)
        if self.precisions_init is not None:
            prec = np.asarray(self.precisions_init, float)
            params["prec_chol"] = np.linalg.cholesky(prec) if t == "full" else np.sqrt(prec)
        return params

    def _kmeans_start(self, X: np.ndarray, data, rng: np.random.Generator) -> dict:
        """θ from k-means++ seeds (and Lloyd's iterations for ``init_params="kmeans"``)."""
        centre = X.mean(axis=0)  # the design matrix's centre too (``_em_data``)
        Xc = X - centre
        sq = np.einsum("ij,ij->i", Xc, Xc)
        rows = _kmeans_plus_plus(Xc, sq, int(self.n_components), rng)
        # scikit-learn's k-means tolerance: 1e-4 times the mean per-feature variance.
        threshold = jax.device_put(1e-4 * sq.mean() / X.shape[1])
        design = "Z" in data
        out = _start_from_centres(
            data,
            jax.device_put(Xc[rows] if design else X[rows]),
            threshold,
            covariance_type=self.covariance_type,
            lloyd=self.init_params == "kmeans",
        )
        return _from_sums(np.asarray(out), centre, self.reg_covar, np) if design else out

    def _warm_params(self, X: np.ndarray) -> dict:
        shape = self._params["means"].shape
        if shape != (int(self.n_components), X.shape[1]) or (
            self._params["prec_chol"].ndim
            != {"full": 3, "diag": 2, "spherical": 1}[self.covariance_type]
        ):
            raise ValueError(
                f"warm_start=True continues the last fit, {shape[0]} components on "
                f"{shape[1]} features with other covariances; set warm_start=False to refit"
            )
        return self._params

    def _set_attributes(self, X, data) -> None:
        p, t = self._params, self.covariance_type
        self.weights_ = p["weights"]
        self.means_ = p["means"]
        self.precisions_cholesky_ = p["prec_chol"]
        if t == "full":
            self.precisions_ = np.einsum("kij,klj->kil", p["prec_chol"], p["prec_chol"])
            self.covariances_ = np.linalg.inv(self.precisions_)
        else:
            self.precisions_ = p["prec_chol"] ** 2
            self.covariances_ = 1.0 / self.precisions_

    def _log_probs(self, X) -> tuple[np.ndarray, np.ndarray]:
        """log π_k N(x_n | μ_k, Σ_k) and log p(x_n | θ) for the rows of a checked ``X``."""
        X = self._checked(X)
        return self._compute(_log_probs, self._params, X, covariance_type=self.covariance_type)

    # -- scikit-learn's prediction methods
    def score_samples(self, X) -> np.ndarray:
        """log p(x_n | θ) for every row."""
        return self._log_probs(X)[1]

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per observation."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X) -> np.ndarray:
        """Responsibilities r_nk."""
        weighted, log_norm = self._log_probs(X)
        return np.exp(weighted - log_norm[:, None])

    def predict(self, X) -> np.ndarray:
        """The most probable component of each row."""
        return self._log_probs(X)[0].argmax(axis=1)

    def fit_predict(self, X, y=None) -> np.ndarray:
        """``fit(X).predict(X)``."""
        return self.fit(X).predict(X)

    def _n_parameters(self) -> int:
        k, d = self.means_.shape
        cov = {"full": k * d * (d + 1) // 2, "diag": k * d, "spherical": k}[self.covariance_type]
        return int(cov + k * d + k - 1)

    def bic(self, X) -> float:
        """Bayesian information criterion (lower is better)."""
        log_norm = self._log_probs(X)[1]
        n = log_norm.shape[0]
        return float(-2 * log_norm.sum() + self._n_parameters() * np.log(n))

    def aic(self, X) -> float:
        """Akaike information criterion (lower is better)."""
        return float(-2 * self._log_probs(X)[1].sum() + 2 * self._n_parameters())

    def sample(self, n_samples: int = 1, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """``(X, labels)``: ``n_samples`` draws from the fitted mixture.

        ``random_state`` (int, Generator or None) defaults to the estimator's own, so
        with an int ``random_state`` every call gives the same draws, as scikit-learn's.
        """
        self._check_fitted()
        n_samples = check_count("n_samples", n_samples)
        rng = self._rng(random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        d = self.n_features_in_
        draws, labels = [], []
        for k, c in enumerate(counts):
            if self.covariance_type == "full":
                cov = self.covariances_[k]
            else:
                cov = np.diag(np.broadcast_to(self.covariances_[k], (d,)))
            draws.append(rng.multivariate_normal(self.means_[k], cov, size=c))
            labels.append(np.full(c, k))
        return np.concatenate(draws), np.concatenate(labels)
