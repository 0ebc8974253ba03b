"""The course's claims ledger: coverage of the course, every check passing, negative controls."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bayesmin.reports import ledger
from bayesmin.reports.mathml import tex, typeset

SHARED_COURSE = Path("/work/shared/COURSE.ru.md")


@pytest.fixture(scope="module")
def results():
    # The whole ledger once per module: a few seconds, mostly imports.
    return ledger.evaluate()


def test_course_copy_parses_36_display_formulas():
    assert ledger.COURSE_PATH.is_file()
    if SHARED_COURSE.is_file():
        assert ledger.COURSE_PATH.read_bytes() == SHARED_COURSE.read_bytes()
    text = ledger.course_text()
    assert len(ledger.course_formulas()) == 36 == text.count("$$") // 2


def test_every_display_formula_is_covered():
    assert ledger.uncovered_formulas() == []
    n = len(ledger.course_formulas())
    for claim in ledger.CLAIMS:
        assert all(0 <= i < n for i in claim.course_formulas)


def test_claims_are_well_formed_and_in_course_order():
    text = ledger.normalise_text(ledger.course_text())
    for claim in ledger.CLAIMS:
        assert 1 <= claim.topic <= 10
        assert claim.kind in {"check", "definition", "typo"}
        assert (claim.check is None) == (claim.kind == "definition")
        assert (claim.course_latex is not None) == (claim.kind == "typo"), claim.latex
        assert claim.gloss_en
        # The Russian quote is the course's own words, verbatim (markup and spacing aside).
        assert ledger.normalise_text(claim.quote_ru) in text, claim.quote_ru
    # Course order: the display formulas covered never go backwards.
    covered = [i for c in ledger.CLAIMS for i in c.course_formulas]
    assert covered == sorted(covered)


def test_every_where_names_a_real_attribute():
    for claim in ledger.CLAIMS:
        if claim.where is not None:
            assert claim.where.startswith("bayesmin.")
            assert ledger.resolve(claim.where) is not None


def test_every_formula_typesets():
    for claim in ledger.CLAIMS:
        assert "<math" in tex(claim.latex, display=True)
        # The course's words too: their inline formulas are typeset in the quote.
        quoted = typeset(claim.quote_ru)
        assert "$" not in re.sub(r"<math.*?</math>", "", quoted), claim.quote_ru


def test_every_check_passes(results):
    failed = [
        (r.claim.latex[:60], r.outcome.value)
        for r in results
        if r.outcome is not None and not r.outcome.passed
    ]
    assert failed == []
    assert all(r.outcome is None for r in results if r.claim.kind == "definition")


def test_typo_values_say_what_the_course_writes(results):
    typos = [r for r in results if r.claim.kind == "typo"]
    assert len(typos) >= 10
    for r in typos:
        assert "the course writes" in r.outcome.value
        assert "the standard result is" in r.outcome.value


# ------------------------------------------------------------------ negative controls


def test_beta_update_off_by_one_fails():
    from bayesmin.models.conjugate import beta_binomial_update

    assert ledger.check_beta_update(beta_binomial_update).passed

    def wrong(a, b, successes, trials):
        a1, b1 = beta_binomial_update(a, b, successes, trials)
        return a1 - 1, b1  # α + x − 1

    assert not ledger.check_beta_update(wrong).passed


def test_gamma_update_with_wrong_rate_fails():
    from bayesmin.models.conjugate import gamma_poisson_update

    assert ledger.check_gamma_update(gamma_poisson_update).passed
    assert not ledger.check_gamma_update(lambda a, b, x: (a + sum(x), b)).passed


def test_detailed_balance_fails_without_the_hastings_correction():
    from bayesmin.diagnostics.markov import finite_chain

    chain = finite_chain(K=20)
    assert ledger.check_detailed_balance(chain.P, chain.target).passed
    assert not ledger.check_detailed_balance(chain.P_wrong, chain.target).passed


def test_a_raising_check_is_a_failed_row():
    def boom():
        raise RuntimeError("broken on purpose")

    claim = ledger.Claim(
        topic=1, latex="x", quote_ru="q", gloss_en="g", kind="check", where=None, check=boom
    )
    (row,) = ledger.evaluate([claim])
    assert not row.outcome.passed and "broken on purpose" in row.outcome.value


# ----------------------------------------------------------------------------- page


def test_count_line_and_page(results, tmp_path):
    line = ledger.count_line(results)
    checked = sum(r.outcome is not None for r in results)
    passed = sum(r.outcome is not None and r.outcome.passed for r in results)
    defs = sum(r.claim.kind == "definition" for r in results)
    typos = sum(r.claim.kind == "typo" for r in results)
    assert line == (
        f"{checked} claims checked ({passed} passed), {defs} definitions, "
        f"{typos} course typos corrected"
    )
    path = ledger.write_ledger_page(tmp_path, results)
    assert path == tmp_path / "ledger.html"
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert line in page
    # One display formula per claim (the quotes' inline formulas are inline).
    assert page.count('display="block"') == len(results)
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/1998/Math/MathML"', ""
    )
    assert page.count('class="pass"') == passed
    assert "definition — nothing to compute" in page


def test_html_escapes_text():
    claim = ledger.Claim(
        topic=1,
        latex="x",
        quote_ru="<b>",
        gloss_en="a & b",
        kind="check",
        where=None,
        check=lambda: ledger.Outcome("<script>", True),
    )
    fragment = ledger.ledger_html(ledger.evaluate([claim]))
    assert "&lt;b&gt;" in fragment and "a &amp; b" in fragment and "&lt;script&gt;" in fragment
    assert re.search(r"<script", fragment) is None
    assert np.isfinite(len(fragment))
