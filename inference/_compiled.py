"""One bounded cache for what is expensive to build: compiled programs, traced models.

Every JAX program in bayesmin is compiled once per model and settings and kept here, so
a second seed, a second scale or a second fit on data of the same shapes compiles
nothing. Caches are bounded (least recently used first out): a long session that fits
many models must not keep every executable alive.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, TypeVar

import jax
import numpy as np

__all__ = [
    "CompiledCache",
    "clear_all",
    "compile_exported",
    "compile_lowered",
    "export_folder",
    "function_digest",
]

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


# ----------------------------------------------------- programs kept traced on disk

# JAX's persistent cache skips XLA's compilation, not tracing and lowering: for a NUTS
# loop around a small model those are most of a warm process's wait (1.9 s of 3.2 s on
# the 2,000 x 20 regression: NumPyro's tree builder traced under ``vmap``). Where the
# persistent cache is on, programs are also kept as ``jax.export`` artifacts (StableHLO,
# traced and lowered), found again by a digest of what defines them.
EXPORT_FOLDER = "bayesmin-exported"


def export_folder() -> Path | None:
    """Where traced programs are kept: beside JAX's persistent cache; None when it is off."""
    folder = jax.config.jax_compilation_cache_dir
    if not (jax.config.jax_enable_compilation_cache and folder):
        return None
    return Path(folder) / EXPORT_FOLDER


@functools.cache
def _code_version() -> str:
    """Versions of JAX and bayesmin, and a digest of the inference sources (edits count)."""
    import jaxlib

    digest = hashlib.sha256(f"{jax.__version__} {jaxlib.__version__}".encode())
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def function_digest(fn: Callable, *args: Any) -> str:
    """A digest of the program ``fn`` traces to on arguments like ``args``.

    The jaxpr's text (every operation and its parameters, nested programs included) and
    the values of the constants it closes over: two functions with the same digest
    compute the same thing on arguments of these shapes and dtypes.
    """
    closed = jax.make_jaxpr(fn)(*args)
    digest = hashlib.sha256(str(closed.jaxpr).encode())
    for const in closed.consts:
        value = np.asarray(const)
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _signature(args: Any) -> str:
    leaves, tree = jax.tree.flatten(args)
    shapes = [
        (tuple(np.shape(x)), np.dtype(x.dtype).str, bool(getattr(x, "weak_type", False)))
        for x in leaves
    ]
    return f"{tree} {shapes} x64={bool(jax.config.jax_enable_x64)} {jax.default_backend()}"


def compile_exported(fn: Callable, args: Any, *, identity: Hashable) -> jax.stages.Compiled:
    """``fn`` compiled for ``args`` (arrays or ``jax.ShapeDtypeStruct``), traced at most once.

    Where JAX's persistent cache is on (:func:`export_folder`), the traced program is
    kept on disk under a digest of ``identity`` (what defines ``fn`` besides the
    shapes: settings, :func:`function_digest` of the model), the arguments' signature
    and :func:`_code_version`; a later process loads it and goes straight to XLA (whose
    own cache then skips compiling too). ``fn``'s inputs and outputs must be built-in
    pytrees (tuples, lists, dicts) of arrays. Without the persistent cache, or where
    JAX cannot export the program, this is :func:`compile_lowered` of ``jax.jit(fn)``.
    """
    folder = export_folder()
    if folder is None:
        return compile_lowered(jax.jit(fn).lower(*args))
    key = hashlib.sha256(f"{identity!r} {_signature(args)} {_code_version()}".encode())
    path = folder / f"{key.hexdigest()}.jaxexport"
    exported = None
    if path.is_file():
        try:
            exported = jax.export.deserialize(bytearray(path.read_bytes()))
        except Exception:  # a damaged or foreign file: trace again
            exported = None
    if exported is None:
        try:
            exported = jax.export.export(jax.jit(fn))(*args)
            blob = exported.serialize()
        except Exception:  # not exportable (an unstable custom call, ...)
            return compile_lowered(jax.jit(fn).lower(*args))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.partial")
            partial.write_bytes(blob)
            os.replace(partial, path)  # readers never see half a file
        except OSError:
            pass  # a read-only cache: the program still runs, the next process traces
    return compile_lowered(jax.jit(exported.call).lower(*args))
