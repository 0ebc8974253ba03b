"""``bayesmin fit vae|ddpm``: train a network, checkpoint as it goes, write metrics and figures.

The output folder holds everything a run needs to resume: ``checkpoint.npz`` (parameters,
optimiser state, step count, written atomically after every chunk of steps) and
``losses.csv`` (the loss of every step so far). Rerunning the same command continues from
the last chunk — an interrupted training loses at most one chunk — and a finished run is
not trained again (its metrics and figures are recomputed). A checkpoint written with other
settings (profile, data set, seed) is refused with a message, never overwritten.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from .checkpoint import load_checkpoint, save_checkpoint
from .html import write_atomic
from .tables import csv_text

__all__ = [
    "DATASETS",
    "NEURAL_MODELS",
    "PROFILES",
    "NeuralRun",
    "fit_neural",
    "make_run",
    "start_state",
]

NEURAL_MODELS = ("vae", "ddpm")
PROFILES = ("quick", "full")
DATASETS = ("moons", "swissroll", "digits")


@dataclass
class NeuralRun:
    """A trainer with its data and the settings that identify its checkpoint."""

    model: str
    trainer: Any
    data: dict[str, Any]
    header: dict[str, Any]
    profile: str
    metrics: Callable[[Any, int], dict[str, Any]]
    figures: Callable[[Any, Any, dict[str, Any]], dict[str, Any]]


def make_run(model: str, *, profile: str, dataset: str | None, seed: int) -> NeuralRun:
    """The trainer for ``model`` (``vae`` or ``ddpm``) with a profile's settings.

    Raises
    ------
    ValueError
        Unknown model, profile or data set, or a data set given to the VAE.
    """
    if model not in NEURAL_MODELS:
        raise ValueError(f"{model!r} is not a network model; those are {', '.join(NEURAL_MODELS)}")
    # The VAE has profiles of its own beyond these (its convolutional one), checked below.
    if model != "vae" and profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    if model == "vae":
        from ..diagnostics.digits import vae_digit_metrics
        from ..inference import svi
        from ..models import vae
        from .sections import topic9

        if profile not in svi.VAE_PROFILES:
            raise ValueError(
                f"unknown profile {profile!r}; use one of {', '.join(svi.VAE_PROFILES)}"
            )
        if dataset not in (None, "digits"):
            raise ValueError(f"the VAE trains on the digits only; drop --dataset {dataset}")
        config = svi.VAE_PROFILES[profile]
        data = vae.digits(seed=0)
        trainer = svi.VAETrainer(config, data)
        figures = topic9.figures

        def metrics(state, seed):
            # The bounds say how much probability the model gives real digits; the
            # digit metric how digit-like its own samples are. Both belong in one file.
            return {**trainer.metrics(state, seed), **vae_digit_metrics(trainer, state, seed=seed)}

        dataset = "digits"
    else:
        from ..diagnostics.distance import ddpm_metrics
        from ..inference import diffusion
        from ..models import diffusion as ddpm_data
        from .sections import topic10

        dataset = dataset or "moons"
        if dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; use one of {', '.join(DATASETS)}")
        config = diffusion.ddpm_config(dataset, profile)
        data = ddpm_data.dataset(dataset, seed=0)
        trainer = diffusion.DDPMTrainer(config, data)

        def metrics(state, seed):
            return ddpm_metrics(trainer, state, seed=seed)

        def figures(trainer, state, data):
            # The metrics' draw, as the report does (the trainer keeps its last one): a
            # new draw of 1,000 took 58 s of a 100 s quick run on the digits.
            return topic10.figures(trainer, state, data, n=config.n_eval, seed=seed)

    # What fixes the trajectory: the trainer's own header (which settings count is its
    # business: the VAE's leaves out ``steps``, so a longer run can extend a shorter one)
    # and the seed. The profile's name is not part of it: only the settings it stands for.
    header = {**config.header(), "model": model, "dataset": dataset, "seed": int(seed)}
    return NeuralRun(model, trainer, data, header, profile, metrics, figures)


def start_state(run: NeuralRun, out: str | Path, seed: int):
    """Where training starts: ``out``'s checkpoint if there is one, else a fresh state.

    Raises
    ------
    reports.checkpoint.CheckpointError
        When the checkpoint in ``out`` belongs to a run with other settings.
    """
    state = run.trainer.init(seed)
    ckpt = Path(out) / "checkpoint.npz"
    return load_checkpoint(ckpt, state, run.header) if ckpt.exists() else state


def _read_losses(path: Path, done: int) -> list[float]:
    if not path.exists() or done == 0:
        return []
    losses = pd.read_csv(path)["loss"].to_numpy()
    # The checkpoint is the truth: losses written after its chunk belong to no state.
    return list(losses[:done])


def fit_neural(
    run: NeuralRun,
    out: str | Path,
    *,
    seed: int,
    on_progress: Callable[[int, int, float], None] | None = None,
    chunk: int | None = None,
) -> list[Path]:
    """Train (or resume) ``run`` into ``out``; write metrics.json, losses.csv and figures.

    Parameters
    ----------
    run : NeuralRun
        From :func:`make_run`.
    out : path
        Output folder; its ``checkpoint.npz``, if any, is resumed.
    seed : int
        Initialisation and minibatch seed (part of the checkpoint's identity).
    on_progress : callable, optional
        ``on_progress(step, total, running_loss)`` after every chunk (and once at start).
    chunk : int, optional
        Steps per compiled call, and so per checkpoint (default: the config's ``chunk``).

    Returns
    -------
    list of Path
        The files written.
    """
    from ..inference.training import train

    out = Path(out)
    ckpt, loss_path = out / "checkpoint.npz", out / "losses.csv"
    trainer = run.trainer
    total = int(trainer.config.steps)
    chunk = int(chunk or getattr(trainer.config, "chunk", 100))
    state = start_state(run, out, seed)
    losses = _read_losses(loss_path, int(state.step))
    if on_progress is not None:
        on_progress(int(state.step), total, float(np.mean(losses[-chunk:])) if losses else np.nan)

    def write_losses() -> None:
        frame = pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses})
        write_atomic(loss_path, csv_text(frame, index=False))

    def callback(state, chunk_losses) -> None:
        losses.extend(np.asarray(chunk_losses, dtype=float).tolist())
        save_checkpoint(ckpt, state, run.header)
        write_losses()
        if on_progress is not None:
            on_progress(int(state.step), total, float(np.mean(chunk_losses)))

    start = time.perf_counter()
    # The trainer's own minibatch key, so this run and ``trainer.fit`` with the same
    # seed take the same steps.
    key = trainer.train_key(seed)
    state, _ = train(
        trainer.step, state, total, key=key, chunk=chunk, callback=callback,
        per_step=getattr(trainer, "per_step", False),
    )  # fmt: skip
    train_seconds = time.perf_counter() - start
    written = [ckpt, loss_path] if ckpt.exists() else []

    metrics = {k: _jsonable(v) for k, v in run.metrics(state, seed).items()}
    metrics.update(
        {
            "model": run.model,
            "dataset": run.header["dataset"],
            "profile": run.profile,
            "seed": int(seed),
            "steps": int(state.step),
            "train_seconds_this_call": round(train_seconds, 3),
            "device": jax.devices()[0].platform,
            "config": run.trainer.config.header(),
        }
    )
    written.append(write_atomic(out / "metrics.json", json.dumps(metrics, indent=2)))
    for name, fig in run.figures(trainer, state, run.data).items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
        written.append(write_atomic(out / f"{name}.png", buffer.getvalue()))
    return written


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic | jax.Array) and np.ndim(value) == 0:
        return float(value) if np.issubdtype(np.asarray(value).dtype, np.floating) else value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
