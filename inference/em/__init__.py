"""EM: one jitted driver (:mod:`inference.em.driver`) and estimators on it.

``GaussianMixture``, ``PPCA``, ``GLAD`` and ``DawidSkene`` follow scikit-learn's estimator contract (``fit``, ``score``,
``predict``, ``predict_proba``, ``bic``/``aic``, ``sample``, ``lower_bounds_``,
``n_iter_``, ``converged_``).
"""

from inference.em.dawid_skene import DawidSkene
from inference.em.driver import EMResult, em
from inference.em.glad import GLAD
from inference.em.mixture import GaussianMixture
from inference.em.ppca import PPCA

__all__ = ["GLAD", "PPCA", "DawidSkene", "EMResult", "GaussianMixture", "em"]
