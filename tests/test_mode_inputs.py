"""`mode: follow` and its inputs, and the CLI's pull request ids of other git providers: what
is refused before any API call, and what goes into the trigger body."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dbt_cloud_action.context import context_from_event
from dbt_cloud_action.inputs import (
    CLI_ONLY_INPUT_NAMES,
    ActionInputs,
    InputError,
    Mode,
    OtherPullRequest,
    parse_inputs,
)
from dbt_cloud_action.payload import TriggerPayload, build_trigger_payload

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
DECLARED = list(ACTION["inputs"])
PR_CONTEXT = context_from_event(
    "pull_request",
    json.loads((ROOT / "tests/fixtures/events/pull_request.synchronize.json").read_text()),
    {"GITHUB_REPOSITORY": "Codertocat/Hello-World", "GITHUB_REF": "refs/pull/2/merge"},
)


def raw_inputs(**overrides: str) -> dict[str, str]:
    raw = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    raw |= {name: "" for name in CLI_ONLY_INPUT_NAMES}
    raw |= {
        "access-url": "https://ab123.us1.dbt.com",
        "api-token": "dbtc_modeInputsTestToken0123456789",
        "account-id": "1",
        "job-id": "5",
        "github-token": "",
    }
    raw |= {name.replace("_", "-"): value for name, value in overrides.items()}
    return raw


def parse(*, cli: bool = False, **overrides: str) -> ActionInputs:
    raw = raw_inputs(**overrides)
    if not cli:
        for name in CLI_ONLY_INPUT_NAMES:
            del raw[name]
    return parse_inputs(raw.__getitem__, cli=cli)


def refused(*, cli: bool = False, **overrides: str) -> InputError:
    with pytest.raises(InputError) as caught:
        parse(cli=cli, **overrides)
    return caught.value


# --- mode: follow ----------------------------------------------------------------------------


def test_follow_mode_with_the_defaults_is_fine() -> None:
    inputs = parse(mode="follow", follow_timeout="2m")
    assert (inputs.mode, inputs.follow_timeout_seconds) == (Mode.FOLLOW, 120)


def test_follow_mode_never_cancels_dbt_clouds_run_unless_asked() -> None:
    assert parse().cancels_on_exit and parse().cancels_on_timeout
    assert not parse(mode="follow").cancels_on_exit
    assert not parse(mode="follow").cancels_on_timeout
    asked = parse(mode="follow", cancel_followed="true")
    assert asked.cancels_on_exit and asked.cancels_on_timeout
    no_timeout_cancel = parse(mode="follow", cancel_followed="true", cancel_on_timeout="false")
    assert no_timeout_cancel.cancels_on_exit and not no_timeout_cancel.cancels_on_timeout
    never = parse(mode="follow", cancel_followed="true", cancel_on_exit="false")
    assert not (never.cancels_on_exit or never.cancels_on_timeout)
    # cancel-followed means nothing for a run the step triggered itself
    assert not parse(cancel_followed="true", cancel_on_exit="false").cancels_on_exit


def test_follow_mode_refuses_wait_false() -> None:
    error = refused(mode="follow", wait="false")
    assert error.input_name == "wait"
    assert "mode: follow starts no run" in error.message and "wait: true" in error.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cause", "from CI"),
        ("schema-override", "dbt_{pr}"),
        ("dbt-version-override", "latest"),
        ("threads-override", "4"),
        ("target-name-override", "ci"),
        ("generate-docs-override", "false"),
        ("timeout-seconds-override", "0"),
        ("steps-override", "dbt build"),
        ("reuse-existing-run", "false"),
        ("cancel-superseded", "true"),
        ("retry-failed", "always"),
    ],
)
def test_follow_mode_refuses_what_would_shape_or_start_a_run(name: str, value: str) -> None:
    raw = {n: v for n, v in raw_inputs(mode="follow").items() if n not in CLI_ONLY_INPUT_NAMES}
    with pytest.raises(InputError) as caught:
        parse_inputs((raw | {name: value}).__getitem__)
    error = caught.value
    assert error.input_name == "mode"
    assert f"but {name} is set" in error.message
    assert "mode: trigger" in error.message


def test_follow_mode_names_every_input_that_does_not_apply_at_once() -> None:
    error = refused(mode="follow", threads_override="4", cancel_superseded="true")
    assert "threads-override, cancel-superseded are set" in error.message


@pytest.mark.parametrize("value", ["never", "auto"])
def test_follow_mode_accepts_retry_failed_that_asks_for_no_retry(value: str) -> None:
    """auto only retries on a re-run, which in follow mode has nothing to retry: harmless."""
    assert parse(mode="follow", retry_failed=value).mode is Mode.FOLLOW


def test_trigger_mode_ignores_the_follow_inputs() -> None:
    inputs = parse(follow_timeout="1m", cancel_followed="true", threads_override="4")
    assert inputs.mode is Mode.TRIGGER and inputs.threads_override == 4


# --- the CLI's pull request ids of other git providers ---------------------------------------


def test_the_action_reads_no_cli_only_input() -> None:
    read: list[str] = []
    raw = raw_inputs()

    def get(name: str) -> str:
        read.append(name)
        return raw[name]

    parse_inputs(get)
    assert set(read) == set(DECLARED)
    read.clear()
    parse_inputs(get, cli=True)
    assert set(read) == set(DECLARED) | set(CLI_ONLY_INPUT_NAMES)


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("gitlab-merge-request-id", "gitlab_merge_request_id"),
        ("azure-pull-request-id", "azure_pull_request_id"),
        ("non-native-pull-request-id", "non_native_pull_request_id"),
    ],
)
def test_another_providers_pull_request_goes_in_its_own_field(name: str, field: str) -> None:
    inputs = parse(cli=True, schema_override="dbt_cloud_pr_{job_id}_{pr}", **{name: "77"})
    assert inputs.other_pull_request == OtherPullRequest(field, 77)
    body = build_trigger_payload(inputs, PR_CONTEXT).to_api()
    # pull-request: auto does not add the GitHub event's PR: a run is about one pull request
    assert body[field] == 77 and "github_pull_request_id" not in body
    assert body["schema_override"] == "dbt_cloud_pr_5_77"


def test_pr_placeholder_without_any_pull_request_is_still_an_input_error() -> None:
    inputs = parse(cli=True, schema_override="dbt_{pr}", pull_request="none")
    with pytest.raises(InputError, match="uses \\{pr\\} but this run has none"):
        build_trigger_payload(inputs, PR_CONTEXT)


def test_two_pull_request_ids_are_refused() -> None:
    error = refused(cli=True, gitlab_merge_request_id="1", non_native_pull_request_id="2")
    assert error.input_name == "gitlab-merge-request-id"
    assert "input 'non-native-pull-request-id' are both set" in error.message


def test_an_explicit_github_pull_request_and_another_providers_are_refused() -> None:
    error = refused(cli=True, pull_request="3", azure_pull_request_id="4")
    assert error.input_name == "pull-request"
    assert "input 'azure-pull-request-id' are both set" in error.message
    assert "set it to none" in error.message


@pytest.mark.parametrize("value", ["0", "-3", "#4", "4.0", "x"])
def test_other_pull_request_ids_are_positive_integers(value: str) -> None:
    error = refused(cli=True, gitlab_merge_request_id=value)
    assert error.input_name == "gitlab-merge-request-id"
    assert "positive integer" in error.message


def test_the_payload_refuses_two_pull_request_ids() -> None:
    with pytest.raises(ValueError, match="one pull request id at most"):
        TriggerPayload(cause="x", github_pull_request_id=1, azure_pull_request_id=1)


def test_follow_mode_needs_a_commit_to_match() -> None:
    with pytest.raises(InputError) as caught:
        build_trigger_payload(parse(mode="follow", git_sha="none"), PR_CONTEXT)
    assert caught.value.input_name == "mode"
    assert "finds dbt Cloud's run by the commit" in caught.value.message
    followed = build_trigger_payload(parse(mode="follow"), PR_CONTEXT)
    assert followed.git_sha == PR_CONTEXT.head_sha
    assert followed.github_pull_request_id == 2
