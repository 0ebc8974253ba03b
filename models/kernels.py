"""Kernel functions for the relevance vector machine, in plain NumPy.

They live in ``models`` so that :mod:`models.rvm` can build its design matrices (models
import no sibling package); :mod:`inference.evidence` imports and re-exports them. This
module imports NumPy only, so ``inference.evidence`` stays free of PyMC and NumPyro.

References
----------
.. [1] M. E. Tipping (2001). Sparse Bayesian learning and the relevance vector machine.
   Journal of Machine Learning Research 1, 211–244.
"""

from __future__ import annotations

import numpy as np

__all__ = ["linear_kernel", "linear_spline_kernel", "rbf_kernel"]


def rbf_kernel(X1: np.ndarray, X2: np.ndarray, gamma: float) -> np.ndarray:
    """Gaussian kernel ``exp(−gamma ‖x − x'‖²)`` between rows of ``X1`` (n1, d) and ``X2`` (n2, d)."""
    sq = np.sum(X1**2, axis=1)[:, None] + np.sum(X2**2, axis=1)[None, :] - 2.0 * X1 @ X2.T
    # Rounding can leave tiny negative squared distances; they must not exceed 1 after exp.
    K = np.exp(-gamma * np.maximum(sq, 0.0))
    # Subnormal values (exp of −709 … −745) make every later BLAS call on K many times
    # slower; they are zero for any fit.
    K[K < 1e-200] = 0.0
    return K


def linear_spline_kernel(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """Linear spline kernel of Tipping (2001), eq. 29, a product over input dimensions.

    For scalars, ``K(x, x') = 1 + x x' + x x' min(x, x') − (x + x')/2 min(x, x')²
    + min(x, x')³ / 3``.
    """
    K = np.ones((X1.shape[0], X2.shape[0]))
    for j in range(X1.shape[1]):
        a = X1[:, j][:, None]
        b = X2[:, j][None, :]
        m = np.minimum(a, b)
        K *= 1.0 + a * b + a * b * m - 0.5 * (a + b) * m**2 + m**3 / 3.0
    return K


def linear_kernel(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """Inner-product kernel ``x · x'``."""
    return X1 @ X2.T
