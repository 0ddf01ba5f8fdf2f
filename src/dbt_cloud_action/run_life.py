"""One run's whole life: how it is started, followed, cancelled or timed out, and reported.

A step runs one `RunLife` per job; `action.ActionStep` orchestrates them (starts them together,
polls whichever is due, cancels those still going on a signal, writes the step's outputs,
summary and PR comment). Everything one run needs lives here: its client, its job, its run, its
origin, its poll policy and timeout, its post-step record and its commit status.

How the run is started is one seam, `start()`: attach, supersede, retry or trigger, or with
`mode: follow` wait for the run dbt Cloud starts by itself; it returns the run to follow and
its origin.

What only runs after the first dbt Cloud request (watching, results, artifacts, reporting,
GitHub) is imported where it is used (see action.py's docstring).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import toolkit
from .cancellation import CLEANUP_BUDGET_SECONDS, WorkflowCancelled
from .client import MAX_ARTIFACT_BYTES, DbtCloudClient, DbtCloudError, DbtCloudUnavailable
from .context import GitHubContext
from .inputs import AUTO, ActionInputs, Mode
from .lifecycle import (
    RECENT_RUNS_LIMIT,
    active_runs_for_commit,
    differing_overrides,
    find_reusable_run,
    other_commit_runs,
    retry_candidate,
    steps_skipped_by_retry,
    superseded_runs,
    usual_duration_sample,
    wants_retry,
)
from .models import Job, Outcome, Run, RunStatus
from .payload import TriggerPayload
from .step_state import RunState

if TYPE_CHECKING:
    from .artifacts import Collected
    from .github_reporting import GitHubTarget
    from .reporting import RunReport
    from .watcher import PollPolicy


# Why the post step leaves a followed run alone (the step's state says it).
FOLLOWED_NOT_CANCELLED = (
    "dbt Cloud started it, not this step (mode: follow, cancel-followed: false)"
)


@dataclass(frozen=True)
class Tuning:
    http_timeout: float = 10.0
    retry_seconds: float = 60.0
    artifact_wait: float = 20.0
    max_artifact_bytes: int = MAX_ARTIFACT_BYTES


@dataclass(frozen=True)
class RunCreation:
    """A POST that creates a run (trigger or retry), remembered so that a cancel arriving
    before its answer can still find the run it created and cancel it."""

    doing: str  # for messages: "triggering job 21", "retrying run 70"
    origin: str  # the report's origin for the run it creates
    find: Callable[[DbtCloudClient], Run | None]  # looks for the run it created


@dataclass(frozen=True)
class Started:
    """What `start()` hands on: the run to follow and how this step came to it."""

    run: Run
    origin: str  # "triggered" | "attached" | "retried" | "followed"


class RunLife:
    """One job's run, from start to report."""

    def __init__(
        self,
        inputs: ActionInputs,
        context: GitHubContext,
        payload: TriggerPayload,
        state: RunState,
        *,
        tuning: Tuning = Tuning(),
        job: Job | None = None,
        artifacts_dir: str | None = None,
        log_prefix: str = "",
    ) -> None:
        self.inputs = inputs
        self.context = context
        self.payload = payload
        self.state = state
        self.tuning = tuning
        self.artifacts_dir = inputs.artifacts_dir if artifacts_dir is None else artifacts_dir
        self.log_prefix = log_prefix  # with several jobs, progress lines say whose they are
        self.client = tuned_client(inputs, tuning)
        self.job = job
        self.run: Run | None = None  # the run to follow, once started
        self.run_id: int | None = None
        self.run_url = ""
        self.origin = "triggered"
        self.skipped: tuple[str, ...] = ()
        self.creation: RunCreation | None = None  # the last run-creating POST sent
        # what the followed run's trigger overrode, for the report
        self.overrides = payload.requested_overrides()
        self.expected_duration: float | None = None  # the job's usual run time
        self.report: RunReport | None = None  # once reported
        self.api_error: DbtCloudError | None = None  # dbt Cloud stopped answering the step

    @property
    def job_id(self) -> int:
        return self.inputs.job_id

    # -- the start ---------------------------------------------------------------------------
    def load_job(self) -> None:
        """The job (unless `job-name` found it already), before any run of the step starts."""
        if self.job is None:
            self.job = self.client.get_job(self.job_id)
        toolkit.info(
            f"dbt Cloud job {self.job.id} '{self.job.name}' in account {self.inputs.account_id}"
        )
        if self.inputs.mode is Mode.FOLLOW:
            self._warn_if_not_run_on_pull_requests(self.job)
        else:
            self._warn_of_double_runs(self.job)

    def begin(self) -> None:
        """After `load_job`: the run (`start()`), its post-step record and its first log line;
        with `mode: follow` and no run to follow, the report saying so."""
        from .follow import RunNotFound  # noqa: PLC0415 - lazy: see the module docstring

        try:
            started = self.start()
        except RunNotFound as missing:
            self.finish(None, "", Outcome.NOT_FOUND, ended=False, notes=(str(missing),))
            return
        self.origin = started.origin
        run = self.run = started.run
        self._save_run(run.id)
        if run.overrides is not None:
            self.overrides = run.overrides
        self.run_url = self.client.run_url(run)
        verb = {
            "triggered": "Triggered",
            "attached": "Attached to",
            "retried": "Retried as",
            "followed": "Following",
        }
        toolkit.info(f"{self.log_prefix}{verb[self.origin]} run {run.id}: {self.run_url}")

    def _warn_if_not_run_on_pull_requests(self, job: Job) -> None:
        """mode: follow waits for a run dbt Cloud starts from pull requests: say so at once
        when the job's triggers say it starts none (the step still waits: a run for the
        commit started some other way counts too)."""
        from .follow import not_running_on_pull_requests  # noqa: PLC0415 - lazy: see the module docstring

        warning = not_running_on_pull_requests(job)
        if warning is not None:
            toolkit.warning(warning, title="dbt Cloud job does not run on pull requests")

    def _warn_of_double_runs(self, job: Job) -> None:
        """This step triggers the job (mode: trigger) for a pull request that dbt Cloud
        also runs it for by itself: every push then starts two runs. Not for anything else
        (dbt Cloud's CI trigger starts runs for pull requests only)."""
        from .job_lookup import pull_request_trigger_warning  # noqa: PLC0415 - lazy: see the module docstring

        for_a_pull_request = (
            self.context.pr_number is not None or self.payload.github_pull_request_id is not None
        )
        if not for_a_pull_request:
            return
        warning = pull_request_trigger_warning(job)
        if warning is not None:
            toolkit.warning(warning, title="dbt Cloud job runs on pull requests by itself")

    def start(self) -> Started:
        """Attach, retry or trigger: never a second run for the same commit by accident.

        The job's newest runs are listed once: they hold the runs to attach to, supersede or
        retry, and the successes that time the job's usual duration."""
        from .watcher import expected_duration  # noqa: PLC0415 - lazy: see the module docstring

        inputs, payload = self.inputs, self.payload
        if inputs.mode is Mode.FOLLOW:
            return self._find_followed_run()
        recent = self.client.list_runs(
            inputs.job_id, order_by="-id", limit=RECENT_RUNS_LIMIT, include_related=("trigger",)
        )
        self.expected_duration = expected_duration(usual_duration_sample(recent))
        sha, pr = payload.git_sha or "", payload.github_pull_request_id
        if inputs.cancel_superseded:
            self._cancel_superseded(recent, sha, pr)
        if inputs.reuse_existing_run:
            existing = self._reusable_run(recent, sha, pr)
            if existing is not None:
                return Started(existing, "attached")
        if wants_retry(inputs.retry_failed, self.context.run_attempt):
            failed = retry_candidate(recent, sha, pr)
            if failed is not None:
                retried = self._retry(failed)
                if retried is not None:
                    return Started(retried, "retried")
        body = payload.to_api()
        started = datetime.now(UTC)
        unique = inputs.cause is AUTO  # the automatic cause names this very step
        self.creation = RunCreation(
            f"triggering job {inputs.job_id}",
            "triggered",
            lambda client: client.find_triggered_run(
                inputs.job_id, body, None if unique else started
            ),
        )
        return Started(
            self.client.trigger_run(inputs.job_id, body, unique_cause=unique), "triggered"
        )

    def _find_followed_run(self) -> Started:
        """mode: follow: dbt Cloud's own run for this commit and pull request, once it
        appears; RunNotFound when it does not within follow-timeout (nor timeout)."""
        from . import follow  # noqa: PLC0415 - lazy: see the module docstring
        from .watcher import expected_duration  # noqa: PLC0415 - lazy: see the module docstring

        inputs, payload = self.inputs, self.payload
        self.origin = "followed"  # for a report before the run appears (cancelled, not found)
        target = follow.FollowTarget(
            inputs.job_id, payload.git_sha or "", payload.github_pull_request_id
        )
        bound = inputs.follow_timeout_seconds
        if inputs.timeout_seconds is not None:
            bound = min(bound, inputs.timeout_seconds)
        found = follow.wait_for_run(
            self.client,
            target,
            bound=bound,
            fixed_interval=None if inputs.poll_interval is AUTO else inputs.poll_interval,
            clock=time.monotonic,
            sleep=time.sleep,
            info=lambda line: toolkit.info(self.log_prefix + line),
        )
        self.expected_duration = expected_duration(usual_duration_sample(list(found.recent)))
        if found.run is None:
            raise follow.RunNotFound(follow.not_found_message(target, found.waited))
        if found.run.is_terminal:
            toolkit.info(
                f"{self.log_prefix}Run {found.run.id} already ended in dbt Cloud: reporting it."
            )
        return Started(found.run, "followed")

    def _why_not_cancelled(self) -> str:
        if not self.inputs.cancel_on_exit:
            return "cancel-on-exit is false"
        return FOLLOWED_NOT_CANCELLED

    def _save_run(self, run_id: int) -> None:
        """Remember the run for the post step; a run handed over to dbt Cloud from the start
        (wait: false, cancel-on-exit: false) is marked first, so the post step never sees its
        id without the hand-over."""
        leave = ""
        if not self.inputs.wait:
            leave = "wait is false"
        elif not self.inputs.cancel_on_exit:
            leave = "cancel-on-exit is false"
        elif not self.inputs.cancels_on_exit:
            leave = FOLLOWED_NOT_CANCELLED
        self.state.started(run_id, leave=leave)
        self.run_id = run_id

    def _cancel_superseded(self, recent: list[Run], sha: str, pr: int | None) -> None:
        from .github_reporting import pull_request_head  # noqa: PLC0415 - lazy: see the module docstring

        pr_head = None
        if pr is not None and other_commit_runs(recent, sha, pr):  # else GitHub is not asked
            pr_head, why = pull_request_head(self.github_target(), pr)
            if pr_head is None:
                toolkit.info(f"{why} cancel-superseded cancels only runs older than this event.")
        decision = superseded_runs(
            recent, sha, pr, pr_head=pr_head, event_time=self.context.event_time
        )
        if decision.reason:
            toolkit.info(decision.reason)
        for old in decision.runs:
            self.client.cancel_run(old.id)
            toolkit.info(f"Cancelled run {old.id}: superseded by commit {sha[:7]}")

    def _reusable_run(self, recent: list[Run], sha: str, pr: int | None) -> Run | None:
        wanted = self.payload.requested_overrides()
        existing = find_reusable_run(recent, sha, pr, wanted)
        if existing is None:
            for other in active_runs_for_commit(recent, sha, pr):
                differ = ", ".join(differing_overrides(other, wanted))
                toolkit.info(
                    f"Run {other.id} is going for commit {sha[:7]} but differs in {differ}: "
                    "not attaching to it."
                )
            return None
        toolkit.notice(
            f"Attached to run {existing.id}, already queued or running for commit "
            f"{sha[:7]} with the same overrides; no new run was triggered.",
            title="dbt Cloud run attached",
        )
        return existing

    def _retry(self, failed: Run) -> Run | None:
        details = self.client.get_run(failed.id, include_related=("run_steps", "trigger"))
        if not details.can_retry:
            reason = details.retry_not_supported_reason or "dbt Cloud says it cannot be retried"
            toolkit.info(f"Run {failed.id} failed but cannot be retried ({reason}); triggering.")
            return None
        if details.overrides is not None:
            self.overrides = details.overrides  # a retry reruns the failed run as it was
        if details.overrides != self.payload.requested_overrides():
            toolkit.warning(
                "This step's overrides do not apply to a retry from the point of failure: dbt "
                f"Cloud reruns run {failed.id} as it was. Set retry-failed: never to start over "
                "with them."
            )
        self.skipped = steps_skipped_by_retry(details)
        self.creation = RunCreation(
            f"retrying run {failed.id}", "retried", lambda client: client.find_retry_run(details)
        )
        retried = self.client.retry_run(details)
        toolkit.info(f"Retrying failed run {failed.id} from the point of failure.")
        return retried

    # -- following ---------------------------------------------------------------------------
    def follow(self) -> Generator[float, None, RunReport]:
        """After `begin`: follow the run to its end (or timeout) one poll at a time, yielding
        the seconds until this run's next poll, and report it."""
        from .outage import PatientRunSource  # noqa: PLC0415 - lazy: see the module docstring
        from .watcher import RunWatcher, describe  # noqa: PLC0415 - lazy: see the module docstring

        inputs, run, run_url = self.inputs, self.run, self.run_url
        if run is None:
            raise RuntimeError("RunLife.follow() comes after begin()")
        if not inputs.wait:
            if inputs.commit_status:
                toolkit.notice(
                    "No commit status was set: with wait: false this step does not see the run "
                    "end, so a pending status would never be resolved. Set wait: true to gate "
                    "the commit on the run."
                )
            return self.finish(run, run_url, Outcome.TRIGGERED, ended=False)
        self.commit_status("pending", f"dbt Cloud run {run.id} is in progress", run_url)
        timeout = inputs.timeout_seconds
        runs = PatientRunSource(
            self.client,
            retry_seconds=self.tuning.retry_seconds,
            deadline=None if timeout is None else time.monotonic() + timeout,
            clock=time.monotonic,
            wall_clock=lambda: datetime.now(UTC),
            sleep=time.sleep,
            warn=toolkit.warning,
            info=toolkit.info,
        )
        watcher = RunWatcher(
            runs,
            policy=poll_policy(inputs),
            clock=time.monotonic,
            sleep=time.sleep,
            on_event=lambda event: toolkit.info(self.log_prefix + describe(event)),
        )
        try:
            result = yield from watcher.follow(
                run.id, timeout=timeout, expected_duration=self.expected_duration
            )
        except DbtCloudUnavailable:
            last = runs.last_seen or run
            if last.is_terminal:  # seen ending; only the final read went unanswered
                return self.finish(last, run_url, outcome_of(last), ended=True)
            toolkit.info(f"The timeout of {timeout}s was reached while dbt Cloud did not answer.")
            return self._on_timeout(last, run_url)
        if result.timed_out:
            return self._on_timeout(result.run, run_url)
        return self.finish(result.run, run_url, outcome_of(result.run), ended=True)

    def failed_api(self, exc: DbtCloudError) -> None:
        """dbt Cloud stopped answering this run's life: say so, resolve its pending status."""
        self.api_error = exc
        toolkit.error(str(exc), title=f"dbt Cloud job {self.job_id}: API error")
        if self.run_id is not None and self.inputs.wait:
            self.commit_status(
                "error",
                f"dbt Cloud stopped answering while run {self.run_id} was followed",
                self.run_url,
            )

    def api_error_report(self) -> RunReport:
        """This job's report when dbt Cloud stopped answering while the step (with several
        jobs) followed it: an error, with the run as last seen but no status claimed."""
        from .reporting import RunReport  # noqa: PLC0415 - lazy: see the module docstring

        run = self.run
        return RunReport(
            job_id=self.job_id,
            job_name=self.job.name if self.job else "",
            account_id=self.inputs.account_id,
            run=None if run is None else replace(run, status=None, status_code=None),
            run_url=self.run_url,
            outcome=Outcome.ERROR,
            origin=self.origin,
            git_sha=self.payload.git_sha or "",
            git_branch=self.payload.git_branch or "",
            pull_request=self.payload.github_pull_request_id,
            notes=(f"dbt Cloud API error: {self.api_error}",),
        )

    # -- endings ----------------------------------------------------------------------------
    def _on_timeout(self, run: Run, run_url: str) -> RunReport:
        inputs = self.inputs
        if inputs.cancels_on_timeout:
            toolkit.info(f"Timed out after {inputs.timeout_seconds}s: cancelling run {run.id}.")
            run = self._cancel_and_confirm(run.id, deadline=time.monotonic() + 10) or run
        elif not inputs.cancels_on_exit:  # saved with the run: the post step leaves it
            toolkit.info(
                f"Timed out after {inputs.timeout_seconds}s: run {run.id} keeps going in dbt "
                f"Cloud ({self._why_not_cancelled()})."
            )
        else:
            toolkit.info(
                f"Timed out after {inputs.timeout_seconds}s; cancel-on-timeout is false: run "
                f"{run.id} keeps going in dbt Cloud."
            )
            self.state.leave("it timed out with cancel-on-timeout: false")
        return self.finish(
            run,
            run_url,
            Outcome.TIMED_OUT,
            ended=run.is_terminal,
            cancelled_by_workflow=run.status is RunStatus.CANCELLED,
        )

    def cancel(self, cancel: WorkflowCancelled) -> None:
        """The workflow was cancelled: cancel the run (or leave it, with cancel-on-exit: false)
        within the runner's budget. `report_cancelled` reports it after."""
        deadline = cancel.received_at + CLEANUP_BUDGET_SECONDS
        # a fresh client: the old session may be mid-request; short timeouts fit the budget
        self.client = DbtCloudClient(
            self.inputs.access_url,
            self.inputs.api_token,
            self.inputs.account_id,
            timeout=1.5,
            max_retry_seconds=max(0.5, deadline - time.monotonic() - 1.0),
        )
        run: Run | None = None
        run_id = self.run_id
        if run_id is None and self.creation is not None:
            run_id = self._run_created_by_cut_request(self.creation)
        if run_id is not None and self.inputs.cancels_on_exit:
            run = self._cancel_and_confirm(run_id, deadline=deadline)
        elif run_id is not None:
            toolkit.info(f"{self._why_not_cancelled()}: run {run_id} keeps going in dbt Cloud.")
            run = self._current_run(run_id)
        if run is None and run_id is not None:
            run = Run(
                id=run_id,
                job_id=self.inputs.job_id,
                account_id=self.inputs.account_id,
                status=None,
                status_code=None,
            )
        self.run = run

    def report_cancelled(self) -> RunReport:
        """After `cancel`. A run that already ended on its own (the signal came while reporting
        it) keeps its real outcome; the step still ends with the signal's exit code."""
        run = self.run if self.run_id is not None else None
        ended_alone = run is not None and run.status in (RunStatus.SUCCESS, RunStatus.ERROR)
        url = self.client.run_url(run) if run else ""
        return self.finish(
            run,
            url,
            outcome_of(run) if run is not None and ended_alone else Outcome.CANCELLED,
            ended=bool(run and run.is_terminal),
            cancelled_by_workflow=not ended_alone,
            interrupted=True,
        )

    def _run_created_by_cut_request(self, creation: RunCreation) -> int | None:
        """The run a trigger or retry interrupted by the cancel may have created, remembered
        for the post step too; None when there is none or the job's runs cannot be listed in
        time."""
        try:
            found = creation.find(self.client)
        except DbtCloudError as exc:
            toolkit.warning(
                f"The workflow was cancelled while {creation.doing}; whether a run was "
                f"created could not be checked: {exc}"
            )
            return None
        if found is None:
            return None
        self.origin = creation.origin
        self._save_run(found.id)
        return found.id

    def _current_run(self, run_id: int) -> Run | None:
        try:
            return self.client.get_run(run_id)
        except DbtCloudError:
            return None

    def _cancel_and_confirm(self, run_id: int, deadline: float) -> Run | None:
        try:
            run = self.client.cancel_run(run_id)
            while not run.is_terminal and time.monotonic() < deadline - 0.5:
                time.sleep(0.25)
                run = self.client.get_run(run_id)
        except DbtCloudError as exc:
            toolkit.warning(f"Could not cancel run {run_id}: {exc}")
            return None
        if run.is_terminal:
            toolkit.info(f"Run {run_id} is {status_word(run)} in dbt Cloud.")
        else:
            toolkit.warning(f"Run {run_id} was asked to cancel but had not stopped yet.")
            self.state.leave("dbt Cloud accepted the main step's cancel")
        return run

    def finish(
        self,
        run: Run | None,
        run_url: str,
        outcome: Outcome,
        *,
        ended: bool,
        cancelled_by_workflow: bool = False,
        interrupted: bool = False,
        notes: tuple[str, ...] = (),
    ) -> RunReport:
        """Report `run` in the log and its commit status (`notes` first among the report's
        notes); the step writes the outputs, the summary and the PR comment. After a cancel
        signal (`interrupted`) nothing is waited for: the runner kills the step seconds later."""
        from .artifacts import Collected  # noqa: PLC0415 - lazy: see the module docstring
        from .reporting import RunReport  # noqa: PLC0415 - lazy: see the module docstring

        inputs, payload = self.inputs, self.payload
        collected = Collected()
        if run is not None and outcome in (Outcome.SUCCESS, Outcome.ERROR) and not interrupted:
            collected = self._collect_artifacts(run)
            for note in collected.notes:
                toolkit.notice(note)
        report = RunReport(
            job_id=inputs.job_id,
            job_name=(self.job.name if self.job else "") or (run.job_name if run else ""),
            account_id=inputs.account_id,
            run=run,
            run_url=run_url,
            outcome=outcome,
            origin=self.origin,
            git_sha=payload.git_sha or "",
            git_branch=payload.git_branch or "",
            pull_request=payload.github_pull_request_id,
            # the followed run's own overrides, read from its trigger
            schema_override=self.overrides.schema or "",
            overrides=self.overrides.shown(),
            cancelled_by_workflow=cancelled_by_workflow,
            timed_out_after=inputs.timeout_seconds if outcome is Outcome.TIMED_OUT else None,
            results=collected.results,
            step_results=collected.step_results,
            skipped_steps=self.skipped,
            notes=(*notes, *collected.notes),
            artifacts=collected.saved,
        )
        self._log(report)
        if ended:
            self.state.ended()
        self._report_commit_status(report)
        self.report = report
        return report

    def _collect_artifacts(self, run: Run) -> Collected:
        from .artifacts import ArtifactCollector, Destination  # noqa: PLC0415 - lazy: see the module docstring

        inputs, workspace = self.inputs, self.context.workspace
        collector = ArtifactCollector(
            self.client,
            wait_seconds=self.tuning.artifact_wait,
            max_artifact_bytes=self.tuning.max_artifact_bytes,
        )
        to = Destination(Path(workspace or "."), self.artifacts_dir, bool(workspace))
        return collector.collect(run, inputs.artifacts, inputs.artifacts_step, to)

    # -- reporting --------------------------------------------------------------------------
    def _log(self, report: RunReport) -> None:
        from .reporting import annotation_for, failing_step, render_step_log, step_title  # noqa: PLC0415 - lazy: see the module docstring

        run = report.run
        if run is not None:
            for step in run.steps:
                with toolkit.group(step_title(step)), toolkit.stop_commands():
                    for line in render_step_log(step):
                        toolkit.info(line)
            bad = failing_step(run)
            if bad is not None and bad.logs:
                toolkit.info(f"Last lines of {step_title(bad)}:")
                with toolkit.stop_commands():
                    for line in render_step_log(bad, max_lines=30):
                        toolkit.info(line)
        annotation = annotation_for(report)
        if annotation is not None:
            title, message = annotation
            toolkit.error(message, title=title)
        toolkit.info(f"Outcome: {report.outcome.value}")

    def commit_status(self, state: str, description: str, url: str) -> None:
        from .github_reporting import set_commit_status, status_context  # noqa: PLC0415 - lazy: see the module docstring

        if not self.inputs.commit_status or not self.payload.git_sha:
            return
        name = self.job.name if self.job else f"job {self.inputs.job_id}"
        result = set_commit_status(
            self.github_target(),
            self.payload.git_sha,
            state,
            description,
            url,
            status_context(name),
        )
        (toolkit.info if result.ok else toolkit.warning)(result.message)

    def _report_commit_status(self, report: RunReport) -> None:
        from .reporting import commit_status_description  # noqa: PLC0415 - lazy: see the module docstring

        state = {
            Outcome.SUCCESS: "success",
            Outcome.ERROR: "failure",
            Outcome.CANCELLED: "error",
            Outcome.TIMED_OUT: "error",
        }.get(report.outcome)
        if state is not None:
            self.commit_status(state, commit_status_description(report), report.run_url)

    def github_target(self) -> GitHubTarget:
        return github_target(self.inputs, self.context)


def tuned_client(inputs: ActionInputs, tuning: Tuning) -> DbtCloudClient:
    """The step's client, with the waits the runner's environment set."""
    return DbtCloudClient(
        inputs.access_url,
        inputs.api_token,
        inputs.account_id,
        timeout=tuning.http_timeout,
        max_retry_seconds=tuning.retry_seconds,
    )


def github_target(inputs: ActionInputs, context: GitHubContext) -> GitHubTarget:
    from .github_reporting import DEFAULT_API_URL, GitHubTarget  # noqa: PLC0415 - lazy: see the module docstring

    return GitHubTarget(
        api_url=context.api_url or DEFAULT_API_URL,
        token=inputs.github_token or "",
        repository=context.repository,
    )


def poll_policy(inputs: ActionInputs) -> PollPolicy:
    from .watcher import PollPolicy  # noqa: PLC0415 - lazy: see the module docstring

    return PollPolicy() if inputs.poll_interval is AUTO else PollPolicy(fixed=inputs.poll_interval)


def outcome_of(run: Run) -> Outcome:
    """Only the integer status decides; anything but success fails."""
    if run.status is RunStatus.SUCCESS:
        return Outcome.SUCCESS
    if run.status is RunStatus.CANCELLED:
        return Outcome.CANCELLED
    return Outcome.ERROR


def status_word(run: Run) -> str:
    return {
        RunStatus.SUCCESS: "succeeded",
        RunStatus.ERROR: "errored",
        RunStatus.CANCELLED: "cancelled",
    }.get(run.status or RunStatus.QUEUED, "still going")
