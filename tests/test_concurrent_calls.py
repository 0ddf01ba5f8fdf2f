"""`call_concurrently`: results in order, exceptions captured, calls really concurrent."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from dbt_cloud_action.concurrent_calls import Calls, Done, call_concurrently, in_thread


def test_every_call_runs_in_a_thread_of_its_own() -> None:
    """The main thread only waits: it must stay free for signals, one call or many."""
    [done] = call_concurrently([threading.current_thread])
    assert done.value is not threading.current_thread() and done.error is None


class Interrupted(Exception):
    pass


def test_a_wait_cut_short_by_a_signal_waits_again_for_the_same_calls() -> None:
    """A signal handler's exception ends the wait, not the call; the second wait (the clean-up's)
    waits for it again. Thread.join fails exactly this: an interrupted join marks the thread
    stopped while it runs (CPython 3.11, bpo-45274)."""
    release = threading.Event()
    calls = Calls([lambda: release.wait(10)]).start()

    def interrupt(_signum: int, _frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            calls.wait()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert calls.wait(time.monotonic() + 0.2) is False  # still running: waited, not skipped
    release.set()
    assert calls.wait(time.monotonic() + 5) is True
    assert calls.results[0] == Done(value=True)


def test_several_calls_run_at_once_and_keep_their_order() -> None:
    together = threading.Barrier(3, timeout=10)  # broken unless all three wait at once

    def meet(value: int) -> int:
        together.wait()
        return value

    results = call_concurrently([lambda: meet(1), lambda: meet(2), lambda: meet(3)])
    assert [(done.value, done.error) for done in results] == [(1, None), (2, None), (3, None)]


def test_an_exception_is_the_calls_result_not_the_callers() -> None:
    def broken() -> int:
        raise ValueError("no")

    for calls in ([broken], [broken, lambda: 2]):
        results = call_concurrently(calls)
        assert isinstance(results[0].error, ValueError) and results[0].value is None
    assert results[1].value == 2 and results[1].error is None


def test_in_thread_runs_the_call_elsewhere_and_raises_its_exception_here() -> None:
    """job-name's and run-id's look-ups before any run: the main thread stays free for signals."""
    assert in_thread(threading.current_thread) is not threading.current_thread()

    def broken() -> None:
        raise ValueError("no job of that name")

    with pytest.raises(ValueError, match="no job of that name"):
        in_thread(broken)
