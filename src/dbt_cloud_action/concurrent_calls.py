"""Run blocking calls (the runs' lives, the post step's cancels) in threads, waited for from the
main thread.

Signals are delivered to the main thread only, so it must stay where a signal can interrupt it:
it waits for the calls on an event in short slices (on Windows a wait cannot be interrupted
before its timeout). Not with `Thread.join`: a join interrupted by a signal handler's exception
marks the thread as stopped while it still runs (CPython 3.11's fix for bpo-45274), and a
second join would then return at once. A signal ends the wait, not the calls: `Calls.wait` is
then called again, with a deadline, for them to clean up. The threads are daemon threads, so a
call stuck past every deadline never holds up the exit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

T = TypeVar("T")
_WAIT_SLICE = 0.05


@dataclass(frozen=True)
class Done(Generic[T]):
    """A call's value, or the exception it raised."""

    value: T | None = None
    error: BaseException | None = None


class Calls(Generic[T]):
    """Calls started at once (`start`), each in its own thread. Made before they start, so the
    caller holds them before a signal can come: one arriving while they start still finds
    every started call to wait for."""

    def __init__(self, calls: Sequence[Callable[[], T]]) -> None:
        self._calls = list(calls)
        self.results: list[Done[T] | None] = [None] * len(self._calls)
        self._lock = threading.Lock()
        self._left = len(self._calls)
        self._all_done = threading.Event()
        if not self._calls:
            self._all_done.set()

    def start(self) -> Calls[T]:
        for index in range(len(self._calls)):
            threading.Thread(target=self._run, args=(index,), daemon=True).start()
        return self

    def _run(self, index: int) -> None:
        try:
            self.results[index] = Done(value=self._calls[index]())
        except BaseException as exc:  # a cancel too: the caller decides what it means
            self.results[index] = Done(error=exc)
        finally:
            with self._lock:
                self._left -= 1
                if self._left == 0:
                    self._all_done.set()

    def wait(self, deadline: float = math.inf) -> bool:
        """Wait for every call until `deadline` (monotonic); True when all are done."""
        while not self._all_done.wait(min(_WAIT_SLICE, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
        return True


def in_thread(call: Callable[[], T]) -> T:
    """`call` in a thread of its own while the main thread waits in slices, so a signal is
    handled at once (on Windows too, where a blocking socket read in the main thread defers
    it); its exception is raised here."""
    [done] = call_concurrently([call])
    if done.error is not None:
        raise done.error
    return cast(T, done.value)


def call_concurrently(calls: Sequence[Callable[[], T]]) -> list[Done[T]]:
    """Each call's result, in order, once all are done."""
    running = Calls(calls).start()
    running.wait()
    return [done or Done() for done in running.results]
