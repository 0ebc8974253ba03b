"""``bayesmin sbc``: simulation-based calibration as a resumable grid.

Every simulation is one task for the executor of :mod:`reports.executor`; each is
written atomically as ``DIR/sims/sim<index>.json`` (θ̃, ranks, ESS) the moment it comes
back, with its InferenceData as ``DIR/sims/sim<index>.nc`` when asked for. A rerun
into the same ``DIR`` keeps every finished simulation; asking for more simulations
computes only the new ones. ``DIR/sbc.json`` records the model and settings, so a
folder holding another model's (or another sampler's) SBC is refused, not mixed.

Outputs: ``ranks.csv`` (``simulation, parameter, rank``), ``summary.csv``
(:data:`diagnostics.sbc.SUMMARY_COLUMNS` plus ``ess_bulk_min``) and ``index.html``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import models
from ..diagnostics import sbc
from .executor import open_executor
from .grid import MAX_RUNS, changed, options_for, save_idata
from .rundir import ensure, write_atomic
from .tables import csv_text

__all__ = ["MAX_SIMS", "MIN_SIMS", "SBCSpec", "check_sims", "prepare", "run_sbc", "sim_file"]

MIN_SIMS = 10
MAX_SIMS = MAX_RUNS
MANIFEST = "sbc.json"


@dataclass(frozen=True)
class SBCSpec:
    model: str
    sampler: str
    sims: int
    seed: int
    draws: int
    tune: int
    chains: int
    ranked_draws: int
    data: str  # fingerprint of the base data (sizes, covariates, hyperparameters)
    script: str = ""  # a user's model: the file that defines it ...
    script_sha256: str = ""  # ... and the hash of its text

    def compatible(self, other: SBCSpec) -> str | None:
        """Why ``other`` (read from disk) cannot be resumed by ``self``; None if it can."""
        keys = ("model", "sampler", "seed", "draws", "tune", "chains", "ranked_draws", "data")
        return changed(self, other, keys)


def check_sims(sims: int) -> int:
    """``--sims`` from :data:`MIN_SIMS` (fewer, and a uniformity test says nothing) to
    :data:`MAX_SIMS` (one file per simulation), or a ``ValueError`` saying which."""
    if sims < MIN_SIMS:
        raise ValueError(
            f"--sims must be >= {MIN_SIMS} for a uniformity test to say anything, "
            f"got {sims}; 100 or more is usual"
        )
    if sims > MAX_SIMS:
        raise ValueError(
            f"--sims must be <= {MAX_SIMS:,} (one file per simulation), got {sims:,}; "
            "a few hundred simulations already show a miscalibration"
        )
    return sims


def sim_file(out: Path, index: int, suffix: str = ".json") -> Path:
    return out / "sims" / f"sim{index:05d}{suffix}"


def prepare(out: Path, spec: SBCSpec) -> SBCSpec:
    """Create ``out`` or check that it holds an SBC run this one can extend.

    Returns the spec to run, with ``sims`` the larger of the two.
    """
    manifest = out / MANIFEST
    if manifest.exists():
        try:
            old = SBCSpec(**json.loads(manifest.read_text()))
        except (ValueError, TypeError):
            raise ValueError(
                f"{manifest} is not a bayesmin SBC manifest; choose another --out"
            ) from None
        why = spec.compatible(old)
        if why:
            raise ValueError(
                f"--out {out} holds another SBC run ({why}); choose another --out or remove it"
            )
        spec = SBCSpec(**{**asdict(spec), "sims": max(spec.sims, old.sims)})
    else:
        ensure(out, "sbc")  # a new or empty folder: nothing else is mixed in
    write_atomic(manifest, json.dumps(asdict(spec), indent=2))
    return spec


def _read_sim(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
        return record if isinstance(record.get("ranks"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def load_finished(
    out: Path, spec: SBCSpec, save_runs: bool = False, note: Callable[[str], None] | None = None
) -> dict[int, dict]:
    """The finished simulations in ``out`` by index (with their ``.nc`` when ``save_runs``);
    ``note`` is told once which records could not be read (they are recomputed)."""
    records: dict[int, dict] = {}
    unreadable = []
    for index in range(spec.sims):
        path = sim_file(out, index)
        if not path.exists():
            continue
        record = _read_sim(path)
        if record is None:
            unreadable.append(str(path.relative_to(out)))
        elif not save_runs or sim_file(out, index, ".nc").exists():
            records[index] = record
    if note and unreadable:
        shown = ", ".join(unreadable[:3])
        shown += f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
        one = len(unreadable) == 1
        note(
            f"{shown} {'was' if one else 'were'} unreadable; recomputing {'it' if one else 'them'}"
        )
    return records


def run_sbc(
    model: models.ModelSpec,
    data: Mapping[str, Any],
    spec: SBCSpec,
    out: Path,
    *,
    save_runs: bool = False,
    workers: int = 0,
    scheduler: str | None = None,
    progress: Callable[[str, bool], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    sampler: Any = None,
    finished: Mapping[int, dict] | None = None,
    **options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, str]]:
    """Run the simulations not yet in ``out``; return ``(ranks, summary, errors)``.

    ``sampler`` overrides ``spec.sampler`` with a callable (see
    :func:`diagnostics.sbc.simulate`) — a custom or deliberately wrong sampler;
    ``options`` go to :func:`inference.sample` (those the sampler takes, with ``cores=1``
    for a PyMC-backed one: :func:`reports.grid.options_for`). Failed simulations are
    returned in ``errors`` (index → message) and are retried on the next run.
    ``finished``: the simulations on disk as :func:`load_finished` read them (read here
    when not given).
    """
    chosen = sampler if sampler is not None else spec.sampler
    if not callable(chosen):
        own = options_for(chosen, options)
        unknown = sorted(set(options) - set(own))
        if unknown:
            raise ValueError(f"{chosen} takes no option(s) {', '.join(unknown)}")
        options = own
    if finished is None:
        finished = load_finished(out, spec, save_runs)
    records: dict[int, dict] = {}
    todo = []
    for index in range(spec.sims):
        record = finished.get(index)
        if record is not None:
            records[index] = record
            if progress:
                progress(f"simulation {index}", False)
            continue
        todo.append(
            sbc.SimulationTask(
                model,
                data,
                chosen,
                index,
                seed=spec.seed,
                draws=spec.draws,
                tune=spec.tune,
                chains=spec.chains,
                ranked_draws=spec.ranked_draws,
                keep_idata=save_runs,
                options=dict(options),
            )
        )
    errors: dict[int, str] = {}
    with open_executor(workers, scheduler, n_tasks=len(todo)) as executor:
        if on_start and todo:
            on_start(executor.description)
        for outcome in executor.map(sbc.simulate, todo):
            index = outcome.task.index
            if outcome.error:
                errors[index] = outcome.error
            else:
                result: sbc.SimulationResult = outcome.value
                if result.idata is not None:
                    save_idata(result.idata, sim_file(out, index, ".nc"))
                record = {
                    "simulation": index,
                    "theta": result.theta,
                    "ranks": result.ranks,
                    "ranked_draws": result.ranked_draws,
                    "ess_bulk_min": result.ess_bulk_min,
                }
                write_atomic(sim_file(out, index), json.dumps(record))
                records[index] = record
            if progress:
                progress(outcome.task.label, True)
    ranks = pd.DataFrame(
        [
            {"simulation": i, "parameter": p, "rank": r}
            for i in sorted(records)
            for p, r in records[i]["ranks"].items()
        ],
        columns=["simulation", "parameter", "rank"],
    )
    if ranks.empty:
        return ranks, pd.DataFrame(columns=[*sbc.SUMMARY_COLUMNS, "ess_bulk_min"]), errors
    # Fewer draws than ranked_draws (a short run) would change the rank scale; the
    # settings are fixed per folder, so every record has the same L.
    ranked = {records[i]["ranked_draws"] for i in records}
    if len(ranked) != 1:
        raise ValueError(f"simulations in {out} were ranked among different numbers of draws")
    summary = sbc.uniformity(ranks, ranked.pop())
    summary["ess_bulk_min"] = float(np.min([records[i]["ess_bulk_min"] for i in records]))
    return ranks, summary, errors


def write_tables(out: Path, ranks: pd.DataFrame, summary: pd.DataFrame) -> None:
    write_atomic(out / "ranks.csv", csv_text(ranks, index=False))
    write_atomic(out / "summary.csv", csv_text(summary, index=False))


def write_page(
    out: Path,
    spec: SBCSpec,
    ranks: pd.DataFrame,
    summary: pd.DataFrame,
    errors: Mapping[int, str],
    *,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """``DIR/index.html``: verdicts, the summary table, rank histograms, ECDF differences,
    and the provenance (:func:`reports.run_page.provenance`) where it is given."""
    from . import figures
    from .html import Section, render
    from .run_page import provenance_section

    section = Section(f"Simulation-based calibration: {spec.model} with {spec.sampler}", out)
    section.text(
        f"{len(ranks['simulation'].unique()) if len(ranks) else 0} simulations: θ̃ from the "
        f"prior, data from the model, {spec.chains} chains × {spec.draws} draws "
        f"({spec.tune} warm-up) of {spec.sampler}, θ̃ ranked among {spec.ranked_draws} "
        "draws thinned from every chain. Ranks of a calibrated sampler are uniform "
        "(Talts et al. 2018): a ∪ shape means the posterior is too narrow, a ∩ shape too "
        "wide, a slope biased.",
        math=False,
    )
    if len(summary):
        bad = summary.loc[~summary["calibrated"], "parameter"].tolist()
        verdict = (
            "calibrated: every parameter passes both tests"
            if not bad
            else f"NOT calibrated: {', '.join(bad)}"
        )
        section.text(f"Verdict: {verdict}.", math=False)
        if summary["ess_bulk_min"].iloc[0] < spec.ranked_draws:
            section.text(
                f"Warning: the smallest bulk ESS ({summary['ess_bulk_min'].iloc[0]:.0f}) is "
                f"below the {spec.ranked_draws} draws ranked; autocorrelated draws make ranks "
                "non-uniform even for a correct sampler — run longer chains."
            )
        section.table(
            summary.set_index("parameter"),
            "χ² on binned ranks (p-value) and the simultaneous ECDF band; calibrated when "
            "both pass at level 0.001.",
            digits=4,
        )
        section.figure(
            figures.sbc_rank_histograms(ranks, spec.ranked_draws),
            "sbc-ranks",
            "Rank histograms; grey: the 99% band of each bin for uniform ranks.",
        )
        section.figure(
            figures.sbc_ecdf_difference(ranks, spec.ranked_draws),
            "sbc-ecdf",
            "ECDF of the fractional ranks minus the uniform CDF, with the simultaneous 99% band.",
        )
    if errors:
        section.table(
            pd.DataFrame({"error": errors}).rename_axis("simulation"),
            "Failed simulations (retried on the next run).",
        )
    sections = [section, provenance_section(out, provenance)]
    return write_atomic(out / "index.html", render(sections, title=f"bayesmin sbc — {spec.model}"))
