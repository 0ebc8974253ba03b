"""The course's general EM scheme as one jitted loop over pure functions.

For a model p(X, Z | θ) with latent Z, EM maximises the lower bound

    L(q, θ) = E_{q(Z)} log p(X, Z | θ) − E_{q(Z)} log q(Z)  ≤  log p(X | θ)

alternately in q and in θ (Dempster, Laird & Rubin 1977; Bishop 2006, §9.4):

* E-step: q ← argmax_q L(q, θ) = p(Z | X, θ), where the bound touches log p(X | θ);
* M-step: θ ← argmax_θ E_q log p(X, Z | θ).

Neither step can lower L, so the sequence of bounds never decreases — the tests check
it on every iteration of every model. A model supplies three pure JAX functions:

* ``e_step(params, data) -> q``;
* ``lower_bound(params, q, data) -> scalar`` — L(q, θ) (for the exact E-step it equals
  log p(X | θ); models report it per observation, as scikit-learn does);
* ``m_step(q, data) -> params``.

:func:`em` runs ``q = e_step(θ); ℓ = lower_bound(θ, q); θ = m_step(q)`` until
``|ℓ_t − ℓ_{t−1}| < tol`` or ``max_iter`` iterations, inside one ``lax.while_loop``,
recording every ℓ. That order is scikit-learn's: its ``lower_bound_`` is the bound at
the last E-step, so fits can be compared number for number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._compiled import CompiledCache
from .._xla import jit

__all__ = ["EMResult", "em"]


class EMResult(NamedTuple):
    """Outcome of :func:`em`.

    params : the parameters after the last M-step.
    lower_bounds : (n_iter,) the bound at each iteration's E-step.
    n_iter : iterations run.
    converged : whether the last change was below ``tol``.
    """

    params: Any
    lower_bounds: np.ndarray
    n_iter: int
    converged: bool


def _loop(e_step, m_step, lower_bound, tol: float, max_iter: int):
    def run(params, data):
        history = jnp.full(max_iter, jnp.nan)

        def cond(state):
            _, _, change, n, _ = state
            return (n < max_iter) & (jnp.abs(change) >= tol)

        def body(state):
            params, previous, _, n, history = state
            q = e_step(params, data)
            bound = lower_bound(params, q, data)
            params = m_step(q, data)
            return params, bound, bound - previous, n + 1, history.at[n].set(bound)

        state = (params, jnp.asarray(-jnp.inf), jnp.asarray(jnp.inf), 0, history)
        params, _, change, n, history = jax.lax.while_loop(cond, body, state)
        return params, history, n, jnp.abs(change) < tol

    return jit(run)  # XLA:CPU's faster-compiling emitters (inference._xla)


# One compiled loop per model and settings; steps built per call (closures) must not pile up.
_LOOPS: CompiledCache[Callable] = CompiledCache("EM loops", maxsize=32)


def em(
    params: Any,
    data: Any,
    *,
    e_step: Callable,
    m_step: Callable,
    lower_bound: Callable,
    tol: float = 1e-3,
    max_iter: int = 100,
) -> EMResult:
    """Run EM from ``params`` (see the module docstring); compiled once per model and settings.

    ``data`` is a pytree of arrays passed to every step (not closed over), so one compiled
    loop serves every data set of the same shapes.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    key = (e_step, m_step, lower_bound, float(tol), int(max_iter))
    loop = _LOOPS.get(key, lambda: _loop(e_step, m_step, lower_bound, float(tol), int(max_iter)))
    params, history, n, converged = loop(params, data)
    n = int(n)
    return EMResult(params, np.asarray(history)[:n], n, bool(converged))
