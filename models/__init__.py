"""Declarative models of the course, their simulators and closed-form truths.

``models`` imports no sibling package. Each module registers its models on import;
:func:`get` and :func:`names` see all of them.
"""

from .base import DataError, Exact, ModelSpec, fingerprint, get, names, register, with_data

__all__ = [
    "DataError",
    "Exact",
    "ModelSpec",
    "fingerprint",
    "get",
    "names",
    "register",
    "with_data",
]
