"""What every EM estimator shares: settings, restarts, warm start, the warning, precision.

scikit-learn keeps restarts, warm start and the convergence warning of its mixtures in
one base class (``sklearn.mixture._base.BaseMixture``); :class:`EMEstimator` is ours.
``fit`` runs, in 64-bit JAX (:func:`inference._precision.float64`) whatever the global
flag says:

1. ``_check_input(X)`` — the model checks and encodes its data;
2. the common settings (``n_init``, ``max_iter``, ``tol``) and ``_check_model_settings``;
   ``_em_data(X)``, the pytree every step receives (arrays as arguments, not closed
   over: one compiled loop per shape);
3. where ``_closed_form(X, data)`` solves the model for these settings, that solution
   (``n_iter_ = 0``); otherwise ``n_init`` runs of :func:`inference.em.driver.em`, each from
   ``_initial_params(X, data, rng, init)`` with one ``numpy.random.Generator`` seeded by
   ``random_state`` (so the i-th restart is the same for a seed), keeping the run with
   the highest final bound — or, with ``warm_start`` and a previous fit, one run from
   ``_warm_params(X)``, the last fit's parameters;
4. a :class:`~sklearn.exceptions.ConvergenceWarning` that names what to try
   (``_remedy``) when the kept run did not meet ``tol``, a ``FloatingPointError`` naming
   the cure (``_collapse``) when its bound stopped being finite;
5. ``lower_bounds_``, ``lower_bound_``, ``n_iter_``, ``converged_``, and
   ``_set_attributes(X, data)`` for the model's own fitted attributes.

A model supplies only its steps (``_em_steps``), its data and its parameters. Public
methods that compute with JAX after ``fit`` go through :meth:`EMEstimator._compute`
(64-bit, NumPy out), and start with :meth:`EMEstimator._check_fitted` (scikit-learn's
``NotFittedError``).
"""

from __future__ import annotations

import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from .._checks import check_counts
from .._precision import float64
from .driver import em

__all__ = ["EMEstimator", "check_count"]


def check_count(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 1, or a ValueError naming the setting."""
    return check_counts(**{name: value})[name]


class EMEstimator(BaseEstimator, metaclass=ABCMeta):
    """Base of the EM estimators: the fitting loop and contract around a model's steps.

    Subclasses store, in ``__init__``, at least ``n_init``, ``max_iter``, ``tol``,
    ``random_state`` and ``warm_start`` (scikit-learn's meanings), and implement
    ``_check_input``, ``_check_model_settings``, ``_em_data``, ``_em_steps``,
    ``_initial_params`` and ``_set_attributes`` (see the module docstring).

    Attributes
    ----------
    lower_bounds_ : ndarray (n_iter_,)
        The bound at every iteration of the kept run; never decreasing.
    lower_bound_ : float
        Its last entry.
    n_iter_ : int
        Iterations of the kept run.
    converged_ : bool
        Whether the kept run's last change of the bound was below ``tol``.
    """

    # ", or ..." — what to try besides max_iter and tol when EM does not converge.
    _remedy = ""
    # What to do when the bound stops being finite.
    _collapse = "scale the data"

    # ----------------------------------------------------------- to override
    @abstractmethod
    def _check_input(self, X) -> Any:
        """``X`` checked and encoded for ``fit`` (an array, the codes of a table...)."""

    def _check_model_settings(self, X) -> None:
        """Settings of the model (the common ones are checked by the base)."""

    @abstractmethod
    def _em_data(self, X) -> Any:
        """The pytree of arrays every step receives."""

    @abstractmethod
    def _em_steps(self) -> tuple[Callable, Callable, Callable]:
        """``(e_step, m_step, lower_bound)`` for :func:`inference.em.driver.em`."""

    @abstractmethod
    def _initial_params(self, X, data, rng: np.random.Generator, init: int) -> Any:
        """The start of restart ``init`` (0, 1, ...), drawing from ``rng`` if random."""

    def _warm_params(self, X) -> Any:
        """The last fit's parameters, as a start for ``X`` (override to check or reindex)."""
        return self._params

    def _closed_form(self, X, data) -> tuple[Any, float] | None:
        """``(params, bound)`` where the model is solved without EM for these settings."""
        return None

    def _params_ok(self, params) -> bool:
        """Whether fitted parameters are usable beyond a finite bound."""
        return True

    @abstractmethod
    def _set_attributes(self, X, data) -> None:
        """The model's fitted attributes, from ``self._params``."""

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y=None):
        """Fit by EM (``n_init`` restarts, the best final bound kept); returns ``self``.

        Parameters
        ----------
        X : the model's data (see the class docstring).
        y : ignored
            Present for scikit-learn's API.
        """
        with float64():
            self._fit(X)
        return self

    def _check_settings(self, X) -> None:
        check_count("n_init", self.n_init)
        check_count("max_iter", self.max_iter)
        try:
            ok = not isinstance(self.tol, bool) and float(self.tol) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        self._check_model_settings(X)

    def _fit(self, X) -> None:
        X = self._check_input(X)
        self._check_settings(X)
        data = self._em_data(X)
        solved = self._closed_form(X, data)
        if solved is not None:
            params, bound = solved
            self._store(params, [bound], 0, True)
            self._set_attributes(X, data)
            return
        e_step, m_step, lower_bound = self._em_steps()
        warm = bool(self.warm_start) and hasattr(self, "_params")
        rng = np.random.default_rng(self.random_state)
        best = None
        for init in range(1 if warm else int(self.n_init)):
            start = self._warm_params(X) if warm else self._initial_params(X, data, rng, init)
            run = em(
                jax.device_put(start),
                data,
                e_step=e_step,
                m_step=m_step,
                lower_bound=lower_bound,
                tol=float(self.tol),
                max_iter=int(self.max_iter),
            )
            if best is None or run.lower_bounds[-1] > best.lower_bounds[-1]:
                best = run
        params = jax.tree.map(np.asarray, best.params)
        if not (np.all(np.isfinite(best.lower_bounds)) and self._params_ok(params)):
            raise FloatingPointError(
                f"{type(self).__name__}: the lower bound became non-finite; {self._collapse}"
            )
        if not best.converged:
            bounds = best.lower_bounds
            change = f"{abs(bounds[-1] - bounds[-2]):.3g}" if len(bounds) > 1 else "unknown"
            warnings.warn(
                f"{type(self).__name__}: EM did not converge in {self.max_iter} iterations "
                f"(last change of the bound {change}, tol = {self.tol}); raise max_iter, "
                f"loosen tol{self._remedy}",
                ConvergenceWarning,
                stacklevel=3,  # the caller of fit
            )
        self._store(params, best.lower_bounds, best.n_iter, best.converged)
        self._set_attributes(X, data)

    def _store(self, params, lower_bounds, n_iter: int, converged: bool) -> None:
        self._params = params
        self.lower_bounds_ = np.asarray(lower_bounds, dtype=np.float64)
        self.lower_bound_ = float(self.lower_bounds_[-1])
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)

    # ------------------------------------------------------- after fitting
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_params")

    def _check_fitted(self) -> None:
        check_is_fitted(self)

    def _rng(self, random_state=None) -> np.random.Generator:
        """The generator of a random method: its own ``random_state``, else the estimator's.

        An int gives the same draws on every call, as in scikit-learn.
        """
        return np.random.default_rng(self.random_state if random_state is None else random_state)

    @staticmethod
    def _compute(fn: Callable, *args, **static) -> Any:
        """``fn(*args, **static)`` in 64-bit JAX, the array arguments and results as NumPy."""
        with float64():
            out = fn(*jax.device_put(args), **static)
            return jax.tree.map(np.asarray, out)

    def _validate_X(
        self,
        X,
        *,
        reset: bool,
        allow_nan: bool = False,
        min_samples: int = 1,
        why_finite: str = "",
    ) -> np.ndarray:
        """A dense float64 (n, d) array, with scikit-learn's checks and messages.

        ``reset=True`` (in ``fit``) records ``n_features_in_``; ``reset=False`` checks it.
        Fewer than ``min_samples`` rows, or no column, is an error.
        NaN is accepted when ``allow_nan`` (a missing value); inf never is. ``why_finite``
        ends the message about non-finite entries.
        """
        # Our message first (scikit-learn's says "2D"); the shape without NumPy's
        # array-function protocol, which array-likes need not implement.
        shape = X.shape if hasattr(X, "shape") else np.asarray(X).shape
        if len(shape) != 2:
            raise ValueError(
                f"X must be 2-D (observations x features), got shape {shape}. Reshape "
                "your data: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one row"
            )
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=np.float64,
            ensure_all_finite=False,
            ensure_min_samples=min_samples,
        )
        bad = np.isinf(X) if allow_nan else ~np.isfinite(X)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            what = "inf" if allow_nan else "NaN/inf"
            raise ValueError(
                f"X has {int(bad.sum())} {what} value(s) (first at row {row}, column {col}); "
                f"{why_finite}"
            )
        return X
