"""A fake GitHub REST API on loopback: just the endpoints the action's PyGithub calls use.

The action builds a lazy PyGithub client, so reporting needs only these (no GET of the
repository, issue or commit first):

- GET   /user                                       (403 for the workflow's token, as GitHub)
- GET   /repos/{owner}/{repo}/issues/{n}/comments   (Link pagination, per_page up to 100)
- POST  /repos/{owner}/{repo}/issues/{n}/comments
- PATCH /repos/{owner}/{repo}/issues/comments/{id}
- POST  /repos/{owner}/{repo}/statuses/{sha}
- GET   /repos/{owner}/{repo}/pulls/{n}   (the head commit, for cancel-superseded)
- POST  /repos/{owner}/{repo}/check-runs          (Checks API: name, head_sha required)
- PATCH /repos/{owner}/{repo}/check-runs/{id}     (output.annotations appended, 50 at most a
                                                    request, 422 past them, as GitHub documents)

Anything else answers GitHub's 404 and is still logged, so a test can prove no extra calls.

    with FakeGitHub(token="ghs_test", repository="octo/repo") as gh:  # a workflow's token
    with FakeGitHub(token="ghp_test", identity="ci-user") as gh:      # a personal token
        gh.url                  # "http://127.0.0.1:PORT" (plus prefix, e.g. "/api/v3")
        gh.comments(7)          # list of comment dicts on PR/issue 7
        gh.statuses(sha)        # list of status dicts, oldest first
        gh.forbid("comments")   # writes answer 403 "Resource not accessible by integration"
        gh.forbid("check-runs") # a token without checks: write (or a fork's read-only token)
        gh.check_runs()         # list of check run dicts, each with all its annotations
        gh.add_comment(7, body, user="octocat")  # someone else's comment
        gh.set_pull_head(7, sha)  # GET pulls/7 answers with this head commit
        gh.requests             # list[LoggedRequest], Authorization header removed
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

Resource = Literal["comments", "statuses", "check-runs"]
CHECK_ANNOTATIONS_PER_REQUEST = 50  # "limited to a maximum of 50 items" per request
CHECK_CONCLUSIONS = frozenset(
    {
        "action_required",
        "cancelled",
        "failure",
        "neutral",
        "success",
        "skipped",
        "stale",
        "timed_out",
    }
)
ANNOTATION_LEVELS = frozenset({"notice", "warning", "failure"})
_CHECKS_DOC = "https://docs.github.com/rest/checks/runs"

COMMENT_LIMIT = 65_536
STATUS_DESCRIPTION_LIMIT = 140
STATUS_STATES = frozenset({"pending", "success", "failure", "error"})
BOT_LOGIN = "github-actions[bot]"

_DOCS = "https://docs.github.com/rest"
_DOC_URLS = {
    ("GET", "comments"): f"{_DOCS}/issues/comments#list-issue-comments",
    ("POST", "comments"): f"{_DOCS}/issues/comments#create-an-issue-comment",
    ("PATCH", "comments"): f"{_DOCS}/issues/comments#update-an-issue-comment",
    ("POST", "statuses"): f"{_DOCS}/commits/statuses#create-a-commit-status",
    ("POST", "check-runs"): f"{_DOCS}/checks/runs#create-a-check-run",
    ("PATCH", "check-runs"): f"{_DOCS}/checks/runs#update-a-check-run",
}
_USER_DOC = f"{_DOCS}/users/users#get-the-authenticated-user"
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile(_REPO + r"/issues/(?P<number>\d+)/comments"), "list_comments"),
    ("POST", re.compile(_REPO + r"/issues/(?P<number>\d+)/comments"), "create_comment"),
    ("PATCH", re.compile(_REPO + r"/issues/comments/(?P<comment_id>\d+)"), "edit_comment"),
    ("POST", re.compile(_REPO + r"/statuses/(?P<sha>[^/]+)"), "create_status"),
    ("GET", re.compile(_REPO + r"/pulls/(?P<pull>\d+)"), "get_pull"),
    ("POST", re.compile(_REPO + r"/check-runs"), "create_check_run"),
    ("PATCH", re.compile(_REPO + r"/check-runs/(?P<check_run_id>\d+)"), "update_check_run"),
)


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str  # without the prefix and the query string
    query: dict[str, list[str]]
    body: Any  # parsed JSON, or None
    headers: dict[str, str]  # Authorization removed


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, doc: str = _DOCS, **extra: Any) -> _Answer:
    return _Answer(
        status, {"message": message, "documentation_url": doc, "status": str(status), **extra}
    )


def _validation_failed(resource: str, field_name: str, message: str, doc: str) -> _Answer:
    errors = [{"resource": resource, "code": "custom", "field": field_name, "message": message}]
    return _error(422, "Validation Failed", doc, errors=errors)


def _invalid_comment_body(text: object, doc: str) -> _Answer | None:
    if not isinstance(text, str) or not text:
        return _validation_failed("IssueComment", "body", "body is missing", doc)
    if len(text) > COMMENT_LIMIT:
        message = f"Body is too long (maximum is {COMMENT_LIMIT} characters)"
        return _validation_failed("IssueComment", "body", message, doc)
    return None


class FakeGitHub:
    """One repository's comments and statuses, served over real HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = "ghs_test",  # noqa: S107  (a fake's own token)
        repository: str = "octo/repo",
        prefix: str = "",
        identity: str | None = None,
    ) -> None:
        """`identity` is the login of a personal token (GET /user answers it); None stands for
        a workflow's GITHUB_TOKEN: GET /user answers 403 and it writes as github-actions[bot]."""
        self.token = token
        self.identity = identity
        self.repository = repository
        self.prefix = prefix.rstrip("/")  # "/api/v3" looks like GitHub Enterprise Server
        self._lock = threading.Lock()
        self._comments: dict[int, list[dict[str, Any]]] = {}
        self._statuses: dict[str, list[dict[str, Any]]] = {}
        self._forbidden: dict[Resource, frozenset[str]] = {}
        self._pull_heads: dict[int, str] = {}
        self._check_runs: dict[int, dict[str, Any]] = {}
        self._requests: list[LoggedRequest] = []
        self._next_id = 1000
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        """What the action gets as GITHUB_API_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.prefix}"

    # --- what tests arrange and inspect ------------------------------------------------------

    def comments(self, number: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._comments.get(number, [])]

    def check_runs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(c)) for c in self._check_runs.values()]

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(s) for s in self._statuses.get(sha, [])]

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._requests)

    def add_comment(self, number: int, body: str, *, user: str = "octocat") -> dict[str, Any]:
        """Seed a comment written by someone else (or by the bot, with user=BOT_LOGIN)."""
        with self._lock:
            return dict(self._add_comment(number, body, user))

    def set_pull_head(self, number: int, sha: str) -> None:
        """Open pull request `number` with its head at `sha` (unknown numbers answer 404)."""
        with self._lock:
            self._pull_heads[number] = sha

    def forbid(self, resource: Resource, *, reads: bool = False) -> None:
        """Answer 403 like a read-only token (fork PR) does: writes only, or reads too."""
        methods = {"POST", "PATCH"} | ({"GET"} if reads else set())
        with self._lock:
            self._forbidden[resource] = frozenset(methods)

    # --- the API ---------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> _Answer:
        parsed = urllib.parse.urlsplit(raw_path)
        path = parsed.path
        query = urllib.parse.parse_qs(parsed.query)
        body: Any = None
        bad_json = False
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                bad_json = True
        in_prefix = path.startswith(self.prefix + "/")
        path = path.removeprefix(self.prefix)
        logged = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        with self._lock:
            self._requests.append(LoggedRequest(method, path, query, body, logged))
            auth_failure = self._check_auth(headers.get("Authorization"))
            if auth_failure is not None:
                return auth_failure
            if bad_json:
                return _error(400, "Problems parsing JSON")
            if method == "GET" and path == "/user" and in_prefix:
                if self.identity is None:
                    return _error(403, "Resource not accessible by integration", _USER_DOC)
                return _Answer(200, {"login": self.identity, "id": 1, "type": "User"})
            for route_method, pattern, handler_name in _ROUTES:
                match = pattern.fullmatch(path)
                if in_prefix and match and route_method == method:
                    params = match.groupdict()
                    owner_repo = f"{params.pop('owner')}/{params.pop('name')}"
                    if owner_repo.lower() != self.repository.lower():
                        return _error(404, "Not Found")
                    if "pull" in params:
                        return self._get_pull(int(params["pull"]))
                    resource: Resource = (
                        "statuses"
                        if "sha" in params
                        else "check-runs"
                        if "check-runs" in path
                        else "comments"
                    )
                    if method in self._forbidden.get(resource, frozenset()):
                        doc = _DOC_URLS[(method, resource)]
                        return _error(403, "Resource not accessible by integration", doc)
                    handler = getattr(self, f"_{handler_name}")
                    answer: _Answer = handler(query=query, body=body, **params)
                    return answer
            return _error(404, "Not Found")

    def _check_auth(self, authorization: str | None) -> _Answer | None:
        if not authorization:
            return _error(401, "Requires authentication")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() not in ("token", "bearer") or value != self.token:
            return _error(401, "Bad credentials")
        return None

    def _list_comments(self, *, number: str, query: dict[str, list[str]], body: Any) -> _Answer:
        all_comments = self._comments.get(int(number), [])
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = max(int(query.get("page", ["1"])[0]), 1)
        chunk = all_comments[(page - 1) * per_page : page * per_page]
        last = max((len(all_comments) + per_page - 1) // per_page, 1)
        base = f"{self.url}/repos/{self.repository}/issues/{number}/comments"
        links = []
        if page < last:
            links.append(f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{base}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{base}?per_page={per_page}&page={page - 1}>; rel="prev"')
            links.append(f'<{base}?per_page={per_page}&page=1>; rel="first"')
        headers = {"Link": ", ".join(links)} if links else {}
        return _Answer(200, [dict(c) for c in chunk], headers)

    def _create_comment(self, *, number: str, query: dict[str, list[str]], body: Any) -> _Answer:
        text = body.get("body") if isinstance(body, dict) else None
        invalid = _invalid_comment_body(text, _DOC_URLS[("POST", "comments")])
        if invalid is not None or not isinstance(text, str):
            return invalid or _error(400, "Problems parsing JSON")
        author = self.identity or BOT_LOGIN
        return _Answer(201, dict(self._add_comment(int(number), text, author)))

    def _edit_comment(self, *, comment_id: str, query: dict[str, list[str]], body: Any) -> _Answer:
        doc = _DOC_URLS[("PATCH", "comments")]
        text = body.get("body") if isinstance(body, dict) else None
        invalid = _invalid_comment_body(text, doc)
        if invalid is not None or not isinstance(text, str):
            return invalid or _error(400, "Problems parsing JSON")
        for comments in self._comments.values():
            for comment in comments:
                if comment["id"] == int(comment_id):
                    comment["body"] = text
                    comment["updated_at"] = _now()
                    return _Answer(200, dict(comment))
        return _error(404, "Not Found", doc)

    def _create_status(self, *, sha: str, query: dict[str, list[str]], body: Any) -> _Answer:
        doc = _DOC_URLS[("POST", "statuses")]
        fields = body if isinstance(body, dict) else {}
        state = fields.get("state")
        description = fields.get("description")
        if state not in STATUS_STATES:
            return _validation_failed("Status", "state", "state is not included in the list", doc)
        if isinstance(description, str) and len(description) > STATUS_DESCRIPTION_LIMIT:
            message = f"description is too long (maximum is {STATUS_DESCRIPTION_LIMIT} characters)"
            return _validation_failed("Status", "description", message, doc)
        self._next_id += 1
        now = _now()
        status = {
            "id": self._next_id,
            "url": f"{self.url}/repos/{self.repository}/statuses/{sha}",
            "state": state,
            "description": description,
            "target_url": fields.get("target_url"),
            "context": fields.get("context") or "default",
            "created_at": now,
            "updated_at": now,
            "creator": {"login": BOT_LOGIN, "id": 41898282, "type": "Bot"},
        }
        self._statuses.setdefault(sha, []).append(status)
        return _Answer(201, dict(status))

    def _check_output(self, output: Any, doc: str) -> _Answer | list[dict[str, Any]]:
        """The output's annotations, checked as GitHub does; an answer when refused."""
        if output is None:
            return []
        if not isinstance(output, dict) or not all(
            isinstance(output.get(k), str) for k in ("title", "summary")
        ):
            return _validation_failed("CheckRun", "output", "title and summary are required", doc)
        annotations = output.get("annotations") or []
        if not isinstance(annotations, list) or len(annotations) > CHECK_ANNOTATIONS_PER_REQUEST:
            message = f"annotations are limited to {CHECK_ANNOTATIONS_PER_REQUEST} per request"
            return _validation_failed("CheckRun", "annotations", message, doc)
        for a in annotations:
            if not (
                isinstance(a, dict)
                and isinstance(a.get("path"), str)
                and isinstance(a.get("start_line"), int)
                and isinstance(a.get("end_line"), int)
                and a.get("annotation_level") in ANNOTATION_LEVELS
                and isinstance(a.get("message"), str)
            ):
                return _validation_failed("CheckRun", "annotations", "invalid annotation", doc)
        return [dict(a) for a in annotations]

    def _create_check_run(self, *, query: dict[str, list[str]], body: Any) -> _Answer:
        doc = _DOC_URLS[("POST", "check-runs")]
        fields = body if isinstance(body, dict) else {}
        if not isinstance(fields.get("name"), str) or not isinstance(fields.get("head_sha"), str):
            return _validation_failed("CheckRun", "name", "name and head_sha are required", doc)
        annotations = self._check_output(fields.get("output"), doc)
        if isinstance(annotations, _Answer):
            return annotations
        self._next_id += 1
        check = {
            "id": self._next_id,
            "url": f"{self.url}/repos/{self.repository}/check-runs/{self._next_id}",
            "html_url": f"https://github.example/{self.repository}/runs/{self._next_id}",
            "name": fields["name"],
            "head_sha": fields["head_sha"],
            "status": fields.get("status") or "queued",
            "conclusion": fields.get("conclusion"),
            "details_url": fields.get("details_url"),
            "started_at": _now(),
            "completed_at": None,
            "output": {**(fields.get("output") or {}), "annotations": annotations},
            "requests": 1,
        }
        self._check_runs[self._next_id] = check
        return _Answer(201, _public_check(check))

    def _update_check_run(
        self, *, check_run_id: str, query: dict[str, list[str]], body: Any
    ) -> _Answer:
        doc = _DOC_URLS[("PATCH", "check-runs")]
        check = self._check_runs.get(int(check_run_id))
        if check is None:
            return _error(404, "Not Found", doc)
        fields = body if isinstance(body, dict) else {}
        annotations = self._check_output(fields.get("output"), doc)
        if isinstance(annotations, _Answer):
            return annotations
        conclusion = fields.get("conclusion")
        if conclusion is not None and conclusion not in CHECK_CONCLUSIONS:
            return _validation_failed("CheckRun", "conclusion", "invalid conclusion", doc)
        if conclusion is not None:
            check["status"], check["conclusion"], check["completed_at"] = (
                "completed",
                conclusion,
                _now(),
            )
        elif fields.get("status"):
            check["status"] = fields["status"]
        output = fields.get("output")
        if isinstance(output, dict):  # "annotations ... are appended" to those already there
            kept = check["output"].get("annotations", [])
            check["output"] = {**output, "annotations": kept + annotations}
        check["requests"] += 1
        return _Answer(200, _public_check(check))

    def _get_pull(self, number: int) -> _Answer:
        sha = self._pull_heads.get(number)
        if sha is None:
            return _error(404, "Not Found", f"{_DOCS}/pulls/pulls#get-a-pull-request")
        return _Answer(
            200,
            {
                "url": f"{self.url}/repos/{self.repository}/pulls/{number}",
                "number": number,
                "state": "open",
                "head": {"sha": sha, "ref": f"feature-{number}", "label": f"octo:feature-{number}"},
                "base": {"sha": "0" * 40, "ref": "main", "label": "octo:main"},
            },
        )

    def _add_comment(self, number: int, body: str, user: str) -> dict[str, Any]:
        self._next_id += 1
        comment_id = self._next_id
        now = _now()
        comment = {
            "id": comment_id,
            "node_id": f"IC_fake{comment_id}",
            "url": f"{self.url}/repos/{self.repository}/issues/comments/{comment_id}",
            "html_url": f"https://github.example/{self.repository}/pull/{number}"
            f"#issuecomment-{comment_id}",
            "issue_url": f"{self.url}/repos/{self.repository}/issues/{number}",
            "body": body,
            "user": {"login": user, "type": "Bot" if user.endswith("[bot]") else "User"},
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
        }
        self._comments.setdefault(number, []).append(comment)
        return comment


def _public_check(check: dict[str, Any]) -> dict[str, Any]:
    """A check run as GitHub answers it: the output's annotation count, not the annotations."""
    output = {k: v for k, v in check["output"].items() if k != "annotations"}
    output["annotations_count"] = len(check["output"].get("annotations", []))
    return {k: v for k, v in check.items() if k != "requests"} | {"output": output}


def _handler_for(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            answer = fake.handle(self.command, self.path, dict(self.headers.items()), raw_body)
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the request log is `FakeGitHub.requests`."""

    return Handler
