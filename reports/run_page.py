"""The diagnostics page of a run directory, ``DIR/index.html``.

``bayesmin compare`` and ``bayesmin fit`` write it with :func:`write_compare_page` and
:func:`write_fit_page`; ``bayesmin sbc`` ends its page with the same provenance. Every page
answers, in order: does each run pass (the one :func:`diagnostics.verdict`)? which
parameters mix worst (:func:`worst_parameters`), and what do their traces, ranks, ESS
by draw count and autocorrelations look like? for NUTS, what do the energy and the
divergences say? how precise is each posterior mean (MCSE), and do the samplers agree?
and how was the page made (:func:`provenance`), so that a reader can make it again.

The figures are ArviZ's, drawn on axes of :func:`figures.subplots` (no pyplot). A figure
that cannot be drawn leaves one line on the page saying why, never a failed page. Models
with hundreds of parameters are summarised by their worst ones: the table of every
parameter shows its first :data:`TOP_ROWS` rows and the plots the worst ``k``.
"""

from __future__ import annotations

import html
import importlib.metadata
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .. import diagnostics
from ..diagnostics.summary import _labels
from . import figures
from .grid import summarise
from .html import Section, render, verdict_list, write_atomic
from .mathml import literal

__all__ = [
    "TOP_ROWS",
    "VERSIONED",
    "autocorr_figure",
    "bias_table",
    "convergence_list",
    "energy_figure",
    "ess_evolution_figure",
    "locate",
    "mcse_table",
    "means_figure",
    "pair_figure",
    "parameter_table",
    "provenance",
    "provenance_section",
    "rank_figure",
    "trace_figure",
    "verdicts",
    "worst_parameters",
    "write_compare_page",
    "write_fit_page",
]

# Rows of the every-parameter and mean ± MCSE tables shown on a page.
TOP_ROWS = 20
# Distributions whose versions a page records (importlib.metadata names).
VERSIONED = ("bayesmin", "pymc", "numpyro", "jax", "arviz", "numpy")


# --------------------------------------------------------------------------- provenance


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def provenance(
    command: Sequence[str] | None = None,
    *,
    seed: Any = None,
    timings: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a reader needs to make a page again: command, versions, platform, seed, time.

    Parameters
    ----------
    command : sequence of str, optional
        The command line as argument words; default ``sys.argv`` with the program
        replaced by ``bayesmin``. Stored shell-quoted (:func:`shlex.join`), ready to paste.
    seed : optional
        The seed (or seeds) of the run.
    timings : mapping of str to float, optional
        Seconds by what they measured (``{"total": 12.3}``).
    extra : mapping, optional
        Further settings worth recording (draws, chains, the data file).

    Returns
    -------
    dict
        ``command`` (str), ``versions`` (distribution -> version, ``"not installed"``
        where absent; ``python`` is the interpreter's), ``platform``, ``seed``,
        ``timings``, ``extra`` and ``timestamp`` (UTC, ISO 8601).
    """
    words = list(command) if command is not None else ["bayesmin", *sys.argv[1:]]
    versions = {"bayesmin": _version("bayesmin"), "python": platform.python_version()}
    versions |= {name: _version(name) for name in VERSIONED if name != "bayesmin"}
    return {
        "command": shlex.join(str(w) for w in words),
        "versions": versions,
        "platform": platform.platform(),
        "seed": seed,
        "timings": {k: float(v) for k, v in (timings or {}).items()},
        "extra": dict(extra or {}),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _files_list(out: Path) -> str:
    """Links to the files beside the page (what it was made from), as an HTML list."""
    names = sorted(
        p.name
        for p in out.iterdir()
        if p.is_file() and p.name != "index.html" and not p.name.startswith(".")
    )
    items = [f'<li><a href="{html.escape(quote(n))}">{html.escape(n)}</a></li>' for n in names]
    runs = out / "runs"
    if runs.is_dir():
        count = sum(1 for p in runs.glob("*.nc"))
        items.append(f"<li><code>runs/</code>: {count} InferenceData netCDF file(s)</li>")
    return "<ul>" + "".join(items) + "</ul>" if items else ""


def provenance_section(out: Path, record: Mapping[str, Any] | None, *, prefix: str = "") -> Section:
    """The page's last section: the command in a code block, then a table of versions,
    platform, seed, timings and settings, then links to the files in ``out``."""
    section = Section("Provenance", Path(out), prefix=prefix)
    if record is None:
        section.text("No provenance was recorded for this page.")
    else:
        section.text("Made by:")
        section.html(f"<pre><code>{html.escape(record['command'])}</code></pre>")
        rows = [("made at (UTC)", record.get("timestamp", "")), ("platform", record["platform"])]
        rows.append(("seed", "—" if record.get("seed") is None else str(record["seed"])))
        rows += [(f"version: {k}", v) for k, v in record.get("versions", {}).items()]
        rows += [(f"seconds: {k}", f"{v:.1f}") for k, v in record.get("timings", {}).items()]
        rows += [(str(k), str(v)) for k, v in record.get("extra", {}).items()]
        section.table(pd.DataFrame(rows, columns=["item", "value"]), index=False)
    files = _files_list(Path(out)) if Path(out).is_dir() else ""
    if files:
        section.text("Files in this folder:")
        section.html(files)
    return section


# ------------------------------------------------------------------------ parameters


def _flatten(ds: xr.Dataset) -> pd.Series:
    """One value per scalar parameter of an ArviZ result dataset (``az.rhat``, ...),
    labelled as :func:`diagnostics.flat_draws` labels its columns (``theta[3]``)."""
    values: dict[str, float] = {}
    for name in ds.data_vars:
        v = np.asarray(ds[name].values, float)
        values.update(zip(_labels(name, v.shape), v.ravel(), strict=True))
    return pd.Series(values, dtype=float)


def _sampler_seed(label: str) -> tuple[str, int | None]:
    """``"nuts:pymc/seed=3"`` -> ``("nuts:pymc", 3)``; a label without a seed is a sampler."""
    sampler, sep, seed = label.partition("/seed=")
    return sampler, int(seed) if sep and seed.isdigit() else None


def parameter_table(runs: Mapping[str, az.InferenceData]) -> pd.DataFrame:
    """Every scalar parameter, worst-mixing first.

    Parameters
    ----------
    runs : mapping of str to InferenceData
        Runs keyed by label (``"nuts/seed=0"``; the sampler is the part before
        ``/seed=``).

    Returns
    -------
    DataFrame
        Indexed by ``parameter`` (``theta[3]``), with ``rhat_max`` (the largest
        rank-normalised split R-hat over the runs), ``ess_bulk_min`` and ``ess_tail_min``
        (the smallest), and with several samplers the same three per sampler
        (``"<sampler> rhat_max"``, ...). Sorted by ``rhat_max`` descending, then
        ``ess_bulk_min`` ascending; a value ArviZ could not estimate (NaN) sorts first.

    See Also
    --------
    arviz.rhat, arviz.ess
    """
    return _parameter_table({label: _mixing_numbers(idata) for label, idata in runs.items()})


def _mixing_numbers(idata: az.InferenceData) -> pd.DataFrame:
    """R-hat, bulk and tail ESS of every scalar parameter of one run."""
    return pd.DataFrame(
        {
            "rhat": _flatten(az.rhat(idata)),
            "ess_bulk": _flatten(az.ess(idata, method="bulk")),
            "ess_tail": _flatten(az.ess(idata, method="tail")),
        }
    )


def _parameter_table(per_run: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """:func:`parameter_table` from each run's :func:`_mixing_numbers` (computed once per
    page, then shared by every section)."""
    if not per_run:
        return pd.DataFrame(columns=["rhat_max", "ess_bulk_min", "ess_tail_min"]).rename_axis(
            "parameter"
        )
    long = pd.concat(per_run, names=["run", "parameter"]).reset_index()
    long["sampler"] = [_sampler_seed(r)[0] for r in long["run"]]

    def worst(frame: pd.DataFrame) -> pd.DataFrame:
        # min/max skip NaN; a parameter NaN in every run stays NaN.
        g = frame.groupby("parameter", sort=False)
        return pd.DataFrame(
            {
                "rhat_max": g["rhat"].max(),
                "ess_bulk_min": g["ess_bulk"].min(),
                "ess_tail_min": g["ess_tail"].min(),
            }
        )

    table = worst(long)
    samplers = list(dict.fromkeys(long["sampler"]))
    if len(samplers) > 1:
        for sampler in samplers:
            own = worst(long[long["sampler"] == sampler])
            for column in own:
                table[f"{sampler} {column}"] = own[column]
    key = pd.DataFrame(
        {
            "rhat": table["rhat_max"].fillna(np.inf),
            "ess": table["ess_bulk_min"].fillna(-np.inf),
            "order": np.arange(len(table)),
        },
        index=table.index,
    )
    order = key.sort_values(["rhat", "ess", "order"], ascending=[False, True, True]).index
    table = table.loc[order]
    table.index.name = "parameter"
    return table


def worst_parameters(runs: Mapping[str, az.InferenceData], k: int = 4) -> list[str]:
    """The ``k`` worst-mixing scalar parameters over ``runs``: the first rows of
    :func:`parameter_table` (largest R-hat over the runs first, then smallest bulk ESS).

    Labels are those of :func:`diagnostics.flat_draws` (``"mu"``, ``"theta[3]"``,
    ``"w[0,1]"``); :func:`locate` turns one back into ArviZ's ``var_names`` and ``coords``.

    Examples
    --------
    >>> import arviz as az, numpy as np
    >>> x = np.random.default_rng(0).normal(size=(2, 100, 3))
    >>> x[1, :, 2] += 5.0  # chains disagree on theta[2]
    >>> worst_parameters({"run": az.from_dict(posterior={"theta": x})}, k=1)
    ['theta[2]']
    """
    return list(parameter_table(runs).index[:k])


_LABEL = re.compile(r"^(?P<name>.+)\[(?P<index>\d+(?:,\d+)*)\]$")


def locate(idata: az.InferenceData, label: str) -> tuple[str, dict[str, list[Any]]]:
    """A parameter label as ArviZ's selection: ``(var_name, coords)``.

    ``"mu"`` -> ``("mu", {})``; ``"theta[3]"`` of a variable with dims ``(chain, draw,
    theta_dim_0)`` -> ``("theta", {"theta_dim_0": [3]})``; ``"w[0,1]"`` selects on both
    dims. Positions are turned into the dims' coordinate values (a PyMC model's named
    coordinates, e.g. ``{"school": ["Choate"]}``); each value is in a one-element list
    so that ArviZ keeps the dimension and titles the panel with it.

    Raises
    ------
    KeyError
        No such variable in the posterior, or a position outside it.
    """
    post = idata.posterior
    if label in post.data_vars:
        name, index = label, ()
    else:
        match = _LABEL.match(label)
        if match is None or match["name"] not in post.data_vars:
            raise KeyError(f"no parameter {label!r} in the posterior")
        name, index = match["name"], tuple(int(i) for i in match["index"].split(","))
    dims = [d for d in post[name].dims if d not in ("chain", "draw")]
    if len(dims) != len(index):
        raise KeyError(f"{label!r} does not index {name!r}, whose dims are {tuple(dims)}")
    coords = {}
    for dim, i in zip(dims, index, strict=True):
        if not 0 <= i < post.sizes[dim]:
            raise KeyError(f"{label!r}: position {i} is outside {dim} (size {post.sizes[dim]})")
        coords[dim] = [post[dim].values[i]]
    return name, coords


def _scalar_view(idata: az.InferenceData, labels: Sequence[str]) -> az.InferenceData:
    """The posterior reduced to ``labels``, one scalar variable each (named by its label),
    with the run's ``sample_stats``: the exact selection that one ``var_names`` +
    ``coords`` cannot express for ``theta[1]`` and ``theta[5]`` of a 2-D ``theta``."""
    post = idata.posterior
    variables = {}
    for label in labels:
        name, coords = locate(idata, label)
        one = post[name].sel({d: v[0] for d, v in coords.items()}, drop=True)
        variables[label] = one.transpose("chain", "draw")
    groups = {"posterior": xr.Dataset(variables)}
    if "sample_stats" in idata.groups():
        groups["sample_stats"] = idata.sample_stats
    return az.InferenceData(**groups)


def mcse_table(
    runs: Mapping[str, az.InferenceData],
    labels: Sequence[str],
    reference: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Posterior means with their Monte Carlo standard errors, side by side.

    Parameters
    ----------
    runs : mapping of str to InferenceData
        One run per column (keyed by a sampler or run label).
    labels : sequence of str
        The parameters, in row order.
    reference : mapping, optional
        ``name -> object with a mean`` (:class:`models.Exact`, or a long run's reference
        with the same interface); adds a ``reference mean`` column.

    Returns
    -------
    (DataFrame, DataFrame)
        The page's table (``"<label> mean ± mcse"`` strings, and the reference mean) and
        the numbers in long form: ``parameter, run, mean, mcse, reference``.
    """
    rows = []
    ref_means = _reference_means(reference)
    for run, idata in runs.items():
        mean = _flatten(idata.posterior.mean(("chain", "draw")))
        mcse = _flatten(az.mcse(idata, method="mean"))
        for label in labels:
            rows.append(
                {
                    "parameter": label,
                    "run": run,
                    "mean": float(mean.get(label, np.nan)),
                    "mcse": float(mcse.get(label, np.nan)),
                    "reference": ref_means.get(label, np.nan),
                }
            )
    numbers = pd.DataFrame(rows, columns=["parameter", "run", "mean", "mcse", "reference"])
    shown = pd.DataFrame(index=pd.Index(list(labels), name="parameter"))
    for run in runs:
        own = numbers[numbers["run"] == run].set_index("parameter")
        shown[f"{run} mean ± mcse"] = [
            "—" if np.isnan(m) else f"{m:.4g} ± {s:.2g}"
            for m, s in zip(own["mean"], own["mcse"], strict=True)
        ]
    if ref_means:
        shown["reference mean"] = [ref_means.get(label, np.nan) for label in labels]
    return shown, numbers


def _reference_means(reference: Mapping[str, Any] | None) -> dict[str, float]:
    means: dict[str, float] = {}
    for name, ref in (reference or {}).items():
        mean = np.asarray(ref.mean, float)
        means.update(zip(_labels(name, mean.shape), mean.ravel(), strict=True))
    return means


# --------------------------------------------------------------------------- verdicts


def _worst_ratio(ratios: pd.Series) -> float:
    """The sd ratio furthest from 1 (on the log scale: 0.5 is as bad as 2)."""
    r = ratios.dropna()
    r = r[r > 0]
    return float(r.iloc[np.argmax(np.abs(np.log(r.to_numpy())))]) if len(r) else float("nan")


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per sampler: worst R-hat, worst bulk ESS, worst |z|, worst sd ratio (where the
    table has ``sd_ratio_worst``) and total divergences over its seeds, judged by
    :func:`diagnostics.verdict` with its default thresholds."""
    ok = table[table["error"] == ""] if "error" in table else table
    rows = []
    for sampler, group in ok.groupby("sampler", sort=False):
        worst = {
            "rhat_max": group["rhat_max"].max(),
            "ess_bulk_min": group["ess_bulk_min"].min(),
            "max_abs_z": group["max_abs_z"].max(),
            "divergences": group["divergences"].sum(),
        }
        if "sd_ratio_worst" in group:
            worst["sd_ratio_worst"] = _worst_ratio(group["sd_ratio_worst"])
        judged = diagnostics.verdict(worst)
        shown = {k: v for k, v in worst.items() if k != "divergences"}
        rows.append(
            {
                "sampler": sampler,
                "runs": len(group),
                **shown,
                "divergences": worst["divergences"],
                "verdict": "pass" if judged.passed else judged.line,
            }
        )
    return pd.DataFrame(rows).set_index("sampler") if rows else pd.DataFrame()


def convergence_list(runs: Mapping[str, az.InferenceData]) -> str:
    """An HTML list of each run's convergence check as ``inference.sample`` recorded it
    (``attrs["convergence"]``, :func:`inference.convergence.check`: R-hat, bulk and tail
    ESS per chain, divergences, stuck chains; with the remedy where it failed). Runs
    without the record (saved before the check existed) are left out; empty string when
    none has it."""
    items = []
    for label, idata in runs.items():
        attrs = getattr(idata, "attrs", {}) or {}
        line = attrs.get("convergence")
        if line is None or "converged" not in attrs:
            continue
        passed = bool(int(attrs["converged"]))
        items.append(
            f"<li><code>{html.escape(str(label))}</code>: "
            f'<span class="{"pass" if passed else "fail"}">{html.escape(str(line))}</span></li>'
        )
    return "<ul>" + "".join(items) + "</ul>" if items else ""


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
        sampler, seed = _sampler_seed(label)
        frames.append(
            pd.DataFrame(
                {"sampler": sampler, "seed": seed, "parameter": z["parameter"], "z_mean": z["z"]}
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else bias_table({}, None)


# ---------------------------------------------------------------------------- figures


def _grid(n: int, cols: int, width: float, height: float):
    rows = int(np.ceil(n / cols))
    fig, axes = figures.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return fig, axes


def trace_figure(idata: az.InferenceData, labels: Sequence[str]):
    """ArviZ trace plot of each parameter: density per chain, then the draws per chain
    (divergences marked under the trace where the run has them)."""
    fig, axes = figures.subplots(
        len(labels), 2, figsize=(10, 2.1 * len(labels) + 0.3), squeeze=False
    )
    for i, label in enumerate(labels):
        name, coords = locate(idata, label)
        az.plot_trace(idata, var_names=[name], coords=coords, compact=False, axes=axes[i : i + 1])
    fig.tight_layout()
    return fig


def rank_figure(idata: az.InferenceData, labels: Sequence[str]):
    """ArviZ rank plot of each parameter: the histogram of its ranks pooled over chains,
    per chain; uniform when the chains agree (Vehtari et al. 2021)."""
    fig, axes = _grid(len(labels), min(4, len(labels)), 3.4, 2.6)
    for ax, label in zip(axes.ravel(), labels, strict=False):
        name, coords = locate(idata, label)
        az.plot_rank(idata, var_names=[name], coords=coords, ax=ax)
    fig.tight_layout()
    return fig


def ess_evolution_figure(idata: az.InferenceData, labels: Sequence[str], min_ess: float):
    """ArviZ ESS by draw count (bulk and tail), with the ``min_ess`` line: an ESS that
    stops growing with more draws means the chains are stuck."""
    fig, axes = _grid(len(labels), min(4, len(labels)), 3.4, 2.6)
    for ax, label in zip(axes.ravel(), labels, strict=False):
        name, coords = locate(idata, label)
        az.plot_ess(
            idata, var_names=[name], coords=coords, kind="evolution", min_ess=min_ess, ax=ax
        )
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def autocorr_figure(idata: az.InferenceData, labels: Sequence[str], max_chains: int = 4):
    """ArviZ autocorrelation of each parameter (rows) in each chain (columns, at most
    ``max_chains``)."""
    chains = list(idata.posterior["chain"].values[:max_chains])
    fig, axes = figures.subplots(
        len(labels),
        len(chains),
        figsize=(2.8 * len(chains), 2.0 * len(labels) + 0.3),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for i, label in enumerate(labels):
        name, coords = locate(idata, label)
        az.plot_autocorr(
            idata, var_names=[name], coords={**coords, "chain": chains}, ax=axes[i], combined=False
        )
    fig.tight_layout()
    return fig


def energy_figure(idata: az.InferenceData):
    """ArviZ energy plot: the marginal energy against the energy transitions, with E-BFMI."""
    fig, ax = figures.subplots(figsize=(6, 3.4))
    az.plot_energy(idata, ax=ax)
    fig.tight_layout()
    return fig


def pair_figure(idata: az.InferenceData, labels: Sequence[str]):
    """ArviZ pair plot of ``labels`` with divergent transitions marked."""
    if len(labels) < 2:
        raise ValueError("a pair plot needs two parameters; this run has one")
    view = _scalar_view(idata, labels)
    n = len(labels) - 1
    fig, axes = figures.subplots(n, n, figsize=(2.8 * n + 0.6, 2.8 * n + 0.4), squeeze=False)
    az.plot_pair(
        view,
        divergences=True,
        scatter_kwargs={"alpha": 0.3},
        ax=axes[0, 0] if n == 1 else axes,
    )
    fig.tight_layout()
    return fig


def means_figure(numbers: pd.DataFrame, labels: Sequence[str]):
    """Posterior mean ± 2 MCSE of each run (rows) for each parameter (one panel each),
    the reference mean dashed where there is one."""
    runs = list(dict.fromkeys(numbers["run"]))
    fig, axes = _grid(len(labels), min(4, len(labels)), 3.4, 0.35 * len(runs) + 1.4)
    y = np.arange(len(runs))
    for ax, label in zip(axes.ravel(), labels, strict=False):
        own = numbers[numbers["parameter"] == label].set_index("run").reindex(runs)
        ax.errorbar(own["mean"], y, xerr=2 * own["mcse"], fmt="o", ms=4, capsize=3)
        ref = own["reference"].dropna()
        if len(ref):
            ax.axvline(ref.iloc[0], color="0.3", ls="--", lw=1, label="reference")
        ax.set_yticks(y, runs)
        ax.set_ylim(len(runs) - 0.5, -0.5)
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    return fig


def _try_figure(section: Section, name: str, caption: str, draw: Callable[[], Any]) -> bool:
    """Add ``draw()``'s figure, or one line saying why it could not be drawn."""
    try:
        fig = draw()
    except Exception as err:  # one figure must not cost the page
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        section.text(f"figure {name} could not be drawn: {reason}", math=False)
        return False
    section.figure(fig, name, literal(caption))  # names of the user's model, never formulas
    return True


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ------------------------------------------------------------------------- sections


@dataclass
class _Runs:
    """The runs of a page with each run's R-hat and ESS per parameter, computed once."""

    runs: dict[str, az.InferenceData]
    numbers: dict[str, pd.DataFrame]

    @classmethod
    def of(cls, runs: Mapping[str, az.InferenceData]) -> _Runs:
        return cls(dict(runs), {label: _mixing_numbers(i) for label, i in runs.items()})

    def samplers(self) -> dict[str, list[str]]:
        """Sampler -> its run labels, in the runs' order."""
        grouped: dict[str, list[str]] = {}
        for label in self.runs:
            grouped.setdefault(_sampler_seed(label)[0], []).append(label)
        return grouped

    def table(self, labels: Sequence[str] | None = None) -> pd.DataFrame:
        chosen = self.runs if labels is None else labels
        return _parameter_table({label: self.numbers[label] for label in chosen})

    def lowest_seed(self, labels: Sequence[str]) -> tuple[str, az.InferenceData]:
        def key(label: str) -> tuple[bool, int]:
            seed = _sampler_seed(label)[1]
            return seed is None, seed or 0

        label = min(labels, key=key)
        return label, self.runs[label]


def _mixing_section(out: Path, prefix: str, runs: _Runs, k: int) -> Section:
    """(c) The every-parameter table (first rows) and, per sampler, its worst ``k``:
    trace, rank, ESS by draw count and autocorrelation of its lowest-seed run."""
    start = time.perf_counter()
    section = Section("Worst-mixing parameters", out, prefix=prefix)
    table = runs.table()
    n = len(table)
    per_sampler = " and per sampler" if len(runs.samplers()) > 1 else ""
    section.table(
        table.head(TOP_ROWS),
        "Every parameter sorted worst first (largest R-hat, then smallest bulk ESS), over "
        f"all runs{per_sampler}"
        + (f"; the first {TOP_ROWS} of {n}." if n > TOP_ROWS else f"; all {n}."),
        digits=4,
    )
    for sampler, labels in runs.samplers().items():
        worst = list(runs.table(labels).index[:k])
        if not worst:
            continue
        label, idata = runs.lowest_seed(labels)
        slug = _slug(sampler)
        names = ", ".join(worst)
        section.heading3(f"{sampler}: its worst-mixing parameter{'s' if len(worst) > 1 else ''}")
        section.text(
            f"Worst over {sampler}'s {len(labels)} run(s): {names}. Plotted from {label}.",
            math=False,
        )
        _try_figure(
            section,
            f"trace-{slug}",
            f"Trace plots ({label}): density and draws per chain. Chains that do not "
            "overlap have not mixed.",
            lambda idata=idata, worst=worst: trace_figure(idata, worst),
        )
        _try_figure(
            section,
            f"rank-{slug}",
            f"Rank plots ({label}): ranks over all chains, histogram per chain; uniform "
            "when the chains agree (Vehtari et al. 2021).",
            lambda idata=idata, worst=worst: rank_figure(idata, worst),
        )
        _try_figure(
            section,
            f"ess-evolution-{slug}",
            f"Bulk and tail ESS by number of draws ({label}); dashed: ESS "
            f"{diagnostics.ESS_MIN}. ESS should grow linearly with the draws.",
            lambda idata=idata, worst=worst: ess_evolution_figure(
                idata, worst, diagnostics.ESS_MIN
            ),
        )
        _try_figure(
            section,
            f"autocorr-{slug}",
            f"Autocorrelation per chain ({label}); grey: ±1.96/√n.",
            lambda idata=idata, worst=worst: autocorr_figure(idata, worst),
        )
    section.seconds = time.perf_counter() - start
    return section


def _is_nuts(sampler: str) -> bool:
    return sampler.startswith("nuts")


def _nuts_section(out: Path, prefix: str, runs: _Runs, k: int) -> Section | None:
    """(d) NUTS runs: the energy plot with E-BFMI, the pair plot with divergences."""
    nuts = {s: labels for s, labels in runs.samplers().items() if _is_nuts(s)}
    if not nuts:
        return None
    start = time.perf_counter()
    section = Section("NUTS: energy and divergences", out, prefix=prefix)
    for sampler, labels in nuts.items():
        label, idata = runs.lowest_seed(labels)
        stats = idata.sample_stats if "sample_stats" in idata.groups() else xr.Dataset()
        slug = _slug(sampler)
        section.heading3(f"{sampler} ({label})")
        if "energy" in stats:
            try:
                bfmi = ", ".join(f"{b:.2f}" for b in np.atleast_1d(az.bfmi(idata)))
            except Exception:  # ArviZ could not estimate it (too few draws)
                bfmi = "not estimated"
            _try_figure(
                section,
                f"energy-{slug}",
                "Energy: the marginal energy and the energy transitions should overlap. "
                f"E-BFMI per chain: {bfmi} (below 0.3 the momentum resampling cannot "
                "explore the energy levels; Betancourt 2016).",
                lambda idata=idata: energy_figure(idata),
            )
        else:
            section.text(f"{label} records no energy; no energy plot.", math=False)
        worst = list(runs.table(labels).index[:k])
        if "diverging" in stats and len(worst) < 2:
            n_div = int(np.asarray(stats["diverging"].values).sum())
            section.text(
                f"One parameter, no pair plot; {n_div} divergent transition(s).", math=False
            )
        elif "diverging" in stats:
            n_div = int(np.asarray(stats["diverging"].values).sum())
            _try_figure(
                section,
                f"pair-{slug}",
                f"Pairs of its worst parameters ({', '.join(worst)}); {n_div} divergent "
                "transition(s), marked. Divergences gathered in one region (a funnel's "
                "neck) show where the sampler cannot follow the posterior.",
                lambda idata=idata, worst=worst: pair_figure(idata, worst),
            )
        else:
            section.text(f"{label} records no divergences; no pair plot.", math=False)
    section.seconds = time.perf_counter() - start
    return section


def _means_section(
    out: Path, prefix: str, runs: _Runs, k: int, reference: Mapping[str, Any] | None
) -> Section:
    """(e) Means ± MCSE of each sampler's lowest-seed run, worst parameters first."""
    start = time.perf_counter()
    section = Section("Posterior means and MCSE", out, prefix=prefix)
    labels = list(runs.table().index)
    first = {s: runs.lowest_seed(ls)[1] for s, ls in runs.samplers().items()}
    shown, numbers = mcse_table(first, labels[:TOP_ROWS], reference)
    ref = " and the reference mean" if "reference mean" in shown else ""
    section.table(
        shown,
        "Posterior mean ± Monte Carlo standard error (ArviZ mcse, method 'mean') of each "
        f"sampler's lowest-seed run{ref}; parameters worst-mixing first"
        + (f", the first {TOP_ROWS} of {len(labels)}" if len(labels) > TOP_ROWS else "")
        + ". Means many MCSE apart say the samplers disagree.",
        digits=4,
    )
    _try_figure(
        section,
        "means-mcse",
        f"Posterior mean ± 2 MCSE, the {min(k, len(labels))} worst-mixing parameters"
        + ("; dashed: the reference mean." if ref else "."),
        lambda: means_figure(numbers, labels[:k]),
    )
    section.seconds = time.perf_counter() - start
    return section


def _scalars(idata: az.InferenceData) -> int:
    post = idata.posterior
    return sum(int(np.prod(post[v].shape[2:], dtype=int)) for v in post.data_vars)


# ------------------------------------------------------------------------------ pages


def write_compare_page(
    out: Path,
    model: str,
    runs: Mapping[str, az.InferenceData],
    table: pd.DataFrame,
    samplers: Sequence[str],
    reference: Mapping[str, Any] | None = None,
    *,
    provenance: Mapping[str, Any] | None = None,
    k: int = 4,
) -> Path:
    """``DIR/index.html`` of ``bayesmin compare``.

    Sections: verdicts (per run, and per sampler worst over seeds); the comparison
    (medians with IQR, every run, ESS per second, bias against the reference, forest);
    the worst-mixing parameters (table, and per sampler trace, rank, ESS-by-draws and
    autocorrelation plots of its worst ``k``); for NUTS samplers the energy and pair plots
    with divergences; posterior means ± MCSE side by side; provenance.

    Parameters
    ----------
    out : Path
        The run directory; figures go to ``out/figures/compare_*.png``.
    model : str
    runs : mapping of str to InferenceData
        Finished runs keyed ``"<sampler>/seed=<k>"``.
    table : DataFrame
        :func:`diagnostics.compare`'s table of the runs (with ``error`` for runs that
        failed; ``sd_ratio_worst`` is shown where present).
    samplers : sequence of str
        Sampler spellings in grid order.
    reference : mapping, optional
        ``name -> object with mean and sd`` (``spec.exact(data)`` or a long run's
        reference): adds the bias figure and the reference means.
    provenance : mapping, optional
        :func:`provenance`'s record, shown last.
    k : int
        How many worst-mixing parameters are plotted per sampler.

    Returns
    -------
    Path
        ``out / "index.html"``, written atomically.
    """
    out = Path(out)
    p = "compare_"
    start = time.perf_counter()
    ok = table[table["error"] == ""] if "error" in table else table
    failures = {str(i): str(e) for i, e in table["error"].items() if e} if "error" in table else {}
    judge = Section("Verdicts", out, prefix=p)
    judge.text(
        f"Each run is judged by one rule: R-hat ≤ {diagnostics.RHAT_MAX}, bulk ESS ≥ "
        f"{diagnostics.ESS_MIN} (Vehtari et al. 2021), |z| < {diagnostics.Z_MAX:g} against "
        "the reference where there is one, no divergences."
    )
    judge.heading3("Verdict per run")
    judge.html(verdict_list(ok, failures) or "<p>No run finished.</p>")
    checked = convergence_list(runs)
    if checked:
        judge.heading3("Convergence check per run (recorded by the sampler)")
        judge.text(
            "R-hat < 1.01, bulk and tail ESS ≥ 100 per chain, no divergences, no chain "
            "stuck apart from the others; with the remedy where a run failed."
        )
        judge.html(checked)
    judge.table(
        verdicts(table),
        "Verdict per sampler, worst over seeds"
        + (
            " (sd_ratio_worst: the sampler's posterior sd over the reference's, furthest from 1)."
            if "sd_ratio_worst" in table
            else "."
        ),
    )
    judge.seconds = time.perf_counter() - start

    start = time.perf_counter()
    comparison = Section(f"Sampler comparison: {model}", out, prefix=p)
    comparison.table(
        summarise(table, samplers),
        "Over seeds: median and interquartile range (q25–q75) of each number.",
        digits=3,
    )
    comparison.table(table, "Every run (comparison.csv).", digits=3)
    sections: list[Section | None] = [judge, comparison]
    if len(ok) and runs:
        med = ok.groupby("sampler")[
            ["ess_bulk_min", "compile_seconds", "sampling_seconds", "ess_bulk_per_second"]
        ].median()
        med["sampler"] = med.index
        if np.isfinite(med["ess_bulk_per_second"].to_numpy(float)).any():
            _try_figure(
                comparison,
                "ess-per-second",
                "Median over seeds.",
                lambda: figures.ess_per_second_bars(med),
            )
        bias = bias_table(runs, reference)
        if len(bias):
            worst_z = bias.groupby("parameter")["z_mean"].apply(lambda z: z.abs().max())
            keep = list(worst_z.sort_values(ascending=False).index[:TOP_ROWS])
            few = bias[bias["parameter"].isin(keep)]
            _try_figure(
                comparison,
                "bias",
                "Bias of each posterior mean against the reference, in Monte Carlo standard "
                f"errors; one dot per run; dashed: ±{diagnostics.Z_MAX:g}"
                + (
                    f"; the {TOP_ROWS} parameters with the largest |z| of {len(worst_z)}."
                    if len(worst_z) > TOP_ROWS
                    else "."
                ),
                lambda: figures.bias_in_mcse(few, diagnostics.Z_MAX),
            )
        grid = _Runs.of(runs)
        first = {s: grid.lowest_seed(ls)[1] for s, ls in grid.samplers().items()}
        many = max(_scalars(i) for i in first.values()) > TOP_ROWS
        shown = list(grid.table().index[:TOP_ROWS])
        _try_figure(
            comparison,
            "forest",
            "94% HDIs, one run per sampler (its lowest seed)"
            + (f"; the {TOP_ROWS} worst-mixing parameters." if many else "."),
            lambda: figures.forest(
                {s: _scalar_view(i, shown) for s, i in first.items()} if many else first
            ),
        )
        comparison.seconds = time.perf_counter() - start
        sections += [
            _mixing_section(out, p, grid, k),
            _nuts_section(out, p, grid, k),
            _means_section(out, p, grid, k, reference),
        ]
    else:
        comparison.seconds = time.perf_counter() - start
    sections.append(provenance_section(out, provenance, prefix=p))
    page = render([s for s in sections if s is not None], title=f"bayesmin compare — {model}")
    return write_atomic(out / "index.html", page)


def write_fit_page(
    out: Path,
    model: str,
    *,
    summary: pd.DataFrame,
    idata: az.InferenceData | None = None,
    method: str,
    provenance: Mapping[str, Any] | None = None,
    k: int = 4,
    max_rows: int = 50,
) -> Path:
    """``DIR/index.html`` of ``bayesmin fit``.

    The fit's summary table (its first ``max_rows`` rows); with draws (``idata``) also the
    run's verdict (:func:`diagnostics.compare` and :func:`diagnostics.verdict`), the
    worst-mixing parameters' plots and, for NUTS, the energy and pair plots; then the
    provenance.

    Returns
    -------
    Path
        ``out / "index.html"``, written atomically.
    """
    out = Path(out)
    p = "fit_"
    main = Section(f"Fit: {model} ({method})", out, prefix=p)
    n = len(summary)
    main.table(
        summary.head(max_rows),
        "The fit's summary (summary.csv)"
        + (f"; the first {max_rows} of {n} rows." if n > max_rows else "."),
        index=False,
    )
    sections: list[Section | None] = [main]
    if idata is not None:
        start = time.perf_counter()
        row = diagnostics.compare({method: idata})
        judge = Section("Verdict", out, prefix=p)
        judge.text(
            f"R-hat ≤ {diagnostics.RHAT_MAX}, bulk ESS ≥ {diagnostics.ESS_MIN} (Vehtari et "
            "al. 2021), no divergences."
        )
        judge.html(verdict_list(row))
        checked = convergence_list({method: idata})
        if checked:
            judge.text("The sampler's own convergence check (recorded in the run's attrs):")
            judge.html(checked)
        judge.table(row, "The run's numbers (as in bayesmin compare).", digits=3)
        judge.seconds = time.perf_counter() - start
        grid = _Runs.of({method: idata})
        sections += [judge, _mixing_section(out, p, grid, k), _nuts_section(out, p, grid, k)]
    sections.append(provenance_section(out, provenance, prefix=p))
    page = render([s for s in sections if s is not None], title=f"bayesmin fit — {model}")
    return write_atomic(out / "index.html", page)
