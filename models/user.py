"""Your own model: ``path/to/script.py:NAME`` or ``package.module:NAME`` as a :class:`ModelSpec`.

Every command that takes a registry name also takes a *model reference*. ``NAME`` is

* a ``pm.Model`` built when the script runs (its data are fixed; ``--data`` can only
  reset its ``pm.Data`` containers),
* a function that returns a ``pm.Model``, called with the data as keyword arguments, or
* a NumPyro model function, called with the data as keyword arguments.

Which one is found by calling the function once with the data under NumPyro's
``seed``/``trace`` handlers: a function that returns a ``pm.Model`` is a PyMC model,
one that makes ``numpyro.sample`` calls is a NumPyro model.

The data (``--data FILE``) are read by :func:`read_data` and matched to the function's
arguments by :func:`bind`: a CSV gives one argument per column, or — when the function
takes one argument that is not a column — the whole table as a ``pandas.DataFrame``;
``.npz``, ``.json`` and netCDF (ArviZ ``constant_data``/``observed_data`` groups, or a
plain xarray dataset) give one argument per array.

The script is the user's own code and runs as such, with its folder on ``sys.path`` so
it can import its neighbours. :class:`UserModel` records the script's path and the
SHA-256 of its text (``digest``), so a run folder can refuse to resume after the script
changed, and it pickles as that reference (a worker process loads the script again and
checks the digest) rather than as the script's functions.

Every failure is a :class:`DataError` whose message is one line naming the problem and
the fix.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .base import MAX_COUNT, DataError, ModelSpec, finite_array, with_data

__all__ = [
    "UserModel",
    "bind",
    "digest_of",
    "discrete_variables",
    "is_reference",
    "load",
    "read_data",
]

KINDS = ("pymc_model", "pymc_function", "numpyro")
# The samplers that take a model with discrete free variables: PyMC's, which give those
# variables their own Gibbs steps beside the continuous sampler.
DISCRETE_SAMPLERS = ("nuts:pymc", "mh:pymc", "metropolis:pymc")
DATA_SUFFIXES = (".csv", ".npz", ".json", ".nc", ".netcdf", ".nc4")


def is_reference(text: str) -> bool:
    """Whether ``text`` names a user's model rather than a registry one.

    Registry names are identifiers; a reference has a ``:`` (``script.py:NAME``,
    ``package.module:NAME``) or names a Python file.
    """
    return ":" in text or text.endswith(".py") or os.sep in text


@dataclass(frozen=True)
class UserModel(ModelSpec):
    """A :class:`ModelSpec` for a user's model, made by :func:`load`.

    Attributes (beyond :class:`ModelSpec`'s)
    ----------------------------------------
    reference : str
        As the user wrote it: ``"model.py:model"``.
    path : str
        The absolute path of the file that defines it.
    digest : str
        SHA-256 of that file's text.
    kind : str
        ``"pymc_model"``, ``"pymc_function"`` or ``"numpyro"``.
    cwd : str
        The working directory it was loaded from (module references are imported
        relative to it, in this process and in workers).
    """

    reference: str = ""
    path: str = ""
    digest: str = ""
    kind: str = ""
    cwd: str = ""

    def __reduce__(self):
        # The script's functions live in a module that only this process has imported;
        # a worker loads the script again from the reference (and checks it is unchanged).
        return (_rebuild, (self.reference, self.cwd, self.digest, self.kind, self.params))


# ------------------------------------------------------------------------- the script


def _split(reference: str) -> tuple[str, str]:
    where, sep, name = reference.rpartition(":")
    if not sep:
        raise DataError(
            f"{reference!r} names no model; write the model's name after a colon, "
            f"e.g. {reference}:model"
        )
    if not where or not name:
        raise DataError(f"cannot read the model reference {reference!r}; write FILE.py:NAME")
    if not name.isidentifier():
        raise DataError(f"{name!r} is not a Python name; write FILE.py:NAME")
    return where, name


def _script_error(path: Path, err: BaseException) -> DataError:
    """One line for a script that raised while it ran: the exception and its line."""
    line = ""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if Path(frame.filename).resolve() == path:
            line = f" (line {frame.lineno})"
            break
    if isinstance(err, SyntaxError) and err.lineno:
        line = f" (line {err.lineno})"
    reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
    what = type(err).__name__ + (f": {reason}" if reason else "")
    return DataError(f"running {path.name} raised {what}{line}; fix the script")


def _import_script(path: Path) -> Any:
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give the Python file that defines the model")
    if path.suffix != ".py":
        raise DataError(f"{path} is not a Python file (.py)")
    text = path.read_bytes()
    # One module per script text: two scripts of the same name, or a script edited
    # between two loads, never share a module.
    module_name = f"_bayesmin_user_{path.stem}_{hashlib.sha256(text).hexdigest()[:12]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # the script may import its neighbours
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as err:
        del sys.modules[module_name]
        if not isinstance(err, Exception | SystemExit):  # Ctrl-C, or the CLI's Interrupted
            raise
        raise _script_error(path, err) from None  # the user's code: theirs to fix
    return module


def _import_module(name: str, cwd: str) -> Any:
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # as `python -m`: modules of the working folder import
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name and name.startswith(err.name):
            raise DataError(
                f"no module named {err.name!r}; give a path (FILE.py:NAME) or run from the "
                "folder that holds the package"
            ) from None
        raise DataError(f"importing {name} raised ModuleNotFoundError: {err}; fix it") from None
    except Exception as err:
        origin = getattr(importlib.util.find_spec(name), "origin", None)
        raise _script_error(Path(origin or name).resolve(), err) from None


def _locate(reference: str, cwd: str) -> tuple[Any, Path, str]:
    """(module, its file, the object's name) for a reference."""
    where, name = _split(reference)
    if where.endswith(".py") or "/" in where or os.sep in where:
        path = (Path(cwd) / where).resolve()
        return _import_script(path), path, name
    module = _import_module(where, cwd)
    file = getattr(module, "__file__", None)
    if file is None:
        raise DataError(f"{where} is a namespace package; name a module in it")
    return module, Path(file).resolve(), name


def _candidates(module: Any) -> list[str]:
    import pymc as pm

    own = []
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        if isinstance(value, pm.Model) or (
            inspect.isfunction(value) and value.__module__ == module.__name__
        ):
            own.append(key)
    return own


# --------------------------------------------------------------------------- the data


def _too_large(name: str, where: str, value: Any) -> DataError:
    return DataError(
        f"{name} has an integer beyond ±2**53{where}: {value}; integers that large cannot be "
        "held exactly as numbers (they would be rounded or wrap round): check the data for "
        "a typo, or encode ids as small integer codes (pandas.factorize)"
    )


def _array(name: str, value: Any) -> Any:
    """A data entry as a NumPy array (scalars stay Python numbers), checked finite, its
    integers within ±2**53 (:data:`models.base.MAX_COUNT`), which float64 holds exactly."""
    if isinstance(value, bool | int | float):
        if isinstance(value, float) and not np.isfinite(value):
            raise DataError(f"{name} is {value}; give a finite number")
        if isinstance(value, int) and abs(value) > MAX_COUNT:
            raise _too_large(name, "", value)
        return value
    arr = np.asarray(value)
    if (
        arr.dtype == object
        and arr.size
        and all(isinstance(v, int) and not isinstance(v, bool) for v in arr.flat)
    ):
        # Integers beyond 64 bits (pandas and NumPy keep them as Python ints).
        i = int(np.argmax([abs(v) > MAX_COUNT for v in arr.flat]))
        raise _too_large(name, f" (first at row {i})", arr.flat[i])
    if arr.dtype.kind in "iu" and arr.size:
        large = np.abs(arr.astype(float)) > MAX_COUNT
        if large.any():
            i = int(np.argmax(large.ravel()))
            where = f" (first at row {i})" if arr.ndim == 1 else f" (first at flat index {i})"
            raise _too_large(name, where, arr.flat[i])
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise DataError(
            f"{name} is text; encode it as numbers (e.g. integer codes from pandas.factorize), "
            "or take the whole table as one argument"
        )
    if arr.dtype.kind == "f":
        arr = finite_array(name, arr)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    return arr


# What a file that is not CSV starts with, and what it then is.
_MAGIC = {
    b"PK\x03\x04": "a zip archive (an .xlsx workbook or an .npz?)",
    b"\x89HDF": "an HDF5/netCDF file",
    b"CDF\x01": "a netCDF file",
    b"CDF\x02": "a netCDF file",
    b"PAR1": "a Parquet file",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook",
    b"%PDF": "a PDF",
}
_OTHER_FORMATS = {
    ".json": "a JSON file",
    ".npz": "a NumPy .npz file",
    ".npy": "a NumPy .npy file",
    ".nc": "a netCDF file",
    ".netcdf": "a netCDF file",
    ".nc4": "a netCDF file",
    ".xlsx": "an Excel workbook",
    ".xls": "an Excel workbook",
    ".parquet": "a Parquet file",
}


def read_csv(path: str | os.PathLike, *, csv_only: bool = False) -> Any:
    """A user's CSV as a ``pandas.DataFrame``, or a :class:`DataError` saying what is wrong.

    Every way a data file goes wrong gets its own message: a missing file, a folder, an
    empty file, a binary file or one in another format (JSON, a workbook, netCDF), text
    that is not UTF-8, a file separated by ``;`` or tabs, a header without rows, and
    rows that do not parse. A UTF-8 byte-order mark (Excel's "CSV UTF-8") and Windows
    line ends are read as they should be.

    ``csv_only``: the reader of a registry model, which takes nothing but CSV, so a
    ``.json`` or ``.npz`` file is named for what it is (a user's model reads those
    itself, :func:`read_data`).
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV file")
    rows = "a header row of column names, then one row per observation"
    need = f"registry models read a CSV file: {rows}" if csv_only else f"give CSV text: {rows}"
    kind = _OTHER_FORMATS.get(path.suffix.lower())
    if csv_only and kind:
        raise DataError(f"{path.name} is {kind}, not CSV; {need}")
    with open(path, "rb") as f:
        head = f.read(8192)
    if not head.strip():
        raise DataError(f"{path} is empty; give a CSV with a header row and data")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path.name} is UTF-16 text; save it as CSV in UTF-8 (Excel: CSV UTF-8)")
    kind = next((what for magic, what in _MAGIC.items() if head.startswith(magic)), None)
    if kind is None and b"\x00" in head:
        kind = "a binary file"
    if kind:
        raise DataError(f"{path.name} is {kind}, not CSV (text); {need}")
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first in (b"{", b"["):
        raise DataError(
            f"{path.name} does not look like CSV (it starts with {first.decode()!r}, like JSON); {need}"
        )
    try:
        # utf-8-sig: a byte-order mark at the start is not part of the first column's name.
        df = pd.read_csv(path, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; give a CSV with a header row and data") from None
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path.name} is not UTF-8 text (byte {err.object[err.start]:#04x} at position "
            f"{err.start}); save it as CSV in UTF-8 (Excel: CSV UTF-8)"
        ) from None
    except pd.errors.ParserError as err:
        reason = str(err).strip().splitlines()[0]
        raise DataError(f"cannot parse {path.name} as CSV ({reason}); check its format") from None
    if len(df.columns) == 1:
        header = str(df.columns[0])
        sep = next((s for s in (";", "\t") if s in header), None)
        if sep is not None:
            shown = "tab" if sep == "\t" else repr(sep)
            raise DataError(
                f"{path.name} looks {shown}-separated (its one column is {header!r}); bayesmin "
                f"reads comma-separated CSV: save it with commas, e.g. "
                f"pandas.read_csv(path, sep={sep!r}).to_csv(path, index=False)"
            )
    if df.empty:
        raise DataError(f"{path} has a header but no rows; give at least one observation")
    return df


def read_data(path: str | os.PathLike) -> Any:
    """A data file as the model's inputs: a ``DataFrame`` (CSV) or a dict of arrays.

    CSV is returned as a table (:func:`bind` decides whether its columns or the whole
    table are the arguments); ``.npz``, ``.json`` (an object of numbers and lists) and
    netCDF (the ``constant_data`` and ``observed_data`` groups of an ArviZ file, or the
    variables of a plain xarray dataset) as ``{name: array}``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a data file")
    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise DataError(
            f"cannot read {path.name}: give a .csv, .npz, .json or netCDF (.nc) data file"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; give the data the model takes")
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except Exception as err:
            raise DataError(
                f"cannot read {path.name} as .npz ({err}); save it with numpy.savez"
            ) from None
    if suffix == ".json":
        try:
            content = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            raise DataError(f"cannot parse {path.name} as JSON ({err})") from None
        if not isinstance(content, dict) or not content:
            raise DataError(
                f"{path.name} must hold one JSON object of named values, e.g. "
                '{"x": [1, 2], "y": [0.5, 1.5]}'
            )
        return dict(content)
    return _read_netcdf(path)


def _read_netcdf(path: Path) -> dict[str, Any]:
    import arviz as az
    import xarray as xr

    try:
        groups = az.from_netcdf(str(path))
    except Exception:  # not an InferenceData file: read it as a plain dataset below
        groups = None
    if groups is not None:
        wanted = [g for g in ("constant_data", "observed_data") if g in groups.groups()]
        if wanted:
            return {name: groups[g][name].values for g in wanted for name in groups[g].data_vars}
    try:
        with xr.open_dataset(path) as ds:
            out = {name: ds[name].values for name in ds.data_vars}
    except Exception as err:
        raise DataError(f"cannot read {path.name} as netCDF ({err})") from None
    if not out:
        raise DataError(
            f"{path.name} holds no data variables (nor constant_data/observed_data groups)"
        )
    return out


def _arguments(fn: Callable) -> tuple[list[str], list[str], bool]:
    """(argument names, the required ones, whether it takes ``**kwargs``)."""
    sig = inspect.signature(fn)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names = [p.name for p in sig.parameters.values() if p.kind in kinds]
    required = [p.name for p in sig.parameters.values() if p.kind in kinds and p.default is p.empty]
    varkw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    return names, required, varkw


def bind(fn: Callable, raw: Any, name: str = "the model") -> dict[str, Any]:
    """Match data read by :func:`read_data` to ``fn``'s keyword arguments.

    A table gives one argument per column when every required argument is a column
    (then every column must be an argument, unless ``fn`` takes ``**kwargs``), or, when
    ``fn`` takes exactly one argument and it is no column, the whole table as that
    argument. A dict gives one argument per entry, on the
    same rule. Numeric arrays are checked finite; integer columns stay integers (index
    variables of a hierarchical model).
    """
    import pandas as pd

    names, required, varkw = _arguments(fn)
    signature = f"{name}({', '.join(names)})"
    if raw is None:
        if required:
            raise DataError(f"{signature} needs data for {', '.join(required)}; pass --data FILE")
        return {}
    if isinstance(raw, pd.DataFrame):
        columns = [str(c) for c in raw.columns]
        as_columns = set(required) <= set(columns) if required else bool(set(columns) & set(names))
        if as_columns:
            extra = [c for c in columns if c not in names]
            if extra and not varkw:
                raise DataError(
                    f"column(s) {', '.join(extra)} of the data are not arguments of "
                    f"{signature}; drop them or add the arguments"
                )
            return {c: _array(f"column {c!r}", raw[c].to_numpy()) for c in columns}
        if len(names) == 1:
            return {names[0]: raw}
        missing = [a for a in required if a not in columns]
        raise DataError(
            f"{signature} needs column(s) {', '.join(missing)}, which the data lack (it has "
            f"{', '.join(columns)}); rename the columns, or take the whole table as one "
            f"argument: def {name}(df)"
        )
    missing = [a for a in required if a not in raw]
    if missing:
        raise DataError(
            f"{signature} needs {', '.join(missing)}, which the data lack (it has "
            f"{', '.join(map(str, raw))}); rename the entries or give them defaults"
        )
    extra = [k for k in raw if k not in names]
    if extra and not varkw:
        raise DataError(
            f"the data have {', '.join(map(str, extra))}, which {signature} takes no "
            "argument for; drop them or add the arguments"
        )
    return {str(k): _array(str(k), v) for k, v in raw.items()}


# --------------------------------------------------------------------------- the model


def _free_variables_pymc(model: Any) -> tuple[str, ...]:
    return tuple(rv.name for rv in model.free_RVs)


def _classify(obj: Any, data: Mapping[str, Any], name: str) -> tuple[str, tuple[str, ...]]:
    """(kind, free variables) of the user's object, calling it once with ``data``."""
    import pymc as pm

    if isinstance(obj, pm.Model):
        if not obj.free_RVs:
            raise DataError(f"{name} has no free random variables to infer")
        return "pymc_model", _free_variables_pymc(obj)
    if not callable(obj) or isinstance(obj, type):
        raise DataError(
            f"{name} is of type {type(obj).__name__}, not a model; give a pm.Model, a function "
            "returning one, or a NumPyro model function"
        )
    from numpyro import handlers

    try:
        with handlers.trace() as trace, handlers.seed(rng_seed=0):
            result = obj(**data)
    except DataError:
        raise
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise DataError(
            f"calling {name} with the data raised {type(err).__name__}"
            + (f": {reason}" if reason else "")
            + "; check that its arguments take the data as given"
        ) from None
    if isinstance(result, pm.Model):
        if not result.free_RVs:
            raise DataError(f"the model {name} returns has no free random variables to infer")
        return "pymc_function", _free_variables_pymc(result)
    latent = tuple(
        site_name
        for site_name, site in trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    )
    if latent:
        return "numpyro", latent
    if any(site["type"] == "sample" for site in trace.values()):
        raise DataError(f"{name} observes everything; a model needs at least one latent variable")
    if result is None:
        raise DataError(
            f"{name} returned None and made no numpyro.sample call; a PyMC model function "
            "must end with `return model`, a NumPyro model must call numpyro.sample"
        )
    raise DataError(
        f"{name} returned a {type(result).__name__}; give a pm.Model, a function returning "
        "one, or a NumPyro model function"
    )


def discrete_variables(spec: ModelSpec, data: Mapping[str, Any]) -> list[str]:
    """The discrete free variables of a user's model (none for registry models, whose
    samplers are chosen with them in mind)."""
    if not isinstance(spec, UserModel):
        return []
    if spec.kind == "numpyro":
        from numpyro import handlers

        with handlers.trace() as trace, handlers.seed(rng_seed=0):
            spec.numpyro(**data)
        return [
            name
            for name, site in trace.items()
            if site["type"] == "sample"
            and not site["is_observed"]
            and getattr(site["fn"].support, "is_discrete", False)
        ]
    from pymc.vartypes import discrete_types

    model = spec.pymc(data)
    return [rv.name for rv in model.free_RVs if rv.dtype in discrete_types]


def _container_signature(containers: Mapping[str, Any]) -> Callable:
    """A stand-in function whose optional arguments are a fixed model's containers, so
    :func:`bind` matches data to them by the same rules as to a function's arguments."""

    def containers_of(**kwargs: Any) -> None:  # pragma: no cover - never called
        return None

    params = [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None) for n in containers
    ]
    containers_of.__signature__ = inspect.Signature(params)
    return containers_of


def _aligned(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with every NumPy array aligned in memory: arrays unpickled in a worker
    process (a grid's run shipped by Dask) can sit at unaligned addresses, which
    PyTensor's C code refuses; a copy is aligned."""
    return {
        k: v.copy() if isinstance(v, np.ndarray) and not v.flags.aligned else v
        for k, v in data.items()
    }


def _functions(kind: str, obj: Any) -> dict[str, Any]:
    if kind == "numpyro":
        return {"numpyro": obj}
    if kind == "pymc_function":
        return {"pymc": lambda data: obj(**_aligned(data))}
    # A copy with the containers set (models.with_data), so the user's model itself is
    # never changed; without data, the model as the script built it.
    return {"pymc": lambda data: with_data(obj, _aligned(data)) if data else obj}


def digest_of(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load(
    reference: str, data: Any = None, *, cwd: str | os.PathLike | None = None
) -> tuple[UserModel, dict[str, Any]]:
    """The user's model and its data, ready for :func:`inference.sample` and the grids.

    Parameters
    ----------
    reference : str
        ``path/to/script.py:NAME`` or ``package.module:NAME``.
    data : DataFrame, mapping or None
        What :func:`read_data` returned for ``--data``; None for a model without inputs.
    cwd : path, optional
        Where relative paths and module names are resolved (default: the working folder).

    Returns
    -------
    spec : UserModel
        ``name`` is the reference; ``simulate(seed)`` returns the bound data (the user's
        data are the data, whatever the seed); ``params`` are the free variables.
    data : dict
        The keyword arguments the model is called with.
    """
    cwd = str(Path(cwd or os.getcwd()).resolve())
    module, path, name = _locate(reference, cwd)
    if not hasattr(module, name):
        have = _candidates(module)
        hint = f" (it defines: {', '.join(have)})" if have else ""
        raise DataError(f"{path.name} has no {name!r}{hint}; check the name after the colon")
    obj = getattr(module, name)
    import pymc as pm

    if isinstance(obj, pm.Model):
        # Its inputs are its pm.Data containers: their values now, or --data's.
        containers = {v.name: v.get_value() for v in obj.data_vars if hasattr(v, "get_value")}
        if data is not None and not containers:
            raise DataError(
                f"{name} is a pm.Model built when the script runs, with no pm.Data "
                f"containers to set; drop --data, or make {name} a function of its data: "
                f"def {name}(x, y): ..."
            )
        given = {} if data is None else bind(_container_signature(containers), data, name)
        bound = {k: _array(k, v) for k, v in {**containers, **given}.items()}
    else:
        if not callable(obj) or isinstance(obj, type):
            _classify(obj, {}, name)  # raises with the type named
        bound = bind(obj, data, name)
    kind, params = _classify(obj, bound, name)
    spec = UserModel(
        name=reference,
        topic=0,
        title=f"your model {reference}",
        simulate=_fixed(bound),
        params=params,
        tags=("user",),
        reference=reference,
        path=str(path),
        digest=digest_of(path),
        kind=kind,
        cwd=cwd,
        **_functions(kind, obj),
    )
    return spec, bound


def _fixed(data: Mapping[str, Any]) -> Callable[..., dict]:
    def simulate(seed: int = 0) -> dict:
        """The user's data, whatever the seed."""
        return dict(data)

    return simulate


def _rebuild(reference: str, cwd: str, digest: str, kind: str, params: tuple[str, ...]):
    """Unpickle a :class:`UserModel`: load the script again, refuse it if it changed."""
    module, path, name = _locate(reference, cwd)
    now = digest_of(path)
    if now != digest:
        raise DataError(f"{path.name} changed while its runs were going; rerun the command")
    return UserModel(
        name=reference,
        topic=0,
        title=f"your model {reference}",
        simulate=_fixed({}),
        params=tuple(params),
        tags=("user",),
        reference=reference,
        path=str(path),
        digest=digest,
        kind=kind,
        cwd=cwd,
        **_functions(kind, getattr(module, name)),
    )
