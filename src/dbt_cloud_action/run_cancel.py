"""Cancelling a run: the cancel, then reads until dbt Cloud says it stopped, all in the client's
scope (the timeout's grace, or the clean-up's few seconds after a signal)."""

from __future__ import annotations

from . import toolkit
from .client import DbtCloudClient, DbtCloudError
from .models import Run
from .run_report import status_word
from .step_state import RunState

# How often a cancelled run is read until dbt Cloud says it stopped.
CONFIRM_POLL_SECONDS = 0.5


def cancel_and_confirm(
    client: DbtCloudClient, run_id: int, state: RunState, log_prefix: str = ""
) -> Run | None:
    """Cancel the run and read it until dbt Cloud says it stopped or the scope's time is up;
    None when dbt Cloud did not take the cancel. A cancel taken but not yet seen through is
    saved as such: the post step leaves it to dbt Cloud."""
    scope = client.scope
    try:
        run = client.cancel_run(run_id)
    except DbtCloudError as exc:
        toolkit.warning(f"{log_prefix}Could not cancel run {run_id}: {exc}")
        return None
    try:
        while not run.is_terminal and scope.left() > CONFIRM_POLL_SECONDS:
            scope.sleep(CONFIRM_POLL_SECONDS)
            run = client.get_run(run_id)
    except DbtCloudError:
        pass  # the cancel was taken; what dbt Cloud last showed stands
    if run.is_terminal:
        toolkit.info(f"{log_prefix}Run {run_id} in dbt Cloud: {status_word(run)}.")
    else:
        toolkit.warning(f"{log_prefix}Run {run_id} was asked to cancel but had not stopped yet.")
        state.leave("dbt Cloud accepted the main step's cancel")
    return run


def current_run(client: DbtCloudClient, run_id: int) -> Run | None:
    """The run as dbt Cloud shows it now; None when it does not answer."""
    try:
        return client.get_run(run_id)
    except DbtCloudError:
        return None
