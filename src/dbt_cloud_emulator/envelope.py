"""dbt Cloud's reply envelope, `{"status": {...}, "data": ...}`, for successes and errors."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

INVALID_REQUEST = "The request was invalid. Please double check the provided data and try again."
# dbt Cloud's 404, for what does not exist and for what the token may not see alike
# (dbt-labs/terraform-provider-dbtcloud#207 quotes it; #537: a missing permission is a 404).
NOT_FOUND = (
    "The requested resource was not found. Please check that you have the proper permissions. "
    "If you are seeing this in error, please contact support!"
)
# Django REST framework's default permission message (thin: no public quote from dbt Cloud).
PERMISSION_DENIED = "You do not have permission to perform this action."
# The IP restriction's 403 (docs: faqs/Troubleshooting/ip-restrictions).
ACCESS_DENIED = "Forbidden: Access denied"


class ApiError(Exception):
    """An error reply: HTTP status plus the envelope's messages (and per-field errors in data)."""

    def __init__(
        self, status: int, user_message: str, developer_message: str | None = "", data: Any = None
    ) -> None:
        super().__init__(f"{status}: {user_message}")
        self.status = status
        self.user_message = user_message
        self.developer_message = developer_message
        self.data = data

    def envelope(self) -> dict[str, Any]:
        return envelope(self.data, self.status, self.user_message, self.developer_message)


def envelope(
    data: Any,
    code: int = 200,
    user_message: str = "Success!",
    developer_message: str | None = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": {
            "code": code,
            "is_success": code < 400,
            "user_message": user_message,
            "developer_message": developer_message,
        },
        "data": data,
    }
    if extra is not None:
        body["extra"] = extra
    return body


def not_found(developer_message: str) -> ApiError:
    return ApiError(404, NOT_FOUND, developer_message)


class BareError(ApiError):
    """An error Django REST framework answers itself, outside dbt Cloud's envelope:
    `{"detail": "..."}` (a 405: dbt-labs/dbt-cloud-openapi-spec#7)."""

    def envelope(self) -> dict[str, Any]:
        return {"detail": self.user_message}


def invalid(field_errors: dict[str, list[str]]) -> ApiError:
    """A 400 with one message per rejected field in `data` and an empty developer_message, as
    dbt Cloud reports validation errors: `{"data": {"status__in": "... is not valid ..."}}`."""
    data = {name: " ".join(problems) for name, problems in field_errors.items()}
    return ApiError(400, INVALID_REQUEST, "", data)


def status_phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"
