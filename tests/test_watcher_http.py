"""The watcher over real HTTP: the real client against the emulator on 127.0.0.1.

The emulator runs `SCALE` times faster than real time; the watcher and the client get a clock
and a sleep in the same emulated seconds, so the adaptive policy sees the durations it would
see in production while the whole run takes about a real second.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from dbt_cloud_action.client import MAX_ANSWER_BYTES, DbtCloudClient
from dbt_cloud_action.models import RunStatus
from dbt_cloud_action.watcher import (
    EventKind,
    PollPolicy,
    RunEvent,
    RunWatcher,
    WatchResult,
    describe,
    expected_duration,
)
from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault, JobScript, StepScript

SCALE = 40.0
STEPS = (
    StepScript("Clone git repository", duration=4.0),
    StepScript("Invoke dbt with `dbt deps`", "dbt deps", duration=5.0),
)
GOOD = JobScript(
    1,
    "Nightly",
    (*STEPS, StepScript("Invoke dbt with `dbt build`", "dbt build", duration=10.0)),
    queue_seconds=5.0,
    history=(18.0, 20.0, 25.0),
)
FAILING = JobScript(
    2,
    "CI",
    (*STEPS, StepScript("Invoke dbt with `dbt build`", "dbt build", duration=6.0, outcome=20)),
    queue_seconds=5.0,
)
LONG = JobScript(
    3, "Slow", (StepScript("Invoke dbt with `dbt run`", "dbt run", duration=3600.0),), 1.0
)
CHATTY_LOG = "\n".join(
    f"{i:04d} of 3000 OK created sql view model analytics.m{i}" for i in range(3000)
)
CHATTY = JobScript(
    4,
    "Chatty",
    (STEPS[0], StepScript("Invoke dbt with `dbt run`", "dbt run", 120.0, logs=CHATTY_LOG)),
    queue_seconds=5.0,
)
STEPS_CAP = 128 << 10  # the steps fit while the log is short, not once it has grown


def emulated_clock() -> float:
    return time.monotonic() * SCALE


def emulated_sleep(seconds: float) -> None:
    time.sleep(seconds / SCALE)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    config = EmulatorConfig(jobs=(GOOD, FAILING, LONG, CHATTY))
    with Emulator(config, time_scale=SCALE) as emu:
        yield emu


@pytest.fixture
def client(emulator: Emulator) -> Iterator[DbtCloudClient]:
    with emulated_client(emulator) as dbt_cloud:
        yield dbt_cloud


def emulated_client(emulator: Emulator, max_answer_bytes: int = MAX_ANSWER_BYTES) -> DbtCloudClient:
    return DbtCloudClient(
        emulator.url,
        emulator.token,
        emulator.account_id,
        sleep=emulated_sleep,
        clock=emulated_clock,
        jitter=lambda: 0.5,
        max_answer_bytes=max_answer_bytes,
    )


def trigger_and_watch(
    client: DbtCloudClient, job_id: int, *, timeout: float | None = None
) -> tuple[WatchResult, list[RunEvent]]:
    expected = expected_duration(client.list_runs(job_id, status_in=(10,)))
    run = client.trigger_run(job_id, {"cause": "watcher test"})
    events: list[RunEvent] = []
    watcher = RunWatcher(
        client,
        policy=PollPolicy(),
        clock=emulated_clock,
        sleep=emulated_sleep,
        on_event=events.append,
    )
    return watcher.watch(run.id, timeout=timeout, expected_duration=expected), events


def without_starting(events: list[RunEvent]) -> list[EventKind]:
    """Event kinds; "starting" lasts one emulated second and a poll may fall either side."""
    return [e.kind for e in events if e.kind is not EventKind.STARTING]


def test_follows_a_successful_run_to_its_end(emulator: Emulator, client: DbtCloudClient) -> None:
    assert expected_duration(client.list_runs(1, status_in=(10,))) == 20.0
    result, events = trigger_and_watch(client, 1)
    assert not result.timed_out
    assert result.run.status is RunStatus.SUCCESS
    assert result.run.job_name == "Nightly"  # the final fetch includes the job
    assert [s.name for s in result.run.steps] == [s.name for s in GOOD.steps]
    assert without_starting(events) == [
        EventKind.QUEUED,
        EventKind.STARTED,
        *[EventKind.STEP_STARTED, EventKind.STEP_FINISHED] * 3,
        EventKind.FINISHED,
    ]
    assert describe(events[-2]) == "Step 3 'Invoke dbt with `dbt build`' succeeded in 10s"
    assert describe(events[-1]) == f"Run {result.run.id} succeeded in 19s (queued 6s)"
    polls = [r for r in emulator.requests if r.endpoint == "get_run"]
    assert "job" in str(polls[-1].query)  # only the final fetch asks for the job
    assert all("job" not in str(r.query) for r in polls[:-1])
    with_steps = [r for r in polls[:-1] if "run_steps" in str(r.query)]
    assert 0 < len(with_steps) < len(polls) - 1  # steps only when they can have changed


def test_a_failed_step_and_run_are_reported_from_the_integer_status(
    client: DbtCloudClient,
) -> None:
    result, events = trigger_and_watch(client, 2)
    assert result.run.status is RunStatus.ERROR
    lines = [describe(e) for e in events]
    assert "Step 3 'Invoke dbt with `dbt build`' failed after 6s" in lines
    assert lines[-1].startswith(f"Run {result.run.id} failed after 15s (queued 6s)")


def test_the_first_get_after_the_trigger_may_404(
    emulator: Emulator, client: DbtCloudClient
) -> None:
    emulator.faults.add(Fault("get_run", calls=(1,), kind="not_found_after_trigger"))
    result, events = trigger_and_watch(client, 1)
    assert result.run.status is RunStatus.SUCCESS
    assert events[-1].kind is EventKind.FINISHED


def test_timeout_leaves_the_run_going(emulator: Emulator, client: DbtCloudClient) -> None:
    result, events = trigger_and_watch(client, 3, timeout=30)
    assert result.timed_out
    assert result.run.status is RunStatus.RUNNING
    assert events[-1].kind is EventKind.TIMED_OUT
    assert emulator.run(result.run.id)["status"] == 3


def test_steps_grown_too_large_are_left_out_and_the_run_still_followed_to_its_end(
    emulator: Emulator,
) -> None:
    with emulated_client(emulator, max_answer_bytes=STEPS_CAP) as client:
        result, events = trigger_and_watch(client, CHATTY.id)

    assert result.run.status is RunStatus.SUCCESS
    assert result.run.job_name == "Chatty"
    [left_out] = [describe(e) for e in events if e.kind is EventKind.STEPS_LEFT_OUT]
    assert "is larger than 128 KiB, the most this action reads" in left_out
    assert events[-1].kind is EventKind.FINISHED
    polls = [r for r in emulator.requests if r.endpoint == "get_run"]
    asked = ["run_steps" in str(r.query) for r in polls]
    refused = asked.index(True, asked.index(True) + 1)  # the first steps fitted, the next not
    assert polls[refused].response_bytes > STEPS_CAP > polls[asked.index(True)].response_bytes
    assert not any(asked[refused + 1 :])  # never asked for again, the final read included
    assert "job" in str(polls[-1].query)
    # as last seen, while the run went: a read at the end would say every step succeeded
    names = [s.name for s in result.run.steps]
    assert names and names == [s.name for s in CHATTY.steps][: len(names)]
    assert result.run.steps[-1].status is RunStatus.RUNNING
