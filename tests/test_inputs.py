"""Input parsing: action.yml and the parser agree, every parser accepts and refuses what it
should, every error names its input, and no string can make a parser raise anything else or
leak the api-token."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dbt_cloud_action.inputs import (
    AUTO,
    ActionInputs,
    CommentMode,
    ForkPullRequests,
    InputError,
    JobReference,
    JobSelection,
    Mode,
    RetryFailed,
    SchemaTemplate,
    parse_inputs,
)
from dbt_cloud_action.vars_override import Vars

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
DECLARED = list(ACTION["inputs"])
TOKEN = "dbtc_Q2xpZW50U2VjcmV0VG9rZW5Gb3JUZXN0cw0123"
REQUIRED_VALUES = {
    "access-url": "https://ab123.us1.dbt.com",
    "api-token": TOKEN,
    "account-id": "1",
    "job-id": "42",
}


def runner_inputs(**overrides: str) -> dict[str, str]:
    """What the runner passes: every declared input, with its default unless overridden."""
    raw = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    raw["github-token"] = "ghs_runnerSuppliedToken"
    raw.update(REQUIRED_VALUES)
    given = {name.replace("_", "-"): value for name, value in overrides.items()}
    replaces_job_id = given.get("job-name", "").strip() or given.get("jobs-from", "").strip()
    if replaces_job_id and "job-id" not in given:  # it replaces job-id
        given["job-id"] = ""
    raw.update(given)
    return raw


def parse(raw: dict[str, str]) -> ActionInputs:
    return parse_inputs(raw.__getitem__)  # KeyError if it reads an undeclared input


def error_for(name: str, value: str) -> InputError:
    with pytest.raises(InputError) as caught:
        parse(runner_inputs(**{name: value}))
    assert caught.value.input_name == name
    assert str(caught.value).startswith(f"Input '{name}' ")
    return caught.value


def test_parser_reads_exactly_the_inputs_declared_in_action_yml() -> None:
    read: list[str] = []
    raw = runner_inputs()

    def get(name: str) -> str:
        read.append(name)
        return raw[name]

    parse_inputs(get)
    assert set(read) == set(DECLARED)


def test_action_yml_defaults_mean_the_same_as_empty_values() -> None:
    """The CLI passes empty strings where the runner passes action.yml's defaults."""
    from_defaults = parse(runner_inputs())
    empty = {name: "" for name in DECLARED} | REQUIRED_VALUES
    from_empty = parse(empty)
    assert dataclasses.replace(from_empty, github_token="ghs_runnerSuppliedToken") == from_defaults


def test_defaults() -> None:
    inputs = parse(runner_inputs())
    assert inputs.access_url == "https://ab123.us1.dbt.com"
    assert (inputs.account_id, inputs.job_id, inputs.api_token) == (1, 42, TOKEN)
    assert inputs.cause is AUTO and inputs.git_sha is AUTO and inputs.git_branch is AUTO
    assert inputs.pull_request is AUTO and inputs.poll_interval is AUTO
    assert inputs.retry_failed is RetryFailed.AUTO
    assert inputs.schema_override is None and inputs.steps_override == ()
    assert inputs.wait and inputs.fail_on_error and inputs.summary
    assert inputs.cancel_on_exit and inputs.cancel_on_timeout and inputs.reuse_existing_run
    assert not (inputs.cancel_superseded or inputs.commit_status)
    assert inputs.comment_on_pr is CommentMode.OFF and not inputs.check_run
    assert inputs.annotations and inputs.junit_xml is None
    assert inputs.project_subdirectory is None
    assert inputs.timeout_seconds is None
    assert (inputs.artifacts, inputs.artifacts_dir, inputs.artifacts_step) == ((), "target", None)
    assert (inputs.mode, inputs.follow_timeout_seconds, inputs.cancel_followed) == (
        Mode.TRIGGER,
        600,
        False,
    )
    assert inputs.other_pull_request is None


def test_action_yml_declares_the_contract() -> None:
    required = {name for name, spec in ACTION["inputs"].items() if spec.get("required")}
    # job-id or job-name: one of the two, which `required:` cannot say (and the runner does
    # not enforce anyway); parse_job_selection does
    assert required == set(REQUIRED_VALUES) - {"job-id"}
    assert ACTION["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert set(ACTION["outputs"]) == {
        "run-id",
        "run-url",
        "status",
        "status-code",
        "duration-seconds",
        "queued-seconds",
        "git-sha",
        "git-branch",
        "pull-request",
        "schema-override",
        "job-name",
        "artifacts",
        "origin",
        "runs",
    }
    assert ACTION["runs"] == {
        "using": "docker",
        "image": "Dockerfile",
        "post-entrypoint": "/action/post_entrypoint.py",
    }


def test_error_message_format() -> None:
    assert str(error_for("job-id", "abc")) == (
        "Input 'job-id' must be a positive integer (got 'abc'). "
        "Set job-id to the number in the job's URL: .../jobs/<job-id>/"
    )


@pytest.mark.parametrize("name", sorted(REQUIRED_VALUES))
@pytest.mark.parametrize("value", ["", "  \n"])
def test_required_inputs(name: str, value: str) -> None:
    assert "is required" in error_for(name, value).message


def test_missing_access_url_says_there_is_no_default_host() -> None:
    assert "cloud.getdbt.com is no longer a default" in error_for("access-url", "").message


# A recorded `dbt-jobs-as-code sync --json` (1.22.0, against the emulator): one job created.
SYNC_JSON = ROOT / "tests" / "fixtures" / "jobs_as_code" / "sync.json"


GOOD: list[tuple[str, str, Any]] = [
    ("access-url", "ab123.us1.dbt.com/api/v2/", "https://ab123.us1.dbt.com"),
    ("access-url", " http://127.0.0.1:8080 ", "http://127.0.0.1:8080"),
    ("account-id", "007", 7),
    ("job-id", " 123456 ", 123456),
    ("cause", "auto", AUTO),
    ("cause", "Deploy\r\nfrom  CI\u2028now", "Deploy from CI now"),
    ("cause", "x" * 300, "x" * 254 + "…"),
    ("git-sha", "none", None),
    ("git-sha", "ABCDEF1", "abcdef1"),
    ("git-sha", "a" * 40, "a" * 40),
    ("git-branch", "none", None),
    ("git-branch", "feature/ünïcode-1.2", "feature/ünïcode-1.2"),
    ("git-branch", "refs/heads/release/v1", "release/v1"),
    ("pull-request", "none", None),
    ("pull-request", "12", 12),
    ("fork-pull-requests", "fail", ForkPullRequests.FAIL),
    ("fork-pull-requests", "skip", ForkPullRequests.SKIP),
    (
        "schema-override",
        "dbt_cloud_{branch}_{sha7}",
        SchemaTemplate("dbt_cloud_{branch}_{sha7}", frozenset({"branch", "sha7"})),
    ),
    ("schema-override", "{{literal}}_{pr}", SchemaTemplate("{{literal}}_{pr}", frozenset({"pr"}))),
    ("dbt-version-override", "1.9.0-latest", "1.9.0-latest"),
    ("dbt-version-override", "versionless", "versionless"),
    ("dbt-version-override", "1.8", "1.8"),
    ("threads-override", "1", 1),
    ("threads-override", "64", 64),
    ("target-name-override", "ci", "ci"),
    ("target-name-override", "_dev-us", "_dev-us"),
    ("generate-docs-override", "FALSE", False),
    ("generate-docs-override", "True", True),
    ("timeout-seconds-override", "0", 0),
    ("timeout-seconds-override", "3600", 3600),
    (
        "steps-override",
        "dbt seed\n\n  dbt build --select state:modified+\r\n",
        ("dbt seed", "dbt build --select state:modified+"),
    ),
    ("wait", "false", False),
    ("timeout", "900", 900),
    ("timeout", "90s", 90),
    ("timeout", "45m", 2700),
    ("timeout", "2h", 7200),
    ("timeout", "1h30m", 5400),
    ("timeout", "1h0m5s", 3605),
    ("poll-interval", "2.5", 2.5),
    ("poll-interval", "300", 300.0),
    ("fail-on-error", "false", False),
    ("summary", "False", False),
    ("github-token", "ghs_abc", "ghs_abc"),
    ("cancel-on-exit", "false", False),
    ("cancel-on-timeout", "false", False),
    ("reuse-existing-run", "false", False),
    ("cancel-superseded", "true", True),
    ("retry-failed", "always", RetryFailed.ALWAYS),
    ("retry-failed", "never", RetryFailed.NEVER),
    ("mode", "follow", Mode.FOLLOW),
    ("mode", "trigger", Mode.TRIGGER),
    ("follow-timeout", "90s", 90),
    ("follow-timeout", "1h", 3600),
    ("cancel-followed", "true", True),
    ("comment-on-pr", "true", CommentMode.ALWAYS),
    ("comment-on-pr", "FALSE", CommentMode.OFF),
    ("comment-on-pr", "failures", CommentMode.FAILURES),
    ("comment-on-pr", "changes", CommentMode.CHANGES),
    ("comment-on-pr", "off", CommentMode.OFF),
    ("annotations", "off", False),
    ("annotations", "auto", True),
    ("compare", "off", False),
    ("compare", "auto", True),
    ("project-subdirectory", "transform/dbt/", "transform/dbt"),
    ("project-subdirectory", ".", ""),
    ("junit-xml", "reports/dbt.xml", "reports/dbt.xml"),
    ("check-run", "true", True),
    ("follow-chain", "true", True),
    ("commit-status", "TRUE", True),
    (
        "artifacts",
        " run_results.json\nmanifest.json  run_results.json ",
        ("run_results.json", "manifest.json"),
    ),
    ("artifacts", "compiled/my_project/models/a.sql", ("compiled/my_project/models/a.sql",)),
    ("artifacts-dir", "out/dbt artifacts", "out/dbt artifacts"),
    ("artifacts-step", "2", 2),
    ("run-id", "7", 7),
    ("jobs-from", str(SYNC_JSON), JobSelection(job_ids=(106,))),
    ("vars", '{"day": "it\'s"}', Vars({"day": "it's"}, '--vars \'{"day":"it\\u0027s"}\'')),
]


@pytest.mark.parametrize(("name", "value", "expected"), GOOD)
def test_good_values(name: str, value: str, expected: Any) -> None:
    assert getattr(parse(runner_inputs(**{name: value})), FIELD[name]) == expected


FIELD = {name: name.replace("-", "_") for name in DECLARED} | {
    "timeout": "timeout_seconds",
    "follow-timeout": "follow_timeout_seconds",
    "job-name": "jobs",
    "jobs-from": "jobs",
}


GOOD += [
    (
        "job-name",
        " Nightly CI ",
        JobSelection(job_names=(JobReference("Nightly CI", text="Nightly CI"),)),
    ),
]

BAD: list[tuple[str, str, str]] = [
    ("job-name", "CI\nci", "twice"),
    ("access-url", "http://ab123.us1.dbt.com", "must use https"),
    ("access-url", "https://user:pw@ab123.us1.dbt.com", "user name or password"),
    ("access-url", "https://ab123.us1.dbt.com/?a=1", "query string"),
    ("access-url", "https://ab123.us1.dbt.com/deploy/1/projects/2", "only the scheme and host"),
    ("access-url", "ab123", "full host name"),
    ("api-token", "dbtc_abc def", "without spaces"),
    ("account-id", "0", "positive integer"),
    ("account-id", "-1", "positive integer"),
    ("job-id", "+5", "positive integer"),
    ("job-id", "1_000", "positive integer"),
    ("job-id", "\u0661\u0662", "positive integer"),
    ("job-id", "9" * 19, "positive integer"),
    ("cause", "\u200b\u200b", "only invisible characters"),
    ("git-sha", "abc123", "7 to 40 hex"),
    ("git-sha", "g" * 40, "7 to 40 hex"),
    ("git-sha", "a" * 41, "7 to 40 hex"),
    ("git-branch", "feature branch", "space"),
    ("git-branch", "a..b", "contains .."),
    ("git-branch", "-x", "starts with -"),
    ("git-branch", "a~1", "contains ~"),
    ("git-branch", "x\u2028y", "invisible"),
    ("git-branch", "a/.hidden", "starts with ."),
    ("git-branch", "a.lock", "ends with .lock"),
    ("git-branch", "a@{1}", "@{"),
    ("git-branch", "refs/tags/v1", "not a ref"),
    ("git-branch", "b" * 256, "longer than 255"),
    ("pull-request", "#12", "pull request number"),
    ("pull-request", "0", "pull request number"),
    ("fork-pull-requests", "Skip", "must be fail or skip"),
    ("schema-override", "dbt_{run_id}", "unknown placeholder '{run_id}'"),
    ("schema-override", "dbt_{}", "unknown placeholder '{}'"),
    ("schema-override", "dbt_{pr!r}", "without a format or conversion"),
    ("schema-override", "dbt_{sha:>9}", "without a format or conversion"),
    ("schema-override", "dbt_{pr", "not a valid template"),
    ("schema-override", "---", "letters, digits or placeholders"),
    ("dbt-version-override", "1.9; rm -rf", "dbt version"),
    ("threads-override", "0", "1 to 64"),
    ("threads-override", "65", "1 to 64"),
    ("target-name-override", "1ci", "a letter or _"),
    ("target-name-override", "ci prod", "a letter or _"),
    ("generate-docs-override", "yes", "true or false"),
    ("timeout-seconds-override", "-1", "0 for no timeout"),
    ("timeout-seconds-override", "99999999999", "0 for no timeout"),
    ("steps-override", "dbt build\nrm -rf /", "command 2 must start with 'dbt '"),
    ("steps-override", "dbtbuild", "must start with 'dbt '"),
    ("steps-override", "\n".join(["dbt run"] * 21), "at most 20"),
    ("steps-override", "dbt run \x1b[31m", "control"),
    ("wait", "1", "true or false"),
    ("timeout", "0", "more than 0"),
    ("timeout", "8d", "duration"),
    ("timeout", "200h", "at most 7 days"),
    ("timeout", "1m30h", "duration"),
    ("poll-interval", "0.5", "1 to 300"),
    ("poll-interval", "301", "1 to 300"),
    ("poll-interval", "fast", "auto or a number"),
    ("fail-on-error", "no", "true or false"),
    ("summary", "on", "true or false"),
    ("github-token", "a b", "without spaces"),
    ("cancel-on-exit", "yes", "true or false"),
    ("cancel-on-timeout", "0", "true or false"),
    ("reuse-existing-run", "y", "true or false"),
    ("cancel-superseded", "tru", "true or false"),
    ("retry-failed", "Always", "auto, always or never"),
    ("mode", "Follow", "must be trigger or follow"),
    ("follow-timeout", "0", "more than 0"),
    ("follow-timeout", "soon", "duration"),
    ("cancel-followed", "yes", "true or false"),
    ("comment-on-pr", "enabled", "always, failures, changes or off"),
    ("annotations", "on", "auto or off"),
    ("compare", "yes", "auto or off"),
    ("project-subdirectory", "../up", "contains .."),
    ("junit-xml", "/tmp/x.xml", "is absolute"),
    ("junit-xml", "reports/", "must name a file"),
    ("check-run", "maybe", "true or false"),
    ("follow-chain", "yes", "true or false"),
    ("commit-status", "t", "true or false"),
    ("artifacts", "run_results.json ../secrets", "contains .."),
    ("artifacts", "/etc/passwd", "is absolute"),
    ("artifacts", "a\\b", "backslash"),
    ("artifacts", "C:/Windows/win.ini", "Windows drive"),
    ("artifacts", "C:win.ini", "Windows drive"),
    ("artifacts", " ".join(f"f{i}.json" for i in range(51)), "at most 50"),
    ("artifacts-dir", "../out", "contains .."),
    ("artifacts-dir", "/tmp/out", "is absolute"),
    ("artifacts-dir", "D:/a/_temp", "Windows drive"),
    ("artifacts-dir", "C:\\Users\\runner", "backslash"),
    ("artifacts-step", "first", "positive integer"),
    ("vars", "day: [monday", "not a valid YAML or JSON mapping"),
    ("vars", "[1]", "must be a mapping"),
    ("run-id", "12a", "positive integer"),
    ("jobs-from", "no/such/sync.json", "cannot be read"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BAD)
def test_bad_values_name_the_input_and_what_is_allowed(
    name: str, value: str, expected: str
) -> None:
    assert expected in error_for(name, value).message


def test_every_input_has_good_and_bad_cases() -> None:
    assert {name for name, _, _ in BAD} == set(DECLARED)
    assert {name for name, _, _ in GOOD} == set(DECLARED) - {"api-token"}


def test_follow_chain_needs_the_run_waited_for() -> None:
    with pytest.raises(InputError) as caught:
        parse(runner_inputs(**{"follow-chain": "true", "wait": "false"}))
    assert caught.value.input_name == "follow-chain"
    assert "Set wait: true" in str(caught.value)


def test_fork_pull_requests_fail_by_default() -> None:
    assert parse(runner_inputs()).fork_pull_requests is ForkPullRequests.FAIL
    assert parse(runner_inputs(fork_pull_requests="")).fork_pull_requests is ForkPullRequests.FAIL


@pytest.mark.parametrize("branch", ["main", "refs/heads/main"])
def test_explicit_git_sha_and_git_branch_together_are_refused(branch: str) -> None:
    """dbt Cloud refuses a trigger with both ("git_branch and git_sha cannot both be
    specified"): the step fails before any API call, naming both inputs."""
    with pytest.raises(InputError) as caught:
        parse(runner_inputs(git_sha="abcdef1", git_branch=branch))
    message = str(caught.value)
    assert message.startswith("Input 'git-sha' and input 'git-branch' are both set")
    assert "dbt Cloud takes one of them" in message
    assert "git-sha to auto or none" in message


@pytest.mark.parametrize(
    ("sha", "branch"),
    [("auto", "main"), ("none", "main"), ("abcdef1", "auto"), ("abcdef1", "none")],
)
def test_one_explicit_git_target_is_fine(sha: str, branch: str) -> None:
    parsed = parse(runner_inputs(git_sha=sha, git_branch=branch))
    assert (parsed.git_sha, parsed.git_branch) != ("abcdef1", "main")


def test_tokens_are_not_in_the_repr() -> None:
    text = repr(parse(runner_inputs()))
    assert TOKEN not in text and "ghs_runnerSuppliedToken" not in text and "job_id=42" in text


def test_long_values_and_token_lookalikes_are_not_echoed() -> None:
    assert "not shown" in error_for("job-id", "x" * 33).message
    assert "xxxx" not in error_for("job-id", "x" * 33).message
    message = error_for("job-id", "dbtc_short").message
    assert "dbtc_short" not in message and "not shown" in message
    assert "dbtc_abc" not in error_for("api-token", "dbtc_abc def").message


def test_token_pasted_into_the_wrong_input_with_inputs_swapped_is_not_echoed() -> None:
    legacy = "0123456789abcdef0123456789abcdef01234567"
    for token in (TOKEN, legacy):
        with pytest.raises(InputError) as caught:
            parse(runner_inputs(api_token="42", job_id=token))
        assert caught.value.input_name == "job-id"
        assert token[:10] not in str(caught.value)


@pytest.mark.parametrize("name", [n for n in DECLARED if n != "api-token"])
def test_token_pasted_into_another_input_is_refused_and_not_echoed(name: str) -> None:
    error = error_for(name, f" {TOKEN}\n")
    assert TOKEN not in str(error) and TOKEN[:12] not in str(error)
    assert "api-token" in error.message


# --- property tests: any string, every input --------------------------------------------------

PIECES = [
    "auto", "none", "dbt ", "dbt build", "true", "1", "0", "42", "9", "h", "m", "s", ".", "..",
    "/", "{", "}", "{pr}", "{branch}", "{sha7}", "{x}", ":", "a", "F", "é", "-", "_", " ", "\n",
    "\r", "\t", "\x00", "\u2028", "\u200b", "@{", "~", "refs/heads/", "https://", "http://",
    "127.0.0.1", "[::1]", "@", "?", "#", ":99999", "ab.us1.dbt.com", "/api/v2", "\\", "\u0661",
]  # fmt: skip
values = st.one_of(
    st.text(max_size=80), st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
)


@pytest.mark.parametrize("name", DECLARED)
@settings(max_examples=200, deadline=None)
@given(value=values)
def test_any_string_gives_a_value_or_an_input_error_naming_the_input(name: str, value: str) -> None:
    raw = runner_inputs(**{name: value})
    try:
        parse(raw)
    except InputError as error:
        if name == "api-token" and error.input_name != name:  # the "token" is in another input
            assert len(value.strip()) >= 16 and value.strip() in raw[error.input_name]
            return
        assert error.input_name == name
        assert str(error).startswith(f"Input '{name}' ")
        assert "\n" not in str(error) and "\r" not in str(error)


tokens = st.one_of(
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=20).map(
        "dbtc_".__add__
    ),
    st.text("0123456789abcdef", min_size=40, max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(
    token=tokens,
    name=st.sampled_from([n for n in DECLARED if n != "api-token"]),
    before=values,
    after=values,
)
def test_the_token_never_appears_in_an_input_error(
    token: str, name: str, before: str, after: str
) -> None:
    raw = runner_inputs(api_token=token, **{name: before + token + after})
    with pytest.raises(InputError) as caught:
        parse(raw)
    assert token not in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(token=tokens, space=st.sampled_from([" ", "\n", "\t", "\u2028", "\x00"]), junk=values)
def test_a_malformed_token_is_never_echoed(token: str, space: str, junk: str) -> None:
    bad = token + space + junk + token
    with pytest.raises(InputError) as caught:
        parse(runner_inputs(api_token=bad))
    assert caught.value.input_name == "api-token"
    assert token not in str(caught.value)
