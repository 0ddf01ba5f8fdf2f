"""Decisions about which dbt Cloud run to follow: attach, supersede, retry or trigger.

Pure functions over the job's recent runs (newest first), so every rule is unit-tested without a
server; `run_life.py` does the I/O around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from .inputs import RetryFailed
from .models import Overrides, Run, RunStatus
from .payload import parse_trigger_tag

ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING)
# The job's newest runs, listed once per step: searched for one to attach to, supersede or
# retry, and their successes time the job's usual duration.
RECENT_RUNS_LIMIT = 50
# How many of those successes make the usual duration.
USUAL_DURATION_SAMPLE = 10


def same_commit(a: str, b: str) -> bool:
    """SHAs match when one is a prefix of the other (inputs may give 7 to 40 hex characters)."""
    a, b = a.lower(), b.lower()
    return len(a) >= 7 and len(b) >= 7 and (a.startswith(b) or b.startswith(a))


def _is_active(run: Run) -> bool:
    return run.status in ACTIVE_STATUSES


def active_runs_for_commit(
    runs: Sequence[Run], git_sha: str, pull_request: int | None
) -> list[Run]:
    """Queued or running runs for the same commit (and PR), newest first, e.g. started by dbt
    Cloud's native CI or by an earlier attempt of this workflow. No SHA, no identity: none."""
    if not git_sha:
        return []
    return [
        run
        for run in runs
        if _is_active(run)
        and same_commit(run.git_sha, git_sha)
        and (pull_request is None or run.github_pull_request_id in (None, pull_request))
    ]


def differing_overrides(run: Run, wanted: Overrides) -> tuple[str, ...]:
    """The override fields (schema, threads, ...) in which `run`'s trigger differs from
    `wanted`; every field when the run's trigger is unknown."""
    if run.overrides is None:
        return tuple(field.name for field in fields(Overrides))
    return tuple(
        field.name
        for field in fields(Overrides)
        if getattr(run.overrides, field.name) != getattr(wanted, field.name)
    )


def find_reusable_run(
    runs: Sequence[Run], git_sha: str, pull_request: int | None, overrides: Overrides
) -> Run | None:
    """The newest active run for the same commit (and PR) built as this step would build it:
    its trigger carries the same overrides. A run into another schema, with other steps or
    threads, is another build and proves nothing about this one."""
    candidates = active_runs_for_commit(runs, git_sha, pull_request)
    return next((run for run in candidates if not differing_overrides(run, overrides)), None)


def other_commit_runs(runs: Sequence[Run], git_sha: str, pull_request: int | None) -> list[Run]:
    """Active runs for the same PR at another commit: the candidates for `cancel-superseded`."""
    if pull_request is None or not git_sha:
        return []
    return [
        run
        for run in runs
        if _is_active(run)
        and run.github_pull_request_id == pull_request
        and run.git_sha
        and not same_commit(run.git_sha, git_sha)
    ]


@dataclass(frozen=True)
class Supersession:
    """Which runs `cancel-superseded` cancels, and why (one log line)."""

    runs: tuple[Run, ...]
    reason: str


def superseded_runs(
    runs: Sequence[Run],
    git_sha: str,
    pull_request: int | None,
    *,
    pr_head: str | None,
    event_time: datetime | None,
) -> Supersession:
    """Active runs for the same PR at another commit, which a newer push made pointless.

    Never a newer commit's runs: when GitHub says what the PR's head is now (`pr_head`), runs
    are cancelled only if this step's commit is still that head. Without it, only runs created
    before this workflow's event (`event_time`): a re-run of an older commit's workflow keeps
    its old event, so the runs of later pushes are all newer than it.
    """
    others = other_commit_runs(runs, git_sha, pull_request)
    if not others:
        return Supersession((), "")
    if pr_head is not None:
        if not same_commit(pr_head, git_sha):
            return Supersession(
                (),
                f"Commit {git_sha[:7]} is no longer the head of pull request #{pull_request} "
                f"(now {pr_head[:7]}): no run of another commit is cancelled.",
            )
        return Supersession(tuple(others), "")
    if event_time is None:
        return Supersession(
            (),
            "cancel-superseded: neither the pull request's head (GitHub did not answer) nor the "
            "time of this workflow's event is known, so no run is cancelled.",
        )
    older = tuple(
        run
        for run in others
        if run.created_at is not None and _aware(run.created_at) < _aware(event_time)
    )
    left = len(others) - len(older)
    reason = (
        f"cancel-superseded: {left} run(s) of other commits created after this workflow's event "
        "are left going (they may be for a newer push; GitHub could not be asked)."
        if left
        else ""
    )
    return Supersession(older, reason)


def usual_duration_sample(runs: Sequence[Run]) -> list[Run]:
    """The newest successful runs among the job's recent runs, which time its usual duration."""
    return [run for run in runs if run.status is RunStatus.SUCCESS][:USUAL_DURATION_SAMPLE]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def wants_retry(mode: RetryFailed, run_attempt: int) -> bool:
    """`auto` retries only on a re-run of the workflow (GITHUB_RUN_ATTEMPT > 1)."""
    return mode is RetryFailed.ALWAYS or (mode is RetryFailed.AUTO and run_attempt > 1)


@dataclass(frozen=True)
class RetryScope:
    """Which failed runs are this workflow's own to retry, told by their trigger's cause.

    With the automatic cause, a run is ours when its tag names this step's GitHub job and,
    under `retry-failed: auto`, this very workflow run at an earlier attempt (`[run ID/ATTEMPT
    job JOB ...]`): a re-run retries what its failed attempt started, never a run that dbt
    Cloud's own CI, a person, another tool or another workflow run started for the same
    commit. `retry-failed: always` (`any_workflow_run`) also takes a run this action started
    for this job in another workflow run (a re-dispatched workflow for the same commit). With
    the user's own `cause` there is no tag: a run is ours when its cause is exactly this step's.
    """

    cause: str  # this step's cause
    automatic: bool  # `cause` is the automatic one, ending in this step's tag
    any_workflow_run: bool = False

    def started(self, run: Run) -> bool:
        if not self.automatic:
            return run.cause == self.cause
        mine, theirs = parse_trigger_tag(self.cause), parse_trigger_tag(run.cause)
        if mine is None or theirs is None or theirs.job != mine.job:
            return False
        if self.any_workflow_run:
            return True
        return (
            mine.run_id is not None
            and theirs.run_id == mine.run_id
            and (theirs.run_attempt or 0) < (mine.run_attempt or 0)
        )


@dataclass(frozen=True)
class RetryDecision:
    """The failed run to retry, if any, and why a failed run is not retried (one log line)."""

    run: Run | None
    reason: str = ""


def retry_candidate(
    runs: Sequence[Run],
    git_sha: str,
    pull_request: int | None,
    wanted: Overrides,
    scope: RetryScope,
) -> RetryDecision:
    """The latest run for this commit that this workflow started built as this step asks (the
    same overrides, the rule attach follows), when it ended in error. A later success,
    cancellation or a run still going means there is nothing to retry. A failed run with other
    overrides is another build (a retry reruns it as it was, into its schema, with its
    settings), and one started by someone else is not ours to rerun: neither is retried, and
    the reason names it."""
    if not git_sha:
        return RetryDecision(None)
    for_commit = [
        run
        for run in runs
        if same_commit(run.git_sha, git_sha)
        and (pull_request is None or run.github_pull_request_id in (None, pull_request))
    ]
    ours = [run for run in for_commit if scope.started(run)]
    same = next((run for run in ours if not differing_overrides(run, wanted)), None)
    if same is not None:
        return RetryDecision(same if same.status is RunStatus.ERROR else None)
    failed = next((run for run in for_commit if run.status is RunStatus.ERROR), None)
    if failed is None:
        return RetryDecision(None)
    if scope.started(failed):
        differ = ", ".join(differing_overrides(failed, wanted))
        why = f"differs in {differ}"
    else:
        why = "was not started by this workflow"
    return RetryDecision(
        None,
        f"Run {failed.id} failed for commit {git_sha[:7]} but {why}: not retrying it; "
        "triggering a new run.",
    )


def steps_skipped_by_retry(failed_run: Run) -> tuple[str, ...]:
    """dbt commands that succeeded before the failure: a retry from the point of failure does
    not run them again."""
    return tuple(
        step.name
        for step in failed_run.steps
        if step.status is RunStatus.SUCCESS and "dbt " in step.name
    )
