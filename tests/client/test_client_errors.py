"""Error mapping, redaction and the client's other pure parts (query parameters, run links)."""

from typing import Any

import pytest

from dbt_cloud_action import __version__
from dbt_cloud_action.api_errors import DOCS_IP_RESTRICTIONS
from dbt_cloud_action.client import (
    ArtifactNotFound,
    DbtCloudClient,
    DbtCloudError,
    envelope_messages,
    error_from_response,
    list_runs_params,
    redact,
)
from dbt_cloud_action.models import Run

SECRET = "dbtc_Sup3rSecretServiceToken0123456789abcdef"


def envelope(code: int, user_message: str, data: Any = None, developer: str = "") -> Any:
    return {
        "status": {
            "code": code,
            "is_success": False,
            "user_message": user_message,
            "developer_message": developer,
        },
        "data": data,
    }


def test_401_tells_to_check_token_and_access_url() -> None:
    error = error_from_response(401, envelope(401, "Invalid token."))
    assert error.http_status == 401
    assert error.user_message == "Invalid token."
    assert "api-token" in error.hint
    assert "access-url" in error.hint
    assert "https://ab123.us1.dbt.com" in error.hint
    assert "Invalid token" in str(error)
    assert "api-token" in str(error)


def test_403_names_the_permissions_needed() -> None:
    error = error_from_response(403, envelope(403, "You do not have permission."))
    assert "Job Admin" in error.hint
    assert "Job Runner" in error.hint


def test_404_points_at_ids_and_region() -> None:
    error = error_from_response(404, envelope(404, "Requested resource not found."))
    assert "account-id" in error.hint
    assert "job-id" in error.hint
    assert "region" in error.hint


def test_400_lists_each_rejected_field() -> None:
    data = {"cause": ["This field is required."], "overrides": {"threads_override": "Not int."}}
    error = error_from_response(400, envelope(400, "The request was invalid.", data))
    assert error.field_errors == {
        "cause": ["This field is required."],
        "overrides.threads_override": ["Not int."],
    }
    text = str(error)
    assert "cause: This field is required" in text
    assert "overrides.threads_override: Not int" in text
    assert "cause" in error.hint


def test_message_is_one_paragraph_even_with_multiline_server_text() -> None:
    error = error_from_response(
        500, envelope(500, "Line one.\nLine two.", developer="trace\n  at x"), "Server Error"
    )
    assert "\n" not in str(error)
    assert "Line one. Line two." in str(error)
    assert "retry later" in str(error)


def test_non_envelope_body_still_gives_status_and_next_step() -> None:
    error = error_from_response(404, "<html>nope</html>", "HTTP 404 Not Found")
    assert error.http_status == 404
    assert "HTTP 404 Not Found" in str(error)
    assert "account-id" in str(error)


def test_redirect_says_the_access_url_or_path_is_wrong() -> None:
    error = error_from_response(
        301, None, "HTTP 301", location="https://other.example/", request="GET /jobs/5/"
    )
    assert error.user_message == "GET /jobs/5/ was redirected (HTTP 301)"
    assert "redirected the request to https://other.example/" in error.hint
    assert "access URL or the API path is wrong" in error.hint
    assert "access-url" in error.hint
    assert "https://other.example/" in error.hint


def test_error_redacts_given_secret_everywhere() -> None:
    error = DbtCloudError(
        401,
        f"bad token {SECRET}",
        f"header was Token {SECRET}",
        {f"k{SECRET}": [f"v{SECRET}"]},
        hint=f"h {SECRET}",
        secrets=(SECRET,),
    )
    for text in (str(error), repr(error), error.user_message, error.developer_message, error.hint):
        assert SECRET not in text
    assert SECRET not in repr(error.field_errors)


def test_error_redacts_token_looking_text_it_was_not_told_about() -> None:
    error = DbtCloudError(401, "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123")
    assert "abcdefghijklmnopqrstuvwxyz0123" not in str(error)
    assert "Bearer ***" in str(error)


def test_redact_masks_url_encoded_secret_but_leaves_plain_words_alone() -> None:
    secret = "a+b/c=d-long-secret"
    assert redact("x=a%2Bb%2Fc%3Dd-long-secret", [secret]) == "x=***"
    assert redact("Invalid token provided.") == "Invalid token provided."


def test_artifact_not_found_is_a_dbt_cloud_error() -> None:
    assert issubclass(ArtifactNotFound, DbtCloudError)


def test_list_runs_params_encode_status_in_as_dbt_cloud_reads_it() -> None:
    params = list_runs_params(
        7, status_in=[1, 2, 3], order_by="-id", limit=5, offset=10, include_related=["trigger"]
    )
    assert params == {
        "job_definition_id": 7,
        "order_by": "-id",
        "limit": 5,
        "offset": 10,
        "include_related": '["trigger"]',
        "status__in": "[1,2,3]",
    }
    assert "status__in" not in list_runs_params(7)
    assert "include_related" not in list_runs_params(7)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (101, 0), (10, -1)])
def test_list_runs_params_refuse_out_of_range_paging(limit: int, offset: int) -> None:
    with pytest.raises(ValueError, match=r"limit|offset"):
        list_runs_params(7, limit=limit, offset=offset)


def make_client() -> DbtCloudClient:
    return DbtCloudClient("ab123.us1.dbt.com/api/v2", SECRET, 42)


def test_run_url_prefers_href_then_builds_from_project() -> None:
    client = make_client()
    with_href = Run(id=9, job_id=1, account_id=42, status=None, status_code=None, href="https://x/")
    assert client.run_url(with_href) == "https://x/"
    built = Run(id=9, job_id=1, account_id=42, status=None, status_code=None, project_id=3)
    assert client.run_url(built) == "https://ab123.us1.dbt.com/deploy/42/projects/3/runs/9/"
    no_project = Run(id=9, job_id=1, account_id=0, status=None, status_code=None)
    assert client.run_url(no_project) == "https://ab123.us1.dbt.com/deploy/42/runs/9/"


def test_client_keeps_token_out_of_repr_and_session_headers() -> None:
    client = make_client()
    assert SECRET not in repr(client)
    assert SECRET not in repr(dict(client._session.headers))
    assert SECRET not in repr(client._session.auth)
    headers = {k: str(v) for k, v in client._session.headers.items()}
    assert headers["User-Agent"].startswith(f"dbt-cloud-action/{__version__} (+https://")
    assert headers["Accept"] == "application/json"


def test_client_refuses_a_bad_access_url_before_any_request() -> None:
    with pytest.raises(ValueError, match="must use https"):
        DbtCloudClient("http://ab123.us1.dbt.com", SECRET, 1)


def test_token_pasted_into_the_access_url_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="paths") as caught:
        DbtCloudClient(f"https://ab123.us1.dbt.com/{SECRET}", SECRET, 1)
    assert SECRET not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        DbtCloudClient("https://ab123.us1.dbt.com/x-long-secret-token", "x-long-secret-token", 1)
    assert "x-long-secret-token" not in str(caught.value)


def test_trigger_needs_a_cause_to_be_reconcilable() -> None:
    with pytest.raises(ValueError, match="cause"):
        make_client().trigger_run(1, {"git_sha": "abc"})


# ---------------------------------------------------------------------------- error body shapes


def test_a_bare_detail_body_keeps_its_message() -> None:
    """Django REST framework's own 405 (dbt-labs/dbt-cloud-openapi-spec#7) is no envelope."""
    error = error_from_response(405, {"detail": 'Method "GET" not allowed.'}, "HTTP 405")
    assert error.user_message == 'Method "GET" not allowed.'
    assert "trailing slash" in error.hint
    assert envelope_messages({"detail": "Not found."}) == ("Not found.", "")


def test_an_envelope_with_extra_and_error_code_keeps_every_message() -> None:
    """dbt-labs/dbt-jobs-as-code#91: `extra: {}` and `error_code: None` beside the envelope."""
    body = {
        **envelope(400, "The request was invalid.", {"triggers": "Additional properties..."}),
        "extra": {},
        "error_code": None,
    }
    error = error_from_response(400, body)
    assert error.field_errors == {"triggers": ["Additional properties..."]}
    assert "error code" not in str(error)
    coded = error_from_response(409, {**body, "error_code": "JOB_LOCKED"})
    assert "error code JOB_LOCKED" in str(coded)
    assert coded.field_errors == {}  # only a 400 has per-field messages in data


@pytest.mark.parametrize(
    ("payload", "message", "fields"),
    [
        (["Invalid data."], "Invalid data.", {}),
        (
            {"cause": ["This field is required."]},
            "HTTP 400",
            {"cause": ["This field is required."]},
        ),
        ({"detail": ["a", "b"]}, "a b", {}),
        (None, "HTTP 400", {}),
    ],
)
def test_django_rest_framework_bodies_are_read(
    payload: Any, message: str, fields: dict[str, list[str]]
) -> None:
    error = error_from_response(400, payload, "HTTP 400")
    assert message in error.user_message
    assert error.field_errors == fields


def test_the_ip_restriction_403_names_the_allowlist_not_rejected_fields() -> None:
    data = {"account_id": 1, "user_id": 7, "is_service_token": True, "account_access_denied": True}
    error = error_from_response(403, {**envelope(403, "Forbidden: Access denied", data)})
    assert error.field_errors == {}
    assert "Rejected fields" not in str(error)
    assert "is_service_token true" in error.user_message
    assert "IP allowlist" in error.hint
    assert DOCS_IP_RESTRICTIONS in error.hint


def test_a_401_on_the_legacy_host_names_it() -> None:
    legacy = error_from_response(
        401, envelope(401, "Invalid token."), access_url="https://cloud.getdbt.com"
    )
    assert "legacy host" in legacy.hint
    regional = error_from_response(
        401, envelope(401, "Invalid token."), access_url="https://ab123.us1.dbt.com"
    )
    assert "legacy host" not in regional.hint
    assert "another region" in regional.hint


def test_a_message_keeps_its_own_final_punctuation() -> None:
    error = error_from_response(404, envelope(404, "Please contact support!"))
    assert "support!." not in str(error)
    assert "support! " in str(error)
