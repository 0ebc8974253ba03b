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

Interrupted (Ctrl-C, SIGTERM; see :mod:`reports.interrupts`), the executor stops at once
in this process, drops what has not finished on Dask and closes a local cluster, its
worker processes included, before the interruption reaches the caller. A local cluster
listens on 127.0.0.1 only, serves no dashboard, and its workers never see a Ctrl-C
meant for the command: the command stops them itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from . import interrupts

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
# How often waiting on Dask's futures looks for a finished one (and for a signal).
POLL_S = 0.05


def quiet_libraries(*, import_pymc: bool = True) -> None:
    """Keep the terminal to bayesmin's progress bars and results.

    PyMC logs every ``pm.sample`` call at INFO, PyTensor warns on each start that it
    found no BLAS to link (it falls back to NumPy's; see benchmarks/), ArviZ
    announces its coming refactor on import, and a run that did not converge warns
    (the commands print its verdict themselves). Run in the CLI's process and in every
    worker before its first task.
    """
    import warnings

    # Filters first: PyMC imports ArviZ, which warns as it is imported.
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    if not import_pymc:  # a process that will not sample (it leaves that to workers)
        return  # nor import the modelling stack: `bayesmin.inference` imports PyMC and JAX
    # A run that did not converge warns in the library; the commands print its verdict
    # (read from the result's attrs, which a Dask worker's warning would not reach) and
    # the pages show it, so the warning would only say it twice.
    from ..inference.convergence import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    import pymc  # noqa: F401 - PyMC sets its logger to INFO when imported; override after

    logging.getLogger("pymc").setLevel(logging.WARNING)


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
            interrupts.check()
            try:
                outcome = Outcome(task, fn(task))
            except Exception as err:  # a failed run is a row, not the end of the grid
                logging.getLogger(__name__).debug(
                    "task %r failed\n%s", task, traceback.format_exc()
                )
                outcome = Outcome(task, error=_describe(err))
            # A signal whose exception a library swallowed: the run may have been cut
            # short (or failed because of it), so it is neither kept nor recorded.
            interrupts.check()
            yield outcome


class DaskExecutor:
    """Submit the tasks to a Dask client; yield them as they complete."""

    def __init__(self, client, description: str):
        self.client = client
        self.description = description

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Outcome]:
        if not tasks:
            return
        # pure=False: every task runs, even two that look alike. No retries: a task
        # that raises would raise again, and its error belongs in the table.
        futures = self.client.map(partial(_in_worker, fn), list(tasks), pure=False)
        pending = dict(zip(futures, tasks, strict=True))
        try:
            while pending:
                future = _next_done(pending)
                task = pending.pop(future)
                try:
                    value = future.result()
                except (Exception, asyncio.CancelledError) as err:  # a lost worker
                    outcome = Outcome(task, error=_describe(err))
                else:
                    if isinstance(value, _Failed):
                        outcome = Outcome(task, error=value.error)
                    else:
                        outcome = Outcome(task, value)
                finally:
                    future.release()
                yield outcome
        finally:
            # Stopping early (Ctrl-C, an error here) drops what has not finished: the
            # scheduler forgets a task no client wants. Unlike client.cancel, releasing
            # does not wait on the scheduler, which may be what is not answering.
            for future in pending:
                future.release()


def _next_done(pending: dict) -> Any:
    """The first finished future of ``pending``, waiting in :func:`interrupts.pause`.

    Waiting is a poll in our own sleep rather than Dask's ``as_completed``: a signal
    that arrives while the grid waits (nearly always, on Dask) is raised there, not
    inside Dask's condition variables and done-callbacks.
    """
    with interrupts.held():
        while True:
            for future in pending:
                if future.done():
                    return future
            interrupts.pause(POLL_S)


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
        with interrupts.held(), _quiet_distributed():
            client.close()


@contextmanager
def _local(workers: int) -> Iterator[DaskExecutor]:
    from distributed import Client, LocalCluster

    client = cluster = None
    try:
        with interrupts.held(), _sigint_blocked_in_new_threads():
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                # dashboard_address=None alone still starts the scheduler's HTTP server on
                # port 8787 (dask/distributed#7207), with a warning when another Dask has
                # it: no dashboard, and that server on a free local port.
                dashboard_address=None,
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                # Workers log a heartbeat failure at ERROR when the scheduler closes first.
                silence_logs=logging.CRITICAL,
                env=WORKER_ENV,
                # Orphaned workers (their grid was killed) give up quickly instead of
                # waiting for a scheduler that will not come back.
                death_timeout=10,
            )
            client = Client(cluster, set_as_default=False)
        yield DaskExecutor(client, f"on a local Dask cluster ({workers} worker process(es))")
    finally:
        with interrupts.held(), _quiet_distributed():
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()


@contextmanager
def _sigint_blocked_in_new_threads() -> Iterator[None]:
    """Start the cluster's threads, and so its worker processes, with SIGINT blocked.

    Ctrl-C at a terminal goes to the whole foreground process group: a worker that got
    it would print a traceback and die under its task. Threads inherit the signal mask
    of the thread that starts them, and processes that of the thread that forks them, so
    Dask's event-loop thread (started here) and every worker it spawns never receive
    SIGINT; this thread's mask is restored after. This process still gets the signal
    (delivered to its other threads, handled here), stops the grid and closes the workers.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    from multiprocessing import resource_tracker

    # Starting multiprocessing's resource tracker unblocks SIGINT in the thread that
    # starts it (it does not restore the mask it found); started here first, Dask's
    # thread finds it running and leaves its mask alone.
    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def _quiet_distributed() -> Iterator[None]:
    """Silence Dask's and Tornado's loggers while a cluster closes.

    Closing a cluster whose workers are mid-task (after Ctrl-C) logs lost connections
    and cancelled heartbeats, with tracebacks; none of it is news to the user.
    """
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "asyncio")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
