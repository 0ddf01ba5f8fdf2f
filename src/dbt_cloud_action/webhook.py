"""dbt Cloud's webhook signature, for a relay that forwards `runId` to `run-id`.

dbt Cloud signs each webhook delivery: its `Authorization` header is the hex HMAC-SHA256 of
the raw request body, keyed with the webhook's secret (docs.getdbt.com, "Webhooks for your
jobs", "Validate a webhook", whose Python example is `hmac.new(secret, body,
hashlib.sha256).hexdigest() == auth_header`). The check is on the raw bytes (a body parsed and
dumped again is not what was signed) and in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json


def signature_of(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def is_signed(body: bytes, secret: str, signature: str) -> bool:
    """Whether `signature` (the Authorization header) signs `body` with `secret`."""
    given = signature.strip().lower().encode("ascii", "replace")
    return hmac.compare_digest(signature_of(body, secret).encode("ascii"), given)


def run_id_of(body: bytes) -> str:
    """The run the event is about (`data.runId`, a string of digits in dbt Cloud's examples),
    or "" when the body names none."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    data = event.get("data") if isinstance(event, dict) else None
    run_id = data.get("runId") if isinstance(data, dict) else None
    text = str(run_id) if isinstance(run_id, (str, int)) and not isinstance(run_id, bool) else ""
    return text if text.isascii() and text.isdigit() else ""
