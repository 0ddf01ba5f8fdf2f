"""The API JSON of accounts, jobs, environments and runs, shaped like dbt Cloud's replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from hashlib import sha1
from typing import Any

from dbt_cloud_emulator.clock import EmulatedTime
from dbt_cloud_emulator.config import (
    ERROR,
    PROD_ENVIRONMENT_ID,
    SUCCESS,
    JobScript,
    StepScript,
)
from dbt_cloud_emulator.dbt_output import (
    FUSION_TRACK,
    StepContext,
    render_debug_log,
    render_log,
    step_failure_message,
    step_log,
)
from dbt_cloud_emulator.timeline import CANCELLED, QUEUED, RUNNING, STARTING, Schedule

DEBUG_LOG_TAIL = 1000
STATUS_HUMANIZED = {
    QUEUED: "Queued",
    STARTING: "Starting",
    RUNNING: "Running",
    SUCCESS: "Success",
    ERROR: "Error",
    CANCELLED: "Cancelled",
}
_JOB_AGE = timedelta(days=90)


@dataclass(frozen=True)
class RunRecord:
    """What the emulator stores about a run; everything else is derived from its schedule."""

    id: int
    job: JobScript
    trigger: dict[str, Any]  # the accepted trigger fields plus cause_category
    created: float
    steps: tuple[StepScript, ...]
    cancelled_at: float | None = None
    retrying_run_id: int | None = None  # the failed run this one retries
    deferring_run_id: int | None = None  # the run it defers to (its job's defers_to_job_id)

    @property
    def trigger_id(self) -> int:
        return 50_000 + self.id

    @property
    def environment_id(self) -> int:
        return self.job.environment

    @property
    def dbt_version(self) -> str:
        """The run's dbt: the trigger's `dbt_version_override`, else its job's."""
        override = self.trigger.get("dbt_version_override")
        return override if isinstance(override, str) else self.job.dbt_version

    def context(self) -> StepContext:
        """Schema, target and git details the run's logs and artifacts show."""
        pr = self.trigger.get("github_pull_request_id")
        default_schema = f"dbt_cloud_pr_{self.job.id}_{pr}" if pr is not None else "analytics"
        return StepContext(
            run_id=self.id,
            schema=self.trigger.get("schema_override") or default_schema,
            target_name=self.trigger.get("target_name_override") or "default",
            threads=self.trigger.get("threads_override") or 4,
            git_sha=self.trigger.get("git_sha")
            or sha1(f"run-{self.id}".encode(), usedforsecurity=False).hexdigest(),
            git_branch=self.trigger.get("git_branch") or "main",
            fusion=self.dbt_version == FUSION_TRACK,
        )


@dataclass(frozen=True)
class RunView:
    """A run at one moment, with the facts that need the whole account to know."""

    record: RunRecord
    schedule: Schedule
    now: float
    retry_refusal: str | None  # RetryNotSupportedReasonEnum value; None = can retry
    blocked_by: tuple[int, ...] = ()

    @property
    def status(self) -> int:
        return self.schedule.status_at(self.now)


def account_json(account_id: int, time: EmulatedTime) -> dict[str, Any]:
    return {
        "id": account_id,
        "name": "Emulated Analytics",
        "state": 1,
        "plan": "enterprise",
        "created_at": time.iso(-_JOB_AGE.total_seconds() * 2),
    }


def project_json(account_id: int, job: JobScript) -> dict[str, Any]:
    return {
        "id": job.project_id,
        "account_id": account_id,
        "name": job.project_name,
        "description": "",
        "connection_id": 300,
        "repository_id": 400,
        "state": 1,
        "type": 0,
        # the dbt project's folder in the repository (Project in the v2 spec, a string); given
        # only when the project has one (the action reads absent, null and "" alike: the root)
        **(
            {"dbt_project_subdirectory": job.project_subdirectory}
            if job.project_subdirectory
            else {}
        ),
    }


def environment_json(account_id: int, job: JobScript) -> dict[str, Any]:
    """The job's environment; a CI job's is a staging environment, any other's production."""
    is_ci = job.job_type == "ci"
    return {
        "id": job.environment,
        "account_id": account_id,
        "project_id": job.project_id,
        "name": job.environment_label,
        "connection_id": 300,
        "credentials_id": 500 + job.environment,
        "repository_id": 400,
        "use_custom_branch": False,
        "dbt_version": "latest",
        "supports_docs": not is_ci,
        "deployment_type": "staging" if is_ci else "production",
        "type": "deployment",
        "state": 1,
    }


def job_json(
    job: JobScript,
    account_id: int,
    time: EmulatedTime,
    *,
    failure_count: int = 0,
    internal: bool = False,
    parent_project_id: int | None = None,
) -> dict[str, Any]:
    """A job definition; `internal` gives the shape embedded in a run (`include_related=job`).
    A chained job's condition names its parent job's project (`parent_project_id`)."""
    is_ci = job.job_type == "ci"
    cron = "0 * * * *" if is_ci else "0 6 * * *"
    environment_id = job.environment
    age = -_JOB_AGE.total_seconds()
    created = time.iso_z(age) if internal else time.iso(age)
    return {
        "id": job.id,
        "account_id": account_id,
        "project_id": job.project_id,
        "environment_id": environment_id,
        "name": job.name,
        "description": job.description,
        "dbt_version": None,
        "raw_dbt_version": job.dbt_version,
        "deferring_environment_id": PROD_ENVIRONMENT_ID if is_ci else None,
        "deferring_job_definition_id": job.defers_to_job_id,
        "execute_steps": [
            s.command
            for s in job.steps
            if s.command and s.dbt_subcommand not in ("deps", "docs generate")
        ],
        "execution": {"timeout_seconds": 0},
        "generate_docs": job.generates_docs,
        "is_deferrable": not is_ci,
        "job_type": job.job_type,
        "lifecycle_webhooks": False,
        "lifecycle_webhooks_url": "",
        "run_compare_changes": False,
        "compare_changes_flags": "--select state:modified",
        "run_failure_count": failure_count,
        "run_generate_sources": False,
        "run_lint": False,
        "errors_on_lint_failure": True,
        "cost_optimization_features": [],
        "settings": {"threads": 4, "target_name": "default"},
        "state": 1,
        "triggers_on_draft_pr": False,
        "triggers": job.trigger_flags,
        "job_completion_trigger_condition": (
            None
            if job.after_job_id is None
            else {
                "condition": {
                    "job_id": job.after_job_id,
                    "project_id": parent_project_id or job.project_id,
                    "statuses": list(job.after_statuses),
                }
            }
        ),
        "created_at": created,
        "updated_at": created,
        "account": account_json(account_id, time),
        "project": project_json(account_id, job),
        "environment": environment_json(account_id, job),
        "fusion_readiness": None,
        "schedule": (
            {"cron": cron, "date": "custom_cron", "time": "every_hour"}
            if internal
            else {
                "cron": cron,
                "date": {"type": "custom_cron", "cron": cron},
                "time": {"type": "every_hour", "interval": 1},
            }
        ),
        "generate_sources": False,
    }


def run_json(
    view: RunView,
    *,
    account_id: int,
    time: EmulatedTime,
    url: str,
    include: frozenset[str],
    job: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A run as GET runs/{id}/ returns it; related objects only when `include` asks for them
    (`job` is the job's JSON, passed in when asked for)."""
    record, schedule, now = view.record, view.schedule, view.now
    status = view.status
    done = status in (SUCCESS, ERROR, CANCELLED)
    started = schedule.started if schedule.started is not None and now >= schedule.started else None
    dequeued = schedule.dequeued if schedule.dequeued is not None and status != QUEUED else None
    finished = schedule.finished if done else None
    end = finished if finished is not None else now
    ctx = record.context()
    checked_out = started is not None
    return {
        "id": record.id,
        "trigger_id": record.trigger_id,
        "account_id": account_id,
        "environment_id": record.environment_id,
        "project_id": record.job.project_id,
        "job_definition_id": record.job.id,
        "job_id": record.job.id,
        "status": status,
        "status_humanized": STATUS_HUMANIZED[status],
        "status_message": _status_message(schedule) if done and status != SUCCESS else None,
        "dbt_version": record.dbt_version,
        "git_branch": ctx.git_branch if checked_out or "git_branch" in record.trigger else None,
        "git_sha": ctx.git_sha if checked_out or "git_sha" in record.trigger else None,
        "owner_thread_id": None,
        "executed_by_thread_id": f"dbt-run-{record.id}-worker" if started is not None else None,
        "deferring_run_id": record.deferring_run_id,
        # Saved when the run ended and one of its steps wrote some (a run that failed to clone,
        # or was cancelled before dbt ran, has none).
        "artifacts_saved": done
        and record.job.saves_artifacts
        and any(p.script.artifact_names and p.status != CANCELLED for p in schedule.steps),
        "artifact_s3_path": f"prod-us-c1/runs/{record.id}/artifacts/target"
        if done and started is not None
        else None,
        "has_docs_generated": done
        and any(
            p.script.dbt_subcommand == "docs generate" and p.status == SUCCESS
            for p in schedule.steps
        ),
        "has_sources_generated": False,
        "notifications_sent": done,
        "blocked_by": list(view.blocked_by),
        "created_at": time.stamp(schedule.created),
        "updated_at": time.stamp(_last_change(schedule, now)),
        "dequeued_at": time.stamp(dequeued),
        "started_at": time.stamp(started),
        "finished_at": time.stamp(finished),
        "last_checked_at": time.stamp(finished) if done else None,
        "last_heartbeat_at": None if started is None else time.stamp(min(now, schedule.finished)),
        "should_start_at": None,
        "trigger": trigger_json(record, time) if "trigger" in include else None,
        "job": job,
        "environment": environment_json(account_id, record.job)
        if "environment" in include
        else None,
        "run_steps": _steps_json(view, account_id, time, include) if "run_steps" in include else [],
        "deprecation": None,
        "in_progress": not done,
        "is_complete": done,
        "is_success": status == SUCCESS,
        "is_error": status == ERROR,
        "is_cancelled": status == CANCELLED,
        "is_running": status == RUNNING,
        "duration": _hms(end - schedule.created),
        "queued_duration": _hms((started if started is not None else end) - schedule.created),
        "run_duration": _hms(end - started if started is not None else 0.0),
        "duration_humanized": _humanize(end - schedule.created),
        "queued_duration_humanized": _humanize(
            (started if started is not None else end) - schedule.created
        ),
        "run_duration_humanized": _humanize(end - started if started is not None else 0.0),
        "created_at_humanized": _ago(now - schedule.created),
        "finished_at_humanized": _ago(now - finished)
        if finished is not None
        else "0 minutes from now",
        "retrying_run_id": record.retrying_run_id,
        "can_retry": view.retry_refusal is None,
        "retry_not_supported_reason": view.retry_refusal,
        "href": f"{url}/deploy/{account_id}/projects/{record.job.project_id}/runs/{record.id}/",
        "used_repo_cache": None,
    }


def trigger_json(record: RunRecord, time: EmulatedTime) -> dict[str, Any]:
    fields = record.trigger
    names = (
        "git_branch",
        "git_sha",
        "azure_pull_request_id",
        "github_pull_request_id",
        "gitlab_merge_request_id",
        "non_native_pull_request_id",
        "schema_override",
        "dbt_version_override",
        "threads_override",
        "target_name_override",
        "generate_docs_override",
        "timeout_seconds_override",
        "steps_override",
    )
    return {
        "id": record.trigger_id,
        "cause": fields["cause"],
        "job_definition_id": record.job.id,
        **{name: fields.get(name) for name in names},
        "cause_category": fields.get("cause_category", "api"),
        "cause_humanized": fields["cause"],
        "created_at": time.stamp(record.created),
        "updated_at": time.stamp(record.created),
    }


def _steps_json(
    view: RunView, account_id: int, time: EmulatedTime, include: frozenset[str]
) -> list[dict[str, Any]]:
    record, now = view.record, view.now
    ctx = record.context()
    steps = []
    for planned in view.schedule.steps:
        status = planned.status_at(now)
        if status is None:
            continue
        started = time.wall(planned.start)
        upto = min(now, planned.end) - planned.start
        lines = step_log(planned.script, ctx)
        logs = render_log(lines, started, upto)
        if status != RUNNING and planned.end < planned.start + planned.script.duration:
            logs += "\n" + _stopped_line(view.schedule)
        debug = render_debug_log(lines, started, upto)
        if "debug_logs" not in include:
            debug = "\n".join(debug.splitlines()[-DEBUG_LOG_TAIL:])
        finished = planned.end if status != RUNNING else None
        end = finished if finished is not None else now
        steps.append(
            {
                "id": record.id * 100 + planned.index,
                "run_id": record.id,
                "account_id": account_id,
                "index": planned.index,
                "status": status,
                "status_humanized": STATUS_HUMANIZED[status],
                "name": planned.script.name,
                "logs": logs,
                "debug_logs": debug,
                "log_path": f"runs/{record.id}/steps/{planned.index}/logs.txt",
                "debug_log_path": f"runs/{record.id}/steps/{planned.index}/debug.log",
                "started_at": time.stamp(planned.start),
                "finished_at": time.stamp(finished),
                "duration": _hms(end - planned.start),
                "duration_humanized": _humanize(end - planned.start),
                "created_at": time.stamp(planned.start),
                "updated_at": time.stamp(end),
            }
        )
    return steps


def _stopped_line(schedule: Schedule) -> str:
    if schedule.cut is not None and schedule.cut.status == CANCELLED:
        return "Cancelled: the run was cancelled while this step was running."
    return "Timeout: the run exceeded its timeout while this step was running."


def _status_message(schedule: Schedule) -> str:
    cut = schedule.cut
    if cut is not None and cut.status == CANCELLED:
        return "Cancelled by user."
    if cut is not None and schedule.started is not None:
        seconds = round(cut.at - schedule.started)
        return f"The run timed out after {seconds} seconds (timeout_seconds_override)."
    failed = schedule.failed_step()
    return step_failure_message(failed.script) if failed else "The run failed."


def _last_change(schedule: Schedule, now: float) -> float:
    moments = [schedule.created, schedule.dequeued, schedule.started, schedule.finished]
    moments += [p.start for p in schedule.steps] + [p.end for p in schedule.steps]
    return max(m for m in moments if m is not None and m <= now)


def _hms(seconds: float) -> str:
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _humanize(seconds: float) -> str:
    total = max(0, int(seconds))
    minutes, secs = divmod(total, 60)
    if minutes == 0:
        return f"{secs} second{'s' if secs != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}, {secs} second{'s' if secs != 1 else ''}"


def _ago(seconds: float) -> str:
    minutes = max(0, int(seconds)) // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''} ago"
