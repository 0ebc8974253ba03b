"""Figures shared by the report sections and the comparison page.

Every figure is a :class:`matplotlib.figure.Figure` made by :func:`subplots`, never by
pyplot: no global figure registry, no backend chosen or switched, so the same code draws
in a headless report run and inline in Jupyter, and a figure nobody holds is garbage-
collected (nothing to close). ArviZ plots are always handed axes of such a figure;
without ``ax=`` they would open a pyplot figure. ``fig.savefig`` renders through the
Agg canvas matplotlib attaches for PNG output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .. import diagnostics

if TYPE_CHECKING:  # ArviZ takes seconds to import: the plots that draw with it import it
    import arviz as az

__all__ = [
    "bias_in_mcse",
    "digit_grid",
    "ess_per_second_bars",
    "forest",
    "posterior_vs_exact",
    "rank_plot",
    "sbc_ecdf_difference",
    "sbc_rank_histograms",
    "subplots",
    "trace_plot",
]


def subplots(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, **kwargs
) -> tuple[Figure, Any]:
    """A new figure and its grid of axes, without pyplot.

    The object-oriented twin of ``plt.subplots``: ``kwargs`` (``sharex``, ``sharey``,
    ``squeeze``, ``gridspec_kw``, ...) go to :meth:`matplotlib.figure.Figure.subplots`,
    so ``axes`` has the same shape rules (one Axes, a 1-D or a 2-D array).

    Examples
    --------
    >>> fig, (left, right) = subplots(1, 2, figsize=(8, 3))
    >>> left.plot([0, 1], [1, 0])  # doctest: +ELLIPSIS
    [<matplotlib.lines.Line2D object at ...>]
    """
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _panels(idata: az.InferenceData, var_names, *, compact: bool) -> int:
    """How many panels ArviZ draws for the posterior: one per variable (``compact``, a
    trace plot's rows) or one per scalar element (a rank plot), counted with the iterator
    ArviZ's plots use and capped as they cap it (``rcParams["plot.max_subplots"]``, half
    of it for the two-column trace plot)."""
    import arviz as az
    from arviz.sel_utils import xarray_var_iter

    post = idata.posterior
    names = list(var_names) if var_names is not None else list(post.data_vars)
    skip = set(post.dims) - {"chain", "draw"} if compact else set()
    count = len(list(xarray_var_iter(post, var_names=names, combined=True, skip_dims=skip)))
    cap = az.rcParams["plot.max_subplots"]
    if cap is None:
        return count
    return min(count, max(cap // 2, 1) if compact else cap)


def posterior_vs_exact(
    runs: Mapping[str, az.InferenceData], exact: Mapping[str, Any] | None, *, max_panels=6
):
    """Histogram of each scalar element per run, with the exact marginal density on top."""
    first = next(iter(runs.values()))
    draws = {label: diagnostics.flat_draws(idata) for label, idata in runs.items()}
    columns = list(draws[next(iter(draws))].columns)
    exact_marginals = {}
    for name, ref in (exact or {}).items():
        if ref.marginals is None:
            continue
        shape = np.shape(ref.mean)
        labels = (
            [name]
            if not shape
            else [f"{name}[{','.join(map(str, i))}]" for i in np.ndindex(*shape)]
        )
        exact_marginals.update(dict(zip(labels, ref.marginals, strict=True)))
    columns = [c for c in columns if c in exact_marginals] or columns
    columns = columns[:max_panels]
    n = len(columns)
    fig, axes = subplots(1, n, figsize=(3.4 * n, 2.8), squeeze=False)
    for ax, col in zip(axes[0], columns, strict=True):
        lo, hi = np.inf, -np.inf
        for label, table in draws.items():
            x = table[col].to_numpy()
            ax.hist(x, bins=40, density=True, histtype="step", label=label, linewidth=1.2)
            lo, hi = min(lo, np.quantile(x, 0.001)), max(hi, np.quantile(x, 0.999))
        if col in exact_marginals:
            grid = np.linspace(lo, hi, 300)
            ax.plot(grid, exact_marginals[col].pdf(grid), "k-", lw=2, alpha=0.7, label="exact")
        ax.set_title(col)
        ax.set_yticks([])
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"posterior draws against the exact density ({first.attrs.get('model', '')})")
    fig.tight_layout()
    return fig


def trace_plot(idata: az.InferenceData, var_names=None):
    """ArviZ trace plot with rank bars (Vehtari et al. 2021) instead of raw traces.

    One row per variable (vector variables drawn compactly in one panel pair): density
    on the left, rank bars per chain on the right, the ``(rows, 2)`` axes ArviZ expects.
    """
    import arviz as az

    rows = _panels(idata, var_names, compact=True)
    fig, axes = subplots(rows, 2, figsize=(10, 2.2 * rows + 0.4), squeeze=False)
    az.plot_trace(idata, var_names=var_names, kind="rank_bars", compact=True, axes=axes)
    fig.tight_layout()
    return fig


def rank_plot(idata: az.InferenceData, var_names=None):
    """ArviZ rank plot: one panel per scalar element, on ArviZ's default grid."""
    import arviz as az
    from arviz.plots.plot_utils import default_grid

    n = _panels(idata, var_names, compact=False)
    rows, cols = default_grid(n)
    fig, axes = subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    az.plot_rank(idata, var_names=var_names, ax=axes.ravel()[:n])
    fig.tight_layout()
    return fig


def ess_per_second_bars(table: pd.DataFrame):
    """Bulk ESS per second by sampler, with and without compile time."""
    fig, ax = subplots(figsize=(6, 0.45 * len(table) + 1.2))
    labels = table["sampler"].astype(str) if "sampler" in table else table.index.astype(str)
    y = np.arange(len(table))
    with_compile = table["ess_bulk_min"] / (table["compile_seconds"] + table["sampling_seconds"])
    ax.barh(y + 0.2, table["ess_bulk_per_second"], height=0.4, label="sampling only")
    ax.barh(y - 0.2, with_compile, height=0.4, label="with compile")
    ax.set_yticks(y, labels)
    ax.set_xscale("log")
    ax.set_xlabel("worst bulk ESS per second (log scale)")
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def forest(runs: Mapping[str, az.InferenceData], var_names=None):
    """Every run's 94% HDI side by side (ArviZ forest plot)."""
    import arviz as az

    labels = list(runs)
    # One row per scalar element and run (combined chains): size the figure by them.
    post = runs[labels[0]].posterior
    names = list(var_names) if var_names is not None else list(post.data_vars)
    rows = sum(int(np.prod(post[v].shape[2:], dtype=int)) for v in names) * len(labels)
    fig, ax = subplots(figsize=(7, 1.4 + 0.22 * rows))
    az.plot_forest(
        [runs[k] for k in labels],
        model_names=labels,
        var_names=var_names,
        combined=True,
        ax=ax,
    )
    fig.tight_layout()
    return fig


def bias_in_mcse(z: pd.DataFrame, limit: float = 4.0):
    """Bias of each parameter's posterior mean against the reference, in MCSE units.

    ``z`` has columns ``sampler``, ``parameter``, ``z_mean`` (one row per run and
    parameter); each run is a dot, the dashed lines are ±``limit``.
    """
    samplers = list(dict.fromkeys(z["sampler"]))
    params = list(dict.fromkeys(z["parameter"]))
    fig, ax = subplots(figsize=(7, 0.3 * len(params) * len(samplers) + 1.4))
    step = 0.8 / max(1, len(samplers))
    for k, sampler in enumerate(samplers):
        rows = z[z["sampler"] == sampler]
        y = (
            np.array([params.index(p) for p in rows["parameter"]])
            + (k - (len(samplers) - 1) / 2) * step
        )
        ax.plot(rows["z_mean"], y, "o", ms=4, alpha=0.7, label=sampler)
    for x in (-limit, limit):
        ax.axvline(x, color="0.4", ls="--", lw=1)
    ax.axvline(0, color="0.7", lw=1)
    ax.set_yticks(np.arange(len(params)), params)
    ax.invert_yaxis()
    ax.set_xlabel("(posterior mean − exact mean) / MCSE, one dot per run")
    ax.legend(fontsize=8, frameon=False, loc="best")
    fig.tight_layout()
    return fig


def _parameter_panels(ranks: pd.DataFrame, max_panels: int):
    """A grid of small axes, one per parameter of an SBC rank table (at most ``max_panels``)."""
    params = list(dict.fromkeys(ranks["parameter"]))[:max_panels]
    cols = min(4, len(params))
    rows = int(np.ceil(len(params) / cols))
    fig, axes = subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    return fig, axes, params


def _finish_panels(fig, axes, used: int):
    for ax in axes.ravel()[used:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def sbc_rank_histograms(ranks: pd.DataFrame, ranked_draws: int, *, bins: int = 20, max_panels=12):
    """Histogram of SBC ranks per parameter, with the 99% band of a uniform histogram."""
    from scipy import stats

    fig, axes, params = _parameter_panels(ranks, max_panels)
    edges = np.linspace(0, ranked_draws + 1, min(bins, ranked_draws + 1) + 1)
    for ax, name in zip(axes.ravel(), params, strict=False):
        r = ranks.loc[ranks["parameter"] == name, "rank"].to_numpy()
        p = np.diff(edges).mean() / (ranked_draws + 1)
        lo, hi = stats.binom(len(r), p).ppf([0.005, 0.995])
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(len(r) * p, color="0.5", lw=1)
        ax.hist(r, bins=edges, color="C0", edgecolor="white")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("rank")
    return _finish_panels(fig, axes, len(params))


def sbc_ecdf_difference(ranks: pd.DataFrame, ranked_draws: int, *, prob=0.99, max_panels=12):
    """ECDF of the fractional ranks minus the uniform CDF, with ArviZ's simultaneous band."""
    import arviz as az
    from scipy import stats

    fig, axes, params = _parameter_panels(ranks, max_panels)
    for ax, name in zip(axes.ravel(), params, strict=False):
        r = ranks.loc[ranks["parameter"] == name, "rank"].to_numpy()
        u = (r + 0.5) / (ranked_draws + 1)
        az.plot_ecdf(
            u,
            cdf=stats.uniform().cdf,
            eval_points=np.arange(ranked_draws + 2) / (ranked_draws + 1),
            difference=True,
            confidence_bands=True,
            ci_prob=prob,
            ax=ax,
        )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("fractional rank")
    return _finish_panels(fig, axes, len(params))


def digit_grid(images, labels=None, confidences=None, *, ncols: int = 10, title: str | None = None):
    """8×8 digit images in a grid, each titled with a label and a confidence.

    Parameters
    ----------
    images : (n, 64) array_like
        Flattened 8×8 images in the digits' scale [−1, 1] (−1 blank, 1 full ink), the
        scale of :mod:`bayesmin.diagnostics.digits`; drawn dark on light, values
        outside [−1, 1] clipped by the colour map.
    labels : sequence of n, optional
        Shown above each image (e.g. the classifier's predicted digit).
    confidences : sequence of n floats, optional
        Shown beside the label as a probability (e.g. the classifier's max softmax).
    ncols : int
        Images per row.
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = np.asarray(images, dtype=float)
    if x.ndim != 2 or x.shape[1] != 64 or len(x) == 0:
        raise ValueError(f"images must be (n, 64) with n >= 1, got shape {x.shape}")
    n = len(x)
    for name, values in (("labels", labels), ("confidences", confidences)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries for {n} images")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    titled = labels is not None or confidences is not None
    fig, axes = subplots(
        nrows, ncols, figsize=(0.8 * ncols, (1.0 if titled else 0.8) * nrows + 0.4), squeeze=False
    )
    for k, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.set_visible(False)
            continue
        ax.imshow(x[k].reshape(8, 8), cmap="gray_r", vmin=-1.0, vmax=1.0)
        parts = []
        if labels is not None:
            parts.append(str(labels[k]))
        if confidences is not None:
            parts.append(f"{float(confidences[k]):.2f}")
        if parts:
            ax.set_title(" ".join(parts), fontsize=7, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
