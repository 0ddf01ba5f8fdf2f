"""What the workflow run is about: the commit, branch and pull request, from the event payload.

`GITHUB_SHA` alone is wrong for pull requests (it is the merge commit GitHub made, not the commit
the author pushed) and meaningless for a deleted branch, so the commit and branch come from the
event payload, per event:

- pull requests (`pull_request`, `pull_request_target`, `pull_request_review[_comment]`):
  `pull_request.head.sha`; the head branch only when the head repository is this repository
  (a fork's branch does not exist here); the PR number.
- `push`: `after` and the pushed branch; a tag push has no branch; a push that deleted a ref
  (`after` all zeros) has neither.
- `merge_group`: `merge_group.head_sha` and its `gh-readonly-queue/...` branch (the only branch
  that commit is on); no PR number (a merge group can hold several).
- `workflow_run`: the commit the upstream workflow ran for, `workflow_run.head_sha` (GITHUB_SHA
  is the default branch's last commit), and its `head_branch`, unless `head_repository` is not
  this repository: then it is a fork's commit, with no branch here, and the fork rule applies
  as for `pull_request_target`; the PR number of `workflow_run.pull_requests` (a pull request of
  this repository; GitHub leaves the list empty for a fork's).
- anything else (`workflow_dispatch`, `schedule`, ...): `GITHUB_SHA` and the branch of
  `GITHUB_REF`.

A missing or unreadable payload falls back to `GITHUB_SHA`/`GITHUB_REF` with a warning instead of
failing: the run can still go ahead, and the warning says what was assumed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .models import parse_timestamp

PULL_REQUEST_EVENTS = frozenset(
    {"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"}
)
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}", re.ASCII)
_FALLBACK = "using GITHUB_SHA and the branch of GITHUB_REF."
_PULL_REF = re.compile(r"refs/pull/([0-9]{1,18})/(?:merge|head)", re.ASCII)


@dataclass(frozen=True)
class GitHubContext:
    """The workflow run's facts; `head_*` and `pr_number` are what a dbt Cloud run should build."""

    event_name: str
    repository: str
    sha: str
    ref: str
    ref_name: str
    head_ref: str
    base_ref: str
    workflow: str
    job: str
    run_id: int | None
    run_number: int | None
    run_attempt: int
    actor: str
    server_url: str
    api_url: str
    workspace: str
    head_sha: str | None
    head_branch: str | None  # None for fork pull requests, tags and deleted refs
    pr_number: int | None
    head_repo_full_name: str | None  # None when a fork's head repository was deleted
    is_fork: bool
    warnings: tuple[str, ...] = ()
    # When the event happened (a pull request's `updated_at`), so before this workflow run
    # started, also on a re-run; None for other events.
    event_time: datetime | None = None


@dataclass(frozen=True)
class _Target:
    head_sha: str | None
    head_branch: str | None
    pr_number: int | None = None
    head_repo_full_name: str | None = None
    is_fork: bool = False
    warning: str | None = None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def _commit_sha(value: object) -> str | None:
    text = _str(value).lower()
    return text if _COMMIT_SHA.fullmatch(text) and text.strip("0") else None


def branch_of_ref(ref: str) -> str | None:
    """`main` for `refs/heads/main`; None for tags, pull request refs and anything else."""
    name = ref.removeprefix("refs/heads/")
    return name if name != ref and name else None


def _env_target(env: Mapping[str, str]) -> _Target:
    return _Target(_commit_sha(env.get("GITHUB_SHA")), branch_of_ref(env.get("GITHUB_REF", "")))


def _pull_request_target(
    payload: Mapping[str, Any], env: Mapping[str, str], repository: str
) -> _Target:
    pull_request = _mapping(payload.get("pull_request"))
    head = _mapping(pull_request.get("head"))
    head_sha = _commit_sha(head.get("sha"))
    pr_number = _positive_int(payload.get("number")) or _positive_int(pull_request.get("number"))
    if head_sha is None or pr_number is None:
        match = _PULL_REF.fullmatch(env.get("GITHUB_REF", ""))
        return _Target(
            _commit_sha(env.get("GITHUB_SHA")),
            None,
            pr_number or (int(match.group(1)) if match else None),
            None,
            False,
            "The event payload has no pull request head commit; using GITHUB_SHA (GitHub's "
            "merge commit) and no branch. Pass git-sha and git-branch to choose them.",
        )
    head_repo = _str(_mapping(head.get("repo")).get("full_name")) or None
    is_fork = head_repo is None or head_repo.casefold() != repository.casefold()
    head_branch = None if is_fork else _str(head.get("ref")) or None
    return _Target(head_sha, head_branch, pr_number, head_repo, is_fork)


def _push_target(payload: Mapping[str, Any], env: Mapping[str, str]) -> _Target:
    ref = _str(payload.get("ref")) or env.get("GITHUB_REF", "")
    after = _str(payload.get("after"))
    if payload.get("deleted") is True or (after and not after.strip("0")):
        return _Target(
            None,
            None,
            warning=f"This push deleted {ref or 'a ref'}: there is no commit to run, so no "
            "git-sha or git-branch is sent. Run this workflow on pushes that create or update "
            "branches (on: push: branches).",
        )
    head_sha = _commit_sha(after)
    if head_sha is None:
        return _Target(
            _commit_sha(env.get("GITHUB_SHA")),
            branch_of_ref(ref),
            warning="The push event payload has no valid 'after' commit; using GITHUB_SHA.",
        )
    return _Target(head_sha, branch_of_ref(ref))


def _env_fallback(env: Mapping[str, str], warning: str) -> _Target:
    """GITHUB_SHA and GITHUB_REF, when the payload lacks its commit: with a warning saying so."""
    target = _env_target(env)
    return _Target(target.head_sha, target.head_branch, warning=warning)


def _merge_group_target(payload: Mapping[str, Any], env: Mapping[str, str]) -> _Target:
    group = _mapping(payload.get("merge_group"))
    head_sha = _commit_sha(group.get("head_sha"))
    if head_sha is None:
        return _env_fallback(env, f"The merge_group payload has no head_sha; {_FALLBACK}")
    head_ref = _str(group.get("head_ref")) or env.get("GITHUB_REF", "")
    return _Target(head_sha, branch_of_ref(head_ref))


def _workflow_run_target(
    payload: Mapping[str, Any], env: Mapping[str, str], repository: str
) -> _Target:
    run = _mapping(payload.get("workflow_run"))
    head_sha = _commit_sha(run.get("head_sha"))
    if head_sha is None:
        return _env_fallback(
            env,
            "The workflow_run payload has no head_sha (the commit the triggering workflow ran "
            f"for); {_FALLBACK} Pass git-sha to choose the commit.",
        )
    head_repo = _str(_mapping(run.get("head_repository")).get("full_name")) or None
    is_fork = head_repo is None or head_repo.casefold() != repository.casefold()
    head_branch = None if is_fork else _str(run.get("head_branch")) or None
    return _Target(head_sha, head_branch, _own_pull_request(run, repository), head_repo, is_fork)


def _own_pull_request(run: Mapping[str, Any], repository: str) -> int | None:
    """The first of the run's pull requests whose base is this repository (an entry for another
    repository's pull request names a number that means nothing here)."""
    own_url = f"/repos/{repository}".casefold()
    pulls = run.get("pull_requests")
    for pull in pulls if isinstance(pulls, list) else ():
        entry = _mapping(pull)
        url = _str(_mapping(_mapping(entry.get("base")).get("repo")).get("url"))
        if url and not url.casefold().endswith(own_url):
            continue
        number = _positive_int(entry.get("number"))
        if number is not None:
            return number
    return None


def context_from_event(
    event_name: str, payload: Mapping[str, Any], env: Mapping[str, str]
) -> GitHubContext:
    """The context for one event: pure, so every row of the event table is unit-tested."""
    repository = env.get("GITHUB_REPOSITORY") or _str(
        _mapping(payload.get("repository")).get("full_name")
    )
    if event_name in PULL_REQUEST_EVENTS:
        target = _pull_request_target(payload, env, repository)
    elif event_name == "push":
        target = _push_target(payload, env)
    elif event_name == "merge_group":
        target = _merge_group_target(payload, env)
    elif event_name == "workflow_run":
        target = _workflow_run_target(payload, env, repository)
    else:
        target = _env_target(env)
    return GitHubContext(
        event_name=event_name,
        repository=repository,
        sha=env.get("GITHUB_SHA", ""),
        ref=env.get("GITHUB_REF", ""),
        ref_name=env.get("GITHUB_REF_NAME", ""),
        head_ref=env.get("GITHUB_HEAD_REF", ""),
        base_ref=env.get("GITHUB_BASE_REF", ""),
        workflow=env.get("GITHUB_WORKFLOW", ""),
        job=env.get("GITHUB_JOB", ""),
        run_id=_positive_int(env.get("GITHUB_RUN_ID")),
        run_number=_positive_int(env.get("GITHUB_RUN_NUMBER")),
        run_attempt=_positive_int(env.get("GITHUB_RUN_ATTEMPT")) or 1,
        actor=env.get("GITHUB_ACTOR", ""),
        server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
        api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
        workspace=env.get("GITHUB_WORKSPACE", ""),
        head_sha=target.head_sha,
        head_branch=target.head_branch,
        pr_number=target.pr_number,
        head_repo_full_name=target.head_repo_full_name
        or (None if target.is_fork else repository or None),
        is_fork=target.is_fork,
        warnings=(target.warning,) if target.warning else (),
        event_time=_event_time(event_name, payload),
    )


def _event_time(event_name: str, payload: Mapping[str, Any]) -> datetime | None:
    if event_name not in PULL_REQUEST_EVENTS:
        return None
    moment = parse_timestamp(_mapping(payload.get("pull_request")).get("updated_at"))
    return moment if moment is not None and moment.tzinfo is not None else None


def _read_payload(env: Mapping[str, str]) -> tuple[Mapping[str, Any], str | None]:
    """The event payload and, when it could not be used, a warning saying why."""
    path = env.get("GITHUB_EVENT_PATH", "")
    if not path:
        if env.get("GITHUB_EVENT_NAME"):
            return {}, f"GITHUB_EVENT_PATH is not set; {_FALLBACK}"
        return {}, None
    try:
        with open(path, encoding="utf-8") as file:
            payload = json.load(file)
    except (OSError, ValueError) as error:
        reason = (
            error.strerror or type(error).__name__
            if isinstance(error, OSError)
            else "it is not valid JSON"
        )
        return {}, f"Could not read the event payload {path!r} ({reason}); {_FALLBACK}"
    if not isinstance(payload, Mapping):
        return {}, f"The event payload {path!r} is not a JSON object; {_FALLBACK}"
    return payload, None


def context_from_env(env: Mapping[str, str]) -> GitHubContext:
    """The context of the running workflow (reads `GITHUB_EVENT_PATH`; never raises)."""
    payload, warning = _read_payload(env)
    context = context_from_event(env.get("GITHUB_EVENT_NAME", ""), payload, env)
    if warning is None:
        return context
    return replace(context, warnings=(warning, *context.warnings))
