"""The trigger body: auto/none/explicit resolution, the schema template, the cause, and the
body's shape checked against the official OpenAPI schema."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator

from dbt_cloud_action.context import GitHubContext, context_from_event
from dbt_cloud_action.inputs import ActionInputs, InputError, parse_inputs
from dbt_cloud_action.payload import (
    SCHEMA_MAX,
    TriggerPayload,
    TriggerTag,
    auto_cause,
    build_trigger_payload,
    fork_to_be_run,
    parse_trigger_tag,
    schema_name,
)
from tests.spec import spec_path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).parent / "fixtures" / "events"
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
PR_HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
PUSHED = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def inputs(**overrides: str) -> ActionInputs:
    raw = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    raw |= {
        "access-url": "https://ab123.us1.dbt.com",
        "api-token": "dbtc_testtokentesttoken",
        "account-id": "1",
        "job-id": "5",
        "github-token": "",
    }
    raw |= {name.replace("_", "-"): value for name, value in overrides.items()}
    return parse_inputs(raw.__getitem__)


def event(name: str, fixture: str, ref: str = "refs/heads/main") -> GitHubContext:
    payload = json.loads((EVENTS / fixture).read_text(encoding="utf-8"))
    env = {
        "GITHUB_REPOSITORY": payload.get("repository", {}).get("full_name", "octo-org/octo-repo"),
        "GITHUB_SHA": "f" * 40,
        "GITHUB_REF": ref,
        "GITHUB_WORKFLOW": "CI",
        "GITHUB_RUN_NUMBER": "42",
    }
    return context_from_event(name, payload, env)


PR = event("pull_request", "pull_request.synchronize.json", "refs/pull/2/merge")
FORK = event("pull_request", "pull_request.synchronize.fork.json", "refs/pull/2/merge")
PUSH = event("push", "push.branch.json", "refs/heads/master")
TAG = event("push", "push.tag.json", "refs/tags/simple-tag")


def payload_for(context: GitHubContext, **overrides: str) -> TriggerPayload:
    return build_trigger_payload(inputs(**overrides), context)


def body(context: GitHubContext, **overrides: str) -> dict[str, Any]:
    return payload_for(context, **overrides).to_api()


def test_pull_request_body_sends_the_head_commit_and_no_branch() -> None:
    assert body(PR, schema_override="dbt_cloud_pr_{job_id}_{pr}") == {
        "cause": "GitHub Actions: CI #42 (pull_request) in Codertocat/Hello-World",
        "git_sha": PR_HEAD,
        "github_pull_request_id": 2,
        "schema_override": "dbt_cloud_pr_5_2",
    }


def test_fork_pull_request_body_has_no_branch() -> None:
    assert body(FORK) == {
        "cause": "GitHub Actions: CI #42 (pull_request) in Codertocat/Hello-World",
        "git_sha": PR_HEAD,
        "github_pull_request_id": 2,
    }


def test_push_and_tag_bodies() -> None:
    assert body(PUSH) == {
        "cause": "GitHub Actions: CI #42 (push) in Codertocat/Hello-World",
        "git_sha": PUSHED,
    }
    assert body(TAG) == {
        "cause": "GitHub Actions: CI #42 (push) in Codertocat/Hello-World",
        "git_sha": PUSHED,
    }


def test_explicit_values_win_and_none_sends_nothing() -> None:
    assert body(PR, cause="Nightly", git_sha="ABCDEF1", pull_request="9") == {
        "cause": "Nightly",
        "git_sha": "abcdef1",
        "github_pull_request_id": 9,
    }
    assert body(PR, git_sha="none", git_branch="none", pull_request="none") == {
        "cause": "GitHub Actions: CI #42 (pull_request) in Codertocat/Hello-World"
    }


# Every git-sha/git-branch combination on a push to master (commit PUSHED): what is sent.
# "both" is the input error: dbt Cloud takes one of them.
@pytest.mark.parametrize(
    ("git_sha", "git_branch", "expected"),
    [
        ("auto", "auto", {"git_sha": PUSHED}),
        ("auto", "none", {"git_sha": PUSHED}),
        ("auto", "master", {"git_sha": PUSHED}),  # the event's own branch: its exact commit
        ("auto", "release", {"git_branch": "release"}),  # another branch: its tip
        ("none", "auto", {"git_branch": "master"}),
        ("none", "none", {}),
        ("none", "release", {"git_branch": "release"}),
        ("abcdef1", "auto", {"git_sha": "abcdef1"}),
        ("abcdef1", "none", {"git_sha": "abcdef1"}),
        ("abcdef1", "master", "both"),
        ("abcdef1", "release", "both"),
    ],
)
def test_git_sha_and_git_branch_combinations(
    git_sha: str, git_branch: str, expected: dict[str, str] | str
) -> None:
    if expected == "both":
        with pytest.raises(InputError) as caught:
            body(PUSH, git_sha=git_sha, git_branch=git_branch)
        message = str(caught.value)
        assert "'git-sha'" in message and "'git-branch'" in message
        assert "one of them" in message
        return
    sent = body(PUSH, git_sha=git_sha, git_branch=git_branch)
    assert {k: v for k, v in sent.items() if k.startswith("git_")} == expected
    payload = build_trigger_payload(inputs(git_sha=git_sha, git_branch=git_branch), PUSH)
    assert (payload.git_sha, payload.git_branch) == (
        expected.get("git_sha") if isinstance(expected, dict) else None,
        expected.get("git_branch") if isinstance(expected, dict) else None,
    )


def _every_event() -> list[GitHubContext]:
    names = {
        "pull_request.opened.json": ("pull_request", "pull_request_target", "pull_request_review"),
        "pull_request.synchronize.json": ("pull_request", "pull_request_review_comment"),
        "pull_request.synchronize.fork.json": ("pull_request", "pull_request_target"),
        "push.branch.json": ("push",),
        "push.tag.json": ("push",),
        "push.tag-deleted.json": ("push",),
        "merge_group.checks_requested.json": ("merge_group",),
        "workflow_dispatch.json": ("workflow_dispatch",),
        "workflow_run.completed.json": ("workflow_run",),
        "workflow_run.completed.pull_request.json": ("workflow_run",),
        "workflow_run.completed.fork.json": ("workflow_run",),
        "schedule.json": ("schedule",),
    }
    assert set(names) == {path.name for path in EVENTS.glob("*.json")}, "a fixture is not covered"
    return [event(name, fixture) for fixture, events in names.items() for name in events]


@pytest.mark.parametrize("git_sha", ["auto", "none", "0123abc"])
@pytest.mark.parametrize("git_branch", ["auto", "none", "main", "changes", "release/v2"])
def test_no_body_ever_carries_both_git_sha_and_git_branch(git_sha: str, git_branch: str) -> None:
    """dbt Cloud answers 400 "git_branch and git_sha cannot both be specified": whatever the
    event and inputs, the body has at most one of them, or the inputs are refused."""
    for context in _every_event():
        try:
            sent = body(context, git_sha=git_sha, git_branch=git_branch)
        except InputError as error:
            assert git_sha not in ("auto", "none") and git_branch not in ("auto", "none")
            assert error.input_name == "git-sha" and "'git-branch'" in str(error)
            continue
        assert not {"git_sha", "git_branch"} <= set(sent), (context.event_name, sent)
        if git_sha == "auto" and git_branch in ("auto", "none") and context.head_sha:
            assert sent["git_sha"] == context.head_sha  # a known commit is always sent


def test_payload_refuses_both_fields() -> None:
    with pytest.raises(ValueError, match="never both"):
        TriggerPayload(cause="c", git_sha="a" * 40, git_branch="main")


def test_branch_placeholder_is_the_events_branch_even_when_only_the_sha_is_sent() -> None:
    sent = body(PR, schema_override="ci_{branch}_{sha7}")
    assert sent["schema_override"] == "ci_changes_ec26c3e"
    assert "git_branch" not in sent and sent["git_sha"] == PR_HEAD
    assert body(PUSH, schema_override="b_{branch}", git_branch="release")["schema_override"] == (
        "b_release"
    )


# --- fork pull requests ------------------------------------------------------------------------


def test_fork_head_commit_is_to_be_run_on_every_pull_request_event() -> None:
    fork_target = event("pull_request_target", "pull_request.synchronize.fork.json")
    for context in (FORK, fork_target):
        assert fork_to_be_run(context, payload_for(context).git_sha) == "octo-fork/Hello-World"
        assert (
            fork_to_be_run(context, payload_for(context, git_sha=PR_HEAD[:7]).git_sha) is not None
        )


def test_workflow_run_sends_the_tested_commit_and_a_forks_is_to_be_run() -> None:
    same = event("workflow_run", "workflow_run.completed.pull_request.json")
    sent = payload_for(same)
    assert (sent.git_sha, sent.git_branch, sent.github_pull_request_id) == (PR_HEAD, None, 2)
    assert fork_to_be_run(same, sent.git_sha) is None
    assert body(same, schema_override="ci_{branch}_{pr}")["schema_override"] == "ci_changes_2"
    fork = event("workflow_run", "workflow_run.completed.fork.json")
    assert fork_to_be_run(fork, payload_for(fork).git_sha) == "octo-fork/octo-repo"
    # the default branch's tip instead runs nothing of the fork
    assert (
        fork_to_be_run(fork, payload_for(fork, git_sha="none", git_branch="main").git_sha) is None
    )


def test_a_body_that_runs_nothing_of_the_fork_is_allowed() -> None:
    assert (
        fork_to_be_run(FORK, payload_for(FORK, git_sha="none", git_branch="main").git_sha) is None
    )
    assert fork_to_be_run(FORK, payload_for(FORK, git_sha="none").git_sha) is None
    assert fork_to_be_run(FORK, payload_for(FORK, git_branch="main").git_sha) is None  # main's tip
    assert (
        fork_to_be_run(FORK, payload_for(FORK, git_sha="1234567").git_sha) is None
    )  # another commit
    assert fork_to_be_run(PR, payload_for(PR).git_sha) is None
    assert fork_to_be_run(PUSH, payload_for(PUSH).git_sha) is None


def test_a_deleted_fork_is_still_a_fork() -> None:
    deleted = dataclasses.replace(FORK, head_repo_full_name=None)
    assert fork_to_be_run(deleted, payload_for(deleted).git_sha) == "a fork that has been deleted"


def test_overrides_are_typed_as_the_api_wants() -> None:
    sent = body(
        PUSH,
        dbt_version_override="1.9.0-latest",
        threads_override="8",
        target_name_override="ci",
        generate_docs_override="false",
        timeout_seconds_override="0",
        steps_override="dbt seed\ndbt build",
    )
    assert sent["threads_override"] == 8
    assert sent["generate_docs_override"] is False
    assert sent["timeout_seconds_override"] == 0
    assert sent["steps_override"] == ["dbt seed", "dbt build"]
    assert (sent["dbt_version_override"], sent["target_name_override"]) == ("1.9.0-latest", "ci")


def test_body_matches_the_official_openapi_schema() -> None:
    spec_file = spec_path()
    spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    schema = spec["components"]["schemas"]["TriggerRunRequestRequest"]
    validator = OAS30Validator(schema)
    full = body(
        PR,
        schema_override="pr_{pr}_{sha7}_{branch}",
        dbt_version_override="latest",
        threads_override="4",
        target_name_override="ci",
        generate_docs_override="true",
        timeout_seconds_override="600",
        steps_override="dbt build",
    )
    assert set(full) == set(schema["properties"]) - {
        "git_branch",  # sent instead of git_sha, never with it
        "azure_pull_request_id",
        "gitlab_merge_request_id",
        "non_native_pull_request_id",
    }
    validator.validate(full)
    validator.validate(body(PR, git_sha="none"))
    validator.validate(body(PR, git_sha="none", git_branch="none", pull_request="none"))
    assert not validator.is_valid({**full, "github_pull_request_id": "2"})


def test_to_api_leaves_out_unset_fields() -> None:
    assert TriggerPayload(cause="x").to_api() == {"cause": "x"}
    assert TriggerPayload(cause="x", generate_docs_override=False).to_api() == {
        "cause": "x",
        "generate_docs_override": False,
    }


# --- schema-override -------------------------------------------------------------------------


def test_schema_template_placeholders() -> None:
    schema = body(PR, schema_override="CI_{job_id}_{pr}_{sha7}_{branch}_{sha}")["schema_override"]
    assert schema == f"ci_5_2_ec26c3e_changes_{PR_HEAD}"  # exactly 63 characters: not cut


@pytest.mark.parametrize(
    ("context", "template", "missing", "advice"),
    [
        (PUSH, "pr_{pr}", "{pr}", "pull request events"),
        (FORK, "b_{branch}", "{branch}", "Fork pull requests"),
        (TAG, "b_{branch}", "{branch}", "set git-branch"),
    ],
)
def test_placeholder_without_a_value_is_an_error_naming_schema_override(
    context: GitHubContext, template: str, missing: str, advice: str
) -> None:
    with pytest.raises(InputError) as caught:
        body(context, schema_override=template)
    assert caught.value.input_name == "schema-override"
    assert missing in caught.value.message and advice in caught.value.message


def test_sha_placeholder_with_git_sha_none() -> None:
    with pytest.raises(InputError, match=r"\{sha7\}.*git-sha"):
        body(PR, schema_override="s_{sha7}", git_sha="none")


def test_schema_that_slugifies_to_nothing() -> None:
    context = dataclasses.replace(PUSH, head_branch="_")
    with pytest.raises(InputError, match="empty schema name"):
        body(context, schema_override="{branch}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dbt_cloud_pr_5_12", "dbt_cloud_pr_5_12"),
        ("Feature/Ünïcode-Thing", "feature_unicode_thing"),
        ("--a..b--", "a_b"),
        ("123_main", "_123_main"),
        ("a;drop schema x;--", "a_drop_schema_x"),
        ("", ""),
    ],
)
def test_schema_name(text: str, expected: str) -> None:
    assert schema_name(text) == expected


def test_long_schema_names_are_cut_with_a_hash_and_stay_distinct() -> None:
    long = "pr_" + "a" * 80 + "_one"
    digest = hashlib.sha256(long.encode()).hexdigest()[:8]
    assert schema_name(long) == f"{long[:54]}_{digest}"
    assert len(schema_name(long)) == SCHEMA_MAX
    assert schema_name("pr_" + "a" * 80 + "_two") != schema_name(long)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_schema_name_is_always_safe(text: str) -> None:
    assert re.fullmatch(r"(?:[a-z_][a-z0-9_]{0,62})?", schema_name(text))


# --- cause -----------------------------------------------------------------------------------


def test_auto_cause_is_one_bounded_line() -> None:
    long_name = dataclasses.replace(PR, workflow="W\n" + "x" * 400, repository="o/" + "r" * 200)
    cause = auto_cause(long_name)
    assert len(cause) <= 255 and "\n" not in cause and cause.startswith("GitHub Actions: W x")
    assert auto_cause(dataclasses.replace(PR, workflow="")) == "Triggered by dbt-cloud-action"


def test_auto_cause_names_the_run_attempt_job_and_key() -> None:
    context = dataclasses.replace(PR, run_id=123456, run_attempt=2, job="dbt")
    assert auto_cause(context, "5f2a9c") == (
        "GitHub Actions: CI #42 (pull_request) in Codertocat/Hello-World "
        "[run 123456/2 job dbt key 5f2a9c]"
    )
    payload = build_trigger_payload(inputs(), context, trigger_key="5f2a9c")
    assert payload.cause == auto_cause(context, "5f2a9c")
    assert build_trigger_payload(inputs(cause="Mine"), context, trigger_key="x").cause == "Mine"


def test_auto_cause_cuts_the_description_never_the_tag() -> None:
    context = dataclasses.replace(
        PR, workflow="W" * 400, repository="o/" + "r" * 200, run_id=9, job="j\n" + "x" * 300
    )
    cause = auto_cause(context, "abcdef")
    assert len(cause) == 255 and "\n" not in cause
    assert cause.endswith(f" [run 9/1 job j {'x' * 58} key abcdef]")
    assert cause.startswith("GitHub Actions: WWW")


def test_the_tag_is_read_back_from_the_cause() -> None:
    """What tells a run this workflow started (retry-failed) from everyone else's."""
    context = dataclasses.replace(PR, run_id=123456, run_attempt=2, job="dbt")
    assert parse_trigger_tag(auto_cause(context, "5f2a9c")) == TriggerTag(123456, 2, "dbt")
    cut = dataclasses.replace(
        PR, workflow="W" * 400, repository="o/" + "r" * 200, run_id=9, job="j\n" + "x" * 300
    )
    assert parse_trigger_tag(auto_cause(cut, "abcdef")) == TriggerTag(9, 1, "j " + "x" * 58)
    bare = dataclasses.replace(PR, run_id=None, job="")  # the CLI outside GitHub Actions
    assert parse_trigger_tag(auto_cause(bare, "abcdef")) == TriggerTag(None, None, "")
    for other in ("Triggered via API", "Nightly [prod]", "[]", "x [run 1/1 job a]b", ""):
        assert parse_trigger_tag(other) is None, other


def test_overrides_lists_only_set_job_settings() -> None:
    payload = TriggerPayload(
        cause="c",
        schema_override="dbt_pr_1",
        threads_override=8,
        generate_docs_override=False,
        steps_override=("dbt seed", "dbt build"),
    )
    assert payload.requested_overrides().shown() == (
        ("threads", "8"),
        ("generate docs", "false"),
        ("steps", "dbt seed; dbt build"),
    )
    assert TriggerPayload(cause="c", git_sha="a" * 40).requested_overrides().shown() == ()
