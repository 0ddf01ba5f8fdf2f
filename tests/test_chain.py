"""chain.py: which jobs a run's end starts, and which of their runs it started (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dbt_cloud_action.chain import chain_loop, chained_jobs, chained_run, loop_message
from dbt_cloud_action.models import Job, JobCompletion, Run, RunStatus

ENDED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def parent(status: RunStatus = RunStatus.SUCCESS) -> Run:
    return Run(1, 7, 1, status, int(status), finished_at=ENDED)


def child_run(run_id: int, seconds: float, cause: str = "job completion") -> Run:
    at = ENDED + timedelta(seconds=seconds)
    return Run(run_id, 8, 1, RunStatus.QUEUED, 1, created_at=at, cause_category=cause)


def test_the_jobs_whose_condition_names_the_runs_job_and_status() -> None:
    on_success = Job(8, 1, "Transform", after=JobCompletion(7, (10,)))
    on_error = Job(9, 1, "Alert", after=JobCompletion(7, (20, 30)))
    other_parent = Job(10, 1, "Other", after=JobCompletion(99, (10,)))
    jobs = (Job(7, 1, "Load"), on_success, on_error, other_parent)
    assert chained_jobs(jobs, parent()) == (on_success,)
    assert chained_jobs(jobs, parent(RunStatus.ERROR)) == (on_error,)


def test_the_condition_is_read_from_the_job() -> None:
    data = {
        "id": 8,
        "job_completion_trigger_condition": {"condition": {"job_id": 7, "statuses": [10, 20]}},
    }
    assert Job.from_api(data).after == JobCompletion(7, (10, 20))
    assert Job.from_api({"id": 8, "job_completion_trigger_condition": None}).after is None


def test_the_oldest_job_completion_run_after_the_end_not_taken() -> None:
    runs = [
        child_run(5, 30),
        child_run(4, 2),
        child_run(3, -5),  # before the parent ended: another parent run's
        child_run(6, 3, cause="api"),  # not started by job completion
    ]
    assert chained_run(runs, parent(), taken=set()) == runs[1]
    assert chained_run(runs, parent(), taken={4}) == runs[0]
    assert chained_run(runs[2:], parent(), taken=set()) is None


def test_a_loop_names_its_jobs_in_order() -> None:
    assert "7 → 8 → 7" in loop_message((7, 8), 7)


def test_a_loop_below_the_job_is_found_whatever_the_statuses() -> None:
    """`chain_loop`: read before any run starts, so a chain that loops is an input error."""

    def chained(job_id: int, after: int | None) -> Job:
        condition = None if after is None else JobCompletion(after, (20,))
        return Job(id=job_id, account_id=1, name=str(job_id), after=condition)

    jobs = [chained(1, None), chained(2, 1), chained(3, 2), chained(4, 3)]
    assert chain_loop(jobs, 1) is None
    assert chain_loop([*jobs, chained(1, 3)], 1) == ((1, 2, 3), 1)
