"""Grids of sampler runs that resume: ``bayesmin compare``.

The runs go through the one executor of :mod:`reports.executor` (in this process, a
local Dask cluster, or an existing one). Each finished run is written atomically as
``DIR/runs/<sampler>__seed<k>.nc`` as soon as it comes back; a rerun into the same
``DIR`` loads what is there and computes only what is missing.
``DIR/grid.json`` records the model and the run settings, so that a folder holding
another model's grid (or the same model with other data or sizes) is refused rather
than mixed. Each run file records them too (its attrs), so a lost or damaged
``grid.json`` is rebuilt from the runs when every one of them agrees with the command
(:func:`prepare`); a run file that cannot be read is recomputed, and said so
(:func:`load_finished`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import arviz as az
import pandas as pd

from .. import diagnostics, inference, models
from ..inference._checks import MAX_SEED
from . import interrupts
from .executor import open_executor
from .rundir import atomic_path, ensure, write_atomic
from .tables import csv_text

__all__ = [
    "MAX_RUNS",
    "Finished",
    "GridSpec",
    "RunTask",
    "changed",
    "load_finished",
    "parse_seeds",
    "run_grid",
    "run_task",
]

#: The most seeds of a comparison (and simulations of an SBC run): one file each.
MAX_RUNS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` -> 0..9, ``"0,3,5"`` -> [0, 3, 5], mixes allowed (``"0-2,7"``).

    Seeds are NumPy's, 0 to 2**32 - 1; at most :data:`MAX_RUNS` of them (counted before
    a range is expanded, so ``0-99999999999`` is refused at once).
    """
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ValueError(f"seed range {part!r} runs backwards; write it as {hi}-{lo}")
            bounds = (lo, hi)
        elif part.isdigit():
            lo = hi = int(part)
            bounds = (lo,)
        else:
            raise ValueError(
                f"cannot read seeds {text!r}; use a range like 0-9 or a list like 0,3,5"
            )
        if hi > MAX_SEED:
            raise ValueError(
                f"seed {max(bounds)} is beyond the largest seed {MAX_SEED} (seeds are NumPy's, "
                f"0 to 2**32 - 1); give smaller seeds"
            )
        if len(seeds) + hi - lo + 1 > MAX_RUNS:
            raise ValueError(
                f"--seeds {text} asks for {len(seeds) + hi - lo + 1:,} or more seeds; a "
                f"comparison takes at most {MAX_RUNS:,} (one run file each): e.g. --seeds 0-99"
            )
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise ValueError("no seeds given; use a range like 0-9 or a list like 0,3,5")
    return sorted(set(seeds))


@dataclass(frozen=True)
class GridSpec:
    model: str
    samplers: tuple[str, ...]
    seeds: tuple[int, ...]
    draws: int
    tune: int
    chains: int
    data: str  # fingerprint
    script: str = ""  # a user's model: the file that defines it ...
    script_sha256: str = ""  # ... and the hash of its text
    options: str = ""  # sampler options (--option), as sorted JSON

    def compatible(self, other: GridSpec) -> str | None:
        """Why ``other`` (read from disk) cannot be resumed by ``self``; None if it can."""
        return changed(self, other, ("model", "draws", "tune", "chains", "data", "options"))


def changed(new: Any, old: Any, keys: Sequence[str]) -> str | None:
    """Why a run folder made with settings ``old`` cannot be resumed with ``new``.

    A changed model script is named as such (its runs were made by other code); a
    changed data set likewise; other settings as ``key is OLD there, NEW now``.
    """
    if getattr(new, "script_sha256", "") != getattr(old, "script_sha256", ""):
        script = Path(new.script or old.script).name
        return f"{script} has changed since those runs were made"
    for key in keys:
        if getattr(new, key) != getattr(old, key):
            if key == "data":
                return "the data differ from those the runs were made with"
            return f"{key} is {getattr(old, key)!r} there, {getattr(new, key)!r} now"
    return None


def run_file(out: Path, sampler: str, seed: int) -> Path:
    return out / "runs" / f"{sampler.replace(':', '-')}__seed{seed}.nc"


def save_idata(idata: az.InferenceData, path: Path) -> None:
    # ArviZ writes in place; write beside the target and rename, so an interrupted
    # run never leaves a truncated netCDF where a finished one is expected. A signal
    # waits for the write (a fraction of a second): raised inside h5netcdf's File
    # constructor it left a half-made file object whose finaliser printed an
    # "Exception ignored" traceback at exit.
    with interrupts.held(), atomic_path(path) as tmp:
        idata.to_netcdf(str(tmp))


# What a run file records of its grid, beside the attrs ``inference.sample`` stamps
# (model, sampler, seed, draws, tune, chains): enough to rebuild a lost grid.json.
_STAMPED = ("data", "options", "script_sha256")


def _stamp(idata: az.InferenceData, grid: GridSpec) -> az.InferenceData:
    idata.attrs = {**idata.attrs, **{f"grid_{k}": getattr(grid, k) for k in _STAMPED}}
    return idata


def _run_settings(path: Path) -> dict[str, Any] | None:
    """The settings a run file records (its netCDF global attributes); None if unreadable."""
    import h5netcdf

    try:
        with h5netcdf.File(path, "r") as f:
            return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except Exception:
        return None


def _from_runs(out: Path, grid: GridSpec, why: str) -> GridSpec:
    """The grid of the run files in ``out/runs``, when each agrees with ``grid``: its
    samplers and seeds merged in. ``why`` says what happened to grid.json.

    Raises
    ------
    ValueError
        A run made with other settings (or one that does not record them).
    """
    samplers, seeds = list(grid.samplers), set(grid.seeds)
    wanted = {"model": grid.model, "draws": grid.draws, "tune": grid.tune, "chains": grid.chains}
    wanted |= {f"grid_{k}": getattr(grid, k) for k in _STAMPED}
    for path in sorted((out / "runs").glob("*.nc")):
        attrs = _run_settings(path)
        if attrs is None:
            continue  # unreadable: recomputed if this grid has it (load_finished)
        rel = path.relative_to(out)
        for key, value in wanted.items():
            if key not in attrs:
                raise ValueError(
                    f"{why}, and {rel} does not record the data it was made with, so the "
                    f"runs cannot be matched to this command; choose another --out"
                )
            if attrs[key] != value:
                what = key.removeprefix("grid_")
                shown = "other data" if what == "data" else f"{what} {attrs[key]!r}"
                raise ValueError(
                    f"{why}, and {rel} was made with {shown}, not this command's; rerun with "
                    "the settings the runs were made with, or choose another --out"
                )
        samplers.append(str(attrs["sampler"]))
        seeds.add(int(attrs["seed"]))
    return GridSpec(
        **{
            **asdict(grid),
            "samplers": tuple(dict.fromkeys(samplers)),
            "seeds": tuple(sorted(seeds)),
        }
    )


def prepare(out: Path, grid: GridSpec, note: Callable[[str], None] | None = None) -> GridSpec:
    """Create ``out`` or check that it holds a grid this one can resume.

    Returns the grid to run: ``grid`` itself, or its union with the samplers and seeds
    already in ``out`` (the table then covers every finished run there).

    A ``grid.json`` that is missing (beside a ``runs`` folder) or unreadable is rebuilt
    from the run files, when each records this command's model, run lengths, data,
    options and script (runs made with other settings are refused, never mixed);
    ``note`` is told so in one line.
    """
    manifest = out / "grid.json"
    old_spec = None
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError):  # damaged: truncated, emptied, overwritten
            old_spec = _rebuild(out, grid, f"{manifest} is unreadable", note)
        else:
            try:
                old_spec = GridSpec(
                    **{**old, "samplers": tuple(old["samplers"]), "seeds": tuple(old["seeds"])}
                )
            except (TypeError, KeyError, AttributeError):
                raise ValueError(
                    f"{manifest} is not a bayesmin grid manifest; choose another --out"
                ) from None
    elif any((out / "runs").glob("*.nc")):
        old_spec = _rebuild(out, grid, f"{manifest} is missing", note)
    if old_spec is not None:
        why = grid.compatible(old_spec)
        if why:
            raise ValueError(
                f"--out {out} holds another grid ({why}); choose another --out or remove it"
            )
        merged = GridSpec(
            **{
                **asdict(grid),
                "samplers": tuple(dict.fromkeys([*old_spec.samplers, *grid.samplers])),
                "seeds": tuple(sorted(set(old_spec.seeds) | set(grid.seeds))),
            }
        )
        write_atomic(manifest, json.dumps(asdict(merged), indent=2))
        return merged
    ensure(out, "compare")  # a new or empty folder: nothing else is mixed in
    write_atomic(manifest, json.dumps(asdict(grid), indent=2))
    return grid


def _rebuild(out: Path, grid: GridSpec, why: str, note: Callable[[str], None] | None):
    """:func:`_from_runs`, and one line to ``note`` that grid.json was rebuilt."""
    rebuilt = _from_runs(out, grid, why)
    if note:
        note(
            f"{why.replace(' is ', ' was ', 1)}; rebuilt it from this command's settings, "
            f"which every run in {out / 'runs'} agrees with"
        )
    return rebuilt


@dataclass(frozen=True)
class RunTask:
    """One (sampler, seed) run of a comparison grid, as shipped to a worker."""

    spec: models.ModelSpec
    data: Mapping[str, Any]
    sampler: str
    seed: int
    draws: int
    tune: int
    chains: int
    options: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.sampler}/seed={self.seed}"


def run_task(task: RunTask) -> az.InferenceData:
    """Run one task (in a worker process or here)."""
    return inference.sample(
        task.spec,
        task.sampler,
        draws=task.draws,
        tune=task.tune,
        chains=task.chains,
        seed=task.seed,
        data=task.data,
        progress=False,
        **task.options,
    )


def _load(path: Path) -> az.InferenceData | None:
    """A finished run from disk, or None if it cannot be read (it is then recomputed)."""
    try:
        return az.from_netcdf(str(path))
    except Exception:
        return None


class Finished(dict):
    """The runs of a grid already on disk, by label (``nuts/seed=0``); ``unreadable``:
    the run files that exist but cannot be read (truncated, damaged), to recompute."""

    def __init__(self, runs: Mapping[str, az.InferenceData] = (), unreadable=()) -> None:
        super().__init__(runs)
        self.unreadable: list[Path] = list(unreadable)


def load_finished(out: Path, grid: GridSpec, note: Callable[[str], None] | None = None) -> Finished:
    """Every run of ``grid`` already in ``out``; ``note`` is told once which files could
    not be read (they are recomputed and overwritten)."""
    finished = Finished()
    for sampler in grid.samplers:
        for seed in grid.seeds:
            path = run_file(out, sampler, seed)
            if not path.exists():
                continue
            idata = _load(path)
            if idata is None:
                finished.unreadable.append(path)
            else:
                finished[f"{sampler}/seed={seed}"] = idata
    bad = [str(p.relative_to(out)) for p in finished.unreadable]
    if note and bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        one = len(bad) == 1
        note(
            f"{shown} {'was' if one else 'were'} unreadable; recomputing {'it' if one else 'them'}"
        )
    return finished


def options_for(sampler: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``options`` that ``sampler`` takes, for one run of a grid (comparison or SBC).

    ``until_ess`` and ``max_seconds`` go to the samplers that can keep their chains
    going (:data:`inference.UNTIL_ESS_SAMPLERS`); the others run their fixed draws.
    A PyMC-backed sampler runs its chains in the worker's own process (``cores=1`` unless
    given): a grid already runs one run per core, and forking processes that hold JAX is
    unsafe.
    """
    accepted = set(inference.sampler_options(sampler))
    if inference.resolve_sampler(sampler).spelling in inference.UNTIL_ESS_SAMPLERS:
        accepted |= {"until_ess", "max_seconds"}  # sampling until the ESS is there
    own = {k: v for k, v in options.items() if k in accepted}
    if "cores" in accepted:
        own.setdefault("cores", 1)
    return own


def grid_options(samplers: Sequence[str], options: Mapping[str, Any]) -> dict[str, dict]:
    """Each sampler's share of ``options`` (:func:`options_for`).

    Raises
    ------
    ValueError
        An option that no sampler of the grid takes (it would be silently dropped).
    """
    own = {s: options_for(s, options) for s in samplers}
    unknown = sorted(set(options) - {k for taken in own.values() for k in taken})
    if unknown:
        raise ValueError(
            f"no sampler of {', '.join(samplers)} takes the option(s) {', '.join(unknown)}; "
            "inference.sampler_options(SAMPLER) lists each sampler's"
        )
    return own


def run_grid(
    spec: models.ModelSpec,
    data: Mapping[str, Any],
    grid: GridSpec,
    out: Path,
    *,
    progress: Callable[[str, bool], None] | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    on_start: Callable[[str], None] | None = None,
    reference: Mapping[str, Any] | None = None,
    finished: Mapping[str, az.InferenceData] | None = None,
    **options: Any,
) -> tuple[dict[str, az.InferenceData], pd.DataFrame]:
    """Run every (sampler, seed) not yet on disk; return all runs and the table.

    The runs go through :func:`reports.executor.open_executor` (``workers`` local
    processes, ``scheduler`` an existing Dask cluster, in this process by default) and
    each is saved atomically the moment it comes back. ``progress(label, computed)``
    is called after each run, ``computed`` False when it was loaded from disk;
    ``on_start(description)`` once the executor is up. A run that raises is recorded
    (``error`` column) and the grid goes on.

    ``options`` go to each sampler that takes them (:func:`options_for`); one that no
    sampler of the grid takes is an error. ``reference`` (a long run or a user's draws,
    :func:`diagnostics.reference`) is what the table's bias columns measure against;
    by default the model's closed form, where it has one. ``finished``: the runs on disk
    as :func:`load_finished` read them (read here when not given).
    """
    own_options = grid_options(grid.samplers, options)
    if finished is None:
        finished = load_finished(out, grid)
    runs: dict[str, az.InferenceData] = {}
    errors: dict[str, str] = {}
    todo: list[RunTask] = []
    for sampler in grid.samplers:
        own = own_options[sampler]
        for seed in grid.seeds:
            task = RunTask(spec, data, sampler, seed, grid.draws, grid.tune, grid.chains, own)
            idata = finished.get(task.label)
            if idata is None:
                todo.append(task)
                continue
            runs[task.label] = idata
            if progress:
                progress(task.label, False)
    with open_executor(workers, scheduler, n_tasks=len(todo)) as executor:
        if on_start and todo:
            on_start(executor.description)
        for outcome in executor.map(run_task, todo):
            task = outcome.task
            if outcome.error:
                errors[task.label] = outcome.error
            else:
                save_idata(_stamp(outcome.value, grid), run_file(out, task.sampler, task.seed))
                runs[task.label] = outcome.value
            if progress:
                progress(task.label, True)
    # Table rows in grid order, whatever order the runs finished in.
    order = [f"{s}/seed={k}" for s in grid.samplers for k in grid.seeds]
    runs = {label: runs[label] for label in order if label in runs}
    if reference is None and spec.exact is not None:
        reference = spec.exact(data)
    table = diagnostics.compare(runs, reference)
    if errors:
        failed = pd.DataFrame(
            [
                {"sampler": k.split("/")[0], "seed": int(k.split("=")[1]), "error": v}
                for k, v in errors.items()
            ],
            index=pd.Index(list(errors), name="run"),
        )
        table = pd.concat([table, failed])
        # With every run failed the numeric columns come back as objects; keep them numbers.
        for column in diagnostics.COMPARE_COLUMNS:
            if column not in ("sampler", "seed"):
                table[column] = pd.to_numeric(table[column], errors="coerce")
    if "error" not in table:
        table["error"] = ""
    table["error"] = table["error"].fillna("")
    return runs, table


def write_table(out: Path, table: pd.DataFrame) -> Path:
    return write_atomic(out / "comparison.csv", csv_text(table))


def summarise(table: pd.DataFrame, samplers: Sequence[str]) -> pd.DataFrame:
    """Per sampler over seeds: median and spread (25th–75th percentile) of each number.

    Columns ``<name> (median)`` and ``<name> (IQR)`` (the interquartile range written
    ``q25–q75``), ``runs`` and ``divergences (total)``.
    """
    ok = table[table["error"] == ""] if "error" in table else table
    # A table written before a column existed (e.g. sd_ratio_worst) lacks it.
    numeric = [
        c
        for c in diagnostics.COMPARE_COLUMNS
        if c not in ("sampler", "seed", "divergences") and c in table
    ]
    groups = ok.groupby("sampler")
    out = pd.DataFrame(index=groups.size().index)
    out["runs"] = groups.size()
    for column in numeric:
        q = groups[column].quantile([0.25, 0.5, 0.75]).unstack()
        out[f"{column} (median)"] = q[0.5]
        out[f"{column} (IQR)"] = [
            "–" if pd.isna(lo) else f"{lo:.3g}–{hi:.3g}"
            for lo, hi in zip(q[0.25], q[0.75], strict=True)
        ]
    out["divergences (total)"] = groups["divergences"].sum()
    return out.reindex([s for s in samplers if s in out.index])
