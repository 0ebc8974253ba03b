"""Probabilistic PCA by EM (with missing values) or in closed form; scikit-learn contract.

Model (Tipping & Bishop 1999; the course, topic 6): for each row x_n ∈ R^D,

    p(x_n, z_n | θ) = N(x_n | μ + W z_n, σ² I) N(z_n | 0, I),   z_n ∈ R^q,

so that marginally x_n ~ N(μ, C) with C = W Wᵀ + σ² I. θ = (μ, W, σ²).

Notation, paper → code
----------------------
* W (D × q) → ``components_.T`` (we store Wᵀ, scikit-learn's (q, D) layout; see
  :class:`PPCA`); σ² → ``noise_variance_``; μ → ``mean_``; C → ``get_covariance()``.
* M = WᵀW + σ² I (q × q). With missing values each row n has its own
  M_n = W_oᵀ W_o + σ² I, where W_o are the rows of W of the coordinates observed in x_n
  (``M`` inside :func:`_posterior`, one per row, shape (n, q, q)).
* ⟨z_n⟩ = M_n⁻¹ W_oᵀ (x_o − μ_o) (``zbar``) and ⟨z_n z_nᵀ⟩ = σ² M_n⁻¹ + ⟨z_n⟩⟨z_n⟩ᵀ
  (``Szz`` holds the covariance σ² M_n⁻¹).

EM with missing data
--------------------
The latent variables of row n are z_n *and* its missing coordinates x_m; the E-step
uses their exact joint posterior given the observed x_o: z_n | x_o ~ N(⟨z_n⟩, σ² M_n⁻¹)
and, given z_n, x_m ~ N(μ_m + W_m z_n, σ² I). Writing u_n = (z_n, 1) and
B = [W, μ] (D × (q+1)), the M-step is a linear regression of each coordinate on u_n
with the expected sufficient statistics

    A = Σ_n E[u_n u_nᵀ],   c_d = Σ_n E[x_nd u_n],   b_d ← A⁻¹ c_d,
    σ² ← (1 / nD) Σ_nd E[(x_nd − b_dᵀ u_n)²],

where E[x_nd u_n] = x_nd ⟨u_n⟩ for an observed coordinate and E[u_n u_nᵀ] b_d^old for a
missing one. μ and W are updated jointly (not μ fixed at the column means, which is the
ML μ only for complete data), so each step maximises the expected complete-data
log-likelihood exactly and the observed-data log-likelihood

    (1/n) Σ_n log N(x_o | μ_o, W_o W_oᵀ + σ² I_o)

— our lower bound, which the exact E-step makes tight — never decreases. On complete
data the updates reduce to Tipping & Bishop's eqs. (27)–(28) with μ = the sample mean.
Per-row quantities are batched (q × q Cholesky factors over rows, a mask of observed
entries), so there is no Python loop over rows; the loop over iterations is
:func:`inference.em.driver.em` (one jitted ``lax.while_loop``).

The ML solution with complete data (Tipping & Bishop eqs. 7–8) is
W = U_q (Λ_q − σ² I)^{1/2}, σ² = mean of the D − q smallest eigenvalues of the sample
covariance S = (1/n) Σ (x_n − x̄)(x_n − x̄)ᵀ (``method="closed_form"``).

References
----------
Tipping, M. E. & Bishop, C. M. (1999). Probabilistic principal component analysis.
*Journal of the Royal Statistical Society B* 61(3), 611–622.
Ilin, A. & Raiko, T. (2010). Practical approaches to principal component analysis in
the presence of missing values. *JMLR* 11, 1957–2000 (the missing-data EM).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve
from sklearn.base import DensityMixin, TransformerMixin

from .base import EMEstimator

__all__ = ["PPCA"]

METHODS = ("em", "closed_form")
_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------- the model's steps


def _posterior(params, X0, obs):
    """Per-row posterior of z given the observed coordinates, and log p(x_o | θ).

    ``X0`` is X with missing entries set to 0 and ``obs`` the 0/1 mask of observed ones
    (both (n, D)); masking W's rows row by row turns every missing coordinate into an
    independent N(μ_d, σ²) that drops out of M_n and of the residual.
    Returns ``zbar`` (n, q), ``Minv`` (n, q, q) and ``loglik`` (n,).
    """
    W, mu, s2 = params["W"], params["mu"], params["sigma2"]
    q = W.shape[1]
    eye = jnp.eye(q, dtype=W.dtype)
    resid = obs * (X0 - mu)  # r_o, zero where missing
    M = jnp.einsum("nd,di,dj->nij", obs, W, W) + s2 * eye  # M_n = W_oᵀ W_o + σ² I
    chol = jnp.linalg.cholesky(M)
    b = resid @ W  # W_oᵀ r_o
    zbar = jax.vmap(lambda c, v: cho_solve((c, True), v))(chol, b)
    Minv = jax.vmap(lambda c: cho_solve((c, True), eye))(chol)
    n_obs = obs.sum(axis=1)
    # Woodbury: |C_o| = σ^{2(|o| − q)} |M_n|, r_oᵀ C_o⁻¹ r_o = (‖r_o‖² − bᵀ M_n⁻¹ b) / σ².
    log_det = (n_obs - q) * jnp.log(s2) + 2.0 * jnp.sum(
        jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), axis=1
    )
    maha = (jnp.sum(resid**2, axis=1) - jnp.sum(b * zbar, axis=1)) / s2
    loglik = -0.5 * (n_obs * _LOG_2PI + log_det + maha)
    return zbar, Minv, loglik


def _e_step(params, data):
    X0, obs = data["X"], data["observed"]
    zbar, Minv, loglik = _posterior(params, X0, obs)
    # Missing coordinates are replaced by their conditional mean μ_m + W_m ⟨z_n⟩.
    X_hat = jnp.where(obs > 0, X0, params["mu"] + zbar @ params["W"].T)
    return {
        "zbar": zbar,
        "Szz": params["sigma2"] * Minv,
        "X_hat": X_hat,
        "old": params,  # the M-step needs θ_old for E[x_m u_n] and E[x_m²]
        "bound": jnp.mean(loglik),
    }


def _lower_bound(params, q, data):
    # The E-step is exact, so L(q, θ) = log p(X_o | θ): the per-row normalisers.
    return q["bound"]


def _m_step(q, data):
    obs = data["observed"]
    mis = 1.0 - obs
    zbar, Szz, X_hat, old = q["zbar"], q["Szz"], q["X_hat"], q["old"]
    n, D = X_hat.shape
    k = zbar.shape[1]
    U = jnp.concatenate([zbar, jnp.ones((n, 1), zbar.dtype)], axis=1)  # ⟨u_n⟩
    # Cov(u_n) is σ² M_n⁻¹ in the z block and 0 elsewhere (the 1 is certain).
    S_sum = Szz.sum(axis=0)
    A = U.T @ U + jnp.zeros((k + 1, k + 1), U.dtype).at[:k, :k].set(S_sum)
    # c_d = Σ_n x̂_nd ⟨u_n⟩ + Σ_{n: d missing} Cov(u_n) b_d^old.
    miss_cov = jnp.einsum("nd,nij,dj->di", mis, Szz, old["W"])
    C = X_hat.T @ U + jnp.concatenate([miss_cov, jnp.zeros((D, 1), U.dtype)], axis=1)
    B = jnp.linalg.solve(A, C.T).T
    W, mu = B[:, :k], B[:, k]
    # E[(x_nd − b_dᵀu_n)²] summed as non-negative pieces (no cancellation):
    # (x̂_nd − b_dᵀ⟨u_n⟩)² + w_dᵀ Cov w_d for an observed coordinate, and
    # (x̂_nd − b_dᵀ⟨u_n⟩)² + Δw_dᵀ Cov Δw_d + σ²_old for a missing one (Δ = old − new).
    resid = X_hat - U @ B.T
    dW = old["W"] - W
    spread_obs = jnp.einsum("nd,nij,di,dj->", obs, Szz, W, W)
    spread_mis = jnp.einsum("nd,nij,di,dj->", mis, Szz, dW, dW)
    total = jnp.sum(resid**2) + spread_obs + spread_mis + old["sigma2"] * mis.sum()
    return {"W": W, "mu": mu, "sigma2": total / (n * D)}


@jax.jit
def _predict(params, X0, obs):
    """``(zbar, X_imputed, loglik)`` for new rows (NaN entries already zeroed in ``X0``)."""
    zbar, _, loglik = _posterior(params, X0, obs)
    X_hat = jnp.where(obs > 0, X0, params["mu"] + zbar @ params["W"].T)
    return zbar, X_hat, loglik


def _canonical(W: np.ndarray) -> np.ndarray:
    """W with the arbitrary rotation R of W_ML = U_q (Λ_q − σ²I)^{1/2} R removed.

    W W ᵀ, the likelihood and the posterior of z depend on W only up to R, so we
    rotate to orthogonal columns sorted by decreasing norm (W = U S Vᵀ → U S) and
    make each column's largest entry positive: EM and the closed form then report the
    same components, up to numerical error.
    """
    U, s, _ = np.linalg.svd(W, full_matrices=False)
    W = U * s
    sign = np.sign(W[np.argmax(np.abs(W), axis=0), np.arange(W.shape[1])])
    return W * np.where(sign == 0, 1.0, sign)


# ------------------------------------------------------------------------ estimator


class PPCA(DensityMixin, TransformerMixin, EMEstimator):
    """Probabilistic PCA (Tipping & Bishop 1999), with missing values handled by EM.

    Parameters
    ----------
    n_components : int
        q, the latent dimension; 1 <= q < D.
    method : {"em", "closed_form"}
        ``"em"`` iterates EM from a random start and accepts NaN entries (missing
        values, assumed missing at random); ``"closed_form"`` is the ML solution by
        eigendecomposition of the sample covariance (complete data only).
    tol : float
        EM stops when the per-observation log-likelihood changes by less than this.
    max_iter : int
        At most this many EM iterations.
    n_init : int
        EM restarts from random W; the one with the highest final bound is kept.
    random_state : int, numpy.random.Generator or None
        Seed of EM's random starting W.
    warm_start : bool
        Start EM from the last fit's parameters (``n_init`` is then ignored).

    Attributes
    ----------
    mean_ : ndarray (D,)
        μ. With missing data it is fitted jointly with W (not the column means).
    components_ : ndarray (q, D)
        Wᵀ — scikit-learn's layout (``Z @ components_ + mean_`` maps latent to data
        space), but *not* orthonormal as in ``sklearn.decomposition.PCA``: row j is
        the j-th column of the paper's W, u_j (λ_j − σ²)^{1/2} at the ML solution.
        Rotated to orthogonal rows of decreasing norm, each row's largest entry
        positive (the paper's free rotation R set to I).
    noise_variance_ : float
        σ².
    lower_bounds_ : ndarray (n_iter_,)
        Observed-data log-likelihood per observation at every EM iteration (never
        decreasing); for the closed form, one entry: the log-likelihood of the fit.
    lower_bound_ : float
        The last entry of ``lower_bounds_``.
    n_iter_ : int
        EM iterations run (0 for the closed form).
    converged_ : bool
        Whether EM met ``tol`` (always True for the closed form).
    n_features_in_ : int
        D.

    Notes
    -----
    ``transform`` returns the posterior mean ⟨z_n⟩ = M⁻¹ Wᵀ (x_n − μ) (for rows with NaN,
    conditioned on the observed coordinates only); ``inverse_transform`` returns
    E[x | z] = W z + μ; ``impute`` fills NaN entries with E[x_m | x_o] = μ_m + W_m ⟨z_n⟩;
    ``score_samples`` is log p(x_o | θ), the marginal likelihood of the observed
    coordinates.

    References
    ----------
    Tipping, M. E. & Bishop, C. M. (1999). Probabilistic principal component analysis.
    *JRSS-B* 61(3), 611–622. Ilin, A. & Raiko, T. (2010). Practical approaches to
    principal component analysis in the presence of missing values. *JMLR* 11.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmin.inference.em.ppca import PPCA
    >>> X = np.random.default_rng(0).normal(size=(100, 5)) @ np.diag([3, 2, 1, 1, 1])
    >>> X[0, 1] = np.nan
    >>> model = PPCA(n_components=2, random_state=0).fit(X)
    >>> model.impute(X).shape
    (100, 5)
    """

    # The likelihood has no local maxima other than the global one (Tipping & Bishop
    # 1999, §3.2; the other stationary points are saddles), so restarts rarely matter;
    # they are here for the common EM contract and for missing data.
    _remedy = ", or use method='closed_form' if X has no missing values"
    _collapse = (
        "sigma^2 collapsed to 0: the data lie in a q-dimensional subspace; "
        "use fewer components or scale the data"
    )
    _why_finite = "NaN marks a missing value, inf is not allowed: replace it by NaN or a number"

    def __init__(
        self,
        n_components: int = 2,
        *,
        method: str = "em",
        tol: float = 1e-6,
        max_iter: int = 1000,
        n_init: int = 1,
        random_state: int | np.random.Generator | None = None,
        warm_start: bool = False,
    ):
        self.n_components = n_components
        self.method = method
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.method == "em"  # NaN marks a missing value
        return tags

    # -- checks
    def _checked(self, X, *, fitting: bool) -> np.ndarray:
        X = self._validate_X(X, reset=fitting, allow_nan=True, why_finite=self._why_finite)
        if fitting and X.shape[0] < 2:
            raise ValueError(
                f"X has {X.shape[0]} sample(s) (shape {X.shape}); PPCA needs at least 2 rows to fit"
            )
        missing = np.isnan(X)
        empty_rows = np.flatnonzero(missing.all(axis=1))
        if empty_rows.size:
            raise ValueError(
                f"row(s) {', '.join(map(str, empty_rows[:5]))} of X are entirely NaN; "
                "drop them: a row with nothing observed carries no information"
            )
        if fitting:
            empty_cols = np.flatnonzero(missing.all(axis=0))
            if empty_cols.size:
                raise ValueError(
                    f"column(s) {', '.join(map(str, empty_cols[:5]))} of X are entirely NaN; "
                    "drop them: nothing can be learnt about a feature never observed"
                )
        return X

    def _check_input(self, X) -> np.ndarray:
        return self._checked(X, fitting=True)

    def _check_model_settings(self, X: np.ndarray) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be 'em' or 'closed_form', got {self.method!r}")
        q, D = self.n_components, X.shape[1]
        if isinstance(q, bool) or not isinstance(q, int | np.integer):
            raise ValueError(f"n_components must be an integer, got {q!r}")
        if q < 1:
            raise ValueError(f"n_components must be >= 1, got {q}")
        if q >= D:
            raise ValueError(
                f"n_components must be < n_features, got n_components = {q} with "
                f"n_features = {D}: with q >= D the noise variance is not identified; "
                "use fewer components"
            )

    # -- the model's part of EM
    def _em_steps(self):
        return _e_step, _m_step, _lower_bound

    def _em_data(self, X: np.ndarray) -> dict:
        observed = ~np.isnan(X)
        return {
            "X": jnp.asarray(np.where(observed, X, 0.0)),
            "observed": jnp.asarray(observed, dtype=X.dtype),
        }

    def _closed_form(self, X: np.ndarray, data) -> tuple[dict, float] | None:
        """Tipping & Bishop's ML solution (eqs. 7-8) for ``method="closed_form"``."""
        if self.method != "closed_form":
            return None
        n_missing = int(np.isnan(X).sum())
        if n_missing:
            raise ValueError(
                f"method='closed_form' needs complete data, but X has {n_missing} NaN "
                "value(s); use method='em', which handles missing values"
            )
        q = int(self.n_components)
        mu = X.mean(axis=0)
        S = np.cov(X, rowvar=False, bias=True)  # ML covariance (1/n), eq. (5)
        lam, U = np.linalg.eigh(S)
        lam, U = lam[::-1], U[:, ::-1]
        sigma2 = float(lam[q:].mean())  # eq. (8)
        if not sigma2 > 0:
            raise FloatingPointError(
                "the discarded eigenvalues of the sample covariance are all zero, so "
                "sigma^2 = 0: the data lie in a q-dimensional subspace; use fewer components"
            )
        W = U[:, :q] * np.sqrt(np.maximum(lam[:q] - sigma2, 0.0))  # eq. (7), R = I
        params = {"W": W, "mu": mu, "sigma2": np.asarray(sigma2)}
        loglik = self._compute(_predict, params, data["X"], data["observed"])[2]
        return params, float(loglik.mean())

    def _initial_params(self, X: np.ndarray, data, rng: np.random.Generator, init: int) -> dict:
        """Column means for μ; random W at the data's scale; σ² = mean column variance."""
        D, q = X.shape[1], int(self.n_components)
        mu = np.nanmean(X, axis=0)
        var = np.nanvar(X, axis=0)
        scale = float(np.mean(var))
        if not scale > 0:
            scale = 1.0  # every column constant: any positive start will do
        W = rng.normal(size=(D, q)) * np.sqrt(scale / q)
        return {"W": W, "mu": mu, "sigma2": np.asarray(scale)}

    def _warm_params(self, X: np.ndarray) -> dict:
        shape = self._params["W"].shape
        if shape != (X.shape[1], int(self.n_components)):
            raise ValueError(
                f"warm_start=True continues the last fit, q = {shape[1]} on {shape[0]} "
                "features; set warm_start=False to refit"
            )
        return self._params

    def _params_ok(self, params) -> bool:
        return bool(params["sigma2"] > 0)

    def _set_attributes(self, X, data) -> None:
        p = self._params
        p["W"] = _canonical(p["W"])
        self.mean_ = p["mu"]
        self.components_ = p["W"].T
        self.noise_variance_ = float(p["sigma2"])

    # -- prediction
    def _run(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(⟨z⟩, X imputed, log p(x_o))`` for the rows of ``X`` (NaN allowed)."""
        self._check_fitted()
        X = self._checked(X, fitting=False)
        observed = ~np.isnan(X)
        return self._compute(_predict, self._params, np.where(observed, X, 0.0), observed * 1.0)

    def transform(self, X) -> np.ndarray:
        """Posterior means ⟨z_n⟩ = M_n⁻¹ W_oᵀ (x_o − μ_o), shape (n, q); NaN allowed."""
        return self._run(X)[0]

    def inverse_transform(self, Z) -> np.ndarray:
        """E[x | z] = W z + μ for every row of ``Z`` (n, q), shape (n, D).

        Applied to ``transform(X)`` this is not the orthogonal projection of X: the
        posterior mean is shrunk towards 0 by σ² (Tipping & Bishop, §3.2).
        """
        self._check_fitted()
        Z = np.asarray(Z, dtype=float)
        if Z.ndim != 2 or Z.shape[1] != self.components_.shape[0]:
            raise ValueError(f"Z must have shape (n, {self.components_.shape[0]}), got {Z.shape}")
        return Z @ self.components_ + self.mean_

    def impute(self, X) -> np.ndarray:
        """X with each NaN replaced by its conditional mean E[x_m | x_o] = μ_m + W_m ⟨z_n⟩.

        Observed entries are returned unchanged.
        """
        return self._run(X)[1]

    def score_samples(self, X) -> np.ndarray:
        """log p(x_o | θ) = log N(x_o | μ_o, W_o W_oᵀ + σ² I) for every row (NaN allowed)."""
        return self._run(X)[2]

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per observation (of the observed coordinates)."""
        return float(self.score_samples(X).mean())

    def get_covariance(self) -> np.ndarray:
        """The model covariance C = W Wᵀ + σ² I, shape (D, D) (rotation-invariant)."""
        self._check_fitted()
        W = self.components_.T
        return W @ W.T + self.noise_variance_ * np.eye(W.shape[0])
