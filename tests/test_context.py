"""The event table on real webhook payloads (tests/fixtures/events, from
@octokit/webhooks-examples), and the fallbacks when the payload cannot be used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbt_cloud_action.context import (
    GitHubContext,
    branch_of_ref,
    context_from_env,
    context_from_event,
)

EVENTS = Path(__file__).parent / "fixtures" / "events"
RUNNER_SHA = "f" * 40  # what GITHUB_SHA holds: for PRs, GitHub's merge commit, never the head
PR_HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
PUSHED = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return payload


def runner_env(payload: dict[str, Any], **extra: str) -> dict[str, str]:
    """The variables the runner sets, for the repository the payload is about."""
    env = {
        "GITHUB_REPOSITORY": payload.get("repository", {}).get("full_name", "octo-org/octo-repo"),
        "GITHUB_SHA": RUNNER_SHA,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_WORKFLOW": "CI",
        "GITHUB_RUN_ID": "9000000001",
        "GITHUB_RUN_NUMBER": "42",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_WORKSPACE": "/github/workspace",
    }
    env.update(extra)
    return env


def context(event: str, fixture: str, **env: str) -> GitHubContext:
    payload = load(fixture)
    return context_from_event(event, payload, runner_env(payload, **env))


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
@pytest.mark.parametrize("fixture", ["pull_request.opened.json", "pull_request.synchronize.json"])
def test_pull_request_uses_the_head_commit_branch_and_number(event: str, fixture: str) -> None:
    ctx = context(event, fixture, GITHUB_REF="refs/pull/2/merge", GITHUB_HEAD_REF="changes")
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (PR_HEAD, "changes", 2)
    assert ctx.head_sha != ctx.sha == RUNNER_SHA
    assert (ctx.is_fork, ctx.head_repo_full_name) == (False, "Codertocat/Hello-World")
    assert ctx.warnings == ()


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
def test_fork_pull_request_sends_no_branch(event: str) -> None:
    ctx = context(event, "pull_request.synchronize.fork.json", GITHUB_REF="refs/pull/2/merge")
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (PR_HEAD, None, 2)
    assert (ctx.is_fork, ctx.head_repo_full_name) == (True, "octo-fork/Hello-World")


def test_pull_request_from_a_deleted_fork_is_a_fork() -> None:
    payload = load("pull_request.synchronize.fork.json")
    payload["pull_request"]["head"]["repo"] = None
    ctx = context_from_event("pull_request", payload, runner_env(payload))
    assert (ctx.head_branch, ctx.is_fork, ctx.head_repo_full_name) == (None, True, None)


def test_repository_names_compare_case_insensitively() -> None:
    payload = load("pull_request.opened.json")
    ctx = context_from_event(
        "pull_request", payload, runner_env(payload, GITHUB_REPOSITORY="codertocat/hello-world")
    )
    assert (ctx.head_branch, ctx.is_fork) == ("changes", False)


def test_pull_request_review_events_follow_the_pull_request_row() -> None:
    ctx = context("pull_request_review", "pull_request.opened.json")
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (PR_HEAD, "changes", 2)


def test_push_to_a_branch() -> None:
    ctx = context("push", "push.branch.json", GITHUB_REF="refs/heads/master")
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (PUSHED, "master", None)
    assert ctx.head_repo_full_name == "Codertocat/Hello-World" and not ctx.is_fork


def test_push_of_a_tag_has_no_branch() -> None:
    ctx = context("push", "push.tag.json", GITHUB_REF="refs/tags/simple-tag")
    assert (ctx.head_sha, ctx.head_branch) == (PUSHED, None)


def test_push_deleting_a_ref_sends_neither_commit_nor_branch() -> None:
    ctx = context("push", "push.tag-deleted.json", GITHUB_REF="refs/tags/simple-tag")
    assert (ctx.head_sha, ctx.head_branch) == (None, None)
    assert "deleted refs/tags/simple-tag" in ctx.warnings[0]


def test_merge_group_uses_the_queue_commit_and_branch() -> None:
    ctx = context("merge_group", "merge_group.checks_requested.json")
    assert ctx.head_sha == "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"
    assert ctx.head_branch == (
        "gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64"
    )
    assert ctx.pr_number is None


@pytest.mark.parametrize(
    ("event", "fixture"),
    [
        ("workflow_dispatch", "workflow_dispatch.json"),
        ("schedule", "schedule.json"),
        ("repository_dispatch", "schedule.json"),
    ],
)
def test_other_events_use_github_sha_and_ref(event: str, fixture: str) -> None:
    ctx = context(event, fixture, GITHUB_REF="refs/heads/release/v2")
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (RUNNER_SHA, "release/v2", None)


WORKFLOW_RUN_HEAD = "3484a3fb816e0859fd6e1cea078d76385ff50625"


def test_workflow_run_uses_the_commit_the_upstream_workflow_ran_for() -> None:
    """GITHUB_SHA is the default branch's last commit on workflow_run, not the commit tested."""
    ctx = context("workflow_run", "workflow_run.completed.json")
    assert ctx.sha == RUNNER_SHA != WORKFLOW_RUN_HEAD
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (WORKFLOW_RUN_HEAD, "master", None)
    assert (ctx.is_fork, ctx.head_repo_full_name) == (False, "octo-org/octo-repo")
    assert ctx.warnings == ()


def test_workflow_run_for_a_pull_request_sends_its_number() -> None:
    ctx = context("workflow_run", "workflow_run.completed.pull_request.json")
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (PR_HEAD, "changes", 2)
    assert not ctx.is_fork


def test_workflow_run_for_a_fork_is_a_forks_commit() -> None:
    """The fork rule applies to it as to pull_request_target: no branch (it is the fork's), and
    no number (GitHub leaves pull_requests empty for a fork's pull request)."""
    ctx = context("workflow_run", "workflow_run.completed.fork.json")
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (PR_HEAD, None, None)
    assert (ctx.is_fork, ctx.head_repo_full_name) == (True, "octo-fork/octo-repo")
    payload = load("workflow_run.completed.fork.json")
    payload["workflow_run"]["head_repository"] = None  # the fork was deleted
    gone = context_from_event("workflow_run", payload, runner_env(payload))
    assert (gone.head_sha, gone.is_fork, gone.head_repo_full_name) == (PR_HEAD, True, None)


def test_workflow_run_ignores_another_repositorys_pull_requests() -> None:
    payload = load("workflow_run.completed.pull_request.json")
    pulls = payload["workflow_run"]["pull_requests"]
    other = {**pulls[0], "number": 9}
    other["base"] = {**other["base"], "repo": {"url": "https://api.github.com/repos/up/stream"}}
    payload["workflow_run"]["pull_requests"] = [other, *pulls]
    ctx = context_from_event("workflow_run", payload, runner_env(payload))
    assert ctx.pr_number == 2


def test_workflow_run_payload_without_head_sha_falls_back_with_a_warning() -> None:
    payload = load("workflow_run.completed.json")
    del payload["workflow_run"]["head_sha"]
    ctx = context_from_event("workflow_run", payload, runner_env(payload))
    assert (ctx.head_sha, ctx.head_branch, ctx.is_fork) == (RUNNER_SHA, "main", False)
    assert "no head_sha" in ctx.warnings[0] and "git-sha" in ctx.warnings[0]


def test_dispatch_on_a_tag_has_no_branch() -> None:
    ctx = context("workflow_dispatch", "workflow_dispatch.json", GITHUB_REF="refs/tags/v1.0")
    assert (ctx.head_sha, ctx.head_branch) == (RUNNER_SHA, None)


def test_runner_variables() -> None:
    ctx = context(
        "push",
        "push.branch.json",
        GITHUB_SERVER_URL="https://ghe.example.com",
        GITHUB_API_URL="https://ghe.example.com/api/v3",
    )
    assert (ctx.run_id, ctx.run_number, ctx.run_attempt) == (9000000001, 42, 2)
    assert (ctx.workflow, ctx.actor, ctx.workspace) == ("CI", "octocat", "/github/workspace")
    assert ctx.api_url == "https://ghe.example.com/api/v3"
    bare = context_from_event("", {}, {})
    assert (bare.run_attempt, bare.run_number, bare.head_sha, bare.head_branch) == (
        1,
        None,
        None,
        None,
    )
    assert bare.server_url == "https://github.com" and bare.api_url == "https://api.github.com"


def test_pull_request_payload_without_head_falls_back_with_a_warning() -> None:
    env = runner_env({}, GITHUB_REF="refs/pull/7/merge", GITHUB_REPOSITORY="octo/repo")
    ctx = context_from_event("pull_request", {"action": "opened"}, env)
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number) == (RUNNER_SHA, None, 7)
    assert "git-sha" in ctx.warnings[0]


def test_ref_to_branch() -> None:
    assert branch_of_ref("refs/heads/feature/x") == "feature/x"
    assert branch_of_ref("refs/tags/v1") is None
    assert branch_of_ref("refs/pull/1/merge") is None
    assert branch_of_ref("refs/heads/") is None
    assert branch_of_ref("") is None


# --- context_from_env: reading GITHUB_EVENT_PATH ---------------------------------------------


def test_context_from_env_reads_the_event_file() -> None:
    path = EVENTS / "pull_request.synchronize.json"
    env = runner_env(load(path.name), GITHUB_EVENT_NAME="pull_request", GITHUB_EVENT_PATH=str(path))
    ctx = context_from_env(env)
    assert (ctx.head_sha, ctx.head_branch, ctx.pr_number, ctx.warnings) == (
        PR_HEAD,
        "changes",
        2,
        (),
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "No such file"), ("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object")],
)
def test_unusable_event_file_falls_back_to_the_environment(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    env = runner_env({}, GITHUB_EVENT_NAME="push", GITHUB_EVENT_PATH=str(path))
    ctx = context_from_env(env)
    assert (ctx.head_sha, ctx.head_branch) == (RUNNER_SHA, "main")
    assert reason in ctx.warnings[0] and "GITHUB_SHA" in ctx.warnings[0]


def test_binary_event_file_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    ctx = context_from_env(runner_env({}, GITHUB_EVENT_NAME="push", GITHUB_EVENT_PATH=str(path)))
    assert ctx.head_sha == RUNNER_SHA and "not valid JSON" in ctx.warnings[0]


def test_missing_event_path_warns_only_inside_github_actions() -> None:
    inside = context_from_env(runner_env({}, GITHUB_EVENT_NAME="push"))
    assert "GITHUB_EVENT_PATH is not set" in inside.warnings[0]
    outside = context_from_env({})
    assert outside.warnings == () and outside.head_sha is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "pull_request": json_values
        | st.fixed_dictionaries(
            {"head": st.dictionaries(st.sampled_from(["sha", "ref", "repo"]), json_values)}
        ),
        "number": json_values,
        "ref": json_values,
        "after": json_values | st.sampled_from(["0" * 40, PUSHED]),
        "deleted": json_values,
        "merge_group": json_values,
        "repository": json_values,
        "workflow_run": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "head_sha": json_values | st.just(PR_HEAD),
                "head_branch": json_values,
                "head_repository": json_values,
                "pull_requests": json_values | st.lists(json_values, max_size=3),
            },
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    event=st.sampled_from(
        ["pull_request", "pull_request_target", "push", "merge_group", "workflow_run", "other"]
    ),
    payload=event_like,
    sha=st.text(max_size=45),
    ref=st.text(max_size=30),
)
def test_any_payload_gives_a_context_never_an_exception(
    event: str, payload: dict[str, Any], sha: str, ref: str
) -> None:
    ctx = context_from_event(event, payload, {"GITHUB_SHA": sha, "GITHUB_REF": ref})
    assert ctx.head_sha is None or (len(ctx.head_sha) in {40, 64} and ctx.head_sha.isalnum())
    assert ctx.pr_number is None or ctx.pr_number > 0
