"""Posterior summaries, checks against exact answers, and the sampler comparison table.

Built on ArviZ (``ess``, ``rhat``, ``mcse``): nothing here re-implements a diagnostic
ArviZ already has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

__all__ = ["COMPARE_COLUMNS", "Moments", "compare", "flat_draws", "moments", "z_scores"]

COMPARE_COLUMNS = (
    "sampler",
    "seed",
    "ess_bulk_min",
    "ess_tail_min",
    "rhat_max",
    "divergences",
    "acceptance_rate",
    "compile_seconds",
    "sampling_seconds",
    "ess_bulk_per_second",
    "max_abs_z",
)


def _labels(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


def flat_draws(idata: az.InferenceData, var_names=None) -> pd.DataFrame:
    """Posterior draws as a table: one column per scalar element (``w[0]``), chains stacked."""
    post = idata.posterior
    names = list(var_names) if var_names is not None else list(post.data_vars)
    cols = {}
    for name in names:
        values = post[name].values
        flat = values.reshape(values.shape[0] * values.shape[1], -1)
        for j, label in enumerate(_labels(name, values.shape[2:])):
            cols[label] = flat[:, j]
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class Moments:
    """Topic 1's vocabulary applied to a posterior.

    Attributes
    ----------
    table : DataFrame
        One row per scalar element: ``mean, median, mode, variance, sd``.
    cov : DataFrame
        Covariance matrix over all elements (the same labels as ``table``'s index).
    """

    table: pd.DataFrame
    cov: pd.DataFrame


def _kde_mode(x: np.ndarray) -> float:
    # The mode of a continuous marginal, read off a Gaussian KDE on a fine grid
    # (the raw draws have no repeated values to count).
    if np.ptp(x) == 0:
        return float(x[0])
    kde = stats.gaussian_kde(x)
    grid = np.linspace(x.min(), x.max(), 512)
    return float(grid[np.argmax(kde(grid))])


def moments(idata: az.InferenceData, var_names=None) -> Moments:
    """Mean, median, mode (MAP estimate of each marginal), variance and covariance.

    Parameters
    ----------
    idata : InferenceData
        Any result of :func:`inference.sample`.
    var_names : sequence of str, optional
        Variables to summarise (default: all posterior variables).

    Notes
    -----
    The mode is the maximum of a kernel density estimate of each marginal: the
    marginal MAP estimate, which for a skewed posterior differs from the mean and
    median (course topic 1). Variances use ``ddof=1``.
    """
    draws = flat_draws(idata, var_names)
    table = pd.DataFrame(
        {
            "mean": draws.mean(),
            "median": draws.median(),
            "mode": draws.apply(lambda c: _kde_mode(c.to_numpy())),
            "variance": draws.var(ddof=1),
            "sd": draws.std(ddof=1),
        }
    )
    return Moments(table, draws.cov(ddof=1))


def z_scores(idata: az.InferenceData, reference: Mapping[str, Any]) -> pd.DataFrame:
    """Bias of posterior mean and sd against a reference, in Monte Carlo standard errors.

    Parameters
    ----------
    idata : InferenceData
    reference : mapping of str to :class:`models.Exact`
        Objects with ``mean`` and ``sd`` arrays (the variable's shape). Variables
        absent from ``idata`` are skipped.

    Returns
    -------
    DataFrame
        One row per (element, statistic): ``parameter, statistic, estimate, truth,
        mcse, z`` with ``z = (estimate − truth) / mcse``; ``mcse`` is ArviZ's
        ``mcse(method="mean")`` or ``mcse(method="sd")``.
    """
    rows = []
    post = idata.posterior
    names = [n for n in reference if n in post]
    if not names:
        return pd.DataFrame(columns=["parameter", "statistic", "estimate", "truth", "mcse", "z"])
    mcse_mean = az.mcse(idata, var_names=names, method="mean")
    mcse_sd = az.mcse(idata, var_names=names, method="sd")
    for name in names:
        values = post[name].values
        shape = values.shape[2:]
        flat = values.reshape(-1, *shape)
        for statistic, estimate, truth, mcse in (
            ("mean", flat.mean(axis=0), reference[name].mean, mcse_mean[name].values),
            ("sd", flat.std(axis=0, ddof=1), reference[name].sd, mcse_sd[name].values),
        ):
            estimate = np.broadcast_to(estimate, shape)
            truth = np.broadcast_to(np.asarray(truth, float), shape)
            mcse = np.broadcast_to(mcse, shape)
            for label, e, t, m in zip(
                _labels(name, shape), estimate.ravel(), truth.ravel(), mcse.ravel(), strict=True
            ):
                if np.isnan(m):  # ArviZ could not estimate the MCSE: no verdict
                    z = np.nan
                else:
                    z = (e - t) / m if m > 0 else (0.0 if e == t else np.inf)
                rows.append(
                    {
                        "parameter": label,
                        "statistic": statistic,
                        "estimate": float(e),
                        "truth": float(t),
                        "mcse": float(m),
                        "z": float(z),
                    }
                )
    return pd.DataFrame(rows)


def _summary_row(idata: az.InferenceData, reference) -> dict[str, Any]:
    post = idata.posterior
    ess_bulk = az.ess(idata, method="bulk")
    ess_tail = az.ess(idata, method="tail")
    rhat = az.rhat(idata)

    def extreme(ds, fn):
        vals = [np.asarray(ds[v].values, float).ravel() for v in ds.data_vars]
        vals = np.concatenate(vals) if vals else np.array([np.nan])
        vals = vals[np.isfinite(vals)]
        return float(fn(vals)) if vals.size else float("nan")

    stats_ = idata.sample_stats if "sample_stats" in idata.groups() else xr.Dataset()
    attrs = {**stats_.attrs, **post.attrs}
    sampling = float(attrs.get("sampling_seconds", np.nan))
    ess_min = extreme(ess_bulk, np.min)
    row = {
        "sampler": attrs.get("sampler", ""),
        "seed": attrs.get("seed", np.nan),
        "ess_bulk_min": ess_min,
        "ess_tail_min": extreme(ess_tail, np.min),
        "rhat_max": extreme(rhat, np.max),
        "divergences": int(stats_["diverging"].values.sum()) if "diverging" in stats_ else 0,
        "acceptance_rate": float(stats_["acceptance_rate"].mean())
        if "acceptance_rate" in stats_
        else float("nan"),
        "compile_seconds": float(attrs.get("compile_seconds", np.nan)),
        "sampling_seconds": sampling,
        "ess_bulk_per_second": ess_min / sampling if sampling > 0 else float("nan"),
        "max_abs_z": float("nan"),
    }
    if reference:
        z = z_scores(idata, reference)["z"].abs()
        row["max_abs_z"] = float(z.max()) if len(z) else float("nan")
    return row


def compare(
    idatas: Mapping[str, az.InferenceData], reference: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """One row per run: the sampler comparison table.

    Parameters
    ----------
    idatas : mapping of str to InferenceData
        Runs keyed by a label (e.g. ``"nuts:pymc/seed=3"``).
    reference : mapping of str to :class:`models.Exact`, optional
        Exact posterior moments (``spec.exact(data)``); without it ``max_abs_z`` is NaN.

    Returns
    -------
    DataFrame
        Indexed by run label, with the columns :data:`COMPARE_COLUMNS`:
        ``ess_bulk_min`` / ``ess_tail_min`` (worst element, ArviZ bulk/tail ESS),
        ``rhat_max`` (rank-normalised split R-hat), ``divergences`` (total),
        ``acceptance_rate`` (mean), ``compile_seconds``, ``sampling_seconds``,
        ``ess_bulk_per_second`` (``ess_bulk_min / sampling_seconds``) and
        ``max_abs_z``, the worst bias of a posterior mean or sd against the
        reference in Monte Carlo standard errors (:func:`z_scores`).

    See Also
    --------
    arviz.ess, arviz.rhat, arviz.mcse

    References
    ----------
    Vehtari, A. et al. (2021). Rank-normalization, folding, and localization: an
    improved R-hat for assessing convergence of MCMC. Bayesian Analysis 16(2).
    """
    rows = {label: _summary_row(idata, reference) for label, idata in idatas.items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(COMPARE_COLUMNS))
    table.index.name = "run"
    return table
