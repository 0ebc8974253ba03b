"""The page ``bayesmin compare`` writes: ``DIR/index.html``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import arviz as az
import pandas as pd

from .. import diagnostics
from . import figures
from .grid import summarise
from .html import Section, render, write_atomic


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per sampler: worst R-hat, worst bulk ESS, worst |z| and total divergences over its
    seeds, judged by :func:`diagnostics.verdict` with its default thresholds."""
    ok = table[table.get("error", "") == ""] if "error" in table else table
    rows = []
    for sampler, group in ok.groupby("sampler", sort=False):
        worst = {
            "rhat_max": group["rhat_max"].max(),
            "ess_bulk_min": group["ess_bulk_min"].min(),
            "max_abs_z": group["max_abs_z"].max(),
            "divergences": group["divergences"].sum(),
        }
        judged = diagnostics.verdict(worst)
        rows.append(
            {
                "sampler": sampler,
                "runs": len(group),
                **{k: worst[k] for k in ("rhat_max", "ess_bulk_min", "max_abs_z")},
                "verdict": "pass" if judged.passed else judged.line,
            }
        )
    return pd.DataFrame(rows).set_index("sampler") if rows else pd.DataFrame()


def bias_table(
    runs: Mapping[str, az.InferenceData], reference: Mapping[str, Any] | None
) -> pd.DataFrame:
    """z of every posterior mean against the reference, one row per run and parameter."""
    if not reference:
        return pd.DataFrame(columns=["sampler", "seed", "parameter", "z_mean"])
    frames = []
    for label, idata in runs.items():
        z = diagnostics.z_scores(idata, reference)
        z = z[z["statistic"] == "mean"]
        sampler, seed = label.split("/seed=")
        frames.append(
            pd.DataFrame(
                {
                    "sampler": sampler,
                    "seed": int(seed),
                    "parameter": z["parameter"],
                    "z_mean": z["z"],
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else bias_table({}, None)


def write_page(
    out: Path,
    model: str,
    runs: Mapping[str, az.InferenceData],
    table: pd.DataFrame,
    samplers: Sequence[str],
    reference: Mapping[str, Any] | None = None,
) -> Path:
    """The comparison page: verdicts, medians with spread, ESS/s, bias, forest, ranks.

    ``reference`` (the model's exact posterior, ``spec.exact(data)``) adds the bias
    figure: each run's posterior means against it in Monte Carlo standard errors.
    """
    section = Section(f"Sampler comparison: {model}", out, prefix="compare_")
    section.table(
        verdicts(table),
        f"Verdict per sampler, worst over seeds: R-hat ≤ {diagnostics.RHAT_MAX}, bulk ESS ≥ "
        f"{diagnostics.ESS_MIN} (Vehtari et al. 2021), |z| < {diagnostics.Z_MAX:g} against "
        "the exact posterior where there is one, no divergences.",
    )
    section.table(
        summarise(table, samplers),
        "Over seeds: median and interquartile range (q25–q75) of each number.",
        digits=3,
    )
    section.table(table, "Every run (comparison.csv).", digits=3)
    ok = table[table["error"] == ""] if "error" in table else table
    if len(ok):
        med = ok.groupby("sampler")[
            ["ess_bulk_min", "compile_seconds", "sampling_seconds", "ess_bulk_per_second"]
        ].median()
        med["sampler"] = med.index
        section.figure(figures.ess_per_second_bars(med), "ess-per-second", "Median over seeds.")
        bias = bias_table(runs, reference)
        if len(bias):
            section.figure(
                figures.bias_in_mcse(bias, diagnostics.Z_MAX),
                "bias",
                f"Bias of each posterior mean against the exact posterior, in Monte Carlo "
                f"standard errors; one dot per run; dashed: ±{diagnostics.Z_MAX:g}.",
            )
        first = {}
        for label, idata in runs.items():
            first.setdefault(label.split("/")[0], idata)
        section.figure(
            figures.forest(first), "forest", "94% HDIs, one run per sampler (its lowest seed)."
        )
        for sampler, idata in first.items():
            section.figure(figures.rank_plot(idata), f"rank-{sampler}", f"Rank plots: {sampler}.")
    page = render([section], title=f"bayesmin compare — {model}")
    return write_atomic(out / "index.html", page)
