"""Training steps per second of the VAE and DDPM trainers, beside a plain-JAX DDPM step.

What it measures (one process, the device JAX picks: a GPU when it sees one)
----------------------------------------------------------------------------
1. **plain JAX** — the anchor: a DDPM training step written directly in JAX (an MLP of
   the same width and depth as ``models.diffusion.EpsNet`` with a sinusoidal time
   embedding added to every hidden layer, L_simple, Adam written out), 100 steps per jitted
   ``lax.scan``, minibatches drawn on the device.
2. **DDPMTrainer** — ours (``inference.diffusion``) through ``inference.training.train``,
   same network size and batch, on moons.
3. **VAETrainer** — ours (``inference.svi``; NumPyro SVI with Equinox networks) at the
   quick profile's batch, and at the anchor's batch.

Each row: steps/s over ``--repeats`` timed calls of ``--steps`` steps after one warm-up
call (compilation excluded), float32 throughout.

Run it::

    .venv/bin/python benchmarks/nn.py                     # CPU here
    PYTHONPATH=. python3 benchmarks/nn.py --batch 4096    # on a GPU machine

Only JAX, NumPy, pandas, optax, equinox and NumPyro are imported (no PyMC), so it runs where
only the JAX stack is installed. Timings depend on the machine; never asserted on in tests.
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

F32 = jnp.float32


# ------------------------------------------------------------------ the plain-JAX anchor


def _embed(t, dim):
    half = dim // 2
    freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=F32) / half)
    angles = t.astype(F32)[:, None] * freqs[None, :]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=1)


def _init_mlp(key, d, hidden, depth, emb):
    def dense(key, n_in, n_out):
        w = jax.random.normal(key, (n_in, n_out), F32) / jnp.sqrt(jnp.asarray(n_in, F32))
        return {"w": w, "b": jnp.zeros(n_out, F32)}

    keys = jax.random.split(key, depth + 4)
    return {
        "inp": dense(keys[0], d, hidden),
        "t1": dense(keys[1], emb, hidden),
        "t2": dense(keys[2], hidden, hidden),
        "hidden": [dense(k, hidden, hidden) for k in keys[4 : 4 + depth]],
        "out": dense(keys[3], hidden, d),
    }


def _mlp(p, x, t, emb):
    def lin(q, h):
        return h @ q["w"] + q["b"]

    temb = lin(p["t2"], jax.nn.silu(lin(p["t1"], _embed(t, emb))))
    h = lin(p["inp"], x)
    for q in p["hidden"]:
        h = jax.nn.silu(lin(q, h) + temb)
    return lin(p["out"], h)


def plain_ddpm(x_train, hidden, depth, emb, batch, steps):
    """``run(state, key) -> (state, losses)``: ``steps`` plain-JAX DDPM steps, and a state.

    Adam is written out with float32 scalars: this process runs with x64 on (``import
    inference`` turns it on), where optax's bias correction would promote the updates to
    float64 and make the anchor look slower than plain JAX is.
    """
    T = 1000
    betas = jnp.linspace(1e-4, 0.02, T, dtype=F32)
    abar = jnp.cumprod(1.0 - betas)
    lr, b1, b2, eps_adam = (jnp.asarray(v, F32) for v in (1e-3, 0.9, 0.999, 1e-8))
    params = _init_mlp(jax.random.PRNGKey(0), x_train.shape[1], hidden, depth, emb)
    zeros = jax.tree.map(jnp.zeros_like, params)

    def loss_fn(p, x0, t, eps):
        a = abar[t][:, None]
        xt = jnp.sqrt(a) * x0 + jnp.sqrt(1.0 - a) * eps
        return jnp.mean((eps - _mlp(p, xt, t + 1, emb)) ** 2)

    def step(carry, key):
        p, m, v, count = carry
        k1, k2, k3 = jax.random.split(key, 3)
        x0 = x_train[jax.random.randint(k1, (batch,), 0, x_train.shape[0])]
        t = jax.random.randint(k2, (batch,), 0, T)
        eps = jax.random.normal(k3, x0.shape, F32)
        loss, g = jax.value_and_grad(loss_fn)(p, x0, t, eps)
        count = count + 1.0
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1, c2 = 1 - b1**count, 1 - b2**count
        p = jax.tree.map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps_adam), p, m, v)
        return (p, m, v, count), loss

    @jax.jit
    def run(carry, key):
        return jax.lax.scan(step, carry, jax.random.split(key, steps))

    return run, (params, zeros, zeros, jnp.zeros((), F32))


# ----------------------------------------------------------------------------- timing


def _time(call, repeats: int) -> float:
    jax.block_until_ready(call(0))  # warm-up: compile
    best = np.inf
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call(i + 1))
        best = min(best, time.perf_counter() - start)
    return best


def measure(batch: int, steps: int, repeats: int, quick_batch: bool) -> pd.DataFrame:
    from bayesmin.inference import diffusion, svi
    from bayesmin.inference.training import train
    from bayesmin.models import diffusion as ddpm_data
    from bayesmin.models import vae

    rows = []
    moons = ddpm_data.dataset("moons", seed=0)
    cfg = diffusion.ddpm_config("moons", "quick")
    x_train = jnp.asarray(moons["x_train"], F32)

    run, state = plain_ddpm(x_train, cfg.hidden, cfg.depth, cfg.emb_dim, batch, steps)
    seconds = _time(lambda i: run(state, jax.random.PRNGKey(i))[1], repeats)
    rows.append(("plain JAX DDPM step", batch, steps / seconds))

    def ours(trainer):
        fresh = trainer.init(0)

        def call(i):
            return train(trainer.step, fresh, steps, key=jax.random.PRNGKey(i), chunk=steps)[0]

        return steps / _time(call, repeats)

    batches = [batch] + ([cfg.batch_size] if quick_batch and cfg.batch_size != batch else [])
    for b in batches:
        trainer = diffusion.DDPMTrainer(
            diffusion.ddpm_config("moons", "quick", batch_size=b), moons
        )
        rows.append(("DDPMTrainer (moons)", b, ours(trainer)))
    digits = vae.digits(seed=0)
    quick = svi.VAE_PROFILES["quick"]
    vae_batches = [quick.batch_size] + ([batch] if batch <= len(digits["x_train"]) else [])
    for b in vae_batches:
        config = svi.VAEConfig(**{**quick.__dict__, "batch_size": b})
        rows.append(("VAETrainer (digits)", b, ours(svi.VAETrainer(config, digits))))
    table = pd.DataFrame(rows, columns=["step", "batch", "steps_per_second"])
    anchor = table.loc[0, "steps_per_second"]
    table["vs_plain_at_same_batch"] = [
        r.steps_per_second / anchor if r.batch == batch and r.step.startswith("DDPM") else np.nan
        for r in table.itertuples()
    ]
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096, help="the anchor's batch size")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (fastest kept)")
    parser.add_argument(
        "--no-quick-batch", action="store_true", help="skip ours at the quick profile's batch"
    )
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    print(f"device: {device.platform} ({device.device_kind}), JAX {jax.__version__}")
    table = measure(args.batch, args.steps, args.repeats, not args.no_quick_batch)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
