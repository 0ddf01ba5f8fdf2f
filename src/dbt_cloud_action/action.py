"""The engine shared by the GitHub Action and the CLI: inputs → payload → run → report.

All I/O of a step lives here; every decision it makes is delegated to a pure function elsewhere.

What only runs after the first dbt Cloud request (watching, results, artifacts, reporting, GitHub)
is imported where it is used, not at module import: the step's start-up is interpreter plus
`requests` plus what the first request needs (see bench/startup.py).
"""

from __future__ import annotations

import math
import os
import secrets
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import toolkit
from .access_url import is_legacy_host
from .cancellation import CLEANUP_BUDGET_SECONDS, CancelSignals, WorkflowCancelled
from .client import DbtCloudClient, DbtCloudError, DbtCloudUnavailable, redact
from .context import GitHubContext, context_from_env
from .inputs import (
    AUTO,
    ActionInputs,
    ForkPullRequests,
    InputError,
    Mode,
    parse_bool,
    parse_git_target,
    parse_inputs,
    parse_positive_int,
)
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
from .payload import TriggerPayload, build_trigger_payload, fork_to_be_run, sha_to_send

if TYPE_CHECKING:
    from .artifacts import Collected
    from .github_reporting import GitHubTarget
    from .reporting import RunReport
    from .watcher import PollPolicy

# What the post step needs to honour the main step's decisions. It cancels the run `run_id`
# only when neither of the others is set: the main step meant to cancel it and could not
# (it was killed outright, or its own cancel failed).
STATE_RUN_ID = "run_id"
STATE_RUN_ENDED = "run_ended"
# Why the run is handed over to dbt Cloud (wait: false, cancel-on-exit: false, a timeout with
# cancel-on-timeout: false, a cancel already accepted): the post step must not cancel it.
STATE_LEAVE_RUN = "leave_run"
FOLLOWED_NOT_CANCELLED = (
    "dbt Cloud started it, not this step (mode: follow, cancel-followed: false)"
)
# Runner environment variables that tune waits, in seconds: for each dbt Cloud answer, for one
# API call's retries, and for artifacts dbt Cloud lists but does not serve yet after a run ends
# (0 skips that wait). A runner behind a slow proxy may raise the first two; the fault tests
# lower all three to stay fast.
HTTP_TIMEOUT_VARIABLE = "DBT_CLOUD_ACTION_HTTP_TIMEOUT"
RETRY_SECONDS_VARIABLE = "DBT_CLOUD_ACTION_RETRY_SECONDS"
ARTIFACT_WAIT_VARIABLE = "DBT_CLOUD_ACTION_ARTIFACT_WAIT"
MAX_TUNING_SECONDS = 600.0


@dataclass(frozen=True)
class Tuning:
    http_timeout: float = 10.0
    retry_seconds: float = 60.0
    artifact_wait: float = 20.0


@dataclass(frozen=True)
class RunCreation:
    """A POST that creates a run (trigger or retry), remembered so that a cancel arriving
    before its answer can still find the run it created and cancel it."""

    doing: str  # for messages: "triggering job 21", "retrying run 70"
    origin: str  # the report's origin for the run it creates
    find: Callable[[DbtCloudClient], Run | None]  # looks for the run it created


@dataclass(frozen=True)
class StepResult:
    exit_code: int
    report: RunReport | None = None


def main() -> int:
    """The action's main step (`entrypoint.py`)."""
    return _without_traceback(lambda: run_step(toolkit.get_input, os.environ))


def main_post() -> int:
    """The action's post step (`post_entrypoint.py`), run with always()."""
    return _without_traceback(lambda: run_post(toolkit.get_input, toolkit.get_state, os.environ))


def _without_traceback(step: Callable[[], int]) -> int:
    """A bug must still end in one readable `::error::`, never a traceback that might carry
    the token (tracebacks show local values only with RUNNER_DEBUG, and then redacted)."""
    try:
        return step()
    except Exception as exc:
        token = toolkit.get_input("api-token").strip()
        detail = redact(f"{type(exc).__name__}: {exc}", [token] if token else [])
        toolkit.error(
            f"The action failed unexpectedly ({detail}). Re-run with debug logging "
            "(ACTIONS_STEP_DEBUG) and report it with the log.",
            title="dbt Cloud action: internal error",
        )
        if os.environ.get("RUNNER_DEBUG") == "1":
            toolkit.info(redact(traceback.format_exc(), [token] if token else []))
        return 1


def _fail_input(exc: InputError) -> StepResult:
    toolkit.error(str(exc), title=f"Invalid input '{exc.input_name}'")
    return StepResult(1)


def _mask_token(get_input: Callable[[str], str]) -> None:
    token = get_input("api-token").strip()
    if token:
        toolkit.mask(token)


def run_step(get_input: Callable[[str], str], env: Mapping[str, str]) -> int:
    return execute(get_input, env).exit_code


def execute(
    get_input: Callable[[str], str], env: Mapping[str, str], *, cli: bool = False
) -> StepResult:
    """The main step (`cli`: run by `dbt-cloud-run`, which has inputs action.yml has not).
    Signals are handled from the start: SIGTERM would be ignored by Python as PID 1, and a
    SIGINT before any run exists must end the step cleanly, not with a traceback."""
    signals = CancelSignals()
    with signals.installed():
        try:
            return _execute(get_input, env, signals, cli=cli)
        except WorkflowCancelled as cancel:
            toolkit.info(f"Received {cancel} before a dbt Cloud run was started.")
            return StepResult(cancel.exit_code)


def _execute(
    get_input: Callable[[str], str], env: Mapping[str, str], signals: CancelSignals, *, cli: bool
) -> StepResult:
    _mask_token(get_input)
    context = context_from_env(env)
    try:  # before the other inputs: a fork's pull request gets no secrets, so no api-token
        git = parse_git_target(get_input)
    except InputError as exc:
        return _fail_input(exc)
    fork = fork_to_be_run(context, sha_to_send(git.git_sha, git.git_branch, context))
    if fork is not None:
        return _refuse_fork(git.fork_pull_requests, context, fork, get_input)
    try:
        inputs = parse_inputs(get_input, cli=cli)
    except InputError as exc:
        return _fail_input(exc)
    try:
        tuning = tuning_from_env(env)
    except ValueError as exc:
        toolkit.error(str(exc), title="Invalid runner environment variable")
        return StepResult(1)
    for warning in context.warnings:
        toolkit.warning(warning)
    try:
        payload = build_trigger_payload(inputs, context, trigger_key=secrets.token_hex(3))
    except InputError as exc:
        return _fail_input(exc)
    if is_legacy_host(inputs.access_url):
        toolkit.warning(
            f"{inputs.access_url} stopped serving integrations on 2026-11-01. Set access-url to "
            "your account's own access URL (Account settings → Access URLs in dbt Cloud)."
        )
    return ActionStep(inputs, context, payload, signals, tuning=tuning).run()


def _refuse_fork(
    policy: ForkPullRequests, context: GitHubContext, fork: str, get_input: Callable[[str], str]
) -> StepResult:
    """No run for a fork's commit: dbt Cloud's clone of this repository cannot check it out,
    and running a stranger's SQL with this job's credentials is not ours to decide."""
    from .reporting import RunReport, outputs_for, render_summary  # noqa: PLC0415 - lazy: see the module docstring

    pull = f"Pull request #{context.pr_number}" if context.pr_number else "This pull request"
    why = (
        f"{pull} comes from the fork {fork}: dbt Cloud can only check out commits of "
        f"{context.repository or 'this repository'}, so a run of its head commit would fail "
        "at the clone step (fatal: reference is not a tree)."
    )
    if policy is ForkPullRequests.FAIL:
        toolkit.error(
            f"{why} No run was triggered. Set fork-pull-requests: skip to skip pull requests "
            "from forks, or ask the author to push the branch to this repository (a "
            "maintainer can push the reviewed commit to a branch here and run the workflow "
            "for it).",
            title="Pull request from a fork",
        )
        return StepResult(1)
    toolkit.notice(
        f"{why} Skipped, as fork-pull-requests is skip: no dbt Cloud run was started.",
        title="dbt Cloud run skipped",
    )
    try:  # only for the report: the other inputs may be unreadable here (no secrets)
        job_id = parse_positive_int(get_input("job-id").strip())
    except ValueError:
        job_id = 0
    report = RunReport(
        job_id=job_id,
        job_name="",
        account_id=0,
        run=None,
        run_url="",
        outcome=Outcome.SKIPPED,
        origin="",
        notes=(f"{why} No run was started (fork-pull-requests: skip).",),
    )
    for name, value in outputs_for(report).items():
        toolkit.set_output(name, value)
    if _summary_wanted(get_input):
        toolkit.append_summary(render_summary(report))
    return StepResult(0, report)


def _summary_wanted(get_input: Callable[[str], str]) -> bool:
    try:
        return parse_bool(get_input("summary").strip() or "true")
    except ValueError:
        return True


def tuning_from_env(env: Mapping[str, str]) -> Tuning:
    """The waits set by the runner's environment; ValueError names a bad variable."""
    default = Tuning()
    return Tuning(
        http_timeout=_seconds_from_env(env, HTTP_TIMEOUT_VARIABLE, default.http_timeout),
        retry_seconds=_seconds_from_env(env, RETRY_SECONDS_VARIABLE, default.retry_seconds),
        artifact_wait=_seconds_from_env(
            env, ARTIFACT_WAIT_VARIABLE, default.artifact_wait, zero_allowed=True
        ),
    )


def _seconds_from_env(
    env: Mapping[str, str], name: str, default: float, *, zero_allowed: bool = False
) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    lowest_ok = seconds >= 0 if zero_allowed else seconds > 0
    if not (lowest_ok and seconds <= MAX_TUNING_SECONDS):  # NaN fails both
        lowest = "0" if zero_allowed else "above 0"
        raise ValueError(
            f"{name} must be a number of seconds from {lowest} to {MAX_TUNING_SECONDS:g} "
            f"(got {text[:32]!r}); unset it to use {default:g}."
        )
    return seconds


class ActionStep:
    """One step's worth of state: which run it follows, so a cancel can clean it up."""

    def __init__(
        self,
        inputs: ActionInputs,
        context: GitHubContext,
        payload: TriggerPayload,
        signals: CancelSignals,
        *,
        tuning: Tuning = Tuning(),
    ) -> None:
        self.inputs = inputs
        self.context = context
        self.payload = payload
        self.signals = signals
        self.tuning = tuning
        self.client = DbtCloudClient(
            inputs.access_url,
            inputs.api_token,
            inputs.account_id,
            timeout=tuning.http_timeout,
            max_retry_seconds=tuning.retry_seconds,
        )
        self.job: Job | None = None
        self.run_id: int | None = None
        self.run_url = ""
        self.origin = "triggered"
        self.skipped: tuple[str, ...] = ()
        self.creation: RunCreation | None = None  # the last run-creating POST sent
        # what the followed run's trigger overrode, for the report
        self.overrides = payload.requested_overrides()
        self.expected_duration: float | None = None  # the job's usual run time
        self.not_found = ""  # mode: follow, and the run never appeared: what to check

    # -- the happy path -------------------------------------------------------------------
    def run(self) -> StepResult:
        try:
            return self._run()
        except WorkflowCancelled as cancel:
            self.signals.disarm()
            return self._on_cancel(cancel)
        except DbtCloudError as exc:
            toolkit.error(str(exc), title=f"dbt Cloud job {self.inputs.job_id}: API error")
            self._output_run_link()
            return StepResult(1)

    def _output_run_link(self) -> None:
        """The run's id and link when dbt Cloud stopped answering while the step followed it,
        so later steps (run with always()) can still point at it."""
        if self.run_id is None:
            return
        toolkit.set_output("run-id", str(self.run_id))
        toolkit.set_output("run-url", self.run_url)
        toolkit.set_output("origin", self.origin)
        if self.inputs.wait:  # the pending status set for this run must not stay pending
            self._commit_status(
                "error",
                f"dbt Cloud stopped answering while run {self.run_id} was followed",
                self.run_url,
            )

    def _run(self) -> StepResult:
        from .outage import PatientRunSource  # noqa: PLC0415 - lazy: see the module docstring
        from .watcher import RunWatcher, describe  # noqa: PLC0415 - lazy: see the module docstring

        inputs = self.inputs
        self.job = self.client.get_job(inputs.job_id)
        toolkit.info(
            f"dbt Cloud job {self.job.id} '{self.job.name}' in account {inputs.account_id}"
        )
        if inputs.mode is Mode.FOLLOW:
            followed = self._follow_run()
            if followed is None:
                return self._finish(
                    None, "", Outcome.NOT_FOUND, ended=False, notes=(self.not_found,)
                )
            run = followed
        else:
            run = self._start_run()
        self._save_run(run.id)
        if run.overrides is not None:
            self.overrides = run.overrides
        run_url = self.run_url = self.client.run_url(run)
        verb = {
            "triggered": "Triggered",
            "attached": "Attached to",
            "retried": "Retried as",
            "followed": "Following",
        }
        toolkit.info(f"{verb[self.origin]} run {run.id}: {run_url}")
        if not inputs.wait:
            if inputs.commit_status:
                toolkit.notice(
                    "No commit status was set: with wait: false this step does not see the run "
                    "end, so a pending status would never be resolved. Set wait: true to gate "
                    "the commit on the run."
                )
            return self._finish(run, run_url, Outcome.TRIGGERED, ended=False)
        self._commit_status("pending", f"dbt Cloud run {run.id} is in progress", run_url)
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
            policy=_poll_policy(inputs),
            clock=time.monotonic,
            sleep=time.sleep,
            on_event=lambda event: toolkit.info(describe(event)),
        )
        try:
            result = watcher.watch(
                run.id, timeout=timeout, expected_duration=self.expected_duration
            )
        except DbtCloudUnavailable:
            last = runs.last_seen or run
            if last.is_terminal:  # seen ending; only the final read went unanswered
                return self._finish(last, run_url, _outcome(last), ended=True)
            toolkit.info(f"The timeout of {timeout}s was reached while dbt Cloud did not answer.")
            return self._on_timeout(last, run_url)
        if result.timed_out:
            return self._on_timeout(result.run, run_url)
        return self._finish(result.run, run_url, _outcome(result.run), ended=True)

    def _save_run(self, run_id: int) -> None:
        """Remember the run for the post step; a run handed over to dbt Cloud from the start
        (wait: false, cancel-on-exit: false) is marked first, so the post step never sees its
        id without the hand-over."""
        if not self.inputs.wait:
            toolkit.save_state(STATE_LEAVE_RUN, "wait is false")
        elif not self.inputs.cancel_on_exit:
            toolkit.save_state(STATE_LEAVE_RUN, "cancel-on-exit is false")
        elif not self.inputs.cancels_on_exit:
            toolkit.save_state(STATE_LEAVE_RUN, FOLLOWED_NOT_CANCELLED)
        toolkit.save_state(STATE_RUN_ID, str(run_id))
        self.run_id = run_id

    def _follow_run(self) -> Run | None:
        """mode: follow: dbt Cloud's own run for this commit and pull request, once it
        appears (None when it does not within follow-timeout, nor timeout)."""
        from . import follow  # noqa: PLC0415 - lazy: see the module docstring
        from .watcher import expected_duration  # noqa: PLC0415 - lazy: see the module docstring

        inputs, payload = self.inputs, self.payload
        self.origin = "followed"
        if self.job is not None and (warning := follow.not_running_on_pull_requests(self.job)):
            toolkit.warning(warning)
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
            info=toolkit.info,
        )
        self.expected_duration = expected_duration(usual_duration_sample(list(found.recent)))
        if found.run is None:
            self.not_found = follow.not_found_message(target, found.waited)
        elif found.run.is_terminal:
            toolkit.info(f"Run {found.run.id} already ended in dbt Cloud: reporting it.")
        return found.run

    def _why_not_cancelled(self) -> str:
        if not self.inputs.cancel_on_exit:
            return "cancel-on-exit is false"
        return FOLLOWED_NOT_CANCELLED

    def _start_run(self) -> Run:
        """Attach, retry or trigger: never a second run for the same commit by accident.

        The job's newest runs are listed once: they hold the runs to attach to, supersede or
        retry, and the successes that time the job's usual duration."""
        from .watcher import expected_duration  # noqa: PLC0415 - lazy: see the module docstring

        inputs, payload = self.inputs, self.payload
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
                return existing
        if wants_retry(inputs.retry_failed, self.context.run_attempt):
            failed = retry_candidate(recent, sha, pr)
            if failed is not None:
                retried = self._retry(failed)
                if retried is not None:
                    return retried
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
        return self.client.trigger_run(inputs.job_id, body, unique_cause=unique)

    def _cancel_superseded(self, recent: list[Run], sha: str, pr: int | None) -> None:
        from .github_reporting import pull_request_head  # noqa: PLC0415 - lazy: see the module docstring

        pr_head = None
        if pr is not None and other_commit_runs(recent, sha, pr):  # else GitHub is not asked
            pr_head, why = pull_request_head(self._github_target(), pr)
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
        self.origin = "attached"
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
        self.origin = "retried"
        toolkit.info(f"Retrying failed run {failed.id} from the point of failure.")
        return retried

    # -- endings ----------------------------------------------------------------------------
    def _on_timeout(self, run: Run, run_url: str) -> StepResult:
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
            toolkit.save_state(STATE_LEAVE_RUN, "it timed out with cancel-on-timeout: false")
        return self._finish(
            run,
            run_url,
            Outcome.TIMED_OUT,
            ended=run.is_terminal,
            cancelled_by_workflow=run.status is RunStatus.CANCELLED,
        )

    def _on_cancel(self, cancel: WorkflowCancelled) -> StepResult:
        deadline = cancel.received_at + CLEANUP_BUDGET_SECONDS
        toolkit.info(f"Received {cancel}: the workflow was cancelled or the step timed out.")
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
        # A run that already ended on its own (the signal came while reporting it) keeps its
        # real outcome; the step still ends with the signal's exit code.
        ended_alone = run is not None and run.status in (RunStatus.SUCCESS, RunStatus.ERROR)
        url = self.client.run_url(run) if run else ""
        result = self._finish(
            run,
            url,
            _outcome(run) if run is not None and ended_alone else Outcome.CANCELLED,
            ended=bool(run and run.is_terminal),
            cancelled_by_workflow=not ended_alone,
            interrupted=True,
        )
        return StepResult(cancel.exit_code, result.report)

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
            toolkit.info(f"Run {run_id} is {_status_word(run)} in dbt Cloud.")
        else:
            toolkit.warning(f"Run {run_id} was asked to cancel but had not stopped yet.")
            toolkit.save_state(STATE_LEAVE_RUN, "dbt Cloud accepted the main step's cancel")
        return run

    def _finish(
        self,
        run: Run | None,
        run_url: str,
        outcome: Outcome,
        *,
        ended: bool,
        cancelled_by_workflow: bool = False,
        interrupted: bool = False,
        notes: tuple[str, ...] = (),
    ) -> StepResult:
        """Report `run` (`notes` first among the report's notes). After a cancel signal
        (`interrupted`) nothing is waited for: the runner kills the step seconds later."""
        from .artifacts import Collected  # noqa: PLC0415 - lazy: see the module docstring
        from .reporting import RunReport, outputs_for, render_summary  # noqa: PLC0415 - lazy: see the module docstring

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
        for name, value in outputs_for(report).items():
            toolkit.set_output(name, value)
        if inputs.summary:
            toolkit.append_summary(render_summary(report))
        if ended:
            toolkit.save_state(STATE_RUN_ENDED, "true")
        self._report_to_github(report)
        if outcome is Outcome.NOT_FOUND:  # no run: nothing for fail-on-error to forgive
            return StepResult(1, report)
        failed = outcome in (Outcome.ERROR, Outcome.CANCELLED, Outcome.TIMED_OUT)
        return StepResult(1 if failed and inputs.fail_on_error else 0, report)

    def _collect_artifacts(self, run: Run) -> Collected:
        from .artifacts import ArtifactCollector, Destination  # noqa: PLC0415 - lazy: see the module docstring

        inputs, workspace = self.inputs, self.context.workspace
        collector = ArtifactCollector(self.client, wait_seconds=self.tuning.artifact_wait)
        to = Destination(Path(workspace or "."), inputs.artifacts_dir, bool(workspace))
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

    def _commit_status(self, state: str, description: str, url: str) -> None:
        from .github_reporting import set_commit_status, status_context  # noqa: PLC0415 - lazy: see the module docstring

        if not self.inputs.commit_status or not self.payload.git_sha:
            return
        name = self.job.name if self.job else f"job {self.inputs.job_id}"
        result = set_commit_status(
            self._github_target(),
            self.payload.git_sha,
            state,
            description,
            url,
            status_context(name),
        )
        (toolkit.info if result.ok else toolkit.warning)(result.message)

    def _report_to_github(self, report: RunReport) -> None:
        from .github_reporting import comment_marker, upsert_pr_comment  # noqa: PLC0415 - lazy: see the module docstring
        from .reporting import commit_status_description, render_pr_comment  # noqa: PLC0415 - lazy: see the module docstring

        state = {
            Outcome.SUCCESS: "success",
            Outcome.ERROR: "failure",
            Outcome.CANCELLED: "error",
            Outcome.TIMED_OUT: "error",
        }.get(report.outcome)
        if state is not None:
            self._commit_status(state, commit_status_description(report), report.run_url)
        if (
            self.inputs.comment_on_pr
            and report.pull_request is not None
            and report.outcome is not Outcome.NOT_FOUND  # the failed step and summary say it
        ):
            marker = comment_marker(report.job_id)
            body = render_pr_comment(report, marker, self._workflow_run_url())
            result = upsert_pr_comment(self._github_target(), report.pull_request, marker, body)
            (toolkit.info if result.ok else toolkit.warning)(result.message)

    def _github_target(self) -> GitHubTarget:
        from .github_reporting import DEFAULT_API_URL, GitHubTarget  # noqa: PLC0415 - lazy: see the module docstring

        return GitHubTarget(
            api_url=self.context.api_url or DEFAULT_API_URL,
            token=self.inputs.github_token or "",
            repository=self.context.repository,
        )

    def _workflow_run_url(self) -> str | None:
        """The workflow run's page, where the full job summary is."""
        ctx = self.context
        if not (ctx.server_url and ctx.repository and ctx.run_id):
            return None
        return f"{ctx.server_url}/{ctx.repository}/actions/runs/{ctx.run_id}"


def _poll_policy(inputs: ActionInputs) -> PollPolicy:
    from .watcher import PollPolicy  # noqa: PLC0415 - lazy: see the module docstring

    return PollPolicy() if inputs.poll_interval is AUTO else PollPolicy(fixed=inputs.poll_interval)


def _outcome(run: Run) -> Outcome:
    """Only the integer status decides; anything but success fails."""
    if run.status is RunStatus.SUCCESS:
        return Outcome.SUCCESS
    if run.status is RunStatus.CANCELLED:
        return Outcome.CANCELLED
    return Outcome.ERROR


def _status_word(run: Run) -> str:
    return {
        RunStatus.SUCCESS: "succeeded",
        RunStatus.ERROR: "errored",
        RunStatus.CANCELLED: "cancelled",
    }.get(run.status or RunStatus.QUEUED, "still going")


# -- the post step --------------------------------------------------------------------------
def run_post(
    get_input: Callable[[str], str], get_state: Callable[[str], str], env: Mapping[str, str]
) -> int:
    """Cancel a run the main step meant to cancel and could not (it was killed outright, or
    its own cancel failed); every run it handed over or saw end is left alone."""
    _mask_token(get_input)
    run_id = get_state(STATE_RUN_ID)
    if not run_id:
        toolkit.info("No dbt Cloud run was triggered by this step; nothing to clean up.")
        return 0
    if get_state(STATE_RUN_ENDED) == "true":
        toolkit.info(f"dbt Cloud run {run_id} ended during the step; nothing to clean up.")
        return 0
    left = get_state(STATE_LEAVE_RUN)
    if left:
        toolkit.info(f"dbt Cloud run {run_id} is left to finish on its own: {left}.")
        return 0
    try:
        inputs = parse_inputs(get_input)
    except InputError as exc:
        toolkit.warning(f"Post step cannot check run {run_id}: {exc}")
        return 0
    client = DbtCloudClient(inputs.access_url, inputs.api_token, inputs.account_id, timeout=5)
    try:
        run = client.get_run(int(run_id))
        if run.is_terminal:
            toolkit.info(f"dbt Cloud run {run_id} already {_status_word(run)}; nothing to do.")
            return 0
        run = client.cancel_run(run.id)
    except (DbtCloudError, ValueError) as exc:
        toolkit.warning(f"Post step could not cancel dbt Cloud run {run_id}: {exc}")
        return 0
    toolkit.warning(
        f"Cancelled dbt Cloud run {run_id}: the main step ended before the run did and could "
        "not cancel it (it was killed, or dbt Cloud did not answer its cancel)."
    )
    return 0
