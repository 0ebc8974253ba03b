"""A reference posterior for any model: a long, checked NUTS run or a user's own draws.

Only some registry models have a closed-form posterior (``spec.exact(data)``). For the
others, the sampler comparison measures bias against a long run of a trusted sampler
(NUTS), or against draws the user brings (a Stan fit converted by ArviZ). Such a
reference is itself a Monte Carlo estimate, so it is used only when it passes the same
convergence checks a run must pass, with a larger effective sample size, and its own
Monte Carlo standard error travels with its moments (:class:`models.Exact`'s
``mcse_mean`` and ``mcse_sd``) so that :func:`diagnostics.z_scores` counts it.

A :class:`Reference` is a ``Mapping[str, Exact]``: it drops into
:func:`diagnostics.compare` and :func:`diagnostics.z_scores` where a closed form would.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models import Exact
from .summary import RHAT_MAX, _labels

if TYPE_CHECKING:  # ArviZ takes ~3 s to import: only the functions that use it do
    import arviz as az

__all__ = [
    "REFERENCE_ESS_MIN",
    "BadReference",
    "Reference",
    "load_reference",
    "reference",
    "reference_from_idata",
]

# The smallest worst bulk ESS of a reference. Its MCSE of a mean is then sd / √2000 ≈
# 0.022 sd, against about sd / √400 = 0.05 sd for a run that just passes the verdict's
# ESS bound (diagnostics.ESS_MIN): the combined standard error of z_scores grows by
# √(1 + 400/2000) ≈ 1.10, so the reference's own noise costs the bias check about a tenth
# of its power, no more.
REFERENCE_ESS_MIN = 2000

# Where Reference.save leaves its settings, so that load_reference restores them.
_SOURCE_ATTR = "reference_source"
_MIN_ESS_ATTR = "reference_min_ess"


class BadReference(ValueError):
    """A reference posterior that must not be used.

    The message is one line with the reason and the fix, e.g. ``"reference run not
    converged: R-hat 1.034 > 1.01 for sigma; run it longer (more draws) or reparameterise
    the model"``; the CLI prints it as it is and exits with status 2.
    """


@dataclass(frozen=True, eq=False)
class Reference(Mapping[str, Exact]):
    """Reference moments estimated from draws, with the checks they passed.

    A read-only mapping from variable name to :class:`models.Exact` (``mean``, ``sd``,
    ``mcse_mean``, ``mcse_sd``), so it can be passed wherever a closed-form reference is.

    Attributes
    ----------
    moments : dict of str to Exact
        One entry per continuous posterior variable, in the variable's shape; ``sd``
        uses ``ddof=1`` as :func:`diagnostics.z_scores` does, and ``mcse_mean`` /
        ``mcse_sd`` are ArviZ's ``mcse(method="mean")`` / ``mcse(method="sd")``.
    idata : InferenceData
        The draws the moments come from.
    source : str
        Where they come from: ``"long NUTS run: 4 chains × 5000 draws (nuts)"`` or
        ``"draws from FILE"``.
    checks : dict
        What the draws passed: ``rhat_max`` (worst rank-normalised split R-hat),
        ``ess_bulk_min`` (worst bulk ESS), ``divergences`` (total) and
        ``worst_parameter`` (the element with the smallest bulk ESS, the one that
        limits the reference's precision, e.g. ``"w[2]"``).
    min_ess : float
        The bulk ESS the draws were required to reach.
    """

    moments: dict[str, Exact]
    idata: az.InferenceData = field(repr=False)
    source: str
    checks: dict[str, Any]
    min_ess: float = REFERENCE_ESS_MIN

    def __getitem__(self, name: str) -> Exact:
        return self.moments[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.moments)

    def __len__(self) -> int:
        return len(self.moments)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the draws to ``path`` (netCDF) for :func:`load_reference`.

        The source and ``min_ess`` go into ``posterior.attrs``, so a ``reference.nc``
        kept in a run folder is reused as it was made, without recomputing. The file is
        written beside ``path`` and renamed into place: a reader sees the old file or
        the complete new one, never a partial write. ``self.idata`` is not modified.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        posterior = self.idata.posterior.copy()  # shallow: new attrs, shared arrays
        posterior.attrs.update({_SOURCE_ATTR: self.source, _MIN_ESS_ATTR: float(self.min_ess)})
        groups = {g: self.idata[g] for g in self.idata.groups()}
        groups["posterior"] = posterior
        # A private folder for the new file, so that its name is unique and netCDF creates
        # it with the permissions the umask gives (mkstemp's file would stay 0600).
        folder = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            import arviz as az

            tmp = os.path.join(folder, path.name)
            az.InferenceData(**groups).to_netcdf(tmp)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return path


def reference(
    target: Any,
    *,
    data: Mapping[str, Any] | None = None,
    sampler: str | None = None,
    chains: int = 4,
    draws: int = 5000,
    tune: int = 2000,
    seed: int = 20_241,
    min_ess: float = REFERENCE_ESS_MIN,
    progress: bool = False,
    **options: Any,
) -> Reference:
    """A reference posterior from one long, checked NUTS run.

    Parameters
    ----------
    target : str, ModelSpec, pm.Model or callable
        Anything :func:`inference.sample` takes.
    data : mapping, optional
        As for :func:`inference.sample` (a registry model's default: its built-in data).
    sampler : str, optional
        Default ``"nuts"`` (NumPyro NUTS), or ``"nuts:pymc"`` for a PyMC model with
        discrete free variables: PyMC then samples those with its Gibbs-type steps and
        the rest with NUTS.
    chains, draws, tune, seed : int
        The run's length and seed. The default seed differs from the comparison's
        usual small seeds, so the reference is never the very run it judges.
    min_ess : float
        Smallest acceptable worst bulk ESS (default :data:`REFERENCE_ESS_MIN`, 2000).
    progress : bool
        Show the backend's progress bar.
    **options
        Passed to :func:`inference.sample` (e.g. ``target_accept=0.95``).

    Returns
    -------
    Reference
        Moments of every continuous posterior variable. Discrete variables (integer
        or boolean draws) are left out: only continuous parameters are compared.

    Raises
    ------
    BadReference
        When the run is not fit to be a reference, naming the worst parameter, the
        number and the fix: rank-normalised split R-hat above :data:`RHAT_MAX` (1.01),
        any divergence, or a worst bulk ESS below ``min_ess``.

    Notes
    -----
    The checks are those of Vehtari et al. (2021) that a run must pass to be trusted at
    all, with a larger ESS: the reference's Monte Carlo error is added to each run's in
    :func:`diagnostics.z_scores`, so it must be small beside it. A divergence means NUTS
    could not follow the posterior somewhere (Betancourt 2017), so its moments are
    biased however long it runs: no divergence is tolerated.

    References
    ----------
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. & Bürkner, P.-C. (2021).
    Rank-normalization, folding, and localization: an improved R-hat for assessing
    convergence of MCMC. *Bayesian Analysis* 16(2), 667-718.

    Betancourt, M. (2017). A conceptual introduction to Hamiltonian Monte Carlo.
    arXiv:1701.02434, sec. 6.2.

    Examples
    --------
    >>> from bayesmin import diagnostics, inference
    >>> ref = diagnostics.reference("normal_normal", draws=1000, min_ess=1000)
    >>> run = inference.sample("normal_normal", draws=500, progress=False)
    >>> ref.source
    'long NUTS run: 4 chains × 1000 draws (nuts)'
    >>> bool(diagnostics.compare({"nuts": run}, ref).loc["nuts", "max_abs_z"] < 4)
    True
    """
    from .. import inference
    from ..inference.sampling import resolve_target

    min_ess = _check_min_ess(min_ess)
    if sampler is None:
        sampler = (
            "nuts:pymc" if _has_discrete_pymc_variables(resolve_target(target, data)) else "nuts"
        )
    idata = inference.sample(
        target,
        sampler,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        data=data,
        progress=progress,
        **options,
    )
    family = sampler.split(":")[0].strip().lower()
    kind = "NUTS run" if family == "nuts" else "run"
    source = f"long {kind}: {chains} chains × {draws} draws ({sampler})"
    return _build(idata, source=source, min_ess=min_ess, run_draws=int(draws))


def reference_from_idata(
    idata: az.InferenceData, *, source: str, min_ess: float = REFERENCE_ESS_MIN
) -> Reference:
    """A reference posterior from draws the user supplies (e.g. a Stan fit via ArviZ).

    The same moments and the same checks as :func:`reference`: at least two chains
    (R-hat compares chains, so one chain cannot show that it has not converged),
    R-hat ≤ :data:`RHAT_MAX`, no divergences where ``sample_stats`` records them, and a
    worst bulk ESS of at least ``min_ess``. Discrete (integer or boolean) variables are
    left out of the moments.

    Parameters
    ----------
    idata : InferenceData
        Draws in its ``posterior`` group, shaped ``(chain, draw, ...)``. Not modified.
    source : str
        Where they come from, for pages (``"draws from fit.nc"``).
    min_ess : float
        Smallest acceptable worst bulk ESS (default :data:`REFERENCE_ESS_MIN`).

    Raises
    ------
    BadReference
        When the draws fail a check, or there are none.
    """
    return _build(idata, source=source, min_ess=_check_min_ess(min_ess), run_draws=None)


def load_reference(path: str | os.PathLike, *, min_ess: float | None = None) -> Reference:
    """A reference posterior from a netCDF file of draws (``az.from_netcdf``).

    Reads what :meth:`Reference.save` writes, restoring its source and ``min_ess``, or
    any InferenceData saved with ``idata.to_netcdf`` (source ``"draws from PATH"``).

    Parameters
    ----------
    path : str or PathLike
    min_ess : float, optional
        Smallest acceptable worst bulk ESS; default: the one saved with the file, else
        :data:`REFERENCE_ESS_MIN`.

    Raises
    ------
    FileNotFoundError
        ``"no such file: PATH"``.
    BadReference
        When the file cannot be read as InferenceData, has no posterior group or no
        draws, or its draws fail the checks of :func:`reference_from_idata`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    import arviz as az

    try:
        # Eager: the file is closed once read, so the reference can be saved over it.
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(str(path))
    except Exception as err:  # the formats' errors vary (OSError, ValueError, ...)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise BadReference(
            f"cannot read {path} as InferenceData ({reason}); give a netCDF file written "
            "by idata.to_netcdf (e.g. az.from_cmdstanpy(fit).to_netcdf(path))"
        ) from None
    if "posterior" not in idata.groups():
        raise BadReference(
            f"{path} has no posterior group; save the reference draws as an "
            "InferenceData's posterior (e.g. az.from_cmdstanpy(fit).to_netcdf(path))"
        )
    attrs = idata.posterior.attrs
    source = str(attrs.get(_SOURCE_ATTR, f"draws from {path}"))
    if min_ess is None:
        min_ess = float(attrs.get(_MIN_ESS_ATTR, REFERENCE_ESS_MIN))
    return reference_from_idata(idata, source=source, min_ess=min_ess)


# ------------------------------------------------------------------------------ internals


def _check_min_ess(min_ess: Any) -> float:
    try:
        value = float(min_ess)
    except (TypeError, ValueError):
        value = math.nan
    if not value >= 0:
        raise ValueError(f"min_ess must be a number >= 0, got {min_ess!r}")
    return value


def _has_discrete_pymc_variables(target: Any) -> bool:
    """Whether ``inference.sample`` would run NumPyro NUTS on a PyMC model it cannot take.

    Registry models with a NumPyro program are sampled from it; otherwise the PyMC model
    is, and NumPyro NUTS needs every free variable continuous.
    """
    if target.numpyro_fn is not None:
        return False
    import pymc

    model = target.pymc()
    return any(rv.dtype in pymc.vartypes.discrete_types for rv in model.free_RVs)


def _build(
    idata: az.InferenceData, *, source: str, min_ess: float, run_draws: int | None
) -> Reference:
    """Check the draws and estimate the moments; ``run_draws`` is set for our own run."""
    import arviz as az

    what = "reference run" if run_draws is not None else "reference draws"
    if "posterior" not in idata.groups():
        raise BadReference(
            f"{what}: no posterior group; give an InferenceData with the draws in its posterior"
        )
    post = idata.posterior
    names = [n for n in post.data_vars if post[n].dtype.kind == "f"]
    if not names or post.sizes.get("draw", 0) == 0:
        raise BadReference(
            f"{what}: no draws of a continuous variable; give an InferenceData whose "
            "posterior has float draws shaped (chain, draw, ...)"
        )
    chains = post.sizes.get("chain", 1)
    if chains < 2:
        raise BadReference(
            f"{what}: {chains} chain, and R-hat needs several to show convergence; "
            "give at least 2 chains (4 is usual)"
        )

    rhat = _per_element(az.rhat(idata, var_names=names), post, names)
    ess = _per_element(az.ess(idata, var_names=names, method="bulk"), post, names)
    if not rhat:  # every element constant: nothing to check, nothing to compare
        raise BadReference(f"{what}: every draw is the same; give draws of a posterior")
    worst_rhat = max(rhat, key=lambda k: -math.inf if math.isnan(rhat[k]) else rhat[k])
    nan_rhat = [k for k, v in rhat.items() if math.isnan(v)]
    if nan_rhat:
        raise BadReference(
            f"{what} not converged: R-hat cannot be estimated for {nan_rhat[0]}; "
            + _fix_longer(run_draws)
        )
    if rhat[worst_rhat] > RHAT_MAX:
        raise BadReference(
            f"{what} not converged: R-hat {rhat[worst_rhat]:.3f} > {RHAT_MAX:g} for "
            f"{worst_rhat}; " + _fix_longer(run_draws)
        )

    stats_ = idata.sample_stats if "sample_stats" in idata.groups() else None
    divergences = (
        int(stats_["diverging"].values.sum()) if stats_ is not None and "diverging" in stats_ else 0
    )
    if divergences:
        fix = (
            "raise target_accept (e.g. target_accept=0.95) or reparameterise the model"
            if run_draws is not None
            else "refit with a higher target acceptance (Stan's adapt_delta) or "
            "reparameterise the model"
        )
        s = "s" if divergences > 1 else ""
        raise BadReference(f"{what} biased: {divergences} divergence{s}; {fix}")

    worst_ess = min(ess, key=lambda k: math.inf if math.isnan(ess[k]) else ess[k])
    if not ess[worst_ess] >= min_ess:  # NaN fails
        if run_draws is not None and ess[worst_ess] > 0:
            need = math.ceil(run_draws * min_ess / ess[worst_ess] * 1.1)
            fix = f"run it longer (draws={need} or more)"
        else:
            fix = "give more draws"
        raise BadReference(
            f"{what} too short: bulk ESS {ess[worst_ess]:.0f} < {min_ess:g} for "
            f"{worst_ess}; {fix} or lower min_ess"
        )

    mcse_mean = az.mcse(idata, var_names=names, method="mean")
    mcse_sd = az.mcse(idata, var_names=names, method="sd")
    moments = {}
    for name in names:
        values = post[name].values
        flat = values.reshape(-1, *values.shape[2:])
        moments[name] = Exact(
            mean=np.asarray(flat.mean(axis=0)),
            sd=np.asarray(flat.std(axis=0, ddof=1)),
            mcse_mean=np.asarray(mcse_mean[name].values, float),
            mcse_sd=np.asarray(mcse_sd[name].values, float),
        )
    checks = {
        "rhat_max": rhat[worst_rhat],
        "ess_bulk_min": ess[worst_ess],
        "divergences": divergences,
        "worst_parameter": worst_ess,
    }
    return Reference(moments, idata, source, checks, min_ess)


def _per_element(ds, post, names) -> dict[str, float]:
    """A diagnostic per scalar element (``w[2]``), leaving out elements whose draws are
    all equal (a constant deterministic): ArviZ gives them NaN, and they have no
    Monte Carlo error to check."""
    out = {}
    for name in names:
        values = post[name].values
        shape = values.shape[2:]
        flat = values.reshape(-1, int(np.prod(shape, dtype=int)))
        constant = np.ptp(flat, axis=0) == 0
        diag = np.broadcast_to(np.asarray(ds[name].values, float), shape).ravel()
        for label, d, c in zip(_labels(name, shape), diag, constant, strict=True):
            if not c:
                out[label] = float(d)
    return out


def _fix_longer(run_draws: int | None) -> str:
    if run_draws is not None:
        return "run it longer (more draws) or reparameterise the model"
    return "give longer chains or reparameterise the model"
