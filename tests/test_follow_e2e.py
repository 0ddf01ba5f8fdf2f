"""`mode: follow` end to end: the real entrypoint (and post step) in a simulated runner, against
the emulator over HTTP, where dbt Cloud starts the CI run itself from the pull request's webhook
(`Emulator.open_pull_request`). The step must trigger nothing, find that run, report it, and
leave it alone when the workflow is cancelled unless asked to cancel it."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event
from tests.test_lifecycle_e2e import (
    ACTIVE,
    CLONE,
    SIGNAL_BUDGET_SECONDS,
    SignalledStep,
    status_of,
    unescape_markdown,
)
from tests.waiting import wait_for

TOKEN = "dbtc_followSecretToken_0123456789abcd"
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # head.sha of pull_request.opened.json
PR_NUMBER = 2
OTHER_SHA = "0123456789abcdef0123456789abcdef01234567"
CI_JOB = 31  # ends in about two real seconds
FAILING_CI_JOB = 32
LONG_CI_JOB = 33  # still going whenever a test signals the step
DEPLOY_JOB = 34  # not run on pull requests
BUILD = "Invoke dbt with `dbt build`"
JOBS = (
    JobScript(CI_JOB, "CI build", (CLONE, StepScript(BUILD, "dbt build", duration=150)), 1),
    JobScript(
        FAILING_CI_JOB,
        "Failing CI build",
        (CLONE, StepScript(BUILD, "dbt build", duration=3, outcome=20)),
        1,
    ),
    JobScript(LONG_CI_JOB, "Long CI build", (CLONE, StepScript(BUILD, "dbt build", 6000)), 1),
    JobScript(
        DEPLOY_JOB,
        "Deploy",
        (StepScript(BUILD, "dbt build", duration=5),),
        job_type="scheduled",
    ),
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


@pytest.fixture
def runner(tmp_path: Path) -> SimulatedRunner:
    event = load_event("pull_request.opened.json")
    return SimulatedRunner(tmp_path, event_name="pull_request", event=event)


def follow_inputs(emu: Emulator, job_id: int, **extra: str) -> dict[str, str]:
    return emulator_inputs(emu, job_id, **{"mode": "follow", "poll-interval": "1", **extra})


def list_requests(emu: Emulator) -> list[dict[str, list[str]]]:
    return [r.query for r in emu.requests if r.endpoint == "list_runs"]


def webhook_run(emu: Emulator, job_id: int, sha: str = PR_SHA, pr: int = PR_NUMBER) -> int:
    [run_id] = [
        run["id"]
        for run in emu.created_runs()
        if run["job_definition_id"] == job_id
        and run["trigger"]["git_sha"] == sha
        and run["trigger"]["github_pull_request_id"] == pr
    ]
    return int(run_id)


def test_a_run_that_appears_later_is_found_followed_and_reported(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    emu.open_pull_request(CI_JOB, OTHER_SHA, PR_NUMBER)  # an older push of the pull request
    emu.open_pull_request(CI_JOB, PR_SHA, 99)  # the same commit in another pull request
    emu.open_pull_request(CI_JOB, PR_SHA, PR_NUMBER, delay=400)  # ours, 4 s from now
    result = runner.run(follow_inputs(emu, CI_JOB), timeout=60)
    assert result.exit_code == 0, result.log
    ours = webhook_run(emu, CI_JOB)
    assert result.outputs["run-id"] == str(ours)
    assert (result.outputs["status"], result.outputs["origin"]) == ("success", "followed")
    assert result.outputs["git-sha"] == PR_SHA and result.outputs["pull-request"] == "2"
    assert emu.calls("trigger") == 0 and emu.calls("cancel") == 0
    waiting = [line for line in result.stdout.splitlines() if line.startswith("Waiting up to")]
    assert waiting == [
        f"Waiting up to 10m 00s for dbt Cloud to start job {CI_JOB}'s run for commit ec26c3e "
        "and pull request #2 (mode: follow; this step triggers nothing)."
    ]
    assert f"Following run {ours}: " in result.stdout
    listings = list_requests(emu)
    assert len(listings) >= 3  # it listed until the run appeared, once per poll
    for query in listings:
        assert query["job_definition_id"] == [str(CI_JOB)]
        assert int(query["limit"][0]) <= 100
        assert "trigger" in query["include_related"][0]
    assert "Followed the run dbt Cloud started by itself" in result.summary
    assert result.state.get("run_ended") == "true"


def test_a_run_that_already_ended_is_reported_at_once(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    emu.open_pull_request(FAILING_CI_JOB, PR_SHA, PR_NUMBER)
    ours = webhook_run(emu, FAILING_CI_JOB)
    wait_for(lambda: status_of(emu, ours) == 20, "dbt Cloud's run to fail")
    result = runner.run(follow_inputs(emu, FAILING_CI_JOB), timeout=60)
    assert result.exit_code == 1, result.log
    assert result.outputs["run-id"] == str(ours)
    assert (result.outputs["status"], result.outputs["origin"]) == ("error", "followed")
    assert f"Run {ours} already ended in dbt Cloud: reporting it." in result.stdout
    assert "Waiting up to" not in result.stdout
    assert len(list_requests(emu)) == 1
    assert result.elapsed < 10, result.elapsed
    assert "::error title=dbt Cloud job Failing CI build failed::" in result.stdout
    assert emu.calls("trigger") == 0


def test_a_run_that_never_appears_fails_the_step_in_bounded_time(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    emu.open_pull_request(CI_JOB, OTHER_SHA, PR_NUMBER)  # only another commit's run
    result = runner.run(follow_inputs(emu, CI_JOB, **{"follow-timeout": "3s"}), timeout=60)
    assert result.exit_code == 1, result.log
    assert 3 <= result.elapsed < 15, result.elapsed
    assert result.outputs["status"] == "not-found"
    assert result.outputs["origin"] == "followed"
    assert result.outputs["run-id"] == ""
    [error] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert error.startswith(
        f"::error title=dbt Cloud job CI build%3A no run to follow::dbt Cloud started no run of "
        f"job {CI_JOB}'s run for commit ec26c3e and pull request #2 within "
    )
    assert "'Triggered by pull requests'" in error and "fork" in error
    assert "follow-timeout" in error
    assert "has no run to follow" in result.summary
    assert emu.calls("trigger") == 0
    assert "run_id" not in result.state
    assert "Traceback" not in result.log


def test_a_job_that_does_not_run_on_pull_requests_is_warned_about(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    result = runner.run(follow_inputs(emu, DEPLOY_JOB, **{"follow-timeout": "1s"}), timeout=60)
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "not-found"
    assert (
        "::warning title=dbt Cloud job does not run on pull requests::"
        f"Job {DEPLOY_JOB} 'Deploy' is not set to run on pull requests"
    ) in result.stdout


def test_follow_mode_input_errors_make_no_api_call(emu: Emulator, runner: SimulatedRunner) -> None:
    result = runner.run(follow_inputs(emu, CI_JOB, **{"threads-override": "4"}), timeout=30)
    assert result.exit_code == 1
    assert "::error title=Invalid input 'mode'::Input 'mode' is follow" in result.stdout
    assert "threads-override is set" in result.stdout
    assert emu.requests == []


def followed_step(
    emu: Emulator, runner: SimulatedRunner, **extra: str
) -> tuple[SignalledStep, int]:
    """A step following dbt Cloud's long CI run, once it polls the run (no longer lists)."""
    emu.open_pull_request(LONG_CI_JOB, PR_SHA, PR_NUMBER, delay=100)
    step = SignalledStep(runner, follow_inputs(emu, LONG_CI_JOB, **extra))
    wait_for(lambda: bool(emu.created_runs()), "dbt Cloud's run")
    ours = webhook_run(emu, LONG_CI_JOB)
    polled = f"/api/v2/accounts/{emu.account_id}/runs/{ours}/"
    wait_for(
        lambda: sum(r.path == polled for r in emu.requests) >= 2 or step.proc.poll() is not None,
        "the step to poll the run",
    )
    assert step.proc.poll() is None, step.proc.communicate()
    return step, ours


def test_cancelling_the_workflow_leaves_the_followed_run_going(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    step, ours = followed_step(emu, runner)
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT
    assert emu.calls("cancel") == 0
    assert status_of(emu, ours) in ACTIVE
    # what dbt Cloud says of it: still running, left so on purpose
    assert result.outputs["status"] == "running" and result.outputs["origin"] == "followed"
    assert int(result.outputs["status-code"]) in ACTIVE
    assert (
        "dbt Cloud started it, not this step (mode: follow, cancel-followed: false): "
        f"run {ours} keeps going in dbt Cloud."
    ) in result.stdout
    assert "left running in dbt Cloud (dbt Cloud started it" in unescape_markdown(result.summary)
    # the post step honours it too
    post = runner.run({**follow_inputs(emu, LONG_CI_JOB)}, post=True, state=result.state)
    assert post.exit_code == 0, post.log
    assert f"dbt Cloud run {ours} is left to finish on its own: dbt Cloud started it" in (
        post.stdout
    )
    assert emu.calls("cancel") == 0
    assert status_of(emu, ours) in ACTIVE


def test_cancel_followed_true_cancels_the_followed_run_with_the_workflow(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    step, ours = followed_step(emu, runner, **{"cancel-followed": "true"})
    step.send(signal.SIGTERM)
    result, elapsed = step.finish()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGTERM
    assert emu.calls("cancel") == 1
    assert status_of(emu, ours) == 30
    assert result.outputs["status"] == "cancelled"
    assert "the action cancelled the run in dbt Cloud" in result.summary


@pytest.mark.parametrize("cancel_followed", ["false", "true"])
def test_the_post_step_cancels_a_followed_run_only_when_asked(
    emu: Emulator, runner: SimulatedRunner, cancel_followed: str
) -> None:
    """The main step was killed outright: the post step acts on what it saved."""
    extra = {"cancel-followed": cancel_followed}
    step, ours = followed_step(emu, runner, **extra)
    step.proc.kill()
    step.proc.communicate(timeout=10)
    post = runner.run(follow_inputs(emu, LONG_CI_JOB, **extra), post=True, state=step.state())
    assert post.exit_code == 0, post.log
    if cancel_followed == "true":
        assert emu.calls("cancel") == 1, post.log
        assert f"Cancelled dbt Cloud run {ours}" in post.stdout
    else:
        assert emu.calls("cancel") == 0, post.log
        assert status_of(emu, ours) in ACTIVE
        assert "left to finish on its own: dbt Cloud started it" in post.stdout


def test_timeout_leaves_the_followed_run_going(emu: Emulator, runner: SimulatedRunner) -> None:
    emu.open_pull_request(LONG_CI_JOB, PR_SHA, PR_NUMBER)
    ours = webhook_run(emu, LONG_CI_JOB)
    result = runner.run(follow_inputs(emu, LONG_CI_JOB, timeout="3s"), timeout=60)
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "timed-out" and result.outputs["run-id"] == str(ours)
    assert emu.calls("cancel") == 0
    assert status_of(emu, ours) in ACTIVE
    assert "it was left running in dbt Cloud (dbt Cloud started it, not this step" in result.stdout
    assert "dbt Cloud started it" in result.state["leave_run"]


def test_timeout_also_bounds_the_wait_for_the_run_to_appear(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    result = runner.run(follow_inputs(emu, CI_JOB, timeout="2s"), timeout=60)
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "not-found"
    assert 2 <= result.elapsed < 12, result.elapsed
    assert "Waiting up to 2.0s for dbt Cloud" in result.stdout


def test_a_cancel_while_waiting_for_the_run_ends_the_step_at_once(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    step = SignalledStep(runner, follow_inputs(emu, CI_JOB))
    wait_for(lambda: len(list_requests(emu)) >= 2, "the step to list the job's runs twice")
    step.send(signal.SIGINT)
    result, elapsed = step.finish()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT
    assert result.outputs["status"] == "cancelled" and result.outputs["run-id"] == ""
    assert emu.calls("trigger") == 0 and emu.calls("cancel") == 0
    assert "run_id" not in result.state
    assert "Traceback" not in result.log


def test_several_jobs_are_followed_each_to_its_own_run(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    emu.open_pull_request(FAILING_CI_JOB, PR_SHA, PR_NUMBER)  # ended before the step looks
    emu.open_pull_request(CI_JOB, PR_SHA, PR_NUMBER, delay=300)  # appears 3 s later
    result = runner.run(follow_inputs(emu, CI_JOB, **{"job-id": f"{CI_JOB} {FAILING_CI_JOB}"}))
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "error"
    runs = json.loads(result.outputs["runs"])
    assert [(r["job-id"], r["status"], r["origin"]) for r in runs] == [
        (str(CI_JOB), "success", "followed"),
        (str(FAILING_CI_JOB), "error", "followed"),
    ]
    assert [r["run-id"] for r in runs] == [
        str(webhook_run(emu, CI_JOB)),
        str(webhook_run(emu, FAILING_CI_JOB)),
    ]
    assert emu.calls("trigger") == 0
    assert "runs on pull requests in dbt Cloud itself" not in result.stdout


def test_one_job_without_a_run_among_several_makes_the_step_not_found(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    emu.open_pull_request(CI_JOB, PR_SHA, PR_NUMBER)
    inputs = follow_inputs(emu, CI_JOB, **{"job-id": f"{CI_JOB},{LONG_CI_JOB}"})
    result = runner.run({**inputs, "follow-timeout": "3s", "fail-on-error": "false"})
    assert result.exit_code == 1, result.log  # fail-on-error excuses a run's outcome, not this
    assert result.outputs["status"] == "not-found"
    runs = json.loads(result.outputs["runs"])
    assert [(r["status"], r["origin"]) for r in runs] == [
        ("success", "followed"),
        ("not-found", "followed"),
    ]
    assert runs[1]["run-id"] == ""
    assert f"[job {LONG_CI_JOB}] Waiting up to 3.0s for dbt Cloud" in result.stdout
    assert "has no run to follow" in result.summary
