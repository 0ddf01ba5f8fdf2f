"""Scripted failures, per endpoint and per call number, to exercise a client's error handling."""

from __future__ import annotations

import threading
from dataclasses import dataclass

ENDPOINTS = (
    "trigger",
    "rerun",
    "get_job",
    "list_jobs",
    "get_run",
    "list_runs",
    "cancel",
    "retry_get",
    "retry_post",
    "list_artifacts",
    "get_artifact",
)
KINDS = (
    "status",
    "html",
    "drop",
    "delay",
    "late_handling",
    "lose_response",
    "not_found_after_trigger",
    "cut",
)
# Kinds that only make sense on one endpoint.
_ONLY_ON = {"lose_response": "trigger", "not_found_after_trigger": "get_run"}


@dataclass(frozen=True)
class Fault:
    """What goes wrong on the given calls (1-based, counted per endpoint; None = every call).

    kind "status": reply `status` with a JSON error envelope (and Retry-After if set);
    "html": reply `status` with an HTML page instead of JSON; "drop": close the connection
    without replying. These three replace the request's handling: no run is created.
    "delay": handle the request at once, then wait `delay` real seconds before replying (a
    slow reply: a triggered run exists while the client waits). "late_handling": wait `delay`
    real seconds, then handle the request and reply (a server slow to act: a triggered run
    exists only after the wait, even when the client has gone). "lose_response" (trigger):
    create the run, then close the connection without replying. "not_found_after_trigger"
    (get_run): a 404 envelope, as if the new run were not visible yet. "cut": answer, but
    close the connection halfway through the body (a download that breaks off).
    """

    endpoint: str
    calls: tuple[int, ...] | None = None
    status: int = 503
    retry_after: float | str | None = None
    delay: float = 0.0
    kind: str = "status"

    def __post_init__(self) -> None:
        if self.endpoint != "*" and self.endpoint not in ENDPOINTS:
            raise ValueError(
                f"Fault endpoint must be '*' or one of {', '.join(ENDPOINTS)}; "
                f"got {self.endpoint!r}"
            )
        if self.kind not in KINDS:
            raise ValueError(f"Fault kind must be one of {', '.join(KINDS)}; got {self.kind!r}")
        only = _ONLY_ON.get(self.kind)
        if only and self.endpoint != only:
            raise ValueError(f"Fault kind {self.kind!r} applies to endpoint {only!r} only")
        if not 100 <= self.status <= 599:
            raise ValueError(f"Fault status must be an HTTP status code; got {self.status}")
        if self.delay < 0:
            raise ValueError(f"Fault delay must be >= 0 seconds; got {self.delay}")
        if self.calls is not None:
            object.__setattr__(self, "calls", tuple(self.calls))

    def applies(self, endpoint: str, call: int) -> bool:
        return self.endpoint in ("*", endpoint) and (self.calls is None or call in self.calls)

    @property
    def retry_after_header(self) -> str | None:
        if self.retry_after is None or isinstance(self.retry_after, str):
            return self.retry_after
        seconds = self.retry_after
        return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


class FaultBook:
    """The faults in force; the first one added that applies to a call wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def for_call(self, endpoint: str, call: int) -> Fault | None:
        with self._lock:
            return next((f for f in self._faults if f.applies(endpoint, call)), None)
