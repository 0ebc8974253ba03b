"""Each report section is built in a process of its own (``build_report(isolate=True)``).

The section's memory goes back to the system when its process ends; a section whose
process dies (the out-of-memory killer, a crash in compiled code) is shown with the
reason and the others still build. Cheap stand-in topics (modules written here) keep
the test to the process mechanics.
"""

from __future__ import annotations

import multiprocessing
import textwrap

import pytest

from bayesmin.reports import report

FINE = """
def build(section, context):
    context.progress("halfway")
    section.text("built in a process of its own: $x^2$")
"""
CRASHING = """
import os

def build(section, context):
    context.progress("about to die")
    os._exit(3)  # as the out-of-memory killer leaves it: no exception, no result
"""


def test_a_dead_section_process_is_reported_and_the_others_build(tmp_path, monkeypatch):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fine_topic.py").write_text(textwrap.dedent(FINE))
    (modules / "crashing_topic.py").write_text(textwrap.dedent(CRASHING))
    monkeypatch.syspath_prepend(str(modules))  # spawn passes sys.path to the child
    monkeypatch.setitem(report.BUILDERS, 2, "fine_topic")
    monkeypatch.setitem(report.BUILDERS, 7, "crashing_topic")
    # Spawn, not the preloading forkserver: the stand-in modules load in the child.
    monkeypatch.setattr(
        report, "_worker_context", lambda topics: multiprocessing.get_context("spawn")
    )
    steps = []
    page, sections = report.build_report(
        tmp_path / "out", [7, 2], progress=lambda n, m: steps.append((n, m)), ledger=False
    )
    crashed, fine = sections  # in the page's order, whichever finished first (jobs=2)
    assert "ended without it (exit code 3" in crashed.error
    assert fine.error is None and fine.seconds > 0
    assert (7, "about to die") in steps and (2, "halfway") in steps
    text = page.read_text()
    assert "built in a process of its own" in text and "<math" in text
    assert "This section failed" in text  # the dead one is on the page, with its reason


def test_in_process_and_isolated_sections_are_the_same(tmp_path, monkeypatch):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fine_topic.py").write_text(textwrap.dedent(FINE))
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.setitem(report.BUILDERS, 2, "fine_topic")
    monkeypatch.setattr(
        report, "_worker_context", lambda topics: multiprocessing.get_context("spawn")
    )
    _, (isolated,) = report.build_report(tmp_path / "a", [2], ledger=False)
    _, (local,) = report.build_report(tmp_path / "b", [2], ledger=False, isolate=False)
    assert [b.html for b in isolated.blocks] == [b.html for b in local.blocks]
    assert isolated.heading == local.heading and isolated.error is local.error is None


def test_jobs_must_be_a_whole_number_of_at_least_one(tmp_path):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs must be a whole number >= 1"):
            report.build_report(tmp_path / "out", [2], jobs=bad)
    assert not (tmp_path / "out").exists()  # refused before any folder is made


CLI_PROCESS = """
import functools, multiprocessing, sys
from bayesmin.reports import cli, report

report.BUILDERS[2] = "fine_topic"
report._worker_context = lambda topics: multiprocessing.get_context("spawn")
report.build_report = functools.partial(report.build_report, ledger=False)
code = cli.main(["report", "--topics", "2", "--out", sys.argv[1]])
heavy = sorted({"arviz", "jax", "matplotlib", "pymc", "pytensor"} & set(sys.modules))
print(code, ",".join(heavy) or "none")
"""


def test_the_report_commands_own_process_imports_no_modelling_stack(tmp_path):
    # The sections run in worker processes; the command's own process only renders the
    # page, so it must not pay for PyMC and JAX (0.3 GB resident, beside two workers).
    import subprocess
    import sys

    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fine_topic.py").write_text(textwrap.dedent(FINE))
    env = {**__import__("os").environ, "PYTHONPATH": str(modules)}
    done = subprocess.run(
        [sys.executable, "-c", CLI_PROCESS, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    code, heavy = done.stdout.split()[-2:]
    assert (code, heavy) == ("0", "none")
    assert "built in a process of its own" in (tmp_path / "out" / "index.html").read_text()
