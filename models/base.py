"""The model registry and the shapes every model shares.

A :class:`ModelSpec` bundles one course topic's declarative model(s) with what the
rest of the suite needs around them: a data simulator, the PyMC and/or NumPyro
programs, the closed-form posterior where one exists, and a reader for user CSV data.
The same model written for both PPLs uses the same variable names, so any sampler's
draws can be checked against the same :class:`Exact` reference.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "MAX_CELLS",
    "MAX_COUNT",
    "MAX_SIZE",
    "DataError",
    "Exact",
    "ModelSpec",
    "check_cells",
    "count_array",
    "fingerprint",
    "finite_array",
    "get",
    "names",
    "positive",
    "register",
    "whole_number",
    "with_data",
]

#: The largest count a model takes: 2**53, the last integer from which every smaller one
#: has an exact float64 (the samplers compute in float64). Larger counts would be rounded
#: or, cast to int64, wrapped round to negative numbers.
MAX_COUNT = 2**53
#: The largest size (observations, dimension, components) a model simulates its built-in
#: data with (``--set n=...``).
MAX_SIZE = 10_000_000
#: The most numbers one simulated data set holds (n × d, ...): 10**8 float64 = 800 MB.
MAX_CELLS = 100_000_000


class DataError(ValueError):
    """User data or hyperparameters that a model cannot use.

    The message is one line that names the problem and the fix; the CLI prints it
    as it is and exits with status 2.
    """


@dataclass(frozen=True)
class Exact:
    """Exact posterior (or reference) moments of one variable.

    Parameters
    ----------
    mean, sd : ndarray
        Elementwise posterior mean and standard deviation, in the variable's shape.
    marginals : sequence of frozen scipy distributions, optional
        One univariate distribution per element (C order), for density plots.
        ``None`` where only the moments are known.
    cov : ndarray, optional
        Joint covariance of the flattened variable where it is known.
    mcse_mean, mcse_sd : ndarray, optional
        Monte Carlo standard error of ``mean`` and of ``sd`` (the variable's shape) when
        the reference is itself a Monte Carlo estimate (a long sampler run, a user's
        draws); ``None`` for a closed form, whose moments carry no Monte Carlo error.
        A comparison against the reference then adds this error to the run's own.
    """

    mean: np.ndarray
    sd: np.ndarray
    marginals: Sequence[Any] | None = None
    cov: np.ndarray | None = None
    mcse_mean: np.ndarray | None = None
    mcse_sd: np.ndarray | None = None

    @classmethod
    def from_scipy(cls, dist: Any) -> Exact:
        """Reference for a scalar variable from a frozen univariate scipy distribution."""
        return cls(np.asarray(dist.mean()), np.asarray(dist.std()), (dist,))

    @classmethod
    def normal(cls, mean: np.ndarray, cov: np.ndarray) -> Exact:
        """Reference for a vector with a multivariate normal posterior."""
        mean = np.asarray(mean, dtype=float)
        cov = np.asarray(cov, dtype=float)
        sd = np.sqrt(np.diag(cov))
        marg = tuple(stats.norm(m, s) for m, s in zip(mean, sd, strict=True))
        return cls(mean, sd, marg, cov)

    @classmethod
    def student_t(cls, df: float, loc: np.ndarray, shape: np.ndarray) -> Exact:
        """Reference for a vector with a multivariate Student-t posterior (``df > 2``)."""
        loc = np.asarray(loc, dtype=float)
        shape = np.asarray(shape, dtype=float)
        scale = np.sqrt(np.diag(shape))
        marg = tuple(stats.t(df, m, s) for m, s in zip(loc, scale, strict=True))
        cov = shape * df / (df - 2.0)
        return cls(loc, np.sqrt(np.diag(cov)), marg, cov)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes
    ----------
    name : str
        Registry name (``models.get(name)``).
    topic : int
        Course topic number (1-10).
    title : str
        One line for listings and report headings.
    simulate : callable
        ``simulate(seed, **sizes) -> dict``: built-in data, hyperparameters included.
    pymc : callable, optional
        ``pymc(data) -> pm.Model``; for a fixed model whose inputs are ``pm.Data``,
        ``lambda data: with_data(model, data)``.
    numpyro : callable, optional
        A NumPyro model function called as ``numpyro(**data)``.
    exact : callable, optional
        ``exact(data) -> dict[str, Exact]``: the closed-form posterior of each free
        variable (or known reference moments).
    from_frame : callable, optional
        ``from_frame(df, **options) -> dict``: turn a user's table into ``data``,
        raising :class:`DataError` on anything the model cannot use.
    params : tuple of str
        The free (sampled) variables, in a stable order.
    tags : tuple of str
        Free-form labels (``"target"``, ``"benchmark"``, ...).
    sampler_defaults : mapping
        Sampler name (``"nuts"``, ``"mh"``, ...: every backend of it) -> options that
        ``inference.sample`` uses unless the caller passes them, for models whose
        geometry needs more than the library defaults (e.g. ``{"nuts": {"target_accept":
        0.9}}``).
    """

    name: str
    topic: int
    title: str
    simulate: Callable[..., dict]
    pymc: Callable[[Mapping[str, Any]], Any] | None = None
    numpyro: Callable[..., Any] | None = None
    exact: Callable[[Mapping[str, Any]], dict[str, Exact]] | None = None
    from_frame: Callable[..., dict] | None = None
    params: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=())
    sampler_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def numeric_table(df, what: str, note: str = "") -> np.ndarray:
    """A DataFrame whose every column is a numeric feature, as a float array.

    ``what`` names the model in the message (``"a mixture"``, ``"PPCA"``); ``note`` adds
    to the fix (e.g. how empty cells are read).
    """
    import pandas as pd

    if df.empty:
        raise DataError("the table has no rows; give at least two observations")
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if text:
        raise DataError(
            f"column(s) {', '.join(map(repr, text))} are not numeric; {what} reads numeric "
            f"features only{note}: drop or encode them"
        )
    return df.to_numpy(dtype=float)


def positive(name: str, value: Any) -> float:
    """``value`` as a float, or :class:`DataError` unless it is finite and > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise DataError(f"{name} must be finite and > 0, got {value!r}; pass a positive value")
    return v


def finite_array(name: str, value: Any, *, ndim: int | None = None) -> np.ndarray:
    """``value`` as a float array, or :class:`DataError` if it is empty or not finite."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numeric") from None
    if ndim is not None and arr.ndim != ndim:
        raise DataError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.size == 0:
        raise DataError(f"{name} is empty; give at least one observation")
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0].tolist()
        raise DataError(
            f"{name} has {int(bad.sum())} NaN/inf value(s) (first at index {where}); "
            "drop or impute those rows"
        )
    return arr


def _shown(value: Any) -> str:
    """A number as the user would write it: ``-3``, ``2.5``, ``1e+19``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{float(value):.15g}"
    return repr(value)


def whole_number(name: str, value: Any, *, minimum: int = 1, maximum: int = MAX_SIZE) -> int:
    """``value`` as an int from ``minimum`` to ``maximum``, or :class:`DataError` naming both.

    A whole float is accepted (``--set n=20`` and ``n=20.0`` mean the same); a bool, a
    fraction, NaN/inf or text is refused, so a size is never silently truncated.

    Examples
    --------
    >>> whole_number("n", 20.0)
    20
    >>> whole_number("n", -3)
    Traceback (most recent call last):
    ...
    bayesmin.models.base.DataError: n must be a whole number from 1 to 10,000,000, got -3
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and not isinstance(value, numbers.Integral):
        ok = bool(np.isfinite(value)) and float(value).is_integer()
    if not ok or not minimum <= value <= maximum:
        raise DataError(
            f"{name} must be a whole number from {minimum} to {maximum:,}, got {_shown(value)}"
        )
    return int(value)


def check_cells(what: str, cells: int, lower: str) -> None:
    """:class:`DataError` when a simulated array would hold more than :data:`MAX_CELLS`
    numbers: ``what`` names it (``"X (n × d)"``), ``lower`` the sizes to lower."""
    if cells > MAX_CELLS:
        raise DataError(
            f"{what} would hold {cells:,} numbers, more than the {MAX_CELLS:,} a simulated "
            f"data set may; lower {lower}"
        )


def count_array(name: str, value: Any, *, maximum: int = MAX_COUNT) -> np.ndarray:
    """Counts as a 1-D int64 array: whole numbers from 0 to ``maximum`` (:data:`MAX_COUNT`).

    Anything else is a :class:`DataError` that names ``name``, what is wrong, how many
    values and the first row (0-based, as pandas numbers rows): NaN/inf, fractions,
    negative values, or counts so large that they could not be held exactly (never
    wrapped round or rounded in silence).
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":  # floats, or Python ints too large for int64 (object)
        arr = finite_array(name, value, ndim=1)
        fractional = arr != np.round(arr)
        if fractional.any():
            i = int(np.argmax(fractional))
            raise DataError(
                f"{name} must be whole numbers; found {int(fractional.sum())} fractional "
                f"value(s) (first at row {i}: {_shown(arr[i])})"
            )
    elif arr.ndim != 1 or arr.size == 0:
        arr = finite_array(name, arr, ndim=1)  # its message for the shape or emptiness
    negative = arr < 0
    if negative.any():
        i = int(np.argmax(negative))
        raise DataError(
            f"{name} must be >= 0; found {int(negative.sum())} negative value(s) "
            f"(first at row {i}: {_shown(arr[i])})"
        )
    large = arr > maximum
    if large.any():
        i = int(np.argmax(large))
        limit = "2**53" if maximum == MAX_COUNT else f"{maximum:,}"
        raise DataError(
            f"{name} has {int(large.sum())} value(s) beyond the largest count {limit} "
            f"(first at row {i}: {_shown(arr[i])}); a count that large cannot be held "
            "exactly: check the data for a typo, or count in larger units"
        )
    return arr.astype(np.int64)


def fingerprint(data: Mapping[str, Any]) -> str:
    """A short hash of a data dict: equal data, equal fingerprint.

    Lets a resumed grid prove it uses the same data, and lets compiled log densities
    be reused across runs on the same data.
    """
    import hashlib

    h = hashlib.sha256()
    for key in sorted(data):
        h.update(key.encode())
        if hasattr(data[key], "to_csv"):  # a user's whole table (pandas)
            h.update(data[key].to_csv().encode())
            continue
        value = np.asarray(data[key])
        h.update(str(value.dtype).encode() + str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()[:16]


def with_data(model: Any, data: Mapping[str, Any], coords: Mapping[str, Any] | None = None) -> Any:
    """A copy of the PyMC ``model`` with its ``pm.Data`` containers set from ``data``.

    Turns a fixed model into the ``pymc(data) -> pm.Model`` a :class:`ModelSpec` takes,
    ``pymc=lambda data: with_data(model, data)``, so every call gets its own model and
    ``model`` itself is never changed (``pm.set_data`` on it would change it for every
    user of it).

    Parameters
    ----------
    model : pm.Model
        Its inputs are ``pm.Data`` containers.
    data : mapping
        Container name -> new values (``pm.set_data``'s argument); containers not named
        keep their values.
    coords : mapping, optional
        New coordinate values for dimensions whose length changes (``pm.set_data``).

    Returns
    -------
    pm.Model
        A clone of ``model`` (``model.copy()``: its own containers and random
        generators) with the new values.

    Raises
    ------
    DataError
        A key of ``data`` that is not one of the model's containers (the message lists
        them), or values a container cannot take (another number of dimensions, a
        dimension with coordinates resized without new ones).

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> with pm.Model() as fixed:
    ...     y = pm.Data("y", np.zeros(3))
    ...     mu = pm.Normal("mu")
    ...     obs = pm.Normal("obs", mu, 1, observed=y)
    >>> spec = ModelSpec("mine", 0, "mine", lambda seed: {"y": np.zeros(3)},
    ...                  pymc=lambda data: with_data(fixed, data), params=("mu",))
    >>> spec.pymc({"y": np.ones(4)})["y"].get_value()
    array([1., 1., 1., 1.])
    >>> fixed["y"].get_value()
    array([0., 0., 0.])
    """
    import pymc as pm

    if not isinstance(model, pm.Model):
        raise TypeError(f"model must be a pm.Model, got {type(model).__name__}")
    containers = [v.name for v in model.data_vars]
    unknown = [k for k in data if k not in containers]
    if unknown:
        has = ", ".join(containers) if containers else "none (wrap its inputs in pm.Data)"
        raise DataError(
            f"{', '.join(map(repr, unknown))} {'is not a' if len(unknown) == 1 else 'are not'} "
            f"pm.Data container{'' if len(unknown) == 1 else 's'} of the model; its containers: {has}"
        )
    copy = model.copy()
    for name, values in data.items():
        try:
            copy.set_data(name, values, coords=coords)
        except Exception as err:  # ValueError, TypeError, pm.exceptions.ShapeError
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DataError(f"cannot set the pm.Data container {name!r}: {first}") from None
    return copy


_REGISTRY: dict[str, ModelSpec] = {}
_ORIGIN: dict[str, str] = {}  # model name -> the module that registered it

# The modules that register the built-in models (on import), with the names each one
# registers: ``get`` imports only the module it needs (training the DDPM need not
# import PyMC, seconds and 0.35 GB). ``register`` keeps this index honest.
_MODULES = {
    "bayes_net": ("bayes_net",),
    "benchmarks": (
        "banana",
        "correlated_gaussian",
        "eight_schools_centered",
        "eight_schools_noncentered",
        "funnel",
    ),
    "conjugate": ("beta_binomial", "gamma_poisson", "normal_normal"),
    "diffusion": ("ddpm",),
    "glad": ("glad",),
    "linear_regression": ("linear_regression", "linear_regression_unknown_noise"),
    "mixture": ("gaussian_mixture",),
    "ppca": ("ppca",),
    "rvm": ("ard_regression",),
    "targets": ("bimodal", "bimodal_2d"),
    "vae": ("vae",),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry; names are unique across modules.

    The same module registering a name again replaces its spec: that is a module
    re-executed by ``importlib.reload`` (or IPython's autoreload), not a clash.

    Raises
    ------
    ValueError
        When another module already registered ``spec.name``.
    """
    import sys

    module = sys._getframe(1).f_globals.get("__name__", "?")
    if spec.name in _REGISTRY and _ORIGIN[spec.name] != module:
        raise ValueError(
            f"model {spec.name!r} is registered twice (by {_ORIGIN[spec.name]} and {module}); "
            "give one of them another name"
        )
    listed = _MODULE_OF.get(spec.name)
    if listed is not None and f"{__package__}.{listed}" != module:
        raise ValueError(
            f"model {spec.name!r} is a built-in model of {__package__}.{listed}; "
            f"{module} must give its model another name"
        )
    if listed is None and module.startswith(f"{__package__}."):
        raise ValueError(f"model {spec.name!r} of {module} is missing from models.base._MODULES")
    _REGISTRY[spec.name] = spec
    _ORIGIN[spec.name] = module
    return spec


def names(topic: int | None = None) -> list[str]:
    """Registered model names, optionally only those of one course topic."""
    _load_all()
    return sorted(n for n, s in _REGISTRY.items() if topic is None or s.topic == topic)


def get(name: str | ModelSpec) -> ModelSpec:
    """The :class:`ModelSpec` registered as ``name``.

    Raises
    ------
    KeyError
        With the list of known names when ``name`` is not registered.
    """
    if isinstance(name, ModelSpec):
        return name
    if name in _MODULE_OF:
        _load(_MODULE_OF[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(set(_MODULE_OF) | set(_REGISTRY)))
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None


def _load_all() -> None:
    """Import the modules of the built-in models, which register them on import."""
    for module in _MODULES:
        _load(module)


def _load(module: str) -> None:
    """Import ``models.<module>``, which registers its models.

    A module imported before this registry existed (``importlib.reload`` of this module
    emptied it) is executed again, so the registry is complete whichever entry point a
    user came in through and whatever was reloaded since.
    """
    import importlib

    loaded = importlib.import_module(f"{__package__}.{module}")
    if loaded.__name__ not in _ORIGIN.values():
        importlib.reload(loaded)
