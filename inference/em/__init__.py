"""EM: one jitted driver (:mod:`inference.em.driver`) and estimators on it.

``GaussianMixture`` follows scikit-learn's estimator contract (``fit``, ``score``,
``predict``, ``predict_proba``, ``bic``/``aic``, ``sample``, ``lower_bounds_``,
``n_iter_``, ``converged_``).
"""

from inference.em.driver import EMResult, em
from inference.em.mixture import GaussianMixture

__all__ = ["EMResult", "GaussianMixture", "em"]
