"""One executor for every grid of runs: in this process, or on Dask.

``bayesmin compare`` (samplers × seeds) and ``bayesmin sbc`` (simulations) hand a list
of independent tasks to :func:`open_executor` and write each result as it arrives. The
executor never writes files itself: results come back to this process, which saves
each one atomically (temporary file, then rename) the moment it finishes, so an
interrupted grid — even ``kill -9`` — keeps every finished run, and a worker on another
machine needs no shared file system.

* ``workers=0``: the tasks run one after the other in this process (what the report
  and the tests use; compiled samplers are shared between runs).
* ``workers=k`` (k ≥ 1): a local Dask cluster of ``k`` worker processes, one thread
  each, started for the grid and closed after it.
* ``scheduler="tcp://HOST:PORT"``: an existing Dask cluster (``dask scheduler`` and
  ``dask worker`` started outside bayesmin, with bayesmin installed on the workers).

A task that raises (or whose worker dies) comes back as an error string; the grid goes on.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

__all__ = [
    "ExecutorError",
    "Outcome",
    "check_scheduler",
    "default_workers",
    "open_executor",
    "quiet_libraries",
]

# One core per worker process: BLAS, OpenMP and XLA's CPU backend otherwise each start a
# thread per core in every worker, and k workers on k cores fight over them.
WORKER_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
CONNECT_TIMEOUT_S = 5


def quiet_libraries() -> None:
    """Keep the terminal to bayesmin's progress bars and results.

    PyMC logs every ``pm.sample`` call at INFO, PyTensor warns on each start that it
    found no BLAS to link (it falls back to NumPy's; see benchmarks/), and ArviZ
    announces its coming refactor on import. Run in the CLI's process and in every
    worker before its first task.
    """
    import warnings

    import pymc  # noqa: F401 - PyMC sets its logger to INFO when imported; override after

    logging.getLogger("pymc").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")


_QUIETED = False


@dataclass
class _Failed:
    error: str


def _in_worker(fn: Callable[[Any], Any], task: Any) -> Any:
    """``fn(task)`` in a worker process, its libraries quietened on the first call.

    A task that raises returns :class:`_Failed` instead: its error is a row of the
    grid's table, not a failure for Dask to log with a traceback on every worker.
    """
    global _QUIETED
    if not _QUIETED:
        quiet_libraries()
        _QUIETED = True
    try:
        return fn(task)
    except Exception as err:
        return _Failed(_describe(err))


class ExecutorError(ValueError):
    """The executor cannot be set up (say, no scheduler at the address): the user's fix."""


@dataclass
class Outcome:
    """What one task gave: ``value`` on success, else ``error`` (one line)."""

    task: Any
    value: Any = None
    error: str = ""


def default_workers(n_tasks: int) -> int:
    """Local worker processes for ``n_tasks``: one per core, no more than there are tasks."""
    return max(1, min(os.cpu_count() or 1, n_tasks))


def _describe(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text.splitlines()[0] if text else type(err).__name__


class InProcess:
    """Run the tasks here, one after the other."""

    description = "in this process"

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Outcome]:
        for task in tasks:
            try:
                yield Outcome(task, fn(task))
            except Exception as err:  # a failed run is a row, not the end of the grid
                logging.getLogger(__name__).debug(
                    "task %r failed\n%s", task, traceback.format_exc()
                )
                yield Outcome(task, error=_describe(err))


class DaskExecutor:
    """Submit the tasks to a Dask client; yield them as they complete."""

    def __init__(self, client, description: str):
        self.client = client
        self.description = description

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Outcome]:
        from distributed import as_completed

        if not tasks:
            return
        # pure=False: every task runs, even two that look alike. No retries: a task
        # that raises would raise again, and its error belongs in the table.
        futures = self.client.map(partial(_in_worker, fn), list(tasks), pure=False)
        owner = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        try:
            for future in as_completed(futures, loop=self.client.loop):
                task = owner[future.key]
                try:
                    value = future.result()
                except Exception as err:  # a lost worker: KilledWorker, CommClosedError
                    yield Outcome(task, error=_describe(err))
                else:
                    if isinstance(value, _Failed):
                        yield Outcome(task, error=value.error)
                    else:
                        yield Outcome(task, value)
                finally:
                    future.release()
        finally:
            # Stopping early (Ctrl-C, an error here) cancels what has not started.
            self.client.cancel([f for f in futures if not f.done()])


@contextmanager
def open_executor(
    workers: int = 0, scheduler: str | None = None, *, n_tasks: int | None = None
) -> Iterator[InProcess | DaskExecutor]:
    """The executor for a grid (see the module docstring).

    Raises
    ------
    ExecutorError
        ``scheduler`` cannot be reached within :data:`CONNECT_TIMEOUT_S` seconds, or
        ``workers`` is negative.
    """
    if scheduler:
        with _remote(scheduler) as executor:
            yield executor
        return
    if workers < 0:
        raise ExecutorError(f"--workers must be >= 0 (0 runs in this process), got {workers}")
    if workers == 0 or (n_tasks is not None and n_tasks == 0):
        yield InProcess()
        return
    with _local(workers) as executor:
        yield executor


def check_scheduler(address: str) -> dict:
    """Raise :class:`ExecutorError` unless a Dask scheduler answers at ``address``.

    Asks the scheduler for its identity over Dask's own protocol, with a
    :data:`CONNECT_TIMEOUT_S` limit on connecting and on the answer, so a wrong host, a
    closed port or some other service at the address fails fast with one line. Called
    before a grid touches its output folder, so a wrong address changes nothing.
    Returns the scheduler's identity (``type``, ``id``, ``workers``).
    """
    import asyncio

    from distributed.core import rpc

    if "://" not in address and ":" not in address:
        raise ExecutorError(
            f"--scheduler {address!r} is not an address; give one like tcp://127.0.0.1:8786"
        )

    async def identity():
        async with rpc(address, timeout=CONNECT_TIMEOUT_S) as scheduler:
            return await asyncio.wait_for(scheduler.identity(), CONNECT_TIMEOUT_S)

    try:
        info = asyncio.run(asyncio.wait_for(identity(), CONNECT_TIMEOUT_S))
    except (OSError, TimeoutError) as err:  # refused, unresolvable, timed out
        reason = _describe(err).rstrip(":")
        raise ExecutorError(
            f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S} s "
            f"({reason[:120]}); start one with `dask scheduler` or check the address"
        ) from None
    except Exception:  # something answered, but not in Dask's protocol
        info = None
    if not isinstance(info, dict) or info.get("type") != "Scheduler":
        raise ExecutorError(
            f"{address} answers but is not a Dask scheduler; give the scheduler's address"
        )
    return info


@contextmanager
def _remote(address: str) -> Iterator[DaskExecutor]:
    from distributed import Client

    check_scheduler(address)
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ExecutorError(
            f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S} s "
            f"({reason}); start one with `dask scheduler` or check the address"
        ) from None
    try:
        n = len(client.scheduler_info().get("workers", {}))
        yield DaskExecutor(client, f"on the Dask scheduler at {address} ({n} worker(s))")
    finally:
        client.close()


@contextmanager
def _local(workers: int) -> Iterator[DaskExecutor]:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env=WORKER_ENV,
        # Orphaned workers (their grid was killed) give up quickly instead of waiting
        # for a scheduler that will not come back.
        death_timeout=10,
    )
    client = Client(cluster, set_as_default=False)
    try:
        yield DaskExecutor(client, f"on a local Dask cluster ({workers} worker process(es))")
    finally:
        client.close()
        cluster.close()
