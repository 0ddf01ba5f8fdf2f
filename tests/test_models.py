from datetime import UTC, datetime

from dbt_cloud_action.models import STEP_LOG_CHARS, Job, Run, RunStatus, RunStep, parse_timestamp


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


def test_a_step_keeps_the_end_of_its_log_from_a_whole_line() -> None:
    logs = "".join(f"line {i:04d}\n" for i in range(1000))  # 10 characters a line
    step = RunStep.from_api({"index": 2, "status": 3, "logs": logs}, log_chars=95)
    assert step.logs == "".join(f"line {i:04d}\n" for i in range(991, 1000))
    assert step.logs_cut == len(logs) - len(step.logs)
    assert step.logs_cut + len(step.logs) == len(logs)


def test_a_short_log_is_kept_whole_and_one_endless_line_is_cut_where_it_must() -> None:
    whole = RunStep.from_api({"logs": "a\nb"}, log_chars=3)
    assert (whole.logs, whole.logs_cut) == ("a\nb", 0)
    endless = RunStep.from_api({"logs": "x" * 50}, log_chars=20)
    assert (endless.logs, endless.logs_cut) == ("x" * 20, 30)


def test_a_runs_steps_keep_their_log_ends() -> None:
    data = {"id": 1, "status": 10, "run_steps": [{"index": 1, "logs": "old\n" + "y" * 30}]}
    [step] = Run.from_api(data, log_chars=10).steps
    assert (step.logs, step.logs_cut) == ("y" * 10, 24)
    [default] = Run.from_api(data).steps
    assert len(default.logs) < STEP_LOG_CHARS and default.logs_cut == 0
