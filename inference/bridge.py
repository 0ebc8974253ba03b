"""The one bridge between declarative models and JAX kernels.

Every kernel in bayesmin works on a *log density* (higher is better) of a flat vector
in unconstrained space. This module derives that function from a NumPyro model or a
PyMC model, together with initial points and the map back to the constrained
variables (deterministics included). It is also the only place where a sign is
flipped: NumPyro's potential energy is ``-log density``. PyMC's log density is
jaxified from ``model.logp()`` itself rather than through ``get_jaxified_logp``, whose
``negative_logp`` flag reads the other way round (its default, ``True``, returns +logp;
``False`` returns -logp).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

__all__ = [
    "LogDensity",
    "from_numpyro",
    "from_pymc",
    "logdensity_from_potential",
    "potential_fn",
    "potential_value",
]

from . import _xla
from ._compiled import CompiledCache
from ._precision import float64

# Both bridges trace the model in 64-bit (PyMC models are float64; :mod:`._precision`
# says why every route runs in the same precision), so a LogDensity's flat vector, its
# initial points and its constrained draws are float64 whatever the global flag.


def _float64_only(fn: Callable) -> Callable:
    """``fn`` evaluated in 64-bit: an eager call switches to it; a trace must already be in it.

    The model's constants were made in 64-bit; traced in 32-bit, they would meet 32-bit
    arrays and fail deep in XLA (``operand type mismatch``). A sampler traces these
    functions inside ``float64()``, as ``inference.sample`` does; tracing them outside is
    refused here with the remedy.
    """

    @functools.wraps(fn)
    def wrapper(*args):
        if jax.config.jax_enable_x64:
            return fn(*args)
        if any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(args)):
            raise RuntimeError(
                "this log density was built in float64; trace it inside "
                "bayesmin.inference._precision.float64() (bayesmin's samplers do), or "
                "turn JAX's x64 mode on"
            )
        with float64():
            return fn(*args)

    return wrapper


def _identity_key(obj: Any) -> Hashable:
    return ("id", id(obj))


@dataclass(frozen=True, eq=False)
class LogDensity:
    """A model as a JAX log density on a flat unconstrained vector.

    The data are an *argument* of the functions, not constants inside them: two
    LogDensity objects with equal :attr:`structure` compute with the same program on
    different data (a new data set of the same shapes, an SBC simulation), so a
    sampler compiled for one serves the other (:mod:`inference.nuts`, :mod:`inference.mh`
    key their compiled programs by ``structure`` and pass :attr:`data` in).

    Attributes
    ----------
    logdensity_fn : callable
        ``logdensity_fn(x, data) -> scalar``; ``x`` has shape ``(dim,)``. Includes the
        log Jacobian of the transforms, so it is the density of ``x`` itself.
    dim : int
        Length of the flat vector.
    initial_fn : callable
        ``initial_fn(ld, seed, chains) -> ndarray (chains, dim)``: jittered starts for
        ``ld`` (this object or one with other data); call :meth:`initial_positions`.
    constrain_fn : callable
        ``constrain_fn(x, data) -> dict[str, Array]``: the model's free variables in their
        own (constrained) space, plus deterministics, for one flat point.
    unravel : callable
        ``unravel(x) -> dict``: the unconstrained variables by name.
    data : pytree
        The arrays the functions take as ``data`` (observations, covariates); what is
        not an array (sizes, flags) is part of the functions themselves.
    structure : hashable
        Equal for two log densities that differ at most in ``data``'s values (same model,
        same static settings, same shapes and dtypes). Defaults to this object's
        identity: nothing is shared.

    ``logdensity(x)`` and ``constrain(x)`` are the same functions with :attr:`data`
    bound: the log density of *this* model on *its* data.
    """

    logdensity_fn: Callable[[jax.Array, Any], jax.Array]
    dim: int
    initial_fn: Callable[[LogDensity, int, int], np.ndarray]
    constrain_fn: Callable[[jax.Array, Any], dict[str, jax.Array]]
    unravel: Callable[[jax.Array], dict[str, jax.Array]]
    data: Any = ()
    structure: Hashable = None

    def __post_init__(self) -> None:
        for name in ("logdensity_fn", "constrain_fn", "unravel"):
            object.__setattr__(self, name, _float64_only(getattr(self, name)))
        if self.structure is None:
            object.__setattr__(self, "structure", _identity_key(self))

    def initial_positions(self, seed: int, chains: int) -> np.ndarray:
        """Starting points ``(chains, dim)`` in unconstrained space, the same for a seed."""
        return self.initial_fn(self, seed, chains)

    def logdensity(self, x: jax.Array) -> jax.Array:
        """The log density at ``x`` on this model's data."""
        return self.logdensity_fn(x, self.data)

    def constrain(self, x: jax.Array) -> dict[str, jax.Array]:
        """The constrained variables and deterministics at ``x`` on this model's data."""
        return self.constrain_fn(x, self.data)

    def with_data(self, data: Any) -> LogDensity:
        """The same model on other data of the same structure (shapes and dtypes)."""
        old = jax.tree.structure(self.data), [_shape_dtype(a) for a in jax.tree.leaves(self.data)]
        new = jax.tree.structure(data), [_shape_dtype(a) for a in jax.tree.leaves(data)]
        if old != new:
            raise ValueError(
                "with_data needs data of the same structure, shapes and dtypes; "
                "build a new log density for data of other shapes"
            )
        return dataclasses.replace(self, data=data)

    # The batched functions are jitted once per structure and shared by every
    # LogDensity of that structure: a fresh ``jax.jit`` wrapper per object would
    # retrace and recompile on every run of a model (each seed, each data set).
    @functools.cached_property
    def batched_logdensity(self) -> Callable[[jax.Array], jax.Array]:
        """``logdensity`` over a batch of points, ``(n, dim) -> (n,)``, jitted."""
        fn = _JITTED.get(
            ("batched", self.structure),
            lambda: _xla.jit(jax.vmap(self.logdensity_fn, in_axes=(0, None))),
        )
        return _float64_only(functools.partial(_call_with, fn, data=self.data))

    @float64()
    def constrain_draws(self, draws: jax.Array) -> dict[str, np.ndarray]:
        """Map draws of shape ``(chains, n, dim)`` to constrained arrays ``(chains, n, ...)``."""
        fn = _JITTED.get(
            ("constrain", self.structure),
            lambda: _xla.jit(
                jax.vmap(jax.vmap(self.constrain_fn, in_axes=(0, None)), in_axes=(0, None))
            ),
        )
        out = fn(draws, self.data)
        return {k: np.asarray(v) for k, v in out.items()}


def _call_with(fn, x, *, data):
    return fn(x, data)


def _shape_dtype(a: Any) -> tuple:
    return (
        tuple(np.shape(a)),
        str(np.asarray(a).dtype) if not hasattr(a, "dtype") else str(a.dtype),
    )


# Jitted helpers (batched log density, constrain map) by structure.
_JITTED: CompiledCache[Callable] = CompiledCache("bridge programs", maxsize=64)


def potential_fn(logdensity: Callable[[jax.Array], jax.Array]) -> Callable:
    """NumPyro's potential energy (``-log density``) for a flat log density."""
    return lambda x: -logdensity(x)


def logdensity_from_potential(potential: Callable) -> Callable:
    """The log density (``-potential``) of a NumPyro potential energy function."""
    return lambda x: -potential(x)


def potential_value(logdensity_value: jax.Array) -> jax.Array:
    """A log-density value as a potential-energy value."""
    return -logdensity_value


def _is_dynamic(value: Any, kinds: str) -> bool:
    """An argument that can be traced: a numeric array of at least one dimension."""
    if isinstance(value, jax.Array | np.ndarray):
        return value.ndim >= 1 and np.dtype(value.dtype).kind in kinds
    return False


def _static_key(value: Any) -> Hashable:
    """A hashable stand-in for a static argument: itself, or a digest of an array's bytes."""
    try:
        hash(value)
    except TypeError:
        array = np.asarray(value)
        if array.dtype == object:
            return ("object", id(value))  # nothing better to compare: never shared
        digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        return ("array", array.shape, str(array.dtype), digest)
    return (type(value).__name__, value)


# Traced NumPyro models by (function, static arguments, data shapes): a new data set of
# the same shapes re-binds the data and traces nothing.
_NUMPYRO: CompiledCache[Any] = CompiledCache("NumPyro traces", maxsize=32)
# Which arrays may be traced: all numeric ones, else the float ones only (integer
# arrays often size plates: ``int(group.max()) + 1``), else none.
_DYNAMIC_KINDS = ("fiub", "f", "")


@float64()
def from_numpyro(model: Callable, data: Mapping[str, Any] | None = None) -> LogDensity:
    """The log density of a NumPyro model function called as ``model(**data)``.

    The data's numeric arrays are arguments of the log density (see
    :class:`LogDensity`), unless the model needs their values to build itself (a plate
    sized by ``int(y.max())``, a Python ``if`` on a value): then the arrays it cannot
    trace are constants of the program, as in a plain ``initialize_model``.
    """
    data = dict(data or {})
    for kinds in _DYNAMIC_KINDS:
        dynamic = {k: v for k, v in data.items() if _is_dynamic(v, kinds)}
        static = {k: v for k, v in data.items() if k not in dynamic}
        key = (
            model,
            tuple(sorted((k, _static_key(v)) for k, v in static.items())),
            tuple(sorted((k, _shape_dtype(v)) for k, v in dynamic.items())),
        )
        # A model that cannot trace these arrays is remembered as such (None).
        template = _NUMPYRO.get(
            key, functools.partial(_numpyro_template, model, data, static, dynamic)
        )
        if template is None:
            continue
        return dataclasses.replace(
            template, data={k: jnp.asarray(v) for k, v in dynamic.items()}, structure=key
        )
    raise AssertionError("the last attempt traces no data and cannot fail")  # pragma: no cover


def _numpyro_template(model, data, static, dynamic) -> LogDensity | None:
    """The model traced with ``dynamic`` as arguments; None if it cannot take them so.

    NumPyro's ``initialize_model`` runs the model and its potential op by op, and each
    op compiles on first use (dozens of small programs, seconds in a fresh process).
    Here it runs under ``jax.eval_shape``: traced, never executed, nothing compiled; the
    functions it returns are kept. Models it cannot trace abstractly (a Python ``if``
    on a drawn value, ``numpyro.param`` sites) take the eager route.
    """
    from numpyro.infer.util import initialize_model

    found: dict[str, Any] = {}

    def discover(dyn):
        info = initialize_model(
            jax.random.PRNGKey(0), model, model_kwargs={**static, **dyn}, dynamic_args=True
        )
        flat, unravel = ravel_pytree(info.param_info.z)
        found.update(potential=info.potential_fn, post=info.postprocess_fn, unravel=unravel)
        return flat

    abstract = {
        k: jax.ShapeDtypeStruct(np.shape(v), jnp.asarray(v).dtype) for k, v in dynamic.items()
    }
    try:
        flat0 = jax.eval_shape(discover, abstract)
    except (jax.errors.JAXTypeError, jax.errors.UnexpectedTracerError, TypeError, IndexError):
        if dynamic:
            return None
        return _numpyro_eager(model, data)
    potential_gen, postprocess_gen, unravel = found["potential"], found["post"], found["unravel"]

    def logdensity_fn(x, dyn):
        return -potential_gen(**static, **dyn)(unravel(x))

    def constrain_fn(x, dyn):
        return postprocess_gen(**static, **dyn)(unravel(x))

    # Both functions traced once with the data as arguments: a model that needs their
    # values, or kept a traced value from the discovery (a ``numpyro.param`` site),
    # fails here rather than in a sampler.
    try:
        x_abstract = jax.ShapeDtypeStruct(flat0.shape, flat0.dtype)
        jax.eval_shape(logdensity_fn, x_abstract, abstract)
        jax.eval_shape(constrain_fn, x_abstract, abstract)
    except (jax.errors.JAXTypeError, jax.errors.UnexpectedTracerError, TypeError, IndexError):
        if dynamic:
            return None
        return _numpyro_eager(model, data)
    return LogDensity(
        logdensity_fn, int(np.prod(flat0.shape)), _numpyro_initial_positions, constrain_fn, unravel
    )


def _numpyro_eager(model, data) -> LogDensity:
    """NumPyro's own ``initialize_model``, run op by op, every array a constant."""
    from numpyro.infer.util import initialize_model

    info = initialize_model(jax.random.PRNGKey(0), model, model_kwargs=data)
    flat0, unravel = ravel_pytree(info.param_info.z)
    potential, postprocess = info.potential_fn, info.postprocess_fn

    def logdensity_fn(x, dyn):
        return -potential(unravel(x))

    def constrain_fn(x, dyn):
        return postprocess(unravel(x))

    return LogDensity(
        logdensity_fn, int(flat0.size), _numpyro_initial_positions, constrain_fn, unravel
    )


def _numpyro_initial_positions(ld: LogDensity, seed: int, chains: int) -> np.ndarray:
    # NumPyro's default ``init_to_uniform``: uniform on (-2, 2) in unconstrained space,
    # redrawn where the log density is not finite.
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(chains, ld.dim))
    for _ in range(100):
        bad = ~np.isfinite(np.asarray(ld.batched_logdensity(x)))
        if not bad.any():
            return x
        x[bad] = rng.uniform(-2.0, 2.0, size=(int(bad.sum()), ld.dim))
    raise ValueError(
        "no finite log density at 100 random starting points; check the model and data"
    )


@float64()
def from_pymc(model, *, discrete: bool = False) -> LogDensity:
    """The log density of a ``pm.Model`` in its unconstrained value space.

    Inputs are the value variables in ``model.value_vars`` order, flattened; the
    log density is ``model.logp()`` (log Jacobians of the transforms included).

    Discrete (integer) variables are refused unless ``discrete=True``: then they keep
    their place in the flat vector, as floats holding whole numbers, and are cast back
    to integers for the model. That is for a step that moves only the continuous block
    and reads the discrete values as they are (``mh:pymc`` beside PyMC's own step for
    the discrete ones); a kernel that moves the whole vector would make them fractional.
    """
    from pymc.initial_point import make_initial_point_fn
    from pymc.sampling.jax import get_jaxified_graph
    from pymc.util import get_default_varnames

    value_vars = list(model.value_vars)
    if not discrete and any(v.dtype.startswith("int") for v in value_vars):
        discrete = [v.name for v in value_vars if v.dtype.startswith("int")]
        raise ValueError(
            f"variables {', '.join(discrete)} are discrete; gradient-based and "
            "random-walk kernels here need continuous free variables (marginalise them out)"
        )
    names = [v.name for v in value_vars]
    point0 = model.initial_point(0)
    shapes = [np.shape(point0[n]) for n in names]
    sizes = [int(np.prod(s)) for s in shapes]
    splits = np.cumsum(sizes)[:-1].tolist()

    # +logp, built directly: ``get_jaxified_logp(model, negative_logp=False)`` is -logp.
    outputs = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    out_names = [o.name for o in outputs]
    (logp_out, *outputs), inputs, values = _lift_data(model, [model.logp(), *outputs])
    structure = ("pymc", _graph_digest([logp_out, *outputs], [*value_vars, *inputs]), discrete)

    def build_logp():
        return get_jaxified_graph(inputs=[*value_vars, *inputs], outputs=[logp_out])

    def build_constrain():
        return get_jaxified_graph(inputs=[*value_vars, *inputs], outputs=outputs)

    # Two models of one structure compute with one jaxified graph (and so one compiled
    # program): the first one's, fed the other's data.
    logp_graph = _JITTED.get(("pymc logp", structure), build_logp)
    graph = _JITTED.get(("pymc constrain", structure), build_constrain)

    def logp(values, data):
        return logp_graph(*values, *data)[0]

    dtypes = [v.dtype for v in value_vars]

    def unravel(x):
        parts = jnp.split(x, splits) if splits else [x]
        return {
            n: (p.reshape(s) if not t.startswith("int") else jnp.round(p).astype(t).reshape(s))
            for n, p, s, t in zip(names, parts, shapes, dtypes, strict=True)
        }

    def logdensity(x, data):
        u = unravel(x)
        return logp([u[n] for n in names], data)

    def constrain(x, data):
        u = unravel(x)
        values = graph(*[u[n] for n in names], *data)
        return dict(zip(out_names, values, strict=True))

    init_fn = make_initial_point_fn(
        model=model,
        jitter_rvs={rv for rv in model.free_RVs if not rv.dtype.startswith("int")},
        return_transformed=True,
    )

    def initial_positions(ld: LogDensity, seed: int, chains: int) -> np.ndarray:
        # PyMC's initial-point function reseeds from an int; one int per chain.
        seeds = np.random.SeedSequence(seed).generate_state(chains)
        rows = []
        for s in seeds:
            point = init_fn(int(s))
            rows.append(np.concatenate([np.ravel(point[n]) for n in names]))
        return np.stack(rows).astype(float)

    return LogDensity(
        logdensity,
        int(sum(sizes)),
        initial_positions,
        constrain,
        unravel,
        data=tuple(jnp.asarray(v) for v in values),
        structure=structure,
    )


def _lift_data(model, outputs):
    """``outputs`` with the model's data turned from constants into inputs.

    The data are the observed values (constants) and the ``pm.Data`` containers (shared
    variables) the graphs read. Returns ``(new outputs, new inputs, their values)``; the
    inputs have the data's types, static shapes included.
    """
    import pytensor.tensor as pt
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import ancestors

    observed = {id(model.rvs_to_values[rv]) for rv in model.observed_RVs}
    found = []
    for var in ancestors(outputs):
        if isinstance(var, SharedVariable):
            if not hasattr(var.type, "dtype") or var.type.dtype not in _NUMERIC_DTYPES:
                continue  # random generators and the like stay what they are
            value = var.get_value(borrow=True)
        elif isinstance(var, Constant) and id(var) in observed:
            value = var.data
        else:
            continue
        if np.ndim(value) == 0 or any(v is var for v, _ in found):
            continue
        found.append((var, np.asarray(value)))
    if not found:
        return list(outputs), [], []
    inputs = [
        pt.tensor(name=f"data_{i}", dtype=var.type.dtype, shape=value.shape)
        for i, (var, value) in enumerate(found)
    ]
    replaced = graph_replace(
        list(outputs), {var: new for (var, _), new in zip(found, inputs, strict=True)}, strict=False
    )
    return list(replaced), inputs, [value for _, value in found]


_NUMERIC_DTYPES = frozenset(
    {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}
)


def _graph_digest(outputs, inputs) -> str:
    """A hash of a graph's operations, its inputs' types and the values of its constants.

    Two models built by one function on data of the same shapes have the same digest
    once their data are inputs (:func:`_lift_data`); a prior that reads the data (a
    scale set from ``y.std()``) leaves a constant that differs, and so does the digest.
    """
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import io_toposort

    h = hashlib.sha256()
    index: dict[int, int] = {}

    def ref(var) -> str:
        if id(var) not in index:
            index[id(var)] = len(index)
            h.update(f"v{index[id(var)]}:{var.type}".encode())
            if isinstance(var, Constant):
                data = np.asarray(var.data)
                h.update(str(data.dtype).encode() + str(data.shape).encode())
                if data.dtype != object:
                    h.update(np.ascontiguousarray(data).tobytes())
        return str(index[id(var)])

    for var in inputs:
        h.update(f"in:{ref(var)}:{var.name}".encode())
    for node in io_toposort(list(inputs), list(outputs)):
        props = node.op._props_dict() if hasattr(node.op, "_props_dict") else {}
        h.update(f"{type(node.op).__name__}{sorted(map(str, props.items()))}".encode())
        h.update(("(" + ",".join(ref(v) for v in node.inputs) + ")").encode())
        h.update(("->" + ",".join(ref(v) for v in node.outputs)).encode())
    h.update(("out:" + ",".join(ref(v) for v in outputs)).encode())
    return h.hexdigest()
