"""One cancel and one deadline through every wait (issue 17): through the real entrypoint, the
post step after it, and the emulator over HTTP.

Each test is a case the step broke before: a sibling's trigger in flight at the cancel, a trigger
whose run dbt Cloud creates only after the cancel, `timeout` in an outage with one and several
jobs, a run left going reported as dbt Cloud says, and one job's API error writing every output.
The bounds checked are the product's promises (scope.py, docs/lifecycle.md), not
performance figures.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_cloud_action.scope import SIGNAL_EXIT_SECONDS, TIMEOUT_GRACE_SECONDS
from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault, JobScript, StepScript
from tests.fake_github import FakeGitHub
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event
from tests.test_lifecycle_e2e import ACTIVE, SignalledStep, status_of, unescape_markdown
from tests.waiting import wait_for

TOKEN = "dbtc_cancelScopeToken_0123456789abcdef"
GITHUB_TOKEN = "ghs_cancelScopeGitHubToken_0123456789"
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # head.sha of pull_request.opened.json
LONG = (StepScript("Invoke dbt with `dbt build`", "dbt build", duration=6000),)
JOB_A, JOB_B, JOB_C = 55, 56, 57
JOBS = tuple(JobScript(job, f"Long build {job}", LONG, queue_seconds=1) for job in (55, 56, 57))
# what a step's process start costs beyond the promise (interpreter, imports, a loaded CI box)
START_SLACK_SECONDS = 4.0


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=20.0) as emulator:
        yield emulator


@pytest.fixture
def runner(tmp_path: Path) -> SimulatedRunner:
    event = load_event("pull_request.opened.json")
    return SimulatedRunner(tmp_path, event_name="pull_request", event=event)


def inputs_for(emu: Emulator, jobs: str, **extra: str) -> dict[str, str]:
    return emulator_inputs(emu, 0, **{"job-id": jobs, "poll-interval": "1", **extra})


def created(emu: Emulator) -> dict[int, int]:
    """Job id → the id of the run created for it (at most one per job: no duplicate)."""
    runs: dict[int, int] = {}
    for run in emu.created_runs():
        assert run["job_definition_id"] not in runs, "a second run of one job"
        runs[run["job_definition_id"]] = run["id"]
    return runs


def test_a_cancel_while_a_siblings_trigger_is_in_flight_cancels_both_runs(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    """Job 56's trigger is handled 2.5 s late (its run appears then); SIGINT while it is in
    flight: the POST's answer is awaited for its grace, then cut, and its run found by the key
    in its cause once dbt Cloud shows it, and cancelled with job 55's."""
    emu.faults.add(Fault("trigger", calls=(2,), kind="late_handling", delay=2.5))
    step = SignalledStep(runner, inputs_for(emu, f"{JOB_A} {JOB_B}"))
    wait_for(lambda: emu.calls("trigger") == 2, "both triggers to be sent")
    time.sleep(0.3)  # job 56's run does not exist yet
    step.send(signal.SIGINT)
    result, elapsed = step.finish()

    assert elapsed < SIGNAL_EXIT_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT, result.log
    runs = created(emu)
    assert sorted(runs) == [JOB_A, JOB_B]
    assert [status_of(emu, runs[job]) for job in (JOB_A, JOB_B)] == [30, 30], result.log
    reported = json.loads(result.outputs["runs"])
    assert [(r["run-id"], r["status"], r["status-code"]) for r in reported] == [
        (str(runs[JOB_A]), "cancelled", "30"),
        (str(runs[JOB_B]), "cancelled", "30"),
    ]
    assert "Traceback" not in result.log


def test_a_trigger_whose_run_appears_after_the_cancel_is_found_by_the_post_step(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    """SIGINT during the trigger POST, before dbt Cloud has created the run (it does 6 s
    later): the step exits in time saying so, its state holds the trigger's key, and the post
    step finds the run by that key and cancels it."""
    emu.faults.add(Fault("trigger", kind="late_handling", delay=6))
    inputs = inputs_for(emu, str(JOB_A))
    step = SignalledStep(runner, inputs)
    wait_for(lambda: emu.calls("trigger") == 1, "the trigger to be sent")
    time.sleep(0.3)
    step.send(signal.SIGINT)
    result, elapsed = step.finish()

    assert elapsed < SIGNAL_EXIT_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT, result.log
    assert result.outputs["status"] == "cancelled" and result.outputs["run-id"] == ""
    summary = unescape_markdown(result.summary)
    assert "the post step looks for it by the key in its cause" in summary, summary
    pending = json.loads(result.state["pending_run"])
    assert pending["job_id"] == JOB_A and "run_id" not in result.state

    post = runner.run(inputs, post=True, state=result.state, timeout=60)
    assert post.exit_code == 0, post.log
    runs = created(emu)
    assert list(runs) == [JOB_A]  # the cut trigger was never sent again
    assert emu.calls("trigger") == 1
    assert status_of(emu, runs[JOB_A]) == 30, post.log
    assert f"Cancelled dbt Cloud run {runs[JOB_A]}" in post.stdout


@pytest.mark.parametrize("jobs", [str(JOB_A), f"{JOB_A} {JOB_B} {JOB_C}"], ids=["1-job", "3-jobs"])
def test_timeout_holds_in_an_outage_whatever_the_number_of_jobs(
    emu: Emulator, runner: SimulatedRunner, jobs: str
) -> None:
    """dbt Cloud answers 503 to every poll and cancel once the runs started: each run's
    timeout clips every retry, back-off and the cancel, and the runs time out together."""
    for endpoint in ("get_run", "cancel"):
        emu.faults.add(Fault(endpoint, status=503))
    timeout = 3.0
    result = runner.run(inputs_for(emu, jobs, timeout=f"{timeout:g}s"), timeout=120)

    assert result.elapsed < timeout + TIMEOUT_GRACE_SECONDS + START_SLACK_SECONDS, result.log
    assert result.exit_code == 1, result.log
    runs = created(emu)
    assert len(runs) == len(jobs.split())
    reported = json.loads(result.outputs["runs"])
    assert [r["status"] for r in reported] == ["timed-out"] * len(runs)
    # dbt Cloud never confirmed a cancel: no end is claimed, and the post step has the runs
    assert all(r["status-code"] in ("1", "2", "3") for r in reported), reported
    assert all(status_of(emu, run_id) in ACTIVE for run_id in runs.values())
    assert "the action cancelled it" not in unescape_markdown(result.summary)


def test_a_run_left_going_keeps_its_commit_status_pending(emu: Emulator, tmp_path: Path) -> None:
    """cancel-on-exit: false and the workflow is cancelled: the run is reported as left
    running (dbt Cloud's status), never as cancelled, and its commit status stays pending."""
    with FakeGitHub(token=GITHUB_TOKEN, repository="Codertocat/Hello-World") as github:
        runner = SimulatedRunner(
            tmp_path,
            event_name="pull_request",
            event=load_event("pull_request.opened.json"),
            env={"GITHUB_API_URL": github.url},
        )
        inputs = inputs_for(
            emu,
            str(JOB_A),
            **{"cancel-on-exit": "false", "commit-status": "true", "github-token": GITHUB_TOKEN},
        )
        step = SignalledStep(runner, inputs)
        wait_for(lambda: bool(github.statuses(PR_SHA)), "the pending commit status")
        step.send(signal.SIGINT)
        result, _ = step.finish()
        statuses = github.statuses(PR_SHA)

    assert result.outputs["status"] == "running", result.log
    [run_id] = created(emu).values()
    assert status_of(emu, run_id) in ACTIVE and emu.calls("cancel") == 0
    assert int(result.outputs["status-code"]) in ACTIVE
    assert [s["state"] for s in statuses] == ["pending", "pending"], statuses
    assert "left running" in statuses[-1]["description"], statuses
    annotation = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert annotation and "left running" in annotation[0] and "cancelled by" not in annotation[0]


def test_one_jobs_api_error_mid_follow_writes_every_output_and_the_summary(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    """dbt Cloud refuses a poll (403) while the one run is followed: status error, the run's
    id, no status claimed for it, runs and the summary, as with several jobs."""
    emu.faults.add(Fault("get_run", calls=(3,), status=403))
    result = runner.run(inputs_for(emu, str(JOB_A)), timeout=60)

    assert result.exit_code == 1, result.log
    [run_id] = created(emu).values()
    assert result.outputs["status"] == "error"
    assert result.outputs["run-id"] == str(run_id) and result.outputs["status-code"] == ""
    [reported] = json.loads(result.outputs["runs"])
    assert reported["status"] == "error" and reported["run-id"] == str(run_id)
    assert "dbt Cloud API error" in unescape_markdown(result.summary), result.summary
