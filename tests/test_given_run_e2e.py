"""`run-id` end to end: a run this step did not start (a schedule's, another system's, one a
webhook relay names) followed and reported through the real entrypoint and through
`dbt-cloud-run`, against the emulator; and `dbt-cloud-run verify-webhook` on dbt Cloud's
documented example payload and signing (docs.getdbt.com, "Webhooks for your jobs")."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event
from tests.test_cli import ROOT, run_cli
from tests.test_lifecycle_e2e import (
    ACTIVE,
    SIGNAL_BUDGET_SECONDS,
    SignalledStep,
    status_of,
    unescape_markdown,
)
from tests.waiting import wait_for

TOKEN = "dbtc_givenRunSecretToken_0123456789ab"
SHA = "0123456789abcdef0123456789abcdef01234567"
BUILD = "Invoke dbt with `dbt build`"
DAILY, FAILING, LONG = 51, 52, 53
JOBS = (
    JobScript(DAILY, "Daily", (StepScript(BUILD, "dbt build", duration=150),), 1),
    JobScript(FAILING, "Failing", (StepScript(BUILD, "dbt build", 3, outcome=20),), 1),
    JobScript(LONG, "Long", (StepScript(BUILD, "dbt build", 6000),), 1),
)
# dbt Cloud's example body of a completed run's webhook, from its docs, as the raw bytes sent
COMPLETED_EVENT = (
    b'{\n  "accountId": 1,\n  "eventId": "wev_2L6ZDoilyiWzKkSA59Gmc2d7FDD",\n'
    b'  "timestamp": "2023-01-31T19:29:35.789265936Z",\n  "eventType": "job.run.completed",\n'
    b'  "webhookName": "test",\n  "data": {\n    "jobId": "123",\n'
    b'    "jobName": "Daily Job (dbt build)",\n    "runId": "12345",\n'
    b'    "environmentId": "1234",\n    "environmentName": "Production",\n'
    b'    "dbtVersion": "",\n    "projectName": "Snowflake Github Demo",\n'
    b'    "runReason": "",\n    "runStartedAt": "2023-01-31T19:28:07Z",\n'
    b'    "runFinishedAt": "2023-01-31T19:29:32Z",\n    "runStatus": "Success",\n'
    b'    "runStatusMessage": "None"\n  }\n}'
)
WEBHOOK_SECRET = "whsec-example-0123456789"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


@pytest.fixture
def runner(tmp_path: Path) -> SimulatedRunner:
    return SimulatedRunner(
        tmp_path, event_name="repository_dispatch", event=load_event("workflow_dispatch.json")
    )


def started_elsewhere(emu: Emulator, job_id: int) -> int:
    """A run started by another system (a schedule, a person), through the API."""
    url = f"{emu.url}/api/v2/accounts/{emu.account_id}/jobs/{job_id}/run/"
    body = {"cause": "Kicked off by the nightly schedule", "git_sha": SHA}
    auth = {"Authorization": f"Token {emu.token}"}
    answer = requests.post(url, json=body, headers=auth, timeout=10)
    answer.raise_for_status()
    run_id: int = answer.json()["data"]["id"]
    return run_id


def given(emu: Emulator, run_id: int | str, **extra: str) -> dict[str, str]:
    values = emulator_inputs(emu, 0, **{"run-id": str(run_id), "poll-interval": "1"})
    del values["job-id"]
    return {**values, **extra}


def errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("::error")]


def test_a_run_started_elsewhere_is_followed_and_reported(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    run_id = started_elsewhere(emu, DAILY)
    result = runner.run(given(emu, run_id, **{"job-id": str(DAILY)}))
    assert result.exit_code == 0, result.log
    assert emu.calls("trigger") == 1  # the other system's only
    out = result.outputs
    assert (out["run-id"], out["status"], out["origin"]) == (str(run_id), "success", "given")
    assert out["git-sha"] == SHA and out["job-name"] == "Daily"
    assert f"run-id: run {run_id} is a run of job {DAILY}" in result.stdout
    assert f"Following run {run_id}: " in result.stdout
    summary = unescape_markdown(result.summary)
    assert "named by run-id" in summary and "did not trigger it" in summary
    [row] = json.loads(out["runs"])
    assert row["origin"] == "given" and row["job-id"] == str(DAILY)
    assert result.state.get("run_ended") == "true"


def test_a_failed_run_fails_the_step(emu: Emulator, runner: SimulatedRunner) -> None:
    run_id = started_elsewhere(emu, FAILING)
    wait_for(lambda: status_of(emu, run_id) == 20, "the run to fail")
    result = runner.run(given(emu, run_id))
    assert result.exit_code == 1, result.log
    assert (result.outputs["status"], result.outputs["origin"]) == ("error", "given")
    assert f"Run {run_id} already ended: reporting it." in result.stdout


@pytest.mark.parametrize(
    ("run_id", "extra", "message"),
    [
        (999999, {}, "has no run 999999 that api-token may see"),
        ("first", {}, "must be a positive integer"),
        ("RUN", {"job-id": str(FAILING)}, f"a run of job {DAILY}, but job-id is {FAILING}"),
        ("RUN", {"steps-override": "dbt run"}, "steps-override is set"),
        ("RUN", {"mode": "follow"}, "mode: follow"),
        ("RUN", {"job-id": f"{DAILY} {FAILING}"}, "several job-id values"),
    ],
)
def test_a_bad_run_id_is_one_error_naming_it(
    emu: Emulator, runner: SimulatedRunner, run_id: int | str, extra: dict[str, str], message: str
) -> None:
    run = started_elsewhere(emu, DAILY)
    result = runner.run(given(emu, run if run_id == "RUN" else run_id, **extra))
    assert result.exit_code == 1, result.log
    [error] = errors(result.stdout)
    assert "Input 'run-id'" in error and message in error, error
    assert emu.calls("trigger") == 1 and emu.calls("cancel") == 0


def test_cancelling_the_workflow_leaves_the_given_run_going(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    run_id = started_elsewhere(emu, LONG)
    step = SignalledStep(runner, given(emu, run_id))
    polled = f"/api/v2/accounts/{emu.account_id}/runs/{run_id}/"
    wait_for(lambda: sum(r.path == polled for r in emu.requests) >= 2, "the step to poll")
    step.send(signal.SIGTERM)
    result, elapsed = step.finish()
    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert emu.calls("cancel") == 0 and status_of(emu, run_id) in ACTIVE
    assert (result.outputs["status"], result.outputs["origin"]) == ("running", "given")
    assert "this step did not start it (run-id, cancel-followed: false)" in result.stdout
    post = runner.run(given(emu, run_id), post=True, state=result.state)
    assert post.exit_code == 0, post.log
    assert emu.calls("cancel") == 0 and status_of(emu, run_id) in ACTIVE


def test_the_cli_reports_a_given_run(emu: Emulator, tmp_path: Path) -> None:
    run_id = started_elsewhere(emu, DAILY)
    env = {
        "DBT_CLOUD_ACCESS_URL": emu.url,
        "DBT_CLOUD_API_TOKEN": emu.token,
        "DBT_CLOUD_ACCOUNT_ID": str(emu.account_id),
        "DBT_CLOUD_POLL_INTERVAL": "1",
    }
    proc = run_cli(["--run-id", str(run_id), "--json"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    outputs: dict[str, Any] = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert (outputs["run-id"], outputs["origin"]) == (str(run_id), "given")
    assert emu.calls("trigger") == 1


def docs_signature(body: bytes, secret: str) -> str:
    """The docs' own check: hmac.new(secret, request_body, hashlib.sha256).hexdigest()."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(tmp_path: Path, signature: str, body: bytes, secret: str | None) -> Any:
    (tmp_path / "body.json").write_bytes(body)
    env = {} if secret is None else {"DBT_CLOUD_WEBHOOK_SECRET": secret}
    return run_cli(["verify-webhook", "--signature", signature, "body.json"], env, tmp_path)


def test_verify_webhook_accepts_dbt_clouds_signature_and_prints_the_run(tmp_path: Path) -> None:
    signature = docs_signature(COMPLETED_EVENT, WEBHOOK_SECRET)
    proc = verify(tmp_path, signature, COMPLETED_EVENT, WEBHOOK_SECRET)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "run-id=12345"


@pytest.mark.parametrize(
    ("change", "secret"),
    [
        ("body", WEBHOOK_SECRET),  # one byte changed on the way
        ("pretty", WEBHOOK_SECRET),  # parsed and dumped again: not the bytes signed
        ("none", "another-secret"),
        ("none", None),  # no secret set
    ],
)
def test_verify_webhook_refuses_anything_else(
    tmp_path: Path, change: str, secret: str | None
) -> None:
    signature = docs_signature(COMPLETED_EVENT, WEBHOOK_SECRET)
    body = {
        "body": COMPLETED_EVENT.replace(b"12345", b"12346"),
        "pretty": json.dumps(json.loads(COMPLETED_EVENT)).encode(),
        "none": COMPLETED_EVENT,
    }[change]
    proc = verify(tmp_path, signature, body, secret)
    assert proc.returncode == 1
    assert proc.stdout == "" and "run-id" not in proc.stdout
    assert proc.stderr.strip()  # says what is wrong and what to do


def test_verify_webhook_reads_stdin(tmp_path: Path) -> None:

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dbt_cloud_action.cli",
            "verify-webhook",
            "--signature",
            docs_signature(COMPLETED_EVENT, WEBHOOK_SECRET),
        ],
        input=COMPLETED_EVENT,
        env={"PYTHONPATH": str(ROOT / "src"), "DBT_CLOUD_WEBHOOK_SECRET": WEBHOOK_SECRET},
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "run-id=12345"
