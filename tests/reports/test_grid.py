"""What one run of a grid (comparison or SBC) is given: the options its sampler takes."""

from __future__ import annotations

from bayesmin.reports.grid import options_for


def test_a_grid_gives_each_sampler_only_the_options_it_takes():
    options = {"target_accept": 0.9, "cores": 2}
    assert options_for("nuts", options) == {"target_accept": 0.9}  # NumPyro: no cores
    assert options_for("nuts:pymc", options) == options
    assert options_for("mh", options) == {}


def test_pymc_backed_samplers_run_their_chains_in_the_workers_process():
    assert options_for("nuts:pymc", {}) == {"cores": 1}
    assert options_for("metropolis:pymc", {}) == {"cores": 1}
    # PyMC's ADVI is PyMC-backed but takes no cores: it must not be handed one.
    assert options_for("advi:pymc", {}) == {}
