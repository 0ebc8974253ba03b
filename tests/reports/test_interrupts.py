"""SIGINT and SIGTERM as one exception that is raised where it can be handled, and never lost."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from bayesmin.reports import interrupts
from bayesmin.reports.executor import open_executor
from bayesmin.reports.interrupts import Interrupted, check, handle_signals, held, pause


@pytest.fixture(autouse=True)
def python_default_handlers():
    """Python's own SIGINT handler, even where the test run was started ignoring SIGINT
    (a background job of a non-interactive shell)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _signal_self(sig: int = signal.SIGINT) -> None:
    """Send ``sig`` to this process and let Python run its handler (it does so between
    bytecodes; a short sleep is interrupted by it)."""
    os.kill(os.getpid(), sig)
    time.sleep(0.05)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_is_raised_as_interrupted_and_the_handlers_are_restored(sig, code):
    before = signal.getsignal(sig)
    with handle_signals(), pytest.raises(Interrupted) as caught:
        _signal_self(sig)
    assert caught.value.exit_code == code
    assert not isinstance(caught.value, KeyboardInterrupt | Exception)  # nobody else takes it
    assert signal.getsignal(sig) is before


def test_a_held_block_finishes_and_the_signal_is_raised_at_its_end():
    steps = []
    with handle_signals(), pytest.raises(Interrupted):
        with held():
            _signal_self()
            steps.append("after the signal")  # not cut short
        steps.append("after the block")  # never reached
    assert steps == ["after the signal"]


def test_pause_raises_a_signal_held_back():
    with handle_signals(), pytest.raises(Interrupted), held():
        _signal_self()
        pause(0.01)


def test_a_signal_lost_in_a_destructor_is_delivered_again_not_printed(monkeypatch):
    printed = []
    monkeypatch.setattr(sys, "unraisablehook", printed.append)

    class Swallows:
        def __del__(self):  # what this raises, Python can only print: "Exception ignored"
            _signal_self()

    class Fails:
        def __del__(self):
            raise RuntimeError("not ours")

    steps = 0
    with handle_signals(), pytest.raises(Interrupted):
        Swallows()
        Fails()  # control: other unraisable errors are printed as before
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the main thread at work
            steps += 1
    assert 0 < steps and time.monotonic() < deadline  # delivered again, promptly
    assert [type(u.exc_value) for u in printed] == [RuntimeError]
    assert sys.unraisablehook == printed.append  # restored


def test_a_second_signal_does_not_cut_the_clean_up_of_the_first_short():
    cleaned = []
    with handle_signals(), pytest.raises(Interrupted):
        try:
            _signal_self()
        finally:
            _signal_self()  # Ctrl-C again, impatiently
            cleaned.append(True)
    assert cleaned == [True]


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with handle_signals():
            _signal_self()
            check()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_without_handle_signals_nothing_changes():
    with pytest.raises(KeyboardInterrupt):
        _signal_self()
    with held():
        pause(0)
        check()
    assert not interrupts._state.installed


def test_the_in_process_executor_neither_keeps_nor_records_a_run_that_swallowed_the_signal():
    def swallowing_task(task):
        # As PyMC's sampler does with KeyboardInterrupt: stop early, return what it has.
        try:
            if task == 1:
                _signal_self()
            return task
        except BaseException:
            return "partial"

    seen = []
    with handle_signals(), pytest.raises(Interrupted):
        with open_executor(0, n_tasks=3) as executor:
            for outcome in executor.map(swallowing_task, [0, 1, 2]):
                seen.append(outcome.value)
    assert seen == [0]  # run 1 came back, but cut short: dropped; run 2 never started


def test_a_user_script_passes_an_interrupt_through(tmp_path):
    from bayesmin.models import DataError, user

    script = tmp_path / "interrupted_model.py"
    script.write_text("from bayesmin.reports.interrupts import Interrupted\nraise Interrupted(2)\n")
    with pytest.raises(Interrupted):
        user._import_script(script)
    broken = tmp_path / "broken_model.py"
    broken.write_text("raise RuntimeError('oops')\n")  # control: the script's own error
    with pytest.raises(DataError, match="RuntimeError: oops"):
        user._import_script(broken)
