"""EM: one jitted driver (:mod:`inference.em.driver`) and estimators on it.

``GaussianMixture``, ``PPCA``, ``GLAD`` and ``DawidSkene`` follow scikit-learn's estimator contract (``fit``, ``score``,
``predict``, ``predict_proba``, ``bic``/``aic``, ``sample``, ``lower_bounds_``,
``n_iter_``, ``converged_``).
"""

from .dawid_skene import DawidSkene
from .driver import EMResult, em
from .glad import GLAD
from .mixture import GaussianMixture
from .ppca import PPCA

__all__ = ["GLAD", "PPCA", "DawidSkene", "EMResult", "GaussianMixture", "em"]
