"""Relevance vector regression by type-II maximum likelihood (evidence maximisation).

The model (Tipping 2001, section 2): targets ``t = Φ w + ε`` with ``ε ~ N(0, σ² I)`` and
an independent zero-mean Gaussian prior on each weight, ``w_i ~ N(0, α_i⁻¹)`` (automatic
relevance determination). The hyperparameters ``α`` and ``σ²`` maximise the marginal
likelihood (the *evidence*)

    log p(t | α, σ²) = -½ [N log 2π + log|C| + tᵀ C⁻¹ t],    C = σ² I + Φ A⁻¹ Φᵀ,

and basis functions whose ``α_i`` goes to infinity are pruned: their weights are exactly
zero, and the training inputs that remain are the *relevance vectors*.

Notation map (papers → code)
----------------------------
- ``Φ`` (N × M design matrix, column ``φ_i`` = basis function ``i`` at the inputs):
  the kernel matrix ``K(X, X)`` with an optional leading column of ones (``bias=True``).
  Internally every column is scaled to unit length (as in Tipping's SparseBayes
  software); the evidence is invariant to that rescaling (``α_i`` absorbs it) and the
  fitted attributes are reported on the original scale.
- ``α`` (``A = diag(α)``): ``alpha_`` (kept basis functions only).
- ``β = σ⁻²``: ``1 / noise_variance_``.
- ``Σ = (A + β ΦᵀΦ)⁻¹`` and ``μ = β Σ Φᵀ t`` (posterior of the kept weights):
  ``sigma_`` and ``coef_``.
- ``γ_i = 1 − α_i Σ_ii`` (how well-determined weight ``i`` is): used by the
  re-estimation rules ``α_i ← γ_i / μ_i²`` and ``σ² ← ‖t − Φμ‖² / (N − Σ γ_i)``
  (Tipping 2001, eqs. 16 and 18).
- ``S_i = φ_iᵀ C⁻¹ φ_i``, ``Q_i = φ_iᵀ C⁻¹ t`` computed with every basis function in the
  model, and the *sparsity* and *quality* factors ``s_i``, ``q_i`` (the same with
  ``φ_i`` itself left out of ``C``) — Tipping & Faul (2003), eqs. 19–23. ``θ_i = q_i² − s_i``
  decides: add (θ > 0, not in the model), re-estimate ``α_i = s_i² / θ_i`` (θ > 0, in),
  or delete (θ ≤ 0, in).

References
----------
.. [1] M. E. Tipping (2001). Sparse Bayesian learning and the relevance vector machine.
   Journal of Machine Learning Research 1, 211–244.
.. [2] M. E. Tipping and A. C. Faul (2003). Fast marginal likelihood maximisation for
   sparse Bayesian models. Proceedings of the Ninth International Workshop on Artificial
   Intelligence and Statistics (AISTATS).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

# The kernels live in models (plain NumPy, so models can build designs too); they are
# re-exported here, where RVR users look for them.
from ..models.kernels import linear_kernel, linear_spline_kernel, rbf_kernel

__all__ = ["RVR", "linear_kernel", "linear_spline_kernel", "rbf_kernel"]

_LOG_2PI = np.log(2.0 * np.pi)


def _log_evidence(
    n: int, beta: float, alpha: np.ndarray, chol: np.ndarray, b: np.ndarray, tt: float
) -> float:
    """log p(t | α, β) from M × M quantities only.

    With ``L Lᵀ = A + β ΦᵀΦ`` and ``b = Φᵀ t``: the determinant lemma gives
    ``log|C| = −N log β − Σ log α_i + log|A + β ΦᵀΦ|`` and Woodbury gives
    ``tᵀ C⁻¹ t = β tᵀt − β² bᵀ Σ b``.
    """
    z = linalg.solve_triangular(chol, b, lower=True)
    logdet_C = -n * np.log(beta) - np.sum(np.log(alpha)) + 2.0 * np.sum(np.log(np.diag(chol)))
    quad = beta * tt - beta**2 * (z @ z)
    return float(-0.5 * (n * _LOG_2PI + logdet_C + quad))


def _posterior(
    alpha: np.ndarray, beta: float, gram: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cholesky factor of ``A + β ΦᵀΦ``, ``Σ`` and ``μ`` for the basis in the model."""
    H = beta * gram
    H[np.diag_indices_from(H)] += alpha
    chol = linalg.cholesky(H, lower=True)
    Sigma = linalg.cho_solve((chol, True), np.eye(len(alpha)))
    mu = beta * Sigma @ b
    return chol, Sigma, mu


class RVR(RegressorMixin, BaseEstimator):
    """Relevance vector regression (Tipping 2001) fitted by evidence maximisation.

    Parameters
    ----------
    kernel : {"rbf", "linear_spline", "linear"} or callable, default "rbf"
        Basis functions centred on the training inputs. A callable is called as
        ``kernel(X1, X2)`` and must return an ``(len(X1), len(X2))`` array.
    gamma : float, default 0.5
        Width of the rbf kernel, ``K(x, x') = exp(−gamma ‖x − x'‖²)``. Tipping (2001)
        writes the Gaussian kernel as ``exp(−r⁻² ‖x − x'‖²)`` with a width ``r``, so
        ``gamma = 1 / r²``; for the sinc problem (inputs on [−10, 10]) a width ``r = 3``
        is ``gamma = 1/9``. Ignored by the other kernels.
    bias : bool, default True
        Include a constant basis function (the first column of ``Φ``).
    method : {"fast", "reestimation"}, default "fast"
        ``"fast"``: Tipping & Faul (2003) — start from one basis function and add,
        re-estimate or delete one at a time (the step that raises the evidence most),
        re-estimating the noise after every step; the evidence never decreases.
        ``"reestimation"``: Tipping (2001) — start with every basis function and iterate
        ``α_i ← γ_i / μ_i²``, ``σ² ← ‖t − Φμ‖² / (N − Σγ_i)``, pruning those whose ``α``
        exceeds ``alpha_max``.
    tol : float, default 1e-6
        ``"fast"``: stop when no add/re-estimate/delete step and no noise update raises
        the log evidence by more than ``tol``. ``"reestimation"``: stop when nothing was
        pruned and no ``log α_i`` changed by more than ``sqrt(tol)`` in one iteration
        (these updates creep towards infinity slowly, so a change in ``log α`` is the
        scale-free test).
    max_iter : int, default 1000
        Maximum number of iterations (steps of either algorithm).
    alpha_max : float, default 1e9
        Pruning threshold for ``"reestimation"`` (on the unit-length column scale): a
        basis function with ``α_i > alpha_max`` has a weight indistinguishable from zero
        and is removed.

    Attributes
    ----------
    relevance_indices_ : ndarray of int, shape (n_rv,)
        Indices of the training inputs whose basis functions remain (the bias, if kept,
        is not an input and is reported by ``bias_used_``).
    relevance_vectors_ : ndarray, shape (n_rv, d)
        The training inputs ``X[relevance_indices_]``.
    bias_used_ : bool
        Whether the constant basis function remains.
    alpha_ : ndarray, shape (n_basis,)
        Weight precisions of the kept basis functions (bias first when kept).
    noise_variance_ : float
        ``σ² = 1 / β``.
    coef_ : ndarray, shape (n_basis,)
        Posterior mean ``μ`` of the kept weights (bias first when kept).
    sigma_ : ndarray, shape (n_basis, n_basis)
        Posterior covariance ``Σ`` of the kept weights.
    log_evidence_ : list of float
        ``log p(t | α, σ²)`` after every iteration.
    n_iter_ : int
    converged_ : bool

    References
    ----------
    .. [1] M. E. Tipping (2001). Sparse Bayesian learning and the relevance vector
       machine. JMLR 1, 211–244.
    .. [2] M. E. Tipping and A. C. Faul (2003). Fast marginal likelihood maximisation for
       sparse Bayesian models. AISTATS.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmin.inference.evidence import RVR
    >>> x = np.linspace(-10, 10, 100)[:, None]
    >>> t = np.sinc(x[:, 0] / np.pi) + np.random.default_rng(0).normal(0, 0.1, 100)
    >>> model = RVR(kernel="rbf", gamma=1 / 9).fit(x, t)
    >>> mean, sd = model.predict(x, return_std=True)
    """

    _KERNELS = ("rbf", "linear_spline", "linear")
    # σ² is kept ≥ this fraction of var(t): a basis that can interpolate the data (a very
    # narrow rbf) otherwise drives σ² → 0 and Σ to overflow.
    _noise_floor = 1e-6
    # Relative evidence gain of the best α step below which the fast method also tries a
    # noise update.
    _noise_gate = 1e-3
    _METHODS = ("fast", "reestimation")

    def __init__(
        self,
        kernel: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "rbf",
        gamma: float = 0.5,
        bias: bool = True,
        method: str = "fast",
        tol: float = 1e-6,
        max_iter: int = 1000,
        alpha_max: float = 1e9,
    ):
        self.kernel = kernel
        self.gamma = gamma
        self.bias = bias
        self.method = method
        self.tol = tol
        self.max_iter = max_iter
        self.alpha_max = alpha_max

    # ------------------------------------------------------------------ helpers
    def _check_settings(self) -> None:
        if not callable(self.kernel) and self.kernel not in self._KERNELS:
            raise ValueError(
                f"unknown kernel {self.kernel!r}: use one of {self._KERNELS} or a callable "
                "kernel(X1, X2) -> (n1, n2) array"
            )
        if self.kernel == "rbf" and not (np.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be a positive finite number, got {self.gamma!r}")
        if self.method not in self._METHODS:
            raise ValueError(f"unknown method {self.method!r}: use one of {self._METHODS}")

    def _kernel_matrix(self, X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
        if callable(self.kernel):
            K = np.asarray(self.kernel(X1, X2), dtype=float)
            if K.shape != (X1.shape[0], X2.shape[0]):
                raise ValueError(
                    f"kernel returned shape {K.shape}, expected "
                    f"({X1.shape[0]}, {X2.shape[0]}) = (len(X1), len(X2))"
                )
            if not np.all(np.isfinite(K)):
                raise ValueError("kernel returned non-finite values")
            return K
        if self.kernel == "rbf":
            return rbf_kernel(X1, X2, self.gamma)
        if self.kernel == "linear_spline":
            return linear_spline_kernel(X1, X2)
        return linear_kernel(X1, X2)

    def _design(self, X: np.ndarray) -> np.ndarray:
        K = self._kernel_matrix(X, self._X_fit)
        if self.bias:
            K = np.hstack([np.ones((X.shape[0], 1)), K])
        return K

    # ---------------------------------------------------------------------- fit
    def fit(self, X, y) -> RVR:
        """Fit ``α`` and ``σ²`` by type-II maximum likelihood.

        Parameters
        ----------
        X : array-like, shape (n, d)
        y : array-like, shape (n,)
        """
        self._check_settings()
        # scikit-learn's checks and messages: 2-D finite X, 1-D finite y of the same
        # length (a column vector is raveled with a DataConversionWarning), >= 2 rows.
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, ensure_min_samples=2)
        y = y.astype(np.float64, copy=False)
        if np.ptp(y) == 0.0:
            raise ValueError(
                "y is constant: there is nothing to regress (and no noise to estimate)"
            )
        self._X_fit = X
        Phi = self._design(X)
        scale = np.sqrt(np.sum(Phi**2, axis=0))
        # A basis function that is zero at every training input can never be selected.
        scale[scale == 0.0] = 1.0
        Phi = Phi / scale
        if self.method == "fast":
            idx, alpha, beta, _chol, Sigma, mu = self._fit_fast(Phi, y)
        else:
            idx, alpha, beta, _chol, Sigma, mu = self._fit_reestimation(Phi, y)

        # Back to the original column scale: w = μ / scale, α = α_unit · scale².
        s = scale[idx]
        self.coef_ = mu / s
        self.sigma_ = Sigma / np.outer(s, s)
        self.alpha_ = alpha * s**2
        self.noise_variance_ = 1.0 / beta
        self._basis_ = idx
        self.bias_used_ = bool(self.bias and 0 in idx)
        offset = 1 if self.bias else 0
        self.relevance_indices_ = np.sort(idx[idx >= offset] - offset)
        self.relevance_vectors_ = X[self.relevance_indices_]
        return self

    def _fit_fast(self, Phi: np.ndarray, t: np.ndarray):
        """Tipping & Faul (2003): one basis function per step, noise updated each step."""
        n, m_all = Phi.shape
        tt = float(t @ t)
        Phit = Phi.T @ t  # φ_iᵀ t for every candidate
        # Columns of ΦᵀΦ for basis functions that have entered the model, computed on
        # demand (O(N M) each) instead of the whole M × M Gram matrix (O(N M²)).
        gram_cols: dict[int, np.ndarray] = {}

        def col(i: int) -> np.ndarray:
            if i not in gram_cols:
                gram_cols[i] = Phi.T @ Phi[:, i]
            return gram_cols[i]

        # Start: the noise at a tenth of the target variance (SparseBayes' choice) and the
        # single basis function most aligned with t, at its optimal α (eq. 26 with
        # S = β, Q = β φᵀt for unit-length φ and an empty model).
        beta = 1.0 / (0.1 * np.var(t))
        beta_max = 1.0 / (self._noise_floor * np.var(t))
        first = int(np.argmax(np.abs(Phit)))
        proj2 = Phit[first] ** 2
        alpha0 = 1.0 / max(proj2 - 1.0 / beta, 1e-3 * proj2)
        active = [first]
        alpha = np.array([alpha0])

        def state(active, alpha, beta):
            idx = np.array(active)
            G = np.column_stack([col(i) for i in active])  # ΦᵀΦ_A, (m_all, m)
            gram = G[idx]
            b = Phit[idx]
            chol, Sigma, mu = _posterior(alpha, beta, gram, b)
            return idx, G, chol, Sigma, mu

        idx, G, chol, Sigma, mu = state(active, alpha, beta)
        history = [_log_evidence(n, beta, alpha, chol, Phit[idx], tt)]
        converged = False
        it = 0
        for it in range(1, self.max_iter + 1):  # noqa: B007 - it is n_iter_ after the loop
            # S_i, Q_i for every candidate (Tipping & Faul eq. 24 with unit-length φ).
            GS = G @ Sigma
            S = beta - beta**2 * np.einsum("ij,ij->i", GS, G)
            Q = beta * Phit - beta**2 * G @ (Sigma @ Phit[idx])
            s, q = S.copy(), Q.copy()
            a_in = np.full(m_all, np.inf)
            a_in[idx] = alpha
            # For basis functions in the model, remove their own contribution (eq. 23).
            denom = alpha - S[idx]
            s[idx] = alpha * S[idx] / denom
            q[idx] = alpha * Q[idx] / denom
            theta = q**2 - s

            # The exact change of the log evidence for each possible step (Tipping &
            # Faul, appendix; twice ΔL there, halved here so deltas add up to L).
            delta = np.full(m_all, -np.inf)
            in_model = np.isfinite(a_in)
            add = (~in_model) & (theta > 0)
            Qa, Sa = Q[add], S[add]
            delta[add] = 0.5 * ((Qa**2 - Sa) / Sa + np.log(Sa / Qa**2))
            new_alpha = np.where(theta > 0, s**2 / np.where(theta > 0, theta, 1.0), np.inf)
            re = in_model & (theta > 0)
            if np.any(re):
                d_inv = 1.0 / new_alpha[re] - 1.0 / a_in[re]
                Sr, Qr = S[re], Q[re]
                # 1 + S d_inv > 0 always holds at an optimum step; guard rounding.
                with np.errstate(divide="ignore", invalid="ignore"):
                    delta[re] = 0.5 * (Qr**2 * d_inv / (1.0 + Sr * d_inv) - np.log1p(Sr * d_inv))
                delta[re] = np.where(np.isfinite(delta[re]), delta[re], 0.0)
            dele = in_model & (theta <= 0)
            if len(active) == 1:
                dele[:] = False  # keep at least one basis function
            if np.any(dele):
                Sd, Qd, ad = S[dele], Q[dele], a_in[dele]
                with np.errstate(divide="ignore", invalid="ignore"):
                    delta[dele] = 0.5 * (Qd**2 / (Sd - ad) - np.log1p(-Sd / ad))
                delta[dele] = np.where(np.isfinite(delta[dele]), delta[dele], -np.inf)

            best = int(np.argmax(delta))
            step_gain = delta[best]
            if step_gain > 0:
                if add[best]:
                    active.append(best)
                    alpha = np.append(alpha, new_alpha[best])
                elif re[best]:
                    alpha = alpha.copy()
                    alpha[active.index(best)] = new_alpha[best]
                else:
                    k = active.index(best)
                    active.pop(k)
                    alpha = np.delete(alpha, k)
                idx, G, chol, Sigma, mu = state(active, alpha, beta)
            L = _log_evidence(n, beta, alpha, chol, Phit[idx], tt)

            # Noise: MacKay's fixed-point update (Tipping 2001, eq. 18), accepted only if
            # it raises the evidence — the fixed point is not a guaranteed ascent step,
            # and the evidence history must never decrease.
            # It is tried only once the α steps have (nearly) settled for the current
            # noise: updating it from the start lets a one-function model explain the
            # whole signal as noise, a poor local maximum (linear spline bases fall in).
            gamma_ = 1.0 - alpha * np.diag(Sigma)
            resid2 = tt - 2.0 * mu @ Phit[idx] + mu @ (G[idx] @ mu)
            noise_gain = 0.0
            if step_gain <= self._noise_gate * max(abs(L), 1.0) and n - gamma_.sum() > 0:
                beta_new = min((n - gamma_.sum()) / max(resid2, 1e-300), beta_max)
                try:
                    st_new = state(active, alpha, beta_new)
                except linalg.LinAlgError:
                    st_new = None
                if st_new is not None:
                    L_new = _log_evidence(n, beta_new, alpha, st_new[2], Phit[idx], tt)
                    if L_new > L:
                        noise_gain = L_new - L
                        beta, L = beta_new, L_new
                        idx, G, chol, Sigma, mu = st_new
            history.append(L)
            if step_gain <= self.tol and noise_gain <= self.tol:
                converged = True
                break
        self._finish(converged, it, history)
        return idx, alpha, beta, chol, Sigma, mu

    def _fit_reestimation(self, Phi: np.ndarray, t: np.ndarray):
        """Tipping (2001): all basis functions at once, α_i ← γ_i / μ_i², with pruning."""
        n, m_all = Phi.shape
        tt = float(t @ t)
        gram_all = Phi.T @ Phi
        Phit = Phi.T @ t
        idx = np.arange(m_all)
        beta = 1.0 / (0.1 * np.var(t))
        beta_max = 1.0 / (self._noise_floor * np.var(t))
        # A weak common start (α = 1 on unit-length columns); the iteration moves it fast.
        alpha = np.ones(m_all)
        history: list[float] = []
        converged = False
        it = 0
        for it in range(1, self.max_iter + 1):  # noqa: B007 - it is n_iter_ after the loop
            gram = gram_all[np.ix_(idx, idx)]
            b = Phit[idx]
            chol, Sigma, mu = _posterior(alpha, beta, gram, b)
            history.append(_log_evidence(n, beta, alpha, chol, b, tt))
            gamma_ = np.clip(1.0 - alpha * np.diag(Sigma), 0.0, 1.0)
            # γ_i = s_i / (α_i + s_i) > 0 (s_i the sparsity factor, Tipping & Faul eq. 19)
            # rounds to 0 only where α_i ≫ s_i: an irrelevant weight, pruned (α = ∞). Its
            # γ/μ² would be α = 0 instead — an infinite prior variance, and with collinear
            # basis functions (repeated inputs, a linear kernel) a singular posterior.
            new_alpha = np.where(gamma_ > 0, gamma_ / np.maximum(mu**2, 1e-300), np.inf)
            resid2 = tt - 2.0 * mu @ b + mu @ (gram @ mu)
            beta = min(max(n - gamma_.sum(), 1e-12) / max(resid2, 1e-300), beta_max)
            keep = new_alpha < self.alpha_max
            if not np.any(keep):  # keep at least one basis function
                best = np.argmin(new_alpha)
                keep[best] = True
                new_alpha[best] = min(new_alpha[best], self.alpha_max)
            change = np.max(np.abs(np.log(new_alpha[keep]) - np.log(alpha[keep])))
            pruned = not np.all(keep)
            idx, alpha = idx[keep], new_alpha[keep]
            if change < np.sqrt(self.tol) and not pruned:
                converged = True
                break
        # The returned posterior matches the returned hyperparameters.
        gram = gram_all[np.ix_(idx, idx)]
        chol, Sigma, mu = _posterior(alpha, beta, gram, Phit[idx])
        history.append(_log_evidence(n, beta, alpha, chol, Phit[idx], tt))
        self._finish(converged, it, history)
        return idx, alpha, beta, chol, Sigma, mu

    def _finish(self, converged: bool, n_iter: int, history: list[float]) -> None:
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.log_evidence_ = history
        if not converged:
            warnings.warn(
                f"RVR ({self.method}) did not converge in max_iter={self.max_iter} "
                "iterations: raise max_iter or tol, or try the other method",
                ConvergenceWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ predict
    def predict(self, X, return_std: bool = False):
        """Predictive mean ``Φ* μ`` and, with ``return_std``, sd ``sqrt(σ² + φ*ᵀ Σ φ*)``.

        Parameters
        ----------
        X : array-like, shape (n, d)
        return_std : bool, default False

        Returns
        -------
        mean : ndarray, shape (n,)
        std : ndarray, shape (n,), only with ``return_std=True``
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        # Only the kept basis functions are evaluated: the rest have zero weight.
        is_bias = (self._basis_ == 0) if self.bias else np.zeros(len(self._basis_), bool)
        offset = 1 if self.bias else 0
        Phi = np.ones((X.shape[0], len(self._basis_)))
        if np.any(~is_bias):
            centres = self._X_fit[self._basis_[~is_bias] - offset]
            Phi[:, ~is_bias] = self._kernel_matrix(X, centres)
        mean = Phi @ self.coef_
        if not return_std:
            return mean
        var = self.noise_variance_ + np.einsum("ij,jk,ik->i", Phi, self.sigma_, Phi)
        return mean, np.sqrt(np.maximum(var, 0.0))
