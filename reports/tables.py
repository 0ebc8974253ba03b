"""CSV outputs that a spreadsheet opens as data, never as formulas.

A cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is
run as a formula by Excel, LibreOffice and Google Sheets ("CSV injection"). bayesmin's
tables carry strings the user chose (column and feature names, task and worker ids,
the names of a model's variables), so every CSV under ``reports/`` is written by
:func:`csv_text`, which prefixes such a string with a single quote, as OWASP
recommends. Numbers are never touched (``-1.5`` stays a number), nor is a string that
is itself a plain number (an id ``-3``): a spreadsheet reads that as the number it is.

References
----------
OWASP, "CSV Injection", https://owasp.org/www-community/attacks/CSV_Injection
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["csv_text", "safe_cell"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value``, or ``"'" + value`` for a string a spreadsheet would run as a formula.

    Examples
    --------
    >>> safe_cell("=HYPERLINK(0)"), safe_cell("-2+3"), safe_cell("-3"), safe_cell(-3)
    ("'=HYPERLINK(0)", "'-2+3", '-3', -3)
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)  # a plain number written as text ("-3", "+1e5")
    except ValueError:
        return "'" + value
    return value


def _safe_index(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        levels = [lvl.map(safe_cell) if lvl.dtype == object else lvl for lvl in index.levels]
        return index.set_levels(levels).set_names([safe_cell(n) for n in index.names])
    if pd.api.types.is_numeric_dtype(index) or pd.api.types.is_bool_dtype(index):
        return index.set_names(safe_cell(index.name))
    return pd.Index([safe_cell(v) for v in index], name=safe_cell(index.name))


def csv_text(table: pd.DataFrame, *, index: bool = True, **to_csv: Any) -> str:
    """``table.to_csv(index=index, **to_csv)`` with every formula-like string escaped
    (:func:`safe_cell`): the column names, the index (when written) and the cells of
    every text column; numeric columns as they are."""
    safe = table.copy(deep=False)
    safe.columns = _safe_index(safe.columns)
    if index:
        safe.index = _safe_index(safe.index)
    for i in range(safe.shape[1]):  # by position: escaped names may repeat
        values = safe.iloc[:, i]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            safe.isetitem(i, values.map(safe_cell))
    return safe.to_csv(index=index, **to_csv)
