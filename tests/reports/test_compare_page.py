"""The comparison page's tables: verdicts, medians with spread."""

import numpy as np
import pandas as pd

from bayesmin import diagnostics
from bayesmin.reports.compare_page import verdicts
from bayesmin.reports.grid import summarise


def _table():
    rows = []
    for sampler, rhat, div in (("good", 1.002, 0), ("bad", 1.05, 3)):
        for seed in range(4):
            row = dict.fromkeys(diagnostics.COMPARE_COLUMNS, 1.0)
            row.update(
                sampler=sampler,
                seed=seed,
                rhat_max=rhat,
                ess_bulk_min=1000.0 + 100 * seed,
                divergences=div if seed == 0 else 0,
                max_abs_z=0.5 * seed,
            )
            rows.append(row)
    table = pd.DataFrame(rows)
    table["error"] = ""
    return table


def test_verdict_passes_the_good_sampler_and_names_what_fails():
    v = verdicts(_table())
    assert v.loc["good", "verdict"] == "pass"
    assert "R-hat" in v.loc["bad", "verdict"] and "3 divergences" in v.loc["bad", "verdict"]


def test_summary_gives_median_and_interquartile_range_over_seeds():
    s = summarise(_table(), ["good", "bad"])
    assert list(s.index) == ["good", "bad"]
    ess = np.array([1000.0, 1100.0, 1200.0, 1300.0])
    assert s.loc["good", "ess_bulk_min (median)"] == np.median(ess)
    lo, hi = np.quantile(ess, [0.25, 0.75])
    assert s.loc["good", "ess_bulk_min (IQR)"] == f"{lo:.3g}–{hi:.3g}"
    assert s.loc["bad", "divergences (total)"] == 3 and s.loc["good", "runs"] == 4
