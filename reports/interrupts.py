"""Ctrl-C and a batch system's kill (SIGINT, SIGTERM) as one exception that is never lost.

Left to Python, SIGINT becomes a ``KeyboardInterrupt`` wherever the main thread happens
to be, and in this stack that goes wrong four ways: Typer turns it into ``Exit(130)``
before the command's caller sees it; PyMC's sequential sampler catches it and returns
the draws so far as if the run had finished; raised inside a ``__del__`` or a weakref
callback it is printed as "Exception ignored" and dropped; raised inside Dask's waiting
it can leave a lock held that Dask's event loop needs to close. SIGTERM, by default,
ends the process with no clean-up at all.

:func:`handle_signals` installs, for the duration of a command, one handler for both
that records the signal and raises :class:`Interrupted` — a ``BaseException`` that is
not a ``KeyboardInterrupt``, so neither Typer, PyMC nor ``except Exception`` takes it.
Code that must not stop half way (starting or closing a cluster, waiting on Dask's
futures) runs under :func:`held`: a signal there is recorded and raised when the block
ends, or at the next :func:`pause`. An :class:`Interrupted` raised where it cannot
propagate (a ``__del__``, a garbage-collector callback) is not printed but delivered
again a moment later; one swallowed by a library (``except BaseException``) is raised
by :func:`check`, which the executor calls after every run in this process. A signal
that arrives while an :class:`Interrupted` is already being handled (the clean-up after
the first Ctrl-C) is recorded and not raised, so a second Ctrl-C cannot cut the
clean-up short.

Without :func:`handle_signals` (bayesmin used as a library) nothing here changes how a
signal is handled: :func:`held` and :func:`pause` only mark where one may be raised.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["Interrupted", "check", "handle_signals", "held", "pause"]

MESSAGE = "bayesmin: interrupted; finished results are kept"


class Interrupted(BaseException):
    """A handled signal (SIGINT or SIGTERM) stops the command.

    ``exit_code`` is the shell's convention for it: 128 + the signal's number (130 for
    Ctrl-C, 143 for SIGTERM).
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return f"interrupted by {signal.Signals(self.signum).name}"


class _State:
    def __init__(self) -> None:
        self.installed = False
        self.received: int | None = None  # the first signal of the command
        self.held = 0
        self.lock = threading.Lock()
        self.timers: list[threading.Timer] = []


_state = _State()
# How soon a signal whose exception was swallowed is delivered again.
REDELIVER_S = 0.01


def _handling_interrupt() -> bool:
    """An :class:`Interrupted` is being handled (we are in its clean-up)."""
    err = sys.exc_info()[1]
    while err is not None:
        if isinstance(err, Interrupted):
            return True
        err = err.__context__
    return False


def _handler(signum: int, frame) -> None:
    if _state.received is None:
        _state.received = signum
    if _state.held == 0 and not _handling_interrupt():
        raise Interrupted(_state.received)


def _redeliver() -> None:
    """Simulate the signal again in the main thread, unless the command has ended."""
    with _state.lock:
        if _state.installed and _state.received is not None:
            _thread.interrupt_main(_state.received)


def _unraisable_hook(previous: Callable[[Any], None]) -> Callable[[Any], None]:
    """``sys.unraisablehook`` that takes an :class:`Interrupted` raised where it could not
    propagate (a ``__del__``, a garbage-collector or weakref callback): instead of
    "Exception ignored in ...", the signal is delivered again a moment later, from a
    timer thread, when the main thread has most likely left that callback."""

    def hook(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):
            previous(unraisable)
            return
        timer = threading.Timer(REDELIVER_S, _redeliver)
        timer.daemon = True
        _state.timers.append(timer)
        timer.start()

    return hook


@contextmanager
def handle_signals(signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Turn ``signals`` into :class:`Interrupted` inside the block; restore after it.

    Only in the main thread (the only one Python delivers signals to); a signal the
    process ignores (``SIG_IGN``: a background job of a non-interactive shell, ``nohup``)
    stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for sig in signals:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, _handler)
    hook = sys.unraisablehook
    sys.unraisablehook = _unraisable_hook(hook)
    saved = (_state.installed, _state.received, _state.held, _state.timers)
    _state.installed, _state.received, _state.held, _state.timers = True, None, 0, []
    try:
        yield
    finally:
        _state.held += 1  # from here on a signal is only recorded
        with _state.lock:
            _state.installed = False
        for timer in _state.timers:
            timer.cancel()
            timer.join()
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.installed, _state.received, _state.held, _state.timers = saved


def check() -> None:
    """Raise :class:`Interrupted` if a signal arrived, even one whose exception was lost."""
    if _state.received is not None:
        raise Interrupted(_state.received)


class _Held:
    def __enter__(self) -> None:
        _state.held += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        _state.held -= 1
        if exc_type is None and _state.held == 0 and not _handling_interrupt():
            check()


def held() -> _Held:
    """A block (``with held(): ...``) that a signal does not cut short: the signal is
    raised when the block ends.

    Not when the block ends with an exception, nor while an :class:`Interrupted` is
    already being handled (the block is then part of its clean-up). Blocks nest.
    """
    return _Held()


def pause(seconds: float) -> None:
    """Sleep, raising a signal that arrived before or during the sleep.

    The place to wait inside :func:`held` code: the signal is raised here, in our
    frame, not inside a library's lock.
    """
    check()
    time.sleep(seconds)
    check()
