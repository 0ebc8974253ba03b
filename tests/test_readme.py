"""The README's Python tour runs as written (docs that run)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_python_blocks_run():
    blocks = python_blocks()
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # The tour's comparison covers the four NUTS backends against the exact posterior.
    table = namespace["diagnostics"].compare(namespace["runs"], reference=namespace["exact"])
    assert len(table) == 4
    assert (table["max_abs_z"] < 4).all()
