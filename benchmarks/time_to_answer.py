"""Time to a trustworthy answer: wall seconds until every parameter has ESS >= 400.

What it measures
----------------
What a user waits for: from the sampling call (model defined, data loaded, libraries
imported) to a result whose every posterior value — free variables and deterministics,
flattened — has bulk and tail ESS >= 400 (``az.ess(method="bulk" / "tail")``) and
R-hat < 1.01 (``az.rhat``, rank-normalised split R-hat). Each run is a FRESH PROCESS
(``python time_to_answer.py --child JSON``), so nothing compiled by an earlier run is
in memory; the only thing a run may inherit is a compilation cache on disk:

``cold``
    An empty cache: JAX's persistent compilation cache and PyTensor's compile folder
    (``PYTENSOR_FLAGS=base_compiledir=...``, where its C modules and Numba's cache live;
    ``NUMBA_CACHE_DIR`` too) point at a new temporary folder.
``warm``
    A second fresh process on the same folders, so every compiled program the cold run
    wrote is on disk. JAX's cache keeps every program (``jax_persistent_cache_min_compile_
    time_secs = 0``, ``..._min_entry_size_bytes = 0``); for our samplers it is switched
    on by ``bayesmin.enable_compile_cache`` where that exists, otherwise by the same
    ``jax.config`` settings.

Samplers (``--samplers`` keys; 4 chains everywhere, the same seed)

* ours, through ``bayesmin.inference.sample`` on the registry model (its NumPyro
  program): ``nuts`` (= ``nuts:numpyro``), ``mh``, ``nuts:blackjax``;
* ``nuts+until_ess``, ``mh+until_ess``, ``nuts:blackjax+until_ess``: one call with
  ``until_ess=400``, chunks of 250 draws after 250 of warm-up (``mh``: its default
  max(1000, 250·d), which learns the proposal's covariance), (and ``max_seconds`` a little under ``--timeout``) where
  ``inference.sample`` takes ``until_ess``; skipped with a note where it does not;
* anchors, called as their users call them, on the registry's PyMC / NumPyro twin of
  the same model (same posterior): ``pymc`` (``pm.sample``, PyMC's NUTS), ``nutpie``
  (``nutpie.compile_pymc_model`` + ``nutpie.sample``, both timed), ``pymc-metropolis``
  (``pm.sample(step=pm.Metropolis())``), ``numpyro`` (``MCMC(NUTS(model)).run`` plus
  ``get_samples``, after ``numpyro.enable_x64()``; NumPyro's default ``chain_method``,
  which on one CPU device draws the 4 chains one after another). PyMC and nutpie get
  ``cores = min(4, CPUs)`` (2 on a 2-core machine). All routes compute in float64
  (PyMC's ``floatX``; our samplers choose float64 themselves).

Fixed-length samplers climb a ladder of draws per chain, ``tune = draws`` at every rung
(PyMC's default 1000/1000 is one rung): 250, 500, 1000, 2000, 4000, 8000, 16000. Each
rung is a new cold process; the first rung that passes is the answer and is rerun warm.
The ladder stops at the first rung that passes, fails to run, or exceeds ``--timeout``.

Models (``--models``): ``eight_schools`` (``eight_schools_noncentered``), ``regression``
(``linear_regression`` on ``simulate(0, n=2000, d=20)``), ``banana`` (``banana``,
b = 0.03) and ``hierarchical_100`` (written here: 97 groups x 8 observations,
non-centred group means with a hyper mean and sd and a noise sd, 100 free
parameters, plus the 97 group means as a deterministic).

How to run it
-------------
::

    .venv/bin/python benchmarks/time_to_answer.py                 # 4 models, every sampler
    .venv/bin/python benchmarks/time_to_answer.py --quick         # eight schools + banana,
                                                                  # ladder 250, 1000
    .venv/bin/python benchmarks/time_to_answer.py --models eight_schools \\
        --samplers nuts,mh,pymc,pymc-metropolis --timeout 300 --csv tta.csv

Progress goes to stderr, the tables to stdout (markdown).

Reading the columns
-------------------
``params`` / ``values``
    Free parameters (unconstrained dimension) / numbers per draw checked (free
    variables and deterministics).
``draws``
    Draws per chain of the answer (tune the same); for an ``until_ess`` row, the
    draws per chain it returned.
``chunks``
    ``until_ess`` rows: chunks run, as the result's ``attrs`` record them.
``import_s``
    Importing the libraries in the cold process (not in ``cold_s``).
``cold_s``, ``warm_s``
    Wall seconds of the one sampling call (compile included) at the answer's length,
    empty and filled compile cache.
``ladder_s``
    Sum of the cold walls of every rung tried up to the answer: what a user pays who
    starts short and doubles (a rung that ran past ``--timeout`` counts the timeout).
``ess_bulk``, ``ess_tail``, ``rhat``, ``div``
    Worst bulk ESS, worst tail ESS, worst R-hat over every value, and divergences, of
    the cold run at the answer's length (or of the last rung tried).
``met``
    ``yes`` when ESS >= 400 (bulk and tail) and R-hat < 1.01 everywhere; ``note`` says
    why not (``not reached in N s``, the ladder's end, an error; with the diagnostics of
    the last rung that finished) or what an ``until_ess`` result recorded about its stop.

The ratio table, one row per model: ``nuts`` warm over the fastest anchor warm (the
issue's target: <= 1), the best of ours warm (any of our rows that met) over the
fastest anchor warm, and ``mh`` (the better of its ladder and ``until_ess`` rows) over
PyMC's Metropolis, cold (compile included; target <= 0.2).

Timings depend on the machine and on whatever else runs on it; this is a measurement
script, never asserted on in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

ESS_TARGET = 400.0
UNTIL_ESS_CHUNK = 250
RHAT_TARGET = 1.01
CHAINS = 4
LADDER = (250, 500, 1000, 2000, 4000, 8000, 16000)
QUICK_LADDER = (250, 1000)
# benchmark label -> (registry name or "hierarchical_100", simulate() sizes)
MODELS: dict[str, tuple[str, dict]] = {
    "eight_schools": ("eight_schools_noncentered", {}),
    "regression": ("linear_regression", {"n": 2000, "d": 20}),
    "banana": ("banana", {}),
    "hierarchical_100": ("hierarchical_100", {"groups": 97, "per_group": 8}),
}
QUICK_MODELS = ("eight_schools", "banana")
# --samplers key -> (table label, kind, bayesmin sampler spelling)
SAMPLERS: dict[str, tuple[str, str, str]] = {
    "nuts": ("nuts", "ours", "nuts"),
    "mh": ("mh", "ours", "mh"),
    "nuts:blackjax": ("nuts:blackjax", "ours", "nuts:blackjax"),
    "nuts+until_ess": ("nuts (until_ess)", "until_ess", "nuts"),
    "mh+until_ess": ("mh (until_ess)", "until_ess", "mh"),
    "nuts:blackjax+until_ess": ("nuts:blackjax (until_ess)", "until_ess", "nuts:blackjax"),
    "pymc": ("PyMC NUTS", "anchor", ""),
    "nutpie": ("nutpie", "anchor", ""),
    "pymc-metropolis": ("PyMC Metropolis", "anchor", ""),
    "numpyro": ("NumPyro MCMC", "anchor", ""),
}
COLUMNS = (
    "model",
    "params",
    "values",
    "sampler",
    "draws",
    "chunks",
    "import_s",
    "cold_s",
    "warm_s",
    "ladder_s",
    "ess_bulk",
    "ess_tail",
    "rhat",
    "div",
    "met",
    "note",
)
_RESULT = "TIME_TO_ANSWER_RESULT "


# ----------------------------------------------------------------- the 100-parameter model


def hierarchical_numpyro(y):
    """Non-centred normal hierarchy: ``y[j, k] ~ N(mu + tau z_j, sigma)``, ``z_j ~ N(0, 1)``.

    ``mu ~ N(0, 5)``, ``tau ~ HalfNormal(2)``, ``sigma ~ HalfNormal(2)``; ``theta`` is the
    deterministic ``mu + tau z``. ``y`` is (groups, per_group), a balanced design, so the
    number of groups is a static shape.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    groups = jnp.shape(y)[0]
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfNormal(2.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    with numpyro.plate("group", groups):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
    theta = numpyro.deterministic("theta", mu + tau * z)
    numpyro.sample("y", dist.Normal(theta[:, None], sigma), obs=y)


def hierarchical_pymc(data):
    """The PyMC twin of :func:`hierarchical_numpyro` (same names, priors and data)."""
    import pymc as pm

    y = np.asarray(data["y"], dtype=float)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 5.0)
        tau = pm.HalfNormal("tau", 2.0)
        sigma = pm.HalfNormal("sigma", 2.0)
        z = pm.Normal("z", 0.0, 1.0, shape=y.shape[0])
        theta = pm.Deterministic("theta", mu + tau * z)
        pm.Normal("y", theta[:, None], sigma, observed=y)
    return model


def hierarchical_simulate(seed: int = 0, groups: int = 97, per_group: int = 8) -> dict:
    """Data from the model itself: mu = 1, tau = 0.7, sigma = 1."""
    rng = np.random.default_rng(seed)
    theta = 1.0 + 0.7 * rng.normal(size=groups)
    return {"y": theta[:, None] + rng.normal(size=(groups, per_group))}


def model_spec(label: str):
    """``(ModelSpec, data)`` of a benchmark model (the 100-parameter one is not registered)."""
    from bayesmin import models

    name, sizes = MODELS[label]
    if name == "hierarchical_100":
        spec = models.ModelSpec(
            name="hierarchical_100",
            topic=8,
            title="Non-centred normal hierarchy, 97 groups (100 parameters)",
            simulate=hierarchical_simulate,
            pymc=hierarchical_pymc,
            numpyro=hierarchical_numpyro,
            params=("mu", "tau", "sigma", "z"),
        )
    else:
        spec = models.get(name)
    return spec, spec.simulate(0, **sizes)


# ----------------------------------------------------------------------------- the child


def _enable_jax_cache(folder: str, ours: bool) -> str:
    """Point JAX's persistent compilation cache at ``folder``; say how."""
    import jax

    if ours:
        import bayesmin

        enable = getattr(bayesmin, "enable_compile_cache", None)
        if enable is not None:
            import inspect

            if inspect.signature(enable).parameters:
                enable(folder)
            else:  # it reads the folder from the environment
                os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
                enable()
            return "bayesmin.enable_compile_cache"
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return "jax.config"


def _worst(posterior) -> dict:
    """Worst bulk / tail ESS and R-hat over every value of ``posterior`` (a Dataset)."""
    import arviz as az

    def flat(ds):
        arrays = [np.ravel(ds[v].values) for v in ds.data_vars]
        return np.concatenate(arrays) if arrays else np.array([np.nan])

    bulk = flat(az.ess(posterior, method="bulk"))
    tail = flat(az.ess(posterior, method="tail"))
    rhat = flat(az.rhat(posterior))
    # NaN (a failed estimate) counts as failing: min/max propagate it.
    out = {
        "ess_bulk": float(np.min(bulk)),
        "ess_tail": float(np.min(tail)),
        "rhat": float(np.max(rhat)),
        "values": int(sum(np.prod(posterior[v].shape[2:]) for v in posterior.data_vars)),
    }
    out["met"] = bool(
        out["ess_bulk"] >= ESS_TARGET
        and out["ess_tail"] >= ESS_TARGET
        and out["rhat"] < RHAT_TARGET
    )
    return out


def _free_parameters(spec, data) -> int:
    """Unconstrained dimension of the NumPyro program (shapes only, nothing compiled)."""
    import jax
    from numpyro import handlers

    def free():
        with handlers.trace() as trace, handlers.seed(rng_seed=0):
            spec.numpyro(**data)
        return {
            k: s["value"]
            for k, s in trace.items()
            if s["type"] == "sample" and not s["is_observed"]
        }

    return int(sum(np.prod(v.shape) for v in jax.eval_shape(free).values()))


def _stopping_record(attrs) -> tuple[int | None, bool | None, str]:
    """``(chunks, met, text)`` from an ``until_ess`` result's ``attrs``, whatever the keys."""
    found: dict = {}

    def visit(key: str, value) -> None:
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if isinstance(value, dict):
            for k, v in value.items():
                visit(f"{key}.{k}", v)
        elif re.search(r"until|stop|chunk|target|reach|met|converg", key, re.I):
            found[key] = value

    for key, value in attrs.items():
        visit(str(key), value)
    chunks = next((int(v) for k, v in found.items() if "chunk" in k.lower() and _is_int(v)), None)
    met = next(
        (
            bool(v)
            for k, v in found.items()
            if re.search(r"met|reach", k.split(".")[-1], re.I) and _is_bool(v)
        ),
        None,
    )
    text = "; ".join(f"{k}={v}" for k, v in found.items())
    return chunks, met, text[:200]


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _is_bool(v) -> bool:
    return isinstance(v, bool | np.bool_) or (isinstance(v, int | np.integer) and v in (0, 1))


def _run_child(cfg: dict) -> dict:
    """One sampling call in this fresh process; the result as a JSON-able dict."""
    t0 = time.perf_counter()
    key, draws, seed, cores = cfg["sampler"], cfg["draws"], cfg["seed"], cfg["cores"]
    _, kind, spelling = SAMPLERS[key]
    import logging
    import warnings

    cache = _enable_jax_cache(cfg["jax_cache"], kind != "anchor")
    import arviz as az  # before the clock: the diagnostics need it
    import jax

    from bayesmin import models  # noqa: F401

    if kind == "anchor":
        import pymc as pm

        if key == "nutpie":
            import nutpie
        if key == "numpyro":
            import numpyro
            from numpyro.infer import MCMC, NUTS

            numpyro.enable_x64()
    else:
        import numpyro.infer  # before the clock: the NUTS adapter imports it lazily

        from bayesmin import inference

        sample = inference.sample  # loads inference.sampling and its imports
        if spelling == "nuts:blackjax":
            import blackjax  # noqa: F401
    jax.devices()  # start JAX's CPU client outside the clock
    import_s = time.perf_counter() - t0
    for name in ("pymc", "pymc.sampling", "pymc.stats.convergence", "jax", "numpyro"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")

    spec, data = model_spec(cfg["model"])
    out = {"import_s": import_s, "cache": cache, "chunks": None, "note": ""}
    divergences = None
    if kind == "anchor" and key != "numpyro":
        model = spec.pymc(data)
        import pytensor

        out["floatX"] = str(pytensor.config.floatX)
        t = time.perf_counter()
        if key in ("pymc", "pymc-metropolis"):
            with model:
                # PyMC's NUTS, or its Metropolis on every free variable: one call.
                step = pm.Metropolis() if key == "pymc-metropolis" else None
                idata = pm.sample(
                    draws,
                    tune=draws,
                    chains=CHAINS,
                    cores=cores,
                    random_seed=seed,
                    progressbar=False,
                    step=step,
                )
        else:
            compiled = nutpie.compile_pymc_model(model)
            idata = nutpie.sample(
                compiled,
                draws=draws,
                tune=draws,
                chains=CHAINS,
                cores=cores,
                seed=seed,
                progress_bar=False,
            )
        wall = time.perf_counter() - t
        # nutpie also stores the unconstrained twins (``tau_log__``): keep the model's own
        # variables, as every other route returns them.
        named = {v.name for v in [*model.free_RVs, *model.deterministics]}
        posterior = idata.posterior[[v for v in idata.posterior.data_vars if v in named]]
        if "diverging" in getattr(idata, "sample_stats", {}):
            divergences = int(idata.sample_stats["diverging"].sum())
    elif key == "numpyro":
        mcmc = MCMC(
            NUTS(spec.numpyro),
            num_warmup=draws,
            num_samples=draws,
            num_chains=CHAINS,
            progress_bar=False,
        )
        t = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(seed), **data)
        samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
        wall = time.perf_counter() - t
        posterior = az.from_dict(posterior={k: np.asarray(v) for k, v in samples.items()}).posterior
        extra = mcmc.get_extra_fields(group_by_chain=True)
        if "diverging" in extra:
            divergences = int(np.asarray(extra["diverging"]).sum())
    else:
        options = {}
        if kind == "until_ess":
            import inspect

            options["until_ess"] = int(ESS_TARGET)
            # Chunks as short as the ladder's first rung: the run grows by chunks of 250
            # draws until the target is met. NUTS warms up as long as that rung; our MH
            # keeps its default warm-up (max(1000, 250·d)), which learns the covariance.
            options.update(draws=UNTIL_ESS_CHUNK)
            if spelling != "mh":
                options.update(tune=UNTIL_ESS_CHUNK)
            params = inspect.signature(inference.sample).parameters
            if "max_seconds" in params or "max_seconds" in inference.sampler_options(spelling):
                options["max_seconds"] = cfg["max_seconds"]
        else:
            options.update(draws=draws, tune=draws)
        t = time.perf_counter()
        idata = sample(
            spec, spelling, chains=CHAINS, seed=seed, data=data, progress=False, **options
        )
        wall = time.perf_counter() - t
        posterior = idata.posterior
        divergences = int(idata.sample_stats["diverging"].sum())
        if kind == "until_ess":
            out["chunks"], recorded_met, out["note"] = _stopping_record(idata.attrs)
            out["recorded_met"] = recorded_met
    out.update(_worst(posterior))
    out.update(
        wall=wall,
        draws=int(posterior.sizes["draw"]),
        div=divergences,
        params=_free_parameters(spec, data),
    )
    return out


# ---------------------------------------------------------------------------- the parent


def _child_env(folder: str) -> dict:
    env = dict(os.environ)
    flags = env.get("PYTENSOR_FLAGS", "")
    env["PYTENSOR_FLAGS"] = ",".join(
        f for f in (flags, f"base_compiledir={os.path.join(folder, 'pytensor')}") if f
    )
    env["NUMBA_CACHE_DIR"] = os.path.join(folder, "numba")
    for var in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        env.pop(var, None)  # the child sets the cache itself
    return env


def spawn(cfg: dict, folder: str, timeout: float) -> dict:
    """Run one child in a new process group; ``{"error": ...}`` on failure or timeout."""
    cfg = {**cfg, "jax_cache": os.path.join(folder, "jax")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--child", json.dumps(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(folder),
        start_new_session=True,  # PyMC's chain processes die with it on a timeout
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it may have just finished
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"not reached in {timeout:.0f} s", "timeout": True}
    for line in reversed(stdout.splitlines()):
        if line.startswith(_RESULT):
            return json.loads(line[len(_RESULT) :])
    tail = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
    print(stderr[-3000:], file=sys.stderr)
    return {
        "error": f"exit {proc.returncode}: {tail[0][:150]}",
        "child_s": time.perf_counter() - t0,
    }


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _summary(res: dict) -> str:
    if "error" in res:
        return res["error"]
    return (
        f"{res['wall']:.1f} s, ess {res['ess_bulk']:.0f}/{res['ess_tail']:.0f}, "
        f"rhat {res['rhat']:.4f} -> {'met' if res['met'] else 'not met'}"
    )


def run_pair(model: str, key: str, args) -> dict:
    """One table row: the ladder (or one until_ess call) cold, then the answer warm."""
    label, kind, _ = SAMPLERS[key]
    row = {"model": model, "sampler": label}
    base = {"model": model, "sampler": key, "seed": args.seed, "cores": args.cores}
    ladder = [None] if kind == "until_ess" else args.ladder
    ladder_s, last, previous, folders = 0.0, None, None, []
    try:
        for draws in ladder:
            folder = tempfile.mkdtemp(prefix="tta-cache-")
            folders.append(folder)
            what = "until_ess" if draws is None else f"{draws} draws"
            _progress(f"[{model}] {label}: {what}, cold ...")
            cfg = {**base, "draws": draws, "max_seconds": max(args.timeout - 30.0, 10.0)}
            last = spawn(cfg, folder, args.timeout)
            _progress(f"[{model}] {label}: {what}, cold: {_summary(last)}")
            if "error" in last:
                ladder_s += args.timeout if last.get("timeout") else np.nan
                break
            ladder_s += last["wall"]
            previous = last
            if last["met"]:
                _progress(f"[{model}] {label}: {what}, warm ...")
                warm = spawn(cfg, folder, args.timeout)
                _progress(f"[{model}] {label}: {what}, warm: {_summary(warm)}")
                row["warm_s"] = warm.get("wall", np.nan)
                if "error" in warm:
                    row["note"] = f"warm run: {warm['error']}"
                elif not warm["met"]:
                    row["note"] = "warm rerun missed the target"
                break
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    if last is None:
        return row
    if "error" in last:
        row["note"] = last["error"] + (f" at {draws} draws" if draws else "")
        if previous is not None:
            row["note"] += (
                f" (at {previous['draws']} draws: {previous['wall']:.1f} s, ess "
                f"{previous['ess_bulk']:.0f}/{previous['ess_tail']:.0f}, "
                f"rhat {previous['rhat']:.4f})"
            )
        row["met"] = "no"
        row["draws"] = draws
        row["ladder_s"] = ladder_s
        return row
    row.update(
        {
            k: last.get(k)
            for k in ("params", "values", "draws", "chunks", "import_s", "ess_bulk", "ess_tail")
        }
    )
    row.update(
        rhat=last["rhat"], div=last["div"], cold_s=last["wall"], met="yes" if last["met"] else "no"
    )
    if kind != "until_ess":
        row["ladder_s"] = ladder_s
        if not last["met"]:
            row["note"] = f"not reached by {draws} draws (ladder's end)"
    else:
        record = last.get("note", "")
        notes = [row["note"]] if row.get("note") else []
        if last.get("recorded_met") is not None and last["recorded_met"] != last["met"]:
            notes.append(f"the record says met={last['recorded_met']}, this check disagrees")
        notes.append(f"attrs: {record}" if record else "no stopping record in attrs")
        row["note"] = "; ".join(notes)
    return row


def probe() -> dict:
    """What this checkout offers (asked of a child, so the parent stays light)."""
    code = (
        "import inspect, json, bayesmin, jax, pytensor; from bayesmin import inference; "
        "print(json.dumps({'until_ess': 'until_ess' in "
        "inspect.signature(inference.sample).parameters, "
        "'enable_compile_cache': hasattr(bayesmin, 'enable_compile_cache'), "
        "'jax_devices': ', '.join(map(str, jax.devices())), "
        "'floatX': pytensor.config.floatX, 'blas': pytensor.config.blas__ldflags}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: nuts and the best of ours over the fastest anchor (warm); mh over
    PyMC's Metropolis (cold, compile included)."""
    ours = {label for label, kind, _ in SAMPLERS.values() if kind != "anchor"}
    anchors = {label for label, kind, _ in SAMPLERS.values() if kind == "anchor"}
    rows = []
    for model, t in table.groupby("model", sort=False):
        ok = t[t["met"] == "yes"]
        anchor = ok[ok["sampler"].isin(anchors)].sort_values("warm_s")
        best_ours = ok[ok["sampler"].isin(ours)].sort_values("warm_s")
        mine = ok[ok["sampler"] == "nuts"]
        mh = ok[ok["sampler"].isin(["mh", "mh (until_ess)"])].sort_values("cold_s")
        metro = ok[ok["sampler"] == "PyMC Metropolis"]
        fastest = anchor["warm_s"].iloc[0] if len(anchor) else np.nan
        rows.append(
            {
                "model": model,
                "fastest anchor (warm)": anchor["sampler"].iloc[0] if len(anchor) else "-",
                "nuts / fastest anchor (warm)": (
                    mine["warm_s"].iloc[0] / fastest if len(mine) else np.nan
                ),
                "best of ours": best_ours["sampler"].iloc[0] if len(best_ours) else "-",
                "best ours / fastest anchor (warm)": (
                    best_ours["warm_s"].iloc[0] / fastest if len(best_ours) else np.nan
                ),
                "mh / PyMC Metropolis (cold)": (
                    mh["cold_s"].iloc[0] / metro["cold_s"].iloc[0]
                    if len(mh) and len(metro)
                    else np.nan
                ),
            }
        )
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame) -> str:
    shown = table.copy()
    for col in ("import_s", "cold_s", "warm_s", "ladder_s"):
        if col in shown:
            shown[col] = shown[col].map(lambda v: "-" if pd.isna(v) else f"{v:.1f}")
    for col in ("ess_bulk", "ess_tail"):
        if col in shown:
            shown[col] = shown[col].map(lambda v: "-" if pd.isna(v) else f"{v:.0f}")
    if "rhat" in shown:
        shown["rhat"] = shown["rhat"].map(lambda v: "-" if pd.isna(v) else f"{v:.4f}")
    for col in shown.columns:
        if "/" in col:
            shown[col] = shown[col].map(lambda v: "-" if pd.isna(v) else f"{v:.2f}")
    for col in ("params", "values", "draws", "chunks", "div"):
        if col in shown:
            shown[col] = shown[col].map(lambda v: "-" if pd.isna(v) else f"{int(v)}")
    shown = shown.fillna("").astype(str)
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(r) + " |" for r in shown.itertuples(index=False)]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Wall time to ESS >= 400 and R-hat < 1.01, each sampler in a fresh process."
    )
    parser.add_argument(
        "--quick", action="store_true", help="eight schools + banana, ladder 250, 1000"
    )
    parser.add_argument("--models", default=None, help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument(
        "--samplers",
        default=",".join(SAMPLERS),
        help=f"comma-separated, from {', '.join(SAMPLERS)}",
    )
    parser.add_argument("--ladder", default=None, help="draws per chain to try, comma-separated")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds per child (300; quick 120)"
    )
    parser.add_argument("--seed", type=int, default=1, help="sampler seed, the same for all")
    parser.add_argument(
        "--cores",
        type=int,
        default=min(CHAINS, os.cpu_count() or 1),
        help="cores for PyMC and nutpie (default min(4, CPUs))",
    )
    parser.add_argument("--csv", default=None, help="save the table (and FILE_ratios.csv)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return args
    models = args.models or ",".join(QUICK_MODELS if args.quick else MODELS)
    args.models = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    args.samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    unknown = [s for s in args.samplers if s not in SAMPLERS]
    if unknown:
        parser.error(f"unknown sampler(s) {', '.join(unknown)}; choose from {', '.join(SAMPLERS)}")
    if args.ladder:
        try:
            args.ladder = tuple(int(x) for x in args.ladder.split(","))
        except ValueError:
            parser.error("--ladder takes whole numbers, e.g. 250,500,1000")
        if any(d < 1 for d in args.ladder):
            parser.error("--ladder values must be >= 1")
    else:
        args.ladder = QUICK_LADDER if args.quick else LADDER
    if args.timeout is None:
        args.timeout = 120.0 if args.quick else 300.0
    if args.timeout <= 0 or args.cores < 1:
        parser.error("--timeout must be > 0 and --cores >= 1")
    return args


def main(args: argparse.Namespace) -> pd.DataFrame:
    features = probe()
    print("machine")
    info = {
        "python": platform.python_version(),
        "cpu_count": str(os.cpu_count()),
        "jax_devices": features["jax_devices"],
        "pytensor floatX / blas": f"{features['floatX']} / {features['blas']!r}",
    }
    for pkg in ("jax", "numpyro", "blackjax", "pymc", "pytensor", "nutpie", "arviz"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = "not installed"
    for key, value in info.items():
        print(f"  {key:24s} {value}")
    print(
        f"settings: {CHAINS} chains, tune = draws, ladder {', '.join(map(str, args.ladder))}; "
        f"seed {args.seed}; cores for PyMC / nutpie {args.cores}; timeout {args.timeout:.0f} s "
        f"per process; target bulk and tail ESS >= {ESS_TARGET:.0f}, R-hat < {RHAT_TARGET}; "
        f"until_ess in inference.sample: {features['until_ess']}; JAX cache for ours via "
        f"{'bayesmin.enable_compile_cache' if features['enable_compile_cache'] else 'jax.config'}"
    )
    t0 = time.perf_counter()
    rows = []
    for model in args.models:
        for key in args.samplers:
            label, kind, _ = SAMPLERS[key]
            if kind == "until_ess" and not features["until_ess"]:
                rows.append(
                    {
                        "model": model,
                        "sampler": label,
                        "met": "-",
                        "note": "skipped: inference.sample has no until_ess",
                    }
                )
                continue
            rows.append(run_pair(model, key, args))
    elapsed = time.perf_counter() - t0
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    # params / values are properties of the model: fill them in from any row that has them.
    for col in ("params", "values"):
        table[col] = table.groupby("model")[col].transform(lambda s: s.ffill().bfill())
    print()
    print(_markdown(table))
    ratio = ratios(table)
    print()
    print(_markdown(ratio))
    print(f"\ntotal benchmark time: {elapsed:.0f} s")
    if args.csv:
        table.to_csv(args.csv, index=False)
        stem, ext = os.path.splitext(args.csv)
        ratio.to_csv(f"{stem}_ratios{ext or '.csv'}", index=False)
        print(f"saved {args.csv} and {stem}_ratios{ext or '.csv'}")
    return table


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.child is not None:
        result = _run_child(json.loads(arguments.child))
        print(_RESULT + json.dumps(result), flush=True)
    else:
        main(arguments)
