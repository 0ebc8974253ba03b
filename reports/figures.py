"""Figures shared by the report sections and the comparison page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import arviz as az
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import diagnostics

__all__ = [
    "ess_per_second_bars",
    "forest",
    "posterior_vs_exact",
    "rank_plot",
    "trace_plot",
]


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
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 2.8), squeeze=False)
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
    """ArviZ trace plot with rank bars (Vehtari et al. 2021) instead of raw traces."""
    axes = az.plot_trace(idata, var_names=var_names, kind="rank_bars", compact=True)
    fig = np.atleast_2d(axes)[0, 0].figure
    fig.tight_layout()
    return fig


def rank_plot(idata: az.InferenceData, var_names=None):
    axes = az.plot_rank(idata, var_names=var_names)
    fig = np.atleast_1d(axes).ravel()[0].figure
    fig.tight_layout()
    return fig


def ess_per_second_bars(table: pd.DataFrame):
    """Bulk ESS per second by sampler, with and without compile time."""
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(table) + 1.2))
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
    labels = list(runs)
    axes = az.plot_forest(
        [runs[k] for k in labels],
        model_names=labels,
        var_names=var_names,
        combined=True,
        figsize=(7, 1.2 + 0.35 * len(labels) * max(1, len(var_names or [1]))),
    )
    fig = np.atleast_1d(axes).ravel()[0].figure
    fig.tight_layout()
    return fig
