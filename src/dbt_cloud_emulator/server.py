"""The HTTP side: routing, auth, envelopes, faults and the request log, on a stdlib server."""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dbt_cloud_emulator.account import Account
from dbt_cloud_emulator.envelope import (
    ACCESS_DENIED,
    PERMISSION_DENIED,
    ApiError,
    BareError,
    envelope,
    invalid,
    not_found,
    status_phrase,
)
from dbt_cloud_emulator.faults import Fault, FaultBook
from dbt_cloud_emulator.queries import WHOLE_NUMBER, Query
from dbt_cloud_emulator.validation import parse_json_body, validate_trigger

log = logging.getLogger(__name__)

_PREFIX = r"/api/v2/accounts/(?P<account>\d+)/"
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(_PREFIX + pattern + "$"), endpoint)
    for method, pattern, endpoint in (
        ("GET", r"jobs/", "list_jobs"),
        ("POST", r"jobs/", "create_job"),
        ("GET", r"jobs/(?P<job>\d+)/", "get_job"),
        ("POST", r"jobs/(?P<job>\d+)/", "update_job"),
        ("POST", r"jobs/(?P<job>\d+)/run/", "trigger"),
        ("POST", r"jobs/(?P<job>\d+)/rerun/", "rerun"),
        ("GET", r"runs/", "list_runs"),
        ("GET", r"runs/(?P<run>\d+)/", "get_run"),
        ("POST", r"runs/(?P<run>\d+)/cancel/", "cancel"),
        ("GET", r"runs/(?P<run>\d+)/retry/", "retry_get"),
        ("POST", r"runs/(?P<run>\d+)/retry/", "retry_post"),
        ("GET", r"runs/(?P<run>\d+)/artifacts/", "list_artifacts"),
        ("GET", r"runs/(?P<run>\d+)/artifacts/(?P<path>[^?]+)", "get_artifact"),
    )
)
_PADDING_CHUNK = 1 << 20
EMULATED_USER_ID = 1  # the user the token stands for in the IP restriction's 403
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>{code} {phrase}</title></head>\n"
    "<body><center><h1>{code} {phrase}</h1></center><hr><center>cloudflare</center></body></html>\n"
)
_FAULT_MESSAGES = {
    429: "Too many requests. Please slow down and retry later.",
    500: "An unexpected error occurred. Please try again later.",
    502: "Bad gateway. Please try again later.",
    503: "The service is temporarily unavailable. Please try again later.",
    504: "The gateway timed out. Please try again later.",
}


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it; `status` 0 means no reply was sent (dropped)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # parsed JSON, the raw text when not JSON, None when empty
    headers: dict[str, str]  # without Authorization (and other credentials)
    endpoint: str  # a fault endpoint name, "redirect" (a 308 to add the slash) or "unknown"
    status: int
    # time.monotonic() when the request was read, in real time even under an injected clock:
    # benchmarks compare it with a client process's start (the clock is system-wide).
    received_at: float
    response_bytes: int = 0  # the reply's body (benchmarks add up what a client downloads)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection instead of sending this reply
    cut: bool = False  # close the connection halfway through the body (Content-Length says all)
    # spaces sent after `body`, a chunk at a time: JSON stays valid, and an artifact of any
    # size is served without being built whole
    padding: int = 0

    @property
    def size(self) -> int:
        """The body's bytes as Content-Length declares them."""
        return len(self.body) + self.padding


@dataclass(frozen=True)
class Route:
    endpoint: str
    params: dict[str, str]
    error: ApiError | None = None


def route(method: str, path: str) -> Route:
    """The endpoint for `path`; a path no route takes but for its missing trailing slash is
    "redirect" (as Django's APPEND_SLASH: only when the path as sent resolves to nothing)."""
    if not _matches_any(path) and _matches_any(path + "/"):
        return Route("redirect", {})
    allowed = []
    for route_method, pattern, endpoint in _ROUTES:
        match = pattern.match(path)
        if match:
            if route_method == method:
                return Route(endpoint, match.groupdict())
            allowed.append(route_method)
    if allowed:  # Django REST framework's own 405, outside the envelope
        return Route(
            "unknown",
            {"account": _account_of(path), "allow": ", ".join([*allowed, "OPTIONS"])},
            BareError(405, f'Method "{method}" not allowed.'),
        )
    return Route("unknown", {}, not_found(f"No API endpoint at {path}."))


def _account_of(path: str) -> str:
    found = re.match(_PREFIX, path)
    return found.group("account") if found else "0"


def _matches_any(path: str) -> bool:
    return any(pattern.match(path) for _, pattern, _ in _ROUTES)


def json_reply(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(status, json.dumps(body).encode(), headers=headers or {})


class ApiApp:
    """Everything between a parsed request and its reply; no sockets here."""

    def __init__(self, account: Account, token: str, faults: FaultBook) -> None:
        self.account = account
        self.token = token
        self.faults = faults
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._log: list[LoggedRequest] = []

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def calls(self, endpoint: str) -> int:
        with self._lock:
            return self._calls[endpoint]

    def handle(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        client_ip: str = "127.0.0.1",
    ) -> Reply:
        received_at = time.monotonic()
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        found = route(method, parts.path)
        with self._lock:
            self._calls[found.endpoint] += 1
            call = self._calls[found.endpoint]
        if found.endpoint == "redirect":  # no fault applies: the real endpoint comes next
            reply = _slash_redirect(parts.path, parts.query)
        else:
            reply = self._respond(
                found, call, method, query, headers=headers, raw=raw, client_ip=client_ip
            )
        entry = LoggedRequest(
            method,
            parts.path,
            query,
            _logged_body(raw),
            _without_secrets(headers),
            found.endpoint,
            reply.status,
            received_at,
            0 if reply.drop else reply.size,
        )
        with self._lock:
            self._log.append(entry)
        return reply

    def _respond(
        self,
        found: Route,
        call: int,
        method: str,
        query: Query,
        *,
        headers: dict[str, str],
        raw: bytes,
        client_ip: str,
    ) -> Reply:
        """The reply to a routed request, with the fault in force for this call applied."""
        fault = self.faults.for_call(found.endpoint, call)
        if fault and fault.kind == "late_handling":
            time.sleep(fault.delay)  # nothing is done yet: a trigger's run comes after
        reply = self._faulty(fault, found) if fault else None
        if reply is None:
            reply = self._answer(method, found, query, headers, raw, client_ip)
        if fault and fault.kind == "delay":
            time.sleep(fault.delay)  # a slow reply: the work (e.g. a new run) is already done
        if fault and fault.kind == "lose_response":
            reply = Reply(0, drop=True)
        if fault and fault.kind == "cut":
            reply = replace(reply, cut=True)
        return reply

    def _faulty(self, fault: Fault, found: Route) -> Reply | None:
        """The fault's reply, or None when the request should go on to be answered."""
        if fault.kind in ("delay", "late_handling", "lose_response", "cut"):
            return None
        if fault.kind == "drop":
            return Reply(0, drop=True)
        if fault.kind == "html":
            page = _HTML_PAGE.format(code=fault.status, phrase=status_phrase(fault.status))
            return Reply(fault.status, page.encode(), "text/html; charset=utf-8")
        if fault.kind == "not_found_after_trigger":
            return json_reply(
                not_found(
                    f"Run {found.params.get('run')} does not exist in "
                    f"account {found.params.get('account')}."
                ).envelope(),
                404,
            )
        headers = {"Retry-After": fault.retry_after_header} if fault.retry_after_header else {}
        message = _FAULT_MESSAGES.get(fault.status, status_phrase(fault.status))
        error = ApiError(fault.status, message, f"Emulated fault: HTTP {fault.status}.")
        return json_reply(error.envelope(), fault.status, headers)

    def _answer(  # noqa: PLR0917 - one request's parts
        self,
        method: str,
        found: Route,
        query: Query,
        headers: dict[str, str],
        raw: bytes,
        client_ip: str,
    ) -> Reply:
        """Django's order: an unknown path is a 404 before the view; then authentication, the
        account, the IP restrictions, the method (DRF's 405 comes after authentication) and
        the token's permissions."""
        allow = {"Allow": found.params["allow"]} if "allow" in found.params else {}
        try:
            if found.error and found.error.status == 404:
                raise found.error
            token = self._authorize(headers, int(found.params["account"]))
            self._restrict_ip(client_ip, int(found.params["account"]), token)
            if found.error:
                raise found.error
            return self._dispatch(found, query, headers, raw)
        except ApiError as error:
            return json_reply(error.envelope(), error.status, allow)

    def _restrict_ip(self, client_ip: str, account_id: int, token: str) -> None:
        """The account's IP restrictions: every request of a service token (and of a personal
        token) from an address off the allowlist gets the 403 dbt's docs quote."""
        if self.account.config.access.allows(client_ip):
            return
        raise ApiError(
            403,
            ACCESS_DENIED,
            None,
            {
                "account_id": account_id,
                "user_id": EMULATED_USER_ID,
                "is_service_token": not token.startswith("dbtu_"),
                "account_access_denied": True,
            },
        )

    def _authorize(self, headers: dict[str, str], account_id: int) -> str:
        """The request's token once it is this account's; 401/403 otherwise."""
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = value.strip().partition(" ")
        # dbt Cloud's 401s carry no developer message: `"developer_message": null`.
        if not value:
            raise ApiError(401, "Authentication credentials were not provided.", None)
        if scheme.lower() not in ("token", "bearer") or not hmac.compare_digest(
            token.strip().encode(), self.token.encode()
        ):
            raise ApiError(401, "Invalid token.", None)
        if account_id != self.account.config.account_id:
            raise ApiError(
                403,
                PERMISSION_DENIED,
                f"This token does not grant access to account {account_id}.",
            )
        return token.strip()

    def _dispatch(self, found: Route, query: Query, headers: dict[str, str], raw: bytes) -> Reply:
        account, params, endpoint = self.account, found.params, found.endpoint
        run_id = int(params["run"]) if "run" in params else 0
        job_id = int(params["job"]) if "job" in params else 0
        account.check_access(endpoint, job_id=job_id, run_id=run_id)
        if endpoint == "list_jobs":
            data, extra = account.list_jobs(query)
            return json_reply(envelope(data, extra=extra))
        if endpoint == "list_runs":
            data, extra = account.list_runs(query)
            return json_reply(envelope(data, extra=extra))
        if endpoint == "trigger":
            account.require_job(job_id)  # an unknown job is a 404 before the body is looked at
            fields = validate_trigger(_json_body(headers, raw))
            return json_reply(envelope(account.trigger(job_id, fields)))
        if endpoint == "create_job":
            return json_reply(envelope(account.create_job(_json_body(headers, raw))))
        if endpoint == "update_job":
            return json_reply(envelope(account.update_job(job_id, _json_body(headers, raw))))
        if endpoint == "get_artifact":
            path = unquote(params["path"])
            content, padding = account.artifact(run_id, path, _step(query))
            kind = "application/x-parquet" if path.endswith(".parquet") else "application/json"
            return Reply(200, content, content_type=kind, padding=padding)
        handlers: dict[str, Callable[[], Any]] = {
            "get_job": lambda: account.get_job(job_id, query),
            "rerun": lambda: account.rerun(job_id),
            "get_run": lambda: account.get_run(run_id, query),
            "cancel": lambda: account.cancel(run_id),
            "retry_get": lambda: account.failure_details(run_id),
            "retry_post": lambda: account.retry(run_id),
            "list_artifacts": lambda: account.list_artifacts(run_id),
        }
        return json_reply(envelope(handlers[endpoint]()))


def _slash_redirect(path: str, query: str) -> Reply:
    """dbt Cloud's answer to an API path without its trailing slash: 308 (method and body kept)
    to the slashed path, query string included, before authentication is looked at."""
    location = path + "/" + (f"?{query}" if query else "")
    return Reply(308, b"", "text/html; charset=utf-8", {"Location": location})


def _logged_body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")


def _without_secrets(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _SECRET_HEADERS}


def _json_body(headers: dict[str, str], raw: bytes) -> Any:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if raw.strip() and content_type and "json" not in content_type.lower():
        raise ApiError(
            415,
            f'Unsupported media type "{content_type}" in request.',
            "Send the body as JSON with `Content-Type: application/json`.",
        )
    return parse_json_body(raw)


def _step(query: Query) -> int | None:
    if "step" not in query:
        return None
    text = query["step"][-1].strip()
    if not text.isdigit():
        raise invalid({"step": [f"{WHOLE_NUMBER} step is a step index (1 = the first step)."]})
    return int(text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dbt-cloud-emulator"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection frees its thread after this long
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server: EmulatorHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = dict(self.headers.items())
        reply = self.server.app.handle(
            self.command, self.path, headers, raw, client_ip=self.client_address[0]
        )
        if reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(reply.size))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.cut:
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(reply.body)
        for sent in range(0, reply.padding, _PADDING_CHUNK):
            self.wfile.write(b" " * min(_PADDING_CHUNK, reply.padding - sent))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        """With TLS, the handshake happens on the first read, in the connection's own thread."""
        connection, address = super().get_request()
        if self.ssl_context is not None:
            connection = self.ssl_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timed out, gave up) or refused our certificate is routine
        here, not a server error."""
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            log.debug("client %s went away before the reply was sent", client_address)
            return
        super().handle_error(request, client_address)

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.app: ApiApp
        self.ssl_context: ssl.SSLContext | None = None
