"""Sections of an HTML page, and writing files so that nothing finished is lost.

A :class:`Section` collects headings, paragraphs, tables and matplotlib figures; the
figures are saved as PNG files next to the page as they are added. :func:`render`
turns sections into one page with Jinja2, and :func:`write_atomic` (from
:mod:`reports.rundir`) replaces a file only once its new content is complete.
:func:`verdict_list` shows :func:`diagnostics.verdict` for each run of a comparison table.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from .mathml import literal, plain, tex, typeset
from .rundir import atomic_path, write_atomic

__all__ = ["Block", "Section", "render", "verdict_list", "write_atomic"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader(__package__, "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


@dataclass
class Block:
    """One piece of a section. ``caption`` is the caption as written (``$…$`` formulas
    in LaTeX), ``caption_html`` the same typeset; ``code`` is a figure's reproducing
    snippet."""

    kind: str
    text: str = ""
    html: str = ""
    src: str = ""
    caption: str = ""
    caption_html: str = ""
    code: str = ""

    @property
    def alt(self) -> str:
        """The caption as plain text (formulas as their LaTeX source) for ``<img alt>``."""
        return plain(self.caption)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class Section:
    """One part of a page; figures are written under ``out_dir / "figures"``."""

    heading: str
    out_dir: Path
    prefix: str = ""
    blocks: list[Block] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def anchor(self) -> str:
        return _slug(self.heading)

    def heading3(self, text: str) -> None:
        self.blocks.append(Block("heading", text=text))

    def text(self, text: str, *, raw: bool = False, math: bool = True) -> None:
        """A paragraph with its ``$…$`` and ``$$…$$`` formulas typeset (:mod:`.mathml`);
        ``raw=True`` keeps inline HTML (``<code>``, ``<b>``) as written. A literal dollar
        sign is written ``\\$``; ``math=False`` keeps every dollar sign as written (text
        that holds user strings or exception messages, never formulas)."""
        if not math:
            text = literal(text)
        self.blocks.append(Block("text", html=typeset(text, raw=raw)))

    def math(self, latex: str) -> None:
        """A display formula (LaTeX without the ``$$``)."""
        self.blocks.append(Block("math", html=tex(latex, display=True)))

    def html(self, markup: str) -> None:
        self.blocks.append(Block("html", html=markup))

    def table(self, df: pd.DataFrame, caption: str = "", *, digits: int = 4, index=True) -> None:
        """A table; floats shown with ``digits`` significant digits."""
        markup = df.to_html(
            index=index,
            border=0,
            float_format=lambda v: f"{v:.{digits}g}",
            na_rep="—",
            escape=True,
        )
        self.blocks.append(
            Block("table", html=markup, caption=caption, caption_html=typeset(caption))
        )

    def figure(self, fig: Any, name: str, caption: str, *, code: str = "") -> Path:
        """Save a matplotlib figure as ``figures/<prefix>_<name>.png``.

        ``caption`` may hold ``$…$`` formulas. ``code`` is the Python that reproduces the
        numbers behind the figure; the page shows it, collapsed, under the figure (the
        course report gives one for every figure).

        Figures come from :func:`figures.subplots` (no pyplot), so there is nothing to
        close: the figure is freed with its last reference.
        """
        rel = Path("figures") / f"{self.prefix}{_slug(name)}.png"
        target = self.out_dir / rel
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
        self.blocks.append(
            Block(
                "figure",
                src=rel.as_posix(),
                caption=caption,
                caption_html=typeset(caption),
                code=code.strip("\n"),
            )
        )
        return target


def verdict_list(
    table: pd.DataFrame, failures: Mapping[str, str] | None = None, **settings: Any
) -> str:
    """An HTML list: each run of ``table`` (rows of :func:`diagnostics.compare`, labelled
    by the index) with its :func:`diagnostics.verdict` line, then each run in ``failures``
    (label -> error) as "could not run". ``settings`` go to the verdict (``ess_min``,
    ``require_reference``, ...). Empty string when there is nothing to list."""
    # Imported here: the report's own process renders pages without the modelling
    # stack (ArviZ, PyMC, JAX), which ``diagnostics`` brings in.
    from .. import diagnostics

    items = []
    for label, row in table.iterrows():
        judged = diagnostics.verdict(row, **settings)
        items.append(
            f"<li><code>{html.escape(str(label))}</code>: "
            f'<span class="{"pass" if judged.passed else "fail"}">{html.escape(judged.line)}'
            "</span></li>"
        )
    for label, err in (failures or {}).items():
        items.append(
            f'<li><code>{html.escape(label)}</code>: <span class="fail">could not run: '
            f"{html.escape(err)}</span></li>"
        )
    return "<ul>" + "".join(items) + "</ul>" if items else ""


def render(sections: list[Section], *, title: str, subtitle: str = "") -> str:
    """The page as an HTML string."""
    return _ENV.get_template("report.html").render(
        sections=sections, title=title, subtitle=subtitle
    )
