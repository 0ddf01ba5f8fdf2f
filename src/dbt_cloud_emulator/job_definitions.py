"""Jobs created and updated through the API (`POST /jobs/`, `POST /jobs/{id}/`), as dbt Cloud
takes them: no looser than the spec's `HumanReadableJobDefinitionRequest` and what the real
dbt-jobs-as-code sends (docs/dbt-cloud-api.md, J4-J5, has each rule's evidence).

The spec's request schema is stricter than what dbt Cloud accepts from dbt Labs' own
dbt-jobs-as-code, which works against it: the tool never sends `lifecycle_webhooks` (required
by the spec), sends `description: ""` (the spec's minLength is 1) and sends `null` for
`dbt_version`, `deferring_job_definition_id`, `deferring_environment_id` and `id`. Those are
the only relaxations; every other required field, and the types of what is sent, are checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dbt_cloud_emulator.config import (
    CI_ENVIRONMENT_ID,
    DEFAULT_PROJECT_ID,
    DEFAULT_PROJECT_NAME,
    JOB_TYPES,
    PROD_ENVIRONMENT_ID,
    TRIGGER_NAMES,
    JobScript,
    StepScript,
)
from dbt_cloud_emulator.envelope import invalid
from dbt_cloud_emulator.validation import (
    BLANK,
    NOT_BOOLEAN,
    NOT_INTEGER,
    NOT_STRING,
    NULL,
    REQUIRED,
    check_steps,
)

# The spec's `required` list less `lifecycle_webhooks`, which dbt-jobs-as-code never sends (J4).
REQUIRED_FIELDS = (
    "account_id",
    "environment_id",
    "errors_on_lint_failure",
    "execution",
    "generate_docs",
    "name",
    "project_id",
    "run_compare_changes",
    "run_generate_sources",
    "run_lint",
    "settings",
    "state",
    "triggers",
)
_INTEGERS = ("account_id", "project_id", "environment_id", "state")
_BOOLEANS = (
    "errors_on_lint_failure",
    "generate_docs",
    "run_compare_changes",
    "run_generate_sources",
    "run_lint",
)
# Sent as null by dbt-jobs-as-code (J4); any other field may not be null.
_NULLABLE = ("id", "dbt_version", "deferring_job_definition_id", "deferring_environment_id")
NAME_MAX = 255
DESCRIPTION_MAX = 255  # dbt-jobs-as-code's DESCRIPTION_MAX_LENGTH (schemas/job.py)
_STEP_SECONDS = 5.0


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_problems(name: str, value: Any) -> list[str]:
    if value is None:
        return [] if name in _NULLABLE else [NULL]
    if name in _INTEGERS:
        return [] if _is_int(value) and value >= 1 else [NOT_INTEGER]
    if name in _BOOLEANS:
        return [] if isinstance(value, bool) else [NOT_BOOLEAN]
    if name == "name":
        if not isinstance(value, str):
            return [NOT_STRING]
        if not value.strip():
            return [BLANK]
        return (
            []
            if len(value) <= NAME_MAX
            else [f"Ensure this field has no more than {NAME_MAX} characters."]
        )
    if name == "description":
        if not isinstance(value, str):
            return [NOT_STRING]
        return (
            []
            if len(value) <= DESCRIPTION_MAX
            else [f"Ensure this field has no more than {DESCRIPTION_MAX} characters."]
        )
    if name == "job_type":
        return [] if value in (*JOB_TYPES, "merge") else [f'"{value}" is not a valid choice.']
    if name == "execute_steps":
        return check_steps(value)
    if name in ("execution", "settings"):
        return [] if isinstance(value, Mapping) else ["Expected a dictionary of items."]
    if name == "triggers":
        if not isinstance(value, Mapping):
            return ["Expected a dictionary of items."]
        return [
            f"{flag}: {NOT_BOOLEAN}"
            for flag in TRIGGER_NAMES
            if flag in value and value[flag] is not None and not isinstance(value[flag], bool)
        ]
    return []


def validate_job_definition(body: Any, account_id: int) -> dict[str, Any]:
    """The job fields of a create or update body; a 400 naming every bad field (DRF's shape).
    Unknown fields are ignored, as DRF does (the read-only `job_completion_trigger_condition`
    that dbt-jobs-as-code sends among them: J4)."""
    if not isinstance(body, Mapping):
        raise invalid(
            {
                "non_field_errors": [
                    f"Invalid data. Expected a dictionary, but got {type(body).__name__}."
                ]
            }
        )
    errors: dict[str, list[str]] = {
        name: [REQUIRED] for name in REQUIRED_FIELDS if name not in body
    }
    for name in (*REQUIRED_FIELDS, "description", "job_type", "execute_steps", *_NULLABLE):
        if name in body and name not in errors:
            problems = _field_problems(name, body[name])
            if problems:
                errors[name] = problems
    if "account_id" not in errors and body.get("account_id") != account_id:
        errors["account_id"] = [f"Must be this account's id ({account_id})."]
    if not errors and not body.get("execute_steps"):
        errors["execute_steps"] = ["The job needs at least one step."]
    if errors:
        raise invalid(errors)
    return dict(body)


def job_script(fields: Mapping[str, Any], job_id: int, previous: JobScript | None) -> JobScript:
    """The emulated job for an accepted body: its steps each succeed in a few seconds (a job
    made through the API has no scripted results); an update keeps the rest of its script."""
    steps = tuple(
        StepScript(f"Invoke dbt with `{command}`", command, _STEP_SECONDS)
        for command in fields["execute_steps"]
    )
    flags = fields["triggers"]
    triggers = tuple(name for name in TRIGGER_NAMES if flags.get(name) is True)
    job_type = fields.get("job_type") or "scheduled"
    changes: dict[str, Any] = {
        "name": fields["name"],
        "description": fields.get("description") or "",
        "steps": steps,
        "job_type": "other" if job_type == "merge" else job_type,
        "project_id": fields["project_id"],
        "environment_id": fields["environment_id"],
        "triggers": triggers,
    }
    project, environment = fields["project_id"], fields["environment_id"]
    changes["project_name"] = (
        DEFAULT_PROJECT_NAME if project == DEFAULT_PROJECT_ID else f"Project {project}"
    )
    changes["environment_name"] = {PROD_ENVIRONMENT_ID: "Production", CI_ENVIRONMENT_ID: "CI"}.get(
        environment, f"Environment {environment}"
    )
    if previous is not None:
        return replace(previous, **changes)
    return JobScript(id=job_id, queue_seconds=2.0, **changes)
