"""The pages as a reader sees them: headless Chromium opens the quick report (two cheap
topics), its ledger when there is one, and a comparison page, and finds no console error,
no image that failed to load, no in-page link without a target, no navigation link that
misses its section and no formula laid out as an empty box. Full-page screenshots are
kept under each test's ``tmp_path``.

Negative controls break a copy of the report (an image deleted, an empty formula, a link
to nowhere) and the same checks must name each fault. Chromium comes from
``tests/browser/install-chromium``; without it these tests skip and say how to install it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import arviz as az
import numpy as np
import pytest

from bayesmin import diagnostics
from bayesmin.reports import cli, run_page


def _load_cdp():
    # tests/ is not a package (pytest imports by path), so the helper is loaded by path.
    path = Path(__file__).resolve().parents[1] / "browser" / "cdp.py"
    spec = importlib.util.spec_from_file_location("bayesmin_tests_cdp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cdp = _load_cdp()

# The two fastest topics of the quick profile (about 30 s together on two busy cores):
# Bayes' rule on a small network, and Monte Carlo; both draw figures and tables.
TOPICS = "2,7"


@pytest.fixture(scope="module")
def browser():
    executable = cdp.find_chromium()
    if executable is None:
        pytest.skip(
            f"no headless Chromium (looked for $BAYESMIN_CHROMIUM and {', '.join(cdp.NAMES)}); "
            f"install it with {cdp.INSTALL} (as root on Debian) or "
            "`apt-get install chromium-headless-shell`"
        )
    with cdp.Browser(executable) as b:
        yield b


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The quick report of :data:`TOPICS`, built once for the module."""
    out = tmp_path_factory.mktemp("browser") / "report"
    code = cli.main(["report", "--profile", "quick", "--topics", TOPICS, "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory):
    """A comparison page of two hand-made runs (no sampling): a NUTS run with energy and
    divergences, and an MH run whose chains disagree, so verdicts, tables and every kind
    of figure are on it (as tests/reports/test_run_page.py builds its pages)."""
    rng = np.random.default_rng(0)

    def run(sampler: str, shift: float) -> az.InferenceData:
        theta = rng.normal(size=(2, 100, 3))
        theta[1, :, 0] += shift
        idata = az.from_dict(
            posterior={"mu": rng.normal(size=(2, 100)), "theta": theta},
            sample_stats={
                "diverging": rng.random((2, 100)) < 0.02,
                "energy": rng.normal(size=(2, 100)),
            },
        )
        idata.posterior.attrs.update(sampler=sampler, seed=0)
        return idata

    runs = {"nuts/seed=0": run("nuts", 0.0), "mh/seed=0": run("mh", 3.0)}
    table = diagnostics.compare(runs)
    table["error"] = ""
    out = tmp_path_factory.mktemp("browser") / "compare"
    out.mkdir()
    record = run_page.provenance(["bayesmin", "compare", "m"], seed=0)
    run_page.write_compare_page(out, "m", runs, table, ["nuts", "mh"], provenance=record)
    return out


def _problems(browser, page: Path, shot: Path) -> list[str]:
    browser.open(page)
    return cdp.page_problems(browser, screenshot=shot)


def _nav_links(browser) -> int:
    return browser.evaluate("document.querySelectorAll('nav a[href^=\"#\"]').length")


# ------------------------------------------------------------------------ the installer

SCRIPT = Path(__file__).resolve().parents[2] / cdp.INSTALL


def test_installer_does_nothing_when_a_chromium_is_given(tmp_path):
    # /bin/true stands in for Chromium; an apt-get run would show on stdout or take minutes.
    env = {**os.environ, "BAYESMIN_CHROMIUM": "/bin/true"}
    done = subprocess.run([SCRIPT], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


def test_installer_says_how_when_it_cannot_install(tmp_path):
    # A PATH with bash and nothing else, and `id` saying "not root": no Chromium, no apt-get.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash"))
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
    (bin_dir / "id").chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    done = subprocess.run([SCRIPT], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 and "apt-get install chromium-headless-shell" in (
        done.stdout
    )


# ------------------------------------------------------------------------ sound pages


def test_chromium_lays_out_mathml_as_a_fraction(browser, tmp_path):
    # The formula check means something only if this Chromium renders MathML: a fraction
    # gets a box, with its numerator above its denominator.
    page = tmp_path / "math.html"
    page.write_text(
        "<!doctype html><html><body><p>Odds "
        "<math><mfrac><mi>a</mi><mi>b</mi></mfrac></math> in a line.</p></body></html>"
    )
    assert _problems(browser, page, tmp_path / "math.png") == []
    box = browser.evaluate(
        """(() => {
        const [m, num, den] = ["math", "mfrac > :first-child", "mfrac > :last-child"]
          .map((s) => document.querySelector(s).getBoundingClientRect());
        return {w: m.width, h: m.height, numBottom: num.bottom, denTop: den.top};
      })()"""
    )
    assert box["w"] > 0 and box["h"] > 0, box
    assert box["numBottom"] <= box["denTop"], box


@pytest.mark.slow
def test_report_opens_in_a_browser_with_nothing_broken(browser, report, tmp_path):
    assert _problems(browser, report / "index.html", tmp_path / "report.png") == []
    assert _nav_links(browser) == len(TOPICS.split(",")) + 1  # the topics, then the ledger
    figures = len(list((report / "figures").glob("*.png")))
    assert figures and browser.evaluate("document.images.length") == figures
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_ledger_opens_in_a_browser_with_nothing_broken(browser, report, tmp_path):
    ledger = report / "ledger.html"
    assert ledger.is_file()  # every report writes its claims ledger
    assert _problems(browser, ledger, tmp_path / "ledger.png") == []


def test_compare_page_opens_in_a_browser_with_nothing_broken(browser, compare_dir, tmp_path):
    assert _problems(browser, compare_dir / "index.html", tmp_path / "compare.png") == []
    assert _nav_links(browser) >= 5
    assert browser.evaluate("document.images.length") >= 8


# -------------------------------------------------------------------- negative controls


@pytest.fixture
def broken_copy(report, tmp_path):
    """A copy of the report to break."""
    copy = tmp_path / "report"
    shutil.copytree(report, copy)
    return copy


def _inject(page: Path, html: str) -> None:
    text = page.read_text()
    assert "<main>" in text
    page.write_text(text.replace("<main>", f"<main>{html}", 1))


@pytest.mark.slow
def test_a_missing_image_is_reported(browser, broken_copy, tmp_path):
    gone = sorted((broken_copy / "figures").glob("*.png"))[0]
    gone.unlink()
    problems = _problems(browser, broken_copy / "index.html", tmp_path / "shot.png")
    assert f"image not loaded: figures/{gone.name}" in problems
    assert any(p.startswith("console error:") and gone.name in p for p in problems), problems


@pytest.mark.slow
@pytest.mark.parametrize("formula", ["<math></math>", "<math><mi></mi></math>"])
def test_an_empty_formula_is_reported(browser, broken_copy, tmp_path, formula):
    # A sound formula beside it must not be reported: the check tells the two apart.
    _inject(broken_copy / "index.html", f"<p><math><mi>x</mi></math> {formula}</p>")
    problems = _problems(browser, broken_copy / "index.html", tmp_path / "shot.png")
    assert len(problems) == 1 and problems[0].startswith("formula 2 has an empty box"), problems


@pytest.mark.slow
def test_a_link_to_nowhere_is_reported(browser, broken_copy, tmp_path):
    _inject(broken_copy / "index.html", '<p><a href="#no-such-section">see below</a></p>')
    problems = _problems(browser, broken_copy / "index.html", tmp_path / "shot.png")
    assert problems == ["in-page link #no-such-section names no element"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rule", "fault"),
    [
        ("display: none", "leads to a section with no box"),  # nothing to jump to
        ("position: fixed; top: 3000px", "leaves its section at 3000 px"),  # out of reach
    ],
)
def test_a_navigation_link_that_misses_its_section_is_reported(
    browser, broken_copy, tmp_path, rule, fault
):
    _inject(broken_copy / "index.html", f"<style>main section:last-of-type {{ {rule} }}</style>")
    problems = _problems(browser, broken_copy / "index.html", tmp_path / "shot.png")
    nav = [p for p in problems if p.startswith("navigation link")]
    # The last section is the claims ledger; hidden, its formulas have no box either.
    assert len(nav) == 1, problems
    assert nav[0].startswith("navigation link #the-course-s-claims") and fault in nav[0], nav
    assert all(p.startswith("formula ") for p in problems if p not in nav), problems
