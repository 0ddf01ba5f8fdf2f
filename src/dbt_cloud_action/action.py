"""The engine shared by the GitHub Action and the CLI: inputs → jobs → runs → report.

The step: its inputs, its jobs (`job-name` resolved), one `RunLife` per job (run_life.py: one
run's whole life), started together, followed in one polling loop, cancelled together, and the
step's outputs, summary and PR comment for all of them; the post step. Every decision is
delegated to a pure function elsewhere.

What only runs after the first dbt Cloud request (watching, results, artifacts, reporting, GitHub)
is imported where it is used, not at module import: the step's start-up is interpreter plus
`requests` plus what the first request needs (see bench/startup.py).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from . import toolkit
from .access_url import is_legacy_host
from .cancellation import CancelSignals, WorkflowCancelled
from .client import DbtCloudClient, DbtCloudError, redact
from .concurrent_calls import Calls, call_concurrently, in_thread
from .context import GitHubContext, context_from_env
from .inputs import (
    ActionInputs,
    CommentMode,
    Connection,
    ForkPullRequests,
    InputError,
    parse_bool,
    parse_connection,
    parse_git_target,
    parse_inputs,
    parse_job_ids,
)
from .models import Job, Outcome, Run
from .payload import build_trigger_payload, fork_to_be_run, sha_to_send
from .run_life import RunLife, Tuning, tuned_client
from .run_report import github_target, status_word
from .scope import (
    CLEANUP_SECONDS,
    PUBLISH_BY_SECONDS,
    TIMEOUT_GRACE_SECONDS,
    Cancellation,
    Scope,
    deadline_after,
)
from .step_state import PendingRun, RunRecord, StepState, read_records

if TYPE_CHECKING:
    from .reporting import RunReport

T = TypeVar("T")

__all__ = [  # Tuning is run_life's, re-exported for the fault tests
    "ActionStep",
    "StepResult",
    "Tuning",
    "execute",
    "main",
    "main_post",
    "run_post",
    "run_step",
    "tuning_from_env",
]

# Runner environment variables that tune waits, in seconds: for each dbt Cloud answer, for one
# API call's retries, and for artifacts dbt Cloud lists but does not serve yet after a run ends
# (0 skips that wait). A runner behind a slow proxy may raise the first two; the fault tests
# lower all three to stay fast.
HTTP_TIMEOUT_VARIABLE = "DBT_CLOUD_ACTION_HTTP_TIMEOUT"
RETRY_SECONDS_VARIABLE = "DBT_CLOUD_ACTION_RETRY_SECONDS"
ARTIFACT_WAIT_VARIABLE = "DBT_CLOUD_ACTION_ARTIFACT_WAIT"
MAX_TUNING_SECONDS = 600.0
# After the clean-up's own time, what the main thread still waits for a life to report before
# it reports that life from its saved record.
CLEANUP_MARGIN_SECONDS = 0.5
# How long the post step looks for a run whose trigger answer never came, and how often.
POST_LOOKUP_SECONDS = 20.0
POST_LOOKUP_POLL_SECONDS = 2.0
# The cap on one downloaded artifact, in MiB (default 1024): raised for a project whose
# catalog.json is larger, lowered to spare a small disk; the tests lower it.
MAX_ARTIFACT_MB_VARIABLE = "DBT_CLOUD_ACTION_MAX_ARTIFACT_MB"
MAX_ARTIFACT_MB = 1 << 16


@dataclass(frozen=True)
class StepResult:
    exit_code: int
    reports: tuple[RunReport, ...] = field(default=())  # one per job, in the order given


def main() -> int:
    """The action's main step (`entrypoint.py`)."""
    toolkit.use_utf8_streams()
    return _without_traceback(lambda: run_step(toolkit.get_input, os.environ))


def main_post() -> int:
    """The action's post step (`post_entrypoint.py`), run with always()."""
    toolkit.use_utf8_streams()
    return _without_traceback(lambda: run_post(toolkit.get_input, toolkit.get_state, os.environ))


def _raise_bugs(calls: Calls[None]) -> None:
    """A call's own exception is a bug (a life reports dbt Cloud's errors itself): raised here,
    in the main thread, to end in one readable `::error::`. A cancel's is not."""
    for done in calls.results:
        error = done.error if done is not None else None
        if error is not None and not isinstance(error, WorkflowCancelled):
            raise error


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
            import traceback  # noqa: PLC0415 - only on this rare path: see the module docstring

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
    trigger_key = os.urandom(3).hex()  # tells this step's trigger apart; `secrets` costs start-up
    try:  # each job's payload is built later; this one checks the inputs before any request
        build_trigger_payload(inputs, context, trigger_key=trigger_key)
    except InputError as exc:
        return _fail_input(exc)
    # `timeout` counts from here: it bounds the whole step, job-name's look-up included
    timeout_at = deadline_after(inputs.timeout_seconds)
    cancellation = Cancellation()
    if is_legacy_host(inputs.access_url):
        toolkit.warning(
            f"{inputs.access_url} stopped serving integrations on 2026-11-01. Set access-url to "
            "your account's own access URL (Account settings → Access URLs in dbt Cloud)."
        )
    job_ids = inputs.jobs.job_ids or (inputs.job_id,)
    try:
        found = _look_up(inputs, tuning, Scope(cancellation, timeout_at), job_ids)
    except WorkflowCancelled as cancel:  # no run yet: every wait ends, the outputs are written
        signals.disarm()
        cancellation.cancel(cancel)
        toolkit.info(f"Received {cancel} before a dbt Cloud run was started.")
        note = "The workflow was cancelled before a dbt Cloud run was started."
        return _end_before_runs(inputs, job_ids, Outcome.CANCELLED, note, cancel.exit_code)
    if isinstance(found, StepResult):
        return found
    jobs, job_ids, given = found
    try:
        step = ActionStep.for_jobs(
            inputs,
            context,
            signals,
            job_ids=job_ids,
            jobs=jobs,
            tuning=tuning,
            trigger_key=trigger_key,
            cancellation=cancellation,
            timeout_at=timeout_at,
            given=given,
        )
    except InputError as exc:  # a job's own payload (its {job_id}); the trial one passed
        return _fail_after_parsing(inputs, job_ids, exc, f"Invalid input '{exc.input_name}'")
    return step.run()


def _look_up(
    inputs: ActionInputs, tuning: Tuning, scope: Scope, job_ids: tuple[int, ...]
) -> tuple[Sequence[Job | None], tuple[int, ...], Run | None] | StepResult:
    """What the step's runs start from, read before any of them: `job-name`'s jobs and
    `run-id`'s run (each in a thread: a cancel is handled at once); the failed step's result
    when one cannot be read."""
    jobs: Sequence[Job | None] = [None] * len(job_ids)  # read by each run's life
    if inputs.jobs.job_names:
        found = _read_first(lambda: _jobs_named(inputs, tuning, scope), inputs, job_ids, "job-name")
        if isinstance(found, StepResult):
            return found
        jobs, job_ids = found, tuple(job.id for job in found)
    given: Run | None = None
    if inputs.run_id is not None:
        read = _read_first(lambda: _given_run(inputs, tuning, scope), inputs, job_ids, "run-id")
        if isinstance(read, StepResult):
            return read
        given, job_ids = read, (read.job_id,)
    return jobs, job_ids, given


def _read_first(
    read: Callable[[], T], inputs: ActionInputs, job_ids: Sequence[int], input_name: str
) -> T | StepResult:
    """What an input names, read from dbt Cloud before any run (in a thread); the failed
    step's result when the input names nothing usable or dbt Cloud does not answer."""
    try:
        return in_thread(read)
    except InputError as exc:
        return _fail_after_parsing(inputs, job_ids, exc, f"Invalid input '{exc.input_name}'")
    except DbtCloudError as exc:
        title = f"dbt Cloud: API error while reading {input_name}"
        return _fail_after_parsing(inputs, job_ids, exc, title)


def _fail_after_parsing(
    inputs: ActionInputs, job_ids: Sequence[int], exc: Exception, title: str
) -> StepResult:
    """An error found once the inputs were read (a job-name that names no job, dbt Cloud not
    answering the look-up): one `::error::`, and the outputs and summary every end writes."""
    toolkit.error(str(exc), title=title)
    return _end_before_runs(inputs, job_ids, Outcome.ERROR, str(exc), 1)


def _end_before_runs(
    inputs: ActionInputs, job_ids: Sequence[int], outcome: Outcome, note: str, exit_code: int
) -> StepResult:
    """The outputs and summary of a step that ends before any run's life began."""
    from .reporting import RunReport, step_outputs, step_summary  # noqa: PLC0415 - lazy: see the module docstring

    reports = tuple(
        RunReport(
            job_id=job_id,
            job_name="",
            account_id=inputs.account_id,
            run=None,
            run_url="",
            outcome=outcome,
            origin="",
            notes=(note,),
        )
        for job_id in (job_ids if inputs.jobs.job_ids else (0,))
    )
    for name, value in step_outputs(reports).items():
        toolkit.set_output(name, value)
    if inputs.summary:
        toolkit.append_summary(step_summary(reports))
    return StepResult(exit_code, reports)


def _jobs_named(inputs: ActionInputs, tuning: Tuning, scope: Scope) -> tuple[Job, ...]:
    """`job-name`'s jobs, resolved before anything is triggered (JobNameError, an InputError,
    when a line names no job or several)."""
    from .job_lookup import find_jobs  # noqa: PLC0415 - lazy: only job-name needs it

    found = find_jobs(tuned_client(inputs, tuning, scope), inputs.jobs.job_names)
    for job in found:
        toolkit.info(f"job-name: '{job.name}' is job {job.id}")
    return found


def _given_run(inputs: ActionInputs, tuning: Tuning, scope: Scope) -> Run:
    """`run-id`'s run, read before anything else: no such run in the account is an InputError
    naming run-id (dbt Cloud answers 404 for another account's run too)."""
    from .given_run import check_given_run, not_found  # noqa: PLC0415 - lazy: only run-id needs it

    run_id = inputs.run_id or 0
    client = tuned_client(inputs, tuning, scope)
    try:
        run = client.get_run(run_id, include_related=("trigger",))
    except DbtCloudError as exc:
        raise not_found(run_id, inputs.account_id, exc) or exc from None
    check_given_run(run, inputs.jobs.job_ids)
    toolkit.info(f"run-id: run {run.id} is a run of job {run.job_id}")
    return run


def _refuse_fork(
    policy: ForkPullRequests, context: GitHubContext, fork: str, get_input: Callable[[str], str]
) -> StepResult:
    """No run for a fork's commit: dbt Cloud's clone of this repository cannot check it out,
    and running a stranger's SQL with this job's credentials is not ours to decide."""
    from .reporting import RunReport, outputs_for, render_summary  # noqa: PLC0415 - lazy: see the module docstring

    pull = f"Pull request #{context.pr_number}" if context.pr_number else "This pull request"
    if context.event_name == "workflow_run":  # GitHub gives no number for a fork's pull request
        tested = (context.head_sha or "")[:7]
        pull = f"The pull request the triggering workflow run tested (commit {tested})"
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
        job_ids = parse_job_ids(get_input("job-id").strip())
    except ValueError:
        job_ids = ()
    job_id = job_ids[0] if len(job_ids) == 1 else 0
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
    for name, value in outputs_for(report).items():  # every output but status empty, runs too
        toolkit.set_output(name, value)
    if _summary_wanted(get_input):
        toolkit.append_summary(render_summary(report))
    return StepResult(0, (report,))


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
        max_artifact_bytes=_mebibytes_from_env(
            env, MAX_ARTIFACT_MB_VARIABLE, default.max_artifact_bytes
        ),
    )


def _mebibytes_from_env(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (
        text.isascii() and text.isdigit() and len(text) <= 6 and 1 <= int(text) <= MAX_ARTIFACT_MB
    ):
        raise ValueError(
            f"{name} must be a whole number of MiB from 1 to {MAX_ARTIFACT_MB} "
            f"(got {text[:32]!r}); unset it to use {default >> 20}."
        )
    return int(text) << 20


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
    """One step: a `RunLife` per job, each living in a thread of its own while the main thread
    (where signals arrive) waits; on a cancel, each cleans up within the runner's budget; the
    step reports them together."""

    def __init__(
        self,
        inputs: ActionInputs,
        context: GitHubContext,
        signals: CancelSignals,
        lives: Sequence[RunLife],
        cancellation: Cancellation,
    ) -> None:
        self.inputs = inputs
        self.context = context
        self.signals = signals
        self.lives = tuple(lives)
        self.cancellation = cancellation
        # `timeout`'s end on the monotonic clock (inf: none), the same for every life
        self.timeout_at = min((life.timeout_at for life in self.lives), default=math.inf)
        self._calls: Calls[None] | None = None  # the phase running now
        self._summary_written = False
        self._comment_written = False
        self._junit_written = False
        self._annotated_line: str | None = None  # the summary's line on file annotations

    @classmethod
    def for_jobs(
        cls,
        inputs: ActionInputs,
        context: GitHubContext,
        signals: CancelSignals,
        *,
        job_ids: Sequence[int],
        jobs: Sequence[Job | None],
        tuning: Tuning,
        trigger_key: str,
        cancellation: Cancellation,
        timeout_at: float,
        given: Run | None = None,
    ) -> ActionStep:
        """A life per job, each with its own inputs (its job id) and payload; with several
        jobs each one's artifacts go to `<artifacts-dir>/<job id>`. `given`: run-id's run,
        whose payload is what dbt Cloud says it ran (nothing is sent)."""
        state = StepState(len(job_ids), toolkit.save_state)
        lives = []
        for index, (job_id, job) in enumerate(zip(job_ids, jobs, strict=True)):
            own = replace(inputs, job_id=job_id)
            if given is not None:
                from .given_run import given_payload  # noqa: PLC0415 - lazy: only run-id needs it

                payload = given_payload(given)
            else:
                payload = build_trigger_payload(own, context, trigger_key=trigger_key)
            lives.append(
                RunLife(
                    own,
                    context,
                    payload,
                    state.slot(index),
                    cancellation=cancellation,
                    timeout_at=timeout_at,
                    tuning=tuning,
                    job=job,
                    artifacts_dir=None if len(job_ids) == 1 else f"{inputs.artifacts_dir}/{job_id}",
                    log_prefix="" if len(job_ids) == 1 else f"[job {job_id}] ",
                    given=given,
                )
            )
        return cls(inputs, context, signals, lives, cancellation)

    def run(self) -> StepResult:
        """Every job read first (a job that cannot be read starts no run of the step), then
        every run's life at once."""
        try:
            self._phase([life.load_job for life in self.lives])
            if any(life.not_loaded for life in self.lives):
                return self._not_started()
            # a life past its bounds (a body trickling in past every deadline, a stuck GitHub
            # call) is reported from its saved record, not waited for
            self._phase([life.live for life in self.lives], self.timeout_at + TIMEOUT_GRACE_SECONDS)
            return self._conclude()
        except WorkflowCancelled as cancel:
            self.signals.disarm()
            return self._on_cancel(cancel)

    def _phase(self, calls: Sequence[Callable[[], None]], deadline: float = math.inf) -> None:
        self._calls = Calls(calls)  # held before any starts: a cancel waits for all started
        self._calls.start()
        self._calls.wait(deadline)
        _raise_bugs(self._calls)

    def _not_started(self) -> StepResult:
        unread = ", ".join(str(life.job_id) for life in self.lives if life.api_error is not None)
        unfit = ", ".join(str(life.job_id) for life in self.lives if life.input_error is not None)
        why = f"job {unread} could not be read" if unread else f"the inputs do not fit job {unfit}"
        note = f"No dbt Cloud run was started: {why}, and every job must be ready to run."
        toolkit.info(note)
        reports = tuple(life.report or life.unconfirmed(Outcome.ERROR, note) for life in self.lives)
        return StepResult(1, self._publish(reports))

    def _conclude(self) -> StepResult:
        reports = self._publish(
            tuple(life.report or life.unfinished_report() for life in self.lives)
        )
        chained_missing = Outcome.NOT_FOUND  # a chain's run that never appeared: the chain failed
        failed = any(
            report.outcome in (Outcome.ERROR, Outcome.CANCELLED, Outcome.TIMED_OUT)
            or (report.origin == "chained" and report.outcome is chained_missing)
            for report in reports
        )
        api_failed = any(life.api_error is not None for life in self.lives)
        # mode: follow and no run appeared: nothing ran for fail-on-error to excuse
        not_found = any(
            report.outcome is Outcome.NOT_FOUND and report.origin != "chained" for report in reports
        )
        failed_run = failed and self.inputs.fail_on_error
        exit_code = 1 if api_failed or not_found or failed_run else 0
        return StepResult(exit_code, reports)

    def _on_cancel(self, cancel: WorkflowCancelled) -> StepResult:
        """Every wait of every run ends now; each life cleans up (cancels its run, sees a
        trigger in flight through) in its own thread, waited for within the clean-up's time."""
        self.cancellation.cancel(cancel)  # first: a log line may wait for another run's lines
        toolkit.info(f"Received {cancel}: the workflow was cancelled or the step timed out.")
        if self._calls is not None:
            self._calls.wait(cancel.received_at + CLEANUP_SECONDS + CLEANUP_MARGIN_SECONDS)
        reports = tuple(life.report or life.unfinished_report() for life in self.lives)
        return StepResult(cancel.exit_code, self._publish(reports))

    # -- reporting --------------------------------------------------------------------------
    def _publish(self, reports: tuple[RunReport, ...]) -> tuple[RunReport, ...]:
        """The step's outputs, summary and PR comment, for all its runs, whatever the end.
        Written once each: a signal arriving while they are written does not write them twice."""
        from .reporting import step_outputs, step_summary  # noqa: PLC0415 - lazy: see the module docstring

        reports = self._with_chains(reports)
        for name, value in step_outputs(reports).items():
            toolkit.set_output(name, value)
        if self._annotated_line is None:  # printed once, by the first end that publishes
            self._annotated_line = self._annotate_files(reports)
        if self.inputs.summary and not self._summary_written:
            summary = step_summary(reports)
            annotated = self._annotated_line
            toolkit.append_summary(f"{summary}\n{annotated}\n" if annotated else summary)
            self._summary_written = True  # after: a signal that cut it writes it again
        if self.inputs.junit_xml and not self._junit_written:
            self._write_junit(reports, self.inputs.junit_xml)
            self._junit_written = True
        if not self._comment_written:
            self._comment_on_pull_request(reports)  # an edit of the sticky comment: repeatable
            self._comment_written = True
        return reports

    def _with_chains(self, reports: tuple[RunReport, ...]) -> tuple[RunReport, ...]:
        """follow-chain: each life's report, then those of the runs its end started."""
        chains = [life.chained for life in self.lives]
        if len(chains) != len(reports) or not any(chains):
            return reports
        pairs = zip(reports, chains, strict=True)
        return tuple(item for report, chain in pairs for item in (report, *chain))

    @property
    def _publish_scope(self) -> Scope | None:
        """After a cancel the comment must be written before the runner's SIGTERM; else
        GitHub's own timeouts bound it."""
        cause = self.cancellation.cause
        if cause is None:
            return None
        return Scope(self.cancellation, cause.received_at + PUBLISH_BY_SECONDS, cleanup=True)

    def _write_junit(self, reports: Sequence[RunReport], path: str) -> None:
        """The JUnit report at `path` in the workspace, owned like it (artifacts.write_owned)."""
        from pathlib import Path  # noqa: PLC0415 - lazy: see the module docstring

        from .artifacts import write_owned  # noqa: PLC0415 - lazy: see the module docstring
        from .junit import render_junit  # noqa: PLC0415 - lazy: see the module docstring

        workspace = self.context.workspace
        document = render_junit(reports)
        try:
            write_owned(
                Path(workspace or "."),
                Path(path),
                lambda into: into.write(document),
                owned=bool(workspace),
            )
        except OSError as exc:
            toolkit.warning(
                f"The JUnit report could not be written to {path}: {exc}. Check that junit-xml "
                "names a file in a folder the step can write."
            )
            return
        toolkit.info(f"JUnit report written to {path}.")

    def _annotate_files(self, reports: Sequence[RunReport]) -> str:
        """Each failing node on its file, within the step's share of GitHub's annotations;
        the summary's line about them ('' when none)."""
        from .annotations import (  # noqa: PLC0415 - lazy: see the module docstring
            plan_annotations,
            report_annotations,
            summary_line,
            workspace_reader,
        )

        if not self.inputs.annotations:
            return ""
        read = workspace_reader(self.context.workspace)
        found = [a for report in reports for a in report_annotations(report, read)]
        plan = plan_annotations(found, toolkit.ANNOTATIONS_PER_KIND - toolkit.issued("error"))
        for annotation in plan.shown:
            toolkit.file_error(
                annotation.message, annotation.title, annotation.file, annotation.line
            )
        return summary_line(plan, toolkit.ANNOTATIONS_PER_KIND)

    def _comment_on_pull_request(self, reports: Sequence[RunReport]) -> None:
        from .github_reporting import comment_marker, upsert_pr_comment  # noqa: PLC0415 - lazy: see the module docstring
        from .reporting import step_comment  # noqa: PLC0415 - lazy: see the module docstring

        pull_request = reports[0].pull_request if reports else None
        if self.inputs.comment_on_pr is CommentMode.OFF or pull_request is None:
            return
        from .comment_mode import comment_state, reason_to_skip  # noqa: PLC0415 - lazy: see the module docstring

        marker = comment_marker(*(life.job_id for life in self.lives))
        state = comment_state(reports)
        body = step_comment(reports, marker, self._workflow_run_url())
        body = body.replace(marker, f"{marker}\n{state}", 1)
        target = github_target(self.inputs, self.context, self._publish_scope)
        if target is None:
            toolkit.warning("No time was left to write the pull request comment.")
            return
        mode = self.inputs.comment_on_pr
        result = upsert_pr_comment(
            target,
            pull_request,
            marker,
            body,
            wanted=lambda existing: reason_to_skip(mode, reports, state, existing),
        )
        (toolkit.info if result.ok else toolkit.warning)(result.message)

    def _workflow_run_url(self) -> str | None:
        """The workflow run's page, where the full job summary is."""
        ctx = self.context
        if not (ctx.server_url and ctx.repository and ctx.run_id):
            return None
        return f"{ctx.server_url}/{ctx.repository}/actions/runs/{ctx.run_id}"


# -- the post step --------------------------------------------------------------------------
def run_post(
    get_input: Callable[[str], str], get_state: Callable[[str], str], env: Mapping[str, str]
) -> int:
    """Cancel the runs the main step meant to cancel and could not (it was killed outright, or
    its own cancel failed), and those whose trigger answer never came (found by their key);
    every run it handed over or saw end is left alone."""
    _mask_token(get_input)
    try:
        records = read_records(get_state)
    except ValueError as exc:
        toolkit.warning(f"Post step cannot read the main step's runs: {exc}")
        return 0
    if not records:
        toolkit.info("No dbt Cloud run was triggered by this step; nothing to clean up.")
        return 0
    for record in records:
        if record.run_id is not None and record.ended:
            toolkit.info(
                f"dbt Cloud run {record.run_id} ended during the step; nothing to clean up."
            )
        elif record.run_id is not None and record.leave:
            toolkit.info(
                f"dbt Cloud run {record.run_id} is left to finish on its own: {record.leave}."
            )
    to_do = [record for record in records if record.to_cancel or record.to_find]
    if not to_do:
        return 0
    try:
        inputs = parse_connection(get_input)
    except InputError as exc:
        toolkit.warning(f"Post step cannot check the main step's runs: {exc}")
        return 0
    call_concurrently([partial(_clean_up_after, inputs, record) for record in to_do])
    return 0


def _clean_up_after(inputs: Connection, record: RunRecord) -> None:
    """One run the main step left to the post step: found first when only its key is known."""
    scope = Scope(Cancellation(), deadline_after(POST_LOOKUP_SECONDS + 10.0))
    client = DbtCloudClient(
        inputs.access_url, inputs.api_token, inputs.account_id, timeout=5, scope=scope
    )
    run_id = record.run_id
    try:
        if run_id is None and record.pending is not None:
            found = _find_pending_run(client, record.pending)
            if found is None:
                toolkit.info(
                    f"No dbt Cloud run of job {record.pending.job_id} was created by the "
                    "trigger whose answer never came; nothing to clean up."
                )
                return
            toolkit.info(f"Found run {found.id}, which the main step's cut trigger created.")
            run_id = found.id
        if run_id is None:
            return
        run = client.get_run(run_id)
        if run.is_terminal:
            toolkit.info(f"dbt Cloud run {run_id} already {status_word(run)}; nothing to do.")
            return
        client.cancel_run(run.id)
    except DbtCloudError as exc:
        toolkit.warning(f"Post step could not cancel dbt Cloud run {run_id or ''}: {exc}")
        return
    toolkit.warning(
        f"Cancelled dbt Cloud run {run_id}: the main step ended before the run did and could "
        "not cancel it (it was killed, or dbt Cloud did not answer its cancel)."
    )


def _find_pending_run(client: DbtCloudClient, pending: PendingRun) -> Run | None:
    """The run a POST whose answer never came created, looked for by its key for a while:
    dbt Cloud may show it a little after the step was killed."""
    until = time.monotonic() + POST_LOOKUP_SECONDS
    while True:
        if pending.retry_of is not None:
            found = client.find_retry_run(pending.failed_run())
        else:
            body = {"cause": pending.cause, "git_sha": pending.git_sha}
            found = client.find_triggered_run(pending.job_id, body, None)
        if found is not None or time.monotonic() >= until:
            return found
        time.sleep(POST_LOOKUP_POLL_SECONDS)
