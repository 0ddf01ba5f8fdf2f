"""Request validation as dbt Cloud does it: every bad field reported, in Django REST style."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dbt_cloud_emulator.envelope import ApiError, invalid

CAUSE_MAX = 255
REQUIRED = "This field is required."
BLANK = "This field may not be blank."
NULL = "This field may not be null."
NOT_STRING = "Not a valid string."
NOT_INTEGER = "A valid integer is required."
NOT_BOOLEAN = "Must be a valid boolean."
NOT_LIST = 'Expected a list of items but got type "{}".'
# dbt Cloud's words, quoted in gooddata/gooddata-python-sdk PR 360.
BOTH_GIT_REFS = "git_branch and git_sha cannot both be specified"

# Thin: dbt's CI docs ask for the pull request id "using one of these fields"; what dbt Cloud
# does with two is not documented, so the emulator refuses it (the safe side).
PULL_REQUEST_FIELDS = (
    "azure_pull_request_id",
    "github_pull_request_id",
    "gitlab_merge_request_id",
    "non_native_pull_request_id",
)
ONE_PULL_REQUEST = "Provide the pull request id in one of {} only, not in {}."

_STRING_FIELDS = (
    "git_sha",
    "git_branch",
    "schema_override",
    "dbt_version_override",
    "target_name_override",
)
_INTEGER_FIELDS = (
    *PULL_REQUEST_FIELDS,
    "threads_override",
    "timeout_seconds_override",
)
TRIGGER_FIELDS = (
    "cause",
    *_STRING_FIELDS,
    *_INTEGER_FIELDS,
    "generate_docs_override",
    "steps_override",
)


def parse_json_body(raw: bytes) -> Any:
    """The JSON body, None when empty; a 400 like DRF's parse error when it is not JSON."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, f"JSON parse error - {exc}", "The request body is not valid JSON."
        ) from exc


def validate_trigger(body: Any) -> dict[str, Any]:
    """The accepted trigger fields; a 400 naming every bad field. Unknown keys are ignored, and
    so is an optional field sent as `null` (dbt-cloud-cli sends every field it has, unset ones
    as null, and the real service runs the job)."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise invalid(
            {
                "non_field_errors": [
                    f"Invalid data. Expected a dictionary, but got {type(body).__name__}."
                ]
            }
        )
    body = {k: v for k, v in body.items() if v is not None or k == "cause"}
    errors: dict[str, list[str]] = {}
    for name in TRIGGER_FIELDS:
        if name not in body:
            continue
        problem = _check(name, body[name])
        if problem:
            errors[name] = problem
    if "cause" not in body:
        errors["cause"] = [REQUIRED]
    if errors:
        raise invalid(errors)
    if "git_sha" in body and "git_branch" in body:
        raise ApiError(400, BOTH_GIT_REFS)
    given = [name for name in PULL_REQUEST_FIELDS if name in body]
    if len(given) > 1:
        message = ONE_PULL_REQUEST.format(", ".join(PULL_REQUEST_FIELDS), " and ".join(given))
        raise invalid({name: [message] for name in given})
    return {name: body[name] for name in TRIGGER_FIELDS if name in body}


def _check(name: str, value: Any) -> list[str]:
    if value is None:
        return [NULL]
    if name == "cause" or name in _STRING_FIELDS:
        if not isinstance(value, str):
            return [NOT_STRING]
        if not value.strip():
            return [BLANK]
        if name == "cause" and len(value) > CAUSE_MAX:
            return [f"Ensure this field has no more than {CAUSE_MAX} characters."]
        return []
    if name in _INTEGER_FIELDS:
        # JSON true is not an id: Python's bool is an int, the API's integer is not.
        return [] if isinstance(value, int) and not isinstance(value, bool) else [NOT_INTEGER]
    if name == "generate_docs_override":
        return [] if isinstance(value, bool) else [NOT_BOOLEAN]
    return check_steps(value)


def check_steps(value: Any) -> list[str]:
    if not isinstance(value, list):
        return [NOT_LIST.format(type(value).__name__)]
    problems = []
    for index, step in enumerate(value):
        if not isinstance(step, str):
            problems.append(f"Item {index}: {NOT_STRING}")
        elif not step.strip():
            problems.append(f"Item {index}: {BLANK}")
        elif step.split()[0] != "dbt":
            problems.append(
                f"Item {index}: {step!r} is not a dbt command; steps must start with 'dbt '."
            )
    return problems
