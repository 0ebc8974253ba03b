"""Sampler benchmarks: the classic geometries that separate MCMC samplers.

Each target is written twice, once for PyMC and once for NumPyro, with the same
variable names and shapes, so the draws of any sampler on either backend can be
checked against the same :class:`~models.base.Exact` reference.

- ``eight_schools_centered`` / ``eight_schools_noncentered`` — Rubin's (1981)
  hierarchical model in its two parameterisations: the centred one has a funnel
  between ``tau`` and ``theta`` that makes HMC diverge; the non-centred one removes it
  (Betancourt & Girolami 2015).
- ``funnel`` — Neal's (2003) funnel, the extreme of that geometry: the scale of
  ``x`` changes by orders of magnitude along ``v``.
- ``banana`` — the twisted Gaussian of Haario, Saksman & Tamminen (1999, 2001):
  curved, so no single linear proposal (or mass matrix) fits it everywhere.
- ``correlated_gaussian`` — strong equicorrelation and scales spread over two orders
  of magnitude: step-size and mass-matrix adaptation are what it tests.

None of these targets is random: ``simulate`` returns fixed data and hyperparameters
and ignores its seed (it takes one so that every model is driven the same way).

References
----------
.. [1] Rubin, D. B. (1981). Estimation in parallel randomized experiments.
   *Journal of Educational Statistics*, 6(4), 377-401.
.. [2] Neal, R. M. (2003). Slice sampling. *The Annals of Statistics*, 31(3),
   705-767 (section 8, the "funnel").
.. [3] Haario, H., Saksman, E., & Tamminen, J. (1999). Adaptive proposal distribution
   for random walk Metropolis algorithm. *Computational Statistics*, 14(3), 375-395.
.. [4] Haario, H., Saksman, E., & Tamminen, J. (2001). An adaptive Metropolis
   algorithm. *Bernoulli*, 7(2), 223-242.
.. [5] Betancourt, M., & Girolami, M. (2015). Hamiltonian Monte Carlo for
   hierarchical models. In *Current Trends in Bayesian Methodology with
   Applications*, 79-101. CRC Press.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from scipy import stats

from .base import (
    MAX_SIZE,
    DataError,
    Exact,
    ModelSpec,
    check_cells,
    finite_array,
    positive,
    register,
    whole_number,
)

if TYPE_CHECKING:
    import pymc as pm

# PyMC is imported inside the PyMC builders: the JAX-only paths of this module (the
# simulators and NumPyro models, which the GPU throughput benchmark uses) then run
# where PyMC is not installed.

__all__ = [
    "banana_numpyro",
    "banana_pymc",
    "correlated_gaussian_numpyro",
    "correlated_gaussian_pymc",
    "eight_schools_centered_numpyro",
    "eight_schools_centered_pymc",
    "eight_schools_noncentered_numpyro",
    "eight_schools_noncentered_pymc",
    "funnel_numpyro",
    "funnel_pymc",
]

_TOPIC = 8  # sampler benchmarks belong to the Metropolis-Hastings / Markov chain topic
_TAGS = ("benchmark",)


def _integer(name: str, value: Any, *, minimum: int, maximum: int = MAX_SIZE) -> int:
    """``value`` as a whole number from ``minimum`` to ``maximum``, or :class:`DataError`
    (:func:`models.base.whole_number`: a bool is refused, a dimension of True is a mistake)."""
    return whole_number(name, value, minimum=minimum, maximum=maximum)


def _finite(name: str, value: Any) -> float:
    """``value`` as a finite float, or :class:`DataError`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise DataError(f"{name} must be finite, got {value!r}; pass a finite number")
    return v


# --------------------------------------------------------------------------- eight schools

#: Rubin (1981), table 2: estimated coaching effects and their standard errors.
EIGHT_SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])

# Priors as in the Stan / PyMC case studies of this model; they are proper, so the
# posterior is proper whatever the data.
_MU_SD = 5.0
_TAU_SCALE = 5.0


def _schools_data(data: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(y, sigma)`` checked: same length, finite, ``sigma > 0``."""
    try:
        y, sigma = data["y"], data["sigma"]
    except KeyError as err:
        raise DataError(
            f"eight schools data need 'y' and 'sigma'; {err.args[0]!r} is missing"
        ) from None
    y = finite_array("y", y, ndim=1)
    sigma = finite_array("sigma", sigma, ndim=1)
    if y.shape != sigma.shape:
        raise DataError(
            f"y and sigma must have the same length, got {y.size} and {sigma.size}; "
            "give one standard error per estimate"
        )
    if (sigma <= 0).any():
        raise DataError("sigma must be > 0 everywhere; standard errors are positive")
    return y, sigma


def eight_schools_simulate(seed: int = 0) -> dict[str, np.ndarray]:
    """Rubin's (1981) eight-schools data; ``seed`` is ignored (the data are fixed).

    Returns
    -------
    dict
        ``y`` (8,) estimated treatment effects and ``sigma`` (8,) their standard errors.
    """
    del seed  # the classic data set, not a simulation
    return {"y": EIGHT_SCHOOLS_Y.copy(), "sigma": EIGHT_SCHOOLS_SIGMA.copy()}


def eight_schools_from_frame(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Eight-schools-style data from a table with columns ``y`` and ``sigma``."""
    missing = [c for c in ("y", "sigma") if c not in df.columns]
    if missing:
        raise DataError(
            f"the table needs columns y and sigma; missing {', '.join(missing)} "
            f"(found {', '.join(map(str, df.columns)) or 'none'})"
        )
    y, sigma = _schools_data({"y": df["y"].to_numpy(), "sigma": df["sigma"].to_numpy()})
    return {"y": y, "sigma": sigma}


def eight_schools_centered_pymc(data: Mapping[str, Any]) -> pm.Model:
    """Centred eight schools in PyMC.

    Notes
    -----
    .. math::
        \\mu \\sim N(0, 5), \\quad \\tau \\sim \\mathrm{HalfCauchy}(5), \\quad
        \\theta_j \\sim N(\\mu, \\tau), \\quad y_j \\sim N(\\theta_j, \\sigma_j).

    Free variables: ``mu`` (), ``tau`` (), ``theta`` (J,).

    References
    ----------
    Rubin (1981); Betancourt & Girolami (2015) for why this parameterisation diverges.
    """
    import pymc as pm

    y, sigma = _schools_data(data)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, _MU_SD)
        tau = pm.HalfCauchy("tau", _TAU_SCALE)
        theta = pm.Normal("theta", mu, tau, shape=y.shape)
        pm.Normal("y", theta, sigma, observed=y)
    return model


def eight_schools_centered_numpyro(y: Any, sigma: Any) -> None:
    """Centred eight schools in NumPyro (same variables as the PyMC model)."""
    mu = numpyro.sample("mu", dist.Normal(0.0, _MU_SD))
    tau = numpyro.sample("tau", dist.HalfCauchy(_TAU_SCALE))
    with numpyro.plate("school", jnp.shape(y)[0]):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def eight_schools_noncentered_pymc(data: Mapping[str, Any]) -> pm.Model:
    """Non-centred eight schools in PyMC.

    Notes
    -----
    :math:`\\tilde\\theta_j \\sim N(0, 1)` and :math:`\\theta_j = \\mu + \\tau\\tilde\\theta_j`
    (a deterministic), the rest as in the centred model. The joint distribution of
    ``(mu, tau, theta)`` is the same; the sampler sees independent standard normals
    instead of the funnel between ``tau`` and ``theta`` (Betancourt & Girolami 2015).

    Free variables: ``mu`` (), ``tau`` (), ``theta_tilde`` (J,); deterministic
    ``theta`` (J,).
    """
    import pymc as pm

    y, sigma = _schools_data(data)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, _MU_SD)
        tau = pm.HalfCauchy("tau", _TAU_SCALE)
        theta_tilde = pm.Normal("theta_tilde", 0.0, 1.0, shape=y.shape)
        theta = pm.Deterministic("theta", mu + tau * theta_tilde)
        pm.Normal("y", theta, sigma, observed=y)
    return model


def eight_schools_noncentered_numpyro(y: Any, sigma: Any) -> None:
    """Non-centred eight schools in NumPyro (same variables as the PyMC model)."""
    mu = numpyro.sample("mu", dist.Normal(0.0, _MU_SD))
    tau = numpyro.sample("tau", dist.HalfCauchy(_TAU_SCALE))
    with numpyro.plate("school", jnp.shape(y)[0]):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


# --------------------------------------------------------------------------- Neal's funnel


def _funnel_hyper(data: Mapping[str, Any]) -> tuple[int, float]:
    if "d" not in data:
        raise DataError("funnel data need 'd', the total dimension; pass d=10 for Neal's funnel")
    return _integer("d", data["d"], minimum=2), positive("scale", data.get("scale", 3.0))


def funnel_simulate(seed: int = 0, d: int = 10, scale: float = 3.0) -> dict[str, Any]:
    """Hyperparameters of Neal's funnel; ``seed`` is ignored (the target is fixed).

    Parameters
    ----------
    seed : int
        Unused.
    d : int
        Total dimension (``v`` plus ``d - 1`` coordinates ``x``); at least 2.
    scale : float
        Standard deviation of ``v``; Neal (2003) uses 3.

    Returns
    -------
    dict
        ``d`` (int) and ``scale`` (float).
    """
    del seed
    d, scale = _funnel_hyper({"d": d, "scale": scale})
    return {"d": d, "scale": scale}


def funnel_pymc(data: Mapping[str, Any]) -> pm.Model:
    """Neal's (2003) funnel in PyMC.

    Notes
    -----
    :math:`v \\sim N(0, s)`, :math:`x_i \\mid v \\sim N(0, e^{v/2})` (variance
    :math:`e^v`), :math:`i = 1, \\dots, d-1`; Neal's funnel has :math:`s = 3`, :math:`d = 10`.

    Free variables: ``v`` (), ``x`` (d-1,).

    References
    ----------
    Neal, R. M. (2003). Slice sampling. *Annals of Statistics* 31(3), section 8.
    """
    import pymc as pm

    d, scale = _funnel_hyper(data)
    with pm.Model() as model:
        v = pm.Normal("v", 0.0, scale)
        pm.Normal("x", 0.0, pm.math.exp(v / 2.0), shape=(d - 1,))
    return model


def funnel_numpyro(d: int, scale: float = 3.0) -> None:
    """Neal's (2003) funnel in NumPyro (same variables as the PyMC model)."""
    v = numpyro.sample("v", dist.Normal(0.0, scale))
    with numpyro.plate("coordinate", d - 1):
        numpyro.sample("x", dist.Normal(0.0, jnp.exp(v / 2.0)))


def funnel_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    """Exact moments of the funnel.

    Notes
    -----
    ``v`` is exactly :math:`N(0, s)`. Each :math:`x_i` has mean 0 and variance
    :math:`E[\\mathrm{Var}(x_i \\mid v)] = E[e^v] = e^{s^2/2}` (the mean of a lognormal),
    so its sd is :math:`e^{s^2/4}` (:math:`\\sqrt{e^{4.5}} \\approx 9.49` for s = 3).
    Different :math:`x_i` are uncorrelated (though dependent through ``v``), so the
    covariance is diagonal. The marginal of :math:`x_i` is a normal scale mixture
    with no scipy form: ``marginals`` is ``None``.
    """
    d, scale = _funnel_hyper(data)
    var_x = np.exp(scale**2 / 2.0)
    return {
        "v": Exact.from_scipy(stats.norm(0.0, scale)),
        "x": Exact(
            mean=np.zeros(d - 1),
            sd=np.full(d - 1, np.sqrt(var_x)),
            marginals=None,
            cov=np.eye(d - 1) * var_x,
        ),
    }


# --------------------------------------------------------------------------- banana


def _banana_hyper(data: Mapping[str, Any]) -> tuple[float, float]:
    return _finite("b", data.get("b", 0.03)), positive("scale", data.get("scale", 10.0))


def banana_simulate(seed: int = 0, b: float = 0.03, scale: float = 10.0) -> dict[str, float]:
    """Hyperparameters of the twisted Gaussian; ``seed`` is ignored (the target is fixed).

    Parameters
    ----------
    seed : int
        Unused.
    b : float
        Curvature; Haario et al. use 0.03 (moderate) and 0.1 (strong). 0 gives a
        Gaussian.
    scale : float
        Standard deviation of ``x1``; Haario et al. use 10.

    Returns
    -------
    dict
        ``b`` and ``scale`` (floats).
    """
    del seed
    b, scale = _banana_hyper({"b": b, "scale": scale})
    return {"b": b, "scale": scale}


def banana_pymc(data: Mapping[str, Any]) -> pm.Model:
    """The twisted Gaussian ("banana") of Haario et al. in PyMC.

    Notes
    -----
    Haario, Saksman & Tamminen (1999, 2001) define the density as :math:`f \\circ \\phi_b`
    with :math:`f = N(0, \\mathrm{diag}(100, 1))` and
    :math:`\\phi_b(x) = (x_1, x_2 + b x_1^2 - 100 b)`. The map has unit Jacobian, so
    this is the generative model

    .. math::
        x_1 \\sim N(0, s), \\qquad x_2 \\mid x_1 \\sim N(-b (x_1^2 - s^2), 1),

    with :math:`s = 10`. (Some write :math:`+b`: the mirror image in :math:`x_2`, with
    the same moments.) Two scalars ``x1`` and ``x2`` rather than one vector, because
    the conditional is then written the same way in both PPLs, with no potential.

    Free variables: ``x1`` (), ``x2`` ().

    References
    ----------
    Haario, Saksman & Tamminen (1999), *Computational Statistics* 14, 375-395;
    (2001), *Bernoulli* 7(2), 223-242.
    """
    import pymc as pm

    b, scale = _banana_hyper(data)
    with pm.Model() as model:
        x1 = pm.Normal("x1", 0.0, scale)
        pm.Normal("x2", -b * (x1**2 - scale**2), 1.0)
    return model


def banana_numpyro(b: float = 0.03, scale: float = 10.0) -> None:
    """The twisted Gaussian in NumPyro (same variables as the PyMC model)."""
    x1 = numpyro.sample("x1", dist.Normal(0.0, scale))
    numpyro.sample("x2", dist.Normal(-b * (x1**2 - scale**2), 1.0))


def banana_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    """Exact moments of the twisted Gaussian.

    Notes
    -----
    With :math:`x_2 = z - b(x_1^2 - s^2)`, :math:`z \\sim N(0,1)` independent of
    :math:`x_1 \\sim N(0, s)`:

    - :math:`E[x_2] = -b(E[x_1^2] - s^2) = 0`;
    - :math:`\\mathrm{Var}(x_2) = \\mathrm{Var}(z) + b^2 \\mathrm{Var}(x_1^2)
      = 1 + 2 b^2 s^4`, because :math:`x_1^2 / s^2 \\sim \\chi^2_1` has variance 2;
      for b = 0.03, s = 10 this is :math:`1 + 2 \\cdot 9\\cdot 10^{-4} \\cdot 10^4 = 19`.

    ``x1`` is exactly :math:`N(0, s)`; the marginal of ``x2`` (a shifted, scaled
    :math:`\\chi^2_1` convolved with a normal) has no scipy form.
    """
    b, scale = _banana_hyper(data)
    return {
        "x1": Exact.from_scipy(stats.norm(0.0, scale)),
        "x2": Exact(np.asarray(0.0), np.asarray(np.sqrt(1.0 + 2.0 * b**2 * scale**4))),
    }


# --------------------------------------------------------------------------- correlated Gaussian


def _gaussian_data(data: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, cov)`` checked: shapes agree and ``cov`` is symmetric positive definite."""
    mu = finite_array("mu", data["mu"], ndim=1)
    cov = finite_array("cov", data["cov"], ndim=2)
    if cov.shape != (mu.size, mu.size):
        raise DataError(
            f"cov must be {mu.size} x {mu.size} to match mu, got {cov.shape}; "
            "pass one row and column per coordinate"
        )
    if not np.allclose(cov, cov.T):
        raise DataError("cov must be symmetric; pass (cov + cov.T) / 2")
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise DataError("cov must be positive definite; check its eigenvalues") from None
    return mu, cov


def correlated_gaussian_simulate(
    seed: int = 0, d: int = 5, rho: float = 0.9, scales: Any = None
) -> dict[str, np.ndarray]:
    """Mean and covariance of an equicorrelated Gaussian; ``seed`` is ignored.

    Parameters
    ----------
    seed : int
        Unused (the target is fixed).
    d : int
        Dimension, at least 2.
    rho : float
        Correlation between every pair of coordinates. The equicorrelation matrix
        :math:`(1-\\rho) I + \\rho \\mathbf{1}\\mathbf{1}^T` has eigenvalues
        :math:`1 - \\rho` and :math:`1 + (d-1)\\rho`, so it is positive definite exactly
        when :math:`-1/(d-1) < \\rho < 1`.
    scales : array_like of shape (d,), optional
        Marginal standard deviations; default ``logspace(-1, 1, d)`` (0.1 to 10), so
        that one step size cannot suit every coordinate and adaptation matters.

    Returns
    -------
    dict
        ``mu`` (d,) zeros and ``cov`` (d, d).
    """
    del seed
    d = _integer("d", d, minimum=2)
    check_cells("the covariance (d × d)", d * d, "d")
    rho = _finite("rho", rho)
    if not -1.0 / (d - 1) < rho < 1.0:
        raise DataError(
            f"rho must lie in (-1/(d-1), 1) = ({-1.0 / (d - 1):.4g}, 1) for d = {d}, "
            f"got {rho}; otherwise the equicorrelation matrix is not positive definite"
        )
    if scales is None:
        scales = np.logspace(-1.0, 1.0, d)
    scales = finite_array("scales", scales, ndim=1)
    if scales.shape != (d,):
        raise DataError(f"scales must have length d = {d}, got {scales.size}")
    if (scales <= 0).any():
        raise DataError("scales must be > 0; they are standard deviations")
    corr = (1.0 - rho) * np.eye(d) + rho * np.ones((d, d))
    cov = corr * np.outer(scales, scales)
    return {"mu": np.zeros(d), "cov": cov}


def correlated_gaussian_pymc(data: Mapping[str, Any]) -> pm.Model:
    """A correlated Gaussian target in PyMC: ``x ~ MvNormal(mu, cov)``, ``x`` (d,)."""
    import pymc as pm

    mu, cov = _gaussian_data(data)
    with pm.Model() as model:
        pm.MvNormal("x", mu=mu, cov=cov)
    return model


def correlated_gaussian_numpyro(mu: Any, cov: Any) -> None:
    """A correlated Gaussian target in NumPyro (same variable as the PyMC model)."""
    numpyro.sample("x", dist.MultivariateNormal(mu, covariance_matrix=cov))


def correlated_gaussian_exact(data: Mapping[str, Any]) -> dict[str, Exact]:
    """The target itself: ``x`` is exactly ``N(mu, cov)``."""
    mu, cov = _gaussian_data(data)
    return {"x": Exact.normal(mu, cov)}


# --------------------------------------------------------------------------- registry

register(
    ModelSpec(
        name="eight_schools_centered",
        topic=_TOPIC,
        title="Eight schools, centred (Rubin 1981): the hierarchical funnel NUTS diverges on",
        simulate=eight_schools_simulate,
        pymc=eight_schools_centered_pymc,
        numpyro=eight_schools_centered_numpyro,
        from_frame=eight_schools_from_frame,
        params=("mu", "tau", "theta"),
        tags=_TAGS,
    )
)
register(
    ModelSpec(
        name="eight_schools_noncentered",
        topic=_TOPIC,
        title="Eight schools, non-centred (Betancourt & Girolami 2015): the funnel removed",
        simulate=eight_schools_simulate,
        pymc=eight_schools_noncentered_pymc,
        numpyro=eight_schools_noncentered_numpyro,
        from_frame=eight_schools_from_frame,
        params=("mu", "tau", "theta_tilde"),
        tags=_TAGS,
    )
)
register(
    ModelSpec(
        name="funnel",
        topic=_TOPIC,
        title="Neal's funnel (Neal 2003): scales that change by orders of magnitude",
        simulate=funnel_simulate,
        pymc=funnel_pymc,
        numpyro=funnel_numpyro,
        exact=funnel_exact,
        params=("v", "x"),
        tags=_TAGS,
    )
)
register(
    ModelSpec(
        name="banana",
        topic=_TOPIC,
        title="Twisted Gaussian banana (Haario, Saksman & Tamminen 1999): curved, b = 0.03",
        simulate=banana_simulate,
        pymc=banana_pymc,
        numpyro=banana_numpyro,
        exact=banana_exact,
        params=("x1", "x2"),
        tags=_TAGS,
    )
)
register(
    ModelSpec(
        name="correlated_gaussian",
        topic=_TOPIC,
        title="Correlated Gaussian (rho = 0.9, scales 0.1 to 10): adaptation matters",
        simulate=correlated_gaussian_simulate,
        pymc=correlated_gaussian_pymc,
        numpyro=correlated_gaussian_numpyro,
        exact=correlated_gaussian_exact,
        params=("x",),
        tags=_TAGS,
    )
)
