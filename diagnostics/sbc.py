"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

If θ̃ ~ p(θ), ỹ ~ p(y | θ̃) and θ₁ … θ_L are draws from the posterior p(θ | ỹ), then the
rank r = #{ℓ : θ_ℓ < θ̃} is uniform on {0, …, L} for every scalar parameter — whatever
the model — exactly when the sampler draws from the right posterior (Talts et al.,
Theorem 1). A sampler that is biased, too narrow or too wide bends the rank
distribution (∪-shape: posterior too narrow; ∩-shape: too wide; a slope: biased).

The pieces, each usable alone:

* :func:`prior_draw` — θ̃ and ỹ from the model's NumPyro program, its observed sites
  ``uncondition``-ed, so the prior is the model's own (no hand-written simulator to
  drift out of step with it).
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


def _observed_keys(spec: models.ModelSpec, data: Mapping[str, Any]) -> dict[str, str]:
    """Observed site -> the ``data`` key holding its values (by name, else by value)."""
    from numpyro import handlers

    trace = handlers.trace(handlers.seed(spec.numpyro, 0)).get_trace(**data)
    out = {}
    for name, site in trace.items():
        if site["type"] != "sample" or not site["is_observed"]:
            continue
        value = np.asarray(site["value"])
        if name in data and np.shape(data[name]) == value.shape:
            out[name] = name
            continue
        same = [
            k
            for k, v in data.items()
            if np.shape(v) == value.shape and np.array_equal(np.asarray(v), value)
        ]
        if len(same) != 1:
            raise ValueError(
                f"cannot tell which data entry feeds the observed site {name!r} of "
                f"{spec.name}; name the data key after the site"
            )
        out[name] = same[0]
    if not out:
        raise ValueError(f"{spec.name} observes nothing, so there is nothing to calibrate")
    return out


@float64()  # a seed gives the same θ̃ whatever the global flag (and every sampler is float64)
def prior_draw(
    spec: models.ModelSpec, data: Mapping[str, Any], seed: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """θ̃ ~ p(θ) and ỹ ~ p(y | θ̃) from the model's own NumPyro program.

    Parameters
    ----------
    spec : ModelSpec
        A registry model with a NumPyro program.
    data : mapping
        Its data: everything that is not observed (sizes, covariates, hyperparameters)
        is kept; the observed entries are replaced by the simulated ỹ.
    seed : int

    Returns
    -------
    theta : dict
        The model's parameters (``spec.params``) at the prior draw.
    data : dict
        ``data`` with the observations replaced, in their original dtype.
    """
    import jax
    from numpyro import handlers

    if spec.numpyro is None:
        raise ValueError(f"{spec.name} has no NumPyro program; SBC draws from the prior through it")
    keys = _observed_keys(spec, data)
    model = handlers.uncondition(spec.numpyro)
    trace = handlers.trace(handlers.seed(model, jax.random.PRNGKey(seed))).get_trace(**data)
    theta = {name: np.asarray(trace[name]["value"]) for name in spec.params if name in trace}
    missing = [name for name in spec.params if name not in trace]
    if missing:
        raise ValueError(f"{spec.name}'s NumPyro program has no site {missing[0]!r}")
    new = dict(data)
    for site, key in keys.items():
        original = np.asarray(data[key])
        new[key] = np.asarray(trace[site]["value"]).astype(original.dtype)
    return theta, new


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
