"""The README's Python tour runs as written (docs that run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the SBC example writes its folder here
    blocks = python_blocks()
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # The tour's comparison covers the four NUTS backends against the exact posterior.
    table = namespace["diagnostics"].compare(namespace["runs"], reference=namespace["exact"])
    assert len(table) == 4
    assert (table["max_abs_z"] < 4).all()
    # The SBC example's deliberately narrow "sampler" is flagged.
    assert not namespace["summary"]["calibrated"].any()


def test_ci_runs_the_readme_test_command_which_installs_the_browser():
    commands = re.findall(r"```bash\n(.*?)\n```", README.read_text(), flags=re.S)
    test_command = next(c for c in commands if "pytest -n 2 --dist loadfile" in c)
    ci = README.with_name(".ci") / "run"
    assert ci.read_text().strip().splitlines()[-1] == test_command
    # The browser test's Chromium comes from this script, run before the suite.
    assert "tests/browser/install-chromium && " in test_command
    assert README.with_name("tests").joinpath("browser", "install-chromium").stat().st_mode & 0o111
