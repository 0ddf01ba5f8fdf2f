"""Runs move through their scripted timelines, over real HTTP, on scaled or test-driven time."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from dbt_cloud_emulator import (
    Emulator,
    EmulatorConfig,
    JobScript,
    ManualClock,
    NodeResult,
    StepScript,
)
from tests.emulator.conftest import Api

BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=20.0,
    results=(
        NodeResult("model.shop.orders", "success", 3.0, "SUCCESS 1"),
        NodeResult("test.shop.not_null_orders_id", "pass", 1.0, None, "test"),
    ),
)
CLONE = StepScript("Clone git repository", duration=5.0)


def account(*jobs: JobScript) -> EmulatorConfig:
    return EmulatorConfig(jobs=jobs)


def moment(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


def test_states_come_in_order_on_a_fast_time_scale() -> None:
    """A 36-second run played at 60x: the client sees queued..success in order, never back."""
    config = account(JobScript(1, "CI", (CLONE, BUILD), queue_seconds=10.0))
    with Emulator(config, time_scale=60.0) as emu:
        api = Api(emu)
        run = api.trigger(1)
        seen = [run["status"]]
        deadline = time.monotonic() + 10  # generous: the run needs 0.6 s of real time
        while seen[-1] < 10 and time.monotonic() < deadline:
            status = api.run(run["id"], "")["status"]
            if status != seen[-1]:
                seen.append(status)
            time.sleep(0.005)
        final = api.run(run["id"])
    assert seen[0] == 1
    assert seen[-1] == 10
    assert seen == sorted(seen)
    assert set(seen) <= {1, 2, 3, 10}
    assert moment(final["created_at"]) < moment(final["dequeued_at"]) < moment(final["started_at"])
    assert moment(final["started_at"]) < moment(final["finished_at"])
    assert final["in_progress"] is False
    assert final["is_complete"] is True
    assert final["is_success"] is True


def test_a_manual_clock_drives_the_timeline_exactly() -> None:
    clock = ManualClock()
    config = account(JobScript(1, "CI", (CLONE, BUILD), queue_seconds=10.0))
    with Emulator(config, clock=clock.now) as emu:
        api = Api(emu)
        run_id = api.trigger(1, {"cause": "exact"})["id"]

        def at(seconds: float) -> dict[str, Any]:
            clock.advance(seconds - emu.clock_now())
            return api.run(run_id)

        queued = at(9.9)
        assert (queued["status"], queued["status_humanized"]) == (1, "Queued")
        assert queued["started_at"] is None
        assert queued["run_steps"] == []
        starting = at(10.0)
        assert (starting["status"], starting["status_humanized"]) == (2, "Starting")
        assert starting["dequeued_at"] is not None
        assert starting["started_at"] is None
        running = at(12.0)  # 1 s starting, then the clone step
        assert running["status"] == 3
        assert [(s["name"], s["status"]) for s in running["run_steps"]] == [
            ("Clone git repository", 3)
        ]
        building = at(20.0)
        assert [s["status"] for s in building["run_steps"]] == [10, 3]
        assert "Running with dbt=" in building["run_steps"][1]["logs"]
        assert "Done. PASS=" not in building["run_steps"][1]["logs"]  # still running
        assert at(35.9)["status"] == 3
        done = at(36.0)
    assert done["status"] == 10
    assert [s["status"] for s in done["run_steps"]] == [10, 10]
    assert (done["duration"], done["queued_duration"], done["run_duration"]) == (
        "00:00:36",
        "00:00:11",
        "00:00:25",
    )
    assert done["run_duration_humanized"] == "25 seconds"
    assert "Done. PASS=2 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=2" in done["run_steps"][1]["logs"]
    assert done["status_message"] is None


def test_deploy_runs_of_a_job_queue_behind_each_other() -> None:
    clock = ManualClock()
    deploy = JobScript(3, "Deploy", (CLONE, BUILD), queue_seconds=2.0, job_type="scheduled")
    with Emulator(account(deploy), clock=clock.now) as emu:
        api = Api(emu)
        first = api.trigger(3)["id"]
        second = api.trigger(3)["id"]
        clock.advance(10)
        assert api.run(first)["status"] == 3
        waiting = api.run(second)
        assert (waiting["status"], waiting["blocked_by"]) == (1, [first])
        clock.advance(20)  # the first ends at 2 + 1 + 25 = 28 s
        one, two = api.run(first), api.run(second)
    assert one["status"] == 10
    assert two["status"] == 3
    assert two["blocked_by"] == []
    assert moment(two["dequeued_at"]) == moment(one["finished_at"])


def test_ci_runs_of_a_job_run_side_by_side(
    emulator: Emulator, api: Api, clock: ManualClock
) -> None:
    first, second = api.trigger(101)["id"], api.trigger(101)["id"]
    clock.advance(10)
    assert api.run(first)["status"] == api.run(second)["status"] == 3


def test_cancelling_the_running_deploy_lets_the_next_one_start() -> None:
    clock = ManualClock()
    deploy = JobScript(3, "Deploy", (CLONE, BUILD), queue_seconds=2.0, job_type="scheduled")
    with Emulator(account(deploy), clock=clock.now) as emu:
        api = Api(emu)
        first, second = api.trigger(3)["id"], api.trigger(3)["id"]
        clock.advance(12)  # the first is in its build step
        cancelled = api.data("POST", f"runs/{first}/cancel/")
        assert (cancelled["status"], cancelled["status_humanized"]) == (30, "Cancelled")
        assert cancelled["is_cancelled"] is True
        assert cancelled["status_message"] == "Cancelled by user."  # dbt Cloud's words
        assert [s["status"] for s in cancelled["run_steps"]] == [10, 30]
        assert "cancelled" in cancelled["run_steps"][1]["logs"].lower()
        clock.advance(1.5)
        assert api.run(second)["status"] == 3


def test_cancelling_a_queued_run_and_a_finished_run(api: Api, clock: ManualClock) -> None:
    queued = api.trigger(105)["id"]  # 300 s queue
    clock.advance(5)
    cancelled = api.data("POST", f"runs/{queued}/cancel/")
    assert cancelled["status"] == 30
    assert cancelled["started_at"] is None
    assert cancelled["finished_at"] is not None
    done = api.trigger(101)["id"]
    clock.advance(100)
    before = api.run(done)
    after = api.data("POST", f"runs/{done}/cancel/")
    assert after["status"] == before["status"] == 10
    assert after["finished_at"] == before["finished_at"]


def test_timeout_override_ends_the_run_with_an_error(api: Api, clock: ManualClock) -> None:
    run_id = api.trigger(103, {"cause": "short leash", "timeout_seconds_override": 60})["id"]
    clock.advance(5 + 1 + 60)
    run = api.run(run_id)
    assert run["status"] == 20
    assert run["run_duration"] == "00:01:00"
    assert "timed out after 60 seconds" in run["status_message"]


def test_history_runs_are_finished_before_the_emulator_started(api: Api) -> None:
    runs = api.data("GET", "runs/", params={"job_definition_id": 103, "order_by": "id"})
    assert [r["run_duration"] for r in runs] == [
        "00:10:12",
        "00:09:58",
        "00:10:41",
        "00:10:05",
        "00:09:50",
    ]
    assert all(r["status"] == 10 for r in runs)
    created = [moment(r["created_at"]) for r in runs]
    assert created == sorted(created)
    assert moment(runs[-1]["finished_at"]) < moment(api.trigger(103)["created_at"])
