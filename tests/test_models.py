from datetime import UTC, datetime

from dbt_cloud_action.models import Job, Run, RunStatus, parse_timestamp


def test_status_parse_only_known_integers() -> None:
    assert RunStatus.parse(10) is RunStatus.SUCCESS
    assert RunStatus.parse(30) is RunStatus.CANCELLED
    assert RunStatus.parse(99) is None
    assert RunStatus.parse("10") is None
    assert RunStatus.parse(True) is None


def test_terminal_statuses() -> None:
    assert [s for s in RunStatus if s.is_terminal] == [
        RunStatus.SUCCESS,
        RunStatus.ERROR,
        RunStatus.CANCELLED,
    ]


def test_run_from_api_ignores_status_humanized() -> None:
    run = Run.from_api(
        {
            "id": 7,
            "job_definition_id": 3,
            "account_id": 1,
            "status": 30,
            "status_humanized": "Success",
            "created_at": "2026-11-01 10:00:00.000000+00:00",
            "started_at": "2026-11-01T10:00:05+00:00",
            "finished_at": "2026-11-01T10:01:05Z",
            "trigger": {"cause": "ci", "github_pull_request_id": 12},
            "job": {"name": "CI"},
            "run_steps": [{"index": 1, "name": "Clone", "status": 10}],
        }
    )
    assert run.status is RunStatus.CANCELLED
    assert run.queued_seconds == 5.0
    assert run.run_seconds == 60.0
    assert run.github_pull_request_id == 12
    assert run.job_name == "CI"
    assert run.steps[0].status is RunStatus.SUCCESS


def test_parse_timestamp_rejects_garbage() -> None:
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None
    assert parse_timestamp("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)


def test_job_from_api() -> None:
    job = Job.from_api(
        {"id": 5, "account_id": 1, "name": "Nightly", "execute_steps": ["dbt build"]}
    )
    assert job.execute_steps == ("dbt build",)
