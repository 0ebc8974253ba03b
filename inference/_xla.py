"""``jax.jit`` with XLA:CPU options that compile small numeric loops faster.

XLA's CPU backend now emits its fused loops through MLIR ("fusion emitters"); for the
small programs of an EM fit (a handful of products, a Cholesky factorisation and a
log-sum-exp inside a ``while_loop``) that takes 2-3× longer to compile than XLA's
older LLVM emitters, while the programs run as fast either way: most of their time is
in matrix products, which both hand to the same library. Measured on the Gaussian
mixture's EM loop (100,000 × 10, K = 5, 2 cores): 0.8 s of compilation down to 0.3 s,
run time unchanged (``benchmarks/em.py``); LLVM's work split in two parts, at its
optimisation level 1, then takes the mixture's two programs from 0.5 s to 0.27 s.
The networks' training and sampling steps (topics 9-10) compile with them too: the MLIR
emitters took ~300 MB more to compile the digits' U-Net step, memory glibc then kept
(topic 10's process peaked at 1,150 MB, now 865 MB), and the steps run as fast.

:func:`jit` asks for the older emitters where JAX runs on the CPU, and drops the
option for the rest of the process if this XLA no longer knows it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["CPU_COMPILE_OPTIONS", "jit"]

CPU_COMPILE_OPTIONS = {
    "xla_cpu_use_fusion_emitters": False,
    # LLVM's code generation in two parallel parts, at its optimisation level 1: the
    # fused loops are simple and the matrix products go to the library, so the programs
    # run as fast (mixture EM later fits 0.33 s either way; NUTS and MH sampling times
    # unchanged on the regression) and compile in 0.27 s instead of 0.5 s.
    "xla_cpu_parallel_codegen_split_count": 2,
    "xla_backend_optimization_level": 1,
}

# None: not tried yet; False: this XLA rejected an option, compile without them.
_options_known: bool | None = None


def jit(fn: Callable, **jit_kwargs: Any) -> Callable:
    """``jax.jit(fn, **jit_kwargs)``, compiled with :data:`CPU_COMPILE_OPTIONS` on the CPU.

    The result is called like the jitted function (static arguments included); the
    compiled programs are the same on other backends.
    """
    fast = jax.jit(fn, compiler_options=CPU_COMPILE_OPTIONS, **jit_kwargs)
    plain = jax.jit(fn, **jit_kwargs)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        global _options_known
        if _options_known is not False and jax.default_backend() == "cpu":
            try:
                out = fast(*args, **kwargs)
            except jax.errors.JaxRuntimeError as error:
                if "compile option" not in str(error):
                    raise
                _options_known = False
            else:
                _options_known = True
                return out
        return plain(*args, **kwargs)

    return call
