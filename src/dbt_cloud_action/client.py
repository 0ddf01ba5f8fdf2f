"""The dbt Cloud Administrative API v2 client: the only module that talks HTTP to dbt Cloud.

Retries are a small explicit loop rather than urllib3's ``Retry``: ``Retry`` cannot treat a 200
with an HTML body as a failure, cannot give up after a bounded total time measured on an
injected clock, cannot sleep through an injected (interruptible) ``sleep``, and has no notion of
"the trigger's outcome is unknown, look for the run before trying again". One loop that does all
of that is easier to reason about than ``Retry`` plus exceptions to it.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Literal, NoReturn
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from dbt_cloud_action import __version__
from dbt_cloud_action.access_url import normalize_access_url
from dbt_cloud_action.api_errors import (
    EXAMPLE_ACCESS_URL,
    ErrorBody,
    hint_for_status,
    parse_error_body,
)
from dbt_cloud_action.cancellation import WorkflowCancelled
from dbt_cloud_action.lifecycle import same_commit
from dbt_cloud_action.models import STEP_LOG_CHARS, Job, Run
from dbt_cloud_action.scope import Cancellation, Scope

log = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/dbt-cloud-action/dbt-cloud-action"
USER_AGENT = f"dbt-cloud-action/{__version__} (+{PROJECT_URL})"

# Back-off: "full jitter" (delay drawn uniformly from [0, min(cap, base * 2**(n-1))]), the
# variant that spreads a crowd of clients best (many CI jobs of one account hitting the same
# rate limit or the same outage). A 1 s base gives fast recovery from a blip; the 20 s cap keeps
# a retry coming at least every 20 s during a longer outage, well inside the default 60 s budget.
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 20.0
# A server's Retry-After is honoured but capped, so a bogus "Retry-After: 86400" cannot park the
# action; when even the capped wait does not fit in the remaining budget the client gives up.
RETRY_AFTER_CAP_SECONDS = 60.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Redirects a read follows, to the same scheme, host and port only (dbt Cloud answers 308 to a
# path without its trailing slash); anything else comes back as the 3xx it is.
FOLLOWED_REDIRECTS = frozenset({301, 302, 307, 308})
MAX_REDIRECTS = 5

DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
# The shortest time a request is given when its deadline is nearly reached: one last attempt.
MIN_REQUEST_SECONDS = 0.5
# How often the runs are listed for a run-creating POST cut by a cancel (see `_see_through`),
# and what of the clean-up is kept for cancelling the run once found.
SEE_THROUGH_POLL_SECONDS = 0.5
CANCEL_RESERVE_SECONDS = 1.0
# A run that was just triggered can 404 for a moment before reads see it.
FRESH_RUN_NOT_FOUND_SECONDS = 15.0
# After an ambiguous trigger, wait at least this long before looking for the run, so a run the
# server was still committing when the connection broke has time to show up in the list.
TRIGGER_SETTLE_SECONDS = 2.0
# Runs created up to this long before the first trigger attempt (by the runner's clock) still
# count as ours: the runner's and dbt Cloud's clocks may disagree a little.
RECONCILE_CLOCK_SKEW = timedelta(minutes=2)
RECONCILE_LOOKBACK_RUNS = 10
# Jobs per page of `GET jobs/` (dbt Cloud's most) and the most one listing gathers.
JOBS_PAGE_SIZE = 100
MAX_LISTED_JOBS = 1000
# Bodies are read in chunks, never whole: a JSON answer is parsed in memory, so it is refused
# past MAX_ANSWER_BYTES (the largest dbt Cloud sends is a run with its steps, each step's whole
# log included: megabytes on a long run); an artifact is streamed to a file the caller gives,
# refused past the caller's cap, by default MAX_ARTIFACT_BYTES (a large project's catalog.json
# or manifest.json runs to hundreds of megabytes).
MAX_ANSWER_BYTES = 32 << 20
MAX_ARTIFACT_BYTES = 1 << 30
DOWNLOAD_CHUNK_BYTES = 64 << 10

# Defence in depth for tokens the client was not told about: an auth scheme followed by a long
# credential-looking word, and dbt Cloud's service/personal token prefixes.
_AUTH_VALUE = re.compile(r"(?i)\b(token|bearer)([\s=:]+)[A-Za-z0-9_\-.~+/]{16,}=*")
_DBT_TOKEN = re.compile(r"\bdbt[cu]_[A-Za-z0-9_\-]{8,}")
_RETRY_AFTER_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def byte_size(count: int) -> str:
    """`32 MiB`, `1.5 GiB`, `900 bytes`: a size as a person reads it."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with the secrets (also URL-encoded) and anything token-like masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    text = _AUTH_VALUE.sub(r"\1\2***", text)
    return _DBT_TOKEN.sub("***", text)


class DbtCloudError(Exception):
    """Any failure talking to dbt Cloud, with what the API said and what the user should do next.

    Every text field is redacted on the way in (the given `secrets`, plus anything that looks
    like a token), so the exception can be printed, logged and chained anywhere without leaking
    the API token, even when the server echoes it.
    """

    def __init__(
        self,
        http_status: int | None,
        user_message: str,
        developer_message: str = "",
        field_errors: Mapping[str, Sequence[str]] | None = None,
        hint: str = "",
        *,
        secrets: Sequence[str] = (),
    ) -> None:
        def clean(text: str) -> str:
            return " ".join(redact(text, secrets).split())

        self.http_status = http_status
        self.user_message = clean(user_message)
        self.developer_message = clean(developer_message)
        self.field_errors: dict[str, list[str]] = {
            clean(name): [clean(msg) for msg in messages]
            for name, messages in (field_errors or {}).items()
        }
        self.hint = clean(hint)
        super().__init__(self._paragraph())

    def _paragraph(self) -> str:
        status = f"HTTP {self.http_status}" if self.http_status is not None else "no HTTP answer"
        parts = [_sentence(f"dbt Cloud API error ({status}): {self.user_message}")]
        if self.field_errors:
            rejected = "; ".join(
                f"{k}: {' '.join(v).rstrip('.')}" for k, v in self.field_errors.items()
            )
            parts.append(f"Rejected fields: {rejected}.")
        if self.developer_message and self.developer_message != self.user_message:
            parts.append(_sentence(f"Details: {self.developer_message}"))
        if self.hint:
            parts.append(f"What to do: {self.hint}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(http_status={self.http_status!r}, message={str(self)!r})"


def _sentence(text: str) -> str:
    """`text` ending in one full stop (or its own `!` / `?`)."""
    return text if text.endswith(("!", "?", ".")) else f"{text}."


class DbtCloudUnavailable(DbtCloudError):
    """dbt Cloud did not answer usefully (no answer, 429, 5xx, a broken body) for a whole retry
    budget: an outage, which says nothing about the run itself."""


class OutcomeUnknown(DbtCloudError):
    """A POST that creates a run may or may not have taken effect: its answer was lost."""


class ArtifactNotFound(DbtCloudError):
    """The artifact does not exist (yet): artifacts can appear after the run ends, or never."""


class AnswerTooLarge(DbtCloudError):
    """dbt Cloud's answer was larger than the client reads: asking again would not shrink it."""


class ArtifactTooLarge(AnswerTooLarge):
    """The artifact is larger than the download's cap: what was written of it is partial."""


@dataclass(frozen=True)
class RetryDetails:
    """What `GET runs/{id}/retry/` says about a failed run: where it failed, what it skipped."""

    failed_step: str
    skipped_steps: tuple[str, ...] = ()


# ---------------------------------------------------------------------------- retry policy


def backoff_delay(retry_number: int, rand: float) -> float:
    """Seconds before retry number `retry_number` (1-based), full jitter; `rand` is in [0, 1)."""
    exponent = min(max(retry_number, 1) - 1, 30)
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0**exponent) * rand


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), capped; None when absent or bogus."""
    if value is None:
        return None
    text = value.strip()
    if _RETRY_AFTER_SECONDS.fullmatch(text):
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_CAP_SECONDS)


# ---------------------------------------------------------------------------- error mapping


def error_from_response(
    http_status: int,
    payload: object,
    reason: str = "",
    *,
    location: str = "",
    secrets: Sequence[str] = (),
    request: str = "",
    access_url: str = "",
) -> DbtCloudError:
    """The typed error for a definite HTTP answer (a 3xx, a 4xx, a 5xx not worth retrying),
    whatever the shape of its body (`api_errors.parse_error_body`); `request`
    ("POST /jobs/5/run/") names what was redirected, `access_url` what the hint checks."""
    body = parse_error_body(payload, http_status)
    user_message = body.user_message
    if not user_message and 300 <= http_status < 400:
        user_message = f"{request or 'the request'} was redirected ({reason or http_status})"
    if not user_message:
        user_message = f"{reason or f'HTTP {http_status}'} (no dbt Cloud error message)"
    if body.access_denied:
        facts = ", ".join(f"{k} {v}" for k, v in body.access_denied.items())
        user_message = f"{user_message.rstrip('.')} ({facts})"
    developer_message = body.developer_message
    if body.error_code:
        developer_message = (
            f"{developer_message.rstrip('.')} (error code {body.error_code})".lstrip()
        )
    hint = hint_for_status(http_status, body, location=location, access_url=access_url)
    return DbtCloudError(
        http_status, user_message, developer_message, body.field_errors, hint, secrets=secrets
    )


def envelope_messages(payload: object) -> tuple[str, str]:
    """(user_message, developer_message) of an error answer of any shape (the envelope, or a
    bare `{"detail": ...}`); empty strings when absent."""
    body = parse_error_body(payload, 0)
    return body.user_message, body.developer_message


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


# ---------------------------------------------------------------------------- transport


@dataclass
class _Download:
    """A 2xx body streamed into `into` (rewound for each attempt, so a download that broke off
    starts again), at most `limit` bytes."""

    into: BinaryIO
    limit: int

    def receive(self, chunks: Iterator[bytes]) -> int:
        self.into.seek(0)
        self.into.truncate()
        written = 0
        for chunk in chunks:
            self.into.write(chunk)
            written += len(chunk)
        return written


# "optional_list": a list whose `data: null` means an empty one (the artifact list of a run that
# produced none: dbt-labs/dbt-mcp#791), not a broken answer to retry.
_Shape = Literal["object", "list", "optional_list"] | _Download


class _OverLimit(Exception):
    """A body passed its byte limit while it was read."""


class _PastDeadline(Exception):
    """A body was still arriving when its scope's deadline came."""


def _chunks(response: requests.Response, limit: int, scope: Scope) -> Iterator[bytes]:
    """The body (decoded, as requests hands it over) in chunks; `_OverLimit` as soon as it
    declares or reaches more than `limit` bytes, before the chunk past it is handed on, and
    `_PastDeadline` once the scope's deadline passes (a read timeout bounds each read, not a
    body trickling in, nor a large one streaming)."""
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _OverLimit
    seen = 0
    for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
        seen += len(chunk)
        if seen > limit:
            raise _OverLimit
        if scope.left() <= 0:
            raise _PastDeadline
        yield chunk


@dataclass(frozen=True)
class _Attempt:
    """The outcome of one HTTP exchange, classified for the retry loop."""

    status: int | None  # None: no HTTP answer at all
    payload: Any = None  # the envelope's data (or raw bytes) when usable, else the parsed body
    problem: str = ""  # empty when the answer is usable; else what went wrong, for logs/errors
    retry_after: float | None = None
    reached_server: bool = True  # False only when the request surely never left the runner
    host_unknown: bool = False  # DNS says the host does not exist: retrying cannot help
    reason: str = ""
    location: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def definite_status(self) -> int | None:
        """The HTTP status when it settles the matter (a 3xx/4xx/5xx not worth retrying); None
        when retrying may help (no answer, a retryable status, an unusable 2xx body)."""
        if self.status is None or self.status in RETRYABLE_STATUSES or self.status < 300:
            return None
        return self.status

    @property
    def may_have_acted(self) -> bool:
        """The server may have processed the request (it was sent and not refused as 429)."""
        return self.reached_server and self.status != 429


@dataclass
class _Budget:
    """One call's total retry time, on the injected monotonic clock."""

    deadline: float
    started: float
    attempts: int = 0


class _TokenAuth(requests.auth.AuthBase):
    """Sets `Authorization: Token <t>` per request; as session auth it also stops requests from
    consulting ~/.netrc, and keeps the token out of `session.headers`."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Token {self._token}"
        return request

    def __repr__(self) -> str:
        return "_TokenAuth(***)"


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the scheme's default port filled in; None when unparsable."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


class _SameOriginSession(requests.Session):
    """requests' own redirect handling (relative Locations, max_redirects, rebuild_method),
    narrowed: only a GET follows 301/302/307/308, and only to the same scheme, host and port.
    Any other redirect is handed back as the 3xx answer it is, so the token never travels to
    another host, and a POST (a trigger creates a run) is never re-sent to another address."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None or resp.status_code not in FOLLOWED_REDIRECTS:
            return None
        if resp.request.method != "GET":
            return None
        here = _origin(resp.url)
        return target if here is not None and _origin(urljoin(resp.url, target)) == here else None

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """Keep our token on a same-origin hop and never take credentials from ~/.netrc (which
        requests' default would consult); drop it if a hop ever left the origin."""
        if _origin(response.request.url or "") != _origin(prepared_request.url or ""):
            prepared_request.headers.pop("Authorization", None)


class _TrackedAdapter(HTTPAdapter):
    """requests' adapter, with every socket it opens handed to `on_connect`, so that a cancel
    can cut a request blocked in another thread (see scope.py)."""

    def __init__(self, on_connect: Callable[[Any], None]) -> None:
        self._on_connect = on_connect
        self._tracked: set[int] = set()  # the managers whose pools are ours (by id)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self._track(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Behind HTTP(S)_PROXY, requests' pools come from a proxy manager: tracked alike."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        self._track(manager)
        return manager

    def _track(self, manager: Any) -> None:
        if id(manager) in self._tracked:
            return
        self._tracked.add(id(manager))
        on_connect = self._on_connect

        class Connection(urllib3.connection.HTTPConnection):
            def connect(self) -> None:
                super().connect()
                on_connect(self.sock)

        class TlsConnection(urllib3.connection.HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                on_connect(self.sock)

        class Pool(urllib3.HTTPConnectionPool):
            ConnectionCls = Connection

        class TlsPool(urllib3.HTTPSConnectionPool):
            ConnectionCls = TlsConnection

        manager.pool_classes_by_scheme = {"http": Pool, "https": TlsPool}


class DbtCloudClient:
    """dbt Cloud API v2 for one account, over one `requests.Session`.

    `timeout` is the read timeout (seconds of silence from the server) per request and
    `connect_timeout` the time to open a connection; `max_retry_seconds` bounds the total time
    one call spends retrying (the last request may add up to one timeout). `scope` is the
    step's cancel and the phase's deadline (scope.py): every call gives up by that deadline, no
    request waits past it, a cancel cuts the request in flight and stops the retries, and the
    back-off sleeps through it. The owner may replace `scope` between calls, as its run moves
    from one phase to the next. `sleep` and `clock` are injected so tests can count and measure;
    `wall_clock` (for Retry-After dates and matching runs' `created_at`) and `jitter` likewise.
    `max_answer_bytes` bounds a JSON answer (`AnswerTooLarge` past it) and `step_log_chars`
    the end of each run step's log kept (docs/artifacts.md, Memory); tests lower them.
    """

    def __init__(
        self,
        access_url: str,
        token: str,
        account_id: int,
        *,
        timeout: float = 10.0,
        max_retry_seconds: float = 60.0,
        scope: Scope | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        step_log_chars: int = STEP_LOG_CHARS,
    ) -> None:
        try:
            self.access_url = normalize_access_url(access_url)
        except ValueError as exc:  # the message quotes the URL, which might hold the token
            raise ValueError(redact(str(exc), (token,))) from None
        self.account_id = account_id
        self.timeout = (connect_timeout, timeout)
        self.max_retry_seconds = max_retry_seconds
        self.max_answer_bytes = max_answer_bytes
        self.step_log_chars = step_log_chars
        self._secrets = (token,)
        self._scope = scope or Scope(Cancellation())
        self._injected_sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._jitter = jitter
        self._base = f"{self.access_url}/api/v2/accounts/{account_id}"
        # a POST whose answer names a run's state (creating or cancelling it) is in flight: a
        # cancel cuts it only after its grace (see scope.py)
        self._awaited = False
        self._session = self._new_session()

    def _new_session(self) -> _SameOriginSession:
        session = _SameOriginSession()
        session.mount("http://", _TrackedAdapter(self._track))
        session.mount("https://", _TrackedAdapter(self._track))
        session.max_redirects = MAX_REDIRECTS
        session.auth = _TokenAuth(self._secrets[0])
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        return session

    @property
    def scope(self) -> Scope:
        return self._scope

    @scope.setter
    def scope(self, scope: Scope) -> None:
        """A clean-up gets connections of its own: the cancel cuts the ones opened before it
        (some only after a grace), which must not cut the clean-up's requests."""
        if scope.cleanup and not self._scope.cleanup:
            self._session.close()
            self._session = self._new_session()
        self._scope = scope

    def __repr__(self) -> str:
        return f"DbtCloudClient(access_url={self.access_url!r}, account_id={self.account_id})"

    def _track(self, sock: Any) -> None:
        if not self.scope.cleanup:  # the clean-up's own requests are bounded by its deadline
            self.scope.cancellation.track(sock, lambda: self._awaited)

    def _sleep(self, seconds: float) -> None:
        if self._injected_sleep is not None:
            self._injected_sleep(seconds)
        else:
            self.scope.sleep(seconds)

    def __enter__(self) -> DbtCloudClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ endpoints

    def get_job(self, job_id: int) -> Job:
        return Job.from_api(self._object("GET", f"/jobs/{job_id}/"))

    def get_run(
        self, run_id: int, include_related: Sequence[str] = (), *, fresh: bool = False
    ) -> Run:
        """The run; `fresh=True` (right after a trigger) tolerates a 404 for a short while.
        With `run_steps`, each step keeps the last `step_log_chars` of its log; an answer past
        `max_answer_bytes` (the steps' logs of a long run) is `AnswerTooLarge`."""
        grace = FRESH_RUN_NOT_FOUND_SECONDS if fresh else 0.0
        params = _related(include_related)
        data = self._object("GET", f"/runs/{run_id}/", params, not_found_grace=grace)
        return Run.from_api(data, log_chars=self.step_log_chars)

    def list_runs(
        self,
        job_id: int,
        *,
        status_in: Sequence[int] = (),
        order_by: str = "-id",
        limit: int = 10,
        offset: int = 0,
        include_related: Sequence[str] = (),
    ) -> list[Run]:
        """The job's runs, newest first by default."""
        params = list_runs_params(
            job_id,
            status_in=status_in,
            order_by=order_by,
            limit=limit,
            offset=offset,
            include_related=include_related,
        )
        return self._run_list(params)

    def list_jobs(
        self,
        *,
        name_contains: str | None = None,
        project_ids: Sequence[int] = (),
        environment_id: int | None = None,
        include_related: Sequence[str] = ("environment",),
        max_jobs: int = MAX_LISTED_JOBS,
    ) -> list[Job]:
        """The account's jobs matching every filter given, oldest first, page after page until
        a short page or `max_jobs` (so a caller can tell a cut-off list: `len == max_jobs`).

        `name_contains` is dbt Cloud's `name__icontains` (any case, any part of the name);
        `project_ids` is `project_id` for one id, `project_id__in` for several.
        """
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be 1 or more, got {max_jobs}")
        jobs: list[Job] = []
        while len(jobs) < max_jobs:
            limit = min(JOBS_PAGE_SIZE, max_jobs - len(jobs))
            params = list_jobs_params(
                name_contains=name_contains,
                project_ids=project_ids,
                environment_id=environment_id,
                include_related=include_related,
                limit=limit,
                offset=len(jobs),
            )
            data: list[Any] = self._request("GET", "/jobs/", params, shape="list")
            page = [Job.from_api(d) for d in data if isinstance(d, Mapping)]
            jobs += page
            if len(page) < limit:
                break
        return jobs[:max_jobs]

    def trigger_run(
        self, job_id: int, body: Mapping[str, Any], *, unique_cause: bool = False
    ) -> Run:
        """Trigger the job once, even when an answer is lost.

        The POST is not idempotent: when its outcome is unknown (no answer, a 5xx, an unusable
        body) the client looks for the run it may have created (the job's newest runs with this
        exact `cause` and this `git_sha` when one was sent) and triggers again only when there
        is none. A `cause` that is not `unique_cause` (the user's own text, which other runs may
        share) must also be on a run created after the first attempt. A definite 4xx fails at
        once.
        """
        cause = body.get("cause")
        if not isinstance(cause, str) or not cause:
            raise ValueError("trigger_run needs a non-empty 'cause' (dbt Cloud requires one)")
        git_sha = body.get("git_sha") or None
        since = None if unique_cause else self._wall_clock() - RECONCILE_CLOCK_SKEW
        budget = self._budget()
        path = f"/jobs/{job_id}/run/"
        ambiguous = False

        def find() -> Run | None:
            return self._find_triggered_run(job_id, cause, git_sha, since, self._budget())

        while True:
            try:
                attempt = self._awaited_attempt(budget, path, body)
            except WorkflowCancelled as cancel:  # the cancel came before it was sent
                return self._see_through(cancel, find) if ambiguous else _reraise(cancel)
            if attempt.ok:
                return Run.from_api(attempt.payload)
            if attempt.definite_status is not None:
                raise self._definite_error(attempt.definite_status, attempt, f"POST {path}")
            ambiguous = ambiguous or attempt.may_have_acted
            delay = self._delay(budget, attempt)
            if attempt.may_have_acted:
                delay = max(delay, TRIGGER_SETTLE_SECONDS)
            try:
                self.scope.check()
                self._wait_or_give_up(
                    budget, attempt, "POST", path, delay, outcome_unknown=ambiguous
                )
                if attempt.may_have_acted:
                    found = self._find_triggered_run(job_id, cause, git_sha, since, budget)
                    if found is not None:
                        log.info("trigger answer was lost; found the run it created: %d", found.id)
                        return found
            except WorkflowCancelled as cancel:
                if ambiguous and self.scope.cancelled:
                    return self._see_through(cancel, find)
                raise

    def cancel_run(self, run_id: int) -> Run:
        """Cancel the run; safe to repeat, so retried like a GET. Its answer is the run's state
        after the cancel, so a cancel of the step waits for it (`_answer_awaited`)."""
        with self._answer_awaited():
            return Run.from_api(self._object("POST", f"/runs/{run_id}/cancel/"))

    def retry_run(self, failed: Run) -> Run:
        """Retry a failed run from its point of failure. The POST is repeated only when surely
        unsent; when its answer is lost, the retry's run is looked for among the job's newest
        runs (`find_retry_run`), and `OutcomeUnknown` is raised when it is not there."""
        path = f"/runs/{failed.id}/retry/"
        budget = self._budget()
        while True:
            attempt = self._awaited_attempt(budget, path, None)
            if attempt.ok:
                return Run.from_api(attempt.payload)
            if attempt.definite_status is not None:
                raise self._definite_error(attempt.definite_status, attempt, f"POST {path}")
            if attempt.may_have_acted:
                break
            self._wait_or_give_up(budget, attempt, "POST", path, self._delay(budget, attempt))
        try:
            self.scope.check()
            self._sleep(TRIGGER_SETTLE_SECONDS)
            found = self.find_retry_run(failed)
        except WorkflowCancelled as cancel:
            if self.scope.cancelled:
                return self._see_through(cancel, lambda: self.find_retry_run(failed))
            raise
        if found is None:
            self._give_up(budget, attempt, "POST", path, outcome_unknown=True)
        log.info("retry answer was lost; found the run it created: %d", found.id)
        return found

    def _awaited_attempt(
        self, budget: _Budget, path: str, body: Mapping[str, Any] | None
    ) -> _Attempt:
        """One POST whose answer names the run it acts on (a trigger, a retry, a cancel): a
        cancel cuts it only after its grace (scope.py), so the answer can still tell."""
        with self._answer_awaited():
            return self._attempt(budget, "POST", path, json_body=body)

    @contextlib.contextmanager
    def _answer_awaited(self) -> Iterator[None]:
        self._awaited = True
        try:
            yield
        finally:
            self._awaited = False

    def _see_through(self, cancel: WorkflowCancelled, find: Callable[[], Run | None]) -> Run:
        """A run-creating POST whose answer the cancel cut: its run, looked for (by the key in
        its `cause`) for as long as the clean-up leaves time to cancel it; else the cancel."""
        cleanup = self.scope.for_cleanup()
        self.scope = cleanup.until(cleanup.deadline - CANCEL_RESERVE_SECONDS)
        try:
            while True:
                try:
                    found = find()
                except DbtCloudError:
                    found = None
                if found is not None:
                    log.info("cancelled while creating a run; found the run: %d", found.id)
                    return found
                if self.scope.left() < SEE_THROUGH_POLL_SECONDS:
                    raise cancel
                self._sleep(SEE_THROUGH_POLL_SECONDS)
        finally:
            self.scope = cleanup

    def rerun_job(self, job_id: int) -> Run:
        """Retry the job's last failed run, or trigger a new one (retried only when unsent)."""
        return Run.from_api(self._object("POST", f"/jobs/{job_id}/rerun/", repeat=False))

    def get_retry_details(self, run_id: int) -> RetryDetails:
        data = self._object("GET", f"/runs/{run_id}/retry/")
        skipped = data.get("skipped_steps")
        return RetryDetails(
            failed_step=_text(data.get("failed_step")),
            skipped_steps=tuple(s for s in skipped if isinstance(s, str))
            if isinstance(skipped, list)
            else (),
        )

    def list_artifacts(self, run_id: int) -> list[str]:
        """The paths of the run's artifacts (its last step's: dbt Cloud ignores `step` here);
        `data: null`, dbt Cloud's answer for a run that produced none, is an empty list at once."""
        data: list[Any] = self._request("GET", f"/runs/{run_id}/artifacts/", shape="optional_list")
        return [p for p in data if isinstance(p, str)]

    def download_artifact(
        self, run_id: int, path: str, into: BinaryIO, *, max_bytes: int, step: int | None = None
    ) -> int:
        """Stream the artifact into `into` in chunks, so no more than a chunk of it is ever in
        memory; returns its size. A download that breaks off is retried like any GET, `into`
        rewound first. `ArtifactNotFound` on 404, so callers can poll for late ones;
        `ArtifactTooLarge` once it passes `max_bytes` (what `into` holds is then partial)."""
        params = {"step": step} if step is not None else None
        where = f"/runs/{run_id}/artifacts/{quote(path.lstrip('/'))}"
        try:
            size: int = self._request("GET", where, params, shape=_Download(into, max_bytes))
        except AnswerTooLarge as exc:
            raise ArtifactTooLarge(
                exc.http_status,
                f"artifact {path!r} of run {run_id} is larger than {byte_size(max_bytes)}, "
                "the most this action downloads of one artifact",
                hint="Download it from the run's Artifacts in dbt Cloud, or raise the cap with "
                "the step's DBT_CLOUD_ACTION_MAX_ARTIFACT_MB (docs/artifacts.md, Memory).",
                secrets=self._secrets,
            ) from None
        except DbtCloudError as exc:
            if exc.http_status == 404:
                raise ArtifactNotFound(
                    404,
                    f"artifact {path!r} of run {run_id} was not found",
                    exc.developer_message,
                    hint="Artifacts can appear a little after a run ends, and some steps "
                    "produce none: poll again briefly, or continue without it.",
                    secrets=self._secrets,
                ) from None
            raise
        return size

    def run_url(self, run: Run) -> str:
        """Deep link to the run in dbt Cloud: the API's `href` when present, else built."""
        if run.href:
            return run.href
        account = run.account_id or self.account_id
        if run.project_id is not None:
            return f"{self.access_url}/deploy/{account}/projects/{run.project_id}/runs/{run.id}/"
        return f"{self.access_url}/deploy/{account}/runs/{run.id}/"

    # ------------------------------------------------------------------ reconciliation

    def _run_list(self, params: Mapping[str, Any], budget: _Budget | None = None) -> list[Run]:
        data: list[Any] = self._request("GET", "/runs/", params, shape="list", budget=budget)
        return [
            Run.from_api(d, log_chars=self.step_log_chars) for d in data if isinstance(d, Mapping)
        ]

    def find_triggered_run(
        self, job_id: int, body: Mapping[str, Any], since: datetime | None
    ) -> Run | None:
        """The run a trigger may have created though its answer never came (the workflow was
        cancelled mid-request), matched as `trigger_run` matches it: `since` is when the
        trigger was sent, None for a unique cause."""
        git_sha = body.get("git_sha") or None
        return self._find_triggered_run(
            job_id,
            str(body.get("cause", "")),
            git_sha,
            None if since is None else since - RECONCILE_CLOCK_SKEW,
            self._budget(),
        )

    def find_retry_run(self, failed: Run) -> Run | None:
        """The run a retry of `failed` created, among the job's newest runs: newer than the
        failed run and naming it in `retrying_run_id`, or (when dbt Cloud leaves that field
        empty) with the failed run's cause and commit."""

        def retries_it(run: Run) -> bool:
            if run.id <= failed.id:
                return False
            if run.retrying_run_id is not None:
                return run.retrying_run_id == failed.id
            return run.cause == failed.cause and run.git_sha == failed.git_sha

        runs = self._recent_runs_for_reconciliation(failed.job_id, self._budget(), "retry")
        return next((run for run in runs if retries_it(run)), None)

    def _find_triggered_run(
        self, job_id: int, cause: str, git_sha: str | None, since: datetime | None, budget: _Budget
    ) -> Run | None:
        """Our run among the job's newest runs, or None; never guesses when it cannot look."""
        for run in self._recent_runs_for_reconciliation(job_id, budget, "trigger"):
            if (
                run.cause == cause
                and (git_sha is None or same_commit(run.git_sha, git_sha))
                and (
                    since is None
                    or (run.created_at is not None and _aware(run.created_at) >= since)
                )
            ):
                return run
        return None

    def _recent_runs_for_reconciliation(self, job_id: int, budget: _Budget, what: str) -> list[Run]:
        params = list_runs_params(
            job_id, order_by="-id", limit=RECONCILE_LOOKBACK_RUNS, include_related=("trigger",)
        )
        try:
            return self._run_list(params, budget)
        except DbtCloudError as exc:
            raise OutcomeUnknown(
                exc.http_status,
                f"the {what}'s answer was lost and the job's runs could not be listed to "
                f"check whether it created a run ({exc.user_message})",
                exc.developer_message,
                hint=_OUTCOME_UNKNOWN,
                secrets=self._secrets,
            ) from exc

    # ------------------------------------------------------------------ request loop

    def _budget(self) -> _Budget:
        """One call's retry time: its own budget, never past the scope's deadline."""
        now = self._clock()
        return _Budget(deadline=now + min(self.max_retry_seconds, self.scope.left()), started=now)

    def _object(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        repeat: bool = True,
        not_found_grace: float = 0.0,
    ) -> Mapping[str, Any]:
        data: Mapping[str, Any] = self._request(
            method, path, params, repeat=repeat, not_found_grace=not_found_grace
        )
        return data

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        shape: _Shape = "object",
        repeat: bool = True,
        not_found_grace: float = 0.0,
        budget: _Budget | None = None,
    ) -> Any:
        """One call with retries: the envelope's `data` in the expected `shape` (or the raw bytes).

        `repeat=False` (a POST that creates something) retries only when the request surely had
        no effect (never sent, or refused with 429).
        """
        budget = budget or self._budget()
        while True:
            attempt = self._attempt(budget, method, path, params, shape=shape)
            if attempt.ok:
                return attempt.payload
            failed = attempt.definite_status
            in_grace = failed == 404 and self._clock() - budget.started < not_found_grace
            if failed is not None and not in_grace:
                raise self._definite_error(failed, attempt, f"{method} {path}")
            if not repeat and attempt.may_have_acted:
                self._give_up(budget, attempt, method, path, outcome_unknown=True)
            self._wait_or_give_up(budget, attempt, method, path, self._delay(budget, attempt))

    def _attempt(
        self,
        budget: _Budget,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        json_body: Mapping[str, Any] | None = None,
        shape: _Shape = "object",
    ) -> _Attempt:
        self.scope.check()  # after a cancel, nothing new is sent (the clean-up's own calls aside)
        budget.attempts += 1
        attempt = self._exchange(method, path, params, json_body, shape)
        log.debug(
            "%s %s -> %s (attempt %d)",
            method,
            path,
            attempt.status if attempt.ok else redact(attempt.problem, self._secrets),
            budget.attempts,
        )
        return attempt

    def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        shape: _Shape,
    ) -> _Attempt:
        connect, read = self.timeout
        left = max(MIN_REQUEST_SECONDS, self.scope.left())  # no request outlives the deadline
        try:
            response = self._session.request(
                method,
                f"{self._base}{path}",
                params=params,
                json=json_body,
                timeout=(min(connect, left), min(read, left)),
                allow_redirects=True,  # GETs to the same origin only: see _SameOriginSession
                stream=True,  # the body is read by _classify, in chunks and bounded
            )
        except requests.TooManyRedirects as exc:
            last = exc.response
            return _Attempt(
                last.status_code if last is not None else None,
                problem=f"more than {MAX_REDIRECTS} redirects",
                reason=f"more than {MAX_REDIRECTS} redirects",
                location=last.headers.get("Location", "") if last is not None else "",
            )
        except requests.ConnectTimeout:
            return _Attempt(None, problem="could not connect in time", reached_server=False)
        except requests.ReadTimeout:
            return _Attempt(None, problem=f"no answer within {min(read, left):g} s (read timeout)")
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                return _Attempt(
                    None,
                    problem=_connect_failure(exc),
                    reached_server=False,
                    host_unknown=_host_unknown(exc),
                )
            return _Attempt(None, problem="the connection was dropped before an answer arrived")
        except requests.RequestException as exc:
            return _Attempt(None, problem=f"the answer could not be read ({type(exc).__name__})")
        return self._classify(response, shape)

    def _classify(self, response: requests.Response, shape: _Shape) -> _Attempt:
        status = response.status_code
        ok = 200 <= status < 300
        download = shape if ok and isinstance(shape, _Download) else None
        limit = download.limit if download is not None else self.max_answer_bytes
        body = bytearray()
        try:
            if download is not None:
                return _Attempt(status, download.receive(_chunks(response, limit, self.scope)))
            for chunk in _chunks(response, limit, self.scope):
                body += chunk
        except _OverLimit:
            if ok:
                raise self._too_large(response, limit) from None
            body.clear()  # an error page that large is not dbt Cloud's envelope: not parsed
        except requests.RequestException as exc:
            return _Attempt(
                None, problem=f"the answer broke off while it was read ({type(exc).__name__})"
            )
        except _PastDeadline:
            return _Attempt(None, problem="the answer was still arriving when time was up")
        finally:
            response.close()  # back to the pool once read whole; else the connection is closed
        try:
            payload: Any = json.loads(body) if body else None
        except (ValueError, RecursionError):
            payload = None
        if ok:
            data = payload.get("data") if isinstance(payload, Mapping) else None
            if shape == "optional_list" and isinstance(payload, Mapping) and "data" in payload:
                data = [] if data is None else data
            if isinstance(data, Mapping if shape == "object" else list):
                return _Attempt(status, data)
            content_type = response.headers.get("Content-Type", "no content type")
            wanted = "object" if shape == "object" else "list"
            what = "a non-JSON body" if payload is None else f"no {wanted} in the JSON envelope"
            return _Attempt(status, payload, f"HTTP {status} with {what} ({content_type})")
        reason = f"HTTP {status} {response.reason or ''}".strip()
        return _Attempt(
            status,
            payload,
            problem=reason,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), self._wall_clock()),
            reason=reason,
            location=response.headers.get("Location", ""),
        )

    def _too_large(self, response: requests.Response, limit: int) -> AnswerTooLarge:
        what = f"{response.request.method} {urlsplit(response.url).path}"
        return AnswerTooLarge(
            response.status_code,
            f"the answer to {what} is larger than {byte_size(limit)}, the most this action reads",
            hint="Look at the run in dbt Cloud; the action reads no more of such an answer.",
            secrets=self._secrets,
        )

    def _definite_error(self, status: int, attempt: _Attempt, request: str) -> DbtCloudError:
        return error_from_response(
            status,
            attempt.payload,
            attempt.reason,
            location=attempt.location,
            secrets=self._secrets,
            request=request,
            access_url=self.access_url,
        )

    def _delay(self, budget: _Budget, attempt: _Attempt) -> float:
        if attempt.retry_after is not None:
            return attempt.retry_after
        return backoff_delay(budget.attempts, self._jitter())

    def _wait_or_give_up(
        self,
        budget: _Budget,
        attempt: _Attempt,
        method: str,
        path: str,
        delay: float,
        *,
        outcome_unknown: bool = False,
    ) -> None:
        if attempt.host_unknown or self._clock() + delay > budget.deadline:
            self._give_up(budget, attempt, method, path, outcome_unknown=outcome_unknown)
        log.debug("%s %s: retrying in %.2f s (attempt %d)", method, path, delay, budget.attempts)
        self._sleep(delay)

    def _give_up(
        self, budget: _Budget, last: _Attempt, method: str, path: str, *, outcome_unknown: bool
    ) -> NoReturn:
        elapsed = self._clock() - budget.started
        problem = last.problem
        dbt_message, _ = envelope_messages(last.payload)
        tried = f"{budget.attempts} attempt(s) over {elapsed:.0f} s"
        if outcome_unknown:
            message = f"{method} {path} may or may not have taken effect: {problem} ({tried})"
            hint = _OUTCOME_UNKNOWN
        else:
            message = f"{method} {path} failed after {tried}: {problem}"
            hint = _hint_for_failure(last, self.access_url)
        if dbt_message:
            message = f"{message} - dbt Cloud said: {dbt_message}"
        log.debug("%s %s: giving up (%s)", method, path, redact(problem, self._secrets))
        if outcome_unknown:
            raise OutcomeUnknown(last.status, message, hint=hint, secrets=self._secrets)
        if last.host_unknown:
            raise DbtCloudError(last.status, message, hint=hint, secrets=self._secrets)
        raise DbtCloudUnavailable(last.status, message, hint=hint, secrets=self._secrets)


_RETRY_LATER = "dbt Cloud answered unexpectedly: retry later (status: https://status.getdbt.com)."
_OUTCOME_UNKNOWN = (
    "Open the job's run history in dbt Cloud: if a run for this commit started, follow it "
    "there; otherwise re-run the workflow."
)


def _reraise(error: WorkflowCancelled) -> NoReturn:
    raise error


def _hint_for_failure(last: _Attempt, access_url: str) -> str:
    if last.status is not None:
        if last.status < 300:
            return _RETRY_LATER
        return hint_for_status(last.status, ErrorBody(), access_url=access_url)
    if not last.reached_server:
        return (
            f"Could not reach {access_url}: check access-url (the account's access URL, e.g. "
            f"{EXAMPLE_ACCESS_URL}) and that the runner can reach it (network, proxy, firewall)."
        )
    return (
        "dbt Cloud did not answer in time: retry later; if it keeps happening, check the "
        "network or proxy between the runner and dbt Cloud."
    )


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection could not even be opened (refused, DNS failure)."""
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


def _host_unknown(exc: requests.ConnectionError) -> bool:
    """A definite "no such host" (a typo in access-url), not a temporary DNS failure."""
    text = str(exc)
    return "Name or service not known" in text or "nodename nor servname" in text


def _connect_failure(exc: requests.ConnectionError) -> str:
    text = str(exc)
    if "NameResolution" in text or "resolve" in text:
        return "the host name could not be resolved (DNS)"
    if "refused" in text.lower():
        return "the connection was refused"
    return "a connection could not be opened"


def list_runs_params(
    job_id: int,
    *,
    status_in: Sequence[int] = (),
    order_by: str = "-id",
    limit: int = 10,
    offset: int = 0,
    include_related: Sequence[str] = (),
) -> dict[str, Any]:
    """Query parameters of `GET runs/` for one job.

    `status__in` goes as one JSON-style list (``status__in=[1,2,3]``), which is what dbt Cloud
    reads (Airflow's provider fixed the repeated-key form in apache/airflow#40048); the spec
    describes repeated keys, a known spec/server difference the contract test normalises.
    """
    if not 1 <= limit <= 100:
        raise ValueError(f"limit must be between 1 and 100, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, got {offset}")
    params: dict[str, Any] = {
        "job_definition_id": job_id,
        "order_by": order_by,
        "limit": limit,
        "offset": offset,
        **_related(include_related),
    }
    if status_in:
        params["status__in"] = json.dumps([int(s) for s in status_in], separators=(",", ":"))
    return params


def list_jobs_params(
    *,
    name_contains: str | None = None,
    project_ids: Sequence[int] = (),
    environment_id: int | None = None,
    include_related: Sequence[str] = (),
    limit: int = JOBS_PAGE_SIZE,
    offset: int = 0,
) -> dict[str, Any]:
    """Query parameters of one page of `GET jobs/`, ordered by id so pages never overlap.

    Only the spec's filters of the jobs list: `name__icontains`, `project_id`,
    `project_id__in` (one JSON-style list, as `status__in`), `environment_id`. There is no
    `environment_id__in`: dbt Cloud would ignore it and answer every job.
    """
    if not 1 <= limit <= JOBS_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {JOBS_PAGE_SIZE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, got {offset}")
    params: dict[str, Any] = {
        "order_by": "id",
        "limit": limit,
        "offset": offset,
        **_related(include_related),
    }
    if name_contains:
        params["name__icontains"] = name_contains
    ids = list(dict.fromkeys(int(i) for i in project_ids))
    if len(ids) == 1:
        params["project_id"] = ids[0]
    elif ids:
        params["project_id__in"] = json.dumps(ids, separators=(",", ":"))
    if environment_id is not None:
        params["environment_id"] = environment_id
    return params


def _related(include_related: Sequence[str]) -> dict[str, str]:
    """`include_related` as dbt Cloud reads it: one JSON list, e.g. ``["trigger","job"]``."""
    if not include_related:
        return {}
    return {"include_related": json.dumps(list(include_related), separators=(",", ":"))}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
