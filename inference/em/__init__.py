"""EM: one jitted driver (:mod:`inference.em.driver`), one estimator base, models on them.

``GaussianMixture``, ``PPCA``, ``GLAD`` and ``DawidSkene`` are scikit-learn estimators on
one base, :class:`~inference.em.base.EMEstimator` (``n_init`` restarts, ``warm_start``,
``random_state``, the convergence warning, 64-bit results): all have ``fit``, ``score``,
``lower_bounds_``, ``lower_bound_``, ``n_iter_`` and ``converged_``; the mixture adds
``predict``, ``predict_proba``, ``score_samples``, ``bic``/``aic`` and ``sample``, PPCA
``transform``, ``inverse_transform``, ``impute`` and ``score_samples``, the two
crowdsourcing models ``labels_`` and ``probas_``. Used before ``fit``, every method
raises scikit-learn's ``NotFittedError``.
"""

from .base import EMEstimator
from .dawid_skene import DawidSkene
from .driver import EMResult, em
from .glad import GLAD
from .mixture import GaussianMixture
from .ppca import PPCA

__all__ = ["GLAD", "PPCA", "DawidSkene", "EMEstimator", "EMResult", "GaussianMixture", "em"]
