"""Formulas written in LaTeX, typeset as MathML when the page is built.

Every current browser renders MathML Core natively, so the report's mathematics needs
no JavaScript, no network and no font download: :func:`tex` converts one formula with
the pure-Python ``latex2mathml``, and :func:`typeset` converts the ``$…$`` (inline) and
``$$…$$`` (display) formulas inside a paragraph, escaping the text around them.

A formula the converter cannot read, or reads with a command it does not know (which
it would otherwise print as the literal name, ``\\foo``), is an error at build time
(:class:`FormulaError`), never a silently wrong page.

Examples
--------
>>> tex(r"\\alpha^2")[:50]
'<math xmlns="http://www.w3.org/1998/Math/MathML" d'
>>> "<math" in typeset("the bound $L(q, \\theta)$ never decreases")
True
"""

from __future__ import annotations

import functools
import html
import re

__all__ = ["FormulaError", "literal", "plain", "tex", "typeset"]


class FormulaError(ValueError):
    """A LaTeX formula that cannot be typeset."""


# A command the converter did not know comes out as an identifier spelled with a
# backslash: <mi>\foo</mi>.
_UNKNOWN = re.compile(r"<m[io][^>]*>\\([A-Za-z]+)</m[io]>")
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)(.+?)(?<!\\)\$", re.S)


@functools.lru_cache(maxsize=4096)
def tex(latex: str, *, display: bool = False) -> str:
    """MathML markup of one LaTeX formula (no surrounding ``$``).

    Raises
    ------
    FormulaError
        Unbalanced braces, a command the converter does not know, an empty formula.
    """
    from latex2mathml.converter import convert

    source = latex.strip()
    if not source:
        raise FormulaError("empty formula")
    if source.count("{") - source.count(r"\{") != source.count("}") - source.count(r"\}"):
        raise FormulaError(f"unbalanced braces in formula: {latex!r}")
    try:
        markup = convert(source, display="block" if display else "inline")
    except Exception as error:  # the converter raises many kinds
        raise FormulaError(f"cannot typeset {latex!r}: {type(error).__name__} {error}") from None
    unknown = _UNKNOWN.search(markup)
    if unknown:
        raise FormulaError(f"unknown command \\{unknown.group(1)} in formula: {latex!r}")
    return markup


def typeset(text: str, *, raw: bool = False) -> str:
    """HTML of ``text`` with its ``$…$`` and ``$$…$$`` formulas as MathML.

    The rest of ``text`` is escaped unless ``raw`` (then it is kept as written: inline
    HTML such as ``<b>``). A dollar sign that is not mathematics is written ``\\$``.
    """
    out, at = [], 0
    for match in _MATH.finditer(text):
        before = text[at : match.start()]
        out.append(before if raw else html.escape(before))
        display, inline = match.group(1), match.group(2)
        out.append(tex(display, display=True) if display is not None else tex(inline))
        at = match.end()
    rest = text[at:]
    out.append(rest if raw else html.escape(rest))
    return "".join(out).replace(r"\$", "$")


def literal(text: str) -> str:
    """``text`` with every dollar sign escaped (``\\$``), so that :func:`typeset` shows it
    as written: for strings that are not the report's own (model names, file names,
    exception messages), where two dollar signs must not start a formula.

    >>> typeset(literal("cost $x$ and $"))
    'cost $x$ and $'
    """
    return text.replace("$", r"\$")


def plain(text: str) -> str:
    """``text`` with each formula's dollar signs dropped, keeping its LaTeX source: the
    plain-text form for places that cannot hold markup (``<img alt>``, titles)."""
    return _MATH.sub(lambda m: (m.group(1) or m.group(2)).strip(), text).replace(r"\$", "$")
