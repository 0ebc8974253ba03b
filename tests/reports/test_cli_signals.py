"""The ``bayesmin`` script as a user runs it: Ctrl-C and SIGTERM, a local Dask cluster's
noise, and an unwritable home folder. Each test runs the real script in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import arviz as az
import pandas as pd
import psutil
import pytest

from bayesmin.reports.interrupts import MESSAGE

BAYESMIN = [sys.executable, "-m", "bayesmin"]  # what the console script runs: cli.run()
# The same, with Python's own SIGINT handling even where the test run was started with
# SIGINT ignored (a background job of a non-interactive shell), as a terminal gives it.
INTERRUPTIBLE = [
    sys.executable, "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'bayesmin'; from bayesmin.reports.cli import run; run()",
]  # fmt: skip
GRID = ["--samplers", "nuts", "--chains", "2", "--draws", "200", "--tune", "200"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "BAYESMIN_CACHE": str(tmp_path / "cache"),
        **extra,
    }


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [*INTERRUPTIBLE, *map(str, args)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _runs(out: Path) -> list[Path]:
    """Finished runs (a run being written is a hidden temporary file beside them)."""
    folder = out / "runs"
    found = folder.glob("*.nc") if folder.is_dir() else []
    return sorted(p for p in found if not p.name.startswith("."))


def _interrupt_after_first_run(
    proc: subprocess.Popen, out: Path, sig: int, *, group: bool = False
) -> tuple[str, list[psutil.Process]]:
    """Wait for the first finished run, record the command's child processes, send
    ``sig`` (to the whole process group, as a terminal's Ctrl-C does, with ``group``)."""
    deadline = time.monotonic() + 300
    while not _runs(out):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no run finished"
        time.sleep(0.1)
    children = psutil.Process(proc.pid).children(recursive=True)
    (os.killpg if group else os.kill)(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    return err, children


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    deadline = time.monotonic() + 10
    while True:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _check_interrupted(err: str, code: int, proc: subprocess.Popen, out: Path) -> list[Path]:
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1] == MESSAGE, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert not (out / "comparison.csv").exists()  # the grid did not run to completion
    finished = _runs(out)
    assert finished and sorted((out / "runs").iterdir()) == finished  # no temporary left
    for path in finished:
        az.from_netcdf(str(path)).posterior.load()  # complete, readable runs
    return finished


def test_ctrl_c_stops_an_in_process_grid_and_keeps_its_finished_runs(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "normal_normal", *GRID, "--seeds", "0-5", "--workers", "0", "--out", out]
    proc = _start(args, _env(tmp_path))
    err, _ = _interrupt_after_first_run(proc, out, signal.SIGINT)
    _check_interrupted(err, 130, proc, out)


@pytest.mark.slow
def test_sigterm_stops_an_in_process_grid_as_ctrl_c_does(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "normal_normal", *GRID, "--seeds", "0-5", "--workers", "0", "--out", out]
    proc = _start(args, _env(tmp_path))
    err, _ = _interrupt_after_first_run(proc, out, signal.SIGTERM)
    _check_interrupted(err, 143, proc, out)  # 128 + SIGTERM, as a shell reports it


@pytest.mark.slow
def test_ctrl_c_closes_a_local_cluster_leaving_no_process_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "normal_normal", *GRID, "--seeds", "0-5", "--workers", "2", "--out", out]
    env = _env(tmp_path)
    proc = _start(args, env)
    # Ctrl-C at a terminal reaches every process of the group, the workers included.
    err, children = _interrupt_after_first_run(proc, out, signal.SIGINT, group=True)
    assert children, "the local cluster had no worker processes"
    kept = {p: p.stat().st_mtime_ns for p in _check_interrupted(err, 130, proc, out)}
    assert _alive(children) == []

    rerun = subprocess.run(
        [*BAYESMIN, *map(str, args)], env=env, capture_output=True, text=True, check=False
    )
    assert rerun.returncode == 0, rerun.stderr
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # kept, not computed again
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 6 and not table.duplicated(["sampler", "seed"]).any()


@pytest.mark.slow
def test_a_local_cluster_is_quiet_and_leaves_port_8787_to_others(tmp_path):
    # Another program (say, another Dask's dashboard) holds 127.0.0.1:8787.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            other.bind(("127.0.0.1", 8787))
        except OSError:
            pass  # something already holds it: the same test
        other.listen()
        out = tmp_path / "cmp"
        proc = subprocess.run(
            [*BAYESMIN, "compare", "normal_normal", *GRID, "--seeds", "0-3", "--workers", "2",
             "--out", str(out)],
            env=_env(tmp_path), capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "local Dask cluster" in proc.stderr
    for noise in ("Traceback", "distributed.", "8787", "Warning"):
        assert noise not in proc.stderr, proc.stderr
    assert len(pd.read_csv(out / "comparison.csv")) == 4


def test_an_unwritable_home_folder_is_no_obstacle(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = _env(tmp_path, HOME="/proc/bayesmin-no-home", TMPDIR=str(scratch))
    for name in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
        env.pop(name, None)
    out = tmp_path / "fit"
    proc = subprocess.run(
        [*BAYESMIN, "fit", "normal_normal", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    assert (out / "index.html").is_file()
    assert list(scratch.iterdir()) == []  # the temporary cache folder is removed at exit
