"""The dbt Cloud objects the action reasons about, parsed once from API JSON.

Everything downstream (watcher, reporting) works on these frozen values, never on raw dicts,
so a field the API renames breaks in exactly one place.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The end of each run step's log kept in memory (characters): the report shows a log's last
# lines and its final errors, and a long run's logs grow to megabytes, fetched again and again.
STEP_LOG_CHARS = 1 << 20


class RunStatus(enum.IntEnum):
    """dbt Cloud's integer run (and run step) status; the only thing outcomes are decided from."""

    QUEUED = 1
    STARTING = 2
    RUNNING = 3
    SUCCESS = 10
    ERROR = 20
    CANCELLED = 30

    @property
    def is_terminal(self) -> bool:
        return self >= RunStatus.SUCCESS

    @classmethod
    def parse(cls, value: object) -> RunStatus | None:
        """The status for a known integer code, None for anything else (a new or bogus code)."""
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        try:
            return cls(value)
        except ValueError:
            return None


def parse_timestamp(value: object) -> datetime | None:
    """dbt Cloud timestamps are ISO 8601, with a space or a `T`, usually with `+00:00`."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool_or_none(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


class Outcome(enum.StrEnum):
    """How the step ended for its run: the `status` output. Here rather than in reporting, so
    the step can decide it without loading reporting before the first request."""

    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed-out"
    TRIGGERED = "triggered"  # not waited for
    # the step was cancelled and the run still goes in dbt Cloud (kept on purpose, or its
    # cancel not confirmed in time): the report says why
    RUNNING = "running"
    SKIPPED = "skipped"  # no run was started (a fork's pull request with fork-pull-requests: skip)
    NOT_FOUND = "not-found"  # mode: follow, and dbt Cloud started no run for the commit in time


@dataclass(frozen=True)
class RunStep:
    index: int
    name: str
    status: RunStatus | None
    logs: str = ""  # the log's end, at most the `log_chars` it was parsed with
    started_at: datetime | None = None
    finished_at: datetime | None = None
    logs_cut: int = 0  # characters of the log's start that were not kept

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, log_chars: int = STEP_LOG_CHARS) -> RunStep:
        """The step, with the last `log_chars` characters of its log (`logs_cut` says how many
        came before them). Only `logs` is read: dbt Cloud's `debug_logs` are never kept."""
        logs = _str(data.get("logs"))
        cut = max(0, len(logs) - max(0, log_chars))
        if cut:  # from the next whole line, unless the cut falls in one endless line
            newline = logs.find("\n", cut - 1)
            cut = newline + 1 if newline != -1 else cut
        return cls(
            index=_int_or_none(data.get("index")) or 0,
            name=_str(data.get("name")),
            status=RunStatus.parse(data.get("status")),
            logs=logs[cut:],
            started_at=parse_timestamp(data.get("started_at")),
            finished_at=parse_timestamp(data.get("finished_at")),
            logs_cut=cut,
        )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Overrides:
    """The job settings a trigger overrode; None and () mean the job's own setting.

    Read from a run's `trigger` (what dbt Cloud really ran with) and built from the action's
    payload (what this step asks for), so the two compare field by field.
    """

    schema: str | None = None
    dbt_version: str | None = None
    threads: int | None = None
    target_name: str | None = None
    generate_docs: bool | None = None
    timeout_seconds: int | None = None
    steps: tuple[str, ...] = ()

    @classmethod
    def from_trigger(cls, trigger: Mapping[str, Any]) -> Overrides:
        docs = trigger.get("generate_docs_override")
        return cls(
            schema=_text_or_none(trigger.get("schema_override")),
            dbt_version=_text_or_none(trigger.get("dbt_version_override")),
            threads=_int_or_none(trigger.get("threads_override")),
            target_name=_text_or_none(trigger.get("target_name_override")),
            generate_docs=docs if isinstance(docs, bool) else None,
            timeout_seconds=_int_or_none(trigger.get("timeout_seconds_override")),
            steps=tuple(s for s in _list(trigger.get("steps_override")) if isinstance(s, str)),
        )

    def shown(self) -> tuple[tuple[str, str], ...]:
        """The overridden settings but the schema (shown on its own), as (name, value)."""
        values: tuple[tuple[str, object], ...] = (
            ("dbt version", self.dbt_version),
            ("threads", self.threads),
            ("target name", self.target_name),
            ("generate docs", self.generate_docs),
            ("timeout seconds", self.timeout_seconds),
            ("steps", self.steps),
        )
        shown: list[tuple[str, str]] = []
        for name, value in values:
            if value is None or value == ():
                continue
            if isinstance(value, tuple):
                text = "; ".join(value)
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            shown.append((name, text))
        return tuple(shown)


@dataclass(frozen=True)
class Run:
    id: int
    job_id: int
    account_id: int
    status: RunStatus | None
    status_code: int | None
    href: str = ""
    git_sha: str = ""
    git_branch: str = ""
    cause: str = ""
    status_message: str = ""
    created_at: datetime | None = None
    dequeued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    can_retry: bool = False
    retry_not_supported_reason: str = ""
    github_pull_request_id: int | None = None
    job_name: str = ""
    steps: tuple[RunStep, ...] = ()
    project_id: int | None = None
    blocked_by: tuple[int, ...] = ()  # the runs a queued run waits for
    # dbt Cloud's word on whether the ended run stored artifacts; None when it did not say
    artifacts_saved: bool | None = None
    updated_at: datetime | None = None
    # what the run's trigger overrode; None when the answer did not include the trigger
    overrides: Overrides | None = None
    retrying_run_id: int | None = None  # the failed run this run retries
    deferring_run_id: int | None = None  # the run this CI run deferred to (e.g. production's)
    environment_name: str = ""  # when the answer embeds the environment
    # the commit its trigger asked for ("" none); None when the answer did not include the trigger
    trigger_git_sha: str | None = None
    # what started it ("job completion": job chaining, run_chain.py); "" when not said
    cause_category: str = ""

    @property
    def is_terminal(self) -> bool:
        return self.status is not None and self.status.is_terminal

    @property
    def queued_seconds(self) -> float | None:
        start = self.started_at or self.dequeued_at
        if self.created_at is None or start is None:
            return None
        return max(0.0, (start - self.created_at).total_seconds())

    @property
    def run_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, log_chars: int = STEP_LOG_CHARS) -> Run:
        """The run; each of its steps keeps the last `log_chars` characters of its log."""
        raw_trigger = data.get("trigger")
        trigger = _mapping(raw_trigger)
        job = _mapping(data.get("job"))
        steps = data.get("run_steps")
        return cls(
            id=_int_or_none(data.get("id")) or 0,
            job_id=_int_or_none(data.get("job_definition_id") or data.get("job_id")) or 0,
            account_id=_int_or_none(data.get("account_id")) or 0,
            status=RunStatus.parse(data.get("status")),
            status_code=_int_or_none(data.get("status")),
            href=_str(data.get("href")),
            git_sha=_str(data.get("git_sha")) or _str(trigger.get("git_sha")),
            git_branch=_str(data.get("git_branch")) or _str(trigger.get("git_branch")),
            cause=_str(trigger.get("cause")),
            status_message=_str(data.get("status_message")),
            created_at=parse_timestamp(data.get("created_at")),
            dequeued_at=parse_timestamp(data.get("dequeued_at")),
            started_at=parse_timestamp(data.get("started_at")),
            finished_at=parse_timestamp(data.get("finished_at")),
            can_retry=data.get("can_retry") is True,
            retry_not_supported_reason=_str(data.get("retry_not_supported_reason")),
            github_pull_request_id=_int_or_none(trigger.get("github_pull_request_id")),
            job_name=_str(job.get("name")),
            steps=tuple(
                RunStep.from_api(s, log_chars=log_chars)
                for s in _list(steps)
                if isinstance(s, Mapping)
            ),
            project_id=_int_or_none(data.get("project_id")),
            blocked_by=tuple(
                i for i in _list(data.get("blocked_by")) if _int_or_none(i) is not None
            ),
            artifacts_saved=_bool_or_none(data.get("artifacts_saved")),
            updated_at=parse_timestamp(data.get("updated_at")),
            overrides=Overrides.from_trigger(trigger) if isinstance(raw_trigger, Mapping) else None,
            retrying_run_id=_int_or_none(data.get("retrying_run_id")),
            deferring_run_id=_int_or_none(data.get("deferring_run_id")),
            environment_name=_str(_mapping(data.get("environment")).get("name")),
            trigger_git_sha=_str(trigger.get("git_sha"))
            if isinstance(raw_trigger, Mapping)
            else None,
            cause_category=_str(trigger.get("cause_category")),
        )


@dataclass(frozen=True)
class JobTriggers:
    """What starts the job's runs besides the API. dbt Cloud sends `null` for a flag it never
    set (dbt-cloud-cli's recorded replies), read as off."""

    github_webhook: bool = False
    git_provider_webhook: bool = False
    schedule: bool = False
    on_merge: bool = False

    @property
    def runs_on_pull_requests(self) -> bool:
        """dbt Cloud starts a run by itself for every pull request push ("Run on pull
        requests": `github_webhook` for GitHub, `git_provider_webhook` for GitLab and Azure)."""
        return self.github_webhook or self.git_provider_webhook

    @classmethod
    def from_api(cls, data: object) -> JobTriggers:
        flags = _mapping(data)
        return cls(
            github_webhook=flags.get("github_webhook") is True,
            git_provider_webhook=flags.get("git_provider_webhook") is True,
            schedule=flags.get("schedule") is True,
            on_merge=flags.get("on_merge") is True,
        )


@dataclass(frozen=True)
class JobCompletion:
    """A job's `job_completion_trigger_condition`: dbt Cloud starts it when a run of `job_id`
    ends with one of `statuses` (10 success, 20 error, 30 cancelled)."""

    job_id: int
    statuses: tuple[int, ...]

    @classmethod
    def from_api(cls, data: object) -> JobCompletion | None:
        condition = _mapping(_mapping(data).get("condition"))
        job_id = _int_or_none(condition.get("job_id"))
        if job_id is None:
            return None
        statuses = tuple(
            s for s in (_int_or_none(v) for v in _list(condition.get("statuses"))) if s is not None
        )
        return cls(job_id, statuses)


@dataclass(frozen=True)
class Job:
    """A job definition. `project_name` and `environment_name` are "" when the reply did not
    embed the project or environment (older replies did not): never required, ids always are."""

    id: int
    account_id: int
    name: str
    project_id: int | None = None
    environment_id: int | None = None
    job_type: str = ""
    execute_steps: tuple[str, ...] = ()
    generate_docs: bool = False
    project_name: str = ""
    environment_name: str = ""
    triggers: JobTriggers = JobTriggers()
    # the dbt project's folder in the repository (the project's dbt_project_subdirectory)
    project_subdirectory: str = ""
    # Where dbt-jobs-as-code's --use-desc-for-id keeps a job's `[[identifier]]` tag.
    description: str = ""
    # "trigger on job completion": the parent job and its run statuses that start this job
    after: JobCompletion | None = None

    @property
    def runs_on_pull_requests(self) -> bool:
        return self.triggers.runs_on_pull_requests

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Job:
        return cls(
            id=_int_or_none(data.get("id")) or 0,
            account_id=_int_or_none(data.get("account_id")) or 0,
            name=_str(data.get("name")),
            project_id=_int_or_none(data.get("project_id")),
            environment_id=_int_or_none(data.get("environment_id")),
            job_type=_str(data.get("job_type")),
            execute_steps=tuple(s for s in _list(data.get("execute_steps")) if isinstance(s, str)),
            generate_docs=data.get("generate_docs") is True,
            project_name=_str(_mapping(data.get("project")).get("name")),
            environment_name=_str(_mapping(data.get("environment")).get("name")),
            triggers=JobTriggers.from_api(data.get("triggers")),
            project_subdirectory=_str(
                _mapping(data.get("project")).get("dbt_project_subdirectory")
            ).strip("/"),
            description=_str(data.get("description")),
            after=JobCompletion.from_api(data.get("job_completion_trigger_condition")),
        )
