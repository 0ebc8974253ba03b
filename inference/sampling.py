"""``inference.sample``: one entry point for every sampler and every kind of model."""

from __future__ import annotations

import functools
import inspect
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import arviz as az
import numpy as np

from .. import models
from . import convergence, mh, mh_pymc, nuts, vi
from ._checks import check_run_lengths, check_seed
from ._compiled import CompiledCache
from ._precision import float64
from ._timing import clock
from .bridge import LogDensity, from_numpyro, from_pymc
from .results import finalize
from .results import from_arrays as results_from_arrays

__all__ = [
    "SAMPLERS",
    "UNTIL_ESS_SAMPLERS",
    "Sampler",
    "Target",
    "UntilESSWarning",
    "check_run_lengths",
    "check_seed",
    "resolve_sampler",
    "resolve_target",
    "sample",
    "sampler_options",
    "values_per_draw",
]


@dataclass(frozen=True)
class Sampler:
    """A sampler spelling ``NAME:BACKEND`` and what it runs on.

    ``needs`` is ``"logdensity"`` (a JAX kernel on :class:`inference.bridge.LogDensity`,
    so any model kind) or ``"pymc"`` (a PyMC model is required).
    """

    spelling: str
    backend: str
    needs: str
    run: Callable[..., Any]
    description: str


SAMPLERS: dict[str, Sampler] = {
    s.spelling: s
    for s in (
        Sampler("nuts:numpyro", "numpyro", "logdensity", nuts.numpyro_nuts, "NumPyro NUTS"),
        Sampler("nuts:pymc", "pymc", "pymc", nuts.pymc_nuts, "PyMC NUTS (pm.sample)"),
        Sampler("nuts:nutpie", "nutpie", "pymc", nuts.nutpie_nuts, "nutpie NUTS (Rust)"),
        Sampler("nuts:blackjax", "blackjax", "logdensity", nuts.blackjax_nuts, "BlackJAX NUTS"),
        Sampler(
            "metropolis:pymc", "pymc", "pymc", nuts.pymc_metropolis, "PyMC's Metropolis (anchor)"
        ),
        Sampler("mh", "jax", "logdensity", mh.run, "our Metropolis-Hastings (JAX, adaptive)"),
        Sampler("mh:pymc", "pymc", "pymc", mh_pymc.pymc_mh, "our MH kernel as a PyMC step"),
        Sampler("advi:jax", "jax", "logdensity", vi.advi, "mean-field ADVI, ours (JAX)"),
        Sampler(
            "fullrank_advi:jax",
            "jax",
            "logdensity",
            functools.partial(vi.advi, fullrank=True),
            "full-rank ADVI, ours (JAX)",
        ),
        Sampler("advi:pymc", "pymc", "pymc", vi.pymc_advi, "PyMC pm.fit(method='advi')"),
        Sampler(
            "fullrank_advi:pymc",
            "pymc",
            "pymc",
            functools.partial(vi.pymc_advi, fullrank=True),
            "PyMC pm.fit(method='fullrank_advi')",
        ),
        Sampler("advi:numpyro", "numpyro", "logdensity", vi.numpyro_advi, "NumPyro SVI AutoNormal"),
        Sampler(
            "fullrank_advi:numpyro",
            "numpyro",
            "logdensity",
            functools.partial(vi.numpyro_advi, fullrank=True),
            "NumPyro SVI AutoMultivariateNormal",
        ),
    )
}
_ALIASES = {
    "nuts": "nuts:numpyro",
    "metropolis": "metropolis:pymc",
    "mh:jax": "mh",
    "advi": "advi:jax",
    "fullrank_advi": "fullrank_advi:jax",
}


def resolve_sampler(spelling: str) -> Sampler:
    """The :class:`Sampler` for a spelling such as ``"nuts"`` or ``"nuts:pymc"``.

    Raises
    ------
    ValueError
        Naming the known spellings when ``spelling`` is not one of them.
    """
    key = _ALIASES.get(spelling.strip().lower(), spelling.strip().lower())
    try:
        return SAMPLERS[key]
    except KeyError:
        known = ", ".join([*_ALIASES, *SAMPLERS])
        raise ValueError(f"unknown sampler {spelling!r}; known samplers: {known}") from None


# Traced log densities of registry models, by (name, data fingerprint): every seed and
# every JAX sampler on the same data shares one, so their compiled programs are reused.
# What every sampler takes from ``sample`` itself; the rest of a signature is its options.
_RUN_ARGUMENTS = frozenset({"draws", "tune", "chains", "seed", "progress"})
# ``pm.sample`` arguments a PyMC-backed sampler sets itself, so a caller cannot.
_SET_BY_US = frozenset(
    {"draws", "tune", "chains", "random_seed", "step", "progressbar", "model", "kwargs"}
    | {"return_inferencedata", "compute_convergence_checks"}
)


@functools.cache
def sampler_options(spelling: str) -> tuple[str, ...]:
    """The options ``sample(..., sampler=spelling, **options)`` accepts, sorted.

    An adapter's keyword-only parameters beyond the run lengths, seed and progress; for the
    PyMC-backed samplers also the arguments of ``pm.sample`` they pass on.

    Examples
    --------
    >>> sampler_options("nuts:blackjax")
    ('target_accept',)
    """
    run = resolve_sampler(spelling).run
    fixed: set[str] = set()
    if isinstance(run, functools.partial):  # e.g. fullrank=True for the full-rank twins
        fixed, run = set(run.keywords), run.func
    params = inspect.signature(run).parameters.values()
    names = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        import pymc as pm  # only the PyMC-backed samplers pass options on to pm.sample

        passed_on = inspect.signature(pm.sample).parameters.values()
        names |= {p.name for p in passed_on if p.kind is not inspect.Parameter.VAR_KEYWORD}
        names -= _SET_BY_US
    return tuple(sorted(names - _RUN_ARGUMENTS - fixed))


def _check_options(spelling: str, options: Mapping[str, Any]) -> None:
    accepted = sampler_options(spelling)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        import difflib

        hints = [m for u in unknown for m in difflib.get_close_matches(u, accepted, n=1)]
        hint = f" (did you mean {', '.join(map(repr, hints))}?)" if hints else ""
        raise ValueError(
            f"unknown option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))} for sampler {spelling!r}{hint}; "
            f"it accepts: {', '.join(accepted) or 'no options'}"
        )


_LOGDENSITIES: CompiledCache[LogDensity] = CompiledCache("log densities", maxsize=16)


@dataclass
class Target:
    """What a sampler runs on: a registry model with data, a PyMC model or a NumPyro function."""

    name: str
    spec: models.ModelSpec | None = None
    data: dict | None = None
    pymc_model: Any = None
    numpyro_fn: Callable | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def pymc(self):
        """The PyMC model, built once."""
        if self.pymc_model is None:
            if self.spec is None or self.spec.pymc is None:
                raise ValueError(
                    f"{self.name} has no PyMC model; use a JAX sampler such as 'nuts' or "
                    "'nuts:blackjax'"
                )
            self.pymc_model = self.spec.pymc(self.data)
        return self.pymc_model

    @cached_property
    @float64()
    def logdensity(self) -> LogDensity:
        """The flat unconstrained log density, from NumPyro where the model has it.

        For registry models it is shared by every run on the same data, so JAX
        functions compiled for it (see :mod:`inference.nuts`) are reused across seeds.
        """
        if self.spec is None:
            return self._trace()
        # A user's model (models.user) is also keyed by its script's text: an edited
        # script is another model under the same name.
        source = getattr(self.spec, "digest", "")
        key = (self.spec.name, source, models.fingerprint(self.data))
        return _LOGDENSITIES.get(key, self._trace)

    def _trace(self) -> LogDensity:
        if self.numpyro_fn is not None:
            return from_numpyro(self.numpyro_fn, self.data)
        return from_pymc(self.pymc())

    def exact(self) -> dict[str, models.Exact] | None:
        """Closed-form posterior of a registry model, ``None`` where there is none."""
        if self.spec is None or self.spec.exact is None:
            return None
        return self.spec.exact(self.data)


def resolve_target(target: Any, data: Mapping[str, Any] | None = None) -> Target:
    """Turn a registry name, ``ModelSpec``, ``pm.Model`` or NumPyro function into a :class:`Target`.

    A registry model without ``data`` uses its built-in data, ``spec.simulate(0)``:
    the same data whatever the sampler's seed, so runs with different seeds compare.
    """
    import sys

    if isinstance(target, str | models.ModelSpec):
        try:
            spec = models.get(target)
        except KeyError as err:
            raise ValueError(err.args[0]) from None
        if spec.pymc is None and spec.numpyro is None:
            raise ValueError(f"model {spec.name!r} has no declarative program to sample")
        if not spec.params:
            raise ValueError(
                f"model {spec.name!r} has no continuous parameters to sample; "
                "see its module for exact queries"
            )
        return Target(
            spec.name,
            spec=spec,
            data=dict(data) if data is not None else spec.simulate(0),
            numpyro_fn=spec.numpyro,
        )
    # A pm.Model exists only where PyMC was imported: a NumPyro user does not pay for it.
    pm = sys.modules.get("pymc")
    if pm is not None and isinstance(target, pm.Model):
        return Target(getattr(target, "name", "") or "pymc_model", pymc_model=target)
    if callable(target):
        return Target(
            getattr(target, "__name__", "numpyro_model"), data=dict(data or {}), numpyro_fn=target
        )
    raise TypeError(
        "target must be a registry name, a ModelSpec, a pm.Model or a NumPyro model function; "
        f"got {type(target).__name__}"
    )


@float64()
def values_per_draw(target: Any, data: Mapping[str, Any] | None = None) -> int:
    """How many numbers one posterior draw of ``target`` holds: its free variables and
    deterministics, constrained, as :func:`sample` stores them (enumerated discrete
    variables excluded). For sizing a run before it starts: nothing is compiled for a
    NumPyro model (one traced call); a PyMC-only model evaluates its variables' shapes.

    Examples
    --------
    >>> values_per_draw("linear_regression")  # w has d = 3 entries
    3
    """

    tgt = resolve_target(target, data)
    if tgt.numpyro_fn is not None:
        import jax
        from numpyro import handlers

        def stored() -> dict[str, Any]:
            with handlers.trace() as trace, handlers.seed(rng_seed=0):
                tgt.numpyro_fn(**(tgt.data or {}))
            return {
                name: site["value"]
                for name, site in trace.items()
                if site["type"] == "deterministic"
                or (
                    site["type"] == "sample"
                    and not site["is_observed"]
                    and not site.get("infer", {}).get("enumerate")
                )
            }

        # Shapes only: traced abstractly, nothing is computed or compiled.
        shapes = jax.eval_shape(stored)
        return sum(int(np.prod(v.shape)) for v in shapes.values())
    import pytensor

    model = tgt.pymc()
    variables = [*model.free_RVs, *model.deterministics]
    shapes = pytensor.function([], [v.shape for v in variables], mode="FAST_COMPILE")()
    return sum(int(np.prod(shape)) for shape in shapes)


@float64()
def sample(
    target: Any,
    sampler: str = "nuts",
    *,
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    seed: int = 0,
    data: Mapping[str, Any] | None = None,
    progress: bool = True,
    until_ess: float | None = None,
    max_seconds: float | None = None,
    check: bool = True,
    **options: Any,
) -> az.InferenceData:
    """Draw posterior samples of ``target`` with ``sampler``.

    Parameters
    ----------
    target : str, ModelSpec, pm.Model or callable
        A registry name (``models.names()``), a :class:`models.ModelSpec`, a PyMC model,
        or a NumPyro model function called as ``target(**data)``.
    sampler : str
        ``NAME[:BACKEND]``: ``nuts`` (= ``nuts:numpyro``), ``nuts:pymc``, ``nuts:nutpie``,
        ``nuts:blackjax``, ``mh`` (ours, JAX), ``mh:pymc`` (ours as a PyMC step),
        ``metropolis:pymc`` (PyMC's own).
    draws, tune, chains : int
        Kept draws, warm-up iterations and chains. ``tune`` defaults to 1000; for ``mh``
        to ``max(1000, 250·d)`` in d dimensions (:func:`inference.mh.default_tune`).
    seed : int
        Same seed, same draws.
    data : mapping, optional
        Data for a registry model (default: its built-in data) or keyword arguments of
        a NumPyro model function.
    progress : bool
        Show the backend's progress bar.
    until_ess : float, optional
        Sample until the answer is there: after warm-up, draw ``draws`` per chain at a
        time, continuing the same chains (no new warm-up, nothing recompiled), until
        every parameter's bulk and tail ESS reach ``until_ess`` and its R-hat is below
        1.01, or ``max_seconds`` have passed (then a :class:`UntilESSWarning` names the
        worst parameters). For ``mh``, ``nuts`` (NumPyro) and ``nuts:blackjax``. The
        result's ``attrs`` record the rule (``until_ess``, ``max_seconds``), the
        ``chunks`` drawn and why it stopped (``stopped``: ``"ess"`` or ``"max_seconds"``).
        ``mh`` keeps every ⌈d/2⌉-th step here unless ``thin`` is given (``attrs["thin"]``);
        with ``progress`` each check is logged (logger ``bayesmin.inference.sampling``);
        past 20,000 draws per chain every other draw is dropped (``attrs["stride"]``).
    max_seconds : float, optional
        The time budget of ``until_ess``, from the call (warm-up and compilation
        included); default 300.
    check : bool
        Check the result for convergence (:func:`inference.convergence.check`: R-hat,
        bulk and tail ESS per chain, divergences, stuck chains; Vehtari et al. 2021),
        record the verdict in ``attrs`` and warn (:class:`ConvergenceWarning`) once
        where it fails. ``False`` for deliberately short runs.
    **options
        Passed to the backend: ``target_accept``; ``cores`` (PyMC, nutpie);
        ``chain_method`` (NumPyro); ``backend`` (nutpie: ``"numba"`` or ``"jax"``); the
        full list of a sampler is :func:`sampler_options`. An option the sampler does not
        take is a ``ValueError`` naming the ones it does (nothing is silently ignored).
        A registry model's ``sampler_defaults`` fill in what is not given.

    Notes
    -----
    Every route computes in float64, as PyMC does, whatever JAX's global x64 flag is
    (and leaves that flag as it was): the same seed gives the same draws whatever ran
    earlier in the process.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` in the model's own (constrained) space, deterministics included;
        ``sample_stats`` with at least ``lp``, ``acceptance_rate``, ``diverging``,
        ``n_steps``; ``attrs`` ``sampler``, ``backend``, ``seed``, ``compile_seconds``,
        ``sampling_seconds`` and, when checked, ``convergence`` (the verdict's line) and
        ``converged`` (1 or 0).

    Examples
    --------
    >>> from bayesmin import inference
    >>> idata = inference.sample("normal_normal", "nuts", draws=200, tune=200, chains=2,
    ...                          until_ess=400, progress=False)
    >>> sorted(idata.posterior.data_vars), idata.attrs["stopped"]
    (['mu'], 'ess')
    """
    chosen = resolve_sampler(sampler)
    seed = check_seed(seed)
    tgt = resolve_target(target, data)
    if tune is None:
        tune = mh.default_tune(tgt.logdensity.dim) if chosen.spelling == "mh" else DEFAULT_TUNE
    lengths = check_run_lengths(draws=draws, tune=tune, chains=chains)
    if tgt.spec is not None:
        # The model's own defaults for this sampler family (e.g. a higher target_accept
        # where its geometry needs it); what the caller passes wins.
        family = chosen.spelling.split(":")[0]
        options = {**tgt.spec.sampler_defaults.get(family, {}), **options}
    _check_options(chosen.spelling, options)
    kwargs = dict(**lengths, seed=int(seed), progress=progress)
    if until_ess is not None:
        idata = _until_ess(
            tgt, chosen, lengths, int(seed), float(until_ess), max_seconds, progress, options
        )
    else:
        if max_seconds is not None:
            raise ValueError("max_seconds is the time budget of until_ess; pass until_ess too")
        if chosen.needs == "pymc":
            idata, compile_s, sampling_s = chosen.run(tgt.pymc(), **kwargs, **options)
        else:
            # Deriving the log density (tracing the model) is part of compiling it.
            with clock() as c:
                ld = tgt.logdensity
            idata, compile_s, sampling_s = chosen.run(ld, **kwargs, **options)
            compile_s += c.total
        idata = finalize(
            idata,
            sampler=chosen.spelling,
            backend=chosen.backend,
            seed=int(seed),
            compile_seconds=compile_s,
            sampling_seconds=sampling_s,
            model=tgt.name,
            **lengths,
        )
    if check:
        # No silent garbage: every result carries its verdict, a failed one also warns
        # (stacklevel 3: past this function and the float64 decorator, at the caller).
        verdict = convergence.check(idata)
        convergence.record(idata, verdict)
        # An until_ess run that ran out of time has already said so (UntilESSWarning).
        if not verdict.ok and idata.attrs.get("stopped") != "max_seconds":
            warnings.warn(verdict.message(tgt.name), convergence.ConvergenceWarning, stacklevel=3)
    return idata


class UntilESSWarning(convergence.ConvergenceWarning):
    """``until_ess`` ran out of time before every parameter reached its ESS (a
    :class:`ConvergenceWarning`: what filters one filters both)."""


#: Warm-up iterations when ``sample`` is not told (``mh``: :func:`inference.mh.default_tune`).
DEFAULT_TUNE = 1000

#: Rank-normalised R-hat below which ``until_ess`` counts a parameter as converged
#: (Vehtari et al. 2021).
RHAT_TARGET = 1.01
#: The default time budget of ``until_ess``, in seconds.
MAX_SECONDS = 300.0
#: The most draws per chain ``until_ess`` keeps; beyond, it keeps every other one.
MAX_KEPT = 20_000

# How each sampler that can keep its chains going starts them: ``start(ld, chunk=,
# tune=, chains=, seed=, **options) -> run`` whose ``run.draw()`` gives the next chunk.
_STARTS: dict[str, Callable[[], Callable[..., Any]]] = {
    "mh": lambda: mh.start,
    "nuts:numpyro": lambda: nuts.numpyro_start,
    "nuts:blackjax": lambda: nuts.blackjax_start,
}


#: The samplers that can keep their chains going: ``sample(..., until_ess=...)`` takes them.
UNTIL_ESS_SAMPLERS = tuple(_STARTS)


def _worst(posterior: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray, ...]:
    """Every scalar of ``posterior`` with its bulk ESS, tail ESS and R-hat.

    Returns ``(names, bulk, tail, rhat)`` (names as :mod:`inference.convergence` and
    ``az.summary`` write them); constants (a fixed deterministic) are left out: they
    have no ESS to reach.
    """
    dataset = az.convert_to_dataset({k: np.asarray(v) for k, v in posterior.items()})
    names, values = convergence._flat(dataset)
    keep = np.flatnonzero(np.ptp(values, axis=1) > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a constant's R-hat divides by 0
        columns = [convergence._per_scalar(dataset, how)[1] for how in ("bulk", "tail", "rhat")]
    return [names[i] for i in keep], *(np.asarray(c, dtype=float)[keep] for c in columns)


#: How many of the last check's worst parameters ``until_ess`` looks at first.
WATCHED = 3


def _met(bulk, tail, rhat, target) -> bool:
    return bool(len(bulk)) and bool(
        np.all(np.asarray(bulk) >= target)
        & np.all(np.asarray(tail) >= target)
        & np.all(np.asarray(rhat) < RHAT_TARGET)
    )


def _scalars(posterior: Mapping[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """The scalars ``names`` (as :func:`_worst` names them) of ``posterior``, (chain, draw) each."""
    out = {}
    for name in names:
        var, _, index = name.partition("[")
        values = posterior[var]
        idx = tuple(int(i) for i in index.rstrip("]").split(",")) if index else ()
        out[name] = values[(slice(None), slice(None), *idx)]
    return out


def _until_ess(tgt, chosen, lengths, seed, target, max_seconds, progress, options):
    """Chunks of the same chains until every parameter reaches ``target`` ESS."""
    import time

    if chosen.spelling not in _STARTS or options.get("chain_method", "vectorized") != (
        "vectorized"
    ):
        raise ValueError(
            f"until_ess works with {', '.join(s for s in _STARTS)} (vectorised chains); "
            f"sampler {chosen.spelling!r} runs a fixed number of draws: pass draws instead"
        )
    if not np.isfinite(target) or target <= 0:
        raise ValueError(f"until_ess must be a positive number, got {target}")
    budget = MAX_SECONDS if max_seconds is None else float(max_seconds)
    if not budget > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    options = {k: v for k, v in options.items() if k != "chain_method"}
    draws, tune, chains = lengths["draws"], lengths["tune"], lengths["chains"]
    t0 = time.perf_counter()
    with clock() as c:
        ld = tgt.logdensity
        if chosen.spelling == "mh" and "thin" not in options:
            # A random walk's autocorrelation time grows like the dimension (about 3.3·d
            # steps: Roberts, Gelman & Gilks 1997); keeping every ⌈d/2⌉-th step costs
            # little ESS and makes each chunk, and the ESS checks on it, d/2 times lighter.
            options = {**options, "thin": max(1, -(-ld.dim // 2))}
        run = _STARTS[chosen.spelling]()(
            ld, chunk=draws, tune=tune, chains=chains, seed=seed, **options
        )
    compile_s = c.compile
    posterior: dict[str, list] = {}
    stats: dict[str, list] = {}
    chunks, stopped, batch, stride, watch = 0, "max_seconds", 1, 1, []
    while True:
        for _ in range(batch):
            with clock() as c:
                positions, chunk_stats = _draw(run, chosen)
                for k, v in ld.constrain_draws(positions[:, ::stride]).items():
                    posterior.setdefault(k, []).append(v)
            compile_s += c.compile
            for k, v in chunk_stats.items():
                stats.setdefault(k, []).append(np.asarray(v)[:, ::stride])
            chunks += 1
            if time.perf_counter() - t0 >= budget:
                break
        kept = sum(v.shape[1] for v in next(iter(posterior.values())))
        while kept > MAX_KEPT:
            # A long run keeps every other draw from here on (and of what it holds):
            # memory and the ESS checks stay bounded; draws this far apart in a chain
            # that needed so many are nearly independent, so little ESS is lost.
            for store in (posterior, stats):
                for k, v in store.items():
                    store[k] = [np.concatenate(v, axis=1)[:, ::2]]
            stride, kept = 2 * stride, -(-kept // 2)
        joined = {k: np.concatenate(v, axis=1) for k, v in posterior.items()}
        # The parameters that were worst last time are looked at first: while one of
        # them still misses the target, the other parameters need not be (each check
        # sorts every parameter's draws several times; on long runs that dominates).
        names, bulk, tail, rhat = _worst(_scalars(joined, watch)) if watch else ([], [], [], [])
        if not watch or _met(bulk, tail, rhat, target):
            names, bulk, tail, rhat = _worst(joined)
        met = _met(bulk, tail, rhat, target)
        order = np.argsort(np.minimum(bulk, tail) / target - (rhat >= RHAT_TARGET))
        watch = [names[i] for i in order[:WATCHED]]
        # ESS grows about linearly with the draws: draw what the shortfall asks for
        # before looking again (at most as many chunks as so far, so the run overshoots
        # by at most a factor of two); an R-hat still above target asks for half more.
        shortfall = target / max(float(np.min(np.minimum(bulk, tail), initial=np.inf)), 1.0)
        if np.any(rhat >= RHAT_TARGET):
            shortfall = max(shortfall, 1.5)
        batch = int(np.clip(np.ceil(chunks * (shortfall - 1.0)), 1, chunks))
        if progress:
            # A library writes nothing itself; a caller that wants these lines
            # configures logging (``logging.basicConfig(level=logging.INFO)``). The
            # logger is made here, not on import: importing bayesmin registers nothing.
            logging.getLogger(__name__).info(
                "until_ess: chunk %d, %d draws per chain, min ESS bulk %.0f tail %.0f, "
                "max R-hat %.3f",
                chunks,
                kept,
                float(np.min(bulk, initial=np.inf)),
                float(np.min(tail, initial=np.inf)),
                float(np.max(rhat, initial=0.0)),
            )
        if met:
            stopped = "ess"
            break
        if time.perf_counter() - t0 >= budget:
            break
    elapsed = time.perf_counter() - t0
    idata = results_from_arrays(joined, {k: np.concatenate(v, axis=1) for k, v in stats.items()})
    if chosen.spelling == "mh":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a group outside ArviZ's schema
            idata.add_groups(
                adaptation=mh.adaptation_group(
                    run,
                    proposal=options.get("proposal", "random_walk"),
                    adapt=options.get("adapt", True),
                    hastings=options.get("hastings", True),
                )
            )
    if not met:
        shortfall = np.minimum(bulk / target, tail / target)
        order = np.argsort(shortfall)[:5]
        worst = ", ".join(
            f"{names[i]} (ESS {min(bulk[i], tail[i]):.0f}, R-hat {rhat[i]:.3f})" for i in order
        )
        warnings.warn(
            f"{chosen.spelling} on {tgt.name}: the time budget of {budget:g} s ended after "
            f"{chunks} chunk(s) of {draws} draws before every parameter reached ESS "
            f"{target:g} and R-hat < {RHAT_TARGET}; worst: {worst}; raise max_seconds, "
            "reparameterise, or use another sampler",
            UntilESSWarning,
            stacklevel=3,
        )
    return finalize(
        idata,
        sampler=chosen.spelling,
        backend=chosen.backend,
        seed=seed,
        compile_seconds=compile_s,
        sampling_seconds=max(elapsed - compile_s, 0.0),
        model=tgt.name,
        draws=kept,
        tune=tune,
        chains=chains,
        chunk=draws,
        stride=stride,
        until_ess=float(target),
        max_seconds=budget,
        chunks=chunks,
        stopped=stopped,
        thin=options.get("thin"),
    )


def _draw(run, chosen):
    if chosen.spelling == "mh":
        positions, lp, info = run.draw()
        return np.asarray(positions), mh.chunk_stats(lp, info, run)
    return run.draw()
