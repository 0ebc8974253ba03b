"""Helpers shared by the report-section and page tests."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

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


class _PageParser(HTMLParser):
    """Collects what :func:`check_page` checks: images, links, ids, tables."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src") or "")
        elif tag == "a" and "href" in attrs:
            self.links.append(attrs["href"] or "")
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@dataclass
class Page:
    """A page as :func:`check_page` read it."""

    text: str
    images: list[str]
    links: list[str]
    ids: list[str]
    tables: list[list[list[str]]]  # table -> rows (header rows included) -> cell texts


def check_page(path) -> Page:
    """Parse an HTML page and fail on anything broken: every relative ``<img src>`` and
    ``<a href>`` must exist under the page's folder, every image must be a real PNG, every
    ``#anchor`` must name an id of the page, and ids must be unique."""
    path = Path(path)
    text = path.read_text()
    parser = _PageParser()
    parser.feed(text)
    parser.close()
    assert len(parser.ids) == len(set(parser.ids)), f"duplicate ids in {path}"
    for src in parser.images:
        assert src and not urlsplit(src).scheme and not src.startswith("/"), src
        target = path.parent / unquote(urlsplit(src).path)
        assert target.is_file(), f"{path.name}: image {src} is missing"
        assert target.suffix == ".png", src
        data = target.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000, f"{src} is not a PNG"
    for href in parser.links:
        parts = urlsplit(href)
        if parts.scheme or href.startswith("//"):
            continue  # an external link: nothing on disk to check
        if parts.path:
            target = path.parent / unquote(parts.path)
            assert target.exists(), f"{path.name}: link {href} points at nothing"
        elif parts.fragment:
            assert parts.fragment in parser.ids, f"{path.name}: no id for #{parts.fragment}"
    return Page(text, parser.images, parser.links, parser.ids, parser.tables)


@pytest.fixture(scope="session")
def page_checker():
    """:func:`check_page`: ``page_checker(path) -> Page``, failing on broken images,
    links or anchors."""
    return check_page
