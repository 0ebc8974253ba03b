"""Importing bayesmin changes nothing global, and a seed's draws do not depend on what ran
earlier in the process.

Each check runs in a fresh interpreter: the test process itself has long since imported
everything, and other tests may have flipped whatever they like.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import pytest

from bayesmin.inference._precision import float64


def _python(code: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JAX_ENABLE_X64")}
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout.strip().splitlines()[-1]


def test_acceptance_line_prints_the_same_with_and_without_bayesmin():
    line = "print(jax.config.jax_enable_x64, matplotlib.get_backend())"
    without = _python(f"import jax, matplotlib; {line}")
    with_ = _python(f"import bayesmin, jax, matplotlib; {line}")
    assert with_ == without


SNAPSHOT = """
import json, logging, sys, warnings, pkgutil, importlib
import jax, matplotlib
# The libraries bayesmin builds on, first: what *they* change at import is theirs.
import numpy, scipy, pandas, sklearn, arviz, pymc, numpyro, blackjax, nutpie, optax, equinox
import dask, distributed, jinja2, typer, rich, funsor

def snapshot():
    loggers = {name: getattr(logger, "level", None)
               for name, logger in logging.root.manager.loggerDict.items()}
    loggers["<root>"] = logging.root.level
    return {
        "x64": bool(jax.config._value_holders["jax_enable_x64"].get_global()),
        "backend": matplotlib.rcParams._get_backend_or_none(),
        "pyplot": "matplotlib.pyplot" in sys.modules
                  and bool(sys.modules["matplotlib.pyplot"].get_fignums()),
        "filters": [repr(f) for f in warnings.filters],
        "loggers": loggers,
    }

before = snapshot()
import bayesmin
names = ["bayesmin"]
for sub in ("models", "inference", "diagnostics", "reports"):
    package = importlib.import_module(f"bayesmin.{sub}")
    names.append(package.__name__)
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        names.append(info.name)
after = snapshot()
# Loggers that did not exist before are new (created by importing); their level must be
# unset (NOTSET), i.e. they follow their parents as configured by the user.
changed = {k: (before[k], after[k]) for k in before if k != "loggers" and before[k] != after[k]}
for name, level in after["loggers"].items():
    if before["loggers"].get(name, 0) != level:
        changed[f"logger {name}"] = (before["loggers"].get(name), level)
print(json.dumps({"changed": changed, "modules": len(names)}))
"""


@pytest.mark.slow
def test_importing_every_module_changes_no_global_setting():
    result = json.loads(_python(SNAPSHOT))
    assert result["modules"] > 40
    assert result["changed"] == {}


ROUTES = """
import json, sys
import jax, numpy as np, pymc as pm
MODE = sys.argv[1]
if MODE == "x64":
    jax.config.update("jax_enable_x64", True)  # a user who works in 64-bit, set at start-up
from numpyro.infer import MCMC
import bayesmin
from bayesmin.inference.mh import MetropolisHastings, MetropolisHastingsStep

spec = bayesmin.get("normal_normal")
data = spec.simulate(0)

def routes():
    out = {}
    idata = bayesmin.sample(spec, "mh", draws=200, tune=200, chains=2, seed=3, progress=False)
    out["sample"] = idata.posterior["mu"].values[:, -5:].ravel().tolist()
    mcmc = MCMC(MetropolisHastings(spec.numpyro), num_warmup=200, num_samples=200,
                num_chains=2, chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(3), **data)
    out["numpyro"] = np.asarray(mcmc.get_samples()["mu"][-5:]).tolist()
    with spec.pymc(data) as model:
        step = MetropolisHastingsStep([model["mu"]])
        trace = pm.sample(draws=200, tune=200, chains=2, cores=1, step=step, random_seed=3,
                          progressbar=False, compute_convergence_checks=False)
    out["pymc_step"] = trace.posterior["mu"].values[:, -5:].ravel().tolist()
    return out

flags = [bool(jax.config.jax_enable_x64)]
if MODE == "bridge-first":
    with pm.Model() as other:
        pm.Normal("x", 0.0, 1.0, shape=3)
    bayesmin.sample(other, "mh", draws=50, tune=50, chains=1, progress=False)  # PyMC bridged
    flags.append(bool(jax.config.jax_enable_x64))
draws = routes()
flags.append(bool(jax.config.jax_enable_x64))
print(json.dumps({"draws": draws, "flags": flags}))
"""


@pytest.mark.slow
def test_a_seed_gives_the_same_draws_on_every_route_whatever_ran_before():
    fresh, bridged, x64 = (
        json.loads(_python(ROUTES, mode)) for mode in ("fresh", "bridge-first", "x64")
    )
    # Bridging a PyMC model leaves the user's flag alone (PyTensor would set it).
    assert fresh["flags"] == [False, False]
    assert bridged["flags"] == [False, False, False]
    assert x64["flags"] == [True, True]
    # Every route: the same draws whether a PyMC model was bridged first or not.
    assert fresh["draws"] == bridged["draws"]
    # Our routes compute in float64 whatever the user's flag; NumPyro's MCMC follows the
    # user's choice, as NumPyro itself does.
    for route in ("sample", "pymc_step"):
        assert x64["draws"][route] == fresh["draws"][route], route
    # Negative control: the precision does change draws (NumPyro's route, which follows
    # the flag, gives others in 64-bit), so the equalities above would have caught a
    # route of ours that followed the flag too.
    assert x64["draws"]["numpyro"] != fresh["draws"]["numpyro"]


def test_float64_restores_a_global_flag_flipped_inside_it():
    before = jax.config.jax_enable_x64
    with float64():
        assert jax.numpy.ones(1).dtype == jax.numpy.float64
        jax.config.update("jax_enable_x64", not before)  # as PyTensor's JAX dispatch does
    assert jax.config.jax_enable_x64 == before


COMPILE_CACHE = """
import json, os, sys
import jax, jax.numpy as jnp
options = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
before = [getattr(jax.config, name) for name in options]
jax.jit(lambda x: x + 1)(jnp.ones(3)).block_until_ready()  # JAX used before the call
import bayesmin
after_import = [getattr(jax.config, name) for name in options]
folder = bayesmin.enable_compile_cache(sys.argv[1], min_compile_seconds=0)
jax.jit(lambda x: jnp.sin(x) * 2)(jnp.ones(4)).block_until_ready()
print(json.dumps({"before": before, "after_import": after_import, "folder": str(folder),
                  "entries": sorted(os.listdir(folder))}))
"""


def test_import_leaves_the_compile_cache_off_and_one_call_turns_it_on(tmp_path, monkeypatch):
    folder = tmp_path / "jax-cache"
    for name in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
        monkeypatch.delenv(name, raising=False)
    result = json.loads(_python(COMPILE_CACHE, str(folder)))
    assert result["before"] == [None, 1.0]  # JAX's defaults: no cache folder
    assert result["after_import"] == result["before"]  # importing bayesmin changed nothing
    assert result["folder"] == str(folder)
    # The program compiled after the call was written, though JAX had compiled before it.
    assert any(name.endswith("-cache") for name in result["entries"]), result["entries"]
