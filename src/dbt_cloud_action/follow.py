"""`mode: follow`: wait for the run dbt Cloud starts by itself for this commit and pull request.

A CI job that runs on pull requests is started by dbt Cloud from the pull request's webhook; its
run's `trigger` carries the `git_sha` and `github_pull_request_id` (never match on `cause`: its
text is not documented). The step triggers nothing: it lists the job's newest runs until that
run appears or the bound passes, then follows it as it would a run it triggered. Matching and
pacing are pure; `wait_for_run` does the listing and sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .lifecycle import same_commit
from .models import Job, Run
from .reporting import format_duration

# The job's newest runs, listed once per poll: dbt Cloud's largest page, so a run that ended
# long ago (a workflow re-run after dbt Cloud's CI finished) is still found on a busy job.
FOLLOW_LIST_LIMIT = 100


@dataclass(frozen=True)
class FollowTarget:
    """Which run to follow: the job's run for this commit (and pull request, when known)."""

    job_id: int
    git_sha: str
    pull_request: int | None

    def describe(self) -> str:
        pull = f" and pull request #{self.pull_request}" if self.pull_request is not None else ""
        return f"job {self.job_id}'s run for commit {self.git_sha[:7]}{pull}"


def followed_run(runs: Sequence[Run], target: FollowTarget) -> Run | None:
    """The newest run whose trigger asked for this commit (either SHA may be a prefix of the
    other) and, when the step knows its pull request, for that pull request.

    A run whose trigger the answer did not include is skipped rather than guessed at: its
    `git_sha` alone may be what a branch run checked out, not what it was started for. That a
    webhook run's trigger carries `git_sha` is thin evidence (one 2022 client), so a trigger
    without one still matches on the run's own `git_sha` when the trigger names this pull
    request: a run for this pull request that checked out this commit is the one to follow."""
    for run in sorted(runs, key=lambda r: r.id, reverse=True):
        if run.trigger_git_sha is None:
            continue
        if target.pull_request is not None and run.github_pull_request_id != target.pull_request:
            continue
        sha = run.trigger_git_sha or (run.git_sha if target.pull_request is not None else "")
        if sha and same_commit(sha, target.git_sha):
            return run
    return None


def appear_poll_interval(elapsed: float, fixed: float | None = None) -> float:
    """Seconds until the next listing: often while dbt Cloud usually starts the run (its
    webhook arrives seconds after the push), then less often. `fixed` is `poll-interval`."""
    if fixed is not None:
        return fixed
    if elapsed < 60:
        return 3.0
    if elapsed < 300:
        return 10.0
    return 30.0


def not_running_on_pull_requests(job: Job) -> str | None:
    """A warning when the job says dbt Cloud does not start it from pull requests."""
    if job.runs_on_pull_requests:
        return None
    return (
        f"Job {job.id} '{job.name}' is not set to run on pull requests in dbt Cloud ("
        "'Triggered by pull requests' is off), so dbt Cloud will likely start no run for this "
        "commit; the step waits for one anyway. Turn it on in the job's settings, or use "
        "mode: trigger to start the run from this workflow."
    )


def not_found_message(target: FollowTarget, waited: float) -> str:
    """What the step waited for and what to check, when the run never appeared."""
    return (
        f"dbt Cloud started no run of {target.describe()} within {format_duration(waited)}. "
        f"Check in dbt Cloud that job {target.job_id} is a CI job with 'Triggered by pull "
        "requests' on (and 'Run on draft pull requests' for a draft), in a project connected "
        "to this repository through dbt Cloud's GitHub integration; that the pull request is "
        "not from a fork; and the job's run history for this commit. Raise follow-timeout if "
        "dbt Cloud starts its runs later, or use mode: trigger to start the run from this "
        "workflow."
    )


class RunNotFound(Exception):
    """dbt Cloud started no run for the commit in time; `str()` says what to check."""


class RunLister(Protocol):
    def list_runs(
        self,
        job_id: int,
        *,
        order_by: str = ...,
        limit: int = ...,
        include_related: Sequence[str] = ...,
    ) -> list[Run]: ...


@dataclass(frozen=True)
class Appearance:
    run: Run | None  # None: it did not appear within the bound
    recent: tuple[Run, ...]  # the job's runs at the last listing (they time its usual duration)
    waited: float


def wait_for_run(
    client: RunLister,
    target: FollowTarget,
    *,
    bound: float,
    fixed_interval: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    info: Callable[[str], None],
) -> Appearance:
    """List the job's runs until `target`'s appears or `bound` seconds pass; one listing per
    poll, a last one at the bound. `sleep` is plain `time.sleep` in the step, so a cancel
    signal's exception interrupts it. A run that already ended is returned like any other."""
    started = clock()
    announced = False
    while True:
        recent = client.list_runs(
            target.job_id, order_by="-id", limit=FOLLOW_LIST_LIMIT, include_related=("trigger",)
        )
        run = followed_run(recent, target)
        waited = clock() - started
        if run is not None or waited >= bound:
            return Appearance(run, tuple(recent), waited)
        if not announced:
            info(
                f"Waiting up to {format_duration(bound)} for dbt Cloud to start "
                f"{target.describe()} (mode: follow; this step triggers nothing)."
            )
            announced = True
        sleep(min(appear_poll_interval(waited, fixed_interval), bound - waited))
