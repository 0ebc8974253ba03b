"""One bounded cache for what is expensive to build: compiled programs, traced models.

Every JAX program in bayesmin is compiled once per model and settings and kept here, so
a second seed, a second scale or a second fit on data of the same shapes compiles
nothing. Caches are bounded (least recently used first out): a long session that fits
many models must not keep every executable alive.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import jax

__all__ = ["CompiledCache", "clear_all", "compile_lowered"]

T = TypeVar("T")
_ALL: weakref.WeakSet[CompiledCache] = weakref.WeakSet()


class CompiledCache(Generic[T]):
    """A least-recently-used map from a hashable key to something costly to build.

    The JAX precision in force (x64 or not) is part of every key: a program traced in
    one precision is never handed to a caller in the other.

    Parameters
    ----------
    name : str
        What it holds, for ``repr`` and debugging.
    maxsize : int
        Entries kept; the least recently used goes first.

    Examples
    --------
    >>> cache = CompiledCache("squares", maxsize=2)
    >>> cache.get(3, lambda: 3 * 3)
    9
    >>> cache.get(3, lambda: 0)  # built once
    9
    """

    def __init__(self, name: str, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.name = name
        self.maxsize = int(maxsize)
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        _ALL.add(self)

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The entry for ``key``, built by ``build()`` (outside the lock) when missing."""
        key = (key, bool(jax.config.jax_enable_x64))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return (key, bool(jax.config.jax_enable_x64)) in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __repr__(self) -> str:
        return f"CompiledCache({self.name!r}, {len(self)}/{self.maxsize})"


def clear_all() -> None:
    """Empty every cache (a benchmark's cold start; freeing memory in a long session)."""
    for cache in _ALL:
        cache.clear()


def compile_lowered(lowered: jax.stages.Lowered) -> jax.stages.Compiled:
    """``lowered.compile()``, with XLA:CPU's faster-compiling options on the CPU.

    The samplers' programs are loops around a model's log density; XLA's older LLVM
    emitters compile them about twice as fast as its MLIR fusion emitters, and they run
    as fast (:mod:`inference._xla`). An XLA that no longer knows the option compiles
    without it.
    """
    from . import _xla

    if jax.default_backend() != "cpu" or _xla._options_known is False:
        return lowered.compile()
    try:
        compiled = lowered.compile(compiler_options=_xla.CPU_COMPILE_OPTIONS)
    except jax.errors.JaxRuntimeError as error:
        if "compile option" not in str(error):
            raise
        _xla._options_known = False
        return lowered.compile()
    _xla._options_known = True
    return compiled
