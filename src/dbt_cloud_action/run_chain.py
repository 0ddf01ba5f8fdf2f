"""`follow-chain`: after a run ends, the runs dbt Cloud starts by job chaining, followed in turn.

Once the life's own run ends (and was reported), the account's jobs are listed once; the jobs
chained to the run's job and status (chain.py) each get their run waited for (one list of the
job's newest runs a poll, up to CHAIN_WAIT_SECONDS and never past `timeout`, sleeping in the
life's scope so a cancel ends the wait at once), then followed by a life of its own
(`RunLife` with the run handed to it, origin "chained"), in this thread, one after another: the
same watcher, outage patience, timeout, clean-up on a cancel (which cancels the child run being
followed, as for any run) and report. Its end is followed the same way, to MAX_CHAIN_DEPTH below
the first run. A job already on the path from the first run means the chain loops: said once,
as an error row, and not followed further.

Each run's report is added to the life's `chained` as it is made, so the step publishes what was
followed whatever the end.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from . import toolkit
from .cancellation import WorkflowCancelled
from .chain import (
    CHAIN_LIST_LIMIT,
    CHAIN_POLL_SECONDS,
    CHAIN_WAIT_SECONDS,
    MAX_CHAIN_DEPTH,
    chain_loop,
    chained_jobs,
    chained_run,
    loop_message,
)
from .client import DbtCloudClient, DbtCloudError
from .models import Job, Outcome, Run

if TYPE_CHECKING:
    from .reporting import RunReport
    from .run_life import RunLife


def chain_loop_error(client: DbtCloudClient, job_id: int) -> str:
    """Before any run starts: a loop in the chains below `job_id` ("" when none), so a chain
    that loops is an input error before any trigger, not found only once it runs."""
    found = chain_loop(client.list_jobs(include_related=()), job_id)
    return "" if found is None else loop_message(*found)


class RunChain:
    """The chain below one life's run."""

    def __init__(self, life: RunLife) -> None:
        self.life = life
        self.client = life.client
        self.taken: set[int] = set()  # the runs followed already (one child run, one parent)

    def follow(self, first: Run) -> None:
        """The chain below `first`, which ended. A cancel ends it (a child being followed is
        cleaned up by its own life first); dbt Cloud not answering ends it with an error row."""
        self.client.scope = self.life.scope
        try:
            jobs = self.client.list_jobs(include_related=())
            self._below(first, (first.job_id,), jobs)
        except WorkflowCancelled:
            toolkit.info(f"{self.life.log_prefix}Cancelled: the job chain is not followed further.")
        except DbtCloudError as exc:
            if self.client.scope.cancelled:
                return
            note = f"dbt Cloud stopped answering while the job chain was followed: {exc}"
            toolkit.error(note, title="follow-chain: API error")
            self._add(self.life.unconfirmed(Outcome.ERROR, note))

    def _below(self, parent: Run, path: tuple[int, ...], jobs: list[Job]) -> None:
        children = chained_jobs(jobs, parent)
        if children and len(path) > MAX_CHAIN_DEPTH:
            toolkit.warning(
                f"The job chain goes on below job {parent.job_id} (jobs "
                f"{', '.join(str(job.id) for job in children)}), {MAX_CHAIN_DEPTH} jobs below "
                "the first: those runs are not followed. Follow them with run-id in a step of "
                "their own.",
                title="follow-chain: chain cut",
            )
            return
        for job in children:
            if job.id in path:
                message = loop_message(path, job.id)
                toolkit.error(message, title="Invalid input 'follow-chain': the chain loops")
                self._add(self._child_life(job, None).unconfirmed(Outcome.ERROR, message))
                continue
            run = self._wait_for_run(job, parent)
            if run is None:
                continue
            child = self._child_life(job, run)
            child.live()
            self._add(child.report or child.unfinished_report())
            self.client.scope.check()  # the cancel came while the child was followed
            ended = child.run
            if ended is not None and ended.is_terminal and time.monotonic() < self.life.timeout_at:
                self._below(ended, (*path, job.id), jobs)

    def _wait_for_run(self, job: Job, parent: Run) -> Run | None:
        """The run `parent`'s end started, once dbt Cloud lists it; None (said, as a not-found
        row) when none appears within CHAIN_WAIT_SECONDS or `timeout`."""
        status = parent.status.name.lower() if parent.status else parent.status_code
        toolkit.info(
            f"{self.life.log_prefix}Run {parent.id} ended ({status}): waiting for the run of job "
            f"{job.id} '{job.name}' it starts (trigger on job completion)."
        )
        began = time.monotonic()
        until = min(began + CHAIN_WAIT_SECONDS, self.life.timeout_at)
        while True:
            runs = self.client.list_runs(
                job.id, order_by="-id", limit=CHAIN_LIST_LIMIT, include_related=("trigger",)
            )
            run = chained_run(runs, parent, self.taken)
            if run is not None:
                self.taken.add(run.id)
                return run
            if time.monotonic() + CHAIN_POLL_SECONDS > until:
                break
            self.client.scope.sleep(CHAIN_POLL_SECONDS)
        waited = time.monotonic() - began
        note = (
            f"No run of job {job.id}, chained to job {parent.job_id} on completion, appeared "
            f"after run {parent.id} ended (waited {waited:.0f}s, at most "
            f"{CHAIN_WAIT_SECONDS:.0f}s and never past the timeout). "
            "Check in dbt Cloud that the job is active and its trigger on job completion names "
            "that job and status."
        )
        toolkit.warning(note, title="follow-chain: no chained run")
        self._add(self._child_life(job, None).unconfirmed(Outcome.NOT_FOUND, note))
        return None

    def _child_life(self, job: Job, run: Run | None) -> RunLife:
        from .given_run import given_payload  # noqa: PLC0415 - lazy: see action.py
        from .payload import TriggerPayload  # noqa: PLC0415 - lazy: see action.py
        from .run_life import RunLife  # noqa: PLC0415 - run_life imports this module

        life = self.life
        return RunLife(
            # no commit status or check run of its own: its run's commit is whatever the
            # chained job checked out, not the one this workflow is about
            replace(
                life.inputs,
                job_id=job.id,
                vars=None,
                follow_chain=False,
                commit_status=False,
                check_run=False,
            ),
            life.context,
            TriggerPayload(cause="") if run is None else given_payload(run),
            life.state.another(),
            cancellation=life.scope.cancellation,
            timeout_at=life.timeout_at,
            tuning=life.tuning,
            job=job,
            artifacts_dir=f"{life.reporter.artifacts_dir}/chained-{job.id}",
            log_prefix=f"[chained job {job.id}] ",
            given=run,
            origin="chained",
        )

    def _add(self, report: RunReport) -> None:
        self.life.chained = (*self.life.chained, report)
