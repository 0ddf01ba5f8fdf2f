"""`run-id`: a run this step did not start (a schedule's, another system's, one named by a relay
of dbt Cloud's webhooks), followed and reported like a triggered one (`origin: given`).

Pure: what the run is checked against, and what its report says was run. The run is read once
before anything else (action.py), so a run id of another account, or no run at all, is one
input error naming `run-id`.
"""

from __future__ import annotations

from .client import DbtCloudError
from .inputs import InputError
from .models import Run
from .payload import TriggerPayload

# Why the step and its post step leave a given run alone (the step's state says it).
GIVEN_NOT_CANCELLED = "this step did not start it (run-id, cancel-followed: false)"


def not_found(run_id: int, account_id: int, exc: DbtCloudError) -> InputError | None:
    """dbt Cloud's 404 for the run as the input error it is; None for any other error."""
    if exc.http_status != 404:
        return None
    return InputError(
        "run-id",
        f"is {run_id}, but account {account_id} has no run {run_id} that api-token may see: "
        "a run of another account, of a project the token has no permission on, or no run at "
        "all. Check the number after /runs/ in the run's URL and account-id.",
    )


def check_given_run(run: Run, job_ids: tuple[int, ...]) -> None:
    """A `job-id` given with `run-id` is a guard (a relay forwards any id it is sent): the run
    must be of that job."""
    if job_ids and run.job_id not in job_ids:
        raise InputError(
            "run-id",
            f"is {run.id}, a run of job {run.job_id}, but job-id is {job_ids[0]}. Pass the id "
            "of a run of that job, or leave job-id unset to report a run of any job.",
        )


def given_payload(run: Run) -> TriggerPayload:
    """What the run was started with, as dbt Cloud says (nothing is sent): its commit (else its
    branch) and pull request, for the outputs, the summary and the commit status."""
    sha = run.git_sha or run.trigger_git_sha or None
    return TriggerPayload(
        cause=run.cause,
        git_sha=sha,
        git_branch=None if sha else (run.git_branch or None),
        github_pull_request_id=run.github_pull_request_id,
    )
