"""Emulated time: real (or test-driven) seconds, scaled, so a ten-minute run can take a second."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class ManualClock:
    """A clock only the test moves; pass `clock=manual.now` to drive the emulator entirely."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; got advance({seconds})")
        with self._lock:
            self._now += seconds


class EmulatedTime:
    """Seconds since the emulator started, in emulated time, and the wall time they stand for."""

    def __init__(self, clock: Callable[[], float], time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self._clock = clock
        self._scale = time_scale
        self._start = clock()
        # Timestamps are shown at microsecond precision; start on a whole second to keep them tidy.
        self.epoch = datetime.now(UTC).replace(microsecond=0)

    def now(self) -> float:
        return (self._clock() - self._start) * self._scale

    def wall(self, seconds: float) -> datetime:
        return self.epoch + timedelta(seconds=seconds)

    def stamp(self, seconds: float | None) -> str | None:
        """A run's timestamp as dbt Cloud writes it: `2024-05-01 12:00:00.123456+00:00`, a space
        between date and time (runs, their triggers and steps; see docs/dbt-cloud-api.md)."""
        return None if seconds is None else self.wall(seconds).isoformat(" ", "microseconds")

    def iso(self, seconds: float) -> str:
        """A job or account timestamp as dbt Cloud writes it: `2024-05-01T12:00:00.123456+00:00`."""
        return self.wall(seconds).isoformat(timespec="microseconds")

    def iso_z(self, seconds: float) -> str:
        """A job embedded in a run (`include_related=job`): `2024-05-01T12:00:00.123456Z`."""
        return self.wall(seconds).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
