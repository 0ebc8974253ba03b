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
