"""The real entrypoint, as a subprocess in a simulated runner, against the emulator over HTTP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event

TOKEN = "dbtc_e2eSecretToken_0123456789abcdef"
CLONE = StepScript("Clone git repository", duration=2)
BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    command="dbt build",
    duration=20,
    results=(
        NodeResult("model.shop.orders", "success", 3.5),
        NodeResult("test.shop.not_null_orders_id", "pass", 0.4, resource_type="test"),
    ),
)
FAILING_BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    command="dbt build",
    duration=20,
    outcome=20,
    results=(
        NodeResult("model.shop.orders", "success", 3.5),
        NodeResult(
            "test.shop.unique_orders_id",
            "fail",
            0.4,
            message="Got 3 results, configured to fail if != 0",
            resource_type="test",
        ),
    ),
)
JOBS = (
    JobScript(11, "CI build", (CLONE, BUILD), queue_seconds=2),
    JobScript(12, "CI failing", (CLONE, FAILING_BUILD), queue_seconds=2),
    JobScript(
        13,
        "Slow deploy",
        (CLONE, StepScript("Invoke dbt with `dbt run`", "dbt run", 600)),
        queue_seconds=1,
        job_type="scheduled",
    ),
)
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # head.sha of pull_request.opened.json


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


def action_inputs(emu: Emulator, job_id: int, **extra: str) -> dict[str, str]:
    return emulator_inputs(emu, job_id, **{"poll-interval": "1", **extra})


def pr_runner(tmp_path: Path, name: str = "pull_request.opened.json") -> SimulatedRunner:
    return SimulatedRunner(tmp_path, event_name="pull_request", event=load_event(name))


def trigger_bodies(emu: Emulator) -> list[Any]:
    return [r.body for r in emu.requests if r.endpoint == "trigger"]


def with_tag(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with the automatic cause's tag checked and taken off: it names the workflow run,
    attempt and job of the simulated runner, and a random key of six hex digits."""
    description, tag = body["cause"].rsplit(" [", 1)
    assert re.fullmatch(r"run 9001/1 job dbt key [0-9a-f]{6}\]", tag), body["cause"]
    return {**body, "cause": description}


def test_pull_request_success(emu: Emulator, tmp_path: Path) -> None:
    result = pr_runner(tmp_path).run(
        action_inputs(emu, 11, **{"schema-override": "dbt_cloud_pr_{job_id}_{pr}"})
    )
    assert result.exit_code == 0, result.log
    [body] = trigger_bodies(emu)
    assert with_tag(body) == {
        "cause": "GitHub Actions: dbt CI #42 (pull_request) in Codertocat/Hello-World",
        "git_sha": PR_SHA,
        "github_pull_request_id": 2,
        "schema_override": "dbt_cloud_pr_11_2",
    }
    run_id = emu.created_runs()[0]["id"]
    assert result.outputs["run-id"] == str(run_id)
    assert result.outputs["status"] == "success"
    assert result.outputs["status-code"] == "10"
    assert result.outputs["git-sha"] == PR_SHA
    assert result.outputs["git-branch"] == ""  # dbt Cloud takes the commit or the branch
    assert result.outputs["pull-request"] == "2"
    assert result.outputs["schema-override"] == "dbt_cloud_pr_11_2"
    assert result.outputs["job-name"] == "CI build"
    assert result.outputs["origin"] == "triggered"
    assert result.outputs["run-url"].startswith(emu.url)
    assert "CI build" in result.summary and "succeeded" in result.summary.lower()
    assert "::group::" in result.stdout and "::stop-commands::" in result.stdout
    assert result.state["run_id"] == str(run_id) and result.state["run_ended"] == "true"
    assert "Traceback" not in result.log and TOKEN not in result.stdout.replace(
        f"::add-mask::{TOKEN}", ""
    )


def test_failed_run_fails_the_step_and_names_the_failure(emu: Emulator, tmp_path: Path) -> None:
    result = pr_runner(tmp_path).run(action_inputs(emu, 12))
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "error"
    assert result.outputs["status-code"] == "20"
    assert "::error title=" in result.stdout
    assert "unique_orders_id" in result.summary
    assert "Got 3 results" in result.summary


def test_fail_on_error_false_reports_only(emu: Emulator, tmp_path: Path) -> None:
    result = pr_runner(tmp_path).run(action_inputs(emu, 12, **{"fail-on-error": "false"}))
    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "error"


def test_run_cancelled_in_dbt_cloud_fails_the_step(emu: Emulator, tmp_path: Path) -> None:
    runner = pr_runner(tmp_path)
    import time

    started = time.monotonic()
    proc, env = runner.start(action_inputs(emu, 13))
    while not emu.created_runs():
        assert time.monotonic() - started < 20
        time.sleep(0.05)
    run_id = emu.created_runs()[0]["id"]
    reply = requests.post(
        f"{emu.url}/api/v2/accounts/{emu.account_id}/runs/{run_id}/cancel/",
        headers={"Authorization": f"Token {TOKEN}"},
        timeout=5,
    )
    assert reply.status_code == 200
    result = runner.finish(proc, env, started, timeout=30)
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "cancelled"
    assert result.outputs["status-code"] == "30"


def test_wait_false_returns_after_trigger(emu: Emulator, tmp_path: Path) -> None:
    result = pr_runner(tmp_path).run(action_inputs(emu, 13, wait="false"))
    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "triggered"
    assert emu.calls("trigger") == 1
    run = emu.run(int(result.outputs["run-id"]))
    assert run["status"] in (1, 2, 3)
    assert "run_ended" not in result.state


def test_timeout_cancels_the_run(emu: Emulator, tmp_path: Path) -> None:
    result = pr_runner(tmp_path).run(action_inputs(emu, 13, timeout="2s"))
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "timed-out"
    assert emu.run(int(result.outputs["run-id"]))["status"] == 30
    assert emu.calls("cancel") == 1


def test_timeout_without_cancel(emu: Emulator, tmp_path: Path) -> None:
    inputs = action_inputs(emu, 13, timeout="2s", **{"cancel-on-timeout": "false"})
    result = pr_runner(tmp_path).run(inputs)
    assert result.outputs["status"] == "timed-out"
    assert emu.calls("cancel") == 0
    assert emu.run(int(result.outputs["run-id"]))["status"] in (1, 2, 3)


RUNNER_SHA = "f" * 40  # GITHUB_SHA of the simulated runner
PUSH_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
QUEUE_SHA = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"


@pytest.mark.parametrize(
    ("event_name", "fixture", "extra", "expected"),
    [
        ("push", "push.branch.json", {}, {"git_sha": PUSH_SHA}),
        ("push", "push.tag.json", {}, {"git_sha": PUSH_SHA}),
        ("push", "push.tag-deleted.json", {}, {}),
        (
            "pull_request",
            "pull_request.synchronize.json",
            {},
            {"git_sha": PR_SHA, "github_pull_request_id": 2},
        ),
        (
            "pull_request_target",
            "pull_request.opened.json",
            {},
            {"git_sha": PR_SHA, "github_pull_request_id": 2},
        ),
        (
            "pull_request",
            "pull_request.synchronize.fork.json",
            {"git-sha": "none", "git-branch": "main"},  # nothing of the fork is run
            {"git_branch": "main", "github_pull_request_id": 2},
        ),
        ("merge_group", "merge_group.checks_requested.json", {}, {"git_sha": QUEUE_SHA}),
        ("workflow_dispatch", "workflow_dispatch.json", {}, {"git_sha": RUNNER_SHA}),
        ("schedule", "schedule.json", {}, {"git_sha": RUNNER_SHA}),
        ("schedule", "schedule.json", {"git-sha": "none"}, {"git_branch": "main"}),
        ("push", "push.branch.json", {"git-branch": "release/v2"}, {"git_branch": "release/v2"}),
        ("push", "push.branch.json", {"git-branch": "master"}, {"git_sha": PUSH_SHA}),
        ("push", "push.branch.json", {"git-sha": "abcdef1"}, {"git_sha": "abcdef1"}),
        ("schedule", "schedule.json", {"git-sha": "none", "git-branch": "none"}, {}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exact_trigger_body_per_event(
    emu: Emulator,
    tmp_path: Path,
    *,
    event_name: str,
    fixture: str,
    extra: dict[str, str],
    expected: dict[str, Any],
) -> None:
    """Never git_sha and git_branch together: dbt Cloud refuses that with a 400."""
    runner = SimulatedRunner(tmp_path, event_name=event_name, event=load_event(fixture))
    result = runner.run(action_inputs(emu, 11, wait="false", **extra))
    assert result.exit_code == 0, result.log
    [body] = trigger_bodies(emu)
    cause = f"GitHub Actions: dbt CI #42 ({event_name}) in Codertocat/Hello-World"
    assert with_tag(body) == {"cause": cause, **expected}
    assert result.outputs["git-sha"] == expected.get("git_sha", "")
    assert result.outputs["git-branch"] == expected.get("git_branch", "")


def test_git_sha_and_git_branch_together_fail_before_any_api_call(
    emu: Emulator, tmp_path: Path
) -> None:
    inputs = action_inputs(emu, 11, **{"git-sha": "abcdef1", "git-branch": "main"})
    result = pr_runner(tmp_path).run(inputs)
    assert result.exit_code == 1, result.log
    [error] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert "'git-sha'" in error and "'git-branch'" in error
    assert "dbt Cloud takes one of them" in error
    assert "Traceback" not in result.log
    assert emu.requests == []


WORKFLOW_RUN_SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"  # of workflow_run.completed.json


def runner_for(tmp_path: Path, event_name: str, fixture: str) -> SimulatedRunner:
    """A step of the repository the payload is about (a workflow_run event is about a
    workflow of the same repository)."""
    event = load_event(fixture)
    repository = event["repository"]["full_name"]
    return SimulatedRunner(
        tmp_path, event_name=event_name, event=event, env={"GITHUB_REPOSITORY": repository}
    )


@pytest.mark.parametrize(
    ("fixture", "extra", "expected"),
    [
        ("workflow_run.completed.json", {}, {"git_sha": WORKFLOW_RUN_SHA}),
        (
            "workflow_run.completed.pull_request.json",
            {},
            {"git_sha": PR_SHA, "github_pull_request_id": 2},
        ),
        (
            "workflow_run.completed.pull_request.json",
            {"git-sha": "none"},
            {"git_branch": "changes", "github_pull_request_id": 2},
        ),
    ],
    ids=["push-like", "pull-request", "branch"],
)
def test_workflow_run_triggers_the_commit_the_upstream_workflow_tested(
    emu: Emulator, tmp_path: Path, fixture: str, extra: dict[str, str], expected: dict[str, Any]
) -> None:
    """On workflow_run GITHUB_SHA is the default branch's last commit (the simulated runner's
    RUNNER_SHA), not what the upstream workflow tested: workflow_run.head_sha is sent (or its
    head_branch without a SHA), with the number of its pull request."""
    result = runner_for(tmp_path, "workflow_run", fixture).run(
        action_inputs(emu, 11, wait="false", **extra)
    )
    assert result.exit_code == 0, result.log
    [body] = trigger_bodies(emu)
    cause = "GitHub Actions: dbt CI #42 (workflow_run) in octo-org/octo-repo"
    assert with_tag(body) == {"cause": cause, **expected}
    assert RUNNER_SHA not in json.dumps(body)
    assert result.outputs["git-sha"] == expected.get("git_sha", "")
    assert result.outputs["git-branch"] == expected.get("git_branch", "")


PR_FORK = "pull_request.synchronize.fork.json"
FORKS = [
    ("pull_request", PR_FORK, "octo-fork/Hello-World"),
    ("pull_request_target", PR_FORK, "octo-fork/Hello-World"),
    ("pull_request_review", PR_FORK, "octo-fork/Hello-World"),
    # the upstream workflow ran for a fork's pull request: its head_sha is the fork's commit
    ("workflow_run", "workflow_run.completed.fork.json", "octo-fork/octo-repo"),
]


@pytest.mark.parametrize(("event_name", "fixture", "fork"), FORKS)
def test_fork_pull_request_fails_by_default_without_any_api_call(
    emu: Emulator, tmp_path: Path, event_name: str, fixture: str, fork: str
) -> None:
    result = runner_for(tmp_path, event_name, fixture).run(action_inputs(emu, 11))
    assert result.exit_code == 1, result.log
    [error] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert "title=Pull request from a fork" in error
    assert f"comes from the fork {fork}" in error
    assert "reference is not a tree" in error
    assert "fork-pull-requests: skip" in error
    assert "Traceback" not in result.log
    assert emu.requests == []
    assert result.outputs == {} and "run_id" not in result.state


@pytest.mark.parametrize(("event_name", "fixture", "fork"), FORKS)
def test_fork_pull_request_is_skipped_when_asked(
    emu: Emulator, tmp_path: Path, event_name: str, fixture: str, fork: str
) -> None:
    result = runner_for(tmp_path, event_name, fixture).run(
        action_inputs(emu, 11, **{"fork-pull-requests": "skip"})
    )
    assert result.exit_code == 0, result.log
    [notice] = [line for line in result.stdout.splitlines() if line.startswith("::notice")]
    assert f"comes from the fork {fork}" in notice and "Skipped" in notice
    assert not [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert result.outputs["status"] == "skipped"
    assert {value for name, value in result.outputs.items() if name != "status"} == {""}
    assert result.summary.startswith("## ⏭️ dbt Cloud job 11 was skipped")
    assert "octo\\-fork" in result.summary and "fork\\-pull\\-requests" in result.summary
    assert emu.requests == []
    assert "run_id" not in result.state


@pytest.mark.parametrize(("policy", "exit_code"), [("fail", 1), ("skip", 0)])
def test_fork_pull_request_without_secrets_is_refused_or_skipped_not_an_api_token_error(
    emu: Emulator, tmp_path: Path, policy: str, exit_code: int
) -> None:
    """GitHub gives a fork's pull_request workflow no secrets: api-token arrives empty."""
    fork = load_event("pull_request.synchronize.fork.json")
    inputs = action_inputs(emu, 11, **{"api-token": "", "fork-pull-requests": policy})
    result = SimulatedRunner(tmp_path, event_name="pull_request", event=fork).run(inputs)
    assert result.exit_code == exit_code, result.log
    assert "api-token" not in result.stdout
    assert "octo-fork/Hello-World" in result.stdout
    assert result.outputs.get("status") == ("skipped" if policy == "skip" else None)
    assert emu.requests == []


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("job-id", "abc", "positive integer"),
        ("account-id", "-3", "positive integer"),
        ("access-url", "", "access-url"),
        ("access-url", "http://example.com", "https"),
        ("git-sha", "xyz", "hex"),
        ("timeout", "forever", "timeout"),
        ("poll-interval", "0", "poll-interval"),
        ("wait", "maybe", "wait"),
        ("schema-override", "pr_{nope}", "nope"),
        ("steps-override", "rm -rf /", "dbt"),
        ("retry-failed", "sometimes", "retry-failed"),
        ("api-token", "", "api-token"),
    ],
)
def test_bad_input_fails_clearly_without_calling_the_api(
    emu: Emulator, tmp_path: Path, name: str, value: str, fragment: str
) -> None:
    inputs = action_inputs(emu, 11)
    inputs[name] = value
    result = pr_runner(tmp_path).run(inputs)
    assert result.exit_code == 1
    error_lines = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert error_lines, result.log
    assert f"'{name}'" in error_lines[0]
    assert fragment.lower() in error_lines[0].lower()
    assert "Traceback" not in result.log
    assert emu.requests == []


def test_outputs_survive_hostile_branch_names(emu: Emulator, tmp_path: Path) -> None:
    event = load_event("pull_request.opened.json")
    hostile = "evil\nstatus=success\n::set-output name=status::success"
    result = SimulatedRunner(tmp_path, event_name="pull_request", event=event).run(
        action_inputs(emu, 12, wait="false", **{"git-branch": "none", "cause": hostile})
    )
    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "triggered"
    assert set(result.outputs) >= {"run-id", "status"}
    assert json.dumps(trigger_bodies(emu)[0]["cause"]).count("\\n") == 0
