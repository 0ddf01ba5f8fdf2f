"""Whether the step's inputs fit its job, once the job is read and before any run starts:
`vars` needs commands that take `--vars` (and becomes the run's steps), `follow-chain` a chain
that ends. A misfit is an input error naming the input; no run of the step starts."""

from __future__ import annotations

from dataclasses import replace

from . import toolkit
from .client import DbtCloudClient
from .inputs import MAX_STEP_LENGTH, ActionInputs, InputError
from .models import Job
from .payload import TriggerPayload


def fit_to_job(
    client: DbtCloudClient,
    inputs: ActionInputs,
    job: Job,
    payload: TriggerPayload,
    log_prefix: str = "",
) -> TriggerPayload:
    """The run's payload for `job` (with `vars`, the job's own steps, --vars added, as its
    steps_override: the payload was built before the job was read); InputError on a misfit,
    DbtCloudError when the jobs cannot be listed for `follow-chain`'s check."""
    if inputs.vars is not None:
        from .vars_override import VarsError, steps_with_vars  # noqa: PLC0415 - lazy: only vars

        try:
            steps = steps_with_vars(
                job.execute_steps, inputs.vars, job.id, max_length=MAX_STEP_LENGTH
            )
        except VarsError as exc:
            raise InputError("vars", str(exc)) from None
        payload = replace(payload, steps_override=steps)
        listed = "".join(f"\n  {step}" for step in steps)
        toolkit.info(f"{log_prefix}vars: the job's steps are sent as steps_override:{listed}")
    if inputs.follow_chain:
        from .run_chain import chain_loop_error  # noqa: PLC0415 - lazy: only follow-chain

        message = chain_loop_error(client, job.id)
        if message:
            raise InputError("follow-chain", message)
    return payload
