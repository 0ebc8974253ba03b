"""Helpers shared by the report-section tests."""

from __future__ import annotations

import pytest

from bayesmin.reports.context import Context
from bayesmin.reports.html import Section, render

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def build_section():
    """``build_section(module, number, out, profile) -> Section``, checking progress calls."""

    def build(module, number: int, out, profile) -> Section:
        section = Section(f"{number}. test", out, prefix=f"topic{number}_")
        messages: list[str] = []
        module.build(section, Context(profile, messages.append, seed=0))
        assert messages, "the builder should report progress before slow steps"
        return section

    return build


@pytest.fixture(scope="session")
def check_figures():
    """``check_figures(section, out) -> list of figure paths``: real PNGs, all on the page."""

    def check(section: Section, out) -> list[str]:
        srcs = [b.src for b in section.blocks if b.kind == "figure"]
        assert srcs
        for src in srcs:
            data = (out / src).read_bytes()
            assert data.startswith(PNG_MAGIC) and len(data) > 1000, src
        page = render([section], title="t")
        assert all(src in page for src in srcs)
        return srcs

    return check
