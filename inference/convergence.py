"""Is a sampler's result to be trusted? One convergence check for every MCMC result.

:func:`check` judges an ``InferenceData`` by the rules of Vehtari et al. (2021):
rank-normalised split R-hat below 1.01, bulk and tail ESS of at least 100 per chain,
no divergent transitions; and it names the chains that sit in a different mode from
the rest. :func:`inference.sample` runs it on every result, records the verdict in
``attrs`` (``convergence``: one line, ``converged``: 0 or 1) and, where a run fails,
warns once with a :class:`ConvergenceWarning` naming the worst parameters and what to
do about them.

This module is part of ``inference`` (the sampler reports on its own result); the
comparison tables and page verdicts of ``diagnostics`` build on the same ArviZ numbers.

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner, P.-C. (2021).
Rank-normalization, folding, and localization: an improved R-hat for assessing
convergence of MCMC. *Bayesian Analysis* 16(2), 667–718.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

__all__ = ["Convergence", "ConvergenceWarning", "check", "is_variational", "record"]

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
# A chain is "stuck apart" when its mean of lp or of a parameter is this many within-chain
# standard deviations from the median chain's. For a chain that mixes within the
# posterior, its mean is off by about sd / sqrt(its ESS), a small fraction of an sd once
# the ESS per chain is more than a handful; a chain sitting in another mode is off by the
# distance between the modes, which is many within-mode sds when the modes are separated
# enough to trap a chain at all.
STUCK_SDS = 3.0
# ArviZ needs four draws per chain for any of its estimates (it returns NaN below).
MIN_DRAWS = 4
# Variational samplers: their "chains" are independent draws of q (inference.vi).
_VARIATIONAL = ("advi", "fullrank_advi")
_SHOWN = 3  # parameters named per problem in the one-line message


class ConvergenceWarning(UserWarning):
    """An MCMC result did not pass :func:`check`: its numbers are not yet to be trusted.

    The message names the worst parameters and the remedy. Silence it for deliberately
    short runs with ``inference.sample(..., check=False)`` or a warnings filter.
    """


@dataclass(frozen=True)
class Convergence:
    """The verdict of :func:`check` on one result.

    Attributes
    ----------
    ok : bool
        Every check that applies passed (or the result is not MCMC).
    problems : tuple of str
        One phrase per failed check, e.g. ``"R-hat 1.73 (mu[1], mu[0])"``.
    kinds : tuple of str
        Which checks failed: ``"rhat"``, ``"ess"``, ``"divergences"``, ``"stuck"``.
    worst : tuple of str
        The worst parameters, flattened (``theta[3]``), worst first.
    rhat_max, ess_bulk_min, ess_tail_min : float
        Over every parameter (NaN where it cannot be computed: one chain, < 4 draws).
    ess_min : float
        The ESS threshold applied: ``ess_per_chain_min × chains``.
    divergences : int
    stuck_chains : tuple of int
        Chains whose mean lp or parameter mean is far from the others'.
    chains, draws : int
    notes : tuple of str
        What could not be checked, and why (one chain; not MCMC).
    sampler : str
        The sampler spelling from ``attrs`` (for the remedy).
    mcmc : bool
        False for a variational result: nothing was checked (``ok`` is True).
    """

    ok: bool
    problems: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    worst: tuple[str, ...] = ()
    rhat_max: float = math.nan
    ess_bulk_min: float = math.nan
    ess_tail_min: float = math.nan
    ess_min: float = math.nan
    divergences: int = 0
    stuck_chains: tuple[int, ...] = ()
    chains: int = 0
    draws: int = 0
    notes: tuple[str, ...] = ()
    sampler: str = ""
    mcmc: bool = True

    @property
    def line(self) -> str:
        """One line for logs, the CLI and ``attrs["convergence"]``; a failed verdict's
        ends with its remedy."""
        notes = f" [{'; '.join(self.notes)}]" if self.notes else ""
        size = f"{self.chains} chain{'s' if self.chains != 1 else ''} × {self.draws} draws"
        if not self.mcmc:
            return f"not checked ({size}){notes}"
        if not self.ok:
            # The remedy travels with the verdict: pages and the CLI show this line alone.
            return (
                f"did not converge ({size}): {'; '.join(self.problems)}{notes}; "
                f"remedy: {self.remedy}"
            )
        parts = []
        if math.isfinite(self.rhat_max):
            parts.append(f"R-hat {self.rhat_max:.3f}")
        if math.isfinite(self.ess_bulk_min):
            parts.append(f"bulk ESS {self.ess_bulk_min:.0f}")
        if math.isfinite(self.ess_tail_min):
            parts.append(f"tail ESS {self.ess_tail_min:.0f}")
        parts.append("no divergences")
        return f"converged ({size}): {', '.join(parts)}{notes}"

    @property
    def remedy(self) -> str:
        """What to try, by what failed; empty when nothing did."""
        advice = []
        # R-hat just above its bound is as often a short run's noise as a real problem.
        marginal = "rhat" in self.kinds and self.rhat_max < 1.05
        if "ess" in self.kinds or marginal:
            target = max(400, int(self.ess_min)) if math.isfinite(self.ess_min) else 400
            advice.append(f"run longer (more draws) or pass until_ess={target}")
        if "rhat" in self.kinds or "stuck" in self.kinds:
            other = "" if self.sampler.startswith("nuts") else ", or another sampler (nuts)"
            advice.append(
                "a longer warm-up (tune), a reparameterisation (e.g. non-centred)" + other
            )
        if "divergences" in self.kinds:
            advice.append("raise target_accept or reparameterise")
        return "; ".join(advice)

    def message(self, model: str = "") -> str:
        """The warning's text: ``bayesmin: SAMPLER on MODEL did not converge: ...; remedy: ...``."""
        who = f"{self.sampler or 'the sampler'}" + (f" on {model}" if model else "")
        return (
            f"bayesmin: {who} did not converge: {'; '.join(self.problems)}; remedy: {self.remedy}"
        )


def is_variational(idata: az.InferenceData, sampler: str | None = None) -> bool:
    """Whether ``idata`` holds independent draws of a variational approximation
    (``advi*``, ``fullrank_advi*`` in ``attrs["sampler"]``), not Markov chains."""
    spelling = sampler if sampler is not None else str(idata.attrs.get("sampler", ""))
    return spelling.split(":")[0] in _VARIATIONAL


def _flat(ds: xr.Dataset) -> tuple[list[str], np.ndarray]:
    """Every scalar of ``ds`` as ``(names, values)``: names like ``theta[3]`` or
    ``L[0,1]`` (the coordinate labels, as ``az.summary`` writes them), values one row
    per scalar (its ``chain × draw`` draws, flattened; one number for a statistic)."""
    names: list[str] = []
    rows: list[np.ndarray] = []
    for var, da in ds.data_vars.items():
        lead = [d for d in ("chain", "draw") if d in da.dims]
        extra = [d for d in da.dims if d not in lead]
        arr = np.asarray(da.transpose(*lead, *extra).values, dtype=float)
        n_lead = int(np.prod([da.sizes[d] for d in lead]))
        rows.append(arr.reshape(n_lead, -1).T)
        if not extra:
            names.append(str(var))
            continue
        labels = [da.coords[d].values if d in da.coords else range(da.sizes[d]) for d in extra]
        names.extend(f"{var}[{','.join(map(str, label))}]" for label in itertools.product(*labels))
    return names, (np.concatenate(rows) if rows else np.empty((0, 0)))


@contextlib.contextmanager
def _numpy_arviz():
    """ArviZ's diagnostics in NumPy for the block, its Numba setting restored after.

    With Numba installed ArviZ compiles its autocovariance on first use in every process
    (about half a second, longer than the NumPy version takes on a run's draws); these
    checks run once per result, so a fresh process would pay it on every first call.
    """
    was_on = bool(az.Numba.numba_flag)
    if was_on:
        az.Numba.disable_numba()
    try:
        yield
    finally:
        if was_on:
            az.Numba.enable_numba()


def _per_scalar(ds: xr.Dataset, how: str) -> tuple[list[str], np.ndarray]:
    """ArviZ's R-hat (``how="rhat"``) or ESS (``"bulk"``, ``"tail"``) per scalar."""
    with _numpy_arviz():
        if how == "rhat":
            out = az.rhat(ds, method="rank")
        else:
            out = az.ess(ds, method=how)
    names, values = _flat(out)
    return names, values.reshape(-1)


def _stuck(
    quantities: Mapping[str, np.ndarray], stuck_sds: float
) -> tuple[tuple[int, ...], str, float]:
    """Chains whose mean of some quantity is far from the median chain's.

    ``quantities``: name -> array (chain, draw). The distance is in units of the pooled
    within-chain sd; the median over chains (not the mean) is the reference so that a
    minority of stuck chains cannot drag it. Returns the flagged chains, the quantity
    that separates them most and by how many sds.
    """
    flagged: set[int] = set()
    worst_name, worst_sds = "", 0.0
    for name, x in quantities.items():
        if not np.all(np.isfinite(x)):
            continue
        means = x.mean(axis=1)
        within = math.sqrt(float(np.mean(x.var(axis=1, ddof=1))))
        gap = np.abs(means - np.median(means))
        if float(gap.max()) <= 1e-12 * max(1.0, float(np.abs(means).max())):
            continue  # every chain has the same mean (a constant): nothing to say
        sds = gap / within if within > 0 else np.where(gap > 0, np.inf, 0.0)
        far = np.flatnonzero(sds > stuck_sds)
        if len(far):
            flagged.update(int(c) for c in far)
            if float(sds.max()) > worst_sds:
                worst_name, worst_sds = name, float(sds.max())
    return tuple(sorted(flagged)), worst_name, worst_sds


def _names(names: list[str], order: np.ndarray, bad: np.ndarray) -> str:
    shown = [names[i] for i in order if bad[i]][:_SHOWN]
    more = int(bad.sum()) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def check(
    idata: az.InferenceData,
    *,
    rhat_max: float = RHAT_MAX,
    ess_per_chain_min: float = ESS_PER_CHAIN_MIN,
    stuck_sds: float = STUCK_SDS,
    sampler: str | None = None,
) -> Convergence:
    """Judge whether an MCMC result has converged.

    Parameters
    ----------
    idata : arviz.InferenceData
        With a ``posterior`` shaped ``(chain, draw, ...)``; ``sample_stats.diverging``
        and ``sample_stats.lp`` are used where present.
    rhat_max : float
        Largest acceptable rank-normalised split R-hat (1.01, Vehtari et al. 2021).
    ess_per_chain_min : float
        Smallest acceptable bulk and tail ESS per chain: the threshold is
        ``ess_per_chain_min × chains`` (100 per chain, Vehtari et al. 2021, so that
        R-hat and the MCSEs themselves are reliable).
    stuck_sds : float
        A chain whose mean lp (or mean of a parameter) is further than this many pooled
        within-chain sds from the median chain's is reported as stuck.
    sampler : str, optional
        The sampler's spelling; default ``idata.attrs["sampler"]``. Variational ones
        (``advi*``, ``fullrank_advi*``) are not checked: their draws are independent.

    Returns
    -------
    Convergence
        ``ok`` and, where not, the problems, the worst parameters and the remedy.

    Notes
    -----
    R-hat compares between- and within-chain variance after rank-normalising and
    splitting each chain in two; bulk ESS is the ESS of the rank-normalised draws, tail
    ESS the smaller of the ESS of the 5% and 95% quantile indicators. With one chain
    R-hat is not computed (split R-hat of a single chain misses a chain stuck in one
    mode) and only the ESS is checked; with fewer than four draws nothing can be
    estimated and the run fails. Parameters that never change (constants) are skipped.

    The stuck-chain check adds to R-hat which chains are apart: per chain, the mean of
    ``lp`` and of each parameter is compared with the median over chains in units of
    the within-chain sd. A chain that explores the posterior has its mean within about
    ``sd / sqrt(ESS per chain)`` of the others; one trapped in another mode sits as far
    away as the modes are apart.

    References
    ----------
    Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner, P.-C. (2021).
    Rank-normalization, folding, and localization: an improved R-hat for assessing
    convergence of MCMC. *Bayesian Analysis* 16(2), 667–718.

    Examples
    --------
    >>> import numpy as np, arviz as az
    >>> rng = np.random.default_rng(0)
    >>> good = az.from_dict(posterior={"mu": rng.normal(size=(4, 1000))})
    >>> check(good).ok
    True
    >>> apart = az.from_dict(posterior={"mu": rng.normal(size=(4, 1000)) + [[0], [0], [0], [9]]})
    >>> v = check(apart)
    >>> v.ok, v.worst, v.stuck_chains
    (False, ('mu',), (3,))
    """
    spelling = sampler if sampler is not None else str(idata.attrs.get("sampler", ""))
    post = idata.posterior
    chains, draws = int(post.sizes.get("chain", 1)), int(post.sizes.get("draw", 0))
    base = dict(chains=chains, draws=draws, sampler=spelling)
    if is_variational(idata, spelling):
        return Convergence(ok=True, mcmc=False, notes=("not MCMC: independent draws of q",), **base)
    ess_min = float(ess_per_chain_min) * chains
    base["ess_min"] = ess_min
    if draws < MIN_DRAWS:
        return Convergence(
            ok=False,
            problems=(f"{draws} draw(s) per chain, too few to estimate R-hat or ESS",),
            kinds=("ess",),
            **base,
        )
    names, values = _flat(post)
    if not names:
        return Convergence(ok=True, notes=("no parameters",), **base)
    # Constants (a fixed deterministic) have no R-hat and a meaningless ESS.
    varies = np.nanmax(values, axis=1) > np.nanmin(values, axis=1)
    nan_draws = ~np.all(np.isfinite(values), axis=1)
    problems: list[str] = []
    kinds: list[str] = []
    notes: list[str] = []
    score = np.zeros(len(names))  # > 1: fails; the worst parameters have the largest
    with np.errstate(all="ignore"):
        _, bulk = _per_scalar(post, "bulk")
        _, tail = _per_scalar(post, "tail")
        if chains > 1:
            _, rhat = _per_scalar(post, "rhat")
        else:
            rhat = np.full(len(names), np.nan)
            notes.append("one chain: R-hat not computed, ESS only")
    use = varies & ~nan_draws
    if nan_draws.any():
        problems.append(f"non-finite draws ({_names(names, np.arange(len(names)), nan_draws)})")
        kinds.append("rhat")
        score[nan_draws] = np.inf
    rhat_u = np.where(use, rhat, np.nan)
    ess_u = np.where(use, np.fmin(bulk, tail), np.nan)
    rhat_top = float(np.nanmax(rhat_u)) if np.isfinite(rhat_u).any() else math.nan
    bulk_min = float(np.nanmin(np.where(use, bulk, np.nan))) if use.any() else math.nan
    tail_min = float(np.nanmin(np.where(use, tail, np.nan))) if use.any() else math.nan

    if chains > 1:
        bad_r = use & ~(rhat_u < rhat_max)  # NaN R-hat of a varying parameter fails too
        if bad_r.any():
            order = np.argsort(-np.nan_to_num(rhat_u, nan=np.inf))
            shown = f"{rhat_top:.3f}" if rhat_top < 1.1 else f"{rhat_top:.2f}"
            problems.append(f"R-hat {shown} ({_names(names, order, bad_r)})")
            kinds.append("rhat")
            score = np.maximum(score, np.nan_to_num((rhat_u - 1) / (rhat_max - 1), nan=np.inf))
    bad_e = use & ~(ess_u >= ess_min)
    if bad_e.any():
        order = np.argsort(np.nan_to_num(ess_u, nan=-np.inf))
        which = "bulk" if bulk_min <= tail_min else "tail"
        low = min(bulk_min, tail_min)
        problems.append(f"{which} ESS {low:.0f} < {ess_min:.0f} ({_names(names, order, bad_e)})")
        kinds.append("ess")
        score = np.maximum(score, np.nan_to_num(ess_min / ess_u, nan=np.inf, posinf=np.inf))

    stats = getattr(idata, "sample_stats", None)
    divergences = 0
    if stats is not None and "diverging" in stats:
        divergences = int(np.asarray(stats["diverging"].values, dtype=bool).sum())
        if divergences:
            share = divergences / (chains * draws)
            problems.append(f"{divergences} divergent transition(s) ({share:.1%} of draws)")
            kinds.append("divergences")

    stuck: tuple[int, ...] = ()
    if chains > 1:
        quantities: dict[str, np.ndarray] = {}
        if stats is not None and "lp" in stats:
            lp = np.asarray(stats["lp"].values, dtype=float)
            if lp.shape[:2] == (chains, draws):
                quantities["lp"] = lp.reshape(chains, draws, -1).sum(axis=2)
        for i in np.flatnonzero(use):
            quantities[names[i]] = values[i].reshape(chains, draws)
        stuck, by, sds = _stuck(quantities, stuck_sds)
        if stuck and len(stuck) < chains:
            listed = ", ".join(map(str, stuck))
            problems.append(
                f"chain{'s' if len(stuck) > 1 else ''} {listed} stuck apart from the others "
                f"(mean {by} off by {sds:.0f} within-chain sd)"
            )
            kinds.append("stuck")
        elif stuck:
            problems.append(
                f"chains in different modes (mean {by} apart by up to {sds:.0f} within-chain sd)"
            )
            kinds.append("stuck")
        if by and by != "lp" and by in names:
            score[names.index(by)] = max(score[names.index(by)], stuck_sds)

    failing = np.flatnonzero(score > 1)
    worst = tuple(names[i] for i in failing[np.argsort(-score[failing], kind="stable")])
    return Convergence(
        ok=not problems,
        problems=tuple(problems),
        kinds=tuple(dict.fromkeys(kinds)),
        worst=worst,
        rhat_max=rhat_top,
        ess_bulk_min=bulk_min,
        ess_tail_min=tail_min,
        divergences=divergences,
        stuck_chains=stuck,
        notes=tuple(notes),
        **base,
    )


def record(idata: az.InferenceData, verdict: Convergence) -> az.InferenceData:
    """Write ``verdict`` into ``idata.attrs`` (and the posterior's): ``convergence`` (its
    one line) and ``converged`` (1 or 0) — a str and an int, so netCDF keeps them."""
    stamp: dict[str, Any] = {"convergence": verdict.line, "converged": int(verdict.ok)}
    idata.posterior.attrs.update(stamp)
    idata.attrs = {**getattr(idata, "attrs", {}), **stamp}
    return idata
