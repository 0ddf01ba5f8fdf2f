"""Decisions about which dbt Cloud run to follow: attach, supersede, retry or trigger.

Pure functions over the job's recent runs (newest first), so every rule is unit-tested without a
server; `action.py` does the I/O around them.
"""

from __future__ import annotations

from collections.abc import Sequence

from .inputs import RetryFailed
from .models import Run, RunStatus

ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING)
# How many of the job's newest runs are searched for one to attach to, supersede or retry.
RECENT_RUNS_LIMIT = 50


def same_commit(a: str, b: str) -> bool:
    """SHAs match when one is a prefix of the other (inputs may give 7 to 40 hex characters)."""
    a, b = a.lower(), b.lower()
    return len(a) >= 7 and len(b) >= 7 and (a.startswith(b) or b.startswith(a))


def _is_active(run: Run) -> bool:
    return run.status in ACTIVE_STATUSES


def find_reusable_run(runs: Sequence[Run], git_sha: str, pull_request: int | None) -> Run | None:
    """The newest queued or running run for the same commit (and PR), e.g. one started by dbt
    Cloud's native CI or by an earlier attempt of this workflow. No SHA, no identity: None."""
    if not git_sha:
        return None
    for run in runs:
        if not _is_active(run) or not same_commit(run.git_sha, git_sha):
            continue
        if pull_request is not None and run.github_pull_request_id not in (None, pull_request):
            continue
        return run
    return None


def superseded_runs(runs: Sequence[Run], git_sha: str, pull_request: int | None) -> list[Run]:
    """Active runs for the same PR at another commit: a newer push made them pointless."""
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


def wants_retry(mode: RetryFailed, run_attempt: int) -> bool:
    """`auto` retries only on a re-run of the workflow (GITHUB_RUN_ATTEMPT > 1)."""
    return mode is RetryFailed.ALWAYS or (mode is RetryFailed.AUTO and run_attempt > 1)


def retry_candidate(runs: Sequence[Run], git_sha: str, pull_request: int | None) -> Run | None:
    """The latest run of this job for this commit, when it ended in error. A later success,
    cancellation or a run still going means there is nothing to retry."""
    if not git_sha:
        return None
    for run in runs:
        if not same_commit(run.git_sha, git_sha):
            continue
        if pull_request is not None and run.github_pull_request_id not in (None, pull_request):
            continue
        return run if run.status is RunStatus.ERROR else None
    return None


def steps_skipped_by_retry(failed_run: Run) -> tuple[str, ...]:
    """dbt commands that succeeded before the failure: a retry from the point of failure does
    not run them again."""
    return tuple(
        step.name
        for step in failed_run.steps
        if step.status is RunStatus.SUCCESS and "dbt " in step.name
    )
