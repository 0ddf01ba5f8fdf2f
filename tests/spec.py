"""The official dbt Cloud API v2 spec, loaded once, and request/response validation against it.

The spec is data outside the repo (`<repo>/../shared/dbt-cloud/openapi-v2.yaml`, or the file
named by DBT_CLOUD_OPENAPI_SPEC). When it cannot be found the calling test fails loudly: a
contract test that silently passes without its contract would prove nothing.

Two documented adjustments, both because the published spec is stricter than dbt Cloud itself:
- properties dbt Cloud returns as `null` (timestamps not reached yet, overrides not given, related
  objects not asked for) are marked nullable; the spec declares no `nullable` anywhere;
- the spec's security scheme only names `Bearer`, while its description (and dbt Cloud) accept
  `Token <t>` as equivalent: `Token` is checked as `Bearer`;
- dbt Cloud reads list filters such as `status__in` as one JSON-style value (`[1,2,3]`), while
  the spec describes repeated keys; a `[...]` value of an array parameter is checked item by item;
- dbt Cloud writes a run's timestamps with a space between date and time
  (`2021-12-07 10:32:24.326116+00:00`, recorded replies in dbt-cloud-cli's tests/data), which the
  spec's strict RFC 3339 `date-time` rejects: `date-time` also accepts that one form.
Error replies (4xx/5xx) are not described by the spec; their envelope is checked against the
spec's own `ResponseStatus` schema instead, whose `developer_message` may be null as in dbt
Cloud's 401 (`"developer_message": null`, quoted in kestra-io/plugin-dbt issue 101).
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from werkzeug.datastructures import ImmutableMultiDict

from dbt_cloud_emulator import LoggedRequest

SPEC_ENV = "DBT_CLOUD_OPENAPI_SPEC"
REPO = Path(__file__).resolve().parents[1]
# A server URL the spec lists, so paths resolve as on a real account's host.
SPEC_HOST = "https://ab123.us1.dbt.com"

# Properties dbt Cloud sends as null although the spec gives them a non-nullable type.
NULLABLE_IN_PRACTICE: dict[str, tuple[str, ...]] = {
    "RunResponse": (
        "status_message",
        "git_branch",
        "git_sha",
        "owner_thread_id",
        "executed_by_thread_id",
        "deferring_run_id",
        "artifact_s3_path",
        "dequeued_at",
        "started_at",
        "finished_at",
        "last_checked_at",
        "last_heartbeat_at",
        "should_start_at",
        "trigger",
        "job",
        "environment",
        "deprecation",
        "retrying_run_id",
        "retry_not_supported_reason",
        "used_repo_cache",
    ),
    "RunTrigger": (
        "git_branch",
        "git_sha",
        "azure_pull_request_id",
        "github_pull_request_id",
        "gitlab_merge_request_id",
        "non_native_pull_request_id",
        "schema_override",
        "dbt_version_override",
        "threads_override",
        "target_name_override",
        "generate_docs_override",
        "timeout_seconds_override",
        "steps_override",
    ),
    "HumanReadableJobDefinitionResponse": (
        "dbt_version",
        "deferring_environment_id",
        "deferring_job_definition_id",
    ),
    "InternalJobDefinition": (
        "dbt_version",
        "deferring_environment_id",
        "deferring_job_definition_id",
    ),
    "ResponseStatus": ("developer_message",),
}


class ContractError(AssertionError):
    """A request or response the spec does not allow; the message lists every violation."""


def spec_candidates() -> list[Path]:
    """Where the spec may be: the env override, beside the repo, beside the main checkout."""
    found = [Path(os.environ[SPEC_ENV])] if os.environ.get(SPEC_ENV) else []
    found.append(REPO.parent / "shared" / "dbt-cloud" / "openapi-v2.yaml")
    git = REPO / ".git"
    if git.is_file():  # a git worktree: `.git` names <main checkout>/.git/worktrees/<name>
        gitdir = Path(git.read_text(encoding="utf-8").split("gitdir:", 1)[1].strip())
        found.append(gitdir.parents[2].parent / "shared" / "dbt-cloud" / "openapi-v2.yaml")
    return found


def spec_path() -> Path:
    candidates = spec_candidates()
    for path in candidates:
        if path.is_file():
            return path
    pytest.fail(
        "dbt Cloud OpenAPI spec not found; contract tests cannot run without it. Looked at: "
        + ", ".join(str(p) for p in candidates)
        + f". Put openapi-v2.yaml at ../shared/dbt-cloud/ next to the repo or set {SPEC_ENV}.",
        pytrace=False,
    )


@functools.cache
def spec_dict() -> dict[str, Any]:
    with spec_path().open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=yaml.CSafeLoader)
    schemas = spec["components"]["schemas"]
    for schema_name, properties in NULLABLE_IN_PRACTICE.items():
        for name in properties:
            prop = schemas[schema_name]["properties"][name]
            if "type" in prop:
                prop["nullable"] = True
            else:
                schemas[schema_name]["properties"][name] = {"anyOf": [prop, {"enum": [None]}]}
    return spec


def is_dbt_cloud_date_time(value: object) -> bool:
    """RFC 3339 date-time, or the same with a space for the `T`, as dbt Cloud writes run times."""
    if not isinstance(value, str):
        return True  # not a string: the `type` check reports it
    text = value.replace(" ", "T", 1) if len(value) > 10 and value[10] == " " else value
    return bool(oas30_format_checker.conforms(text, "date-time"))


@functools.cache
def openapi() -> OpenAPI:
    # The published spec does not pass openapi-spec-validator itself (its job `triggers`
    # defaults contain nulls), so spec self-validation is off; schemas are still enforced.
    config = Config(
        spec_validator_cls=None, extra_format_validators={"date-time": is_dbt_cloud_date_time}
    )
    return OpenAPI.from_dict(spec_dict(), config=config)


@functools.cache
def _status_validator() -> OAS30Validator:
    spec = spec_dict()
    schema = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": copy.deepcopy(spec["components"]["schemas"]["ResponseStatus"])},
    }
    return OAS30Validator(schema)


def _request(
    method: str, path: str, query: dict[str, list[str]], body: Any, headers: dict[str, str]
) -> MockRequest:
    normalized = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        normalized["Authorization"] = f"Bearer {token}" if scheme.lower() == "token" else auth
    data = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    request = MockRequest(SPEC_HOST, method, path, headers=normalized, data=data)
    request.parameters.query = ImmutableMultiDict(
        [
            (name, item)
            for name, values in query.items()
            for value in values
            for item in _list_items(name, value)
        ]
    )
    return request


def _list_items(name: str, value: str) -> list[str]:
    """`status__in=[1,2]` as the items `1`, `2`; any other value as it is."""
    if not (name.endswith("__in") and value.startswith("[") and value.endswith("]")):
        return [value]
    try:
        items = json.loads(value)
    except json.JSONDecodeError:
        return [value]
    return [str(item) for item in items] if isinstance(items, list) else [value]


def _explain(exc: BaseException) -> str:
    parts = [repr(exc)]
    cause = exc.__cause__
    while cause is not None:
        errors = getattr(cause, "schema_errors", None)
        parts += [f"  - {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors or ()]
        if not errors:
            parts.append(f"  caused by {cause!r}")
        cause = cause.__cause__
    return "\n".join(parts)


def validate_request(
    method: str, path: str, query: dict[str, list[str]], body: Any, headers: dict[str, str]
) -> None:
    """Raise ContractError unless the spec allows this request (path, params, body, auth)."""
    try:
        openapi().validate_request(_request(method, path, query, body, headers))
    except OpenAPIError as exc:
        raise ContractError(f"{method} {path} violates the spec:\n{_explain(exc)}") from exc


def validate_logged_request(entry: LoggedRequest) -> None:
    """Validate an emulator request-log entry. The log holds no credentials, so a placeholder
    token stands in; whether the real one was right shows in the entry's status (401)."""
    headers = {**entry.headers, "Authorization": "Bearer redacted"}
    validate_request(entry.method, entry.path, entry.query, entry.body, headers)


def validate_response(  # noqa: PLR0917 - the shared helper's documented signature
    method: str,
    path: str,
    query: dict[str, list[str]],
    status: int,
    body: Any,
    headers: dict[str, str],
) -> None:
    """Raise ContractError unless the reply matches the spec (2xx) or the error envelope (4xx/5xx).

    `body` is the raw bytes or the parsed JSON.
    """
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    request = _request(method, path, query, None, {"Authorization": "Bearer redacted"})
    if status < 400:
        response = MockResponse(raw, status, headers, content_type.split(";")[0].strip())
        try:
            openapi().validate_response(request, response)
        except OpenAPIError as exc:
            raise ContractError(
                f"{method} {path} -> {status} violates the spec:\n{_explain(exc)}"
            ) from exc
        return
    _validate_error_envelope(method, path, status, raw, content_type)


def _validate_error_envelope(
    method: str, path: str, status: int, raw: bytes, content_type: str
) -> None:
    where = f"{method} {path} -> {status}"
    if "application/json" not in content_type:
        raise ContractError(f"{where}: error reply is {content_type!r}, not JSON")
    try:
        envelope = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ContractError(f"{where}: error reply is not JSON: {exc}") from exc
    problems = [e.message for e in _status_validator().iter_errors(envelope)]
    if not problems and "data" not in envelope:
        problems.append("no `data` key")
    if not problems and envelope["status"].get("code") != status:
        problems.append(f"status.code {envelope['status'].get('code')} != HTTP {status}")
    if not problems and envelope["status"]["is_success"] is not False:
        problems.append("status.is_success is not false")
    if problems:
        raise ContractError(f"{where}: bad error envelope: {'; '.join(problems)}")
