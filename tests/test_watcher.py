import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from dbt_cloud_action.client import AnswerTooLarge
from dbt_cloud_action.models import Run, RunStatus, RunStep
from dbt_cloud_action.watcher import (
    STEPS_EVERY,
    EventKind,
    PollPolicy,
    RunEvent,
    RunWatcher,
    WatchResult,
    changes,
    describe,
    human_duration,
    steps_due,
)

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
LOCAL_START = 5_000.0  # the local monotonic clock has nothing to do with dbt Cloud's wall clock


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(
    index: int, status: int, name: str, started: float | None = None, ended: float | None = None
) -> RunStep:
    return RunStep(
        index=index,
        name=name,
        status=RunStatus.parse(status),
        started_at=None if started is None else at(started),
        finished_at=None if ended is None else at(ended),
    )


def run(
    status: int,
    *,
    started: float | None = None,
    ended: float | None = None,
    steps: Sequence[RunStep] = (),
    message: str = "",
    blocked_by: tuple[int, ...] = (),
) -> Run:
    return Run(
        id=1234,
        job_id=7,
        account_id=1,
        status=RunStatus.parse(status),
        status_code=status,
        status_message=message,
        created_at=at(0),
        started_at=None if started is None else at(started),
        finished_at=None if ended is None else at(ended),
        steps=tuple(steps),
        blocked_by=blocked_by,
    )


# (dbt Cloud seconds since the trigger, what GET runs/1234/ says from then on)
CLONE_RUNNING = step(1, 3, "Clone git repository", 30)
CLONE_DONE = step(1, 10, "Clone git repository", 30, 32)
BUILD_RUNNING = step(2, 3, "Invoke dbt with `dbt build`", 32)
BUILD_FAILED = step(2, 20, "Invoke dbt with `dbt build`", 32, 104)

# (dbt Cloud seconds since the trigger, what GET runs/1234/ says from then on)
FAILING_RUN = [
    (0.0, run(1, blocked_by=(1230,))),
    (6.0, run(1, message="Waiting for an available run slot")),
    (10.0, run(2)),
    (30.0, run(3, started=30, steps=[CLONE_RUNNING])),
    (32.0, run(3, started=30, steps=[CLONE_DONE, BUILD_RUNNING])),
    (104.0, run(20, started=30, ended=104, steps=[CLONE_DONE, BUILD_FAILED], message="Failed")),
]


@dataclass
class FakeClock:
    now: float = LOCAL_START
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeCloud:
    """Answers GET runs/{id}/ from a timeline, as dbt Cloud would at the fake clock's time."""

    timeline: list[tuple[float, Run]]
    clock: FakeClock
    calls: list[tuple[int, tuple[str, ...], bool]] = field(default_factory=list)

    def get_run(
        self, run_id: int, include_related: Sequence[str] = (), *, fresh: bool = False
    ) -> Run:
        self.calls.append((run_id, tuple(include_related), fresh))
        now = self.clock.now - LOCAL_START
        current = [snapshot for since, snapshot in self.timeline if since <= now][-1]
        return replace(current, job_name="Nightly") if "job" in include_related else current


@dataclass
class RecordingPolicy:
    """The default policy, remembering what the watcher told it."""

    seen: list[tuple[float, RunStatus | None, float | None, float | None]] = field(
        default_factory=list
    )

    def interval(
        self,
        elapsed: float,
        status: RunStatus | None,
        running_for: float | None,
        expected_duration: float | None,
    ) -> float:
        self.seen.append((elapsed, status, running_for, expected_duration))
        return PollPolicy().interval(elapsed, status, running_for, expected_duration)


@dataclass
class Followed:
    cloud: FakeCloud
    clock: FakeClock
    events: list[RunEvent]
    result: WatchResult

    @property
    def elapsed(self) -> float:
        return self.clock.now - LOCAL_START


def follow(
    timeline: list[tuple[float, Run]],
    *,
    timeout: float | None = None,
    expected: float | None = None,
    policy: PollPolicy | RecordingPolicy | None = None,
) -> Followed:
    clock = FakeClock()
    cloud = FakeCloud(timeline, clock)
    events: list[RunEvent] = []
    watcher = RunWatcher(
        cloud, policy=policy or PollPolicy(), clock=clock, sleep=clock.sleep, on_event=events.append
    )
    result = watcher.watch(1234, timeout=timeout, expected_duration=expected)
    return Followed(cloud, clock, events, result)


def test_follows_a_failing_run_and_logs_every_change_once() -> None:
    followed = follow(FAILING_RUN)
    assert [describe(e) for e in followed.events] == [
        "Run 1234 queued (waiting for run 1230 to finish)",
        "Run 1234 queued (Waiting for an available run slot)",
        "Run 1234 starting",
        "Run 1234 started (queued 30s)",
        "Step 1 'Clone git repository' started",
        "Step 1 'Clone git repository' succeeded in 2s",
        "Step 2 'Invoke dbt with `dbt build`' started",
        "Step 2 'Invoke dbt with `dbt build`' failed after 1m 12s",
        "Run 1234 failed after 1m 14s (queued 30s): Failed",
    ]
    assert followed.result == WatchResult(replace(FAILING_RUN[-1][1], job_name="Nightly"))


def test_first_poll_tolerates_a_fresh_run_and_the_last_fetches_steps_and_job() -> None:
    calls = follow(FAILING_RUN).cloud.calls
    assert calls[0] == (1234, (), True)
    assert {call for call in calls[1:-1]} == {(1234, (), False), (1234, ("run_steps",), False)}
    assert calls[-1] == (1234, ("run_steps", "job"), False)


def test_steps_and_their_logs_are_asked_for_only_when_they_can_have_changed() -> None:
    timeline = [
        (0.0, run(1)),
        (5.0, run(2)),
        (10.0, run(3, started=10, steps=[CLONE_RUNNING])),
        (400.0, run(10, started=10, ended=400, steps=[CLONE_DONE])),
    ]
    followed = follow(timeline)
    asked = [
        (round(at), related)
        for at, (_, related, _) in zip(
            [0.0, *itertools.accumulate(followed.clock.sleeps)],
            followed.cloud.calls[:-1],
            strict=True,
        )
    ]
    with_steps = [at for at, related in asked if related == ("run_steps",)]
    first_running = next(at for at, _ in asked if at >= 10)
    # none while queued or starting; the poll after the one that saw it running; then regularly
    assert with_steps[0] > first_running
    gaps = [b - a for a, b in itertools.pairwise(with_steps)]
    assert gaps and all(STEPS_EVERY <= gap < STEPS_EVERY + PollPolicy().cap for gap in gaps)
    assert len(with_steps) < len(asked) / 3
    assert followed.events[-1].kind is EventKind.FINISHED


@dataclass
class GrowingLogsCloud(FakeCloud):
    """From `too_large_from` (dbt Cloud seconds) on, an answer with the steps is too large."""

    too_large_from: float = 0.0
    refused: list[int] = field(default_factory=list)  # indexes in `calls`

    def get_run(
        self, run_id: int, include_related: Sequence[str] = (), *, fresh: bool = False
    ) -> Run:
        if "run_steps" in include_related and self.clock.now - LOCAL_START >= self.too_large_from:
            self.refused.append(len(self.calls))
            self.calls.append((run_id, tuple(include_related), fresh))
            raise AnswerTooLarge(200, "the answer to GET /runs/1234/ is larger than 32 MiB")
        return super().get_run(run_id, include_related, fresh=fresh)


def test_steps_too_large_to_read_are_asked_for_no_more_and_the_last_seen_stand() -> None:
    clock = FakeClock()
    cloud = GrowingLogsCloud(FAILING_RUN, clock, too_large_from=31.5)
    events: list[RunEvent] = []
    watcher = RunWatcher(
        cloud, policy=PollPolicy(), clock=clock, sleep=clock.sleep, on_event=events.append
    )
    result = watcher.watch(1234)

    left_out = [e for e in events if e.kind is EventKind.STEPS_LEFT_OUT]
    assert [describe(e) for e in left_out] == [
        "Run 1234's steps are no longer asked for: the answer to GET /runs/1234/ is larger "
        "than 32 MiB; the steps as last seen are reported, their whole logs are in dbt Cloud"
    ]
    [refused] = cloud.refused  # then asked again without the steps, and never with them
    assert cloud.calls[refused + 1] == (1234, (), False)
    assert all("run_steps" not in related for _, related, _ in cloud.calls[refused + 1 :])
    assert cloud.calls[-1] == (1234, ("job",), False)
    assert result.run.status is RunStatus.ERROR and result.run.job_name == "Nightly"
    assert result.run.steps == (CLONE_RUNNING,)  # as last seen, before they grew too large
    assert events[-1].kind is EventKind.FINISHED


def test_a_final_answer_too_large_with_the_steps_keeps_those_seen_while_it_ran() -> None:
    clock = FakeClock()
    cloud = GrowingLogsCloud(FAILING_RUN, clock, too_large_from=104.0)
    events: list[RunEvent] = []
    watcher = RunWatcher(
        cloud, policy=PollPolicy(), clock=clock, sleep=clock.sleep, on_event=events.append
    )
    result = watcher.watch(1234)

    assert cloud.refused == [len(cloud.calls) - 2]  # the final read, asked again without them
    assert cloud.calls[-2:] == [(1234, ("run_steps", "job"), False), (1234, ("job",), False)]
    assert result.run.status is RunStatus.ERROR and result.run.job_name == "Nightly"
    assert result.run.steps == (CLONE_DONE, BUILD_RUNNING)
    assert [e.kind for e in events][-2:] == [EventKind.STEPS_LEFT_OUT, EventKind.FINISHED]


@pytest.mark.parametrize(
    ("before", "status", "since", "due"),
    [
        (None, 1, 0.0, False),  # queued: no steps yet
        (2, 2, 99.0, False),  # starting: none either
        (2, 3, 0.0, True),  # just started
        (None, 3, 0.0, True),  # attached to a running run
        (3, 3, STEPS_EVERY - 1, False),
        (3, 3, STEPS_EVERY, True),
        (3, 99, 0.0, True),  # a status code this action does not know: look
    ],
)
def test_steps_due(before: int | None, status: int, since: float, due: bool) -> None:
    previous = None if before is None else run(before)
    current = replace(run(1), status=RunStatus.parse(status), status_code=status)
    assert steps_due(previous, current, since, STEPS_EVERY) is due


def test_notices_the_end_at_the_first_poll_after_it() -> None:
    followed = follow(FAILING_RUN)
    sleeps = followed.clock.sleeps
    assert sum(sleeps[:-1]) < 104 <= sum(sleeps) == pytest.approx(followed.elapsed)
    assert followed.elapsed - 104 < PollPolicy().cap
    assert len(followed.cloud.calls) == len(sleeps) + 2  # a poll after each sleep, and the final


def test_running_for_comes_from_dbt_cloud_timestamps_not_from_when_the_start_was_seen() -> None:
    timeline = [
        (0.0, run(1)),
        (400.0, run(3, started=400)),
        (1000.0, run(10, started=400, ended=1000)),
    ]
    policy = RecordingPolicy()
    follow(timeline, expected=600, policy=policy)
    running = [(elapsed, running_for) for elapsed, _, running_for, _ in policy.seen if running_for]
    assert running  # the start was seen up to a cap late, yet running_for is exact
    assert all(running_for == pytest.approx(elapsed - 400) for elapsed, running_for in running)
    assert all(expected == 600 for *_, expected in policy.seen)


def test_timeout_stops_at_the_deadline_and_says_the_run_is_still_going() -> None:
    timeline = [(0.0, run(1)), (5.0, run(3, started=5))]
    followed = follow(timeline, timeout=60)
    assert followed.result.timed_out
    assert followed.elapsed == 60  # the last sleep is cut short to the deadline
    assert followed.events[-1].kind is EventKind.TIMED_OUT
    assert describe(followed.events[-1]) == (
        "Run 1234 is still running: timeout of 1m 00s reached; stopped following it"
    )
    assert followed.cloud.calls[-1][1] == ("run_steps", "job")


def test_a_run_ending_at_the_deadline_is_finished_not_timed_out() -> None:
    timeline = [(0.0, run(3, started=0)), (60.0, run(10, started=0, ended=60))]
    followed = follow(timeline, timeout=60)
    assert not followed.result.timed_out
    assert followed.events[-1].kind is EventKind.FINISHED


def test_terminal_is_decided_by_the_integer_status_only() -> None:
    # status_humanized is not even parsed; an unknown code is followed, not taken as an end
    said_success = Run.from_api(
        {
            "id": 1234,
            "status": 3,
            "status_humanized": "Success",
            "created_at": at(0).isoformat(),
            "started_at": at(0).isoformat(),
        }
    )
    unknown = replace(said_success, status=RunStatus.parse(42), status_code=42)
    done = run(10, started=0, ended=30)
    followed = follow([(0.0, said_success), (10.0, unknown), (30.0, done)])
    events = followed.events
    assert [e.kind for e in events] == [
        EventKind.STARTED,
        EventKind.UNKNOWN_STATUS,
        EventKind.FINISHED,
    ]
    assert describe(events[1]) == (
        "Run 1234 reports status 42, which this action does not know; still following it"
    )
    assert followed.result.run.status is RunStatus.SUCCESS


def test_a_final_fetch_that_lags_behind_does_not_undo_the_end() -> None:
    done = run(10, started=0, ended=20)
    lagging = replace(run(3, started=0), job_name="Nightly")
    answers = iter([run(3, started=0), done, lagging])

    class LaggingCloud:
        def get_run(
            self, run_id: int, include_related: Sequence[str] = (), *, fresh: bool = False
        ) -> Run:
            return next(answers)

    clock = FakeClock()
    events: list[RunEvent] = []
    watcher = RunWatcher(
        LaggingCloud(), policy=PollPolicy(), clock=clock, sleep=clock.sleep, on_event=events.append
    )
    assert watcher.watch(1234) == WatchResult(replace(done, job_name="Nightly"))
    assert events[-1].kind is EventKind.FINISHED


class Cancelled(Exception):
    pass


def test_a_cancel_raised_by_sleep_stops_the_watch_at_once() -> None:
    clock = FakeClock()
    cloud = FakeCloud(FAILING_RUN, clock)

    def sleep(seconds: float) -> None:
        if len(clock.sleeps) == 2:
            raise Cancelled
        clock.sleep(seconds)

    watcher = RunWatcher(
        cloud, policy=PollPolicy(), clock=clock, sleep=sleep, on_event=lambda _: None
    )
    with pytest.raises(Cancelled):
        watcher.watch(1234, timeout=None, expected_duration=None)
    assert len(cloud.calls) == 3  # no poll, no final fetch after the signal


def test_fixed_policy_polls_at_its_interval() -> None:
    followed = follow(FAILING_RUN, policy=PollPolicy(fixed=10))
    assert set(followed.clock.sleeps) == {10}
    assert followed.elapsed == 110


def test_attaching_to_a_finished_run_still_tells_its_story() -> None:
    done = FAILING_RUN[-1][1]
    assert [e.kind for e in changes(None, done)] == [
        EventKind.STARTED,
        EventKind.STEP_STARTED,
        EventKind.STEP_FINISHED,
        EventKind.STEP_STARTED,
        EventKind.STEP_FINISHED,
        EventKind.FINISHED,
    ]


def test_a_run_cancelled_in_the_queue_never_started() -> None:
    queued = run(1)
    cancelled = replace(run(30), finished_at=at(40))
    events = changes(queued, cancelled)
    assert [e.kind for e in events] == [EventKind.FINISHED]
    assert describe(events[0]) == "Run 1234 was cancelled"


def test_a_step_skipped_after_a_failure_only_ends() -> None:
    before = run(3, started=30, steps=[BUILD_RUNNING])
    after = run(20, started=30, ended=120, steps=[BUILD_FAILED, step(3, 30, "dbt docs generate")])
    lines = [describe(e) for e in changes(before, after)]
    assert lines == [
        "Step 2 'Invoke dbt with `dbt build`' failed after 1m 12s",
        "Step 3 'dbt docs generate' was cancelled",
        "Run 1234 failed after 1m 30s (queued 30s)",
    ]


def test_success_line_has_run_and_queue_time() -> None:
    done = run(10, started=12, ended=197)
    assert describe(RunEvent(EventKind.FINISHED, done)) == (
        "Run 1234 succeeded in 3m 05s (queued 12s)"
    )


def test_dbt_cloud_text_cannot_start_a_new_log_line() -> None:
    sneaky = run(1, message="waiting\n::set-output name=status::success\r\u2028x")
    line = describe(changes(None, sneaky)[0])
    assert "\n" not in line and "\r" not in line and "\u2028" not in line
    assert line == "Run 1234 queued (waiting ::set-output name=status::success x)"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.4, "0s"), (12.6, "13s"), (60, "1m 00s"), (185, "3m 05s"), (7449, "2h 04m 09s")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_blocked_by_is_read_from_the_api_and_named_in_the_queued_line() -> None:
    queued = Run.from_api({"id": 1234, "status": 1, "blocked_by": [1230, 1231, "x", True]})
    assert queued.blocked_by == (1230, 1231)
    assert describe(changes(None, queued)[0]) == (
        "Run 1234 queued (waiting for runs 1230, 1231 to finish)"
    )
