"""Throughput of our Metropolis–Hastings kernel: chain-steps per second, beside plain JAX.

What it measures
----------------
``inference.mh.build_kernel(random_walk())`` on a ``vmap`` over ``C`` chains and a
``lax.scan`` over steps, on a ``d``-dimensional correlated Gaussian
(``correlated_gaussian_simulate(d=d)`` of ``models/benchmarks.py``, written as a plain
JAX quadratic form), with the proposal fixed at its optimum (covariance = the target's,
scale 2.38/√d) so there is no warm-up. Only running sums (each chain's mean position and
acceptance) leave the loop, so 10⁵–10⁷ chains fit in memory.

Beside it, in the same process and on the same target, ``plain`` is the same random-walk
MH written directly on ``(C, d)`` arrays: one key per step for all chains, one batched
normal draw, one batched quadratic form — what a hand-written JAX loop reaches, the
ceiling the kernel is judged against. The kernel pays for its generality by splitting
one key per chain per step (``vmap`` over a per-chain kernel), which is what makes its
chains reproducible one by one, whatever the batch.

Compilation is timed apart (ahead of time); the compiled program is then called once to
warm up and ``--repeats`` more times with fresh keys, and the fastest call gives
``chain-steps/s = C · steps / run_s``.

This script imports JAX, NumPy, pandas and the two project modules it measures — not
PyMC — so it runs on a GPU machine that has JAX alone::

    .venv/bin/python benchmarks/mh_throughput.py                       # 1k, 16k chains
    .venv/bin/python benchmarks/mh_throughput.py \\
        --chains 100000,1000000 --steps 1000 --dtype float32,float64   # GPU

(``benchmarks/mh.py --parts throughput`` runs the same measurement with its options.)

Columns
-------
``impl`` (``mh`` = our kernel, ``plain`` = the hand-written loop), ``chains``, ``dim``,
``steps``, ``dtype``; ``compile_s`` (ahead-of-time XLA compile), ``first_call_s`` (the
warm-up call, not in the rate), ``run_s`` (the fastest timed call),
``chain-steps/s``; ``acceptance`` (≈ 0.3 at the optimal scale in 10 dimensions) and
``max_mean_err/sd``, the worst distance of the pooled mean from the target's mean in
marginal standard deviations (a check that both loops sample the target).

Timings depend on the machine and on whatever else runs on it; never asserted on in tests.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from bayesmin.inference import mh
from bayesmin.models.benchmarks import correlated_gaussian_simulate

IMPLEMENTATIONS = ("mh", "plain")
COLUMNS = (
    "impl",
    "chains",
    "dim",
    "steps",
    "dtype",
    "compile_s",
    "first_call_s",
    "run_s",
    "chain-steps/s",
    "acceptance",
    "max_mean_err/sd",
)


def target(dim: int):
    """``(logdensity, batch_logdensity, mu, cov, chol)`` of the correlated Gaussian."""
    data = correlated_gaussian_simulate(0, d=dim)
    mu, cov = np.asarray(data["mu"]), np.asarray(data["cov"])
    precision = np.linalg.inv(cov)
    precision = 0.5 * (precision + precision.T)

    def logdensity(x):
        # Constants are cast to x's dtype so float32 runs stay float32.
        r = x - jnp.asarray(mu, x.dtype)
        return -0.5 * r @ (jnp.asarray(precision, x.dtype) @ r)

    def batch_logdensity(x):
        r = x - jnp.asarray(mu, x.dtype)
        return -0.5 * jnp.sum(r * (r @ jnp.asarray(precision, x.dtype)), axis=-1)

    return logdensity, batch_logdensity, mu, cov, np.linalg.cholesky(cov)


def _kernel_loop(dim: int, steps: int, dtype: str):
    """Our kernel: ``vmap`` over chains of ``mh.build_kernel(mh.random_walk())``."""
    logdensity, _, _, cov, _ = target(dim)
    kernel = mh.build_kernel(mh.random_walk())
    params = mh.params_from(dim, scale=2.38 / np.sqrt(dim), cov=cov)
    params = mh.MHParams(*(jnp.asarray(p, dtype) for p in params))

    def run(key, positions):
        chains = positions.shape[0]
        states = jax.vmap(lambda x: mh.init(x, logdensity))(positions)
        step_one = jax.vmap(lambda k, s: kernel(k, s, logdensity, params))

        def step(carry, i):
            states, total, accepted = carry
            keys = jax.random.split(jax.random.fold_in(key, i), chains)
            states, info = step_one(keys, states)
            return (states, total + states.position, accepted + info.is_accepted), None

        zero = (jnp.zeros_like(positions), jnp.zeros(chains, dtype))
        (_, total, accepted), _ = jax.lax.scan(
            step, (states, *zero), jnp.arange(steps, dtype=jnp.uint32)
        )
        return total / steps, accepted / steps

    return run


def _plain_loop(dim: int, steps: int, dtype: str):
    """The same random-walk MH written on ``(C, d)`` arrays: one key per step."""
    _, batch_logdensity, _, _, chol = target(dim)
    factor = jnp.asarray(2.38 / np.sqrt(dim) * chol.T, dtype)

    def run(key, positions):
        chains = positions.shape[0]

        def step(carry, i):
            x, logp, total, accepted = carry
            k_move, k_accept = jax.random.split(jax.random.fold_in(key, i))
            proposal = x + jax.random.normal(k_move, x.shape, x.dtype) @ factor
            logp_new = batch_logdensity(proposal)
            u = jax.random.uniform(k_accept, (chains,), x.dtype)
            take = jnp.log(u) < logp_new - logp
            x = jnp.where(take[:, None], proposal, x)
            logp = jnp.where(take, logp_new, logp)
            return (x, logp, total + x, accepted + take), None

        init = (positions, batch_logdensity(positions), jnp.zeros_like(positions))
        init = (*init, jnp.zeros(chains, dtype))
        (_, _, total, accepted), _ = jax.lax.scan(step, init, jnp.arange(steps, dtype=jnp.uint32))
        return total / steps, accepted / steps

    return run


def throughput(
    impl: str, chains: int, dim: int, steps: int, seed: int, dtype: str, repeats: int = 3
) -> dict:
    """Chain-steps per second of ``chains`` vectorised chains, sampling phase only.

    The compiled program is called once to warm up, then ``repeats`` times; the
    fastest of those calls gives the rate (the others are slowed by whatever else the
    machine is doing).
    """
    loop = {"mh": _kernel_loop, "plain": _plain_loop}[impl](dim, steps, dtype)
    _, _, mu, cov, _ = target(dim)
    key = jax.random.PRNGKey(seed)
    # Every chain starts at a draw from the target, so there is no transient to wait out.
    rng = np.random.default_rng(seed)
    start = jnp.asarray(rng.multivariate_normal(mu, cov, size=chains), dtype)
    t0 = time.perf_counter()
    compiled = jax.jit(loop).lower(key, start).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(key, start))
    first_s = time.perf_counter() - t0
    run_s = np.inf
    for repeat in range(repeats):
        t0 = time.perf_counter()
        mean, acceptance = jax.block_until_ready(
            compiled(jax.random.fold_in(key, repeat + 1), start)
        )
        run_s = min(run_s, time.perf_counter() - t0)
    pooled = np.asarray(mean, float).mean(axis=0)
    return {
        "impl": impl,
        "chains": chains,
        "dim": dim,
        "steps": steps,
        "dtype": dtype,
        "compile_s": compile_s,
        "first_call_s": first_s,
        "run_s": run_s,
        "chain-steps/s": chains * steps / run_s,
        "acceptance": float(np.mean(acceptance)),
        "max_mean_err/sd": float(np.max(np.abs(pooled - mu) / np.sqrt(np.diag(cov)))),
    }


def run(
    chains: list[int],
    *,
    dim: int = 10,
    steps: int = 1000,
    seed: int = 0,
    dtypes: tuple[str, ...] = ("float64",),
    impls: tuple[str, ...] = IMPLEMENTATIONS,
    repeats: int = 3,
) -> pd.DataFrame:
    """One row per (dtype, chain count, implementation)."""
    rows = []
    for dtype in dtypes:
        for c in chains:
            for impl in impls:
                print(f"  throughput: {impl} {c} chains x {steps} steps, {dtype} ...", flush=True)
                rows.append(throughput(impl, c, dim, steps, seed, dtype, repeats))
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def format_table(table: pd.DataFrame) -> str:
    """The table as text, rates in three significant figures."""
    formats = {c: "{:.2f}".format for c in ("compile_s", "first_call_s", "run_s")}
    formats |= {
        "chain-steps/s": "{:.3g}".format,
        "acceptance": "{:.3f}".format,
        "max_mean_err/sd": "{:.3f}".format,
    }
    return table.to_string(index=False, formatters=formats)


def _ints(text: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chains", default="1000,16000", help="comma-separated (1000,16000)")
    parser.add_argument("--dim", type=int, default=10, help="dimension of the target (10)")
    parser.add_argument("--steps", type=int, default=1000, help="MH steps per chain (1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls; fastest counts (3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dtype", default="float64", help="comma-separated, from float64, float32 (float64)"
    )
    parser.add_argument("--impl", default="mh,plain", help="comma-separated, from mh, plain (both)")
    parser.add_argument("--csv", default=None, help="also save the table to this CSV file")
    args = parser.parse_args(argv)
    try:
        args.chains = _ints(args.chains)
    except ValueError:
        parser.error("--chains must be comma-separated integers, e.g. 1000,16000")
    if not args.chains or min(args.chains) < 1:
        parser.error("--chains must list chain counts >= 1")
    if args.dim < 2:
        parser.error("--dim must be >= 2 (the correlated Gaussian needs d >= 2)")
    for key in ("steps", "repeats"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be >= 1")
    args.dtype = tuple(d.strip() for d in args.dtype.split(",") if d.strip())
    if not args.dtype or set(args.dtype) - {"float64", "float32"}:
        parser.error("--dtype must list float64 and/or float32")
    args.impl = tuple(i.strip() for i in args.impl.split(",") if i.strip())
    if not args.impl or set(args.impl) - set(IMPLEMENTATIONS):
        parser.error(f"--impl must list some of {', '.join(IMPLEMENTATIONS)}")
    return args


def main(args: argparse.Namespace) -> pd.DataFrame:
    # Start JAX's client before the first timed call so it is charged to nobody.
    jax.block_until_ready(jax.jit(lambda x: x + 1.0)(1.0))
    device = jax.devices()[0]
    print("machine")
    print(f"  python  {platform.python_version()}   jax {jax.__version__}   numpy {np.__version__}")
    print(f"  device  {device.platform}: {getattr(device, 'device_kind', device)}")
    table = run(
        args.chains,
        dim=args.dim,
        steps=args.steps,
        seed=args.seed,
        dtypes=args.dtype,
        impls=args.impl,
        repeats=args.repeats,
    )
    print(
        f"\n== throughput: random-walk MH, {args.dim}-d correlated Gaussian, "
        f"sampling phase only, on {device.platform} =="
    )
    print(format_table(table))
    if len(set(args.impl)) == 2:
        wide = table.pivot_table(index=["dtype", "chains"], columns="impl", values="chain-steps/s")
        print("\n== mh / plain (chain-steps/s) ==")
        print((wide["mh"] / wide["plain"]).rename("ratio").to_string(float_format="{:.2f}".format))
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"saved {args.csv}")
    return table


if __name__ == "__main__":
    main(parse_args())
