"""One run's whole life, in a thread of its own: start, follow, end; or, on a cancel, clean up.

A step runs one `RunLife` per job; `action.ActionStep` runs their `live()` in threads and waits.
Each life is the only writer of its fields; the step reads them after the thread is done (or,
for a life still busy when the runner's time is up, reads its saved record only).

The flow of one run, each phase bounded by its scope (scope.py: the step's one cancel, and the
phase's deadline, carried by the life's client into every call, retry and sleep):

1. start (run_start.py): attach, supersede, retry or trigger, or wait for dbt Cloud's own run;
   until `timeout` (plus the last poll's few seconds).
2. follow (watcher.py through outage.py): one poll at a time until the run ends or `timeout`;
   then a last poll, so an end at the deadline is still seen.
3. end (run_report.py): on a timeout, the cancel and its confirmation; then artifacts, report,
   log and commit status; until `timeout` + TIMEOUT_GRACE_SECONDS (less what the step's own
   report needs).
A cancel anywhere ends the phase at its next wait and runs the clean-up instead: the run (a
trigger in flight seen through first) cancelled and confirmed, or left as the inputs ask, and
reported as dbt Cloud then says, within CLEANUP_SECONDS of the signal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import toolkit
from .cancellation import WorkflowCancelled
from .client import MAX_ARTIFACT_BYTES, DbtCloudClient, DbtCloudError
from .context import GitHubContext
from .inputs import ActionInputs, InputError, Mode
from .job_fit import fit_to_job
from .models import Job, Outcome, Run, RunStatus
from .payload import TriggerPayload
from .run_cancel import cancel_and_confirm, current_run
from .run_follow import follow_run
from .run_report import Ending, RunReporter, no_run_note, outcome_of
from .run_start import RunStart, Started
from .scope import REPORT_RESERVE_SECONDS, TIMEOUT_GRACE_SECONDS, Cancellation, Scope
from .step_state import RunState

if TYPE_CHECKING:
    from .reporting import RunReport

# Why the post step leaves a followed run alone (the step's state says it).
FOLLOWED_NOT_CANCELLED = (
    "dbt Cloud started it, not this step (mode: follow, cancel-followed: false)"
)
# The last poll at `timeout` gets these seconds of the grace, so a slow answer still counts.
LAST_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Tuning:
    """The waits the runner's environment sets (action.tuning_from_env)."""

    http_timeout: float = 10.0
    retry_seconds: float = 60.0
    artifact_wait: float = 20.0
    max_artifact_bytes: int = MAX_ARTIFACT_BYTES


class RunLife:
    """One job's run, from start to report."""

    def __init__(
        self,
        inputs: ActionInputs,
        context: GitHubContext,
        payload: TriggerPayload,
        state: RunState,
        *,
        cancellation: Cancellation,
        timeout_at: float,
        tuning: Tuning = Tuning(),
        job: Job | None = None,
        artifacts_dir: str | None = None,
        log_prefix: str = "",
        given: Run | None = None,
        origin: str = "",
    ) -> None:
        """`timeout_at`: when the step's `timeout` is up (inf: never), on the monotonic clock.
        `origin`: how the run came (a job chain's "chained"), when the start does not say it."""
        self.inputs = inputs
        self.context = context
        self.payload = payload
        self.state = state
        self.tuning = tuning
        self.log_prefix = log_prefix  # with several jobs, progress lines say whose they are
        self.timeout_at = timeout_at
        # the end's bound: the last poll, a timeout's cancel, artifacts, the run's report
        self.end_at = timeout_at + TIMEOUT_GRACE_SECONDS - REPORT_RESERVE_SECONDS
        self.scope = Scope(cancellation, timeout_at + LAST_POLL_SECONDS)
        self.client = tuned_client(inputs, tuning, self.scope)
        self.starter = RunStart(
            inputs,
            context,
            payload,
            self.client,
            state,
            timeout_at=timeout_at,
            log_prefix=log_prefix,
            given=given,
        )
        self.reporter = RunReporter(
            inputs,
            context,
            payload,
            artifacts_dir=inputs.artifacts_dir if artifacts_dir is None else artifacts_dir,
            artifact_wait=tuning.artifact_wait,
            max_artifact_bytes=tuning.max_artifact_bytes,
        )
        self.job = job
        self.run: Run | None = None  # the run to follow, as last seen
        self.started: Started | None = None
        self.report: RunReport | None = None  # once reported
        self.api_error: DbtCloudError | None = None  # dbt Cloud stopped answering the step
        self.input_error: InputError | None = None  # an input that does not fit the job read
        self.chained: tuple[RunReport, ...] = ()  # follow-chain: the runs its end started
        self._origin = origin

    @property
    def job_id(self) -> int:
        return self.inputs.job_id

    @property
    def origin(self) -> str:
        if self._origin:
            return self._origin
        if self.started is not None:
            return self.started.origin
        if self.inputs.run_id is not None:
            return "given"
        return "followed" if self.inputs.mode is Mode.FOLLOW else "triggered"

    # -- the phases ---------------------------------------------------------------------------
    def load_job(self) -> None:
        """The job (unless `job-name` found it already), and whether the inputs fit it (an
        input error, else the run's payload), before any run of the step starts."""
        try:
            if self.job is None:
                self.job = self.client.get_job(self.job_id)
            toolkit.info(
                f"dbt Cloud job {self.job.id} '{self.job.name}' in account {self.inputs.account_id}"
            )
            payload = fit_to_job(self.client, self.inputs, self.job, self.payload, self.log_prefix)
        except DbtCloudError as exc:
            self.failed_api(exc)
            return
        except InputError as error:  # said once; no run of the step starts
            self.input_error = error
            toolkit.error(str(error), title=f"Invalid input '{error.input_name}'")
            self.report = self.unconfirmed(Outcome.ERROR, str(error))
            return
        self.payload = self.starter.payload = self.reporter.payload = payload
        self.starter.warn_of(self.job)

    @property
    def not_loaded(self) -> bool:
        """The job could not be read, or an input does not fit it: no run of the step starts."""
        return self.api_error is not None or self.input_error is not None

    def live(self) -> None:
        """After `load_job`: the run's start, follow and end, or the clean-up after a cancel.
        Runs in its own thread; what dbt Cloud does not answer ends in `failed_api`."""
        try:
            self._start_and_follow()
        except WorkflowCancelled:
            self._clean_up()
        except DbtCloudError as exc:  # after a cancel, a call cut short is the cancel's
            self._clean_up() if self.scope.cancelled else self.failed_api(exc)
        if self.inputs.follow_chain:
            self._follow_chain()

    def _follow_chain(self) -> None:
        """follow-chain: the runs this run's end started (run_chain.py), unless it did not end
        by itself in time (a cancel, a timeout)."""
        from .run_chain import RunChain  # noqa: PLC0415 - lazy: see action.py

        run = self.run
        if run is None or not run.is_terminal or self.scope.cancelled:
            return
        if time.monotonic() < self.timeout_at:
            RunChain(self).follow(run)

    def _start_and_follow(self) -> None:
        from .follow import RunNotFound  # noqa: PLC0415 - lazy: see action.py

        try:
            started = self.starter.start()
        except RunNotFound as missing:
            self._end(None, Ending(Outcome.NOT_FOUND, notes=(str(missing),)))
            return
        self._begin(started)
        self.scope.check()  # the cancel came while a trigger in flight was seen through
        run = started.run
        if not self.inputs.wait:
            if self.inputs.commit_status or self.inputs.check_run:
                toolkit.notice(
                    "No commit status or check run was set: with wait: false this step does not "
                    "see the run end, so a pending one would never be resolved. Set wait: true "
                    "to gate the commit on the run."
                )
            self._end(run, Ending(Outcome.TRIGGERED))
            return
        url = self.client.run_url(run)
        self.reporter.commit_status(
            self.job,
            "pending",
            f"dbt Cloud run {run.id} is in progress",
            url,
            scope=self.client.scope,
        )
        self._follow(run)

    def _begin(self, started: Started) -> None:
        """The run exists: saved for the post step (a run handed over to dbt Cloud from the
        start, wait: false or cancel-on-exit: false, with why, so the post step never sees its id
        without it), and its first log line."""
        self.started, self.run = started, started.run
        self.state.started(started.run.id, leave=self._kept_from_the_start())
        verb = {
            "triggered": "Triggered",
            "attached": "Attached to",
            "retried": "Retried as",
            "followed": "Following",
            "given": "Following",
        }[started.origin]
        url = self.client.run_url(started.run)
        toolkit.info(f"{self.log_prefix}{verb} run {started.run.id}: {url}")

    def _kept_from_the_start(self) -> str:
        if not self.inputs.wait:
            return "wait is false"
        if not self.inputs.cancels_on_exit:
            return self._why_not_cancelled()
        return ""

    def _why_not_cancelled(self) -> str:
        from .given_run import GIVEN_NOT_CANCELLED  # noqa: PLC0415 - lazy: see action.py

        if not self.inputs.cancel_on_exit:
            return "cancel-on-exit is false"
        return GIVEN_NOT_CANCELLED if self.inputs.run_id is not None else FOLLOWED_NOT_CANCELLED

    def _follow(self, run: Run) -> None:
        followed = follow_run(
            self.client,
            self.inputs,
            run,
            retry_seconds=self.tuning.retry_seconds,
            timeout_at=self.timeout_at,
            expected_duration=self.started.expected_duration if self.started else None,
            on_change=self._seen,
        )
        self.run = followed.run
        if followed.unanswered:
            toolkit.info(
                f"{self.log_prefix}The timeout of {self.inputs.timeout_seconds}s was reached "
                "while dbt Cloud did not answer."
            )
        if followed.timed_out:
            self._on_timeout(followed.run)
            return
        self._end(followed.run, Ending(outcome_of(followed.run), ended=True))

    def _seen(self, run: Run, line: str) -> None:
        """A change of the run, logged; the run as last seen is what a cancel starts from."""
        self.run = run
        toolkit.info(self.log_prefix + line)

    def _on_timeout(self, run: Run) -> None:
        inputs = self.inputs
        waited = f"{self.log_prefix}Timed out after {inputs.timeout_seconds}s"
        self.client.scope = self.scope.with_deadline(self.end_at)
        if inputs.cancels_on_timeout:
            toolkit.info(f"{waited}: cancelling run {run.id}.")
            seen = cancel_and_confirm(self.client, run.id, self.state, self.log_prefix)
            self._end(seen or run, self._after_cancel_sent(seen or run, accepted=seen is not None))
            return
        if not inputs.cancels_on_exit:  # saved with the run: the post step leaves it
            why = self._why_not_cancelled()
        else:
            why = "cancel-on-timeout is false"
            self.state.leave("it timed out with cancel-on-timeout: false")
        toolkit.info(f"{waited}: run {run.id} keeps going in dbt Cloud ({why}).")
        self._end(run, Ending(Outcome.TIMED_OUT, left_running=why))

    def _after_cancel_sent(self, run: Run, *, accepted: bool, interrupted: bool = False) -> Ending:
        """How a run this step asked to cancel is left, as dbt Cloud last showed it."""
        timed_out = not interrupted
        if run.is_terminal:  # a run that ended by itself meanwhile keeps its own outcome
            cancelled = run.status is RunStatus.CANCELLED
            outcome = Outcome.TIMED_OUT if timed_out and cancelled else outcome_of(run)
            return Ending(outcome, ended=True, cancel_sent=True, interrupted=interrupted)
        why = (
            "dbt Cloud accepted the cancel but had not stopped the run yet"
            if accepted
            else "dbt Cloud did not answer the cancel in time"
        )
        outcome = Outcome.TIMED_OUT if timed_out else Outcome.RUNNING
        return Ending(outcome, cancel_sent=True, left_running=why, interrupted=interrupted)

    def _clean_up(self) -> None:
        """The workflow was cancelled: the run cancelled (or left, as the inputs ask) within
        the clean-up's time, and reported as dbt Cloud then says."""
        self.client.scope = self.scope.for_cleanup()
        run = self.run
        if run is None:
            self._end(
                None,
                Ending(
                    Outcome.CANCELLED, interrupted=True, notes=(no_run_note(self.state.record()),)
                ),
            )
            return
        if run.is_terminal:  # it ended on its own (the cancel came while reporting it)
            self._end(run, Ending(outcome_of(run), ended=True, interrupted=True))
            return
        if self.inputs.cancels_on_exit:
            seen = cancel_and_confirm(self.client, run.id, self.state, self.log_prefix)
            ending = self._after_cancel_sent(
                seen or run, accepted=seen is not None, interrupted=True
            )
            self._end(seen or run, ending)
            return
        why = self._why_not_cancelled()
        toolkit.info(f"{self.log_prefix}{why}: run {run.id} keeps going in dbt Cloud.")
        seen = current_run(self.client, run.id) or run
        if seen.is_terminal:
            self._end(seen, Ending(outcome_of(seen), ended=True, interrupted=True))
        else:
            self._end(seen, Ending(Outcome.RUNNING, left_running=why, interrupted=True))

    def _end(self, run: Run | None, ending: Ending) -> None:
        if run is not None:
            self.run = run
        if not ending.interrupted:  # the end's own bound: artifacts, report, commit status
            self.client.scope = self.scope.with_deadline(self.end_at)
        if ending.ended:
            self.state.ended()
        started = self.started
        overrides = started.overrides if started is not None else None
        self.report = self.reporter.report(
            self.client,
            self.job,
            run,
            origin=self.origin,
            overrides=overrides or self.payload.requested_overrides(),
            skipped=started.skipped if started else (),
            ending=ending,
        )
        # after the report is held: the step reports it even if GitHub is slow; after a cancel
        # within the clean-up, else (like the PR comment) after `timeout`'s bound
        github = self.scope.for_cleanup(report=True) if ending.interrupted else None
        self.reporter.final_commit_status(self.job, self.report, github)

    # -- dbt Cloud stopped answering ---------------------------------------------------------
    def failed_api(self, exc: DbtCloudError) -> None:
        """dbt Cloud stopped answering this run's life: say so, resolve its pending status."""
        self.api_error = exc
        toolkit.error(str(exc), title=f"dbt Cloud job {self.job_id}: API error")
        run = self.run
        if run is not None and self.inputs.wait:
            self.reporter.commit_status(
                self.job,
                "error",
                f"dbt Cloud stopped answering while run {run.id} was followed",
                self.client.run_url(run),
                scope=None,
            )
        self.report = self.reporter.unconfirmed_report(
            self.client,
            self.job,
            run,
            origin=self.origin,
            outcome=Outcome.ERROR,
            notes=(f"dbt Cloud API error: {exc}",),
        )

    def unconfirmed(self, outcome: Outcome, note: str) -> RunReport:
        """The report of a job whose run was not started for a reason of the step's."""
        return self.reporter.unconfirmed_report(
            self.client, self.job, None, origin=self.origin, outcome=outcome, notes=(note,)
        )

    def unfinished_report(self) -> RunReport:
        """The report of a life that did not report (the cancel came before it lived, or it was
        still busy when the step had to exit): from its saved record only (its fields are its
        own thread's)."""
        return self.reporter.unfinished_report(
            self.client, self.job, self.state.record(), origin=self.origin
        )


def tuned_client(
    inputs: ActionInputs, tuning: Tuning, scope: Scope | None = None
) -> DbtCloudClient:
    """A client with the waits the runner's environment set, in `scope`."""
    return DbtCloudClient(
        inputs.access_url,
        inputs.api_token,
        inputs.account_id,
        timeout=tuning.http_timeout,
        max_retry_seconds=tuning.retry_seconds,
        scope=scope,
    )
