"""User strings and exception messages are shown as written, never read as LaTeX."""

from __future__ import annotations

import pytest

from bayesmin.reports import run_page
from bayesmin.reports.figures import subplots
from bayesmin.reports.html import Section, render
from bayesmin.reports.mathml import FormulaError, literal, plain, typeset

ODD = r"my $x$ and $ model \notacommand"


def test_literal_keeps_every_dollar_sign():
    assert typeset(literal(ODD)) == ODD
    assert plain(literal(ODD)) == ODD
    with pytest.raises(FormulaError):  # the same string read as LaTeX: an error
        typeset("my $x \\notacommand$")


def test_text_with_math_off_is_shown_as_written(tmp_path):
    section = Section("s", tmp_path)
    section.text(f"Worst over {ODD}'s runs", math=False)
    section.text("<b>bold</b> $1 and $2", raw=True, math=False)
    assert section.blocks[0].html == f"Worst over {ODD}&#x27;s runs"
    assert section.blocks[1].html == "<b>bold</b> $1 and $2"
    assert "<math" not in render([section], title="t")


def test_run_page_figure_error_and_caption_are_literal(tmp_path):
    section = Section("s", tmp_path)

    def broken():
        raise ValueError("cannot plot $x$ and $y")

    assert not run_page._try_figure(section, "trace", "caption", broken)
    assert section.blocks[-1].html == "figure trace could not be drawn: cannot plot $x$ and $y"

    fig, _ = subplots()
    assert run_page._try_figure(section, "ok", f"trace of {ODD}", lambda: fig)
    block = section.blocks[-1]
    assert block.caption_html == f"trace of {ODD}" and block.alt == f"trace of {ODD}"
    assert "<math" not in render([section], title="t")
