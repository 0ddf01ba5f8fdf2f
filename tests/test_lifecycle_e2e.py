"""The run's whole life, end to end: the real entrypoint (and post step) as a subprocess in a
simulated runner, signalled like the runner signals it, against the emulator over HTTP.

Each signal test measures the time from the first signal to the process's exit and holds it to
the issue's 5 s budget (a generous bound, not a benchmark).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_cloud_action.scope import SIGNAL_EXIT_SECONDS
from dbt_cloud_emulator import (
    Emulator,
    EmulatorConfig,
    Fault,
    JobScript,
    ManualClock,
    NodeResult,
    StepScript,
)
from tests.fake_github import FakeGitHub
from tests.runner_files import parse_file_command
from tests.simulated_runner import SimulatedRunner, StepResult, emulator_inputs, load_event
from tests.waiting import wait_for

TOKEN = "dbtc_lifecycleSecretToken_0123456789ab"
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # head.sha of pull_request.opened.json
PR_NUMBER = 2
OLDER_SHA = "0123456789abcdef0123456789abcdef01234567"
# the product's promise (scope.py, README): exit before the runner's SIGTERM, 7.5 s after SIGINT
SIGNAL_BUDGET_SECONDS = SIGNAL_EXIT_SECONDS

CLONE = StepScript("Clone git repository", duration=1)
SEED = StepScript("Invoke dbt with `dbt seed`", command="dbt seed", duration=2)
LONG_JOB = 21  # a run that is still going whenever a test signals the step
SHORT_JOB = 22  # ends in about two real seconds at the emulator's time scale
FAILING_JOB = 23  # `dbt seed` succeeds, `dbt build` fails: retryable from the point of failure
LATE_ARTIFACTS_JOB = 24  # succeeds quickly, then its artifacts 404 for a long while
JOBS = (
    JobScript(
        LONG_JOB,
        "Long CI build",
        (CLONE, StepScript("Invoke dbt with `dbt build`", "dbt build", duration=6000)),
        queue_seconds=1,
    ),
    JobScript(
        SHORT_JOB,
        "Short CI build",
        (CLONE, StepScript("Invoke dbt with `dbt build`", "dbt build", duration=150)),
        queue_seconds=1,
    ),
    JobScript(
        FAILING_JOB,
        "Failing CI build",
        (
            CLONE,
            SEED,
            StepScript(
                "Invoke dbt with `dbt build`",
                "dbt build",
                duration=3,
                outcome=20,
                results=(
                    NodeResult("model.shop.orders", "success", 1.0),
                    NodeResult("test.shop.unique_orders_id", "fail", 0.2, resource_type="test"),
                ),
            ),
        ),
        queue_seconds=1,
    ),
    JobScript(
        LATE_ARTIFACTS_JOB,
        "Late artifacts",
        (CLONE, StepScript("Invoke dbt with `dbt build`", "dbt build", duration=2)),
        queue_seconds=1,
        artifacts="late:6000",
    ),
)
ACTIVE = (1, 2, 3)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


@pytest.fixture
def runner(tmp_path: Path) -> SimulatedRunner:
    event = load_event("pull_request.opened.json")
    return SimulatedRunner(tmp_path, event_name="pull_request", event=event)


def action_inputs(emu: Emulator, job_id: int, **extra: str) -> dict[str, str]:
    return emulator_inputs(emu, job_id, **{"poll-interval": "1", **extra})


def api(emu: Emulator, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """A call to the emulator as another client (dbt Cloud's native CI, an earlier push)."""
    reply = requests.request(
        method,
        f"{emu.url}/api/v2/accounts/{emu.account_id}{path}",
        headers={"Authorization": f"Token {TOKEN}"},
        json=body,
        timeout=5,
    )
    assert reply.ok, reply.text
    return reply.json()["data"]


def start_run_elsewhere(
    emu: Emulator, job_id: int, git_sha: str, cause: str, **overrides: Any
) -> int:
    body = {"cause": cause, "git_sha": git_sha, "github_pull_request_id": PR_NUMBER, **overrides}
    run_id: int = api(emu, "POST", f"/jobs/{job_id}/run/", body)["id"]
    return run_id


def status_of(emu: Emulator, run_id: int) -> int:
    status: int = emu.run(run_id)["status"]
    return status


def endpoint_paths(emu: Emulator, *endpoints: str) -> list[tuple[str, str]]:
    """The request log reduced to (endpoint, path) for the endpoints that create or end runs."""
    return [(r.endpoint, r.path) for r in emu.requests if r.endpoint in endpoints]


def runs_path(emu: Emulator, suffix: str) -> str:
    return f"/api/v2/accounts/{emu.account_id}{suffix}"


def unescape_markdown(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def other_lines(result: StepResult) -> list[str]:
    """What the step printed besides masking the token."""
    return [
        line
        for line in result.stdout.splitlines()
        if line.strip() and not line.startswith("::add-mask::")
    ]


class SignalledStep:
    """The main step started in the background, signalled, and timed from the first signal."""

    def __init__(self, runner: SimulatedRunner, inputs: Mapping[str, str]) -> None:
        self.runner = runner
        self.started = time.monotonic()
        self.proc: subprocess.Popen[str]
        self.proc, self.env = runner.start(inputs)
        self.signalled_at: float | None = None

    def state(self) -> dict[str, str]:
        return parse_file_command(Path(self.env["GITHUB_STATE"]).read_text())

    def send(self, sig: signal.Signals) -> None:
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
        self.proc.send_signal(sig)

    def finish(self) -> tuple[StepResult, float]:
        """The step's result and the seconds from the first signal to its exit."""
        result = self.runner.finish(self.proc, self.env, self.started, timeout=30)
        assert self.signalled_at is not None
        return result, time.monotonic() - self.signalled_at


def polling_run(emu: Emulator, step: SignalledStep) -> int:
    """The run the step triggered, once the step is following it (a poll after the trigger)."""
    wait_for(lambda: bool(emu.created_runs()), "the trigger")
    run_id: int = emu.created_runs()[0]["id"]
    polled = runs_path(emu, f"/runs/{run_id}/")
    wait_for(
        lambda: sum(r.path == polled for r in emu.requests) >= 2 or step.proc.poll() is not None,
        "the step to poll the run",
    )
    assert step.proc.poll() is None, step.proc.communicate()
    return run_id


def assert_cancelled_by_the_workflow(
    emu: Emulator, run_id: int, result: StepResult, elapsed: float
) -> None:
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code != 0, result.log
    assert status_of(emu, run_id) == 30, result.log
    assert endpoint_paths(emu, "cancel") == [("cancel", runs_path(emu, f"/runs/{run_id}/cancel/"))]
    assert result.outputs["status"] == "cancelled", result.log
    assert result.outputs["run-id"] == str(run_id)
    assert result.outputs["status-code"] == "30"
    assert "cancelled by the workflow" in result.summary.lower(), result.summary
    assert result.state.get("run_ended") == "true"
    assert "Traceback" not in result.log


# ------------------------------------------------------------------------------ cancellation


@pytest.mark.parametrize(
    ("signals", "exit_code"),
    [
        ((signal.SIGINT,), 128 + signal.SIGINT),
        ((signal.SIGTERM,), 128 + signal.SIGTERM),
        ((signal.SIGINT, signal.SIGTERM), 128 + signal.SIGINT),
    ],
    ids=["sigint", "sigterm", "sigint-then-sigterm"],
)
def test_signal_mid_poll_cancels_the_run(
    emu: Emulator,
    runner: SimulatedRunner,
    signals: tuple[signal.Signals, ...],
    exit_code: int,
) -> None:
    step = SignalledStep(runner, action_inputs(emu, LONG_JOB))
    run_id = polling_run(emu, step)
    for sig in signals:
        step.send(sig)
        time.sleep(0.1)
    result, elapsed = step.finish()
    assert_cancelled_by_the_workflow(emu, run_id, result, elapsed)
    assert result.exit_code == exit_code


def test_signal_while_reporting_an_ended_run_keeps_its_outcome(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    """The run succeeded and the step is waiting for late artifacts when the workflow is
    cancelled: the step ends at once, reports the run's real outcome, and cancels nothing."""
    step = SignalledStep(runner, action_inputs(emu, LATE_ARTIFACTS_JOB))
    wait_for(lambda: bool(emu.created_runs()), "the trigger")
    run_id: int = emu.created_runs()[0]["id"]
    wait_for(
        lambda: any(r.endpoint == "get_artifact" for r in emu.requests),
        "the step to wait for the artifacts",
    )
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT
    assert status_of(emu, run_id) == 10
    assert result.outputs["status"] == "success", result.log
    assert "cancelled by the workflow" not in result.summary.lower()
    assert "Traceback" not in result.log


def test_sigint_during_a_retry_back_off_cancels_the_run(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    step = SignalledStep(runner, action_inputs(emu, LONG_JOB))
    run_id = polling_run(emu, step)
    # the next polls get 503 with a long Retry-After: the client sleeps between attempts
    following = emu.calls("get_run") + 1
    emu.faults.add(Fault("get_run", calls=(following, following + 1), retry_after=30))
    wait_for(
        lambda: any(r.endpoint == "get_run" and r.status == 503 for r in emu.requests),
        "a poll answered with 503",
    )
    time.sleep(0.3)  # now the client is sleeping out the Retry-After
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    assert_cancelled_by_the_workflow(emu, run_id, result, elapsed)
    assert sum(r.status == 503 for r in emu.requests) == 1  # it never waited out the back-off


def test_sigint_during_a_dbt_cloud_outage_cancels_the_run(emu: Emulator, tmp_path: Path) -> None:
    """dbt Cloud stopped answering status calls and the step is waiting it out: a cancel still
    ends the step at once and cancels the run."""
    event = load_event("pull_request.opened.json")
    runner = SimulatedRunner(
        tmp_path,
        event_name="pull_request",
        event=event,
        env={"DBT_CLOUD_ACTION_RETRY_SECONDS": "1"},
    )
    step = SignalledStep(runner, action_inputs(emu, LONG_JOB))
    run_id = polling_run(emu, step)
    emu.faults.add(Fault("get_run", status=503))
    wait_for(
        lambda: sum(r.endpoint == "get_run" and r.status == 503 for r in emu.requests) >= 2,
        "the outage to be seen",
    )
    time.sleep(1.5)  # past one call's retry budget: the step is waiting the outage out
    assert step.proc.poll() is None
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    assert_cancelled_by_the_workflow(emu, run_id, result, elapsed)
    assert "dbt Cloud has not answered since" in result.stdout


def test_sigint_while_the_trigger_is_in_flight_cancels_the_run_it_created(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    # the run is created at once; the answer to the trigger comes 8 s later
    emu.faults.add(Fault("trigger", kind="delay", delay=8))
    step = SignalledStep(runner, action_inputs(emu, LONG_JOB))
    wait_for(lambda: bool(emu.created_runs()), "the trigger to create the run")
    time.sleep(0.2)
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    [created] = emu.created_runs()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT, result.log
    assert status_of(emu, created["id"]) == 30, result.log
    assert emu.calls("cancel") == 1
    assert result.outputs["status"] == "cancelled"
    assert result.outputs["run-id"] == str(created["id"])
    assert result.state["run_id"] == str(created["id"])
    assert "Traceback" not in result.log


def test_sigint_during_the_trigger_with_the_run_list_failing_still_exits_in_time(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    emu.faults.add(Fault("trigger", kind="delay", delay=8))
    step = SignalledStep(runner, action_inputs(emu, LONG_JOB))
    wait_for(lambda: bool(emu.created_runs()), "the trigger to create the run")
    emu.faults.add(Fault("list_runs", status=500))  # the run cannot be looked for
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT, result.log
    assert "Traceback" not in result.log
    assert result.outputs["status"] == "cancelled"
    assert result.outputs["run-id"] == ""  # dbt Cloud showed no run: none is claimed
    assert "the post step looks for it by the key in its cause" in unescape_markdown(result.summary)
    assert "run_id" not in result.state
    pending = json.loads(result.state["pending_run"])  # what the post step looks for
    assert pending["job_id"] == LONG_JOB and "key " in pending["cause"]


def test_sigkill_then_the_post_step_cancels_the_run(emu: Emulator, runner: SimulatedRunner) -> None:
    inputs = action_inputs(emu, LONG_JOB)
    step = SignalledStep(runner, inputs)
    run_id = polling_run(emu, step)
    step.send(signal.SIGKILL)
    step.proc.communicate(timeout=10)
    assert status_of(emu, run_id) in ACTIVE
    state = step.state()
    assert state["run_id"] == str(run_id) and "run_ended" not in state and "leave_run" not in state

    started = time.monotonic()
    post = runner.run(inputs, post=True, state=state, timeout=30)
    elapsed = time.monotonic() - started
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, post.log)
    assert post.exit_code == 0, post.log
    assert status_of(emu, run_id) == 30
    assert endpoint_paths(emu, "cancel") == [("cancel", runs_path(emu, f"/runs/{run_id}/cancel/"))]
    assert f"Cancelled dbt Cloud run {run_id}" in post.stdout


def test_sigint_when_dbt_cloud_refuses_the_cancel_leaves_it_to_the_post_step(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    inputs = action_inputs(emu, LONG_JOB)
    step = SignalledStep(runner, inputs)
    run_id = polling_run(emu, step)
    emu.faults.add(Fault("cancel", status=503, retry_after=0))
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT, result.log
    assert f"Could not cancel run {run_id}" in result.stdout
    # meant to cancel, could not: the post step's
    assert result.state["run_id"] == str(run_id) and not result.state.keys() & {
        "run_ended",
        "leave_run",
    }
    assert status_of(emu, run_id) in ACTIVE

    emu.faults.clear()
    post = runner.run(inputs, post=True, state=result.state)
    assert post.exit_code == 0, post.log
    assert status_of(emu, run_id) == 30
    assert f"Cancelled dbt Cloud run {run_id}" in post.stdout


def test_cancel_on_exit_false_leaves_the_run_going(emu: Emulator, runner: SimulatedRunner) -> None:
    inputs = action_inputs(emu, LONG_JOB, **{"cancel-on-exit": "false"})
    step = SignalledStep(runner, inputs)
    run_id = polling_run(emu, step)
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT, result.log
    assert result.outputs["status"] == "running"  # dbt Cloud's word, not the workflow's
    assert f"run {run_id} keeps going" in result.stdout
    summary = unescape_markdown(result.summary)
    assert "left running in dbt Cloud (cancel-on-exit is false)" in summary, summary
    headline = summary.splitlines()[0]
    assert "left running" in headline and "cancelled" not in headline, headline
    assert "::error title=dbt Cloud job Long CI build left running::" in result.stdout
    assert "was cancelled by this workflow" not in result.stdout
    assert int(result.outputs["status-code"]) in ACTIVE  # the run's real status, still going
    assert status_of(emu, run_id) in ACTIVE
    assert emu.calls("cancel") == 0

    post = runner.run(inputs, post=True, state=result.state)
    assert post.exit_code == 0, post.log
    assert len(other_lines(post)) == 1, post.stdout
    assert emu.calls("cancel") == 0
    assert status_of(emu, run_id) in ACTIVE


def test_timeout_cancels_the_run_and_says_so(emu: Emulator, runner: SimulatedRunner) -> None:
    result = runner.run(action_inputs(emu, LONG_JOB, timeout="2s"))
    run_id = int(result.outputs["run-id"])
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "timed-out"
    assert status_of(emu, run_id) == 30
    assert endpoint_paths(emu, "cancel") == [("cancel", runs_path(emu, f"/runs/{run_id}/cancel/"))]
    assert "the action cancelled it in dbt Cloud" in unescape_markdown(result.summary)


def test_timeout_without_cancel_leaves_the_run_to_dbt_cloud_post_step_included(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    inputs = action_inputs(emu, LONG_JOB, timeout="2s", **{"cancel-on-timeout": "false"})
    result = runner.run(inputs)
    run_id = int(result.outputs["run-id"])
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "timed-out"
    assert f"run {run_id} keeps going in dbt Cloud" in result.stdout
    assert {key: result.state[key] for key in ("run_id", "leave_run")} == {
        "run_id": str(run_id),
        "leave_run": "it timed out with cancel-on-timeout: false",
    }
    assert "left running in dbt Cloud (cancel-on-timeout is false)" in unescape_markdown(
        result.summary
    )

    post = runner.run(inputs, post=True, state=result.state)
    assert post.exit_code == 0, post.log
    [line] = other_lines(post)
    assert "left to finish on its own: it timed out with cancel-on-timeout: false" in line
    assert emu.calls("cancel") == 0  # neither step cancelled it
    assert status_of(emu, run_id) in ACTIVE


def test_sigkill_with_cancel_on_exit_false_the_post_step_leaves_the_run(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    inputs = action_inputs(emu, LONG_JOB, **{"cancel-on-exit": "false"})
    step = SignalledStep(runner, inputs)
    run_id = polling_run(emu, step)
    step.send(signal.SIGKILL)
    step.proc.communicate(timeout=10)
    state = step.state()
    assert state == {"leave_run": "cancel-on-exit is false", "run_id": str(run_id)}
    post = runner.run(inputs, post=True, state=state)
    assert post.exit_code == 0, post.log
    assert emu.calls("cancel") == 0
    assert status_of(emu, run_id) in ACTIVE


def test_post_step_after_the_run_ended_prints_one_line(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    inputs = action_inputs(emu, SHORT_JOB)
    main = runner.run(inputs)
    assert main.exit_code == 0, main.log
    assert main.state["run_ended"] == "true"
    seen = len(emu.requests)
    post = runner.run(inputs, post=True, state=main.state)
    assert post.exit_code == 0, post.log
    [line] = other_lines(post)
    assert main.outputs["run-id"] in line
    assert len(emu.requests) == seen  # not even a look at the run


def test_post_step_leaves_a_run_not_waited_for(emu: Emulator, runner: SimulatedRunner) -> None:
    inputs = action_inputs(emu, LONG_JOB, wait="false")
    main = runner.run(inputs)
    assert main.exit_code == 0, main.log
    post = runner.run(inputs, post=True, state=main.state)
    assert post.exit_code == 0, post.log
    [line] = other_lines(post)
    assert "left to finish on its own" in line
    assert emu.calls("cancel") == 0
    assert status_of(emu, int(main.outputs["run-id"])) in ACTIVE


def test_post_step_without_a_run_prints_one_line(emu: Emulator, runner: SimulatedRunner) -> None:
    post = runner.run(action_inputs(emu, SHORT_JOB), post=True, state={})
    assert post.exit_code == 0, post.log
    [line] = other_lines(post)
    assert "No dbt Cloud run" in line
    assert emu.requests == []


# ------------------------------------------------------------------------------ which run


def test_attaches_to_a_run_already_going_for_the_commit(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    native = start_run_elsewhere(emu, SHORT_JOB, PR_SHA, "dbt Cloud CI for PR #2")
    result = runner.run(action_inputs(emu, SHORT_JOB))
    assert result.exit_code == 0, result.log
    assert result.outputs["origin"] == "attached"
    assert result.outputs["run-id"] == str(native)
    assert result.outputs["status"] == "success"
    # the only trigger is the one made above; the action created nothing and cancelled nothing
    assert endpoint_paths(emu, "trigger", "cancel", "retry_post", "rerun") == [
        ("trigger", runs_path(emu, f"/jobs/{SHORT_JOB}/run/"))
    ]
    assert [run["id"] for run in emu.created_runs()] == [native]
    assert "attached to a run" in result.summary.lower(), result.summary
    assert f"Attached to run {native}" in result.stdout


def test_does_not_attach_to_a_run_built_differently(emu: Emulator, runner: SimulatedRunner) -> None:
    """A run for the same commit into another schema is another build: the step triggers its
    own, and reports the schema and overrides its own run really has."""
    other = start_run_elsewhere(
        emu, LONG_JOB, PR_SHA, "dbt Cloud CI for PR #2", schema_override="dbt_cloud_pr_2"
    )
    inputs = action_inputs(
        emu, SHORT_JOB, **{"schema-override": "ci_{pr}", "threads-override": "8"}
    )
    same = start_run_elsewhere(
        emu, SHORT_JOB, PR_SHA, "Native CI", schema_override="dbt_cloud_pr_2", threads_override=8
    )
    result = runner.run(inputs)
    assert result.exit_code == 0, result.log
    assert result.outputs["origin"] == "triggered"
    new_run = int(result.outputs["run-id"])
    assert new_run not in (other, same)
    assert f"Run {same} is going for commit ec26c3e but differs in schema: not attaching" in (
        result.stdout
    )
    trigger = api(emu, "GET", f'/runs/{new_run}/?include_related=["trigger"]')["trigger"]
    assert trigger["schema_override"] == "ci_2" and trigger["threads_override"] == 8
    assert result.outputs["schema-override"] == "ci_2"
    assert "`threads`: `8`" in result.summary, result.summary
    assert emu.calls("cancel") == 0


def test_attached_run_reports_its_own_overrides(emu: Emulator, runner: SimulatedRunner) -> None:
    native = start_run_elsewhere(
        emu, SHORT_JOB, PR_SHA, "Native CI", schema_override="ci_2", target_name_override="ci"
    )
    result = runner.run(
        action_inputs(
            emu, SHORT_JOB, **{"schema-override": "ci_{pr}", "target-name-override": "ci"}
        )
    )
    assert result.exit_code == 0, result.log
    assert result.outputs["origin"] == "attached"
    assert result.outputs["run-id"] == str(native)
    assert result.outputs["schema-override"] == "ci_2"
    assert "`target name`: `ci`" in result.summary, result.summary


def test_does_not_attach_to_a_run_for_another_commit(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    older = start_run_elsewhere(emu, SHORT_JOB, OLDER_SHA, "An earlier push")
    result = runner.run(action_inputs(emu, SHORT_JOB))
    assert result.exit_code == 0, result.log
    assert result.outputs["origin"] == "triggered"
    assert result.outputs["run-id"] != str(older)
    assert emu.calls("cancel") == 0  # cancel-superseded is off by default


GITHUB_TOKEN = "ghs_lifecycleGitHubToken_0123456789abc"
NEWER_SHA = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GITHUB_TOKEN, repository="Codertocat/Hello-World") as fake:
        yield fake


def github_runner(tmp_path: Path, github: FakeGitHub, event: Mapping[str, Any]) -> SimulatedRunner:
    return SimulatedRunner(
        tmp_path, event_name="pull_request", event=event, env={"GITHUB_API_URL": github.url}
    )


def supersede_inputs(emu: Emulator, job_id: int, token: str = GITHUB_TOKEN) -> dict[str, str]:
    return action_inputs(emu, job_id, **{"cancel-superseded": "true", "github-token": token})


def test_cancel_superseded_cancels_the_older_commit_and_triggers(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    github.set_pull_head(PR_NUMBER, PR_SHA)  # this workflow's commit is the PR's head
    runner = github_runner(tmp_path, github, load_event("pull_request.opened.json"))
    older = start_run_elsewhere(emu, LONG_JOB, OLDER_SHA, "An earlier push to PR #2")
    result = runner.run(supersede_inputs(emu, SHORT_JOB))
    assert result.exit_code == 0, result.log
    # the long job's run is not this job's: it is left alone
    assert status_of(emu, older) in ACTIVE
    assert emu.calls("cancel") == 0

    superseded = start_run_elsewhere(emu, SHORT_JOB, OLDER_SHA, "An earlier push to PR #2")
    result = runner.run(supersede_inputs(emu, SHORT_JOB))
    assert result.exit_code == 0, result.log
    new_run = int(result.outputs["run-id"])
    assert result.outputs["origin"] == "triggered"
    created = [run["id"] for run in emu.created_runs()]
    assert created[-2:] == [superseded, new_run]
    assert endpoint_paths(emu, "trigger", "cancel")[-3:] == [
        ("trigger", runs_path(emu, f"/jobs/{SHORT_JOB}/run/")),  # the earlier push
        ("cancel", runs_path(emu, f"/runs/{superseded}/cancel/")),
        ("trigger", runs_path(emu, f"/jobs/{SHORT_JOB}/run/")),  # the action's own run
    ]
    assert status_of(emu, superseded) == 30
    assert status_of(emu, new_run) == 10
    assert emu.run(new_run)["git_sha"] == PR_SHA
    assert f"Cancelled run {superseded}" in result.stdout
    # GitHub is asked only when there is a run to supersede: the second step only
    assert [r.path for r in github.requests] == ["/repos/Codertocat/Hello-World/pulls/2"]


def test_cancel_superseded_on_a_rerun_of_an_older_commit_cancels_nothing(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    """The PR's head moved on to a newer commit, whose run is going: re-running the older
    commit's workflow must not cancel it (nor any other run)."""
    github.set_pull_head(PR_NUMBER, NEWER_SHA)
    newer = start_run_elsewhere(emu, LONG_JOB, NEWER_SHA, "The newer push's workflow")
    oldest = start_run_elsewhere(emu, LONG_JOB, OLDER_SHA, "An even older push")
    runner = github_runner(tmp_path, github, load_event("pull_request.opened.json"))
    result = runner.run({**supersede_inputs(emu, LONG_JOB), "wait": "false"})
    assert result.exit_code == 0, result.log
    assert emu.calls("cancel") == 0
    assert status_of(emu, newer) in ACTIVE and status_of(emu, oldest) in ACTIVE
    assert "is no longer the head of pull request #2 (now fedcba9)" in result.stdout


def test_cancel_superseded_without_github_cancels_only_runs_older_than_the_event(
    emu: Emulator, tmp_path: Path
) -> None:
    """No answer from GitHub (the default token against an API that is not there): only runs
    created before this workflow's event are cancelled; a later push's run is left going."""
    oldest = start_run_elsewhere(emu, LONG_JOB, OLDER_SHA, "An older push")
    time.sleep(0.05)  # 5 emulated seconds
    newer = start_run_elsewhere(emu, LONG_JOB, NEWER_SHA, "A newer push")
    created = {run["id"]: run["created_at"] for run in emu.created_runs()}
    event = load_event("pull_request.opened.json")
    # the event happened between the two pushes' runs (a re-run keeps its old event)
    oldest_at = datetime.fromisoformat(created[oldest])
    event["pull_request"]["updated_at"] = (oldest_at + timedelta(seconds=2)).isoformat()
    runner = SimulatedRunner(tmp_path, event_name="pull_request", event=event)
    inputs = action_inputs(emu, LONG_JOB, **{"cancel-superseded": "true", "wait": "false"})
    result = runner.run(inputs)
    assert result.exit_code == 0, result.log
    assert endpoint_paths(emu, "cancel") == [("cancel", runs_path(emu, f"/runs/{oldest}/cancel/"))]
    assert status_of(emu, oldest) == 30
    assert status_of(emu, newer) in ACTIVE
    assert "created after this workflow's event are left going" in result.stdout


# what the step's first attempt in the simulated runner writes as its cause (workflow run
# 9001, GitHub job `dbt`): a failed run with it is this workflow's own to retry
FIRST_ATTEMPT_CAUSE = (
    "GitHub Actions: dbt CI #42 (pull_request) in Codertocat/Hello-World "
    "[run 9001/1 job dbt key 0f0f0f]"
)


def failed_run_for_the_commit(emu: Emulator) -> int:
    failed = start_run_elsewhere(emu, FAILING_JOB, PR_SHA, FIRST_ATTEMPT_CAUSE, threads_override=4)
    wait_for(lambda: status_of(emu, failed) == 20, "the first attempt to fail")
    return failed


def attempt(tmp_path: Path, number: int, **env: str) -> SimulatedRunner:
    """Attempt `number` of the same workflow run (a re-run keeps the run id, the job, the
    event) in its own runner files."""
    return SimulatedRunner(
        tmp_path / f"attempt-{number}",
        event_name="pull_request",
        event=load_event("pull_request.opened.json"),
        env={"GITHUB_RUN_ATTEMPT": str(number), **env},
    )


def failed_first_attempt(emu: Emulator, tmp_path: Path, inputs: Mapping[str, str]) -> int:
    """The workflow's first attempt, through the entrypoint: its run fails."""
    result = attempt(tmp_path, 1).run(inputs)
    assert (result.outputs["origin"], result.outputs["status"]) == ("triggered", "error"), (
        result.log
    )
    return int(result.outputs["run-id"])


RETRY_OVERRIDES = {"schema-override": "ci_{pr}", "target-name-override": "ci"}


def test_rerun_of_the_workflow_retries_the_failed_run(emu: Emulator, tmp_path: Path) -> None:
    inputs = action_inputs(emu, FAILING_JOB, **RETRY_OVERRIDES, **{"threads-override": "4"})
    failed = failed_first_attempt(emu, tmp_path, inputs)
    result = attempt(tmp_path, 2).run(inputs)
    retried = int(result.outputs["run-id"])
    assert result.outputs["origin"] == "retried", result.log
    assert retried != failed
    assert endpoint_paths(emu, "trigger", "retry_post", "rerun", "cancel") == [
        ("trigger", runs_path(emu, f"/jobs/{FAILING_JOB}/run/")),  # the first attempt
        ("retry_post", runs_path(emu, f"/runs/{failed}/retry/")),
    ]
    assert [run["id"] for run in emu.created_runs()] == [failed, retried]
    assert "`threads`: `4`" in result.summary, result.summary
    assert result.outputs["schema-override"] == "ci_2"
    assert emu.calls("list_runs") == 2  # the job's runs, listed once per attempt
    assert "Skipped steps that had already succeeded: Invoke dbt with `dbt seed`." in (
        unescape_markdown(result.summary)
    ), result.summary
    # the retry fails again at the same test: reported, not hidden
    assert result.outputs["status"] == "error"
    assert result.exit_code == 1


@pytest.mark.parametrize(
    ("changed", "differs"),
    [
        ({"schema-override": "ci_{pr}_b"}, "schema"),
        ({"target-name-override": "prod"}, "target_name"),
    ],
)
def test_rerun_does_not_retry_a_failed_run_built_differently(
    emu: Emulator, tmp_path: Path, changed: dict[str, str], differs: str
) -> None:
    """A re-run whose step asks for other overrides (another matrix leg of the same job, an
    input that changed) does not rerun the failed run as it was: it triggers its own."""
    failed = failed_first_attempt(emu, tmp_path, action_inputs(emu, FAILING_JOB, **RETRY_OVERRIDES))
    inputs = action_inputs(emu, FAILING_JOB, **{**RETRY_OVERRIDES, **changed})
    result = attempt(tmp_path, 2).run(inputs)
    assert result.outputs["origin"] == "triggered", result.log
    new_run = int(result.outputs["run-id"])
    assert emu.calls("retry_post") == 0 and emu.calls("rerun") == 0
    assert [run["id"] for run in emu.created_runs()] == [failed, new_run]
    assert (
        f"Run {failed} failed for commit ec26c3e but differs in {differs}: not retrying it; "
        "triggering a new run." in result.stdout
    )
    trigger = api(emu, "GET", f'/runs/{new_run}/?include_related=["trigger"]')["trigger"]
    asked = {**RETRY_OVERRIDES, **changed}
    assert trigger["schema_override"] == asked["schema-override"].replace("{pr}", "2")
    assert trigger["target_name_override"] == asked["target-name-override"]
    assert "9001/2 job dbt" in trigger["cause"]


def test_rerun_does_not_retry_a_failed_run_someone_else_started(
    emu: Emulator, tmp_path: Path
) -> None:
    """dbt Cloud's own CI run for the commit failed: a re-run of this workflow does not rerun
    it, even built the same way; it triggers the run this workflow asks for."""
    native = start_run_elsewhere(emu, FAILING_JOB, PR_SHA, "Triggered by a GitHub pull request")
    wait_for(lambda: status_of(emu, native) == 20, "dbt Cloud's own run to fail")
    result = attempt(tmp_path, 2).run(action_inputs(emu, FAILING_JOB))
    assert result.outputs["origin"] == "triggered", result.log
    assert emu.calls("retry_post") == 0
    assert f"Run {native} failed for commit ec26c3e but was not started by this workflow" in (
        result.stdout
    )


def test_sigint_while_the_retry_is_in_flight_cancels_the_run_it_created(
    tmp_path: Path,
) -> None:
    """The cancel comes before the retry POST's answer: the step finds the run the retry
    created and cancels it. (The clock stands still once the first attempt failed, so the
    retry is still queued when the signal comes.)"""
    clock = ManualClock()
    config = EmulatorConfig(token=TOKEN, jobs=JOBS)
    with Emulator(config=config, clock=clock.now) as emu:
        failed = start_run_elsewhere(emu, FAILING_JOB, PR_SHA, FIRST_ATTEMPT_CAUSE)
        clock.advance(100)
        assert status_of(emu, failed) == 20
        # the retry is created at once; the answer to its POST comes 8 s later
        emu.faults.add(Fault("retry_post", kind="delay", delay=8))
        event = load_event("pull_request.opened.json")
        runner = SimulatedRunner(
            tmp_path, event_name="pull_request", event=event, env={"GITHUB_RUN_ATTEMPT": "2"}
        )
        step = SignalledStep(runner, action_inputs(emu, FAILING_JOB))
        wait_for(lambda: len(emu.created_runs()) == 2, "the retry to create a run")
        time.sleep(0.2)
        step.send(signal.SIGINT)
        result, elapsed = step.finish()
        [_, retry] = emu.created_runs()
        retried: int = retry["id"]
        assert retry["retrying_run_id"] == failed
        assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
        assert result.exit_code == 128 + signal.SIGINT, result.log
        # (the retry POST is logged once answered, after the step ended)
        assert endpoint_paths(emu, "trigger", "rerun", "cancel") == [
            ("trigger", runs_path(emu, f"/jobs/{FAILING_JOB}/run/")),  # the first attempt
            ("cancel", runs_path(emu, f"/runs/{retried}/cancel/")),
        ]
        assert status_of(emu, retried) == 30, result.log
        assert result.outputs["run-id"] == str(retried)
        assert result.outputs["origin"] == "retried"
        assert result.outputs["status"] == "cancelled"
        assert result.state["run_id"] == str(retried)
        assert "Traceback" not in result.log


def test_retry_failed_never_triggers_a_new_run(emu: Emulator, tmp_path: Path) -> None:
    failed = failed_run_for_the_commit(emu)
    event = load_event("pull_request.opened.json")
    runner = SimulatedRunner(
        tmp_path, event_name="pull_request", event=event, env={"GITHUB_RUN_ATTEMPT": "2"}
    )
    result = runner.run(action_inputs(emu, FAILING_JOB, **{"retry-failed": "never"}))
    assert result.outputs["origin"] == "triggered", result.log
    assert emu.calls("retry_post") == 0 and emu.calls("rerun") == 0
    assert emu.calls("trigger") == 2
    assert int(result.outputs["run-id"]) not in (failed,)


def test_first_attempt_does_not_retry_under_auto(emu: Emulator, runner: SimulatedRunner) -> None:
    failed_run_for_the_commit(emu)
    result = runner.run(action_inputs(emu, FAILING_JOB))
    assert result.outputs["origin"] == "triggered", result.log
    assert emu.calls("retry_post") == 0
    assert emu.calls("trigger") == 2


# ------------------------------------------------------------------------------ lost answers


def test_lost_trigger_answer_adopts_only_the_run_with_its_own_cause(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    """The trigger's answer is lost, and before the step looks for its run another leg of the
    same workflow run (same commit, same description) triggers the job too: the step adopts
    the run whose cause is exactly its own, never the newer one."""
    emu.faults.add(Fault("trigger", calls=(1,), kind="lose_response"))
    proc, env = runner.start(action_inputs(emu, LONG_JOB, wait="false"))
    started = time.monotonic()
    wait_for(lambda: bool(emu.created_runs()), "the trigger to create the run")
    [mine] = emu.created_runs()
    cause = api(emu, "GET", f'/runs/{mine["id"]}/?include_related=["trigger"]')["trigger"]["cause"]
    assert re.search(r" \[run 9001/1 job dbt key [0-9a-f]{6}\]$", cause), cause
    other_leg = re.sub(r"key [0-9a-f]{6}\]$", "key 000000]", cause)
    newer = start_run_elsewhere(emu, LONG_JOB, PR_SHA, other_leg)
    result = runner.finish(proc, env, started, timeout=30)
    assert result.exit_code == 0, result.log
    assert result.outputs["run-id"] == str(mine["id"]), result.log
    assert result.outputs["origin"] == "triggered"
    assert result.state["run_id"] == str(mine["id"])
    assert emu.calls("trigger") == 2  # the step's (answer lost) and the other leg's: no third
    assert status_of(emu, newer) in ACTIVE
    assert emu.calls("cancel") == 0


def test_lost_retry_answer_is_reconciled_and_recorded(emu: Emulator, tmp_path: Path) -> None:
    """The retry POST's answer comes too late (after the read timeout): the step finds the run
    the retry created among the job's runs, follows it and records it for the post step,
    instead of failing or starting over."""
    failed = failed_run_for_the_commit(emu)
    emu.faults.add(Fault("retry_post", calls=(1,), kind="delay", delay=3))
    runner = SimulatedRunner(
        tmp_path,
        event_name="pull_request",
        event=load_event("pull_request.opened.json"),
        env={"GITHUB_RUN_ATTEMPT": "2", "DBT_CLOUD_ACTION_HTTP_TIMEOUT": "0.5"},
    )
    inputs = action_inputs(emu, FAILING_JOB, **{"threads-override": "4"})
    result = runner.run(inputs)
    created = [run["id"] for run in emu.created_runs()]
    assert len(created) == 2 and created[0] == failed
    retried = created[1]
    assert emu.run(retried)["retrying_run_id"] == failed
    assert result.outputs["origin"] == "retried", result.log
    assert result.outputs["run-id"] == str(retried)
    assert result.state["run_id"] == str(retried)
    assert result.outputs["status"] == "error"  # the retry fails again at the same test
    assert emu.calls("trigger") == 1  # only the first attempt: no new run was started
    assert "Traceback" not in result.log
    post = runner.run(inputs, post=True, state=result.state)
    assert post.exit_code == 0 and emu.calls("cancel") == 0
