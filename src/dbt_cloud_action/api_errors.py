"""dbt Cloud's error answers read whatever their shape, and what the user should check next.

dbt Cloud's errors come in more shapes than its envelope
(`{"status": {"user_message", "developer_message"}, "data": ...}`): the envelope may also carry
`extra` and `error_code` (dbt-labs/dbt-jobs-as-code#91), a method refused by Django REST
framework itself is a bare `{"detail": "Method \\"GET\\" not allowed."}`
(dbt-labs/dbt-cloud-openapi-spec#7), and `data` is not always per-field errors (an IP
restriction's 403 puts `account_id`, `user_id`, `is_service_token`, `account_access_denied`
there: docs, faqs/Troubleshooting/ip-restrictions). `parse_error_body` reads them all without
losing a message; `hint_for_status` names what to check and where, with the docs page, for each
access error users meet (IP restriction, missing permission as a 403 or a 404, wrong account,
a token of another region or of the legacy host). Pure functions: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from dbt_cloud_action.access_url import is_legacy_host

EXAMPLE_ACCESS_URL = "https://ab123.us1.dbt.com"
DOCS_ACCESS_URLS = (
    "https://docs.getdbt.com/docs/platform/about-platform/access-regions-ip-addresses"
)
DOCS_IP_RESTRICTIONS = "https://docs.getdbt.com/faqs/Troubleshooting/ip-restrictions"
DOCS_SERVICE_TOKENS = "https://docs.getdbt.com/docs/dbt-apis/service-tokens"
# The keys of an IP restriction's 403 `data` that are facts about the caller, not rejected fields.
_ACCESS_DENIED_KEYS = frozenset({"account_id", "user_id", "is_service_token"})


@dataclass(frozen=True)
class ErrorBody:
    """What an error answer says, in whichever shape it came."""

    user_message: str = ""
    developer_message: str = ""
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    error_code: str = ""  # the envelope's `error_code`, when it is not null
    # An IP restriction's 403 (`data.account_access_denied`): the caller's facts it names.
    access_denied: dict[str, str] | None = None


def parse_error_body(payload: object, http_status: int) -> ErrorBody:
    """The messages of an error answer: the envelope (with `extra` and `error_code`), a bare
    Django REST framework body (`{"detail": ...}`, a list of messages, `{field: [msg]}` on a
    400), or anything else (no message: the caller falls back on the HTTP reason)."""
    if isinstance(payload, list):
        return ErrorBody(user_message=_joined(payload))
    if not isinstance(payload, Mapping):
        return ErrorBody()
    status = payload.get("status")
    if not isinstance(status, Mapping):  # not the envelope: Django REST framework's own body
        detail = payload.get("detail")
        if detail is not None:
            return ErrorBody(user_message=_joined(detail))
        fields = field_errors(payload) if http_status == 400 else {}
        return ErrorBody(field_errors=fields)
    data = payload.get("data")
    denied = _access_denied(data) if http_status == 403 else None
    code = payload.get("error_code")
    return ErrorBody(
        user_message=_text(status.get("user_message")),
        developer_message=_text(status.get("developer_message")),
        # Only a 400 is a validation error with per-field messages in `data` (R7).
        field_errors=field_errors(data) if http_status == 400 else {},
        error_code="" if code is None or code == "" else _joined(code),
        access_denied=denied,
    )


def field_errors(data: object, prefix: str = "") -> dict[str, list[str]]:
    """Per-field messages of a validation error, nested fields named `a.b`."""
    if isinstance(data, list) and not prefix:  # DRF's non-field errors as a bare list
        return {"non_field_errors": [_joined(v) for v in data]} if data else {}
    if not isinstance(data, Mapping):
        return {}
    errors: dict[str, list[str]] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            errors.update(field_errors(value, name))
        elif isinstance(value, list):
            errors[name] = [v if isinstance(v, str) else json.dumps(v) for v in value]
        elif value is not None:
            errors[name] = [value if isinstance(value, str) else json.dumps(value)]
    return errors


def _access_denied(data: object) -> dict[str, str] | None:
    if not isinstance(data, Mapping) or data.get("account_access_denied") is not True:
        return None
    return {k: json.dumps(v) for k, v in data.items() if k in _ACCESS_DENIED_KEYS}


def _joined(value: object) -> str:
    """A message that may be a string, a list of them, or anything JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_joined(v) for v in value)
    return json.dumps(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def hint_for_status(
    status: int, body: ErrorBody, *, location: str = "", access_url: str = ""
) -> str:
    """What to do next after a definite answer `status`, naming the input and the docs page."""
    if 300 <= status < 400:
        target = f" to {location}" if location else ""
        return (
            f"dbt Cloud redirected the request{target}, so the access URL or the API path is "
            "wrong. The action follows a redirect only for a read on the same host, and never "
            "re-sends a POST such as a trigger. Set access-url to the account's own access URL "
            f"without a path, e.g. {EXAMPLE_ACCESS_URL} (if the redirect goes to your "
            "account's host, use that one)."
        )
    if status == 400:
        if body.field_errors:
            return (
                f"Fix the rejected field(s) {', '.join(body.field_errors)} in the action's "
                "inputs (cause, git-sha, overrides...) and run again."
            )
        return "Check the action's inputs (cause, git-sha, overrides...) and run again."
    if status == 401:
        return _hint_401(access_url)
    if status == 403:
        return _hint_403(body)
    if status == 404:
        return (
            "Check account-id and job-id (both are in the job's URL in dbt Cloud: "
            "/deploy/<account-id>/projects/<project-id>/jobs/<job-id>), that access-url is "
            f"the account's own access URL (its region, e.g. {EXAMPLE_ACCESS_URL}: "
            f"{DOCS_ACCESS_URLS}), and that api-token has a permission set on the job's "
            "project: dbt Cloud answers 404, not 403, for a project the token may not see "
            f"({DOCS_SERVICE_TOKENS})."
        )
    if status == 405:
        return (
            "dbt Cloud refused the HTTP method for this API path, which happens when a request "
            "lost its trailing slash and was redirected as a GET: check access-url (the "
            f"account's access URL without a path, e.g. {EXAMPLE_ACCESS_URL}) and report it to "
            "the action's maintainers if it persists."
        )
    if status == 429:
        return "dbt Cloud is rate-limiting this account: retry later or run fewer jobs at once."
    if status >= 500:
        return "dbt Cloud is unavailable: retry later (status: https://status.getdbt.com)."
    return "dbt Cloud refused the request: read the message above, fix the input and run again."


def _hint_401(access_url: str) -> str:
    where = (
        f"access-url is {access_url}, the legacy host, which no longer knows the tokens of "
        "accounts on regional or cell-based hosts: use the account's own access URL"
        if access_url and is_legacy_host(access_url)
        else "access-url is the account's own access URL"
    )
    return (
        "Check api-token (a service token or personal access token of this account, not "
        f"expired or revoked) and that {where} (e.g. {EXAMPLE_ACCESS_URL}, in Account settings "
        "> Account information): a token is only known on its account's host, so a token of an "
        f"account in another region is an invalid token here ({DOCS_ACCESS_URLS})."
    )


def _hint_403(body: ErrorBody) -> str:
    if body.access_denied is not None:
        service = body.access_denied.get("is_service_token") == "true"
        who = "this service token's" if service else "this token's"
        return (
            f"The account's IP restrictions refused {who} request from this runner's IP "
            "address (all service-token traffic is subject to them): add the runner's "
            "addresses to the account's IP allowlist (Account settings > IP restrictions), or "
            "run on a runner with fixed addresses (GitHub-hosted runners change IPs) "
            f"({DOCS_IP_RESTRICTIONS})."
        )
    return (
        "The token is valid but may not do this: check account-id (the account in the job's "
        "URL: a token works only on its own account), and that api-token is a service token "
        "with Job Admin or Job Runner on the job's project (Job Viewer or Read-Only cannot "
        f"trigger or cancel runs) ({DOCS_SERVICE_TOKENS})."
    )
