"""Following one run to its end or to `timeout`: the watcher's polls through the outage's
patience, every sleep in the run's scope, the run as last seen handed back."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import toolkit
from .client import DbtCloudClient, DbtCloudUnavailable
from .inputs import AUTO, ActionInputs
from .models import Run

if TYPE_CHECKING:
    from .watcher import PollPolicy


@dataclass(frozen=True)
class Followed:
    """The run as last seen, and whether `timeout` came first (the run then still going, or
    dbt Cloud not answering when it came)."""

    run: Run
    timed_out: bool = False
    unanswered: bool = False  # dbt Cloud did not answer at the deadline


def follow_run(
    client: DbtCloudClient,
    inputs: ActionInputs,
    run: Run,
    *,
    retry_seconds: float,
    timeout_at: float,
    expected_duration: float | None,
    on_change: Callable[[Run, str], None],
) -> Followed:
    """Poll `run` until it ends or `timeout_at` (monotonic; inf: never), reporting each change
    to `on_change` (the run, its log line)."""
    from .outage import PatientRunSource  # noqa: PLC0415 - lazy: see action.py
    from .watcher import RunWatcher, describe  # noqa: PLC0415 - lazy: see action.py

    bounded = timeout_at != math.inf
    scope = client.scope
    runs = PatientRunSource(
        client,
        retry_seconds=retry_seconds,
        deadline=timeout_at if bounded else None,
        clock=time.monotonic,
        wall_clock=lambda: datetime.now(UTC),
        sleep=scope.sleep,
        warn=toolkit.warning,
        info=toolkit.info,
    )
    watcher = RunWatcher(
        runs,
        policy=poll_policy(inputs),
        clock=time.monotonic,
        sleep=scope.sleep,
        on_event=lambda event: on_change(event.run, describe(event)),
    )
    timeout = max(0.0, timeout_at - time.monotonic()) if bounded else None
    try:
        result = watcher.watch(run.id, timeout=timeout, expected_duration=expected_duration)
    except DbtCloudUnavailable:
        last = runs.last_seen or run
        # seen ending, only the final read went unanswered: the end stands
        return Followed(last, timed_out=not last.is_terminal, unanswered=not last.is_terminal)
    return Followed(result.run, timed_out=result.timed_out)


def poll_policy(inputs: ActionInputs) -> PollPolicy:
    from .watcher import PollPolicy  # noqa: PLC0415 - lazy: see action.py

    return PollPolicy() if inputs.poll_interval is AUTO else PollPolicy(fixed=inputs.poll_interval)
