"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

If θ̃ ~ p(θ), ỹ ~ p(y | θ̃) and θ₁ … θ_L are draws from the posterior p(θ | ỹ), then the
rank r = #{ℓ : θ_ℓ < θ̃} is uniform on {0, …, L} for every scalar parameter — whatever
the model — exactly when the sampler draws from the right posterior (Talts et al.,
Theorem 1). A sampler that is biased, too narrow or too wide bends the rank
distribution (∪-shape: posterior too narrow; ∩-shape: too wide; a slope: biased).

The pieces, each usable alone:

* :func:`prior_draw` — θ̃ and ỹ from the model's own program, so no hand-written
  simulator can drift out of step with it: its NumPyro program with the observed sites
  ``uncondition``-ed, or, for a model that has only a PyMC program (a user's own), one
  joint draw of its free and observed RVs. A model it cannot simulate from (``pm.Potential``
  or ``numpyro.factor`` terms, observations computed inside it, nothing observed) is
  refused with a line that says why.
* :func:`rank_statistics` — r for every scalar element of the model's parameters, from
  ``L`` draws thinned evenly from every chain (thinning lowers the autocorrelation that
  would otherwise make ranks cluster; Talts et al. §4.2). ``ess_bulk_min`` is returned
  with them: ranks from fewer effective draws than ``L`` are not uniform even for an
  exact sampler.
* :func:`simulate` — one simulation: draw, sample with any sampler spelling (or any
  callable), rank. This is what a grid worker runs.
* :func:`uniformity` — per parameter, Pearson's χ² test on binned ranks and the
  simultaneous ECDF band of Säilynoja, Bürkner & Vehtari (2022) (ArviZ's
  ``ecdf_confidence_band``); ``calibrated`` when both pass at level ``alpha``.

References
----------
Talts, S., Betancourt, M., Simpson, D., Vehtari, A., & Gelman, A. (2018). Validating
Bayesian inference algorithms with simulation-based calibration. arXiv:1804.06788.
Säilynoja, T., Bürkner, P.-C., & Vehtari, A. (2022). Graphical test for discrete
uniformity and its applications in goodness-of-fit evaluation and multiple sample
comparison. *Statistics and Computing*, 32(2), 32.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from scipy import stats

from .. import models
from ..inference._precision import float64
from .summary import _labels

__all__ = [
    "DEFAULT_RANKED_DRAWS",
    "SimulationResult",
    "SimulationTask",
    "prior_draw",
    "rank_statistics",
    "simulate",
    "uniformity",
]

# L = 99 thinned draws give ranks on {0, ..., 99}: 100 values, which split evenly into
# 2, 4, 5, 10, 20, 25 or 50 bins.
DEFAULT_RANKED_DRAWS = 99
SUMMARY_COLUMNS = (
    "parameter",
    "n_sims",
    "bins",
    "chi2",
    "p_value",
    "ecdf_in_band",
    "max_ecdf_diff",
    "calibrated",
)


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # equal_nan on values that are not numbers
        return bool(np.array_equal(a, b))


def _data_keys(
    spec: models.ModelSpec,
    observed: Mapping[str, tuple[Any, tuple[str, ...]]],
    data: Mapping[str, Any],
) -> dict[str, str]:
    """Observed variable -> the ``data`` key holding its values.

    ``observed`` maps each observed variable to its observed values and the names a data
    entry feeding it may have (its own; for PyMC also its ``pm.Data`` container's). A
    named entry holding those values is it; else the one entry with equal values is. A
    name alone is not enough: a model that observes ``log(y)`` under the name ``y`` would
    otherwise have ``y`` replaced by simulated logs.
    """
    if not observed:
        raise ValueError(f"{spec.name} observes nothing, so there is nothing to calibrate")
    out = {}
    for var, (value, names) in observed.items():
        value = np.asarray(value)
        equal = [k for k in data if _same_values(np.asarray(data[k]), value)]
        named = [k for k in names if k in equal]
        if named:
            out[var] = named[0]
        elif len(equal) == 1:
            out[var] = equal[0]
        elif not equal:
            raise _built_inside(spec, var)
        else:
            raise ValueError(
                f"cannot tell which data entry feeds the observed {var} of {spec.name} "
                f"({', '.join(equal)} hold the same values); name the data key after it"
            )
    return out


def _built_inside(spec: models.ModelSpec, var: str) -> ValueError:
    return ValueError(
        f"the observed data of {var} in {spec.name} is built inside the model (not one of "
        "its inputs), so it cannot be resimulated; pass it in as an argument"
    )


def _not_generative(spec: models.ModelSpec, what: str, names: list[str]) -> ValueError:
    return ValueError(
        f"{spec.name} has {what} terms ({', '.join(names)}), which cannot be simulated from "
        "the prior; SBC needs a generative model: write them as distributions"
    )


def _improper(spec: models.ModelSpec, err: NotImplementedError) -> ValueError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ValueError(
        f"cannot draw from the prior of {spec.name} ({first}); SBC needs a proper prior "
        "that every variable can be drawn from"
    )


def _is_factor(fn: Any) -> bool:
    """A ``numpyro.factor`` site: its distribution is a ``Unit``, perhaps expanded or masked."""
    from numpyro.distributions.distribution import Unit

    while not isinstance(fn, Unit) and hasattr(fn, "base_dist"):
        fn = fn.base_dist
    return isinstance(fn, Unit)


def _observed_keys(spec: models.ModelSpec, data: Mapping[str, Any]) -> dict[str, str]:
    """Observed site of the NumPyro program -> the ``data`` key holding its values."""
    from numpyro import handlers

    trace = handlers.trace(handlers.seed(spec.numpyro, 0)).get_trace(**data)
    sites = {n: s for n, s in trace.items() if s["type"] == "sample"}
    # numpyro.factor is an observed site of a Unit distribution: unconditioned, it adds
    # nothing, so the draws would come from a different (unweighted) prior.
    factors = [n for n, s in sites.items() if _is_factor(s["fn"])]
    if factors:
        raise _not_generative(spec, "numpyro.factor", factors)
    observed = {n: (s["value"], (n,)) for n, s in sites.items() if s["is_observed"]}
    return _data_keys(spec, observed, data)


def _pymc_observed(
    spec: models.ModelSpec, model: Any
) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """Observed RV of a PyMC model -> (its observed values, the data names it may have)."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.scalar import Cast
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.variable import TensorConstant

    if model.potentials:
        raise _not_generative(spec, "pm.Potential", [p.name or "unnamed" for p in model.potentials])
    out = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        # Data of another dtype than the RV's (integers observed by a Normal) come cast.
        while (
            value.owner is not None
            and isinstance(value.owner.op, Elemwise)
            and isinstance(value.owner.op.scalar_op, Cast)
        ):
            value = value.owner.inputs[0]
        if isinstance(value, SharedVariable):  # a pm.Data container
            out[rv.name] = (value.get_value(), (rv.name, value.name))
        elif isinstance(value, TensorConstant):
            out[rv.name] = (value.data, (rv.name,))
        else:
            raise _built_inside(spec, rv.name)
    return out


def prior_draw(
    spec: models.ModelSpec, data: Mapping[str, Any], seed: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """θ̃ ~ p(θ) and ỹ ~ p(y | θ̃) from the model's own program.

    The NumPyro program where the model has one (its observed sites ``uncondition``-ed,
    in float64), else the PyMC model ``spec.pymc(data)`` (one joint draw of its free and
    observed RVs with ``pm.draw``).

    Parameters
    ----------
    spec : ModelSpec
        A model with a NumPyro program or a PyMC model.
    data : mapping
        Its data: everything that is not observed (sizes, covariates, hyperparameters)
        is kept; the observed entries are replaced by the simulated ỹ.
    seed : int
        Same seed, same draw.

    Returns
    -------
    theta : dict
        The model's parameters (``spec.params``) at the prior draw, in their constrained
        space.
    data : dict
        ``data`` with the observations replaced, in their original dtype and shape.

    Raises
    ------
    ValueError
        One line naming the model and the fix, when it cannot be simulated from: it
        observes nothing; an observed variable's data is computed inside the model
        rather than passed in; it has ``pm.Potential`` or ``numpyro.factor`` terms; or a
        prior cannot be drawn from (``pm.Flat``).

    Notes
    -----
    Each observed variable is matched to the data entry feeding it: the entry named
    after it (for PyMC also after its ``pm.Data`` container) if that entry holds its
    values, else the one entry with equal values.

    The PyMC route builds the model and compiles a sampling function on every call:
    about 15 ms for a small model once PyTensor's compile cache is warm, ~0.5 s the
    first time in a process.

    Examples
    --------
    >>> from bayesmin import models
    >>> spec = models.get("normal_normal")
    >>> theta, new = prior_draw(spec, spec.simulate(0), seed=1)
    >>> sorted(theta), new["y"].shape == spec.simulate(0)["y"].shape
    (['mu'], True)
    """
    if spec.numpyro is not None:
        return _numpyro_draw(spec, data, seed)
    if spec.pymc is not None:
        return _pymc_draw(spec, data, seed)
    raise ValueError(
        f"{spec.name} has neither a NumPyro program nor a PyMC model; SBC draws from the "
        "prior through one of them"
    )


def _replaced(
    data: Mapping[str, Any], keys: Mapping[str, str], simulated: Mapping[str, Any]
) -> dict[str, Any]:
    new = dict(data)
    for var, key in keys.items():
        new[key] = np.asarray(simulated[var]).astype(np.asarray(data[key]).dtype)
    return new


@float64()  # a seed gives the same θ̃ whatever the global flag (and every sampler is float64)
def _numpyro_draw(
    spec: models.ModelSpec, data: Mapping[str, Any], seed: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import jax
    from numpyro import handlers

    keys = _observed_keys(spec, data)
    model = handlers.uncondition(spec.numpyro)
    try:
        trace = handlers.trace(handlers.seed(model, jax.random.PRNGKey(seed))).get_trace(**data)
    except NotImplementedError as err:
        raise _improper(spec, err) from None
    missing = [name for name in spec.params if name not in trace]
    if missing:
        raise ValueError(f"{spec.name}'s NumPyro program has no site {missing[0]!r}")
    theta = {name: np.asarray(trace[name]["value"]) for name in spec.params}
    simulated = {site: trace[site]["value"] for site in keys}
    return theta, _replaced(data, keys, simulated)


def _pymc_draw(
    spec: models.ModelSpec, data: Mapping[str, Any], seed: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import pymc as pm

    model = spec.pymc(data)
    keys = _data_keys(spec, _pymc_observed(spec, model), data)
    missing = [name for name in spec.params if name not in model.named_vars]
    if missing:
        raise ValueError(f"{spec.name}'s PyMC model has no variable {missing[0]!r}")
    observed = list(model.observed_RVs)
    # One compiled graph for parameters and observations, so ỹ is drawn given this θ̃.
    try:
        values = pm.draw([model[n] for n in spec.params] + observed, random_seed=seed)
    except NotImplementedError as err:
        raise _improper(spec, err) from None
    theta = {name: np.asarray(v) for name, v in zip(spec.params, values, strict=False)}
    simulated = {rv.name: v for rv, v in zip(observed, values[len(spec.params) :], strict=True)}
    return theta, _replaced(data, keys, simulated)


def rank_statistics(
    idata: az.InferenceData, theta: Mapping[str, Any], ranked_draws: int = DEFAULT_RANKED_DRAWS
) -> tuple[dict[str, int], float]:
    """Ranks of ``theta`` among ``ranked_draws`` posterior draws, and the bulk ESS.

    The draws are thinned evenly within every chain (``ranked_draws`` in all, or every
    draw if there are fewer); ``rank = #{draws < θ̃}`` for each scalar element.

    Returns
    -------
    ranks : dict
        ``{"mu": 37, "theta[0]": 12, ...}``, each in ``0..L`` where ``L`` is the number
        of draws ranked.
    ess_bulk_min : float
        The smallest bulk ESS over the ranked parameters (ArviZ).
    """
    post = idata.posterior
    ranks: dict[str, int] = {}
    ess_min = np.inf
    for name, value in theta.items():
        draws = post[name].values  # (chain, draw, *shape)
        chains, n = draws.shape[:2]
        per_chain = max(1, min(n, int(np.ceil(ranked_draws / chains))))
        keep = np.linspace(0, n - 1, per_chain).round().astype(int)
        thinned = draws[:, keep].reshape(chains * per_chain, -1)[:ranked_draws]
        truth = np.asarray(value).reshape(-1)
        if truth.size != thinned.shape[1]:
            raise ValueError(
                f"{name} has {thinned.shape[1]} elements in the posterior, {truth.size} in θ̃"
            )
        below = (thinned < truth[None, :]).sum(axis=0)
        for label, r in zip(_labels(name, np.shape(value)), below, strict=True):
            ranks[label] = int(r)
        ess = az.ess(idata, var_names=[name], method="bulk")[name].values
        ess_min = min(ess_min, float(np.nanmin(ess)))
    return ranks, ess_min


@dataclass(frozen=True)
class SimulationTask:
    """One SBC simulation, as shipped to a worker."""

    spec: models.ModelSpec
    data: Mapping[str, Any]
    sampler: str | Callable[..., az.InferenceData]
    index: int
    seed: int = 0
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    ranked_draws: int = DEFAULT_RANKED_DRAWS
    keep_idata: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"simulation {self.index}"

    def seeds(self) -> tuple[int, int]:
        """Independent seeds for the prior draw and the sampler, from ``(seed, index)``."""
        prior, sampler = np.random.SeedSequence([self.seed, self.index]).generate_state(2)
        return int(prior % 2**31), int(sampler % 2**31)


@dataclass
class SimulationResult:
    index: int
    theta: dict[str, Any]
    ranks: dict[str, int]
    ranked_draws: int
    ess_bulk_min: float
    idata: az.InferenceData | None = None


def simulate(task: SimulationTask) -> SimulationResult:
    """Draw θ̃ and ỹ, sample p(θ | ỹ) with ``task.sampler``, and rank θ̃.

    ``task.sampler`` is a sampler spelling for :func:`inference.sample` or a callable
    ``sampler(spec, data, seed) -> InferenceData`` (a custom or deliberately wrong one).
    """
    from .. import inference

    prior_seed, sampler_seed = task.seeds()
    theta, data = prior_draw(task.spec, task.data, prior_seed)
    if callable(task.sampler):
        idata = task.sampler(task.spec, data, sampler_seed)
    else:
        idata = inference.sample(
            task.spec,
            task.sampler,
            draws=task.draws,
            tune=task.tune,
            chains=task.chains,
            seed=sampler_seed,
            data=data,
            progress=False,
            **task.options,
        )
    ranks, ess = rank_statistics(idata, theta, task.ranked_draws)
    n_ranked = min(
        task.ranked_draws, idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
    )
    return SimulationResult(
        task.index,
        {k: np.asarray(v).tolist() for k, v in theta.items()},
        ranks,
        n_ranked,
        ess,
        idata if task.keep_idata else None,
    )


def _bins(n_sims: int, n_values: int, bins: int | None) -> np.ndarray:
    """Bin edges on the rank values ``0..n_values-1``: about 5+ expected per bin."""
    if bins is None:
        bins = max(2, min(20, n_sims // 5))
    bins = max(1, min(int(bins), n_values))
    return np.unique(np.round(np.linspace(0, n_values, bins + 1)).astype(int))


def uniformity(
    ranks: pd.DataFrame, ranked_draws: int, *, alpha: float = 0.001, bins: int | None = None
) -> pd.DataFrame:
    """Per parameter: is its rank distribution uniform on ``0..ranked_draws``?

    Parameters
    ----------
    ranks : DataFrame
        Columns ``simulation``, ``parameter``, ``rank`` (``ranks.csv``).
    ranked_draws : int
        L, the number of posterior draws each rank was taken among.
    alpha : float
        Level of both tests: ``calibrated`` means χ² p-value > alpha **and** the rank
        ECDF inside the simultaneous 1 − alpha band.
    bins : int, optional
        Bins of the χ² test (default: ``n_sims // 5``, between 2 and 20, so that about
        five simulations are expected in each).

    Returns
    -------
    DataFrame
        One row per parameter with :data:`SUMMARY_COLUMNS`: ``chi2`` and ``p_value``
        (Pearson, ``bins − 1`` degrees of freedom, expected counts from the number of
        rank values in each bin); ``ecdf_in_band`` and ``max_ecdf_diff``, the largest
        |ECDF − uniform CDF| of the fractional ranks ``(r + ½)/(L + 1)``.
    """
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    n_values = int(ranked_draws) + 1
    rows = []
    for parameter, group in ranks.groupby("parameter", sort=False):
        r = group["rank"].to_numpy(dtype=int)
        if r.min() < 0 or r.max() > ranked_draws:
            raise ValueError(f"ranks of {parameter} fall outside 0..{ranked_draws}")
        n = r.size
        edges = _bins(n, n_values, bins)
        observed = np.histogram(r, bins=edges)[0]
        expected = n * np.diff(edges) / n_values
        chi2 = float(((observed - expected) ** 2 / expected).sum())
        p = float(stats.chi2.sf(chi2, df=len(observed) - 1)) if len(observed) > 1 else 1.0
        # ECDF of the fractional ranks at k/(L+1): P(r < k) = k/(L+1) exactly.
        z = np.arange(1, n_values) / n_values
        ecdf = (r[None, :] < np.arange(1, n_values)[:, None]).mean(axis=1)
        lower, upper = ecdf_confidence_band(n, z, z, prob=1 - alpha)
        inside = bool(np.all((ecdf >= lower - 1e-12) & (ecdf <= upper + 1e-12)))
        rows.append(
            {
                "parameter": parameter,
                "n_sims": n,
                "bins": len(observed),
                "chi2": chi2,
                "p_value": p,
                "ecdf_in_band": inside,
                "max_ecdf_diff": float(np.max(np.abs(ecdf - z))),
                "calibrated": bool(p > alpha and inside),
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
