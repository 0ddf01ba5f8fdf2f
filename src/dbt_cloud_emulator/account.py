"""The emulated account: its jobs and runs, and what each API operation does to them.

All state sits behind one lock. Runs are stored as records; their status at any moment comes
from schedules (see timeline.py): a new run is scheduled once, a cancel reschedules them all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from dbt_cloud_emulator.clock import EmulatedTime
from dbt_cloud_emulator.config import (
    ERROR,
    SUCCESS,
    EmulatorConfig,
    JobScript,
    PullRequestScript,
    StepScript,
)
from dbt_cloud_emulator.dbt_output import (
    catalog,
    fusion_telemetry,
    manifest,
    run_results,
    telemetry_name,
)
from dbt_cloud_emulator.envelope import PERMISSION_DENIED, ApiError, not_found
from dbt_cloud_emulator.job_definitions import job_script, validate_job_definition
from dbt_cloud_emulator.queries import (
    JOB_ORDERINGS,
    RUN_ORDERINGS,
    ListQuery,
    Query,
    parse_include,
    parse_list_query,
)
from dbt_cloud_emulator.resources import RunRecord, RunView, job_json, run_json
from dbt_cloud_emulator.timeline import CANCELLED, QUEUED, PlannedStep, Schedule, plan_run

Item = TypeVar("Item")
FIRST_RUN_ID = 10_001
ALL_RELATED = frozenset({"trigger", "job", "run_steps", "environment", "debug_logs"})
_RUN_FILTERS = ("job_definition_id", "status", "environment_id", "project_id", "pk")
# The runs list's `__in` filters the spec declares; job_definition_id__in and environment_id__in
# it does not (so they are ignored, as undeclared filters are).
_RUN_IN_FILTERS = ("status", "project_id", "pk")
_JOB_FILTERS = ("environment_id", "project_id", "pk")
_JOB_IN_FILTERS = ("project_id",)  # the spec's jobs list has no environment_id__in nor pk__in
_JOB_TEXT_FILTERS = ("name",)
# What a job_viewer token may not do (TokenAccess.may_run).
_RUN_CHANGES = frozenset({"trigger", "rerun", "cancel", "retry_post"})
_JOB_CHANGES = frozenset({"create_job", "update_job"})
# What a run dbt Cloud starts from a pull request's webhook says in its trigger (thin: no
# recorded reply quotes the text; `ci` is the spec's CauseCategoryEnum value).
PULL_REQUEST_CAUSE = "Triggered via GitHub PR webhook"
_HISTORY_SPACING = 3600.0
# A chained job's run: its trigger (thin: the spec's CauseCategoryEnum has "job completion";
# no recorded reply quotes the cause text) and how long after the parent's end it is created.
CHAIN_TRIGGER = {"cause": "Triggered by job completion", "cause_category": "job completion"}
CHAIN_DELAY_SECONDS = 2.0
_DOCS_STEP = StepScript("Generate docs", "dbt docs generate", duration=10.0)
_CLONE_STEP = StepScript("Clone git repository", duration=2.0)
_RETRY_MESSAGES = {
    "RETRY_NOT_FAILED_RUN": "it did not fail. Only failed runs can be retried; trigger a new "
    "run instead.",
    "RETRY_UNSUPPORTED_CMD": "its job runs commands that do not support retrying from the "
    "point of failure. Trigger a new run instead.",
    "RETRY_NOT_LATEST_RUN": "it is not the latest run of its job. Retry the latest run, or "
    "trigger a new run.",
    "RETRY_NO_RUN_RESULTS": "it has no run_results.json to retry from. Trigger a new run instead.",
}


class Account:
    def __init__(self, config: EmulatorConfig, time: EmulatedTime, url: str) -> None:
        self.config = config
        self.time = time
        self.url = url
        self._lock = threading.RLock()
        self._runs: dict[int, RunRecord] = {}
        self._created: list[int] = []
        # Each run's schedule and the (run id, end) of the deploy run it waits behind.
        self._plans: dict[int, tuple[Schedule, tuple[int, float] | None]] = {}
        self._tail: dict[int, tuple[int, float]] = {}  # job id -> the run that ends last so far
        self._latest: dict[int, int] = {}  # job id -> its newest run id
        # Pull request webhooks still to arrive: (emulated time due, order, script), soonest first.
        self._webhooks: list[tuple[float, int, PullRequestScript]] = []
        self._chained: set[int] = set()  # runs whose end has started the jobs chained to theirs
        self._add_history()
        for pull_request in config.pull_requests:
            self.open_pull_request(pull_request, at=pull_request.delay)

    # ----- the token's permissions ------------------------------------------------------------

    def check_access(self, endpoint: str, *, job_id: int, run_id: int) -> None:
        """dbt Cloud's answers to a token without the permission: the 404 for a job or run of
        a project it has no permission on (terraform-provider-dbtcloud#537, #207), the 403
        for a change a viewer may not make. An unknown job or run is the endpoint's own 404."""
        access = self.config.access
        with self._lock:
            job = self.config.job(job_id) if job_id else None
            if run_id and run_id in self._runs:
                job = self._runs[run_id].job
        if job is not None and not access.sees(job.project_id):
            raise not_found(
                f"The token has no permission on project {job.project_id} of "
                f"{'run ' + str(run_id) if run_id else 'job ' + str(job_id)}."
            )
        if endpoint in _JOB_CHANGES and not access.may_run:
            raise ApiError(
                403, PERMISSION_DENIED, f"A {access.permission} token may not change jobs."
            )
        if endpoint in _RUN_CHANGES and not access.may_run:
            raise ApiError(
                403, PERMISSION_DENIED, f"A {access.permission} token may not {endpoint} runs."
            )

    # ----- jobs ------------------------------------------------------------------------------

    def get_job(self, job_id: int, query: Query) -> dict[str, Any]:
        with self._lock:
            self._deliver_webhooks()
            job = self.require_job(job_id)
            data = self._job_json(job)
            include = parse_include(query)
            now = self.time.now()
            for related, statuses in (
                ("most_recent_run", None),
                ("most_recent_completed_run", (SUCCESS, ERROR, CANCELLED)),
            ):
                if related in include:
                    runs = [
                        v
                        for v in self._views(now)
                        if v.record.job.id == job_id and (statuses is None or v.status in statuses)
                    ]
                    data[related] = self._run_json(runs[-1], frozenset()) if runs else None
            return data

    def list_jobs(self, query: Query) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        spec = parse_list_query(
            query,
            _JOB_FILTERS,
            JOB_ORDERINGS,
            in_filters=_JOB_IN_FILTERS,
            text_filters=_JOB_TEXT_FILTERS,
        )
        with self._lock:
            self._deliver_webhooks()
            seen = self.config.access.sees
            rows = [(_job_fields(job), job) for job in self.config.jobs if seen(job.project_id)]
            return self._page(rows, spec, self._job_json)

    def create_job(self, body: Any) -> dict[str, Any]:
        """`POST /jobs/`: a new job from the body (J4), with the next free id."""
        fields = validate_job_definition(body, self.config.account_id)
        with self._lock:
            job_id = max((job.id for job in self.config.jobs), default=0) + 1
            job = job_script(fields, job_id, None)
            self.config = replace(self.config, jobs=(*self.config.jobs, job))
            return self._job_json(job)

    def update_job(self, job_id: int, body: Any) -> dict[str, Any]:
        """`POST /jobs/{id}/` (dbt Cloud's update is a POST): the job as the body says (J5);
        runs already created keep the script they started with."""
        with self._lock:
            previous = self.require_job(job_id)
        fields = validate_job_definition(body, self.config.account_id)
        with self._lock:
            job = job_script(fields, job_id, previous)
            jobs = tuple(job if j.id == job_id else j for j in self.config.jobs)
            self.config = replace(self.config, jobs=jobs)
            return self._job_json(job)

    # ----- runs ------------------------------------------------------------------------------

    def get_run(self, run_id: int, query: Query) -> dict[str, Any]:
        with self._lock:
            self._deliver_webhooks()
            return self._run_json(self._view(run_id, self.time.now()), parse_include(query))

    def list_runs(self, query: Query) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        spec = parse_list_query(query, _RUN_FILTERS, RUN_ORDERINGS, in_filters=_RUN_IN_FILTERS)
        with self._lock:
            self._deliver_webhooks()
            rows = [
                (_run_fields(view), view)
                for view in self._views(self.time.now())
                if self.config.access.sees(view.record.job.project_id)
            ]
            return self._page(rows, spec, lambda view: self._run_json(view, spec.include))

    def trigger(self, job_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._deliver_webhooks()
            job = self.require_job(job_id)
            trigger = {**fields, "cause_category": "api"}
            steps = _steps_for(job, fields)
            sha = fields.get("git_sha")
            if sha is not None and not self.config.holds_commit(sha):
                steps = _failed_checkout(steps, sha)
            return self._create(job, trigger, steps)

    def rerun(self, job_id: int) -> dict[str, Any]:
        """Retry the job's latest run when that run failed and can be retried, else run anew."""
        with self._lock:
            self._deliver_webhooks()
            job = self.require_job(job_id)
            now = self.time.now()
            latest = [v for v in self._views(now) if v.record.job.id == job_id]
            if latest and latest[-1].retry_refusal is None:
                return self._retry(latest[-1])
            trigger = {"cause": "Rerun via the API", "cause_category": "rerun"}
            return self._create(job, trigger, job.steps)

    def cancel(self, run_id: int) -> dict[str, Any]:
        """Cancel a queued or running run; a finished run comes back unchanged, as in dbt Cloud."""
        with self._lock:
            self._deliver_webhooks()
            now = self.time.now()
            view = self._view(run_id, now)
            if view.status < SUCCESS:
                self._runs[run_id] = replace(view.record, cancelled_at=now)
                self._replan()  # later deploy runs of the job may now start earlier
                view = self._view(run_id, now)
            return self._run_json(view, frozenset({"trigger", "run_steps"}))

    def retry(self, run_id: int) -> dict[str, Any]:
        with self._lock:
            self._deliver_webhooks()
            view = self._view(run_id, self.time.now())
            return self._retry(view)

    def failure_details(self, run_id: int) -> dict[str, Any]:
        """GET retry/: the step the run failed at and the later steps that never ran."""
        with self._lock:
            self._deliver_webhooks()
            view = self._view(run_id, self.time.now())
            failed = self._retryable_failure(view)
            return {
                "failed_step": failed.script.name,
                "skipped_steps": [s.name for s in view.record.steps[failed.index :]],
                "run_id": run_id,
                "failed_step_index": failed.index,
            }

    # ----- runs dbt Cloud starts by itself -------------------------------------------------------

    def open_pull_request(self, pull_request: PullRequestScript, *, at: float) -> None:
        """At emulated time `at`, the pull request's webhook reaches dbt Cloud, which starts a
        run of the job for its commit (a ConfigError now when the job would not run)."""
        with self._lock:
            self.config.pull_request_job(pull_request.job_id)
            self._webhooks.append((at, len(self._webhooks), pull_request))
            self._webhooks.sort(key=lambda w: (w[0], w[1]))
            self._deliver_webhooks()

    def _deliver_webhooks(self) -> None:
        """Create the runs of webhooks that are due, each at its own moment and in order, before
        anything else happens (so run ids keep following creation times)."""
        now = self.time.now()
        while self._webhooks and self._webhooks[0][0] <= now:
            at, _, pull_request = self._webhooks.pop(0)
            job = self.config.pull_request_job(pull_request.job_id)
            trigger: dict[str, Any] = {
                "cause": PULL_REQUEST_CAUSE,
                "cause_category": "ci",
                "git_sha": pull_request.git_sha,
                "github_pull_request_id": pull_request.number,
            }
            if pull_request.git_branch is not None:
                trigger["git_branch"] = pull_request.git_branch
            steps = job.steps
            if not self.config.holds_commit(pull_request.git_sha):
                steps = _failed_checkout(steps, pull_request.git_sha)
            self._create(job, trigger, steps, created=max(at, self._newest_created()))
        self._start_chained_runs()

    def _start_chained_runs(self) -> None:
        """Job chaining (`job_completion_trigger_condition`, J6): each run that ended starts,
        `CHAIN_DELAY_SECONDS` later, one run of every job whose condition names its job and its
        status. The new run's trigger says `cause_category: "job completion"` and nothing of
        the run that started it (dbt Cloud's API gives no link either). Ends are handled in
        the order they happened, so a chain's runs keep following creation times."""
        now = self.time.now()
        while True:
            ended = [
                (self._plans[run_id][0].finished, run_id)
                for run_id in self._runs
                if run_id not in self._chained
                # the child's run exists once its moment has come, never in the future
                and self._plans[run_id][0].finished + CHAIN_DELAY_SECONDS <= now
            ]
            if not ended:
                return
            finished, run_id = min(ended)
            self._chained.add(run_id)
            record = self._runs[run_id]
            status = self._make_view(record, now).status
            for job in self.config.jobs:
                if job.after_job_id == record.job.id and status in job.after_statuses:
                    at = max(finished + CHAIN_DELAY_SECONDS, self._newest_created())
                    self._create(job, dict(CHAIN_TRIGGER), job.steps, created=at)

    def _newest_created(self) -> float:
        return max((r.created for r in self._runs.values()), default=float("-inf"))

    # ----- artifacts ---------------------------------------------------------------------------

    def list_artifacts(self, run_id: int) -> list[str] | None:
        """The last step's artifacts, as dbt Cloud lists them: it ignores `step` here (see
        dbt-labs/dbt-cloud-openapi-spec#27), and lists late ones before they can be fetched.
        Nothing to list is `null`, not `[]` (dbt-labs/dbt-mcp#791: "The API returns
        {"data": null} when a run produced no artifacts")."""
        with self._lock:
            self._deliver_webhooks()
            view = self._view(run_id, self.time.now())
            step = self._artifact_step(view, None, uploaded=False)
            names = () if isinstance(step, str) else _artifact_names(view, step)
            return sorted(names) or None

    def artifact(self, run_id: int, path: str, step_index: int | None) -> tuple[bytes, int]:
        """The artifact's JSON, and the spaces its job pads it with (`artifact_padding`)."""
        with self._lock:
            self._deliver_webhooks()
            view = self._view(run_id, self.time.now())
            step = self._artifact_step(view, step_index)
            if isinstance(step, str):
                raise not_found(step)
            names = _artifact_names(view, step)
            if path not in names:
                raise not_found(
                    f"Run {run_id} step {step.index} ({step.script.name}) produced no {path}; "
                    f"it has: {', '.join(names) or 'no artifacts'}."
                )
            if path == telemetry_name(step.index):
                return fusion_telemetry(step.index), 0
            ctx = view.record.context()
            started, finished = self.time.wall(step.start), self.time.wall(step.end)
            project = tuple(r for s in view.record.job.steps for r in s.results)
            if path == "run_results.json":
                content = run_results(step.script, ctx, step.index, started, finished)
            elif path == "manifest.json":
                content = manifest(project, ctx, step.index, finished)
            else:
                content = catalog(project, ctx, step.index, finished)
            return json.dumps(content).encode(), view.record.job.artifact_padding

    def _artifact_step(
        self, view: RunView, step_index: int | None, *, uploaded: bool = True
    ) -> PlannedStep | str:
        """The step whose artifacts are wanted (default: the run's last), or why there are none;
        `uploaded` also requires a late job's artifacts to be fetchable already."""
        run_id, job, steps = view.record.id, view.record.job, view.schedule.steps
        if not job.saves_artifacts:
            return f"Job {job.id} does not save artifacts for its runs."
        if view.status < SUCCESS:
            return f"Run {run_id} has not finished yet; artifacts are saved when it ends."
        if uploaded and self.time.now() < view.schedule.finished + job.artifact_delay:
            return f"Artifacts of run {run_id} are still being uploaded; try again shortly."
        if not steps:
            return f"Run {run_id} ran no steps, so it has no artifacts."
        if step_index is not None and not 1 <= step_index <= len(steps):
            return f"Run {run_id} has no step {step_index}; it ran {len(steps)} steps."
        step = steps[(step_index or len(steps)) - 1]
        if step.status == CANCELLED:
            return f"Step {step.index} of run {run_id} was cancelled and saved no artifacts."
        return step

    # ----- for the Emulator facade ---------------------------------------------------------

    def created_runs(self) -> list[dict[str, Any]]:
        with self._lock:
            self._deliver_webhooks()
            now = self.time.now()
            return [self._run_json(self._view(i, now), ALL_RELATED) for i in self._created]

    # ----- internals ---------------------------------------------------------------------------

    def require_job(self, job_id: int) -> JobScript:
        """The job, or the 404 dbt Cloud gives for a job the account does not have."""
        job = self.config.job(job_id)
        if job is None:
            raise not_found(
                f"Job definition {job_id} does not exist in account {self.config.account_id}."
            )
        return job

    def _job_json(self, job: JobScript) -> dict[str, Any]:
        now = self.time.now()
        failures = sum(
            1 for v in self._views(now) if v.record.job.id == job.id and v.status == ERROR
        )
        parent = self.config.job(job.after_job_id) if job.after_job_id is not None else None
        return job_json(
            job,
            self.config.account_id,
            self.time,
            failure_count=failures,
            parent_project_id=parent.project_id if parent else None,
        )

    def _run_json(self, view: RunView, include: frozenset[str]) -> dict[str, Any]:
        job = (
            job_json(view.record.job, self.config.account_id, self.time, internal=True)
            if "job" in include
            else None
        )
        return run_json(
            view,
            account_id=self.config.account_id,
            time=self.time,
            url=self.url,
            include=include,
            job=job,
        )

    def _create(
        self,
        job: JobScript,
        trigger: dict[str, Any],
        steps: tuple[StepScript, ...],
        retrying: int | None = None,
        created: float | None = None,
    ) -> dict[str, Any]:
        now = self.time.now()
        run_id = self._next_id()
        at = now if created is None else created
        record = RunRecord(
            run_id,
            job,
            trigger,
            at,
            steps,
            retrying_run_id=retrying,
            deferring_run_id=self._deferred_to(job, now),
        )
        self._runs[run_id] = record
        self._created.append(run_id)
        self._plan(record)
        return self._run_json(self._view(run_id, now), frozenset({"trigger"}))

    def _deferred_to(self, job: JobScript, now: float) -> int | None:
        """The run a new run of `job` defers to: the latest run of its `defers_to_job_id` that
        had ended (success or error) with artifacts saved (D1); None without one."""
        if job.defers_to_job_id is None:
            return None
        ended = [
            view.record.id
            for view in self._views(now)
            if view.record.job.id == job.defers_to_job_id
            and view.status in (SUCCESS, ERROR)
            and view.record.job.saves_artifacts
        ]
        return max(ended, default=None)

    def _next_id(self) -> int:
        return FIRST_RUN_ID + len(self._runs)

    def _retry(self, failed_view: RunView) -> dict[str, Any]:
        record = failed_view.record
        failed = self._retryable_failure(failed_view)
        trigger = {**record.trigger, "cause_category": "rerun"}
        return self._create(record.job, trigger, _retry_steps(record, failed.index), record.id)

    def _retryable_failure(self, view: RunView) -> PlannedStep:
        """The step a retry starts from; a 400 saying why when the run cannot be retried."""
        failed = view.schedule.failed_step()
        if view.retry_refusal is not None or failed is None:
            reason = view.retry_refusal or "RETRY_NOT_FAILED_RUN"
            raise ApiError(
                400,
                f"Run {view.record.id} cannot be retried: {_RETRY_MESSAGES[reason]}",
                reason,
            )
        return failed

    def _view(self, run_id: int, now: float) -> RunView:
        if run_id not in self._runs:
            raise not_found(f"Run {run_id} does not exist in account {self.config.account_id}.")
        return self._make_view(self._runs[run_id], now)

    def _views(self, now: float) -> list[RunView]:
        return [self._make_view(self._runs[i], now) for i in sorted(self._runs)]

    def _make_view(self, record: RunRecord, now: float) -> RunView:
        schedule, blocker = self._plans[record.id]
        status = schedule.status_at(now)
        blocked_by = (blocker[0],) if blocker and status == QUEUED and now < blocker[1] else ()
        return RunView(
            record, schedule, now, self._retry_refusal(record, schedule, status), blocked_by
        )

    def _retry_refusal(self, record: RunRecord, schedule: Schedule, status: int) -> str | None:
        if status != ERROR:
            return "RETRY_NOT_FAILED_RUN"
        if not record.job.can_retry:
            return "RETRY_UNSUPPORTED_CMD"
        if self._latest.get(record.job.id) != record.id:
            return "RETRY_NOT_LATEST_RUN"
        failed = schedule.failed_step()
        if (
            failed is None
            or not record.job.saves_artifacts
            or "run_results.json" not in failed.script.artifact_names
        ):
            return "RETRY_NO_RUN_RESULTS"
        return None

    def _plan(self, record: RunRecord) -> None:
        """Schedule a run created after all others; a deploy run starts only once the job's
        previous run ended."""
        blocker = self._tail.get(record.job.id) if record.job.is_deploy else None
        schedule = plan_run(
            record.created,
            record.job.queue_seconds,
            record.steps,
            not_before=blocker[1] if blocker else float("-inf"),
            cancelled_at=record.cancelled_at,
            timeout_seconds=record.trigger.get("timeout_seconds_override"),
        )
        self._plans[record.id] = (schedule, blocker)
        self._latest[record.job.id] = record.id
        if blocker is None or schedule.finished > blocker[1]:
            self._tail[record.job.id] = (record.id, schedule.finished)

    def _replan(self) -> None:
        self._plans, self._tail, self._latest = {}, {}, {}
        for run_id in sorted(self._runs):
            self._plan(self._runs[run_id])

    def _add_history(self) -> None:
        """Earlier successful runs, finished before the emulator started, oldest first."""
        pending = []
        for job in self.config.jobs:
            spacing = max(_HISTORY_SPACING, max(job.history, default=0.0) + job.queue_seconds + 60)
            for age, duration in enumerate(reversed(job.history), start=1):
                pending.append((-age * spacing, job, duration))
        for created, job, duration in sorted(pending, key=lambda p: p[0]):
            run_id = self._next_id()
            trigger = {
                "cause": "Scheduled run" if job.job_type == "scheduled" else "Triggered via API",
                "cause_category": "scheduled" if job.job_type == "scheduled" else "api",
            }
            steps = _successful_steps(job.steps, duration)
            self._runs[run_id] = RunRecord(run_id, job, trigger, created, steps)
            self._chained.add(run_id)  # ended before the emulator started: starts no chain
        self._replan()

    def _page(
        self,
        rows: list[tuple[dict[str, Any], Item]],
        spec: ListQuery,
        render: Callable[[Item], dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Filter, order (as Postgres does: NULLs last ascending, first descending), slice, and
        render only the page."""
        matching = [(fields, item) for fields, item in rows if _matches(fields, spec.filters)]
        key = spec.order_by.removeprefix("-")
        descending = spec.order_by.startswith("-")
        present = sorted(
            (row for row in matching if row[0][key] is not None),
            key=lambda row: (row[0][key], row[0]["id"]),
            reverse=descending,
        )
        missing = sorted(
            (row for row in matching if row[0][key] is None),
            key=lambda row: row[0]["id"],
            reverse=descending,
        )
        ordered = missing + present if descending else present + missing
        page = [render(item) for _, item in ordered[spec.offset : spec.offset + spec.limit]]
        return page, spec.envelope_extra(self.config.account_id, len(page), len(matching))


def _run_fields(view: RunView) -> dict[str, Any]:
    """What runs are filtered and ordered on."""
    schedule = view.schedule
    return {
        "id": view.record.id,
        "pk": view.record.id,
        "job_definition_id": view.record.job.id,
        "status": view.status,
        "environment_id": view.record.environment_id,
        "project_id": view.record.job.project_id,
        "created_at": schedule.created,
        "finished_at": schedule.finished if view.now >= schedule.finished else None,
    }


def _job_fields(job: JobScript) -> dict[str, Any]:
    """What jobs are filtered and ordered on (all jobs were created at the same moment)."""
    return {
        "id": job.id,
        "pk": job.id,
        "name": job.name,
        "created_at": 0.0,
        "environment_id": job.environment,
        "project_id": job.project_id,
    }


def _matches(fields: dict[str, Any], filters: dict[str, Any]) -> bool:
    for name, wanted in filters.items():
        if name.endswith("__icontains"):  # Postgres: UPPER(field) LIKE UPPER(%wanted%)
            if wanted.upper() not in fields[name.removesuffix("__icontains")].upper():
                return False
        elif name.endswith("__in"):
            if fields[name.removesuffix("__in")] not in wanted:
                return False
        elif fields[name] != wanted:
            return False
    return True


def _steps_for(job: JobScript, fields: dict[str, Any]) -> tuple[StepScript, ...]:
    """The job's steps, with `steps_override` and `generate_docs_override` applied."""
    steps = job.steps
    override = fields.get("steps_override")
    if override is not None:
        by_command = {s.command: s for s in job.steps if s.command}
        fixed = tuple(s for s in job.steps if s.command is None or s.dbt_subcommand == "deps")
        steps = fixed + tuple(
            by_command.get(cmd) or StepScript(f"Invoke dbt with `{cmd}`", cmd) for cmd in override
        )
    docs = fields.get("generate_docs_override")
    if docs is False:
        steps = tuple(s for s in steps if s.dbt_subcommand != "docs generate")
    elif docs is True and not any(s.dbt_subcommand == "docs generate" for s in steps):
        steps = (*steps, _DOCS_STEP)
    return steps


def _failed_checkout(steps: tuple[StepScript, ...], sha: str) -> tuple[StepScript, ...]:
    """The steps of a run whose commit the repository does not hold: those before the clone
    step, then the clone step failing with git's own message. Nothing after it runs."""
    at = next((i for i, s in enumerate(steps) if _is_clone(s)), None)
    clone = _CLONE_STEP if at is None else steps[at]
    logs = f"Cloning repository...\nfatal: reference is not a tree: {sha}"
    return (*steps[: at or 0], replace(clone, outcome=ERROR, logs=logs, results=()))


def _is_clone(step: StepScript) -> bool:
    return step.command is None and "clone" in step.name.lower()


def _retry_steps(record: RunRecord, failed_index: int) -> tuple[StepScript, ...]:
    """Skip the dbt steps that succeeded; rerun the failed step's failed and skipped nodes."""
    steps = []
    for index, step in enumerate(record.steps, start=1):
        if index < failed_index and step.command and step.dbt_subcommand != "deps":
            steps.append(
                replace(
                    step,
                    command=None,
                    duration=0.0,
                    results=(),
                    logs=f"Skipped: this step succeeded in run #{record.id}; "
                    "retrying from the point of failure.",
                )
            )
        elif index == failed_index and step.results:
            retried = tuple(r for r in step.results if r.status not in ("success", "pass"))
            steps.append(replace(step, results=retried))
        else:
            steps.append(step)
    return tuple(steps)


def _successful_steps(steps: tuple[StepScript, ...], duration: float) -> tuple[StepScript, ...]:
    """A past successful run of the job that took `duration` seconds in all."""
    scripted = sum(s.duration for s in steps) or 1.0
    factor = duration / scripted
    return tuple(
        replace(
            step,
            duration=step.duration * factor,
            outcome=SUCCESS,
            results=tuple(
                replace(r, status="pass" if r.resource_type == "test" else "success", message=None)
                for r in step.results
            ),
        )
        for step in steps
    )


def _artifact_names(view: RunView, step: PlannedStep) -> tuple[str, ...]:
    """What dbt Cloud keeps of a step: dbt's files, and for a dbt step of a dbt Fusion run its
    OpenTelemetry record too (the spec: "For dbt Fusion job runs ... the per-step OpenTelemetry
    (OTel) telemetry artifact at `metadata/telemetry-<step>-otel.parquet`")."""
    names = step.script.artifact_names
    if names and view.record.context().fusion:
        return (*names, telemetry_name(step.index))
    return names
