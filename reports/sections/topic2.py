"""Topic 2: conditional probability, the sum and product rules, Bayes' rule, conditional
independence — on the cloudy / sprinkler / rain / wet-grass network.

No MCMC here: every query is answered three ways (exact enumeration, NumPyro's own
enumeration, rejection sampling) and the graph's d-separation statements are set against
independence tests on ancestral samples.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ...diagnostics.independence import independence_table
from ...models import bayes_net
from .. import figures
from ..context import Context
from ..html import Section

__all__ = ["build"]

# Ancestral samples for the Monte Carlo estimates and the independence tests, by profile.
MC_SAMPLES = {"quick": 20_000, "full": 200_000}
_MC_DEFAULT = 20_000
ALPHA = 0.01  # level of the independence tests

# (target, evidence) of each query; P(target = 1 | evidence). The sprinkler rows after
# WetGrass=1 show explaining away, the rain rows the same from the other side.
QUERIES: tuple[tuple[str, dict[str, int]], ...] = (
    ("Cloudy", {}),
    ("Rain", {}),
    ("Sprinkler", {}),
    ("WetGrass", {}),
    ("Cloudy", {"WetGrass": 1}),
    ("Rain", {"WetGrass": 1}),
    ("Rain", {"WetGrass": 1, "Sprinkler": 1}),
    ("Rain", {"WetGrass": 1, "Sprinkler": 0}),
    ("Sprinkler", {"WetGrass": 1}),
    ("Sprinkler", {"WetGrass": 1, "Rain": 1}),
    ("Sprinkler", {"WetGrass": 1, "Rain": 0}),
)

_INTRO = (
    r"<b>Conditional probability</b>: $p(x \mid y) = \frac{p(x, y)}{p(y)}$ for $p(y) > 0$. "
    r"<b>Product rule</b>: $p(x, y) = p(x \mid y)\, p(y)$, and for $n$ variables "
    r"$p(x_1, \dots, x_n) = p(x_1) \prod_{k=2}^{n} p(x_k \mid x_1, \dots, x_{k-1})$; a "
    "Bayesian network shortens each conditioning set to the node's parents, "
    r"$p(x_1, \dots, x_n) = \prod_{k} p(x_k \mid \mathrm{pa}(x_k))$. "
    r"<b>Sum rule</b>: $p(x) = \sum_y p(x, y)$ (an integral for continuous $y$). "
    r"<b>Bayes' rule</b>: $p(x \mid y) = \frac{p(y \mid x)\, p(x)}{\sum_{x'} p(y \mid x')\, "
    r"p(x')}$; the denominator is the evidence $p(y)$, a normalising constant. "
    r"<b>Conditional independence</b>: $A \perp B \mid C \Leftrightarrow P(A, B \mid C) = "
    r"P(A \mid C)\, P(B \mid C)$, equivalently $P(A \mid B, C) = P(A \mid C)$ wherever "
    r"$P(B, C) > 0$. "
    r"(The course text prints Bayes' rule with $p(x \mid y)$ in the numerator and the second "
    "form of conditional independence as a sum; the lines above are the standard statements.)"
)

# The Python behind each figure, shown under it ("Reproduce"); run as written.
SNIPPETS = {
    "network": """\
from bayesmin.models import bayes_net

# The DAG drawn above: each node and its parents.
parents = dict(bayes_net.NETWORK.parents)
""",
    "explaining-away": """\
from bayesmin.models import bayes_net

samples = bayes_net.sample_joint(0, 20_000)
evidence = [{}, {"WetGrass": 1}, {"WetGrass": 1, "Rain": 1}, {"WetGrass": 1, "Rain": 0}]
exact = [float(bayes_net.query("Sprinkler", e)[1]) for e in evidence]
mc = [bayes_net.monte_carlo_query("Sprinkler", e, samples) for e in evidence]
estimates = [(float(m["estimate"].iloc[1]), float(m["se"].iloc[1])) for m in mc]
""",
}


def _label(target: str, evidence: Mapping[str, int], value: int = 1) -> str:
    given = ", ".join(f"{k}={v}" for k, v in evidence.items())
    return f"P({target}={value}" + (f" | {given})" if given else ")")


# ------------------------------------------------------------------------ figures


def _layout(parents: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[float, float]]:
    """Fixed positions: a node's row is its longest path from a root, rows are centred."""
    depth: dict[str, int] = {}
    for name, pa in parents.items():  # topological order: parents are placed first
        depth[name] = 1 + max((depth[p] for p in pa), default=-1)
    rows: dict[int, list[str]] = {}
    for name, d in depth.items():
        rows.setdefault(d, []).append(name)
    pos = {}
    for d, names in rows.items():
        for i, name in enumerate(names):
            pos[name] = (i - (len(names) - 1) / 2, -float(d))
    return pos


def dag_figure(network=bayes_net.NETWORK):
    """The network's DAG: nodes at fixed positions, one arrow per parent → child edge."""
    parents = network.parents
    pos = _layout(parents)
    fig, ax = figures.subplots(figsize=(4.6, 3.6))
    box = dict(boxstyle="round,pad=0.45", fc="#eef1f7", ec="#22427a", lw=1.4)
    labels = {}
    for name, (x, y) in pos.items():
        labels[name] = ax.annotate(
            name, (x, y), ha="center", va="center", fontsize=11, bbox=box, zorder=3
        )
    for child, pa in parents.items():
        for parent in pa:
            # Arrows end at the label boxes (patchA/patchB), not at the node centres.
            ax.annotate(
                "",
                xy=pos[child],
                xytext=pos[parent],
                arrowprops=dict(
                    arrowstyle="-|>",
                    color="#22427a",
                    lw=1.4,
                    mutation_scale=16,
                    patchA=labels[parent].get_bbox_patch(),
                    patchB=labels[child].get_bbox_patch(),
                    shrinkA=2,
                    shrinkB=2,
                ),
                zorder=2,
            )
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def explaining_away_figure(queries: pd.DataFrame):
    """P(Sprinkler=1) and P(Rain=1) as evidence accumulates: exact bars, MC ± 2 se."""
    panels = [t for t in ("Sprinkler", "Rain") if (queries["target"] == t).any()]
    fig, axes = figures.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.4), squeeze=False)
    for ax, target in zip(axes[0], panels, strict=True):
        rows = queries[queries["target"] == target]
        rows = rows[[not e or "WetGrass" in e for e in rows["evidence"]]]
        y = np.arange(len(rows))
        colours = ["#9aa7bf" if not e else "C0" if len(e) == 1 else "C3" for e in rows["evidence"]]
        ax.barh(y, rows["exact"], color=colours, height=0.6)
        ax.errorbar(
            rows["Monte Carlo"],
            y,
            xerr=2 * rows["MC se"],
            fmt="ko",
            ms=3,
            capsize=3,
            label="Monte Carlo ± 2 se",
        )
        right = np.maximum(rows["exact"], rows["Monte Carlo"] + 2 * rows["MC se"].fillna(0))
        for yi, p, r in zip(y, rows["exact"], right, strict=True):
            ax.text(r + 0.03, yi, f"{p:.3f}", va="center", fontsize=8)
        given = [
            ", ".join(f"{k}={v}" for k, v in e.items()) or "no evidence" for e in rows["evidence"]
        ]
        ax.set_yticks(y, given)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.25)
        ax.set_xlabel("probability (bars: exact)")
        ax.set_title(f"P({target}=1 | ·)", fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="upper right")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------ tables


def cpt_table(node: bayes_net.Node) -> pd.DataFrame:
    """A node's CPT: one row per parent assignment, one column per value of the node."""
    cpt = np.asarray(node.cpt)
    k = node.cardinality
    flat = cpt.reshape(-1, k)
    if node.parents:
        index = pd.MultiIndex.from_tuples(
            list(np.ndindex(*cpt.shape[:-1])), names=list(node.parents)
        )
    else:
        index = pd.Index(["(no parents)"])
    return pd.DataFrame(flat, index=index, columns=[f"P({node.name}={v})" for v in range(k)])


def query_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Each query of :data:`QUERIES` by enumeration, NumPyro enumeration and rejection sampling."""
    rows = {}
    for target, evidence in QUERIES:
        mc = bayes_net.monte_carlo_query(target, evidence, samples)
        exact = float(bayes_net.query(target, evidence)[1])
        est, se = float(mc["estimate"].iloc[1]), float(mc["se"].iloc[1])
        rows[_label(target, evidence)] = {
            "target": target,
            "evidence": dict(evidence),
            "exact": exact,
            "NumPyro": float(bayes_net.numpyro_query(target, evidence)[1]),
            "Monte Carlo": est,
            "MC se": se,
            "accepted": mc.attrs["n_accepted"],
            "z": (est - exact) / se if se > 0 else np.nan,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "query"
    return out


# ------------------------------------------------------------------------ section


def build(section: Section, ctx: Context) -> None:
    """Fill ``section`` with topic 2: rules, the network, queries and independences."""
    network = bayes_net.NETWORK
    n_samples = MC_SAMPLES.get(ctx.profile.name, _MC_DEFAULT)

    section.text(_INTRO, raw=True)

    section.heading3("The network")
    section.text(
        "Cloudy → Sprinkler, Cloudy → Rain, Sprinkler → WetGrass ← Rain (Murphy 1998; Russell "
        "& Norvig 2010, fig. 14.12); every node is binary, 1 meaning true. The joint "
        "distribution is the product of one CPT entry per node."
    )
    section.figure(
        dag_figure(network), "network", "The DAG of the network.", code=SNIPPETS["network"]
    )
    for node in network.nodes:
        given = f" | {', '.join(node.parents)}" if node.parents else ""
        section.table(cpt_table(node), f"P({node.name}{given})", digits=3)

    section.heading3("Queries: three ways to the same posterior")
    numerator = bayes_net.query("Rain", {"WetGrass": 1}, normalize=False)
    evidence_p = float(numerator.sum())
    section.text(
        r"By hand, with the rules above (R: Rain, W: WetGrass): $P(R{=}1, W{=}1) = \sum_c "
        r"\sum_s P(c)\, P(s \mid c)\, P(R{=}1 \mid c)\, P(W{=}1 \mid s, R{=}1) = "
        f"{numerator[1]:.4f}$ (product rule inside, sum rule over the hidden Cloudy and "
        f"Sprinkler); $P(W{{=}}1) = {evidence_p:.4f}$ (sum rule over Rain as well); Bayes' "
        r"rule gives $P(R{=}1 \mid W{=}1) = "
        f"{numerator[1]:.4f} / {evidence_p:.4f} = {numerator[1] / evidence_p:.4f}$."
    )
    ctx.progress(f"{n_samples} ancestral samples")
    samples = bayes_net.sample_joint(ctx.seed, n_samples)
    ctx.progress("queries: enumeration, NumPyro enumeration, Monte Carlo")
    queries = query_table(samples)
    section.table(
        queries.drop(columns=["target", "evidence"]),
        "exact: enumeration of the joint (product rule, sum rule, Bayes' rule); NumPyro: "
        "the same network as a NumPyro program, latent sites summed out by NumPyro's "
        f"enumeration (float32); Monte Carlo: rejection sampling from {n_samples:,} "
        "ancestral samples, keeping those that match the evidence (accepted), with its "
        r"binomial standard error; $z = (\text{Monte Carlo} - \text{exact}) / \mathrm{se}$, "
        r"mostly within $\pm 2$.",
        digits=4,
    )
    s_w = queries.loc[_label("Sprinkler", {"WetGrass": 1}), "exact"]
    s_wr = queries.loc[_label("Sprinkler", {"WetGrass": 1, "Rain": 1}), "exact"]
    section.text(
        f"Explaining away: wet grass raises P(Sprinkler=1) from "
        f"{queries.loc[_label('Sprinkler', {}), 'exact']:.3f} to {s_w:.3f}; learning that it "
        f"also rained drops it to {s_wr:.3f}, because rain already explains the wet grass. "
        "Sprinkler and Rain are dependent given their common child WetGrass although they are "
        "independent given Cloudy."
    )
    section.figure(
        explaining_away_figure(queries),
        "explaining-away",
        "Bars: exact probabilities (grey: no evidence; blue: WetGrass=1; red: WetGrass=1 and "
        r"the other cause observed). Points: Monte Carlo estimates $\pm 2$ se.",
        code=SNIPPETS["explaining-away"],
    )

    section.heading3("Conditional independence: the graph against the data")
    ctx.progress("independence tests")
    table = independence_table(network, samples, alpha=ALPHA)
    shown = table.set_index("statement")[["d_separated", "statistic", "dof", "p_value", "agrees"]]
    section.table(
        shown,
        f"Every pair of nodes given every subset of the others, on the {n_samples:,} samples; "
        rf"G-test of conditional independence, level $\alpha = {ALPHA}$.",
        digits=3,
    )
    n_sep = int(table["d_separated"].sum())
    n_agree = int(table["agrees"].fillna(False).sum())
    section.text(
        "How to read it: d_separated says whether the graph alone implies the statement "
        "(every path between the two nodes is blocked by the conditioning set), so it holds "
        "for any CPT numbers. The G-test asks the samples: $p > \alpha$ means the data show no "
        "dependence. agrees is true when both give the same answer. Here "
        f"{n_sep} of {len(table)} statements are d-separated and {n_agree} of {len(table)} "
        r"rows agree. A true independence is rejected with probability $\alpha$, so with "
        f"$\\alpha = {ALPHA}$ an occasional disagreement on a d-separated row is chance, while a "
        "d-connected row with a large p-value would mean the CPTs happen to cancel a path "
        "(an unfaithful distribution) or too few samples."
    )
