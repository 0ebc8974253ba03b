"""Samplers and fitting: NUTS backends, our kernels, the model bridge.

``inference.sample(target, sampler, ...)`` is the single entry point; see
:func:`inference.sampling.sample`.
"""

from inference.sampling import SAMPLERS, resolve_sampler, resolve_target, sample

__all__ = ["SAMPLERS", "resolve_sampler", "resolve_target", "sample"]
