"""What one run of a grid (comparison or SBC) is given: the options its sampler takes;
and how a grid's folder is resumed when a run file or grid.json is damaged or lost."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from bayesmin import models
from bayesmin.inference.results import finalize, from_arrays
from bayesmin.reports import cli, grid
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


# --------------------------------------------------------------- damaged folders
# The sampler is replaced by a stand-in that makes a small InferenceData at once: these
# tests are about the files of a grid, not about sampling.


def _stand_in(calls):
    def sample(spec, sampler, *, draws, tune, chains, seed, data, progress, **options):
        calls.append((sampler, seed))
        rng = np.random.default_rng(seed)
        idata = from_arrays(
            {"mu": rng.normal(size=(chains, draws))},
            {
                "lp": rng.normal(size=(chains, draws)),
                "acceptance_rate": np.full((chains, draws), 0.5),
                "diverging": np.zeros((chains, draws), bool),
                "n_steps": np.ones((chains, draws)),
            },
        )
        return finalize(idata, sampler=sampler, backend="jax", seed=seed, compile_seconds=0.0,
                        sampling_seconds=0.1, model=spec.name, draws=draws, tune=tune,
                        chains=chains)  # fmt: skip

    return sample


@pytest.fixture
def made(tmp_path, monkeypatch):
    """A finished two-run grid of normal_normal in ``tmp_path/g``; the stand-in's calls."""
    calls = []
    monkeypatch.setattr(grid.inference, "sample", _stand_in(calls))
    spec = models.get("normal_normal")
    data = spec.simulate(0)
    gspec = grid.GridSpec("normal_normal", ("mh",), (0, 1), 20, 20, 2, models.fingerprint(data))
    out = tmp_path / "g"
    grid.run_grid(spec, data, grid.prepare(out, gspec), out)
    assert len(calls) == 2
    calls.clear()
    return spec, data, gspec, out, calls


def test_an_unreadable_run_is_recomputed_and_said_so_once(made):
    spec, data, gspec, out, calls = made
    damaged = grid.run_file(out, "mh", 0)
    damaged.write_bytes(damaged.read_bytes()[:1000])  # a copy cut short
    notes = []
    finished = grid.load_finished(out, gspec, note=notes.append)
    assert list(finished) == ["mh/seed=1"] and finished.unreadable == [damaged]
    assert notes == ["runs/mh__seed0.nc was unreadable; recomputing it"]
    runs, table = grid.run_grid(spec, data, gspec, out, finished=finished)
    assert calls == [("mh", 0)] and len(runs) == 2 and len(table) == 2
    assert not grid.load_finished(out, gspec).unreadable


def test_the_cli_counts_an_unreadable_run_as_one_to_do(made, capsys):
    _, _, _, out, calls = made
    damaged = grid.run_file(out, "mh", 1)
    damaged.write_bytes(b"not netCDF")
    code = cli.main(["compare", "normal_normal", "--samplers", "mh", "--seeds", "0-1",
                     "--draws", "20", "--tune", "20", "--chains", "2", "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "runs/mh__seed1.nc was unreadable; recomputing it" in err
    assert "running 1 run(s) in this process" in err  # not 0: the damaged run is to do
    assert calls == [("mh", 1)]


def test_a_damaged_grid_json_is_rebuilt_from_runs_that_agree(made):
    _, _, gspec, out, _ = made
    (out / "grid.json").write_text('{"model": "normal_nor')  # cut short
    notes = []
    again = grid.prepare(out, replace(gspec, seeds=(2,)), note=notes.append)
    assert again.seeds == (0, 1, 2)  # the runs on disk, and this command's
    assert notes and "was unreadable; rebuilt it" in notes[0]
    assert json.loads((out / "grid.json").read_text())["seeds"] == [0, 1, 2]


def test_runs_made_otherwise_are_never_adopted(made):
    _, _, gspec, out, _ = made
    (out / "grid.json").unlink()
    with pytest.raises(
        ValueError, match=r"is missing, and runs/mh__seed0\.nc was made with draws 20"
    ):
        grid.prepare(out, replace(gspec, draws=50))
    with pytest.raises(ValueError, match="made with other data"):
        grid.prepare(out, replace(gspec, data="another"))
    assert not (out / "grid.json").exists()
    # A run from before runs recorded their grid cannot be matched: refused.
    path = grid.run_file(out, "mh", 0)
    idata = grid._load(path)
    idata.attrs = {k: v for k, v in idata.attrs.items() if not k.startswith("grid_")}
    grid.save_idata(idata, path)
    with pytest.raises(ValueError, match="does not record the data"):
        grid.prepare(out, gspec)
    # Another program's grid.json is not ours to rebuild.
    (out / "grid.json").write_text('{"name": "my grid"}')
    with pytest.raises(ValueError, match="not a bayesmin grid manifest"):
        grid.prepare(out, gspec)


def test_an_unreadable_sbc_record_is_recomputed_and_said_so(tmp_path):
    from bayesmin.reports import sbc

    spec = sbc.SBCSpec("normal_normal", "mh", 12, 0, 20, 20, 2, 19, "data")
    record = {"simulation": 0, "theta": {"mu": 0.0}, "ranks": {"mu": 3}, "ranked_draws": 19}
    for index in range(3):
        sbc.sim_file(tmp_path, index).parent.mkdir(exist_ok=True)
        sbc.sim_file(tmp_path, index).write_text(json.dumps({**record, "simulation": index}))
    sbc.sim_file(tmp_path, 1).write_text('{"simulation": 1, "ra')  # cut short
    notes = []
    finished = sbc.load_finished(tmp_path, spec, note=notes.append)
    assert sorted(finished) == [0, 2]  # so 10 of the 12 are to do, the damaged one too
    assert notes == ["sims/sim00001.json was unreadable; recomputing it"]
    assert sorted(sbc.load_finished(tmp_path, spec, save_runs=True)) == []  # no .nc kept
