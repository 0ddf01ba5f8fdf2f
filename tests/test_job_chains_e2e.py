"""`follow-chain` end to end: the runs dbt Cloud starts by job chaining (the emulator's J6) found,
followed and reported with the step's own run, through the real entrypoint."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from dbt_cloud_action.chain import MAX_CHAIN_DEPTH
from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript
from tests.simulated_runner import SimulatedRunner, StepResult, emulator_inputs, load_event
from tests.test_lifecycle_e2e import (
    SIGNAL_BUDGET_SECONDS,
    SignalledStep,
    status_of,
    unescape_markdown,
)
from tests.waiting import wait_for

TOKEN = "dbtc_chainSecretToken_0123456789abcdef"
BUILD = "Invoke dbt with `dbt build`"
LOAD, TRANSFORM, ALERT, PUBLISH = 61, 62, 63, 64


def job(
    job_id: int, name: str, *, outcome: int = 10, duration: float = 30, **chain: Any
) -> JobScript:
    steps = (StepScript(BUILD, "dbt build", duration, outcome=outcome),)
    return JobScript(job_id, name, steps, 1.0, "scheduled", **chain)


@contextmanager
def account(*jobs: JobScript) -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=jobs), time_scale=100.0) as emulator:
        yield emulator


@pytest.fixture
def runner(tmp_path: Path) -> SimulatedRunner:
    return SimulatedRunner(tmp_path, event_name="push", event=load_event("push.branch.json"))


def chain_inputs(emu: Emulator, **extra: str) -> dict[str, str]:
    return emulator_inputs(emu, LOAD, **{"follow-chain": "true", "poll-interval": "1", **extra})


def rows(result: StepResult) -> list[dict[str, str]]:
    runs: list[dict[str, str]] = json.loads(result.outputs["runs"])
    return runs


def summary_of(rows_: Sequence[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(row["job-id"], row["origin"], row["status"]) for row in rows_]


def child_runs_listed(emu: Emulator, job_id: int) -> int:
    return sum(
        r.path.endswith("/runs/") and r.query.get("job_definition_id") == [str(job_id)]
        for r in emu.requests
    )


def test_the_run_its_success_starts_is_followed_and_reported_with_it(
    runner: SimulatedRunner,
) -> None:
    jobs = (
        job(LOAD, "Load"),
        job(TRANSFORM, "Transform", after_job_id=LOAD),
        # a level further, in another project
        job(PUBLISH, "Publish", after_job_id=TRANSFORM, project_id=9, project_name="Marts"),
    )
    with account(*jobs) as emu:
        result = runner.run(chain_inputs(emu))
        assert result.exit_code == 0, result.log
        load, transform, publish = rows(result)
        assert summary_of([load, transform, publish]) == [
            (str(LOAD), "triggered", "success"),
            (str(TRANSFORM), "chained", "success"),
            (str(PUBLISH), "chained", "success"),
        ]
        child = emu.run(int(transform["run-id"]))
        assert child["trigger"]["cause_category"] == "job completion"
        assert child["status"] == 10 and emu.calls("trigger") == 1  # dbt Cloud started it
        assert result.outputs["status"] == "success"
        assert f"[chained job {TRANSFORM}] Following run {transform['run-id']}" in result.stdout
        assert "Transform" in result.summary and "Load" in result.summary
        assert "completion of a run before it (follow-chain)" in unescape_markdown(result.summary)
        assert json.loads(result.state["runs"])[1]["run_id"] == int(transform["run-id"])


def test_a_chained_run_that_fails_fails_the_step(runner: SimulatedRunner) -> None:
    jobs = (job(LOAD, "Load"), job(TRANSFORM, "Transform", outcome=20, after_job_id=LOAD))
    with account(*jobs) as emu:
        result = runner.run(chain_inputs(emu))
        assert result.exit_code == 1, result.log
        assert summary_of(rows(result)) == [
            (str(LOAD), "triggered", "success"),
            (str(TRANSFORM), "chained", "error"),
        ]
        assert result.outputs["status"] == "error"


def test_a_status_no_job_is_chained_to_waits_for_nothing(runner: SimulatedRunner) -> None:
    jobs = (job(LOAD, "Load"), job(ALERT, "Alert", after_job_id=LOAD, after_statuses=(20,)))
    with account(*jobs) as emu:
        result = runner.run(chain_inputs(emu))
        assert result.exit_code == 0, result.log
        assert summary_of(rows(result)) == [(str(LOAD), "triggered", "success")]
        assert emu.calls("list_jobs") >= 1  # the chain was looked for
        assert child_runs_listed(emu, ALERT) == 0  # and no run of Alert waited for
        assert "waiting for the run of job" not in result.stdout


def test_without_follow_chain_the_chained_run_is_not_followed(runner: SimulatedRunner) -> None:
    with account(job(LOAD, "Load"), job(TRANSFORM, "Transform", after_job_id=LOAD)) as emu:
        result = runner.run(emulator_inputs(emu, LOAD, **{"poll-interval": "1"}))
        assert result.exit_code == 0, result.log
        assert summary_of(rows(result)) == [(str(LOAD), "triggered", "success")]
        assert child_runs_listed(emu, TRANSFORM) == 0


def test_a_chain_that_loops_is_an_input_error_before_any_trigger(
    runner: SimulatedRunner,
) -> None:
    """The jobs' conditions are read with the job, before any run starts: a loop below it is
    one ::error:: naming follow-chain, and nothing is triggered."""
    jobs = (
        job(LOAD, "Load", after_job_id=TRANSFORM),
        job(TRANSFORM, "Transform", after_job_id=LOAD),
    )
    with account(*jobs) as emu:
        result = runner.run(chain_inputs(emu))
        assert result.exit_code == 1, result.log
        assert emu.calls("trigger") == 0 and emu.created_runs() == []
        [error] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
        assert "Invalid input 'follow-chain'" in error, error
        assert f"{LOAD} → {TRANSFORM} → {LOAD}" in error
        assert [row["status"] for row in rows(result)] == ["error"]


def test_a_cancel_during_a_chained_run_cancels_it(runner: SimulatedRunner) -> None:
    jobs = (job(LOAD, "Load"), job(PUBLISH, "Publish", duration=6000, after_job_id=LOAD))
    with account(*jobs) as emu:
        step = SignalledStep(runner, chain_inputs(emu))
        wait_for(lambda: any(r["job_definition_id"] == PUBLISH for r in emu.created_runs()), "")
        child_id = next(r["id"] for r in emu.created_runs() if r["job_definition_id"] == PUBLISH)
        polled = f"/api/v2/accounts/{emu.account_id}/runs/{child_id}/"
        wait_for(lambda: sum(r.path == polled for r in emu.requests) >= 2, "the child's polls")
        step.send(signal.SIGTERM)
        result, elapsed = step.finish()
        assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
        assert status_of(emu, child_id) == 30 and emu.calls("cancel") == 1
        assert summary_of(rows(result)) == [
            (str(LOAD), "triggered", "success"),
            (str(PUBLISH), "chained", "cancelled"),
        ]
        post = runner.run(chain_inputs(emu), post=True, state=result.state)
        assert post.exit_code == 0, post.log
        assert emu.calls("cancel") == 1  # nothing left for the post step


def test_a_chain_deeper_than_the_bound_is_cut_and_said(runner: SimulatedRunner) -> None:
    ids = [LOAD, *range(70, 70 + MAX_CHAIN_DEPTH + 1)]
    jobs = [job(LOAD, "Load")]
    jobs += [job(j, f"Step {j}", after_job_id=parent) for parent, j in pairwise(ids)]
    with account(*jobs) as emu:
        result = runner.run(chain_inputs(emu))
        assert result.exit_code == 0, result.log
        assert [row["job-id"] for row in rows(result)] == [str(j) for j in ids[:-1]]
        [cut] = [line for line in result.stdout.splitlines() if "chain cut" in line]
        assert cut.startswith("::warning") and f"(jobs {ids[-1]})" in cut
        assert child_runs_listed(emu, ids[-1]) == 0
