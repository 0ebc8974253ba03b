"""Course topic 2: a small discrete Bayesian network (cloudy / sprinkler / rain / wet grass).

The network is written down once, declaratively, as a :class:`DiscreteBayesNet` — nodes,
their parents and their conditional probability tables (CPTs) — and everything else is
derived from that one description:

- :meth:`DiscreteBayesNet.query` — exact inference by enumeration, spelling out the
  product rule (the joint is the product of one CPT factor per node), the sum rule
  (marginalise the hidden nodes) and Bayes' rule (normalise by the evidence probability);
- :meth:`DiscreteBayesNet.model` — a NumPyro program with one ``Categorical`` site per
  node, observed where evidence is given;
- :meth:`DiscreteBayesNet.numpyro_query` — the same posterior computed by NumPyro's own
  trace machinery (:func:`numpyro.infer.util.log_density` of every full assignment);
- :meth:`DiscreteBayesNet.sample` and :meth:`DiscreteBayesNet.monte_carlo_query` —
  ancestral sampling and a rejection-sampling estimate with its standard error.

The graph is ``Cloudy -> Sprinkler``, ``Cloudy -> Rain``, ``Sprinkler -> WetGrass <- Rain``
with the CPTs of Murphy (1998) / Russell & Norvig (2010, fig. 14.12); every node is binary
(0 = false, 1 = true). :data:`NETWORK` is that network, and the module-level
:func:`query`, :func:`sample_joint`, :func:`numpyro_query` and :func:`monte_carlo_query`
act on it. ``NETWORK.parents`` is the graph that :mod:`diagnostics.independence` reads.

The course text (COURSE.ru.md, topic 2) has two typos we do not copy:

- Bayes' theorem is printed as ``p(x|y) = p(x|y)p(y) / ∫ p(x|y)p(y) dy``; the standard
  result is ``p(x|y) = p(y|x)p(x) / ∫ p(y|x)p(x) dx``.
- Conditional independence is printed as ``P(A|BC) = P(A|B) + P(A|C) = 1``; the standard
  equivalent of ``P(AB|C) = P(A|C)P(B|C)`` is ``P(A|B,C) = P(A|C)`` (wherever
  ``P(B,C) > 0``).

References
----------
.. [1] Pearl, J. (1988). *Probabilistic Reasoning in Intelligent Systems*. Morgan Kaufmann.
.. [2] Murphy, K. (1998). A brief introduction to graphical models and Bayesian networks.
.. [3] Russell, S. & Norvig, P. (2010). *Artificial Intelligence: A Modern Approach*, 3rd ed.,
   ch. 14.
.. [4] Koller, D. & Friedman, N. (2009). *Probabilistic Graphical Models*, MIT Press, ch. 3, 9, 12.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.infer.util import log_density

from .base import DataError, ModelSpec, check_cells, register, whole_number

__all__ = [
    "NETWORK",
    "DiscreteBayesNet",
    "Node",
    "from_frame",
    "monte_carlo_query",
    "numpyro_model",
    "numpyro_query",
    "query",
    "sample_joint",
    "simulate",
]


@dataclass(frozen=True, eq=False)
class Node:
    """One discrete variable of a Bayesian network and its conditional probability table.

    Parameters
    ----------
    name : str
        Variable name; also the NumPyro site name and the sample column.
    parents : tuple of str
        Names of the parent nodes, in the order of the CPT's leading axes.
    cpt : array_like, shape (card(parent_1), ..., card(parent_m), card(self))
        ``cpt[u_1, ..., u_m, v] = P(name = v | parents = (u_1, ..., u_m))``; the last
        axis sums to one. A root node has a 1-d table.
    """

    name: str
    parents: tuple[str, ...]
    cpt: np.ndarray

    def __post_init__(self) -> None:
        cpt = np.array(self.cpt, dtype=float)
        # A read-only copy: the network is shared module state, and a CPT edited in
        # place would silently change every later query.
        cpt.setflags(write=False)
        object.__setattr__(self, "cpt", cpt)
        object.__setattr__(self, "parents", tuple(self.parents))
        if cpt.ndim != len(self.parents) + 1:
            raise ValueError(
                f"CPT of {self.name!r} has {cpt.ndim} axes; expected one per parent "
                f"({len(self.parents)}) plus one for the node itself"
            )
        if cpt.shape[-1] < 2:
            raise ValueError(f"node {self.name!r} needs at least 2 values, got {cpt.shape[-1]}")
        if not np.all(np.isfinite(cpt)) or np.any(cpt < 0):
            raise ValueError(f"CPT of {self.name!r} must be finite and non-negative")
        if not np.allclose(cpt.sum(axis=-1), 1.0, atol=1e-9):
            raise ValueError(
                f"CPT of {self.name!r} must sum to 1 over its last axis (the node's values)"
            )

    @property
    def cardinality(self) -> int:
        """Number of values the node takes (``0, ..., cardinality - 1``)."""
        return int(self.cpt.shape[-1])


@dataclass(frozen=True, eq=False)
class DiscreteBayesNet:
    """A discrete Bayesian network: a DAG of :class:`Node` objects with their CPTs.

    Parameters
    ----------
    nodes : sequence of Node
        In topological order (every parent before its children); checked.

    Notes
    -----
    The network defines the joint distribution by the product rule along the graph
    (Pearl 1988; Koller & Friedman 2009, sec. 3.2):

    .. math:: p(x_1, \\dots, x_n) = \\prod_{k=1}^n p(x_k \\mid \\mathrm{pa}(x_k)),

    the course's chain rule with each conditioning set cut down to the node's parents.
    """

    nodes: tuple[Node, ...]

    def __post_init__(self) -> None:
        nodes = tuple(self.nodes)
        object.__setattr__(self, "nodes", nodes)
        seen: dict[str, Node] = {}
        for node in nodes:
            if node.name in seen:
                raise ValueError(f"node {node.name!r} is defined twice")
            for p in node.parents:
                if p not in seen:
                    raise ValueError(
                        f"parent {p!r} of {node.name!r} is not defined before it; list the "
                        "nodes in topological order (parents first)"
                    )
            expected = tuple(seen[p].cardinality for p in node.parents)
            if node.cpt.shape[:-1] != expected:
                raise ValueError(
                    f"CPT of {node.name!r} has parent axes {node.cpt.shape[:-1]}; its parents "
                    f"{node.parents} have cardinalities {expected}"
                )
            seen[node.name] = node

    # ---- the graph ---------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Node names in topological order."""
        return tuple(n.name for n in self.nodes)

    @property
    def parents(self) -> dict[str, tuple[str, ...]]:
        """The DAG as ``{node: (parent, ...)}`` — what :mod:`diagnostics.independence` reads."""
        return {n.name: n.parents for n in self.nodes}

    @property
    def cardinality(self) -> dict[str, int]:
        """``{node: number of values}``."""
        return {n.name: n.cardinality for n in self.nodes}

    def node(self, name: str) -> Node:
        """The :class:`Node` called ``name``; ``ValueError`` listing the known ones otherwise."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise ValueError(f"unknown node {name!r}; known nodes: {', '.join(self.names)}")

    def with_cpt(self, name: str, cpt: Any) -> DiscreteBayesNet:
        """A copy of the network with the CPT of ``name`` replaced (same graph)."""
        self.node(name)
        return DiscreteBayesNet(
            tuple(Node(n.name, n.parents, cpt) if n.name == name else n for n in self.nodes)
        )

    # ---- exact computation -------------------------------------------------------

    def _check_evidence(self, evidence: Mapping[str, Any] | None) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, value in (evidence or {}).items():
            node = self.node(name)
            if value is None:
                continue
            if not float(value).is_integer() or not 0 <= int(value) < node.cardinality:
                raise ValueError(
                    f"evidence {name}={value!r} is not a value of {name!r}; "
                    f"use an integer in 0..{node.cardinality - 1}"
                )
            out[name] = int(value)
        return out

    def factor(self, name: str, assignment: Mapping[str, int]) -> float:
        """``P(name = assignment[name] | parents = assignment[parents])`` — one CPT entry."""
        node = self.node(name)
        return float(node.cpt[(*(assignment[p] for p in node.parents), assignment[name])])

    def joint(self, assignment: Mapping[str, int]) -> float:
        """Probability of one full assignment by the product rule along the graph."""
        missing = [n for n in self.names if n not in assignment]
        if missing:
            raise ValueError(f"assignment lacks node(s) {', '.join(missing)}")
        return float(np.prod([self.factor(n, assignment) for n in self.names]))

    def assignments(self, evidence: Mapping[str, int] | None = None) -> Iterator[dict[str, int]]:
        """Every full assignment that agrees with ``evidence``, in lexicographic order."""
        evidence = self._check_evidence(evidence)
        ranges = [
            (evidence[n.name],) if n.name in evidence else range(n.cardinality) for n in self.nodes
        ]
        for values in itertools.product(*ranges):
            yield dict(zip(self.names, values, strict=True))

    def joint_table(self) -> pd.DataFrame:
        """The full joint distribution: one row per assignment, columns nodes + ``prob``."""
        rows = [{**a, "prob": self.joint(a)} for a in self.assignments()]
        return pd.DataFrame(rows, columns=[*self.names, "prob"])

    def query(
        self,
        target: str,
        evidence: Mapping[str, int] | None = None,
        *,
        normalize: bool = True,
    ) -> pd.Series:
        """Posterior ``P(target | evidence)`` by exact enumeration.

        Parameters
        ----------
        target : str
            The node whose distribution is wanted.
        evidence : mapping of str to int, optional
            Observed node values; ``None`` values are ignored (treated as hidden).
        normalize : bool, default True
            ``False`` returns the unnormalised ``P(target, evidence)`` — Bayes' numerator,
            whose sum is the evidence probability ``P(evidence)``.

        Returns
        -------
        pandas.Series
            Indexed by the target's values ``0, ..., k-1``; named ``target``.

        Raises
        ------
        ValueError
            For an unknown node, a value outside a node's range, or evidence of
            probability zero (Bayes' rule is undefined there).

        Notes
        -----
        With hidden nodes :math:`h` (neither target nor evidence),

        .. math::
            P(t \\mid e) = \\frac{\\sum_h \\prod_k p(x_k \\mid \\mathrm{pa}(x_k))}
                               {\\sum_{t'} \\sum_h \\prod_k p(x_k \\mid \\mathrm{pa}(x_k))}

        — product rule inside, sum rule over :math:`h`, Bayes' rule for the ratio. The
        cost is exponential in the number of hidden nodes; fine for a teaching network.
        (Variable elimination, Koller & Friedman 2009, ch. 9, is the scalable version.)
        """
        evidence = self._check_evidence(evidence)
        k = self.node(target).cardinality
        unnormalised = np.zeros(k)
        for assignment in self.assignments(evidence):
            # Product rule: p(x_1..x_n) = prod_k p(x_k | pa(x_k)).
            p_joint = self.joint(assignment)
            # Sum rule: accumulating over every hidden value marginalises them out,
            # leaving p(target = t, evidence).
            unnormalised[assignment[target]] += p_joint
        series = pd.Series(unnormalised, index=pd.RangeIndex(k), name=target)
        if not normalize:
            return series
        # Bayes' rule: p(t | e) = p(t, e) / p(e), with p(e) = sum_t p(t, e) (sum rule again).
        p_evidence = unnormalised.sum()
        if p_evidence <= 0.0:
            raise ValueError(
                f"evidence {evidence} has probability zero; P({target} | ·) is undefined"
            )
        return series / p_evidence

    # ---- NumPyro -----------------------------------------------------------------

    def model(self, **evidence: Any) -> dict[str, Any]:
        """The network as a NumPyro program: one ``Categorical`` site per node.

        Parameters
        ----------
        **evidence
            One keyword per node (``Cloudy=1, ...``); ``None`` or absent means latent.
            Values may be scalars or 1-d arrays of ``n`` observations (simulated data);
            with arrays the sites sit inside ``numpyro.plate("obs", n)``.

        Returns
        -------
        dict
            The value of every site, keyed by node.

        Notes
        -----
        The CPT look-up ``cpt[parent values]`` broadcasts, so the program has the shape
        NumPyro's parallel enumeration expects (enumerated dims to the left). In NumPyro
        0.22 enumeration lives in ``numpyro.contrib.funsor`` (a dependency here), used by
        :meth:`numpyro_query`; :meth:`numpyro_joint_table` scores full assignments with
        the plain trace machinery as a second check. ``infer_discrete`` at
        ``temperature=1`` rejects the exact zero ``P(WetGrass=1 | no sprinkler, no
        rain) = 0`` (its ``-inf`` logit fails NumPyro's argument validation);
        ``temperature=0`` works.
        NUTS does not apply: there are no continuous variables.
        """
        unknown = sorted(set(evidence) - set(self.names))
        if unknown:
            raise ValueError(
                f"unknown node(s) {', '.join(unknown)}; known nodes: {', '.join(self.names)}"
            )
        observed = {k: v for k, v in evidence.items() if v is not None}
        batch = jnp.broadcast_shapes(*(jnp.shape(v) for v in observed.values()))
        if len(batch) > 1:
            raise ValueError(f"evidence must be scalars or 1-d arrays, got shape {batch}")
        plate = numpyro.plate("obs", batch[0]) if batch else nullcontext()
        values: dict[str, Any] = {}
        with plate:
            for node in self.nodes:
                probs = jnp.asarray(node.cpt)[tuple(values[p] for p in node.parents)]
                values[node.name] = numpyro.sample(
                    node.name, dist.Categorical(probs=probs), obs=observed.get(node.name)
                )
        return values

    def numpyro_joint_table(self) -> pd.DataFrame:
        """The joint table of :meth:`joint_table`, scored by NumPyro instead.

        Every full assignment goes through :func:`numpyro.infer.util.log_density` of
        :meth:`model` (one jitted, vmapped call; cached, the network being immutable).

        Returns
        -------
        pandas.DataFrame
            Columns nodes + ``prob`` (float32 precision).
        """
        cached = self.__dict__.get("_numpyro_joint")
        if cached is not None:
            return cached.copy()
        rows = list(self.assignments())
        values = {n: jnp.asarray([r[n] for r in rows]) for n in self.names}

        def log_joint(assignment: dict[str, jax.Array]) -> jax.Array:
            return log_density(self.model, (), assignment, {})[0]

        # One compiled call for all rows: jit + vmap keeps JAX from compiling every
        # primitive separately, which dominates the cost at this size.
        logp = jax.jit(jax.vmap(log_joint))(values)
        table = pd.DataFrame(rows, columns=list(self.names))
        table["prob"] = np.exp(np.asarray(logp, dtype=float))
        object.__setattr__(self, "_numpyro_joint", table)
        return table.copy()

    def numpyro_query(self, target: str, evidence: Mapping[str, int] | None = None) -> pd.Series:
        """``P(target | evidence)`` by NumPyro's own enumeration.

        The program is wrapped in ``numpyro.contrib.funsor.enum(config_enumerate(...))``
        so every latent site is summed out in parallel (the sum rule done by NumPyro),
        and ``numpyro.contrib.funsor.log_density`` returns ``log P(observed)``. Then
        ``P(target = v | e) = P(target = v, e) / P(e)``. It shares the CPT numbers with
        :meth:`query` but none of the code.

        Returns
        -------
        pandas.Series
            As :meth:`query`; float32 precision (JAX's default), so compare with
            ``atol`` around ``1e-6``.
        """
        from numpyro.contrib.funsor import config_enumerate, enum
        from numpyro.contrib.funsor import log_density as enum_log_density

        evidence = self._check_evidence(evidence)
        k = self.node(target).cardinality
        program = enum(config_enumerate(self.model), first_available_dim=-1)

        def log_marginal(observed: dict[str, int]) -> float:
            return float(enum_log_density(program, (), dict(observed), {})[0])

        if target in evidence:
            joint = np.zeros(k)
            joint[evidence[target]] = 1.0
            return pd.Series(joint, index=pd.RangeIndex(k), name=target)
        unnormalised = np.exp([log_marginal({**evidence, target: v}) for v in range(k)])
        if unnormalised.sum() <= 0.0:
            raise ValueError(
                f"evidence {evidence} has probability zero; P({target} | ·) is undefined"
            )
        return pd.Series(unnormalised / unnormalised.sum(), index=pd.RangeIndex(k), name=target)

    # ---- sampling ----------------------------------------------------------------

    def sample(self, seed: int, n: int) -> pd.DataFrame:
        """``n`` ancestral samples: each node drawn from its CPT given its parents' draws.

        Returns
        -------
        pandas.DataFrame
            Shape ``(n, len(nodes))``, integer columns in topological order.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        rng = np.random.default_rng(seed)
        cols: dict[str, np.ndarray] = {}
        for node in self.nodes:
            probs = node.cpt[tuple(cols[p] for p in node.parents)]
            probs = np.broadcast_to(probs, (n, node.cardinality))
            # Inverse CDF: the value is the number of inner CDF steps at or below u, so
            # zero-probability values are skipped and the result is never out of range.
            u = rng.random(n)
            cdf = np.cumsum(probs, axis=1)[:, :-1]
            cols[node.name] = (u[:, None] >= cdf).sum(axis=1).astype(np.int64)
        return pd.DataFrame(cols, columns=list(self.names))

    def monte_carlo_query(
        self,
        target: str,
        evidence: Mapping[str, int] | None = None,
        samples: pd.DataFrame | None = None,
        *,
        seed: int = 0,
        n: int = 20_000,
    ) -> pd.DataFrame:
        """Rejection-sampling estimate of ``P(target | evidence)`` with standard errors.

        Parameters
        ----------
        target, evidence
            As :meth:`query`.
        samples : pandas.DataFrame, optional
            Joint samples (e.g. from :meth:`sample`); drawn with ``seed`` and ``n`` if absent.
        seed, n : int
            Used only when ``samples`` is ``None``.

        Returns
        -------
        pandas.DataFrame
            Indexed by the target's values, columns ``estimate`` (the frequency among
            samples that match the evidence) and ``se`` (its binomial standard error
            ``sqrt(p (1 - p) / m)`` over the ``m`` accepted samples). ``attrs`` hold
            ``n_samples`` and ``n_accepted``. No accepted sample gives NaN, not an error.

        Notes
        -----
        Rejection on evidence keeps a sample with probability ``P(evidence)``, so rare
        evidence wastes most draws (Koller & Friedman 2009, sec. 12.1).
        """
        evidence = self._check_evidence(evidence)
        k = self.node(target).cardinality
        if samples is None:
            samples = self.sample(seed, n)
        missing = [c for c in (target, *evidence) if c not in samples.columns]
        if missing:
            raise ValueError(
                f"samples lack column(s) {', '.join(missing)}; "
                f"columns: {', '.join(map(str, samples.columns))}"
            )
        keep = np.ones(len(samples), dtype=bool)
        for name, value in evidence.items():
            keep &= samples[name].to_numpy() == value
        m = int(keep.sum())
        counts = np.bincount(samples.loc[keep, target].to_numpy(dtype=np.int64), minlength=k)[:k]
        with np.errstate(invalid="ignore", divide="ignore"):
            p = counts / m if m else np.full(k, np.nan)
            se = np.sqrt(p * (1.0 - p) / m) if m else np.full(k, np.nan)
        out = pd.DataFrame({"estimate": p, "se": se}, index=pd.RangeIndex(k, name=target))
        out.attrs.update(n_samples=len(samples), n_accepted=m)
        return out


# Murphy (1998) / Russell & Norvig (2010, fig. 14.12). Axes: parents first, then the node;
# value 1 means "true".
NETWORK = DiscreteBayesNet(
    (
        Node("Cloudy", (), [0.5, 0.5]),
        # P(Sprinkler | Cloudy): the sprinkler is rarely on when it is cloudy.
        Node("Sprinkler", ("Cloudy",), [[0.5, 0.5], [0.9, 0.1]]),
        # P(Rain | Cloudy).
        Node("Rain", ("Cloudy",), [[0.8, 0.2], [0.2, 0.8]]),
        # P(WetGrass | Sprinkler, Rain): cpt[s, r, w].
        Node(
            "WetGrass",
            ("Sprinkler", "Rain"),
            [[[1.0, 0.0], [0.1, 0.9]], [[0.1, 0.9], [0.01, 0.99]]],
        ),
    )
)


def numpyro_model(**evidence: Any) -> dict[str, Any]:
    """NumPyro program of :data:`NETWORK`; see :meth:`DiscreteBayesNet.model`.

    Keyword arguments are the node names (``Cloudy``, ``Sprinkler``, ``Rain``,
    ``WetGrass``), each ``None`` (latent, the default) or observed values.
    """
    return NETWORK.model(**evidence)


# ModelSpec has no field for a graph; hanging the network on the registered model
# function lets graph readers (diagnostics.independence) find it from the registry name.
numpyro_model.network = NETWORK  # type: ignore[attr-defined]


def query(
    target: str, evidence: Mapping[str, int] | None = None, *, normalize: bool = True
) -> pd.Series:
    """``P(target | evidence)`` in :data:`NETWORK` by exact enumeration; see :meth:`DiscreteBayesNet.query`.

    Examples
    --------
    >>> round(float(query("Rain", {"WetGrass": 1})[1]), 4)
    0.7079
    """
    return NETWORK.query(target, evidence, normalize=normalize)


def numpyro_query(target: str, evidence: Mapping[str, int] | None = None) -> pd.Series:
    """:func:`query` computed by NumPyro's log density; see :meth:`DiscreteBayesNet.numpyro_query`."""
    return NETWORK.numpyro_query(target, evidence)


def sample_joint(seed: int, n: int) -> pd.DataFrame:
    """``n`` ancestral samples of :data:`NETWORK`; see :meth:`DiscreteBayesNet.sample`."""
    return NETWORK.sample(seed, n)


def monte_carlo_query(
    target: str,
    evidence: Mapping[str, int] | None = None,
    samples: pd.DataFrame | None = None,
    *,
    seed: int = 0,
    n: int = 20_000,
) -> pd.DataFrame:
    """Rejection-sampling estimate in :data:`NETWORK`; see :meth:`DiscreteBayesNet.monte_carlo_query`."""
    return NETWORK.monte_carlo_query(target, evidence, samples, seed=seed, n=n)


def simulate(seed: int, n: int = 2000) -> dict[str, np.ndarray]:
    """``n`` joint samples of :data:`NETWORK` as ``{node: int array of shape (n,)}``."""
    n = whole_number("n", n)
    check_cells(f"the samples (n × {len(NETWORK.names)} nodes)", n * len(NETWORK.names), "n")
    df = NETWORK.sample(seed, n)
    return {name: df[name].to_numpy() for name in NETWORK.names}


def from_frame(df: pd.DataFrame, **options: Any) -> dict[str, np.ndarray]:
    """A user's table of observed nodes as model data.

    Parameters
    ----------
    df : pandas.DataFrame
        One column per node of :data:`NETWORK`, integer values in the node's range.
        Extra columns are an error (they would be silently ignored otherwise).

    Raises
    ------
    DataError
        Missing or extra columns, missing values, or values outside a node's range.
    """
    if options:
        raise DataError(f"bayes_net takes no options, got {', '.join(sorted(options))}")
    names = list(NETWORK.names)
    missing = [c for c in names if c not in df.columns]
    extra = [str(c) for c in df.columns if c not in names]
    if missing or extra:
        raise DataError(
            f"bayes_net needs exactly the columns {', '.join(names)}; "
            f"missing: {', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'}"
        )
    if len(df) == 0:
        raise DataError("the table is empty; give at least one row")
    data: dict[str, np.ndarray] = {}
    for name, k in NETWORK.cardinality.items():
        col = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(col) | (col != np.round(col)) | (col < 0) | (col >= k)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(
                f"column {name} has {int(bad.sum())} value(s) outside 0..{k - 1} "
                f"(first at row {row}: {df[name].iloc[row]!r}); use integer codes 0..{k - 1}"
            )
        data[name] = col.astype(np.int64)
    return data


SPEC = register(
    ModelSpec(
        name="bayes_net",
        topic=2,
        title="Cloudy / sprinkler / rain / wet grass: Bayes' rule and conditional independence",
        simulate=simulate,
        numpyro=numpyro_model,
        from_frame=from_frame,
        params=(),
        tags=("discrete",),
    )
)
