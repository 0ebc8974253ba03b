"""Where bayesmin computes in float64, and how it leaves JAX's global flag alone.

Importing bayesmin changes no global setting. The samplers and estimators that need
64-bit arithmetic choose it explicitly with :func:`float64`, a block (or decorator)
inside which JAX runs with x64 enabled, the process-wide flag restored on exit:

- PyMC models are float64 (PyTensor's ``floatX``); the log density the PyMC bridge
  jaxifies must be traced in 64-bit to mean what PyMC means by it;
- so that a seed gives the same draws on every route, whatever ran earlier in the
  process, every route to our kernels (``inference.sample``, the PyMC step) runs in the
  same precision: float64, as PyMC does;
- EM and ADVI results are compared with scikit-learn and closed forms to a few ulps.

PyTensor's JAX dispatch sets the *global* x64 flag when it is first imported (to
follow ``floatX``); :func:`float64` undoes that, so bridging a PyMC model does not
change the precision of the user's own JAX code. The networks of topics 9-10 choose
float32 the same explicit way, by the dtypes of their parameters and data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax

__all__ = ["float64"]


def _global_x64() -> bool:
    # ``jax.config.jax_enable_x64`` reads the effective value, the thread-local one
    # inside an ``enable_x64`` block; the global default is what must be restored.
    return bool(jax.config._value_holders["jax_enable_x64"].get_global())


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Run the block with JAX in 64-bit; the global x64 flag is the same afterwards.

    Usable as a decorator (``@float64()``). Arrays made inside keep their dtype
    outside; convert results to NumPy at the boundary.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> with float64():
    ...     x = jnp.ones(2)
    >>> str(x.dtype)
    'float64'
    """
    before = _global_x64()
    try:
        with jax.enable_x64(True):
            yield
    finally:
        if _global_x64() != before:  # PyTensor's JAX dispatch was imported in the block
            jax.config.update("jax_enable_x64", before)
