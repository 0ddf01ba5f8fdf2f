"""The account's access URL, normalised once so every request goes to the same, safe base.

dbt Cloud hosts differ per account (`ab123.us1.dbt.com`, `emea.dbt.com`, ...) and
`cloud.getdbt.com` no longer serves integrations, so there is no default: users paste what they
have (a bare host, a trailing `/`, an `.../api/v2/...` URL) and get `https://host[:port]` back, or
a message saying what to paste instead.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

LEGACY_HOST = "cloud.getdbt.com"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)
_API_PATH = re.compile(r"/api/v[23](?:/.*)?", re.ASCII | re.DOTALL)
_WHERE_TO_FIND = "Copy it from Account settings in dbt Cloud, e.g. https://ab123.us1.dbt.com"


def normalize_access_url(raw: str) -> str:
    """`https://host[:port]` for a pasted access URL; ValueError saying what to fix otherwise.

    Plain http is allowed only for loopback (the emulator, a local proxy); API paths
    (`/api/v2`, `/api/v2/accounts/1/...`) are cut off; anything else that would make requests
    go somewhere unexpected (user info, query, other paths) is refused.
    """
    text = raw.strip()
    if not text:
        raise ValueError(
            "is required: set it to your account's access URL. "
            f"{_WHERE_TO_FIND}. {LEGACY_HOST} is no longer a default."
        )
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError(f"must not contain spaces or control characters. {_WHERE_TO_FIND}.")
    if not text.isascii():
        raise ValueError(
            f"must be plain ASCII (write an international host name in its xn-- form). "
            f"{_WHERE_TO_FIND}."
        )
    if "?" in text or "#" in text:
        raise ValueError(f"must not have a query string or fragment. {_WHERE_TO_FIND}.")
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
    except ValueError:
        raise ValueError(f"is not a valid URL. {_WHERE_TO_FIND}.") from None
    if parts.scheme not in {"http", "https"}:
        raise ValueError(f"must be an https:// URL. {_WHERE_TO_FIND}.")
    host = _checked_host(parts)
    port = _checked_port(parts)
    if parts.scheme == "http" and host not in _LOOPBACK_HOSTS:
        raise ValueError(
            f"must use https (plain http is only allowed for localhost and 127.0.0.1). "
            f"{_WHERE_TO_FIND}."
        )
    if parts.path not in {"", "/"} and not _API_PATH.fullmatch(parts.path):
        raise ValueError(
            "must be only the scheme and host (paths other than /api/v2/... are not accepted). "
            f"{_WHERE_TO_FIND}."
        )
    shown_host = f"[{host}]" if ":" in host else host
    default_port = 443 if parts.scheme == "https" else 80
    netloc = shown_host if port in {None, default_port} else f"{shown_host}:{port}"
    return f"{parts.scheme}://{netloc}"


def is_legacy_host(url: str) -> bool:
    """True for `cloud.getdbt.com`, which stopped serving integrations on 2026-11-01."""
    return (urlsplit(url).hostname or "") == LEGACY_HOST


def _checked_host(parts: SplitResult) -> str:
    if "@" in parts.netloc:
        raise ValueError(
            "must not contain a user name or password; pass the token in api-token. "
            f"{_WHERE_TO_FIND}."
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError(f"must contain a host name. {_WHERE_TO_FIND}.")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return host
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"must contain a valid host name. {_WHERE_TO_FIND}.")
    if len(labels) < 2 and host != "localhost":
        raise ValueError(
            "must contain a full host name such as ab123.us1.dbt.com, not just the account "
            f"prefix. {_WHERE_TO_FIND}."
        )
    return host.removesuffix(".")


def _checked_port(parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"has an invalid port. {_WHERE_TO_FIND}.") from None
    if port == 0:
        raise ValueError(f"has an invalid port. {_WHERE_TO_FIND}.")
    return port
