"""Run a few blocking calls (triggers, cancels) at once, waited for from the main thread.

Signals are delivered to the main thread only, so it must stay where a signal can interrupt it:
it waits for the calls in short slices (a lock wait with a timeout is interrupted by a signal
handler's exception), and the calls run in daemon threads, so a call stuck in its retries never
holds up the process's exit after a cancel.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
_WAIT_SLICE = 0.05


@dataclass(frozen=True)
class Done(Generic[T]):
    """A call's value, or the exception it raised."""

    value: T | None = None
    error: Exception | None = None


def call_concurrently(calls: Sequence[Callable[[], T]]) -> list[Done[T]]:
    """Each call's result, in order. One call runs in the calling thread, as it always did."""
    if len(calls) == 1:
        try:
            return [Done(value=calls[0]())]
        except Exception as exc:
            return [Done(error=exc)]
    results: list[Done[T]] = [Done() for _ in calls]

    def run(index: int) -> None:
        try:
            results[index] = Done(value=calls[index]())
        except Exception as exc:
            results[index] = Done(error=exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(_WAIT_SLICE)
    return results
