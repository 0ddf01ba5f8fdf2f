"""The end of one job's run: its results and artifacts, its report, its log, its commit status.

What the report says of the run is what dbt Cloud last said of it: the outcome comes from the
run's integer status (`outcome_of`), a cancel is "by this workflow" only when this step asked
for it and dbt Cloud's status says cancelled, and a run the step leaves going is reported as
left running (with why), its commit status kept pending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import toolkit
from .client import DbtCloudClient
from .context import GitHubContext
from .inputs import ActionInputs
from .models import Job, Outcome, Overrides, Run, RunStatus
from .payload import TriggerPayload
from .scope import Scope
from .step_state import RunRecord

if TYPE_CHECKING:
    from .artifacts import Collected
    from .check_run import CheckRunOutput
    from .github_reporting import GitHubTarget
    from .reporting import RunReport


@dataclass(frozen=True)
class Ending:
    """How the step leaves the run, beside what dbt Cloud says of it."""

    outcome: Outcome
    ended: bool = False  # seen ending: the post step has nothing to do
    cancel_sent: bool = False  # this step asked dbt Cloud to cancel the run
    left_running: str = ""  # why the step leaves the run going ("": it does not)
    interrupted: bool = False  # the workflow was cancelled: nothing more is waited for
    notes: tuple[str, ...] = ()


class RunReporter:
    """Reports one job's run; all its I/O runs in the life's thread, in the client's scope."""

    def __init__(
        self,
        inputs: ActionInputs,
        context: GitHubContext,
        payload: TriggerPayload,
        *,
        artifacts_dir: str,
        artifact_wait: float,
        max_artifact_bytes: int,
    ) -> None:
        self.inputs = inputs
        self.context = context
        self.payload = payload
        self.artifacts_dir = artifacts_dir
        self.artifact_wait = artifact_wait
        self.max_artifact_bytes = max_artifact_bytes
        self._check_run_url = ""  # the job's check run, once created (check-run: true)

    def report(
        self,
        client: DbtCloudClient,
        job: Job | None,
        run: Run | None,
        *,
        origin: str,
        overrides: Overrides,
        skipped: tuple[str, ...],
        ending: Ending,
    ) -> RunReport:
        """The run's report, logged and set as its commit status; its artifacts first when it
        ended and the step is not cancelled."""
        from .artifacts import Collected  # noqa: PLC0415 - lazy: see action.py
        from .reporting import RunReport  # noqa: PLC0415 - lazy: see action.py

        inputs, payload = self.inputs, self.payload
        collected = Collected()
        ran = ending.outcome in (Outcome.SUCCESS, Outcome.ERROR)
        if run is not None and ran and not ending.interrupted:
            collected = self._collect_artifacts(client, run)
            for note in collected.notes:
                toolkit.notice(note)
        report = RunReport(
            job_id=inputs.job_id,
            job_name=(job.name if job else "") or (run.job_name if run else ""),
            account_id=inputs.account_id,
            run=run,
            run_url=client.run_url(run) if run is not None else "",
            outcome=ending.outcome,
            origin=origin,
            git_sha=payload.git_sha or "",
            git_branch=payload.git_branch or "",
            pull_request=payload.github_pull_request_id,
            schema_override=overrides.schema or "",
            overrides=overrides.shown(),
            cancelled_by_workflow=bool(
                ending.cancel_sent and run is not None and run.status is RunStatus.CANCELLED
            ),
            left_running=ending.left_running,
            timed_out_after=inputs.timeout_seconds if ending.outcome is Outcome.TIMED_OUT else None,
            results=collected.results,
            step_results=collected.step_results,
            skipped_steps=skipped,
            notes=(*ending.notes, *collected.notes),
            artifacts=collected.saved,
            facts=collected.facts,
            project_subdirectory=self._project_subdirectory(job),
        )
        if ran and not ending.interrupted and self.inputs.compare:
            report = compare_with_deferred(client, report)
        self._log(report)
        return report

    def unconfirmed_report(
        self,
        client: DbtCloudClient,
        job: Job | None,
        run: Run | None,
        *,
        origin: str,
        outcome: Outcome,
        notes: tuple[str, ...],
        left_running: str = "",
    ) -> RunReport:
        """A report that claims no status of the run (dbt Cloud stopped answering, or the step
        had to exit before it answered): the run as last known, its status not."""
        from .reporting import RunReport  # noqa: PLC0415 - lazy: see action.py

        payload = self.payload
        return RunReport(
            job_id=self.inputs.job_id,
            job_name=job.name if job else "",
            account_id=self.inputs.account_id,
            run=None if run is None else replace(run, status=None, status_code=None),
            run_url=client.run_url(run) if run is not None else "",
            outcome=outcome,
            origin=origin,
            git_sha=payload.git_sha or "",
            git_branch=payload.git_branch or "",
            pull_request=payload.github_pull_request_id,
            left_running=left_running,
            notes=notes,
        )

    def _project_subdirectory(self, job: Job | None) -> str:
        """The input's, else the dbt Cloud project's dbt_project_subdirectory."""
        if self.inputs.project_subdirectory is not None:
            return self.inputs.project_subdirectory
        return job.project_subdirectory if job else ""

    def unfinished_report(
        self, client: DbtCloudClient, job: Job | None, record: RunRecord, *, origin: str
    ) -> RunReport:
        """A run whose life did not report, from its saved record: none started (a cancel came
        first), or one whose state is unknown (the step had to exit first)."""
        if record.run_id is None:
            note = no_run_note(record)
            return self.unconfirmed_report(
                client, job, None, origin=origin, outcome=Outcome.CANCELLED, notes=(note,)
            )
        return self.unconfirmed_report(
            client,
            job,
            Run(record.run_id, self.inputs.job_id, self.inputs.account_id, None, None),
            origin=origin,
            outcome=Outcome.RUNNING,
            notes=(
                "The step had to exit before dbt Cloud confirmed this run's state; the post "
                "step cancels it if it is still going.",
            ),
            left_running="its state is unknown: the step had to exit first",
        )

    def _collect_artifacts(self, client: DbtCloudClient, run: Run) -> Collected:
        from .artifacts import ArtifactCollector, Destination  # noqa: PLC0415 - lazy: see action.py

        scope = client.scope
        collector = ArtifactCollector(
            client,
            wait_seconds=min(self.artifact_wait, scope.left()),
            max_artifact_bytes=self.max_artifact_bytes,
            sleep=scope.sleep,
        )
        workspace = self.context.workspace
        to = Destination(Path(workspace or "."), self.artifacts_dir, bool(workspace))
        return collector.collect(
            run,
            self.inputs.artifacts,
            self.inputs.artifacts_step,
            to,
            manifest=True,  # read only when something failed: files, and what it breaks
        )

    def _log(self, report: RunReport) -> None:
        with toolkit.together():
            self._log_lines(report)

    def _log_lines(self, report: RunReport) -> None:
        from .reporting import annotation_for, failing_step, render_step_log, step_title  # noqa: PLC0415 - lazy: see action.py

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

    def commit_status(
        self,
        job: Job | None,
        state: str,
        description: str,
        url: str,
        *,
        scope: Scope | None,
        report: RunReport | None = None,
    ) -> None:
        """The commit status and, alongside it, the check run: created in progress with the
        pending status, concluded with the final one (from `report` when there is one); within
        what `scope` leaves (skipped when too little is left; None: GitHub's own timeouts)."""
        if not self.payload.git_sha or not (self.inputs.check_run or self.inputs.commit_status):
            return
        target = github_target(self.inputs, self.context, scope)
        if target is None:
            toolkit.warning(f"No time was left to set the commit status '{state}'.")
            return
        if self.inputs.check_run:
            self._check_run(target, job, state, description, url, report=report)
        if self.inputs.commit_status:
            self._set_commit_status(target, job, state, description, url)

    def _set_commit_status(
        self, target: GitHubTarget, job: Job | None, state: str, description: str, url: str
    ) -> None:
        from .github_reporting import set_commit_status, status_context  # noqa: PLC0415 - lazy: see action.py

        name = job.name if job else f"job {self.inputs.job_id}"
        result = set_commit_status(
            target,
            self.payload.git_sha or "",
            state,
            description,
            url,
            status_context(name),
        )
        (toolkit.info if result.ok else toolkit.warning)(result.message)

    def final_commit_status(self, job: Job | None, report: RunReport, scope: Scope | None) -> None:
        """A run left going keeps its status pending (it has not ended: GitHub shows it in
        progress), with the reason; the others get dbt Cloud's verdict."""
        from .reporting import commit_status_description  # noqa: PLC0415 - lazy: see action.py

        if report.left_running and report.outcome in (Outcome.RUNNING, Outcome.TIMED_OUT):
            state: str | None = "pending"
        else:
            state = {
                Outcome.SUCCESS: "success",
                Outcome.ERROR: "failure",
                Outcome.CANCELLED: "error",
                Outcome.TIMED_OUT: "error",
            }.get(report.outcome)
        if state is not None:
            self.commit_status(
                job,
                state,
                commit_status_description(report),
                report.run_url,
                scope=scope,
                report=report,
            )

    def _check_run(
        self,
        target: GitHubTarget,
        job: Job | None,
        state: str,
        description: str,
        url: str,
        *,
        report: RunReport | None,
    ) -> None:
        from .check_run import (  # noqa: PLC0415 - lazy: see action.py
            conclude_check_run,
            conclusion_for,
            start_check_run,
        )
        from .github_reporting import status_context  # noqa: PLC0415 - lazy: see action.py

        if state == "pending":
            if not self._check_run_url:
                name = status_context(job.name if job else f"job {self.inputs.job_id}")
                result, self._check_run_url = start_check_run(
                    target, self.payload.git_sha or "", name, url
                )
                (toolkit.info if result.ok else toolkit.warning)(result.message)
            return
        if not self._check_run_url:
            return
        outcome = report.outcome if report is not None else Outcome.ERROR
        output = self._check_run_output(description, report)
        result = conclude_check_run(
            target, self._check_run_url, conclusion_for(outcome, state), output
        )
        self._check_run_url = ""
        (toolkit.info if result.ok else toolkit.warning)(result.message)

    def _check_run_output(self, description: str, report: RunReport | None) -> CheckRunOutput:
        """The job's summary and every file annotation (none without a report)."""
        from .annotations import report_annotations, workspace_reader  # noqa: PLC0415 - lazy: see action.py
        from .check_run import SUMMARY_MAX_CHARS, CheckRunOutput  # noqa: PLC0415 - lazy: see action.py
        from .reporting import render_summary  # noqa: PLC0415 - lazy: see action.py

        if report is None:
            return CheckRunOutput(description, description)
        annotations = report_annotations(report, workspace_reader(self.context.workspace))
        # bytes bound characters: a summary under the limit in bytes is under it in characters
        summary = render_summary(report, max_bytes=SUMMARY_MAX_CHARS)
        return CheckRunOutput(description, summary, annotations)


def compare_with_deferred(client: DbtCloudClient, report: RunReport) -> RunReport:
    """The report with its failing nodes marked new or already failing in the run it deferred
    to (two requests, only when some node failed); without a deferral, a line says so."""
    from .compare import (  # noqa: PLC0415 - lazy: see action.py
        Comparison,
        compared,
        fetch_baseline,
        marks_for,
        not_deferred,
    )
    from .reporting import reconciled  # noqa: PLC0415 - lazy: see action.py

    _, digest = reconciled(report)
    if report.run is None or digest is None or not digest.problems:
        return report
    if report.run.deferring_run_id is None:
        return replace(report, comparison=not_deferred())
    baseline = fetch_baseline(client, report.run.deferring_run_id)
    if isinstance(baseline, Comparison):
        return replace(report, comparison=baseline)
    marks = marks_for(digest.problems, baseline)
    return replace(report, marks=marks, comparison=compared(marks, baseline))


# A GitHub call makes up to three requests (a comment: list, whoami, write), each given a third
# of the time left and at most PyGithub's usual 10 s; under this much left, none is made.
GITHUB_MIN_SECONDS = 1.5


def github_target(
    inputs: ActionInputs, context: GitHubContext, scope: Scope | None = None
) -> GitHubTarget | None:
    """Where to report on GitHub, each request bounded by what `scope` leaves; None when it
    leaves too little for one."""
    from .github_reporting import DEFAULT_API_URL, GitHubTarget  # noqa: PLC0415 - lazy: see action.py

    left = math.inf if scope is None else scope.left()
    if left < GITHUB_MIN_SECONDS:
        return None
    return GitHubTarget(
        api_url=context.api_url or DEFAULT_API_URL,
        token=inputs.github_token or "",
        repository=context.repository,
        timeout_seconds=max(1, int(min(10.0, left / 3))),
    )


def no_run_note(record: RunRecord) -> str:
    """Why a cancelled step reports no run: none was started, or one may be on its way."""
    if record.pending is None:
        return "The workflow was cancelled before a dbt Cloud run was started."
    return (
        "The workflow was cancelled while a run was being started, and dbt Cloud showed no run "
        "for it in time; the post step looks for it by the key in its cause and cancels it."
    )


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
