"""The body of the trigger request: inputs resolved against the event, nothing else.

`auto` values come from the `GitHubContext`; explicit values win; `none` sends nothing. dbt Cloud
takes a commit or a branch, never both (400 "git_branch and git_sha cannot both be specified"),
so the SHA is sent whenever one is known and the branch only when no SHA is sent: with
`git-sha: none`, or when the user names a branch other than the event's (the event's commit is
not on it, so the run builds the tip of the named branch).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from dbt_cloud_action.context import GitHubContext
from dbt_cloud_action.inputs import (
    AUTO,
    CAUSE_MAX,
    ActionInputs,
    Auto,
    InputError,
    Mode,
    OtherPullRequest,
    SchemaTemplate,
    check_one_git_target,
    clean_cause,
)
from dbt_cloud_action.models import Overrides

SCHEMA_MAX = 63  # PostgreSQL's identifier limit, the smallest of the common warehouses
_SCHEMA_HASH = 8
_WORKFLOW_NAME_MAX = 100
_JOB_NAME_MAX = 60


@dataclass(frozen=True)
class TriggerPayload:
    """What is sent to `POST jobs/{id}/run/`; None and () mean "not sent"."""

    cause: str
    git_sha: str | None = None
    git_branch: str | None = None
    github_pull_request_id: int | None = None
    # another git provider's pull request (the CLI on other CIs); at most one PR id is sent
    gitlab_merge_request_id: int | None = None
    azure_pull_request_id: int | None = None
    non_native_pull_request_id: int | None = None
    schema_override: str | None = None
    dbt_version_override: str | None = None
    threads_override: int | None = None
    target_name_override: str | None = None
    generate_docs_override: bool | None = None
    timeout_seconds_override: int | None = None
    steps_override: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.git_sha is not None and self.git_branch is not None:
            raise ValueError("dbt Cloud takes git_sha or git_branch, never both")
        if sum(number is not None for number in self._pull_request_ids()) > 1:
            raise ValueError("a run is about one pull request: one pull request id at most")

    def _pull_request_ids(self) -> tuple[int | None, ...]:
        return (
            self.github_pull_request_id,
            self.gitlab_merge_request_id,
            self.azure_pull_request_id,
            self.non_native_pull_request_id,
        )

    def to_api(self) -> dict[str, Any]:
        """The JSON body: only the fields that are set, typed as the API wants."""
        body: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None or value == ():
                continue
            body[field.name] = list(value) if isinstance(value, tuple) else value
        return body

    def requested_overrides(self) -> Overrides:
        """The job settings this payload overrides, comparable with a run's trigger."""
        return Overrides(
            schema=self.schema_override,
            dbt_version=self.dbt_version_override,
            threads=self.threads_override,
            target_name=self.target_name_override,
            generate_docs=self.generate_docs_override,
            timeout_seconds=self.timeout_seconds_override,
            steps=self.steps_override,
        )


def trigger_tag(context: GitHubContext, key: str) -> str:
    """`[run 123456/2 job dbt key 5f2a9c]`: which workflow run, attempt and job triggered, plus
    a random key per step, since matrix legs share the job's name. A lost trigger answer is
    reconciled by this exact text, so it must never be cut."""
    parts = []
    if context.run_id:
        parts.append(f"run {context.run_id}/{context.run_attempt}")
    if context.job:
        parts.append(f"job {clean_cause(context.job)[:_JOB_NAME_MAX]}")
    if key:
        parts.append(f"key {key}")
    return f"[{' '.join(parts)}]" if parts else ""


@dataclass(frozen=True)
class TriggerTag:
    """Who a cause's `[run ID/ATTEMPT job JOB key KEY]` tag says triggered the run (each part
    may be absent; the random key tells steps apart, not workflows, so it is not kept)."""

    run_id: int | None
    run_attempt: int | None
    job: str  # "" when the tag names no job


_TAG = re.compile(
    r"\[(?:run (?P<run>[0-9]{1,18})/(?P<attempt>[0-9]{1,9}))?(?: ?job (?P<job>[^\[\]]+?))?"
    r"(?: ?key [0-9a-f]+)?\]\Z",
    re.ASCII,
)


def parse_trigger_tag(cause: str) -> TriggerTag | None:
    """The tag `trigger_tag` put at the end of a cause, or None when the cause has none (the
    user's own cause, dbt Cloud's own runs, a person's or another tool's)."""
    match = _TAG.search(cause)
    if match is None or match.group(0) == "[]":
        return None
    run, attempt = match.group("run"), match.group("attempt")
    return TriggerTag(
        run_id=None if run is None else int(run),
        run_attempt=None if attempt is None else int(attempt),
        job=match.group("job") or "",
    )


def auto_cause(context: GitHubContext, key: str = "") -> str:
    """`GitHub Actions: CI #42 (pull_request) in octo/repo [run 123456/2 job dbt key 5f2a9c]`,
    at most 255 characters: the description is cut, never the tag."""
    tag = trigger_tag(context, key)
    if not context.workflow:
        text = "Triggered by dbt-cloud-action"
    else:
        text = f"GitHub Actions: {context.workflow[:_WORKFLOW_NAME_MAX]}"
        if context.run_number:
            text += f" #{context.run_number}"
        if context.event_name:
            text += f" ({context.event_name})"
        if context.repository:
            text += f" in {context.repository}"
    if not tag:
        return clean_cause(text)
    room = CAUSE_MAX - len(tag) - 1
    description = clean_cause(text)
    if len(description) > room:
        description = description[: room - 1] + "…"
    return f"{description} {tag}"


def schema_name(text: str) -> str:
    """A schema name every warehouse accepts unquoted: [a-z0-9_], no leading digit, <= 63.

    Accents are folded to ASCII, anything else becomes `_`. A longer name is cut and ends with
    a short hash of the whole name, so two long branch names never share a schema.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9_]+", "_", folded).strip("_")
    if slug[:1].isdigit():
        slug = f"_{slug}"
    if len(slug) > SCHEMA_MAX:
        digest = hashlib.sha256(slug.encode()).hexdigest()[:_SCHEMA_HASH]
        slug = f"{slug[: SCHEMA_MAX - _SCHEMA_HASH - 1]}_{digest}"
    return slug


_PLACEHOLDER_ADVICE = {
    "pr": "Use {pr} only in workflows on pull request events, or set pull-request.",
    "sha": "Do not set git-sha to none when using {sha}, or remove it.",
    "sha7": "Do not set git-sha to none when using {sha7}, or remove it.",
    "branch": "Fork pull requests, tags and git-branch: none have no branch; use {pr} or {sha7}"
    " instead, or set git-branch.",
}


def render_schema(
    template: SchemaTemplate, values: Mapping[str, str | None], event_name: str
) -> str:
    """The template with the run's values, as a safe schema name; InputError when one is missing."""
    for name in sorted(template.placeholders):
        if values.get(name) is None:
            raise InputError(
                "schema-override",
                f"uses {{{name}}} but this run has none (event {event_name or 'unknown'}). "
                f"{_PLACEHOLDER_ADVICE.get(name, '')}".strip(),
            )
    name = schema_name(template.text.format_map(values))
    if not name:
        raise InputError(
            "schema-override",
            "renders to an empty schema name; add letters or digits, "
            "e.g. dbt_cloud_pr_{job_id}_{pr}.",
        )
    return name


def sha_to_send(
    git_sha: str | Auto | None, git_branch: str | Auto | None, context: GitHubContext
) -> str | None:
    """The commit the trigger sends: git-sha, or with `auto` the event's commit, unless
    git-branch names another branch (the event's commit is not on it: its tip is run)."""
    if git_sha is not AUTO:
        return git_sha
    if git_branch is AUTO or git_branch is None or git_branch == context.head_branch:
        return context.head_sha
    return None


def build_trigger_payload(
    inputs: ActionInputs, context: GitHubContext, trigger_key: str = ""
) -> TriggerPayload:
    """The trigger body for these inputs in this workflow run (pure; InputError on a bad combo).

    `trigger_key` (random per step) goes into the automatic cause, so the run this step
    triggers can be told from every other run of the job. `{branch}` in the schema template is
    the branch the run is about (git-branch, or with `auto` the event's branch) even when only
    the SHA is sent, so per-branch schema names keep working.
    """
    check_one_git_target(inputs.git_sha, inputs.git_branch)
    branch = context.head_branch if inputs.git_branch is AUTO else inputs.git_branch
    sha = sha_to_send(inputs.git_sha, inputs.git_branch, context)
    other = inputs.other_pull_request
    if other is not None:  # the CLI on another CI: `pull-request: auto` then means none
        pr = None
    else:
        pr = context.pr_number if inputs.pull_request is AUTO else inputs.pull_request
    number = other.number if other is not None else pr
    if inputs.mode is Mode.FOLLOW and sha is None:
        raise InputError(
            "mode",
            "is follow, which finds dbt Cloud's run by the commit it was started for, but this "
            f"step has no commit (event {context.event_name or 'unknown'}, git-sha "
            f"{'none' if inputs.git_sha is None else 'auto'}). Leave git-sha auto on pull "
            "request events or set it to the pull request's head commit; or use mode: trigger.",
        )
    schema = None
    if inputs.schema_override is not None:
        values = {
            "job_id": str(inputs.job_id),
            "pr": None if number is None else str(number),
            "sha": sha,
            "sha7": None if sha is None else sha[:7],
            "branch": branch,
        }
        schema = render_schema(inputs.schema_override, values, context.event_name)
    return TriggerPayload(
        cause=auto_cause(context, trigger_key) if inputs.cause is AUTO else inputs.cause,
        git_sha=sha,
        git_branch=branch if sha is None else None,
        github_pull_request_id=pr,
        gitlab_merge_request_id=_number_in(other, "gitlab_merge_request_id"),
        azure_pull_request_id=_number_in(other, "azure_pull_request_id"),
        non_native_pull_request_id=_number_in(other, "non_native_pull_request_id"),
        schema_override=schema,
        dbt_version_override=inputs.dbt_version_override,
        threads_override=inputs.threads_override,
        target_name_override=inputs.target_name_override,
        generate_docs_override=inputs.generate_docs_override,
        timeout_seconds_override=inputs.timeout_seconds_override,
        steps_override=inputs.steps_override,
    )


def _number_in(other: OtherPullRequest | None, field: str) -> int | None:
    return other.number if other is not None and other.field == field else None


def fork_to_be_run(context: GitHubContext, sha: str | None) -> str | None:
    """The fork whose head commit `sha` (the commit to be sent) is, or None.

    dbt Cloud clones the repository it is connected to, which does not hold a fork's commits:
    such a run fails at its clone step ("fatal: reference is not a tree"). A trigger that sends
    no SHA, or another commit (git-sha: none with a branch of this repository), runs nothing
    of the fork and is allowed.
    """
    if not context.is_fork or sha is None or context.head_sha is None:
        return None
    if not context.head_sha.startswith(sha):
        return None
    return context.head_repo_full_name or "a fork that has been deleted"
