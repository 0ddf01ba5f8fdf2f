"""The official dbt Cloud API v2 spec, loaded once, and request/response validation against it.

The spec is data outside the repo, looked up in this order: the file named by
DBT_CLOUD_OPENAPI_SPEC; `<repo>/../shared/dbt-cloud/openapi-v2.yaml` (beside the repo, or beside
the main checkout of a git worktree); else dbt Labs' spec repository at the pinned commit, fetched
once into a cache (`$XDG_CACHE_HOME` or `~/.cache`, `dbt-cloud-action/`) and accepted only with
the pinned SHA-256. When none of that works the calling test fails with one line saying how to
provide the file: a contract test that silently passed without its contract would prove nothing.
`python -m tests.spec` (what scripts/test runs first) prints the file it found, or that line.

Two documented adjustments, both because the published spec is stricter than dbt Cloud itself:
- properties dbt Cloud returns as `null` (timestamps not reached yet, overrides not given, related
  objects not asked for, the artifact list of a run that produced none) are marked nullable; the
  spec declares no `nullable` anywhere;
- the spec's security scheme only names `Bearer`, while its description (and dbt Cloud) accept
  `Token <t>` as equivalent: `Token` is checked as `Bearer`;
- dbt Cloud reads list filters such as `status__in` as one JSON-style value (`[1,2,3]`), while
  the spec describes repeated keys; a `[...]` value of an array parameter is checked item by item;
- dbt Cloud writes a run's timestamps with a space between date and time
  (`2021-12-07 10:32:24.326116+00:00`, recorded replies in dbt-cloud-cli's tests/data), which the
  spec's strict RFC 3339 `date-time` rejects: `date-time` also accepts that one form.
Error replies (4xx/5xx) are not described by the spec; their envelope is checked against the
spec's own `ResponseStatus` schema instead, whose `developer_message` may be null as in dbt
Cloud's 401 (`"developer_message": null`, quoted in kestra-io/plugin-dbt issue 101). A 405 is
Django REST framework's own bare `{"detail": "Method \"GET\" not allowed."}`, outside the
envelope (dbt-labs/dbt-cloud-openapi-spec issue 7): that shape is checked for it instead.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
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
# Where the pinned spec is fetched from; the tests point it at a loopback server.
SPEC_URL_ENV = "DBT_CLOUD_OPENAPI_SPEC_URL"
# dbt-labs/dbt-cloud-openapi-spec at its commit of 2026-08-14, the snapshot in ../shared/ (the same
# bytes); the SHA-256 is that file's. A new pin changes both, and the cache file's name with them.
SPEC_COMMIT = "b1d1233b3d95670cf89c180450a4990bdf51540f"
SPEC_SHA256 = "733481d6d3a894c6c7b0fe828db2d2d4d80090769f458f1a56e9681b6c9045b8"
SPEC_URL = f"https://raw.githubusercontent.com/dbt-labs/dbt-cloud-openapi-spec/{SPEC_COMMIT}/openapi-v2.yaml"
FETCH_TIMEOUT_SECONDS = 30.0
HOW_TO_PROVIDE = (
    f"set {SPEC_ENV}=/path/to/openapi-v2.yaml (dbt-labs/dbt-cloud-openapi-spec at commit "
    f"{SPEC_COMMIT}), or run the tests once with network access"
)
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
    # A run that produced no artifacts lists `{"data": null}` (dbt-labs/dbt-mcp#791).
    "ListOfStringsEnveloped": ("data",),
}


class ContractError(AssertionError):
    """A request or response the spec does not allow; the message lists every violation."""


class SpecUnavailable(Exception):
    """No spec anywhere and none could be fetched; the message is one line saying what to do."""


def spec_candidates(repo: Path = REPO) -> list[Path]:
    """Where a copy of the spec may already be: beside the repo, beside the main checkout."""
    found = [repo.parent / "shared" / "dbt-cloud" / "openapi-v2.yaml"]
    git = repo / ".git"
    if git.is_file():  # a git worktree: `.git` names <main checkout>/.git/worktrees/<name>
        gitdir = Path(git.read_text(encoding="utf-8").split("gitdir:", 1)[1].strip())
        found.append(gitdir.parents[2].parent / "shared" / "dbt-cloud" / "openapi-v2.yaml")
    return found


def cache_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dbt-cloud-action"


def find_spec(env: Mapping[str, str], repo: Path = REPO) -> Path:
    """The spec file: the one named by SPEC_ENV, one beside the repo, or the pinned one from the
    cache (fetched once). A named file is used as it is: whoever names it chose that version."""
    named = env.get(SPEC_ENV)
    if named:
        if Path(named).is_file():
            return Path(named).resolve()
        raise SpecUnavailable(f"{SPEC_ENV}={named} is not a file: {HOW_TO_PROVIDE}")
    for path in spec_candidates(repo):
        if path.is_file():
            return path
    return fetch_spec(env.get(SPEC_URL_ENV) or SPEC_URL, cache_dir(env))


def fetch_spec(url: str, cache: Path) -> Path:
    """The pinned spec in `cache`, downloaded from `url` unless a checked copy is there.

    Only the pinned bytes are kept: another file (a moved branch, a proxy's error page) is
    refused. Concurrent test workers may both download; each renames a complete file in place."""
    target = cache / f"openapi-v2-{SPEC_COMMIT[:12]}.yaml"
    if target.is_file() and _sha256(target.read_bytes()) == SPEC_SHA256:
        return target
    where = f"the dbt Cloud OpenAPI spec is not beside the repo and fetching {url}"
    if not url.startswith(("https://", "http://")):
        raise SpecUnavailable(f"{where} is not possible (not an http(s) URL): {HOW_TO_PROVIDE}")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as reply:  # noqa: S310
            data = reply.read()
    except (OSError, ValueError) as exc:
        # "HTTP Error 404: Not Found", or a URLError's "[Errno 111] Connection refused"
        detail = exc if isinstance(exc, urllib.error.HTTPError) else getattr(exc, "reason", exc)
        reason = " ".join(str(detail).split())
        raise SpecUnavailable(f"{where} failed ({reason}): {HOW_TO_PROVIDE}") from None
    digest = _sha256(data)
    if digest != SPEC_SHA256:
        raise SpecUnavailable(
            f"{where} gave a file with SHA-256 {digest}, not the pinned {SPEC_SHA256}, so it was "
            f"refused: {HOW_TO_PROVIDE}"
        )
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def _found_spec() -> Path | str:
    """The spec's path, or why there is none: looked up (and fetched) once per process."""
    try:
        return find_spec(os.environ)
    except SpecUnavailable as exc:
        return str(exc)


def spec_path() -> Path:
    found = _found_spec()
    if isinstance(found, str):
        pytest.fail(found, pytrace=False)
    return found


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
    if status == 405:
        if not (isinstance(envelope, dict) and isinstance(envelope.get("detail"), str)):
            raise ContractError(f"{where}: a 405 is not Django REST framework's {{'detail': ...}}")
        return
    problems = [e.message for e in _status_validator().iter_errors(envelope)]
    if not problems and "data" not in envelope:
        problems.append("no `data` key")
    if not problems and envelope["status"].get("code") != status:
        problems.append(f"status.code {envelope['status'].get('code')} != HTTP {status}")
    if not problems and envelope["status"]["is_success"] is not False:
        problems.append("status.is_success is not false")
    if problems:
        raise ContractError(f"{where}: bad error envelope: {'; '.join(problems)}")


def main() -> int:
    """Print the spec's path (fetching it if need be), or the one line saying how to provide it."""
    try:
        print(find_spec(os.environ))
    except SpecUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
