"""Sticky pull request comment and commit status, through PyGithub.

PyGithub (and urllib3/requests behind it) is imported inside the functions, never at module
import: most runs have both features off and should not pay for loading it.

Nothing here raises for GitHub's answers or for network trouble: the dbt Cloud outcome alone
decides the step, so every problem becomes a `GitHubReportResult(ok=False, message=...)` that
names what to do next (usually the missing `permissions:` entry).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from github import Github, GithubException

DEFAULT_API_URL = "https://api.github.com"
COMMENT_LIMIT = 65_536
"""GitHub rejects comment bodies longer than this many characters."""
STATUS_DESCRIPTION_LIMIT = 140
COMMENT_SEARCH_LIMIT = 500
"""How many comments to look through for the sticky one; it is normally on the first page."""
COMMIT_STATES = frozenset({"pending", "success", "failure", "error"})
WORKFLOW_TOKEN_LOGIN = "github-actions[bot]"  # noqa: S105  (a login, not a password)
"""Who writes with a workflow's GITHUB_TOKEN, which may not read `GET /user` (it answers 403)."""

_PER_PAGE = 100
_USER_AGENT = "dbt-cloud-action"
_CUT_NOTE = "\n\n…(cut to fit GitHub's comment size limit)"


@dataclass(frozen=True)
class GitHubTarget:
    """Where to report: the API base (GitHub Enterprise works), the token and `owner/name`."""

    api_url: str
    token: str
    repository: str
    timeout_seconds: int = 10  # per request; PyGithub wants an int


@dataclass(frozen=True)
class GitHubReportResult:
    """What happened, for the action's log; `ok=False` carries a warning, never an exception."""

    ok: bool
    message: str


def comment_marker(*job_ids: int) -> str:
    """The hidden HTML comment that identifies the one sticky comment of a job (or of a set of
    jobs run by one step, named by their sorted ids) on a PR. One job's marker is the one it
    always was, so existing comments keep being edited."""
    if len(job_ids) == 1:
        return f"<!-- dbt-cloud-action:job={job_ids[0]} -->"
    return f"<!-- dbt-cloud-action:jobs={','.join(str(i) for i in sorted(job_ids))} -->"


def status_context(job_name: str) -> str:
    """The commit status context, so each job has its own check line on the commit."""
    return f"dbt Cloud / {job_name}"


def comment_body_with_marker(body: str, marker: str) -> str:
    """The body unchanged when it holds the marker and fits; else marker first, cut to fit.

    The renderer already cuts gracefully (with a link to the full summary); this is the backstop
    that keeps the marker, without which the next run would add a second comment.
    """
    if marker in body and len(body) <= COMMENT_LIMIT:
        return body
    head = f"{marker}\n"
    rest = body.replace(marker, "")
    if len(head) + len(rest) <= COMMENT_LIMIT:
        return head + rest
    return head + rest[: COMMENT_LIMIT - len(head) - len(_CUT_NOTE)] + _CUT_NOTE


def status_description(description: str) -> str:
    """GitHub rejects descriptions over 140 characters; cut with an ellipsis instead."""
    return _short(description, STATUS_DESCRIPTION_LIMIT)


def upsert_pr_comment(
    target: GitHubTarget,
    pr_number: int,
    marker: str,
    body: str,
    *,
    wanted: Callable[[str | None], str] = lambda _existing: "",
) -> GitHubReportResult:
    """Edit this token's comment on the PR that holds `marker`, or create one; unless
    `wanted(the existing comment's body, or None)` gives a reason not to (comment-on-pr's
    mode, `comment_reason_to_skip`).

    Anyone who can comment can paste the marker: only a comment written by the token's own
    identity is edited (`own_login`), others are left alone.
    """
    full_body = comment_body_with_marker(body, marker)

    def upsert(gh: Github) -> str:
        issue = gh.get_repo(target.repository).get_issue(pr_number)
        comments = itertools.islice(issue.get_comments(), COMMENT_SEARCH_LIMIT)
        marked = [c for c in comments if marker in (c.body or "")]
        me = own_login(gh).lower() if marked else ""
        existing = next((c for c in marked if c.user and c.user.login.lower() == me), None)
        skip = wanted(None if existing is None else existing.body or "")
        if skip:
            return f"No comment written on #{pr_number}: {skip}"
        if existing is None:
            created = issue.create_comment(full_body)
            others = f" ({len(marked)} with the marker by others left alone)" if marked else ""
            return f"Created comment {created.id} on #{pr_number}{others}"
        if existing.body == full_body:
            return f"Comment {existing.id} on #{pr_number} is already up to date"
        existing.edit(full_body)
        return f"Updated comment {existing.id} on #{pr_number}"

    return report_call(
        target,
        upsert,
        action=f"comment on pull request #{pr_number}",
        permission="pull-requests: write",
        alternative=" (`issues: write` also allows comments)",
    )


def own_login(gh: Github) -> str:
    """The login the token writes as: `GET /user` for a personal token; a workflow's
    GITHUB_TOKEN (and a GitHub App's installation token) gets 403 there, and writes as
    github-actions[bot]. An App's own bot is not recognised: it gets a new comment each time,
    never someone else's edited."""
    from github import GithubException  # noqa: PLC0415  (lazy: see module docstring)

    try:
        login: str = gh.get_user().login
    except GithubException as exc:
        if exc.status != 403:
            raise
        return WORKFLOW_TOKEN_LOGIN
    return login


def set_commit_status(  # noqa: PLR0917  (signature fixed by the orchestrator's contract)
    target: GitHubTarget, sha: str, state: str, description: str, target_url: str, context: str
) -> GitHubReportResult:
    """Set the commit status for `context` on `sha` (GitHub keeps the latest per context)."""
    if state not in COMMIT_STATES:
        raise ValueError(f"state must be one of {sorted(COMMIT_STATES)}, got {state!r}")

    def create(gh: Github) -> str:
        commit = gh.get_repo(target.repository).get_commit(sha)
        commit.create_status(
            state,
            target_url=target_url,
            description=status_description(description),
            context=context,
        )
        return f"Set commit status {state!r} for {context!r} on {sha[:12]}"

    return report_call(
        target,
        create,
        action=f"set the commit status on {sha[:12]}",
        permission="statuses: write",
    )


def report_call(
    target: GitHubTarget,
    operation: Callable[[Github], str],
    *,
    action: str,
    permission: str,
    alternative: str = "",
) -> GitHubReportResult:
    """Run one PyGithub operation and turn every GitHub or network failure into a warning."""
    from github import GithubException  # noqa: PLC0415  (lazy: see module docstring)
    from requests import RequestException  # noqa: PLC0415

    if not target.token:  # PyGithub refuses an empty token with a bare assert
        problem = (
            f"Could not {action}: the github-token input is empty. Pass "
            f"`github-token: ${{{{ github.token }}}}` (the default) or a token with `{permission}`."
        )
    else:
        try:
            done = operation(_client(target))
            return GitHubReportResult(True, _without_token(done, target.token))
        except GithubException as exc:
            problem = _explain_github_error(exc, target, action, permission, alternative)
        except RequestException as exc:
            problem = (
                f"Could not {action}: GitHub at {target.api_url} did not answer "
                f"({_network_reason(exc, target.timeout_seconds)}). "
                "Check GITHUB_API_URL and the runner's network access."
            )
    warning = f"{problem} The dbt Cloud outcome still decides this step."
    return GitHubReportResult(False, _without_token(warning, target.token))


def _client(target: GitHubTarget) -> Github:
    """A lazy client: no GET for the repository, issue or commit before the call that matters."""
    from github import Auth, Github  # noqa: PLC0415  (lazy: see module docstring)
    from urllib3.util.retry import Retry  # noqa: PLC0415

    retry = Retry(
        total=2,
        connect=2,
        read=0,  # a read timeout has already cost the full timeout: do not wait it out again
        status=2,
        backoff_factor=0.5,
        status_forcelist=(500, 502, 503, 504),
        # Never POST twice: a retried comment creation could leave two sticky comments.
        allowed_methods=frozenset({"GET", "PATCH"}),
        respect_retry_after_header=False,  # keep the wait bounded
        raise_on_status=False,  # let PyGithub turn the last answer into a GithubException
    )
    return Github(
        base_url=(target.api_url or DEFAULT_API_URL).rstrip("/"),
        auth=Auth.Token(target.token),
        timeout=target.timeout_seconds,
        retry=retry,
        per_page=_PER_PAGE,
        user_agent=_USER_AGENT,
        lazy=True,
        # One call makes at most a few serial requests and one write; no pacing needed.
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def _explain_github_error(
    exc: GithubException, target: GitHubTarget, action: str, permission: str, alternative: str
) -> str:
    from github import RateLimitExceededException  # noqa: PLC0415  (lazy: see module docstring)

    server_message = exc.data.get("message") if isinstance(exc.data, dict) else None
    said = f"GitHub answered {exc.status}"
    if isinstance(server_message, str) and server_message:
        said += f" ({_short(server_message)})"
    grant = (
        f"The token needs `{permission}`: add `permissions:` with `{permission}` to the workflow "
        f"job{alternative}. Pull requests from forks get a read-only token, so this cannot work "
        "there."
    )
    if isinstance(exc, RateLimitExceededException):
        return f"Could not {action}: {said}. The API rate limit is used up; try again later."
    if exc.status == 401:
        return (
            f"Could not {action}: {said}. The token was rejected; check the github-token input "
            "(an expired or revoked token, or one for another GitHub host)."
        )
    if exc.status == 403:
        return f"Could not {action} in {target.repository}: {said}. {grant}"
    if exc.status == 404:
        return (
            f"Could not {action} in {target.repository}: {said}. Check that the repository and "
            f"number are right and that the token can see the repository. {grant}"
        )
    return f"Could not {action} in {target.repository}: {said}."


def _network_reason(exc: Exception, timeout_seconds: int) -> str:
    """The useful part of a requests error (e.g. "Connection refused"), not its pool dump."""
    from requests import Timeout  # noqa: PLC0415  (lazy: see module docstring)

    text = str(exc)
    # A read timeout on a retried GET arrives as a ConnectionError wrapping "Read timed out."
    if isinstance(exc, Timeout) or "timed out" in text.lower():
        return f"no answer within {timeout_seconds} s"
    errno_text = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    return errno_text.group(1).strip() if errno_text else type(exc).__name__


def _short(text: str, limit: int = 200) -> str:
    """Server text on one line and bounded, so a log line cannot be flooded or split."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _without_token(message: str, token: str) -> str:
    """Belt and braces: whatever an exception said, the token never reaches a log line."""
    return message.replace(token, "***") if token else message


def pull_request_head(target: GitHubTarget, pr_number: int) -> tuple[str | None, str]:
    """The pull request's current head commit, for `cancel-superseded`; (None, why) when GitHub
    cannot say (no token, no permission, no answer): the caller then falls back to a rule that
    needs no GitHub."""
    from github import GithubException  # noqa: PLC0415  (lazy: see module docstring)
    from requests import RequestException  # noqa: PLC0415

    action = f"read pull request #{pr_number}"
    if not target.token:
        return None, f"Could not {action}: the github-token input is empty."
    try:
        sha = _client(target).get_repo(target.repository).get_pull(pr_number).head.sha
    except GithubException as exc:
        why = _explain_github_error(exc, target, action, "pull-requests: read", "")
        return None, _without_token(why, target.token)
    except RequestException as exc:
        reason = _network_reason(exc, target.timeout_seconds)
        return None, f"Could not {action}: GitHub at {target.api_url} did not answer ({reason})."
    if not isinstance(sha, str) or not sha:
        return None, f"Could not {action}: GitHub's answer has no head commit."
    return sha, ""
