"""Every figure of the course report carries a snippet that reproduces its numbers, and
the report's formulas are typeset as MathML."""

from __future__ import annotations

import ast
import importlib
import inspect

import numpy as np
import pytest

from bayesmin.reports.context import Profile
from bayesmin.reports.html import render
from bayesmin.reports.mathml import FormulaError, typeset

TOPICS = range(1, 11)


def _module(number: int):
    return importlib.import_module(f"bayesmin.reports.sections.topic{number}")


def _figure_calls(module) -> list[ast.Call]:
    tree = ast.parse(inspect.getsource(module))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "figure"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "section"
    ]


@pytest.mark.parametrize("number", TOPICS)
def test_every_figure_passes_a_snippet_that_exists(number):
    module = _module(number)
    calls = _figure_calls(module)
    assert calls, f"topic {number} draws no figure"
    for call in calls:
        code = next((k.value for k in call.keywords if k.arg == "code"), None)
        assert code is not None, f"topic {number}, line {call.lineno}: figure without code="
        assert isinstance(code, ast.Subscript) and ast.unparse(code.value) == "SNIPPETS"
        key = code.slice
        if isinstance(key, ast.Constant):  # f-string keys are checked by the section builds
            assert key.value in module.SNIPPETS, (number, key.value)


def _all_snippets() -> dict[str, str]:
    return {f"topic{n}:{name}": src for n in TOPICS for name, src in _module(n).SNIPPETS.items()}


def test_every_snippet_compiles_and_uses_the_public_api():
    snippets = _all_snippets()
    assert len(snippets) >= 41  # one per figure of the report
    for label, src in snippets.items():
        compile(src, label, "exec")
        assert "bayesmin" in src, label
        assert "reports" not in src, f"{label} reaches into the report's own code"


# The cheapest snippets (well under a second each, no sampler compiled), and the
# variable each leaves behind.
RUN = {
    "topic7:mc-convergence": "pi_hat",
    "topic7:importance-weights": "weights",
    "topic4:sinc-fit": "rms",
    "topic3:beta_binomial-update": "posterior",
}


@pytest.mark.parametrize("label", sorted(RUN))
def test_snippet_runs_and_gives_the_numbers(label):
    namespace: dict = {}
    exec(compile(_all_snippets()[label], label, "exec"), namespace)  # a fresh namespace
    value = namespace[RUN[label]]
    if label == "topic7:mc-convergence":
        assert abs(value - np.pi) < 0.01
    elif label == "topic7:importance-weights":
        assert all(np.isclose(w.sum(), 1.0) for w in value.values())
    elif label == "topic4:sinc-fit":
        assert value < 0.1
    else:
        a, b = value
        assert a > 0 and b > 0


def test_formulas_of_every_section_constant_typeset():
    # The text held in module constants (introductions, conjugate updates); the f-string
    # texts are typeset when the sections build.
    for n in TOPICS:
        module = _module(n)
        for name, value in vars(module).items():
            if name.startswith("_") and name.isupper() and isinstance(value, str):
                typeset(value, raw=True)
        for pair in getattr(module, "PAIRS", {}).values():
            typeset(pair.update, raw=True)
    with pytest.raises(FormulaError):
        typeset(r"$\notacommand x$")


@pytest.mark.slow
def test_a_built_section_has_mathml_and_reproduce_blocks(tmp_path, build_section):
    from bayesmin.reports.sections import topic2

    profile = Profile("test", draws=200, tune=200, chains=2, samplers=("nuts:numpyro",))
    section = build_section(topic2, 2, tmp_path, profile)
    assert section.error is None
    page = render([section], title="t")
    assert page.count("<math") >= 10
    assert "FormulaError" not in page and "$" not in page.replace("\\$", "")
    assert page.count("<summary>Reproduce</summary>") == 2
    assert "<code>" not in section.blocks[0].html  # the introduction's formulas are MathML
