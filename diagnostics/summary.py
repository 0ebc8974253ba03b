"""Posterior summaries, checks against exact answers, the sampler comparison table, and
the one verdict on a run that every page shows.

Built on ArviZ (``ess``, ``rhat``, ``mcse``): nothing here re-implements a diagnostic
ArviZ already has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:  # ArviZ takes ~3 s to import: only the functions that use it do
    import arviz as az

__all__ = [
    "COMPARE_COLUMNS",
    "ESS_MIN",
    "RHAT_MAX",
    "Z_MAX",
    "Moments",
    "Verdict",
    "compare",
    "flat_draws",
    "moments",
    "verdict",
    "z_scores",
]

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
    "sd_ratio_worst",
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


_Z_COLUMNS = ["parameter", "statistic", "estimate", "truth", "mcse", "mcse_reference", "z"]


def z_scores(idata: az.InferenceData, reference: Mapping[str, Any]) -> pd.DataFrame:
    """Bias of posterior mean and sd against a reference, in Monte Carlo standard errors.

    Parameters
    ----------
    idata : InferenceData
    reference : mapping of str to :class:`models.Exact`
        Objects with ``mean`` and ``sd`` arrays (the variable's shape), and optionally
        ``mcse_mean`` / ``mcse_sd`` when the reference is itself a Monte Carlo estimate
        (:func:`diagnostics.reference`). Variables absent from ``idata`` are skipped;
        variables of ``idata`` absent from the reference are not compared.

    Returns
    -------
    DataFrame
        One row per (element, statistic): ``parameter, statistic, estimate, truth,
        mcse, mcse_reference, z``. ``mcse`` is the run's own: ArviZ's
        ``mcse(method="mean")`` or ``mcse(method="sd")``; ``mcse_reference`` is the
        reference's (0 for a closed form). Then

        ``z = (estimate − truth) / sqrt(mcse² + mcse_reference²)``

    Notes
    -----
    The run and a Monte Carlo reference are independent estimates, so the variance of
    their difference is the sum of their variances: dividing by the run's MCSE alone
    would count the reference's own noise as the run's bias. For a correct sampler ``z``
    is then about N(0, 1) whichever kind the reference is.
    """
    rows = []
    post = idata.posterior
    names = [n for n in reference if n in post]
    if not names:
        return pd.DataFrame(columns=_Z_COLUMNS)
    import arviz as az

    mcse_mean = az.mcse(idata, var_names=names, method="mean")
    mcse_sd = az.mcse(idata, var_names=names, method="sd")
    for name in names:
        ref = reference[name]
        values = post[name].values
        shape = values.shape[2:]
        flat = values.reshape(-1, *shape)
        for statistic, estimate, truth, mcse, mcse_ref in (
            (
                "mean",
                flat.mean(axis=0),
                ref.mean,
                mcse_mean[name].values,
                getattr(ref, "mcse_mean", None),
            ),
            (
                "sd",
                flat.std(axis=0, ddof=1),
                ref.sd,
                mcse_sd[name].values,
                getattr(ref, "mcse_sd", None),
            ),
        ):
            estimate = np.broadcast_to(estimate, shape)
            truth = np.broadcast_to(np.asarray(truth, float), shape)
            mcse = np.broadcast_to(mcse, shape)
            mcse_ref = np.broadcast_to(np.asarray(0.0 if mcse_ref is None else mcse_ref), shape)
            for label, e, t, m, r in zip(
                _labels(name, shape),
                estimate.ravel(),
                truth.ravel(),
                mcse.ravel(),
                mcse_ref.ravel(),
                strict=True,
            ):
                se = np.hypot(m, r)
                if np.isnan(se):  # ArviZ could not estimate an MCSE: no verdict
                    z = np.nan
                else:
                    z = (e - t) / se if se > 0 else (0.0 if e == t else np.inf)
                rows.append(
                    {
                        "parameter": label,
                        "statistic": statistic,
                        "estimate": float(e),
                        "truth": float(t),
                        "mcse": float(m),
                        "mcse_reference": float(r),
                        "z": float(z),
                    }
                )
    return pd.DataFrame(rows, columns=_Z_COLUMNS)


def _sd_ratio_worst(z: pd.DataFrame) -> float:
    # The ratio farthest from 1 on the log scale, so that half as wide (0.5) and twice as
    # wide (2) count the same; 0 / 0 (a stuck chain against a point mass) says nothing.
    sd = z[z["statistic"] == "sd"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sd["estimate"].to_numpy(float) / sd["truth"].to_numpy(float)
        ratio = ratio[~np.isnan(ratio)]
        if not ratio.size:
            return float("nan")
        return float(ratio[np.argmax(np.abs(np.log(ratio)))])


def _summary_row(idata: az.InferenceData, reference) -> dict[str, Any]:
    import arviz as az
    import xarray as xr

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
        "sd_ratio_worst": float("nan"),
    }
    if reference:
        z = z_scores(idata, reference)
        row["max_abs_z"] = float(z["z"].abs().max()) if len(z) else float("nan")
        row["sd_ratio_worst"] = _sd_ratio_worst(z)
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
        The posterior to compare against: exact moments (``spec.exact(data)``), or a
        Monte Carlo reference (:func:`diagnostics.reference`, a long NUTS run, or
        :func:`diagnostics.load_reference`, a user's draws), whose own Monte Carlo error
        :func:`z_scores` adds to the run's. Without it ``max_abs_z`` and
        ``sd_ratio_worst`` are NaN.

    Returns
    -------
    DataFrame
        Indexed by run label, with the columns :data:`COMPARE_COLUMNS`:
        ``ess_bulk_min`` / ``ess_tail_min`` (worst element, ArviZ bulk/tail ESS),
        ``rhat_max`` (rank-normalised split R-hat), ``divergences`` (total),
        ``acceptance_rate`` (mean), ``compile_seconds``, ``sampling_seconds``,
        ``ess_bulk_per_second`` (``ess_bulk_min / sampling_seconds``) and
        ``max_abs_z``, the worst bias of a posterior mean or sd against the
        reference in Monte Carlo standard errors (:func:`z_scores`), and
        ``sd_ratio_worst``, the run's posterior sd over the reference's for the element
        where that ratio is farthest from 1 on the log scale (0.5: that element's
        posterior is half as wide as it should be; 2: twice as wide).

    Notes
    -----
    ``max_abs_z`` says whether a difference is real (beyond Monte Carlo noise);
    ``sd_ratio_worst`` says how large it is, in the one way that matters most for
    uncertainty: a sampler that explores too narrowly (a stuck chain, a variational
    approximation's underdispersion) shows a ratio below 1 however long it runs.

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


# ------------------------------------------------------------------------------ verdict
# Vehtari et al. (2021), sec. 4: use the draws only when the rank-normalised split R-hat is
# below 1.01 and the bulk ESS above 400 (100 per chain for four chains), so that the
# R-hat and MCSE estimates themselves are reliable.
RHAT_MAX = 1.01
ESS_MIN = 400
# For a correct sampler (posterior statistic − truth) / MCSE is about N(0, 1): |z| ≥ 4
# has probability 6e-5 per statistic, so over the few dozen z of a comparison a failing
# run is biased, not unlucky.
Z_MAX = 4.0


@dataclass(frozen=True)
class Verdict:
    """The judgement of one run (or of a sampler's worst over several runs).

    Attributes
    ----------
    passed : bool
        No check failed.
    problems : tuple of str
        One short phrase per failed check (``"R-hat 1.050 > 1.01"``), in the order R-hat,
        bulk ESS, bias, divergences; empty when ``passed``.
    line : str
        One line for a page: ``"pass: R-hat 1.003, max |z| 1.20, no divergences"`` (the
        numbers checked) or the problems joined by ``"; "``.
    """

    passed: bool
    problems: tuple[str, ...]
    line: str


def verdict(
    row: Mapping[str, Any],
    *,
    rhat_max: float = RHAT_MAX,
    ess_min: float | None = ESS_MIN,
    z_max: float = Z_MAX,
    require_reference: bool = False,
) -> Verdict:
    """Judge a run from its row of :func:`compare`'s table.

    Checks, in order: ``rhat_max ≤ rhat_max``; ``ess_bulk_min ≥ ess_min``; ``max_abs_z <
    z_max`` (bias of every posterior mean and sd against the reference, in Monte Carlo
    standard errors); no ``divergences``. A NaN R-hat or ESS fails its check (ArviZ could
    not estimate it: too few draws, or stuck chains).

    Parameters
    ----------
    row : mapping
        A row of :func:`compare` (a ``pandas.Series``), or a dict with the same keys, e.g.
        a sampler's worst values over seeds. Keys used: ``rhat_max``, ``ess_bulk_min``
        (unless ``ess_min`` is None), ``max_abs_z``, ``divergences`` (absent = 0).
    rhat_max : float
        Largest acceptable R-hat (default :data:`RHAT_MAX`, 1.01).
    ess_min : float or None
        Smallest acceptable worst bulk ESS (default :data:`ESS_MIN`, 400); ``None`` skips
        the check, for short illustrative runs that say so on their page.
    z_max : float
        Bias bound in MCSE (default :data:`Z_MAX`, 4).
    require_reference : bool
        With ``True`` a NaN ``max_abs_z`` fails (the bias was to be checked and could not
        be); by default it means "no reference" and the bias check is skipped.

    Returns
    -------
    Verdict

    References
    ----------
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021).
    Rank-normalization, folding, and localization: an improved R-hat for assessing
    convergence of MCMC. *Bayesian Analysis* 16(2), 667-718.

    Betancourt, M. (2017). A conceptual introduction to Hamiltonian Monte Carlo.
    arXiv:1701.02434, sec. 6.2 (divergences mark where the sampler cannot follow the
    posterior, so its estimates are biased).

    Examples
    --------
    >>> verdict({"rhat_max": 1.002, "ess_bulk_min": 900.0, "max_abs_z": 1.2}).line
    'pass: R-hat 1.002, bulk ESS 900, max |z| 1.20, no divergences'
    >>> verdict({"rhat_max": 1.05, "ess_bulk_min": 900.0, "max_abs_z": 5.0}).problems
    ('R-hat 1.050 > 1.01', 'bias |z| 5.0 ≥ 4')
    """
    problems, checked = [], []
    rhat = float(row["rhat_max"])
    if not rhat <= rhat_max:  # NaN fails
        problems.append(
            f"R-hat {rhat:.3f} > {rhat_max:g}" if np.isfinite(rhat) else "R-hat not estimated"
        )
    checked.append(f"R-hat {rhat:.3f}")
    if ess_min is not None:
        ess = float(row["ess_bulk_min"])
        if not ess >= ess_min:
            problems.append(
                f"bulk ESS {ess:.0f} < {ess_min:g}"
                if np.isfinite(ess)
                else "bulk ESS not estimated"
            )
        checked.append(f"bulk ESS {ess:.0f}")
    z = float(row["max_abs_z"])
    if np.isnan(z):
        if require_reference:
            problems.append("no bias check (max |z| is NaN)")
        checked.append("no reference for the bias")
    else:
        if not z < z_max:
            problems.append(f"bias |z| {z:.1f} ≥ {z_max:g}")
        checked.append(f"max |z| {z:.2f}")
    divergences = row.get("divergences", 0)
    n = 0 if pd.isna(divergences) else int(divergences)
    if n > 0:
        problems.append(f"{n} divergence{'s' if n > 1 else ''}")
    checked.append("no divergences")
    if problems:
        return Verdict(False, tuple(problems), "; ".join(problems))
    return Verdict(True, (), "pass: " + ", ".join(checked))
