"""The ``bayesmin`` command line.

Bad input (unknown names, unreadable or unsuitable data, impossible settings) ends
with one line on stderr that names the problem and the fix, and exit status 2.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

try:  # Typer >= 0.20 ships its own copy of Click; older ones use the click package.
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, UsageError

from . import rundir

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
    help="bayesmin: Bayesian methods in ML, executable. Models, samplers, comparisons, report.",
)


class BadInput(Exception):
    """Input the user can fix; printed as one line, exit status 2."""


@contextmanager
def user_input():
    """Turn the library's input errors into :class:`BadInput`."""
    import pandas as pd

    from ..models import DataError

    try:
        yield
    except BadInput:
        raise
    except pd.errors.EmptyDataError:
        raise BadInput("the data file is empty; give a CSV with a header row and data") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        reason = str(err).strip().splitlines()[0]
        raise BadInput(f"cannot parse the data file as CSV ({reason}); check its format") from None
    except (DataError, ValueError, KeyError, TypeError) as err:
        raise BadInput(err.args[0] if err.args else str(err)) from None
    except FileNotFoundError as err:
        raise BadInput(f"no such file: {err.filename}") from None


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_console(),
        transient=False,
    )


# ------------------------------------------------------------------------------ data


def _settings(items: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` as numbers: whole numbers as ints (sizes), others as floats,
    every one finite (the model checks its own ranges)."""
    import math

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--set takes KEY=VALUE (e.g. --set a=2), got {item!r}")
        try:
            number = int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            raise BadInput(f"--set {key.strip()} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise BadInput(f"--set {key.strip()} must be a finite number, got {value!r}")
        out[key.strip()] = number
    return out


def _load(spec, data: Path | None, target=None, column=None, settings=None):
    """:func:`fitting.load_data`, its errors as one line."""
    from .fitting import load_data

    with user_input():
        return load_data(spec, data, target=target, column=column, settings=settings)


def _options(items: list[str] | None) -> dict[str, Any]:
    """``--option KEY=VALUE`` as sampler options: numbers, true/false, or text."""
    import json

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(
                f"--option takes KEY=VALUE (e.g. --option target_accept=0.95), got {item!r}"
            )
        text = value.strip()
        try:
            parsed = json.loads(text.lower() if text.lower() in ("true", "false") else text)
        except ValueError:
            parsed = text
        out[key.strip()] = parsed
    return out


def _run_lengths(**lengths: int) -> dict[str, int]:
    """:func:`inference._checks.check_run_lengths` (run lengths and the seed), its error
    spelt with the option's name (``ranked_draws`` -> ``--ranked-draws``)."""
    from ..inference._checks import check_run_lengths  # not .sampling: no PyMC, no JAX

    try:
        return check_run_lengths(**lengths)
    except ValueError as err:
        message = str(err)
        name = next((n for n in lengths if message.startswith(f"{n} ")), None)
        if name is None:  # pragma: no cover - check_run_lengths names the length first
            raise BadInput(message) from None
        option = "--" + name.replace("_", "-")
        raise BadInput(option + message[len(name) :]) from None


def _spec(name: str):
    from .. import models

    with user_input():
        return models.get(name)


class Model(NamedTuple):
    """What a command runs on: a registry model or a user's, with its data."""

    spec: Any
    data: dict
    feature_names: list[str] | None
    source: dict[str, str]  # script and data, with their hashes (empty for built-in)


def _model(
    name: str,
    data: Path | None,
    target: str | None = None,
    column: str | None = None,
    set_: list[str] | None = None,
) -> Model:
    """MODEL and --data: a registry name, or a user's ``script.py:NAME`` / ``module:NAME``."""
    from ..models import user

    if not user.is_reference(name):
        spec = _spec(name)
        loaded = _load(spec, data, target, column, _settings(set_))
        source = {"data": str(data), "data_sha256": user.digest_of(data)} if data else {}
        return Model(spec, loaded.data, loaded.feature_names, source)
    given = {"--target": target, "--column": column, "--set": set_}
    extra = [flag for flag, value in given.items() if value]
    if extra:
        raise BadInput(
            f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} for registry models; "
            f"{name} takes its data as arguments (--data FILE)"
        )
    with user_input():
        raw = user.read_data(data) if data is not None else None
        spec, bound = user.load(name, raw)
    source = {"script": spec.path, "script_sha256": spec.digest}
    if data is not None:
        source |= {"data": str(data), "data_sha256": user.digest_of(data)}
    return Model(spec, bound, None, source)


def _check_samplers(model: Model, samplers: list[str]) -> None:
    """Refuse, before any work, a sampler that cannot run the model."""
    from .. import inference
    from ..models import user

    spec = model.spec
    samplers = [inference.resolve_sampler(s).spelling for s in samplers]
    for s in samplers:
        if inference.SAMPLERS[s].needs == "pymc" and spec.pymc is None:
            raise BadInput(f"{s} needs a PyMC model and {spec.name} has none")
    discrete = user.discrete_variables(spec, model.data)
    if discrete:
        jax_only = [s for s in samplers if s not in user.DISCRETE_SAMPLERS]
        if jax_only:
            raise BadInput(
                f"{', '.join(jax_only)} cannot sample the discrete variable(s) "
                f"{', '.join(discrete)} of {spec.name}; use mh:pymc, nuts:pymc or "
                "metropolis:pymc (PyMC gives discrete variables their own Gibbs steps)"
            )


def _claim(ctx: typer.Context, out: Path, kind: str, **options: Any) -> None:
    """Own and lock ``out`` until the command ends (:func:`rundir.claim`; ``kind`` and
    ``options`` as there), before any work; the command line is what a second process
    finding it locked is shown."""
    argv = (ctx.obj if isinstance(ctx.obj, dict) else {}).get("argv") or [ctx.info_name]
    note = shlex.join(["bayesmin", *map(str, argv)])
    ctx.with_resource(rundir.claim(out, kind, note=note, **options))


def _provenance(ctx: typer.Context, *, seed: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """:func:`run_page.provenance` of this command: the arguments :func:`main` was given
    and the seconds since it started (both kept in the Click context's ``obj``)."""
    from .run_page import provenance

    state = ctx.obj if isinstance(ctx.obj, dict) else {}
    argv = state.get("argv")
    started = state.get("started")
    return provenance(
        None if argv is None else ["bayesmin", *argv],
        seed=seed,
        timings=None if started is None else {"total": time.perf_counter() - started},
        extra=extra,
    )


# -------------------------------------------------------------------------- commands


@app.command("list")
def list_() -> None:
    """List models, samplers and course topics."""
    from rich.console import Console
    from rich.table import Table

    from .. import inference, models
    from .report import TOPICS, available_topics

    console = Console()
    t = Table(title="models")
    t.add_column("name", no_wrap=True)
    for col in ("topic", "title", "exact", "pymc", "numpyro"):
        t.add_column(col)
    for name in models.names():
        s = models.get(name)
        t.add_row(
            name,
            str(s.topic),
            s.title,
            *("yes" if x is not None else "" for x in (s.exact, s.pymc, s.numpyro)),
        )
    console.print(t)
    console.print(
        "and your own: path/to/script.py:NAME or package.module:NAME with --data FILE "
        "(a pm.Model, a function returning one, or a NumPyro model; see examples/)"
    )
    t = Table(title="samplers (inference.sample / --samplers)")
    t.add_column("spelling")
    t.add_column("runs on")
    t.add_column("what")
    t.add_row("nuts", "any model", "= nuts:numpyro")
    for s in inference.SAMPLERS.values():
        t.add_row(s.spelling, "PyMC models" if s.needs == "pymc" else "any model", s.description)
    console.print(t)
    t = Table(title="course topics (report --topics)")
    for col in ("#", "name", "title", "in report"):
        t.add_column(col)
    have = set(available_topics())
    for n, (name, title) in TOPICS.items():
        t.add_row(str(n), name, title, "yes" if n in have else "later")
    console.print(t)


OutOpt = Annotated[
    str,
    typer.Option(
        "--out",
        help="Output folder: new, empty, or this command's own (locked while written; see "
        "README, 'Run folders').",
    ),
]
ModelArg = Annotated[
    str,
    typer.Argument(
        help="A registry name (see `bayesmin list`), or your own model: path/to/script.py:NAME "
        "or package.module:NAME, where NAME is a pm.Model, a function returning one, or a "
        "NumPyro model function (its arguments come from --data). The script runs as your "
        "own code.",
        show_default=False,
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        help="Your data. Registry models: a CSV. Your own model: a CSV (each column is the "
        "argument of the same name; a function of one argument that is no column gets the "
        "whole table as a pandas DataFrame), .npz, .json (an object of named values) or "
        "netCDF (an ArviZ file's constant_data and observed_data, or a plain dataset). "
        "Omit for built-in data."
    ),
]


@app.command()
def fit(
    ctx: typer.Context,
    model: ModelArg,
    out: OutOpt,
    data: DataOpt = None,
    target: Annotated[str | None, typer.Option(help="Regression: the target column.")] = None,
    column: Annotated[str | None, typer.Option(help="One-column models: which column.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Hyperparameter KEY=VALUE (e.g. --set a=2). Repeatable."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help="'exact' (closed form, where there is one), 'em' (EM point estimates), "
            "'evidence' (type-II ML: the RVM), or a sampler."
        ),
    ] = "auto",
    k: Annotated[int | None, typer.Option(help="Mixtures: the number of components.")] = None,
    q: Annotated[int | None, typer.Option(help="PPCA: the latent dimension.")] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="vae, ddpm: 'quick' (default) or 'full' training; vae also 'conv' "
            "(the quick profile with convolutional networks)."
        ),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="ddpm: moons (default), swissroll or digits.")
    ] = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 0,
    until_ess: UntilEssOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace another fit in --out (a fit's own folder, nothing else)."
        ),
    ] = False,
) -> None:
    """Fit one model to your data (CSV) or its built-in data; write estimates to --out.

    --out is replaced as a whole once the fit is done; the same fit rerun replaces its
    folder, another fit needs --force. The networks (vae, ddpm) train on built-in data
    with a progress bar and resume from their checkpoint in --out when rerun.
    """
    from ..models import user
    from . import neural  # not yet ``fitting``: it imports PyMC, which the networks never use

    out = rundir.check_out(out)
    _run_lengths(seed=seed)
    if user.is_reference(model):
        spec = None
    else:
        spec = _spec(model)
    if spec is not None and spec.name in neural.NEURAL_MODELS:
        given = {"--data": data, "--target": target, "--column": column, "--set": set_}
        given |= {"--k": k, "--q": q, "--method": None if method == "auto" else method}
        extra = [name for name, value in given.items() if value]
        if extra:
            raise BadInput(f"{spec.name} trains on built-in data; drop {', '.join(extra)}")
        if force:
            raise BadInput(f"{spec.name} resumes its training in --out; drop --force")
        _fit_network(ctx, spec.name, out, profile or "quick", dataset, seed)
        return
    if profile is not None or dataset is not None:
        flag = "--profile" if profile is not None else "--dataset"
        raise BadInput(f"{flag} is for the networks (vae, ddpm), not {model}")
    from . import fitting

    sets = list(set_ or [])
    for name, value in (("k", k), ("q", q)):
        if value is not None:
            sets.append(f"{name}={value}")
    lengths = _run_lengths(draws=draws, tune=tune, chains=chains)
    chosen = _model(model, data, target, column, sets)
    with user_input():
        method = fitting.choose_method(chosen.spec, method)
        sampled = method not in ("exact", *fitting.POINT_FITS)
        _check_samplers(chosen, [method] if sampled else [])
        if until_ess is not None:
            _check_until_ess(until_ess, [method] if sampled else [])
        if sampled:
            fitting.check_memory(chosen.spec, chosen.data, **lengths)
    identity = fitting.fit_identity(
        chosen.spec,
        chosen.data,
        method=method,
        seed=seed,
        origin=chosen.source,
        until_ess=until_ess,
        **lengths,
    )
    _claim(ctx, out, "fit", identity=identity, force=force)
    written = fitting.fit_and_write(
        chosen.spec,
        chosen.data,
        out,
        method=method,
        feature_names=chosen.feature_names,
        source=str(data) if data else "built-in",
        **lengths,
        seed=seed,
        progress=sys.stderr.isatty(),
        origin=chosen.source,
        until_ess=until_ess,
        provenance=lambda: _provenance(
            ctx,
            seed=seed,
            extra={
                "method": method,
                "data": str(data) if data else "built-in",
                **chosen.source,
                **({} if method in ("exact", *fitting.POINT_FITS) else lengths),
            },
        ),
    )
    for path in written:
        typer.echo(str(path))
    if sampled:
        record = json.loads((out / "fit.json").read_text()).get("sampler", {})
        _print_convergence({method: record})


def _print_convergence(runs: dict[str, Any], shown: int = 3) -> None:
    """The convergence verdicts (``attrs["convergence"]`` of each run, label -> attrs)
    on stderr: one line for a single run; for a grid a count, and the failed runs'
    lines when there are few. Runs without a verdict (variational, or saved before the
    check existed) are left out."""
    judged = {k: a for k, a in runs.items() if "converged" in a and a.get("convergence")}
    # A variational result is "not checked (...)": nothing to report.
    judged = {k: a for k, a in judged.items() if not str(a["convergence"]).startswith("not ")}
    if not judged:
        return
    failed = {k: str(a["convergence"]) for k, a in judged.items() if not int(a["converged"])}
    if len(judged) == 1:
        label, attrs = next(iter(judged.items()))
        typer.echo(f"bayesmin: {label} {attrs['convergence']}", err=True)
        return
    if not failed:
        typer.echo(f"bayesmin: all {len(judged)} runs converged", err=True)
        return
    per_sampler: dict[str, int] = {}
    for label in failed:
        per_sampler[label.split("/")[0]] = per_sampler.get(label.split("/")[0], 0) + 1
    counts = ", ".join(f"{name} ×{n}" for name, n in per_sampler.items())
    typer.echo(
        f"bayesmin: {len(failed)} of {len(judged)} runs did not converge ({counts})", err=True
    )
    for label, line in list(failed.items())[:shown]:
        typer.echo(f"  {label}: {line}", err=True)
    if len(failed) > shown:
        typer.echo(f"  and {len(failed) - shown} more: see the verdicts in index.html", err=True)


def _fit_network(
    ctx: typer.Context, model: str, out: Path, profile: str, dataset: str | None, seed: int
) -> None:
    from . import neural
    from .checkpoint import CheckpointError

    with user_input():
        run = neural.make_run(model, profile=profile, dataset=dataset, seed=seed)
    _claim(ctx, out, "network")
    try:
        neural.start_state(run, out, seed)  # refuse another run's checkpoint before any work
    except CheckpointError as err:
        raise BadInput(str(err)) from None
    with _progress() as bar:
        task = bar.add_task(f"{model}: training", total=run.trainer.config.steps)

        def show(step: int, total: int, loss: float) -> None:
            text = f"{model}: loss {loss:.4g}" if loss == loss else f"{model}: compiling"
            bar.update(task, completed=step, total=total, description=text)

        try:
            written = neural.fit_neural(run, out, seed=seed, on_progress=show)
        except CheckpointError as err:
            raise BadInput(str(err)) from None
    for path in written:
        typer.echo(str(path))


UntilEssOpt = Annotated[
    float | None,
    typer.Option(
        "--until-ess",
        help="Sample until every parameter's bulk and tail ESS reach this and R-hat < 1.01 "
        "(mh, nuts, nuts:blackjax: --draws at a time, the same chains, at most 300 s); "
        "other samplers run --draws.",
    ),
]


def _check_until_ess(value: float, samplers: list[str]) -> None:
    """--until-ess: a positive number, and a sampler of the run that can take it."""
    from .. import inference

    if not (value > 0 and value < float("inf")):
        raise BadInput(f"--until-ess must be a positive number, got {value:g}")
    able = [
        s for s in samplers if inference.resolve_sampler(s).spelling in inference.UNTIL_ESS_SAMPLERS
    ]
    if not able:
        shown = ", ".join(samplers) or "this method"
        raise BadInput(
            f"--until-ess needs a sampler that keeps its chains going "
            f"({', '.join(inference.UNTIL_ESS_SAMPLERS)}); {shown} runs --draws"
        )


WorkersOpt = Annotated[
    int | None,
    typer.Option(
        help="Local worker processes (default: one per core, up to the runs left; "
        "0 = in this process)."
    ),
]
# The most local worker processes: four per core (more only compete for the cores).
MAX_WORKERS = 4 * (os.cpu_count() or 1)
SchedulerOpt = Annotated[
    str | None,
    typer.Option(help="Address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786."),
]


def _check_executor(workers: int | None, scheduler: str | None) -> None:
    """Refuse a bad ``--workers`` or an unreachable ``--scheduler`` before any file is written."""
    from .executor import ExecutorError, check_scheduler

    if workers is not None and workers < 0:
        raise BadInput(f"--workers must be >= 0 (0 runs in this process), got {workers}")
    if workers is not None and workers > MAX_WORKERS:
        raise BadInput(
            f"--workers must be <= {MAX_WORKERS} (one process each, on a machine with "
            f"{os.cpu_count()} cores), got {workers}; omit it for one per core"
        )
    if scheduler:
        try:
            check_scheduler(scheduler)
        except ExecutorError as err:
            raise BadInput(str(err)) from None


def _workers(workers: int | None, todo: int, *, compiled_once: bool = False) -> int:
    """``--workers``, or its default: one process per core, up to the runs left.

    ``compiled_once``: the runs are many small fits of one model by a JAX sampler (an
    SBC), which compiles its program once per process and then takes milliseconds per
    fit; in this process they finish before local workers would have started and
    compiled it again each.
    """
    from .executor import default_workers

    if workers is None:
        # One run left: a worker process would only add its start-up.
        return 0 if todo <= 1 or compiled_once else default_workers(todo)
    if workers < 0:
        raise BadInput(f"--workers must be >= 0 (0 runs in this process), got {workers}")
    return workers


@contextmanager
def _executor_errors():
    from .executor import ExecutorError

    try:
        yield
    except ExecutorError as err:
        raise BadInput(str(err)) from None


@app.command()
def compare(
    ctx: typer.Context,
    model: ModelArg,
    out: OutOpt,
    samplers: Annotated[str, typer.Option(help="Comma-separated, e.g. nuts,nuts:pymc.")] = "nuts",
    seeds: Annotated[str, typer.Option(help="0-9 or 0,3,5.")] = "0",
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    data: DataOpt = None,
    target: Annotated[str | None, typer.Option(help="Regression: the target column.")] = None,
    column: Annotated[str | None, typer.Option(help="One-column models: which column.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE.")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            help="A sampler option KEY=VALUE, given to every sampler of the grid that takes "
            "it (e.g. --option target_accept=0.95); repeatable. `bayesmin list` names the "
            "samplers; an option no sampler takes is an error."
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            help="What max_abs_z and sd_ratio_worst measure against: 'long' (a long NUTS run, "
            "checked for convergence, computed once and kept as DIR/reference.nc) or a "
            "netCDF of your own draws (e.g. from Stan via ArviZ). Default: the closed-form "
            "posterior where the model has one, else none."
        ),
    ] = None,
    until_ess: UntilEssOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Run samplers x seeds on one model; resumable (finished runs are kept)."""
    from .. import inference, models
    from . import fitting, grid, run_page

    out = rundir.check_out(out)
    with user_input():
        # Each sampler once, however spelt (mh and mh:jax are one sampler).
        chosen = [inference.resolve_sampler(s).spelling for s in samplers.split(",") if s.strip()]
        chosen = list(dict.fromkeys(chosen))
        if not chosen:
            raise BadInput("--samplers is empty; e.g. --samplers nuts,nuts:pymc")
        seed_list = grid.parse_seeds(seeds)
    lengths = _run_lengths(draws=draws, tune=tune, chains=chains)
    sampler_options = _options(option)
    if until_ess is not None:
        with user_input():
            _check_until_ess(until_ess, chosen)
        sampler_options["until_ess"] = float(until_ess)
    with user_input():
        grid.grid_options(chosen, sampler_options)  # refuse an option no sampler takes
    target_model = _model(model, data, target, column, set_)
    spec, payload = target_model.spec, target_model.data
    with user_input():
        _check_samplers(target_model, chosen)
        if not spec.params:
            raise BadInput(f"{spec.name} has no continuous parameters to sample")
        fitting.check_memory(spec, payload, **lengths, runs=len(chosen) * len(seed_list))
    _check_executor(workers, scheduler)
    gspec = grid.GridSpec(
        spec.name,
        tuple(chosen),
        tuple(seed_list),
        lengths["draws"],
        lengths["tune"],
        lengths["chains"],
        models.fingerprint(payload),
        target_model.source.get("script", ""),
        target_model.source.get("script_sha256", ""),
        json.dumps(sampler_options, sort_keys=True) if sampler_options else "",
    )
    if reference is not None and reference != "long" and not Path(reference).is_file():
        raise BadInput(f"--reference takes 'long' or a netCDF file; no such file: {reference}")
    _claim(ctx, out, "compare")
    with user_input():
        gspec = grid.prepare(out, gspec, note=_console().print)
    ref = _reference(reference, spec, payload, out)
    n_runs = len(gspec.samplers) * len(gspec.seeds)
    finished = grid.load_finished(out, gspec, note=_console().print)
    todo = n_runs - len(finished)
    with _progress() as bar, _executor_errors():
        task = bar.add_task(f"{spec.name}", total=n_runs)

        def step(label: str, computed: bool) -> None:
            bar.update(
                task,
                advance=1,
                description=f"{spec.name}: {label}" + ("" if computed else " (kept)"),
            )

        runs, table = grid.run_grid(
            spec,
            payload,
            gspec,
            out,
            progress=step,
            on_start=lambda where: bar.console.print(f"running {todo} run(s) {where}"),
            workers=_workers(workers, todo),
            scheduler=scheduler,
            reference=ref,
            finished=finished,
            **sampler_options,
        )
    grid.write_table(out, table)
    if ref is None and spec.exact is not None:
        ref = spec.exact(payload)
    run_page.write_compare_page(
        out,
        spec.name,
        runs,
        table,
        list(gspec.samplers),
        ref,
        provenance=_provenance(
            ctx,
            seed=", ".join(map(str, gspec.seeds)),
            extra={
                "samplers": ", ".join(gspec.samplers),
                "draws": gspec.draws,
                "tune": gspec.tune,
                "chains": gspec.chains,
                **sampler_options,
                "data": str(data) if data else "built-in",
                **target_model.source,
                "reference": _reference_label(reference, ref),
            },
        ),
    )
    typer.echo(str(out / "comparison.csv"))
    typer.echo(str(out / "index.html"))
    _print_convergence({label: dict(idata.attrs) for label, idata in runs.items()})
    failed = table[table["error"] != ""]
    if len(failed):
        _console().print(f"{len(failed)} run(s) failed; see the error column of comparison.csv")
        raise typer.Exit(1)


def _reference_label(choice: str | None, ref: Any) -> str:
    if ref is None:
        return "none"
    return getattr(ref, "source", None) or ("closed form" if choice is None else str(choice))


def _reference(choice: str | None, spec, data, out: Path):
    """``--reference``: None, a user's draws, or the long run (cached in ``out``)."""
    from .. import diagnostics

    if choice is None:
        return None
    try:
        if choice != "long":
            return diagnostics.load_reference(choice)
        cached = out / "reference.nc"
        if cached.exists():
            return diagnostics.load_reference(cached)
        _console().print(f"reference: a long NUTS run, 4 chains x 5000 draws -> {cached}")
        with user_input():
            # A reference trades speed for care: smaller steps, fewer divergences.
            ref = diagnostics.reference(
                spec, data=data, target_accept=0.95, progress=sys.stderr.isatty()
            )
        ref.save(cached)
        return ref
    except diagnostics.BadReference as err:
        raise BadInput(str(err)) from None


@app.command()
def sbc(
    ctx: typer.Context,
    model: ModelArg,
    out: OutOpt,
    sampler: Annotated[str, typer.Option(help="Sampler spelling, e.g. mh or nuts.")] = "nuts",
    sims: Annotated[int, typer.Option(help="Simulations (at least 10).")] = 100,
    seed: int = 0,
    chains: int = 4,
    draws: int = 1000,
    tune: int = 1000,
    ranked_draws: Annotated[
        int, typer.Option(help="Posterior draws each θ̃ is ranked among (L).")
    ] = 99,
    save_runs: Annotated[
        bool, typer.Option("--save-runs", help="Keep each simulation's netCDF.")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Your own model: its inputs (as for `bayesmin compare --data`); the observed "
            "values are replaced by simulated ones, the rest (covariates, sizes) kept."
        ),
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE.")] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Simulation-based calibration of a sampler on a model; resumable.

    θ̃ and data are drawn from the model's prior predictive (its NumPyro program, or
    PyMC's prior predictive for a PyMC-only model), the sampler refits each, and the
    ranks of θ̃ among the posterior draws are tested for uniformity. With a JAX sampler
    (mh, nuts, nuts:blackjax) the simulations run in this process unless --workers is
    given: its program is compiled once and each simulation then takes milliseconds."""
    from .. import inference, models
    from ..diagnostics.sbc import prior_draw
    from . import fitting
    from . import sbc as sbc_run

    out = rundir.check_out(out)
    with user_input():
        chosen = inference.resolve_sampler(sampler).spelling
        sbc_run.check_sims(sims)
    _run_lengths(draws=draws, tune=tune, chains=chains, ranked_draws=ranked_draws, seed=seed)
    if ranked_draws > chains * draws:
        raise BadInput(
            f"--ranked-draws {ranked_draws} exceeds the {chains * draws} draws per simulation; "
            "lower it or raise --draws"
        )
    target_model = _model(model, data, set_=set_)
    spec, payload = target_model.spec, target_model.data
    with user_input():
        _check_samplers(target_model, [chosen])
        prior_draw(spec, payload, 0)  # the model can be simulated from its prior
        fitting.check_memory(spec, payload, draws=draws, chains=chains)
    _check_executor(workers, scheduler)
    _claim(ctx, out, "sbc")
    with user_input():
        run_spec = sbc_run.prepare(
            out,
            sbc_run.SBCSpec(
                spec.name,
                chosen,
                sims,
                seed,
                draws,
                tune,
                chains,
                ranked_draws,
                models.fingerprint(payload),
                target_model.source.get("script", ""),
                target_model.source.get("script_sha256", ""),
            ),
        )
    finished = sbc_run.load_finished(out, run_spec, save_runs, note=_console().print)
    todo = run_spec.sims - len(finished)
    with _progress() as bar, _executor_errors():
        task = bar.add_task(f"sbc {spec.name}", total=run_spec.sims)

        def step(label: str, computed: bool) -> None:
            suffix = "" if computed else " (kept)"
            bar.update(task, advance=1, description=f"sbc {spec.name}: {label}{suffix}")

        ranks, summary, errors = sbc_run.run_sbc(
            spec,
            payload,
            run_spec,
            out,
            save_runs=save_runs,
            workers=_workers(
                workers,
                todo,
                compiled_once=inference.resolve_sampler(run_spec.sampler).needs == "logdensity",
            ),
            scheduler=scheduler,
            progress=step,
            on_start=lambda where: bar.console.print(f"running {todo} simulation(s) {where}"),
            finished=finished,
        )
    sbc_run.write_tables(out, ranks, summary)
    settings = ("sampler", "sims", "draws", "tune", "chains", "ranked_draws")
    sbc_run.write_page(
        out,
        run_spec,
        ranks,
        summary,
        errors,
        provenance=_provenance(
            ctx, seed=run_spec.seed, extra={k: getattr(run_spec, k) for k in settings}
        ),
    )
    for name in ("ranks.csv", "summary.csv", "index.html"):
        typer.echo(str(out / name))
    if len(summary):
        bad = summary.loc[~summary["calibrated"], "parameter"].tolist()
        _console().print(
            "calibrated: every parameter passes"
            if not bad
            else f"NOT calibrated: {', '.join(bad)} (see summary.csv)"
        )
    if errors:
        _console().print(f"{len(errors)} simulation(s) failed; rerun to retry them")
        raise typer.Exit(1)


@app.command()
def report(
    ctx: typer.Context,
    out: OutOpt,
    profile: Annotated[str, typer.Option(help="quick or full.")] = "quick",
    topics: Annotated[str, typer.Option(help="Numbers or names, e.g. 1,2,conjugate.")] = "all",
    seed: int = 0,
    jobs: Annotated[
        int, typer.Option(help="Sections built at once, each in its own process (~0.5 GB each).")
    ] = 2,
) -> None:
    """Render the course as an HTML report (--out/index.html and the claims ledger,
    --out/ledger.html)."""
    from .report import PROFILES, TOPICS, build_report, parse_topics

    out = rundir.check_out(out)
    with user_input():
        chosen = parse_topics(topics)
    _run_lengths(seed=seed)
    if profile not in PROFILES:
        raise BadInput(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if jobs < 1:
        raise BadInput(f"--jobs must be at least 1, got {jobs}")
    _claim(ctx, out, "report")
    with _progress() as bar:
        tasks = {n: bar.add_task(f"topic {n}: {TOPICS[n][0]}", total=None) for n in chosen}
        tasks["ledger"] = bar.add_task("ledger: the course's claims", total=None)

        def step(number: int | str, message: str) -> None:
            label = "ledger" if number == "ledger" else f"topic {number}"
            bar.update(tasks[number], advance=1, description=f"{label}: {message}")

        page, sections = build_report(out, chosen, profile, progress=step, seed=seed, jobs=jobs)
        for task in tasks.values():
            bar.update(task, total=bar.tasks[task].completed)
    typer.echo(str(page))
    failed = [s.heading for s in sections if s.error]
    if failed:
        _console().print(f"section(s) failed: {'; '.join(failed)} (details in the page)")
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayesmin`` script.

    SIGINT (Ctrl-C) and SIGTERM stop the command cleanly (:mod:`reports.interrupts`):
    progress bars and clusters are closed, finished runs kept, one line is printed, and
    the exit status is 130 (143 for SIGTERM).
    """
    from .interrupts import MESSAGE, Interrupted, check, handle_signals

    with handle_signals():
        try:
            code = _main(argv)
            check()  # a signal whose exception some library swallowed
            return code
        except Interrupted as err:
            print(MESSAGE, file=sys.stderr)
            return err.exit_code


def _main(argv: list[str] | None) -> int:
    from .executor import quiet_libraries

    args = list(sys.argv[1:] if argv is None else argv)
    # `report` builds its sections in processes of their own, which quiet the libraries
    # themselves: this process then need not import PyMC (0.35 GB, seconds) to do it.
    # Nor does training a network (`fit vae`, `fit ddpm`): JAX, Equinox and NumPyro only.
    networks = False
    if args[:1] == ["fit"]:
        from .neural import NEURAL_MODELS  # imports JAX, as every fit does

        networks = bool(set(args[1:2]) & set(NEURAL_MODELS))
    quiet_libraries(import_pymc=args[:1] != ["report"] and not networks)
    # What the pages' provenance records: the arguments as given, the command's start.
    state = {"argv": args, "started": time.perf_counter()}
    try:
        result = app(args=argv, standalone_mode=False, prog_name="bayesmin", obj=state)
    except (BadInput, rundir.OutError) as err:
        print(f"bayesmin: error: {err}", file=sys.stderr)
        return 2
    except UsageError as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # plain `bayesmin`: show the help
            print(err.format_message(), file=sys.stderr)
            return 2
        command = err.ctx.command_path if err.ctx else "bayesmin"
        msg = err.format_message().replace("\n", " ")
        print(f"bayesmin: error: {msg} (see: {command} --help)", file=sys.stderr)
        return 2
    except ClickException as err:
        print(f"bayesmin: error: {err.format_message()}", file=sys.stderr)
        return err.exit_code
    except typer.Exit as err:
        return err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("bayesmin: interrupted; finished results are kept", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


def run() -> None:  # pragma: no cover - the console script
    """The ``bayesmin`` script: :func:`main` with JAX's persistent compilation cache.

    Compiled samplers are kept under ``$BAYESMIN_CACHE`` (default
    ``~/.cache/bayesmin/jax``), so a second report or comparison on the same models
    skips most of the compile time. ``JAX_COMPILATION_CACHE_DIR`` overrides it. Where
    the home folder is not writable, the libraries' caches go to a temporary folder
    (:mod:`reports.cachedirs`).
    """
    from ..inference._compile_cache import MIN_COMPILE_SECONDS
    from .cachedirs import apply_fallback

    apply_fallback()  # before anything imports matplotlib, arviz, pytensor or jax
    # JAX keeps only programs that took a second to compile; ours (an EM loop, a
    # sampler on a small model) often take less and are worth keeping all the same.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", str(MIN_COMPILE_SECONDS))
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
