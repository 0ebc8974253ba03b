"""``bayesmin fit vae|ddpm``: outputs, resume after an interruption, refused checkpoints.

Tiny settings stand in for the profiles (the real ones take tens of seconds).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from bayesmin.inference import diffusion, svi
from bayesmin.reports import cli, neural

TINY_VAE = dataclasses.replace(
    svi.VAE_PROFILES["quick"], steps=300, hidden=32, iwae_k=20, elbo_k=4, grad_samples=20
)

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow


def _tiny_ddpm(dataset="moons", profile="quick", **overrides):
    settings = {"steps": 200, "hidden": 32, "depth": 1, "chunk": 100, "n_eval": 200, "T": 50}
    return diffusion.DDPMConfig(dataset=dataset, **{**settings, **overrides})


@pytest.fixture(autouse=True)
def tiny_profiles(monkeypatch):
    monkeypatch.setitem(svi.VAE_PROFILES, "quick", TINY_VAE)
    monkeypatch.setattr(diffusion, "ddpm_config", _tiny_ddpm)


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fit_vae_writes_metrics_figures_and_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "vae"
    code, stdout, err = run(["fit", "vae", "--out", out], capsys)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    digit_keys = (
        "frechet_distance",
        "frechet_distance_means",
        "digit_confidence",
        "digit_class_entropy",
        "frechet_distance_floor_binarised",
    )
    for key in ("test_elbo", "test_iwae", "baseline_independent_pixels", *digit_keys):
        assert np.isfinite(metrics[key]), key
    assert len(metrics["digit_class_histogram"]) == 10 and metrics["digit_n"] == 360
    assert metrics["steps"] == TINY_VAE.steps and metrics["profile"] == "quick"
    assert len(pd.read_csv(out / "losses.csv")) == TINY_VAE.steps
    for name in ("reconstructions", "prior-samples", "latent-map"):
        assert (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert str(out / "metrics.json") in stdout

    # A finished run is not trained again: same state, same metrics.
    before = (out / "checkpoint.npz").read_bytes()
    code, _, err = run(["fit", "vae", "--out", out], capsys)
    assert code == 0, err
    assert (out / "checkpoint.npz").read_bytes() == before
    assert json.loads((out / "metrics.json").read_text())["test_iwae"] == metrics["test_iwae"]


def test_an_interrupted_training_resumes_to_the_same_result(tmp_path, capsys):
    whole = tmp_path / "whole"
    assert run(["fit", "ddpm", "--dataset", "moons", "--out", whole], capsys)[0] == 0

    # Interrupt after the first chunk, as Ctrl-C would, then rerun the command.
    part = tmp_path / "part"
    trainer_run = neural.make_run("ddpm", profile="quick", dataset="moons", seed=0)

    def interrupt(step, total, loss):
        if step >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        neural.fit_neural(trainer_run, part, seed=0, on_progress=interrupt)
    assert len(pd.read_csv(part / "losses.csv")) == 100
    assert not (part / "metrics.json").exists()
    code, _, err = run(["fit", "ddpm", "--dataset", "moons", "--out", part], capsys)
    assert code == 0, err

    np.testing.assert_array_equal(
        pd.read_csv(part / "losses.csv")["loss"], pd.read_csv(whole / "losses.csv")["loss"]
    )
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (whole, part))
    assert a["distance"] == b["distance"] and a["metric"] == b["metric"]
    assert (part / "samples.png").exists()


def test_a_checkpoint_of_other_settings_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "ddpm"
    assert run(["fit", "ddpm", "--out", out], capsys)[0] == 0
    before = (out / "checkpoint.npz").read_bytes()
    code, _, err = run(["fit", "ddpm", "--seed", 1, "--out", out], capsys)
    assert code == 2
    assert "other settings (seed: 0 there, 1 now)" in err and "--out" in err
    assert len(err.strip().splitlines()) == 1
    assert (out / "checkpoint.npz").read_bytes() == before


BAD = [
    (["fit", "vae", "--data", "x.csv"], "drop --data"),
    (["fit", "vae", "--method", "nuts"], "drop --method"),
    (["fit", "vae", "--dataset", "moons"], "digits only"),
    (["fit", "vae", "--profile", "huge"], "unknown profile 'huge'; use one of quick, full, conv"),
    (["fit", "ddpm", "--profile", "conv"], "unknown profile 'conv'; use one of quick, full"),
    (["fit", "ddpm", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["fit", "gamma_poisson", "--profile", "quick"], "--profile is for the networks"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD, ids=[n for _, n in BAD])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    code, _, err = run([*argv, "--out", out], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err
    assert not out.exists()


def test_the_figures_reuse_the_metrics_draw(tmp_path, capsys, monkeypatch):
    # Algorithm 2 runs its T steps once per command: the figures show the metrics' draw.
    calls = []
    sample_fn = diffusion.DDPMTrainer._sample_fn

    def counted(self, params, key, n):
        calls.append(n)  # runs when traced: once per compiled draw
        return sample_fn(self, params, key, n)

    monkeypatch.setattr(diffusion.DDPMTrainer, "_sample_fn", counted)
    assert run(["fit", "ddpm", "--dataset", "moons", "--out", tmp_path / "d"], capsys)[0] == 0
    assert calls == [200]  # n_eval; a second size would be a second draw
    assert (tmp_path / "d" / "samples.png").stat().st_size > 0


FIT_PROCESS = """
import sys
from bayesmin.reports import cli
code = cli.main(sys.argv[1:])
print(code, "pymc" in sys.modules, "arviz" in sys.modules)
"""


@pytest.mark.parametrize("model", ["ddpm", "normal_normal"])
def test_a_network_fit_never_imports_pymc(tmp_path, model):
    # `fit vae|ddpm` trains with JAX alone: the command's process must not pay for PyMC
    # and ArviZ (seconds, ~170 MB at its peak). A bad --dataset stops it after the
    # registry lookup and the libraries' set-up, which is where they used to come in; a
    # PyMC model's fit, refused the same way, is the negative control.
    import subprocess
    import sys

    args = ["fit", model, "--dataset", "nope", "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-c", FIT_PROCESS, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    code, pymc, arviz = done.stdout.split()[-3:]
    assert code == "2", done.stderr
    assert pymc == arviz == str(model != "ddpm"), done.stderr
