"""Keep following a run while dbt Cloud does not answer: only dbt Cloud's answer ends a run.

One API call gives up after its retry budget (60 s by default); a dbt Cloud outage can last
longer, while the run itself goes on. `PatientRunSource` sits between the watcher and the client
and turns "dbt Cloud is not answering" into waiting, with one log line per back-off step, until
dbt Cloud answers again or the step's `timeout` is reached. The waits are plain sleeps, so a
cancel signal still interrupts them at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from .client import DbtCloudUnavailable
from .models import Run
from .watcher import RunSource, human_duration


def outage_wait(step: int, retry_seconds: float) -> float:
    """Seconds to wait after the `step`-th failed call (1-based) of one outage: a quarter of a
    call's retry budget, doubling up to the whole budget (15, 30, 60, 60 ... s by default), so
    dbt Cloud is asked about once a minute or two, however long the outage."""
    return min(retry_seconds, retry_seconds / 4 * 2.0 ** (min(max(step, 1), 30) - 1))


def outage_message(run_id: int, since: datetime, lasted: float, wait: float, problem: str) -> str:
    return (
        f"dbt Cloud has not answered since {since:%H:%M:%S} UTC ({human_duration(lasted)}): "
        f"{problem.rstrip('.')}. Run {run_id} is still followed; asking again in "
        f"{human_duration(wait) if wait >= 10 else f'{wait:.1f}s'}."
    )


class PatientRunSource:
    """A `RunSource` that waits out dbt Cloud outages until `deadline` (on `clock`; None: no
    deadline, the step's own timeout ends it), then raises the last `DbtCloudUnavailable`."""

    def __init__(
        self,
        client: RunSource,
        *,
        retry_seconds: float,
        deadline: float | None,
        clock: Callable[[], float],
        wall_clock: Callable[[], datetime],
        sleep: Callable[[float], None],
        warn: Callable[[str], None],
        info: Callable[[str], None],
    ) -> None:
        self._client = client
        self._retry_seconds = retry_seconds
        self._deadline = deadline
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._warn = warn
        self._info = info
        self.last_seen: Run | None = None  # the run as dbt Cloud last showed it

    def get_run(
        self, run_id: int, include_related: Sequence[str] = (), *, fresh: bool = False
    ) -> Run:
        since: datetime | None = None
        began = 0.0
        step = 0
        while True:
            asked_at, asked_wall = self._clock(), self._wall_clock()
            try:
                run = self._client.get_run(run_id, include_related, fresh=fresh)
            except DbtCloudUnavailable as exc:
                if since is None:
                    since, began = asked_wall, asked_at
                now = self._clock()
                if self._deadline is not None and now >= self._deadline:
                    raise
                step += 1
                wait = outage_wait(step, self._retry_seconds)
                if self._deadline is not None:
                    wait = min(wait, self._deadline - now)
                say = self._warn if step == 1 else self._info
                say(outage_message(run_id, since, now - began, wait, exc.user_message))
                self._sleep(wait)
                continue
            if since is not None:
                lasted = human_duration(self._clock() - began)
                self._info(f"dbt Cloud answers again after {lasted}; following run {run_id}.")
            self.last_seen = run
            return run
