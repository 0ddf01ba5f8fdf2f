"""PatientRunSource: an outage longer than one call's retry budget is waited out, not fatal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from dbt_cloud_action.client import DbtCloudError, DbtCloudUnavailable
from dbt_cloud_action.models import Run, RunStatus
from dbt_cloud_action.outage import PatientRunSource, outage_wait

RUN = Run(id=7, job_id=1, account_id=1, status=RunStatus.RUNNING, status_code=3)


class FlakyRuns:
    """Fails `failures` calls with the given error, each taking `call_seconds`, then answers."""

    def __init__(self, clock: list[float], failures: int, error: DbtCloudError) -> None:
        self.clock = clock
        self.failures = failures
        self.error = error
        self.calls = 0

    def get_run(
        self, run_id: int, include_related: Sequence[str] = (), *, fresh: bool = False
    ) -> Run:
        self.calls += 1
        self.clock[0] += 60.0  # one call's whole retry budget
        if self.calls <= self.failures:
            raise self.error
        return RUN


def source(
    runs: FlakyRuns, clock: list[float], deadline: float | None, lines: list[str]
) -> PatientRunSource:
    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return PatientRunSource(
        runs,
        retry_seconds=60.0,
        deadline=deadline,
        clock=lambda: clock[0],
        wall_clock=lambda: datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
        sleep=sleep,
        warn=lambda line: lines.append(f"warning: {line}"),
        info=lines.append,
    )


UNAVAILABLE = DbtCloudUnavailable(503, "GET /runs/7/ failed after 5 attempt(s) over 60 s: HTTP 503")


def test_outage_wait_backs_off_to_one_budget() -> None:
    assert [outage_wait(step, 60.0) for step in (1, 2, 3, 4, 10)] == [15, 30, 60, 60, 60]
    assert outage_wait(1, 1.0) == 0.25


def test_an_outage_is_waited_out_with_one_line_per_step() -> None:
    clock: list[float] = [0.0]
    lines: list[str] = []
    runs = FlakyRuns(clock, failures=4, error=UNAVAILABLE)
    assert source(runs, clock, None, lines).get_run(7) == RUN
    assert runs.calls == 5
    assert len(lines) == 5  # four back-off steps, then "answers again"
    assert lines[0].startswith("warning: dbt Cloud has not answered since 14:00:00 UTC (1m 00s)")
    assert "HTTP 503. Run 7 is still followed; asking again in 15s." in lines[0]
    assert not lines[1].startswith("warning")
    assert lines[-1] == "dbt Cloud answers again after 7m 45s; following run 7."


def test_the_deadline_ends_the_wait_with_the_outage_error() -> None:
    clock: list[float] = [0.0]
    lines: list[str] = []
    runs = FlakyRuns(clock, failures=100, error=UNAVAILABLE)
    with pytest.raises(DbtCloudUnavailable):
        source(runs, clock, 150.0, lines).get_run(7)
    assert clock[0] == 60 + 15 + 60 + 15 + 60  # the second wait is cut to end at the deadline
    assert "asking again in 15s" in lines[-1]


def test_a_definite_answer_is_not_an_outage() -> None:
    clock: list[float] = [0.0]
    lines: list[str] = []
    runs = FlakyRuns(clock, failures=1, error=DbtCloudError(401, "bad token"))
    with pytest.raises(DbtCloudError):
        source(runs, clock, None, lines).get_run(7)
    assert runs.calls == 1 and lines == []
