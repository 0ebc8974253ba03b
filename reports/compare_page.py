"""The page ``bayesmin compare`` writes, ``DIR/index.html``: now built by
:mod:`reports.run_page`; this module keeps the names it had."""

from __future__ import annotations

from .run_page import bias_table, verdicts, write_compare_page

__all__ = ["bias_table", "verdicts", "write_page"]


# The former name of the page writer, kept for callers of this module.
write_page = write_compare_page
