"""The page ``bayesmin compare`` writes, ``DIR/index.html``: now built by
:mod:`reports.run_page`; this module keeps the names it had."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import arviz as az
import pandas as pd

from .run_page import bias_table, verdicts, write_compare_page

__all__ = ["bias_table", "verdicts", "write_page"]


def write_page(
    out: Path,
    model: str,
    runs: Mapping[str, az.InferenceData],
    table: pd.DataFrame,
    samplers: Sequence[str],
    reference: Mapping[str, Any] | None = None,
    *,
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """:func:`reports.run_page.write_compare_page` under its former name."""
    return write_compare_page(out, model, runs, table, samplers, reference, provenance=provenance)
