"""bayesmin: the theoretical minimum of Bayesian methods in machine learning, executable.

One import package whose subpackages are the course's layers, imported one way
(``models`` <- ``inference`` <- ``diagnostics`` <- ``reports``):

- :mod:`bayesmin.models` — declarative PyMC/NumPyro models, simulators, closed-form truths;
- :mod:`bayesmin.inference` — samplers and fitting (NUTS backends, our MH and EM kernels, VI);
- :mod:`bayesmin.diagnostics` — ArviZ-based summaries, the comparison table, exact checks;
- :mod:`bayesmin.reports` — figures, HTML pages and the ``bayesmin`` command line.

The most used calls are also here: :func:`sample` (= ``bayesmin.inference.sample``),
:func:`get` (= ``bayesmin.models.get``) and :func:`compare` (= ``bayesmin.diagnostics.compare``).
Everything loads on first use, so ``import bayesmin`` is cheap and changes no global
setting (JAX's x64 flag, matplotlib's backend, logging, warnings filters, JAX's
compilation cache).

:func:`enable_compile_cache` is the one documented call that turns on JAX's persistent
compilation cache for a script (the ``bayesmin`` command does it for itself): compiled
programs go to ``~/.cache/bayesmin/jax`` (or the folder given) and a later process
loads them instead of compiling again.

Examples
--------
>>> import bayesmin
>>> idata = bayesmin.sample("normal_normal", "mh", progress=False)  # doctest: +SKIP
>>> bayesmin.compare({"mh": idata}, reference=bayesmin.get("normal_normal"))  # doctest: +SKIP
>>> bayesmin.enable_compile_cache()  # doctest: +SKIP
PosixPath('/home/me/.cache/bayesmin/jax')
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bayesmin")
except PackageNotFoundError:  # pragma: no cover - imported from a source tree, not installed
    __version__ = "0+unknown"

_SUBPACKAGES = ("models", "inference", "diagnostics", "reports")
# name -> (subpackage, attribute): the shortcuts of the public contract.
_SHORTCUTS = {
    "sample": ("inference", "sample"),
    "get": ("models", "get"),
    "compare": ("diagnostics", "compare"),
    "enable_compile_cache": ("inference._compile_cache", "enable_compile_cache"),
}

__all__ = [*_SUBPACKAGES, *_SHORTCUTS, "__version__"]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _SHORTCUTS:
        package, attribute = _SHORTCUTS[name]
        return getattr(importlib.import_module(f".{package}", __name__), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
