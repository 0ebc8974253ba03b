"""The one check of whole-number settings: run lengths, restarts, sizes, steps, seeds."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_SEED", "check_counts", "check_run_lengths", "check_seed"]

#: The largest seed: NumPy's legacy seeds (``RandomState``, scikit-learn's
#: ``random_state``) are 32-bit, so every seed in [0, 2**32 - 1] works on every route.
MAX_SEED = 2**32 - 1


def check_counts(
    minimum: int | Mapping[str, int] = 1,
    maximum: int | Mapping[str, int] | None = None,
    /,
    **counts: Any,
) -> dict[str, int]:
    """The counts as ints, or a ``ValueError`` naming the first that is not valid.

    A count is an integer (Python's or NumPy's; not a float, a bool or a string) at least
    its minimum: ``minimum`` itself, or ``minimum.get(name, 1)`` for a mapping; and, where
    ``maximum`` gives one (an int for every count, or ``maximum.get(name)``), at most that.

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
    >>> check_counts(0, 9, digit=10)
    Traceback (most recent call last):
    ...
    ValueError: digit must be an integer from 0 to 9, got 10
    """
    out = {}
    for name, value in counts.items():
        least = minimum.get(name, 1) if isinstance(minimum, Mapping) else minimum
        most = maximum.get(name) if isinstance(maximum, Mapping) else maximum
        whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if most is None and (not whole or value < least):
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
        if most is not None and (not whole or not least <= value <= most):
            raise ValueError(f"{name} must be an integer from {least} to {most}, got {value!r}")
        out[name] = int(value)
    return out


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int in [0, :data:`MAX_SEED`], or a ``ValueError`` naming the range.

    Examples
    --------
    >>> check_seed(7)
    7
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an integer from 0 to 4294967295, got -1
    """
    return check_counts(0, MAX_SEED, **{name: seed})[name]


def check_run_lengths(**lengths: Any) -> dict[str, int]:
    """``draws``, ``chains`` (and any other count) >= 1, ``tune`` >= 0 and a ``seed`` in
    [0, 2**32 - 1], as ints.

    :func:`check_counts` with the sampler's minimums: a ``ValueError``
    names the first length that is not a whole number in its range.

    Examples
    --------
    >>> check_run_lengths(draws=1000, tune=0, chains=4)
    {'draws': 1000, 'tune': 0, 'chains': 4}
    >>> check_run_lengths(seed=2**32)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an integer from 0 to 4294967295, got 4294967296
    """
    return check_counts({"tune": 0, "seed": 0}, {"seed": MAX_SEED}, **lengths)
