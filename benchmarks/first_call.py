"""What a user waits for on the first and on a repeated call, compile included.

Each row is a fresh Python process (imports done before the clock starts) on the
2,000 × 20 Bayesian linear regression (registry ``linear_regression`` with ``n=2000,
d=20``; 21 parameters with the noise precision), 4 chains × 1,000 draws after 1,000 of
warm-up, float64 everywhere:

* ``bayesmin nuts, PyMC model`` — ``inference.sample(pm_model, "nuts")``: the PyMC model
  goes through the bridge (observed data lifted into arguments) to our NumPyro-NUTS loop;
* ``bayesmin nuts, NumPyro model`` — the same on the registry's NumPyro function;
* ``plain NumPyro MCMC`` — ``MCMC(NUTS(model), chain_method="vectorized")`` on the same
  NumPyro function, ``numpyro.enable_x64()``;
* for each of our JAX samplers (``nuts``, ``nuts:blackjax``, ``mh``): the first call,
  then the same call again and a call with a new seed and new data of the same shapes,
  with the seconds spent compiling (``attrs["compile_seconds"]``) and the number of XLA
  programs compiled (``jax.monitoring``).

Usage: ``.venv/bin/python benchmarks/first_call.py`` (a few minutes on 2 CPUs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD_KINDS = ("pymc", "numpyro", "plain", "repeat")


def _data(seed: int = 0):
    from bayesmin import models

    return models.get("linear_regression").simulate(seed, n=2000, d=20)


def child(kind: str, sampler: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    import jax
    import numpy as np

    from bayesmin import inference, models

    compiles = {"n": 0}

    def on_event(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles["n"] += 1

    jax.monitoring.register_event_duration_secs_listener(on_event)
    spec = models.get("linear_regression")
    data = _data()
    lengths = dict(draws=1000, tune=1000, chains=4, progress=False)
    out: dict = {"kind": kind, "sampler": sampler}
    if kind == "plain":
        import numpyro
        from numpyro.infer import MCMC, NUTS

        numpyro.enable_x64()
        t0 = time.perf_counter()
        mcmc = MCMC(
            NUTS(spec.numpyro),
            num_warmup=1000,
            num_samples=1000,
            num_chains=4,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(jax.random.PRNGKey(0), **data)
        jax.block_until_ready(mcmc.get_samples())
        out["wall"] = time.perf_counter() - t0
        out["compiles"] = compiles["n"]
        return out
    if kind == "pymc":
        model = spec.pymc(data)
        t0 = time.perf_counter()
        idata = inference.sample(model, sampler, **lengths)
        out["wall"] = time.perf_counter() - t0
        out["compile"] = idata.attrs["compile_seconds"]
        out["compiles"] = compiles["n"]
        return out
    t0 = time.perf_counter()
    idata = inference.sample(spec, sampler, data=data, **lengths)
    out["wall"] = time.perf_counter() - t0
    out["compile"] = idata.attrs["compile_seconds"]
    out["compiles"] = compiles["n"]
    if kind == "repeat":
        for label, seed, new in (("again", 0, data), ("new seed+data", 1, _data(1))):
            compiles["n"] = 0
            t0 = time.perf_counter()
            idata = inference.sample(spec, sampler, data=new, seed=seed, **lengths)
            out[f"{label} wall"] = time.perf_counter() - t0
            out[f"{label} compile"] = idata.attrs["compile_seconds"]
            out[f"{label} compiles"] = compiles["n"]
        out["ess_bulk_min"] = float(
            np.min([float(v.min()) for v in __import__("arviz").ess(idata).data_vars.values()])
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SAMPLER"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    rows = []
    plan = [
        ("pymc", "nuts"),
        ("numpyro", "nuts"),
        ("plain", "-"),
        ("repeat", "nuts"),
        ("repeat", "nuts:blackjax"),
        ("repeat", "mh"),
    ]
    for kind, sampler in plan:
        print(f"running {kind} {sampler}", file=sys.stderr, flush=True)
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, sampler],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    import pandas as pd

    table = pd.DataFrame(rows).set_index(["kind", "sampler"])
    print(table.round(3).to_markdown() if _has_tabulate() else table.round(3).to_string())
    plain = table.loc[("plain", "-"), "wall"]
    first = table.loc[("pymc", "nuts"), "wall"]
    print(f"\nfirst nuts call on the PyMC model / plain NumPyro MCMC: {first / plain:.2f}")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
