from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbt_cloud_action.models import Run, RunStatus
from dbt_cloud_action.watcher import PollPolicy, expected_duration

POLICY = PollPolicy()
seconds = st.floats(min_value=0, max_value=86_400, allow_nan=False)
statuses = st.sampled_from([None, *RunStatus])


@given(seconds, statuses, st.none() | seconds, st.none() | seconds)
def test_interval_stays_between_floor_and_cap(
    elapsed: float, status: RunStatus | None, running_for: float | None, expected: float | None
) -> None:
    wait = POLICY.interval(elapsed, status, running_for, expected)
    assert POLICY.floor <= wait <= POLICY.cap


@given(seconds, statuses, st.none() | seconds, st.none() | seconds)
def test_fixed_policy_ignores_everything(
    elapsed: float, status: RunStatus | None, running_for: float | None, expected: float | None
) -> None:
    assert PollPolicy(fixed=10).interval(elapsed, status, running_for, expected) == 10


def test_fast_right_after_the_trigger_then_slower_until_the_cap() -> None:
    waits = [POLICY.interval(t, RunStatus.QUEUED, None, None) for t in range(0, 600, 5)]
    assert waits[0] == POLICY.floor
    assert waits == sorted(waits)
    assert waits[-1] == POLICY.cap


def test_fast_again_right_after_a_long_queue_ends() -> None:
    queued = POLICY.interval(900, RunStatus.QUEUED, None, 600)
    just_started = POLICY.interval(901, RunStatus.RUNNING, 1, 600)
    assert queued == POLICY.cap
    assert just_started == POLICY.floor


def test_starting_is_polled_fast_even_after_a_long_queue() -> None:
    assert POLICY.interval(900, RunStatus.STARTING, None, None) <= POLICY.near


def test_fast_near_the_expected_end_and_slow_in_between() -> None:
    expected = 600.0
    waits = [POLICY.interval(r + 2, RunStatus.RUNNING, r, expected) for r in range(60, 1200, 3)]
    before_end = [w for r, w in zip(range(60, 1200, 3), waits, strict=True) if r <= expected]
    after_end = [w for r, w in zip(range(60, 1200, 3), waits, strict=True) if r >= expected]
    assert before_end == sorted(before_end, reverse=True)  # closer to the end: faster
    assert after_end == sorted(after_end)  # later than usual: slower again
    assert before_end[0] == POLICY.cap
    assert POLICY.interval(600, RunStatus.RUNNING, 600, expected) == POLICY.near
    assert after_end[-1] == POLICY.cap


def test_band_grows_with_the_expected_duration() -> None:
    # 5 % early: inside the band of a 3-hour run, and well outside that of a 2-minute one
    long_run = POLICY.interval(9000, RunStatus.RUNNING, 10_800 * 0.95, 10_800)
    assert long_run == POLICY.near
    short_run = POLICY.interval(300, RunStatus.RUNNING, 60, 120)
    assert short_run == POLICY.cap


def test_without_history_the_middle_of_a_run_is_polled_at_the_cap() -> None:
    assert POLICY.interval(3600, RunStatus.RUNNING, 3590, None) == POLICY.cap


def test_cap_is_kind_to_the_account_rate_limit() -> None:
    # 5,000 requests a minute are shared by the whole account: one followed run uses under 0.2 %
    assert 60 / POLICY.cap < 5_000 * 0.002


def _simulated_polls(duration: float, expected: float | None) -> tuple[int, float]:
    """Polls (with the final fetch) and detection latency of a run starting 2 s after trigger."""
    started, ended = 2.0, 2.0 + duration
    now, polls = 0.0, 1
    while now < ended:
        running_for = now - started if now >= started else None
        status = RunStatus.RUNNING if running_for is not None else RunStatus.QUEUED
        now += POLICY.interval(now, status, running_for, expected)
        polls += 1
    return polls + 1, now - ended


def test_ten_minute_run_ending_on_time_costs_at_most_ten_requests_a_minute() -> None:
    polls, latency = _simulated_polls(600, 600)
    assert polls <= 100
    assert latency <= POLICY.near


def test_ten_minute_run_without_history_is_noticed_within_the_cap() -> None:
    polls, latency = _simulated_polls(600, None)
    assert polls <= 100
    assert latency <= POLICY.cap


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"fixed": 0}, "fixed"),
        ({"floor": -1}, "floor"),
        ({"cap": float("nan")}, "cap"),
        ({"near": 20}, "floor <= near <= cap"),
        ({"burst": -1}, "must not be negative"),
    ],
)
def test_bad_parameters_are_refused(changes: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        replace(POLICY, **changes)


T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def _finished(run_id: int, status: int, seconds: float | None) -> Run:
    started = T0 + timedelta(minutes=run_id)
    return Run(
        id=run_id,
        job_id=7,
        account_id=1,
        status=RunStatus.parse(status),
        status_code=status,
        started_at=started,
        finished_at=None if seconds is None else started + timedelta(seconds=seconds),
    )


def test_expected_duration_is_the_median_of_recent_successes() -> None:
    runs = [
        _finished(1, 10, 100),
        _finished(2, 20, 5),  # failed early: not a usual duration
        _finished(3, 10, 130),
        _finished(4, 30, 1),
        _finished(5, 10, 900),  # one slow outlier does not move the median much
        _finished(6, 3, None),
    ]
    assert expected_duration(runs) == 130


def test_expected_duration_needs_a_finished_success() -> None:
    assert expected_duration([]) is None
    assert expected_duration([_finished(1, 20, 50), _finished(2, 10, None)]) is None
