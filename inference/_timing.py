"""Wall-clock split between JAX compilation and execution.

JAX reports each trace, lowering and backend compile as a time span through
:mod:`jax.monitoring`. Spans of nested ``jit``s overlap, so the compile time of a block
of code is the length of the *union* of the spans recorded while it ran.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import jax.monitoring

_COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
}
_local = threading.local()


def _on_span(event: str, start: float, end: float, **_kwargs) -> None:
    spans = getattr(_local, "spans", None)
    if spans is not None and event in _COMPILE_EVENTS:
        spans.append((start, end))


jax.monitoring.register_event_time_span_listener(_on_span)


def _union_length(spans: list[tuple[float, float]]) -> float:
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted(spans):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


class Clock:
    """Result of :func:`clock`: ``total``, ``compile`` and ``run`` seconds."""

    total: float = 0.0
    compile: float = 0.0

    @property
    def run(self) -> float:
        return max(self.total - self.compile, 0.0)


@contextmanager
def clock():
    """Time a block, splitting off the seconds JAX spent compiling inside it.

    Examples
    --------
    >>> with clock() as c:
    ...     jax.jit(lambda x: x + 1)(1.0).block_until_ready()
    >>> c.compile <= c.total
    True
    """
    result = Clock()
    outer = getattr(_local, "spans", None)
    _local.spans = []
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.total = time.perf_counter() - start
        result.compile = min(_union_length(_local.spans), result.total)
        if outer is not None:
            outer.extend(_local.spans)
        _local.spans = outer
