"""Turn the runner's cancel signals into one exception, raised wherever the action is waiting.

The runner sends SIGINT on cancel or step timeout, SIGTERM 7.5 s later, then kills the container
2.5 s after that. Python as PID 1 ignores SIGTERM unless it installs a handler, so both signals get
one. The first signal raises `WorkflowCancelled` in the main thread, which only waits (every call
to dbt Cloud runs in a run's own thread); the step then cancels the step's `scope.Cancellation`,
which ends every wait in every thread at once.
Later signals are only recorded: the clean-up that follows the first one must not be interrupted.
On Windows the runner sends CTRL_C_EVENT then CTRL_BREAK_EVENT instead, which Python delivers as
SIGINT and SIGBREAK (docs/windows.md).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, ModuleType


def cancel_signals(signals: ModuleType = signal) -> tuple[int, ...]:
    """The signals a cancel arrives as here: SIGINT, SIGTERM, and SIGBREAK where it exists
    (Windows only: CTRL_BREAK_EVENT, the runner's second signal, ends the process otherwise)."""
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    return tuple(getattr(signals, name) for name in names if hasattr(signals, name))


class WorkflowCancelled(BaseException):
    """The workflow was cancelled (or the step timed out). BaseException so no `except Exception`
    in a library swallows it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.received_at = time.monotonic()
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class CancelSignals:
    """Installs the handlers. A plain `time.sleep` or socket read is interrupted by the raise."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._armed = False

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if self._armed:
            self._armed = False
            raise WorkflowCancelled(signum)

    @contextmanager
    def installed(self) -> Iterator[CancelSignals]:
        previous = {sig: signal.getsignal(sig) for sig in cancel_signals()}
        self._armed = True
        for sig in previous:
            signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            self._armed = False
            # After a cancel the process is on its way out: a later signal (the runner's SIGTERM)
            # must not kill it before it exits with the first signal's code. Ignored, not handled:
            # Python resets its own handlers to the default while shutting down.
            for sig, handler in previous.items():
                signal.signal(sig, signal.SIG_IGN if self.received else handler)

    def disarm(self) -> None:
        """From now on signals are recorded, not raised: clean-up is running."""
        self._armed = False
