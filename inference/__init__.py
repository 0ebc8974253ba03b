"""Samplers and fitting: NUTS backends, our kernels, the model bridge.

``inference.sample(target, sampler, ...)`` is the single entry point; see
:func:`inference.sampling.sample`.

The entry point is loaded on first use, so ``from inference import mh`` imports JAX
alone — not PyMC or NumPyro — and the kernels run where only JAX is installed (the GPU
throughput benchmark, ``benchmarks/mh_throughput.py``).

Importing it changes no global setting: the samplers choose float64 for their own
computation (:mod:`bayesmin.inference._precision`), so JAX code of the user's keeps the
precision the user chose.
"""

import importlib

# Public name -> (module, its name there); everything else comes from ``.sampling``.
_FROM = {
    "ConvergenceWarning": (".convergence", "ConvergenceWarning"),
    "check_convergence": (".convergence", "check"),
}

__all__ = [
    "SAMPLERS",
    "UNTIL_ESS_SAMPLERS",
    "ConvergenceWarning",
    "UntilESSWarning",
    "check_convergence",
    "check_run_lengths",
    "check_seed",
    "resolve_sampler",
    "resolve_target",
    "sample",
    "sampler_options",
    "values_per_draw",
]


def __getattr__(name: str):
    if name in __all__:
        module, attr = _FROM.get(name, (".sampling", name))
        return getattr(importlib.import_module(module, __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
