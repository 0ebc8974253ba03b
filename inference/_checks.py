"""The one check of whole-number settings: run lengths, restarts, sizes, steps."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

__all__ = ["check_counts"]


def check_counts(minimum: int | Mapping[str, int] = 1, /, **counts: Any) -> dict[str, int]:
    """The counts as ints, or a ``ValueError`` naming the first that is not valid.

    A count is an integer (Python's or NumPy's; not a float, a bool or a string) at least
    its minimum: ``minimum`` itself, or ``minimum.get(name, 1)`` for a mapping.

    Examples
    --------
    >>> check_counts(draws=1000, chains=4)
    {'draws': 1000, 'chains': 4}
    >>> check_counts({"tune": 0}, tune=0)
    {'tune': 0}
    >>> check_counts(n_init=0)
    Traceback (most recent call last):
    ...
    ValueError: n_init must be an integer >= 1, got 0
    """
    out = {}
    for name, value in counts.items():
        least = minimum.get(name, 1) if isinstance(minimum, Mapping) else minimum
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        out[name] = int(value)
    return out
