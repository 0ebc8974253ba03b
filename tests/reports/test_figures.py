"""Figures are drawn without pyplot: importing bayesmin.reports and drawing every kind of
figure (ArviZ's included) leaves matplotlib's backend and pyplot's figure list alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bayesmin.reports import figures

# Run in a fresh process without MPLBACKEND (the suite's conftest sets it), so matplotlib
# resolves its backend as it would in Jupyter or a script. ``get_backend(auto_select=False)``
# is None until something picks a backend; the resolved ``get_backend()`` would hide a
# switch to Agg on a headless machine, where Agg is also what auto-selection picks.
SCRIPT = textwrap.dedent(
    """
    import importlib, json, pathlib, pkgutil, sys

    import matplotlib

    before = matplotlib.get_backend(auto_select=False)

    import bayesmin.reports

    names = [m.name for m in pkgutil.walk_packages(bayesmin.reports.__path__, "bayesmin.reports.")]
    for name in names:
        importlib.import_module(name)

    import arviz as az
    import numpy as np
    import pandas as pd

    from bayesmin.reports import figures, run_page

    rng = np.random.default_rng(0)
    idata = az.from_dict(
        posterior={"mu": rng.normal(size=(2, 60)), "theta": rng.normal(size=(2, 60, 3))},
        sample_stats={
            "diverging": rng.random((2, 60)) < 0.05,
            "energy": rng.normal(size=(2, 60)),
        },
    )
    worst = ["theta[1]", "mu", "theta[2]"]
    table = pd.DataFrame(
        {
            "sampler": ["a", "b"],
            "ess_bulk_min": [400.0, 900.0],
            "compile_seconds": [1.0, 2.0],
            "sampling_seconds": [0.5, 0.4],
            "ess_bulk_per_second": [800.0, 2250.0],
        }
    )
    ranks = pd.DataFrame({"parameter": ["mu"] * 30, "rank": rng.integers(0, 10, 30)})
    drawn = {
        "trace": figures.trace_plot(idata),
        "rank": figures.rank_plot(idata),
        "forest": figures.forest({"a": idata, "b": idata}),
        "bars": figures.ess_per_second_bars(table),
        "ecdf": figures.sbc_ecdf_difference(ranks, 9),
        "worst_trace": run_page.trace_figure(idata, worst),
        "worst_rank": run_page.rank_figure(idata, worst),
        "ess_evolution": run_page.ess_evolution_figure(idata, worst, 400),
        "autocorr": run_page.autocorr_figure(idata, worst),
        "energy": run_page.energy_figure(idata),
        "pair": run_page.pair_figure(idata, worst),
    }
    out = pathlib.Path(sys.argv[1])
    for name, fig in drawn.items():
        fig.savefig(out / f"{name}.png")

    import matplotlib.pyplot as plt

    print(json.dumps({
        "before": before,
        "after": matplotlib.get_backend(auto_select=False),
        "fignums": plt.get_fignums(),
        "modules": names,
        "axes": {name: len(fig.axes) for name, fig in drawn.items()},
    }))
    """
)


@pytest.mark.slow
def test_reports_draw_without_pyplot_or_a_backend_switch(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["after"] == result["before"], "a bayesmin module chose a matplotlib backend"
    assert result["fignums"] == [], "a figure went through pyplot"
    assert {"bayesmin.reports.figures", "bayesmin.reports.cli"} <= set(result["modules"])
    assert any(m.startswith("bayesmin.reports.sections.") for m in result["modules"])
    # ArviZ drew on the axes it was given: two variables -> 2 x 2 trace panels, and one
    # rank panel per scalar element (mu, theta[0..2]).
    assert result["axes"]["trace"] == 4 and result["axes"]["rank"] == 4
    # The run page's figures: one row or panel per parameter asked for (three of the four),
    # per chain for autocorrelations; a lower-triangle pair grid.
    assert result["axes"]["worst_trace"] == 6 and result["axes"]["worst_rank"] == 3
    assert result["axes"]["autocorr"] == 6 and result["axes"]["pair"] == 3
    for name in result["axes"]:
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")


def test_subplots_has_pyplots_shapes():
    fig, ax = figures.subplots(figsize=(3, 2))
    assert ax.figure is fig and tuple(fig.get_size_inches()) == (3, 2)
    _, axes = figures.subplots(2, 3, sharey=True)
    assert axes.shape == (2, 3)
    _, axes = figures.subplots(1, 1, squeeze=False)
    assert isinstance(axes, np.ndarray) and axes.shape == (1, 1)


def test_digit_grid_titles_each_image_and_hides_the_spare_axes():
    images = np.linspace(-1, 1, 64)[None, :].repeat(13, axis=0)
    labels, confidences = list(range(13)), np.linspace(0.1, 0.99, 13)
    fig = figures.digit_grid(images, labels, confidences, ncols=5, title="t")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 15 and len(shown) == 13  # 3 rows of 5, two spare
    assert [ax.get_title() for ax in shown[:2]] == ["0 0.10", "1 0.17"]
    image = shown[0].images[0]
    assert image.get_array().shape == (8, 8) and image.get_clim() == (-1.0, 1.0)
    bare = figures.digit_grid(images[:3])  # no labels: untitled images, one row
    assert len(bare.axes) == 3 and all(ax.get_title() == "" for ax in bare.axes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"images": np.zeros((4, 63))}, r"images must be \(n, 64\)"),
        ({"images": np.zeros((4, 64)), "labels": [1, 2]}, "labels has 2 entries for 4 images"),
        ({"images": np.zeros((4, 64)), "ncols": 0}, "ncols must be >= 1"),
    ],
)
def test_digit_grid_refuses_mismatched_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        figures.digit_grid(**kwargs)
