"""Job chains (`follow-chain`): which jobs a run's end starts, and which of their runs it started.

dbt Cloud starts a job "on job completion" when a run of the job its
`job_completion_trigger_condition` names ends with one of the condition's statuses; the child's
run says `trigger.cause_category: "job completion"` and nothing of the run that started it. So
the match is made on what the API does say:

- the child jobs: every job of the account whose condition names the parent run's job and the
  parent run's status (`chained_jobs`);
- the child's run: the oldest run of that job started by job completion, created at or after
  the parent run's `finished_at` (both times dbt Cloud's own), and not already in the chain
  (`chained_run`).

Where it can be wrong: another run of the same parent job (started elsewhere) that ended just
before or after ours starts a run of the child too, and the two cannot be told apart: the
oldest is taken. A condition changed while the run went is read as it is after the run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from .models import Job, Run

JOB_COMPLETION = "job completion"
# How deep the step follows a chain below its own run: a chain is a handful of jobs in practice,
# and each level waits up to CHAIN_WAIT_SECONDS for its run, so a deeper one would mostly wait.
MAX_CHAIN_DEPTH = 5
# How long the step waits for a chained job's run to appear after its parent ended (dbt Cloud
# enqueues it "once the parent job completes"; the delay is not documented): then it says so.
CHAIN_WAIT_SECONDS = 60.0
# The wait's polls: one list of the child job's newest runs each.
CHAIN_POLL_SECONDS = 3.0
CHAIN_LIST_LIMIT = 10


def chained_jobs(jobs: Iterable[Job], parent: Run) -> tuple[Job, ...]:
    """The jobs the end of `parent` starts: their condition names its job and its status."""
    if parent.status_code is None:
        return ()
    return tuple(
        job
        for job in jobs
        if job.after is not None
        and job.after.job_id == parent.job_id
        and parent.status_code in job.after.statuses
    )


def chained_run(runs: Iterable[Run], parent: Run, taken: Collection[int]) -> Run | None:
    """The child job's run that `parent`'s end started, among the job's listed runs: the oldest
    started by job completion at or after the parent's end, not one already followed."""
    ended = parent.finished_at
    if ended is None:
        return None
    candidates = [
        run
        for run in runs
        if run.cause_category == JOB_COMPLETION
        and run.created_at is not None
        and run.created_at >= ended
        and run.id not in taken
    ]
    return min(candidates, key=lambda run: run.id, default=None)


def chain_loop(jobs: Iterable[Job], start: int) -> tuple[tuple[int, ...], int] | None:
    """A loop among the chains below job `start`, whatever the statuses: the path to it and
    the job it comes back to; None when the chains below `start` end."""
    children: dict[int, list[int]] = {}
    for job in jobs:
        if job.after is not None:
            children.setdefault(job.after.job_id, []).append(job.id)

    def walk(path: tuple[int, ...]) -> tuple[tuple[int, ...], int] | None:
        for child in children.get(path[-1], ()):
            if child in path:
                return path, child
            found = walk((*path, child))
            if found is not None:
                return found
        return None

    return walk((start,))


def loop_message(path: tuple[int, ...], again: int) -> str:
    """What a chain that comes back to one of its own jobs is told: dbt Cloud keeps starting it."""
    jobs = " → ".join(str(job_id) for job_id in (*path, again))
    return (
        f"The job chain loops: {jobs}. Each run of job {again} starts the chain again, so "
        "dbt Cloud keeps starting runs; the step stops following it here. Change the "
        f'"trigger on job completion" of job {again} (or of a job between) to break the loop.'
    )
