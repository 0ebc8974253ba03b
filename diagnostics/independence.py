"""Conditional independence: read off a DAG (d-separation) and tested on samples.

Course topic 2 defines conditional independence, ``A ⟂ B | C  <=>  P(A,B|C) = P(A|C)P(B|C)``
(equivalently ``P(A|B,C) = P(A|C)``). A Bayesian network implies such statements through
its graph alone: :func:`d_separated` reads them off the DAG, :func:`independence_test`
checks one on data, and :func:`independence_table` lines the two up — the table the report
shows for :mod:`models.bayes_net`.

A graph is any of: a ``{node: (parent, ...)}`` mapping (roots listed with ``()``), an object
with such a ``parents`` attribute (e.g. ``models.bayes_net.NETWORK``), or a registered
model (name or :class:`~models.base.ModelSpec`) whose NumPyro function carries a
``network`` attribute with ``parents``.

References
----------
.. [1] Pearl, J. (1988). *Probabilistic Reasoning in Intelligent Systems*. Morgan Kaufmann,
   ch. 3.
.. [2] Lauritzen, S. L., Dawid, A. P., Larsen, B. N. & Leimer, H.-G. (1990). Independence
   properties of directed Markov fields. *Networks* 20(5), 491-505.
.. [3] Koller, D. & Friedman, N. (2009). *Probabilistic Graphical Models*. MIT Press, ch. 3
   (d-separation, sec. 3.3; soundness and completeness, thm. 3.3-3.5).
.. [4] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., Wiley, sec. 3.2 and 6.3
   (G-test; tests of conditional independence in stratified tables).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..models.base import ModelSpec, get

__all__ = ["d_separated", "independence_table", "independence_test"]

Nodes = str | Iterable[str]


def _as_tuple(nodes: Nodes | None) -> tuple[str, ...]:
    if nodes is None:
        return ()
    return (nodes,) if isinstance(nodes, str) else tuple(nodes)


def _graph(model: Any) -> dict[str, tuple[str, ...]]:
    """The DAG of ``model`` as ``{node: parents}``, checked to be a DAG."""
    if isinstance(model, Mapping):
        raw = model
    elif isinstance(model, str | ModelSpec):
        spec = get(model)
        network = getattr(spec.numpyro, "network", None)
        raw = getattr(network, "parents", None)
        if raw is None:
            raise ValueError(
                f"model {spec.name!r} exposes no graph (its NumPyro function has no "
                "`network.parents`); pass a {node: parents} mapping instead"
            )
    elif isinstance(getattr(model, "parents", None), Mapping):
        raw = model.parents
    else:
        raise TypeError(
            "model must be a {node: parents} mapping, an object with a `parents` mapping, "
            f"or a registered model name; got {type(model).__name__}"
        )
    parents = {str(k): _as_tuple(v) for k, v in raw.items()}
    for node, pa in parents.items():
        for p in pa:
            if p not in parents:
                # Strict on purpose: treating an unlisted parent as a new root would turn
                # a typo into a different graph without a word.
                raise ValueError(
                    f"parent {p!r} of {node!r} is not a node of the graph; list every node "
                    "as a key (roots with ())"
                )
    # Kahn's algorithm: a DAG empties completely; what is left lies on a cycle.
    indegree = {n: len(pa) for n, pa in parents.items()}
    children: dict[str, list[str]] = {n: [] for n in parents}
    for n, pa in parents.items():
        for p in pa:
            children[p].append(n)
    ready = [n for n, d in indegree.items() if d == 0]
    while ready:
        n = ready.pop()
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    cyclic = sorted(n for n, d in indegree.items() if d > 0)
    if cyclic:
        raise ValueError(f"the graph has a directed cycle through {', '.join(cyclic)}")
    return parents


def _check_nodes(known: Iterable[str], *groups: tuple[str, ...]) -> None:
    known = list(known)
    for group in groups:
        for n in group:
            if n not in known:
                raise ValueError(f"unknown node {n!r}; known nodes: {', '.join(known)}")


def _check_disjoint(x: tuple[str, ...], y: tuple[str, ...], given: tuple[str, ...]) -> None:
    if not x or not y:
        raise ValueError("x and y must each name at least one node")
    for a, b, what in ((x, y, "x and y"), (x, given, "x and given"), (y, given, "y and given")):
        common = sorted(set(a) & set(b))
        if common:
            raise ValueError(f"{what} must be disjoint; both contain {', '.join(common)}")


def d_separated(model: Any, x: Nodes, y: Nodes, given: Nodes = ()) -> bool:
    """Whether the graph implies ``x ⟂ y | given`` (d-separation).

    Parameters
    ----------
    model : mapping, network object, str or ModelSpec
        The DAG: a ``{node: (parent, ...)}`` mapping, an object with a ``parents``
        mapping (``models.bayes_net.NETWORK``), or a registered model name such as
        ``"bayes_net"``.
    x, y : str or iterable of str
        One node or a set of nodes each.
    given : str or iterable of str, default ()
        The conditioning set.

    Returns
    -------
    bool
        ``True`` if every path between ``x`` and ``y`` is blocked by ``given``: then every
        distribution that factorises over the graph has ``x ⟂ y | given``. ``False``
        means the graph allows dependence (for almost all CPTs there is dependence, but
        particular numbers can still make the variables independent).

    Raises
    ------
    ValueError
        An unknown node (the message lists the known ones), overlapping ``x``, ``y`` and
        ``given``, or a graph that is not a DAG.

    See Also
    --------
    independence_test : the same statement tested on samples.

    Notes
    -----
    Uses the moralised ancestral graph criterion (Lauritzen et al. 1990; Koller &
    Friedman 2009, prop. 4.14): keep only ``x``, ``y``, ``given`` and their ancestors;
    *moralise* (join the parents of every common child, drop directions); delete
    ``given``; then ``x`` and ``y`` are d-separated iff no undirected path joins them.
    It is equivalent to Pearl's path-blocking definition (chains and forks are blocked
    by an observed middle node; a collider ``a -> c <- b`` is blocked unless ``c`` or
    one of its descendants is observed — "explaining away").

    References
    ----------
    .. [1] Pearl, J. (1988). *Probabilistic Reasoning in Intelligent Systems*, ch. 3.
    .. [2] Lauritzen, S. L. et al. (1990). Independence properties of directed Markov
       fields. *Networks* 20(5), 491-505.
    .. [3] Koller, D. & Friedman, N. (2009). *Probabilistic Graphical Models*, ch. 3.

    Examples
    --------
    >>> dag = {"C": (), "S": ("C",), "R": ("C",), "W": ("S", "R")}
    >>> d_separated(dag, "S", "R", given="C")
    True
    >>> d_separated(dag, "S", "R", given=("C", "W"))  # explaining away
    False
    """
    parents = _graph(model)
    xs, ys, zs = _as_tuple(x), _as_tuple(y), _as_tuple(given)
    _check_nodes(parents, xs, ys, zs)
    _check_disjoint(xs, ys, zs)

    # 1. The ancestral set: only ancestors of the variables involved can carry a path
    #    that matters (an unobserved collider with no observed descendant blocks).
    ancestral: set[str] = set()
    stack = [*xs, *ys, *zs]
    while stack:
        n = stack.pop()
        if n not in ancestral:
            ancestral.add(n)
            stack.extend(parents[n])

    # 2. Moralise the ancestral subgraph: undirected parent-child edges, plus edges
    #    between co-parents (the "marriage" that makes an observed collider active).
    neighbours: dict[str, set[str]] = {n: set() for n in ancestral}
    for child in ancestral:
        pa = parents[child]
        for p in pa:
            neighbours[child].add(p)
            neighbours[p].add(child)
        for a, b in itertools.combinations(pa, 2):
            neighbours[a].add(b)
            neighbours[b].add(a)

    # 3. Delete the conditioning set and look for any path from x to y.
    blocked = set(zs)
    targets = set(ys)
    seen = set(xs)
    frontier = list(xs)
    while frontier:
        n = frontier.pop()
        for m in neighbours[n] - blocked - seen:
            if m in targets:
                return False
            seen.add(m)
            frontier.append(m)
    return True


def independence_test(
    samples: pd.DataFrame,
    x: Nodes,
    y: Nodes,
    given: Nodes = (),
    *,
    method: str = "g",
) -> dict[str, Any]:
    """Test ``x ⟂ y | given`` on discrete samples with a stratified G- or chi-square test.

    Parameters
    ----------
    samples : pandas.DataFrame
        One column per variable, discrete values (e.g. ``models.bayes_net.sample_joint``).
        Rows with a missing value in a used column are dropped.
    x, y : str or iterable of str
        Column(s); several columns are tested as one joint variable.
    given : str or iterable of str, default ()
        Conditioning column(s); the test is pooled over their observed combinations.
    method : {"g", "pearson"}, default "g"
        Likelihood-ratio G statistic or Pearson's chi-square.

    Returns
    -------
    dict
        ``statistic`` (summed over strata), ``dof``, ``p_value`` (upper tail of the
        chi-square distribution; NaN when ``dof`` is 0, i.e. nothing is testable),
        ``n`` (rows used), ``n_strata`` (strata with a testable table) and ``method``.

    Raises
    ------
    ValueError
        A column that is not in ``samples`` (the message lists the columns), overlapping
        ``x``, ``y`` and ``given``, or an unknown ``method``.

    See Also
    --------
    d_separated : the statement read off a graph.

    Notes
    -----
    In each stratum ``s`` of ``given`` the two-way table of ``x`` against ``y`` gives
    :math:`G_s = 2 \\sum O \\ln(O / E)` with :math:`E` from the table's margins and
    :math:`(r_s - 1)(c_s - 1)` degrees of freedom, counting only the levels seen in that
    stratum (empty rows and columns carry no information). Under ``x ⟂ y | given`` the
    strata are independent, so :math:`\\sum_s G_s` is asymptotically chi-square with
    :math:`\\sum_s (r_s - 1)(c_s - 1)` degrees of freedom (Agresti 2013, sec. 6.3). The
    chi-square approximation wants expected counts of about 5 or more per cell; with
    very sparse strata the p-value is rough. No Yates correction: it would bias the
    pooled statistic.

    References
    ----------
    .. [1] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., sec. 3.2, 6.3.
    .. [2] Koller, D. & Friedman, N. (2009). *Probabilistic Graphical Models*, sec. 18.2.

    Examples
    --------
    >>> from bayesmin.models.bayes_net import sample_joint
    >>> df = sample_joint(0, 5000)
    >>> independence_test(df, "Sprinkler", "Rain", given="Cloudy")["p_value"] > 0.01
    True
    """
    lambdas = {"g": "log-likelihood", "pearson": "pearson"}
    if method not in lambdas:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(lambdas)}")
    xs, ys, zs = _as_tuple(x), _as_tuple(y), _as_tuple(given)
    columns = [str(c) for c in samples.columns]
    for n in (*xs, *ys, *zs):
        if n not in columns:
            raise ValueError(f"unknown node {n!r}; known nodes: {', '.join(columns)}")
    _check_disjoint(xs, ys, zs)

    used = samples[[*xs, *ys, *zs]].dropna()
    # Several columns become one variable: its levels are their observed combinations.
    xkey = used.groupby(list(xs), sort=False).ngroup().to_numpy()
    ykey = used.groupby(list(ys), sort=False).ngroup().to_numpy()
    zkey = (
        used.groupby(list(zs), sort=False).ngroup().to_numpy()
        if zs
        else np.zeros(len(used), dtype=np.int64)
    )
    statistic, dof, n_strata = 0.0, 0, 0
    for s in np.unique(zkey):
        in_s = zkey == s
        table = pd.crosstab(xkey[in_s], ykey[in_s]).to_numpy()
        if table.shape[0] < 2 or table.shape[1] < 2:
            # One level of x or y in this stratum: no variation, nothing to test.
            continue
        res = stats.chi2_contingency(table, correction=False, lambda_=lambdas[method])
        statistic += float(res.statistic)
        dof += int(res.dof)
        n_strata += 1
    p_value = float(stats.chi2.sf(statistic, dof)) if dof > 0 else float("nan")
    return {
        "statistic": statistic if dof > 0 else float("nan"),
        "dof": dof,
        "p_value": p_value,
        "n": len(used),
        "n_strata": n_strata,
        "method": method,
    }


def _all_statements(nodes: Sequence[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for a, b in itertools.combinations(nodes, 2):
        rest = [n for n in nodes if n not in (a, b)]
        for k in range(len(rest) + 1):
            out.extend((a, b, g) for g in itertools.combinations(rest, k))
    return out


def independence_table(
    model: Any,
    samples: pd.DataFrame | None,
    pairs: Iterable[tuple[Any, ...]] | None = None,
    *,
    alpha: float = 0.01,
    method: str = "g",
) -> pd.DataFrame:
    """d-separation in the graph next to an empirical test on samples, one row per statement.

    Parameters
    ----------
    model : mapping, network object, str or ModelSpec
        The DAG, as for :func:`d_separated`.
    samples : pandas.DataFrame or None
        Samples to test on; ``None`` gives the graph's answers only (test columns NaN).
    pairs : iterable of tuples, optional
        Each ``(x, y)`` or ``(x, y, given)``; ``x``, ``y``, ``given`` as in
        :func:`d_separated`. ``None`` lists every pair of single nodes with every
        conditioning set drawn from the remaining nodes — ``C(n, 2) 2^(n-2)`` rows, meant
        for small networks.
    alpha : float, default 0.01
        Test level: the data call a statement independent when ``p_value > alpha``.
    method : {"g", "pearson"}, default "g"
        Passed to :func:`independence_test`.

    Returns
    -------
    pandas.DataFrame
        Columns ``x``, ``y``, ``given`` (comma-separated; empty for none), ``statement``
        (e.g. ``"Sprinkler ⟂ Rain | Cloudy"``), ``d_separated``, ``statistic``, ``dof``,
        ``p_value`` and ``agrees`` (nullable boolean: ``d_separated == (p_value > alpha)``;
        NA where nothing was testable or there are no samples).

    Notes
    -----
    Agreement is statistical, not logical: a true independence is rejected with
    probability ``alpha``, and a d-connected pair can be independent for special CPT
    values (the graph is then not *faithful* to the distribution; Koller & Friedman
    2009, sec. 3.4.2). With a few thousand samples and CPTs away from such values the
    table should agree everywhere.

    References
    ----------
    .. [1] Koller, D. & Friedman, N. (2009). *Probabilistic Graphical Models*, ch. 3.
    .. [2] Pearl, J. (1988). *Probabilistic Reasoning in Intelligent Systems*, ch. 3.
    """
    parents = _graph(model)
    statements = (
        _all_statements(list(parents))
        if pairs is None
        else [(p[0], p[1], p[2] if len(p) > 2 else ()) for p in pairs]
    )
    rows = []
    for x, y, given in statements:
        xs, ys, zs = _as_tuple(x), _as_tuple(y), _as_tuple(given)
        sep = d_separated(parents, xs, ys, zs)
        if samples is None:
            test = {"statistic": np.nan, "dof": 0, "p_value": np.nan}
        else:
            test = independence_test(samples, xs, ys, zs, method=method)
        p = test["p_value"]
        statement = f"{', '.join(xs)} ⟂ {', '.join(ys)}" + (f" | {', '.join(zs)}" if zs else "")
        rows.append(
            {
                "x": ", ".join(xs),
                "y": ", ".join(ys),
                "given": ", ".join(zs),
                "statement": statement,
                "d_separated": sep,
                "statistic": test["statistic"],
                "dof": test["dof"],
                "p_value": p,
                "agrees": pd.NA if np.isnan(p) else bool(sep == (p > alpha)),
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "x",
            "y",
            "given",
            "statement",
            "d_separated",
            "statistic",
            "dof",
            "p_value",
            "agrees",
        ],
    )
    out["agrees"] = out["agrees"].astype("boolean")
    out.attrs.update(alpha=alpha, method=method)
    return out
