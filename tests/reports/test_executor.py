"""The one executor of every grid: in this process, a local Dask cluster, an external one."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import arviz as az
import pandas as pd
import pytest

from bayesmin.reports.executor import ExecutorError, check_scheduler, open_executor

# Integration-sized: whole report sections or commands (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BAYESMIN = [sys.executable, "-m", "bayesmin"]


def _env(tmp_path):
    return {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "BAYESMIN_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": str(ROOT),
    }


@pytest.mark.parametrize("workers", [0, 1])
def test_a_failing_task_is_an_error_row_and_the_rest_go_on(workers):
    with open_executor(workers, n_tasks=3) as executor:
        outcomes = {o.task: o for o in executor.map(math.sqrt, [4.0, -1.0, 9.0])}
    assert outcomes[4.0].value == 2.0 and outcomes[9.0].value == 3.0
    assert outcomes[-1.0].value is None and outcomes[-1.0].error.startswith("ValueError")


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(ExecutorError, match="cannot reach the Dask scheduler"):
        check_scheduler("tcp://127.0.0.1:9")
    with pytest.raises(ExecutorError, match="not an address"):
        check_scheduler("nowhere")


def test_a_service_that_is_not_dask_is_named_as_such():
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer_like_a_web_server():
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" * 4)

    threading.Thread(target=answer_like_a_web_server, daemon=True).start()
    port = server.getsockname()[1]
    try:
        with pytest.raises(ExecutorError, match="not a Dask scheduler"):
            check_scheduler(f"tcp://127.0.0.1:{port}")
    finally:
        server.close()


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.2)


def test_compare_on_a_dask_cluster_started_outside_bayesmin(tmp_path):
    env = _env(tmp_path)
    address_file = tmp_path / "scheduler.json"
    dask = str(Path(sys.executable).with_name("dask"))  # the `dask` command of this env
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(address_file)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker = None
    try:
        _wait_for(address_file)
        worker = subprocess.Popen(
            [dask, "worker", "--scheduler-file", str(address_file), "--nworkers", "1",
             "--nthreads", "1", "--no-dashboard"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import json

        address = json.loads(address_file.read_text())["address"]
        out = tmp_path / "cmp"
        proc = subprocess.run(
            [*BAYESMIN, "compare", "normal_normal", "--samplers", "mh,nuts", "--seeds", "0-1",
             "--chains", "2", "--draws", "300", "--tune", "300", "--scheduler", address,
             "--out", str(out)],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "Dask scheduler" in proc.stderr
        table = pd.read_csv(out / "comparison.csv")
        assert len(table) == 4 and (table["error"].fillna("") == "").all()
        assert table["max_abs_z"].max() < 4
    finally:
        for p in (worker, scheduler):
            if p is not None:
                p.terminate()
                p.wait(timeout=30)


def test_a_grid_killed_midway_resumes_with_nothing_lost_or_duplicated(tmp_path):
    env = _env(tmp_path)
    out = tmp_path / "cmp"
    args = [*BAYESMIN, "compare", "eight_schools_noncentered", "--samplers", "nuts,mh",
            "--seeds", "0-5", "--chains", "2", "--draws", "300", "--tune", "300",
            "--workers", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while len(list((out / "runs").glob("*.nc"))) < 3 and time.monotonic() < deadline:
            assert proc.poll() is None, "the grid finished before it could be killed"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its worker processes, no warning
        proc.wait()
    finished = sorted(p.name for p in (out / "runs").glob("*.nc"))
    assert 3 <= len(finished) < 12
    assert not (out / "comparison.csv").exists()

    rerun = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 12 and not table.duplicated(["sampler", "seed"]).any()
    files = sorted((out / "runs").iterdir())
    assert len(files) == 12 and all(p.suffix == ".nc" for p in files)  # no temporary left
    for path in files:
        az.from_netcdf(str(path)).posterior.load()
