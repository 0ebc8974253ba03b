"""Checkpoints of a training run: one ``.npz`` of the state's leaves, written atomically.

A checkpoint stores the leaves of a pytree (parameters, optimiser state, step count) in
flattening order, plus a JSON header saying what run wrote it. Loading puts the leaves
back into a *template* with the same structure — built the way the run builds its fresh
state — and refuses one whose settings, structure, shapes or dtypes differ, so a resumed
run can never silently continue a different model.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .html import write_atomic

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

_HEADER = "__header__"


class CheckpointError(ValueError):
    """A checkpoint that cannot resume this run."""


def save_checkpoint(path: str | Path, state: Any, header: dict[str, Any]) -> Path:
    """Write ``state``'s leaves and ``header`` (JSON-able run settings) to ``path``."""
    leaves = jax.tree_util.tree_leaves(state)
    arrays = {f"leaf{i:05d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays[_HEADER] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path, template: Any, header: dict[str, Any]) -> Any:
    """The state saved at ``path``, in ``template``'s structure.

    Raises
    ------
    CheckpointError
        When the file was written by a run with other settings (``header`` differs) or
        its arrays do not fit ``template``; the message says to use a new output folder.
    """
    path = Path(path)
    fix = f"use a new --out folder, or delete {path} to start afresh"
    try:
        with np.load(path) as saved:
            arrays = {k: saved[k] for k in saved.files}
    except Exception as err:  # a truncated or foreign file: say which, not a zipfile trace
        raise CheckpointError(f"cannot read checkpoint {path} ({err}); {fix}") from None
    try:
        stored = json.loads(arrays.pop(_HEADER).tobytes().decode())
    except KeyError:
        raise CheckpointError(f"{path} is not a bayesmin checkpoint; {fix}") from None
    wanted = json.loads(json.dumps(header, sort_keys=True))
    if stored != wanted:
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        shown = ", ".join(f"{k}: {stored.get(k)!r} there, {wanted.get(k)!r} now" for k in diff)
        raise CheckpointError(f"checkpoint {path} was written with other settings ({shown}); {fix}")
    leaves, treedef = jax.tree_util.tree_flatten(template)
    if len(arrays) != len(leaves):
        raise CheckpointError(
            f"checkpoint {path} holds {len(arrays)} arrays, this run has {len(leaves)}; {fix}"
        )
    restored = []
    for i, leaf in enumerate(leaves):
        arr = arrays[f"leaf{i:05d}"]
        if arr.shape != np.shape(leaf) or arr.dtype != np.asarray(leaf).dtype:
            raise CheckpointError(
                f"checkpoint {path}: array {i} is {arr.dtype}{list(arr.shape)}, this run "
                f"expects {np.asarray(leaf).dtype}{list(np.shape(leaf))}; {fix}"
            )
        restored.append(jax.numpy.asarray(arr))
    return jax.tree_util.tree_unflatten(treedef, restored)
