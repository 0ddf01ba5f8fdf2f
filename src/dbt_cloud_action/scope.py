"""One cancel and one deadline, observed by every blocking call of the step.

Every wait of the action (a poll's sleep, a retry's back-off, an outage's patience, a cancel's
confirmation, an artifact that is late) goes through a `Scope`: the step's one `Cancellation`
and the deadline of the phase it runs in. So a cancel stops every wait at once, in every thread,
and no wait outlives its run's `timeout`.

The bounds the step keeps, stated once (docs/lifecycle.md, "What is guaranteed", quotes them):

- After the runner's first cancel signal the step exits within `SIGNAL_EXIT_SECONDS` (the
  runner's SIGTERM comes 7.5 s after its SIGINT): each run is cancelled, and a trigger in flight
  is seen through (its answer awaited for `CREATION_GRACE_SECONDS`, then its run looked for by
  the key in its `cause`), all before `CLEANUP_SECONDS` have passed.
- With `timeout: T` the step ends within T + `TIMEOUT_GRACE_SECONDS`: T bounds the start and the
  follow (every retry and outage wait in them), the grace bounds the last poll, the cancel and
  its confirmation, the artifacts and the report, whatever dbt Cloud answers.

A request already in flight when the cancel comes is not waited out: the client registers its
open sockets with the cancellation, which shuts them (a blocked read in any thread then ends at
once), except for a POST whose answer names the run's state (a trigger, a retry, a cancel),
which is given `CREATION_GRACE_SECONDS` first.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from .cancellation import WorkflowCancelled

SIGNAL_EXIT_SECONDS = 7.5
# What the runs' clean-up may spend after the first signal; the rest of SIGNAL_EXIT_SECONDS is
# for the outputs, the summary and the PR comment. Of it, the dbt Cloud calls (the cancel, its
# confirmation, a cut trigger's lookup) end CLEANUP_REPORT_SECONDS early: each run's report and
# commit status come after them.
CLEANUP_SECONDS = 5.0
CLEANUP_REPORT_SECONDS = 1.0
# The PR comment after a cancel is written by then (seconds after the signal).
PUBLISH_BY_SECONDS = SIGNAL_EXIT_SECONDS - 0.5
# How long a POST in flight at a cancel that creates or cancels a run keeps waiting for its
# answer (which names the run and its state at once) before it is cut (a cut trigger's run is
# then looked for by its key).
CREATION_GRACE_SECONDS = 2.0
TIMEOUT_GRACE_SECONDS = 10.0
# Of that grace, what the runs' ends leave for the step's report (outputs, summary) and the
# process's start before `timeout` began to count.
REPORT_RESERVE_SECONDS = 1.5
# A wait in the main thread is cut in slices this long: a signal handler runs between them,
# also on Windows, where a lock wait cannot be interrupted.
_SLICE_SECONDS = 0.05


class Cancellation:
    """The step's one cancel: set once (the first signal), seen by every thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._cause: WorkflowCancelled | None = None
        # each open socket of the step's clients, and whether its request creates a run now
        self._sockets: weakref.WeakKeyDictionary[socket.socket, Callable[[], bool]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def cause(self) -> WorkflowCancelled | None:
        return self._cause

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def cancel(self, cause: WorkflowCancelled) -> None:
        """Cancel every wait, and cut every request in flight (an awaited POST's after
        `CREATION_GRACE_SECONDS`). Called once from the main thread; later calls do nothing."""
        with self._lock:
            if self._cause is not None:
                return
            self._cause = cause
            sockets = [(sock, awaited()) for sock, awaited in self._sockets.items()]
        for sock, awaited in sockets:  # before the waits end: the clean-up starts after
            if not awaited:
                _shut(sock)
        self._event.set()
        late = [sock for sock, awaited in sockets if awaited]
        if late:
            self._shut_later(late, cause)

    @staticmethod
    def _shut_later(sockets: list[socket.socket], cause: WorkflowCancelled) -> None:
        """Cut awaited requests once their grace after the signal is over."""
        delay = max(0.0, cause.received_at + CREATION_GRACE_SECONDS - time.monotonic())
        timer = threading.Timer(delay, _shut_all, args=(sockets,))
        timer.daemon = True
        timer.start()

    def track(self, sock: socket.socket, awaited: Callable[[], bool]) -> None:
        """A socket a client opened; `awaited` says whether its request now is a POST whose
        answer is awaited. Cut at once when the cancel has come already (unless awaited)."""
        with self._lock:
            self._sockets[sock] = awaited
            cause = self._cause
        if cause is None:
            return
        if awaited():  # opened after the cancel: the same grace, counted from the signal
            self._shut_later([sock], cause)
        else:
            _shut(sock)

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds`; True when the cancel came (at once, in any thread)."""
        if seconds <= 0:
            return self._event.is_set()
        if threading.current_thread() is not threading.main_thread():
            return self._event.wait(seconds)
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._event.wait(min(left, _SLICE_SECONDS)):
                return True
        return self._event.is_set()


def _shut_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        _shut(sock)


def _shut(sock: socket.socket) -> None:
    """End a blocked read on `sock` in another thread (the base socket's shutdown: an SSL
    socket's own would touch its SSL object, which that thread is using)."""
    with contextlib.suppress(OSError):  # closed already, or never connected
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


@dataclass(frozen=True)
class Scope:
    """What a blocking call observes: the step's cancel, and the moment (on the monotonic clock)
    by which it must have given up. In the clean-up after a cancel (`cleanup`), waits are not cut
    by the cancel that caused them, only by their deadline."""

    cancellation: Cancellation
    deadline: float = math.inf
    cleanup: bool = False

    def left(self) -> float:
        """Seconds until the deadline (inf without one; never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    @property
    def cancelled(self) -> bool:
        return not self.cleanup and self.cancellation.is_set

    def check(self) -> None:
        """Raise the cancel, unless this is the clean-up it started."""
        cause = self.cancellation.cause
        if cause is not None and not self.cleanup:
            raise cause

    def sleep(self, seconds: float) -> None:
        """Sleep, never past the deadline; a cancel ends the sleep by raising."""
        seconds = min(seconds, self.left())
        if self.cleanup:
            if seconds > 0:
                time.sleep(seconds)
            return
        if self.cancellation.wait(seconds):
            self.check()

    def until(self, deadline: float) -> Scope:
        """The same cancel, with a deadline no later than `deadline`."""
        return Scope(self.cancellation, min(self.deadline, deadline), self.cleanup)

    def with_deadline(self, deadline: float) -> Scope:
        """The same cancel, with exactly `deadline` (a later phase's own bound)."""
        return Scope(self.cancellation, deadline, self.cleanup)

    def for_cleanup(self, *, report: bool = False) -> Scope:
        """The clean-up after the cancel: its own deadline, counted from the signal (for its
        dbt Cloud calls; with `report`, the end of the whole clean-up)."""
        cause = self.cancellation.cause
        start = cause.received_at if cause is not None else time.monotonic()
        end = start + CLEANUP_SECONDS - (0.0 if report else CLEANUP_REPORT_SECONDS)
        return Scope(self.cancellation, end, cleanup=True)


def deadline_after(seconds: float | None, start: float | None = None) -> float:
    """The monotonic moment `seconds` after `start` (now); inf for None."""
    if seconds is None:
        return math.inf
    return (time.monotonic() if start is None else start) + seconds
