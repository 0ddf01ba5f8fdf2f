"""Pure parts of the emulator: run schedules, config parsing, dbt output, query parsing."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from dbt_cloud_emulator import (
    ConfigError,
    EmulatorConfig,
    JobScript,
    ManualClock,
    NodeResult,
    StepScript,
    default_config,
)
from dbt_cloud_emulator.clock import EmulatedTime
from dbt_cloud_emulator.dbt_output import failures, node_failure_text
from dbt_cloud_emulator.envelope import ApiError
from dbt_cloud_emulator.queries import RUN_ORDERINGS, parse_include, parse_list_query
from dbt_cloud_emulator.timeline import STARTING_SECONDS, plan_run

STEPS = (
    StepScript("one", duration=5.0),
    StepScript("two", "dbt run", duration=10.0, outcome=20),
    StepScript("three", "dbt test", duration=10.0),
)


def test_a_failing_step_ends_the_run_and_later_steps_never_start() -> None:
    schedule = plan_run(0.0, 3.0, STEPS)
    assert schedule.dequeued == 3.0
    assert schedule.started == 3.0 + STARTING_SECONDS
    assert [(s.index, s.start, s.end, s.status) for s in schedule.steps] == [
        (1, 4.0, 9.0, 10),
        (2, 9.0, 19.0, 20),
    ]
    assert (schedule.finished, schedule.outcome) == (19.0, 20)
    assert [schedule.status_at(t) for t in (0.0, 2.9, 3.0, 4.0, 18.9, 19.0)] == [1, 1, 2, 3, 3, 20]
    failed = schedule.failed_step()
    assert failed is not None
    assert failed.index == 2


def test_a_deploy_run_waits_for_the_one_before_it() -> None:
    schedule = plan_run(0.0, 3.0, STEPS[:1], not_before=50.0)
    assert (schedule.dequeued, schedule.finished) == (50.0, 56.0)


def test_cancel_and_timeout_cut_the_run_short() -> None:
    while_queued = plan_run(0.0, 3.0, STEPS, cancelled_at=1.0)
    assert (while_queued.dequeued, while_queued.started, while_queued.steps) == (None, None, ())
    assert (while_queued.finished, while_queued.outcome) == (1.0, 30)
    mid_step = plan_run(0.0, 3.0, STEPS, cancelled_at=6.0)
    assert [(s.end, s.status) for s in mid_step.steps] == [(6.0, 30)]
    timed_out = plan_run(0.0, 3.0, STEPS, timeout_seconds=7.0, cancelled_at=100.0)
    assert (timed_out.finished, timed_out.outcome) == (11.0, 20)
    assert [s.status for s in timed_out.steps] == [10, 20]
    after_the_end = plan_run(0.0, 3.0, STEPS, cancelled_at=100.0)
    assert (after_the_end.outcome, after_the_end.cut) == (20, None)


def test_config_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(asdict(default_config())), encoding="utf-8")
    assert EmulatorConfig.from_file(path) == default_config()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"account_id": 0}, "account_id must be a positive integer"),
        ({"tokn": "x"}, "unknown field"),
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s", "outcome": 30}]}]},
            "outcome must be 10 or 20",
        ),
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s", "command": "ls"}]}]},
            "must be a dbt command",
        ),
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s"}], "job_type": "nightly"}]},
            "job_type must be one of",
        ),
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s"}], "artifacts": "late"}]},
            "artifacts must be",
        ),
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s"}], "history": ["1"]}]},
            "history: must be a list of durations",
        ),
        (
            {
                "jobs": [
                    {
                        "id": 1,
                        "name": "j",
                        "steps": [
                            {"name": "s", "results": [{"unique_id": "orders", "status": "success"}]}
                        ],
                    }
                ]
            },
            "unique_id must look like",
        ),
        (
            {
                "jobs": [
                    {
                        "id": 1,
                        "name": "j",
                        "steps": [
                            {"name": "s", "results": [{"unique_id": "model.a.b", "status": "ok"}]}
                        ],
                    }
                ]
            },
            "status must be one of",
        ),
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s"}], "can_retry": 1}]},
            "can_retry: must be bool",
        ),
        ({"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s"}]}] * 2}, "must be unique"),
        ({"jobs": [{"id": 1, "name": "j"}]}, "steps"),
    ],
)
def test_bad_configs_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EmulatorConfig.from_dict(data)


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read emulator config"):
        EmulatorConfig.from_file(tmp_path / "missing.json")


def test_artifacts_per_dbt_command() -> None:
    names = {
        cmd: StepScript("s", cmd).artifact_names
        for cmd in ("dbt build --select x", "dbt docs generate", "dbt deps", "dbt --debug run")
    }
    assert names == {
        "dbt build --select x": ("manifest.json", "run_results.json"),
        "dbt docs generate": ("catalog.json", "manifest.json", "run_results.json"),
        "dbt deps": (),
        "dbt --debug run": ("manifest.json", "run_results.json"),
    }
    assert StepScript("Clone git repository").artifact_names == ()
    job = JobScript(1, "j", (StepScript("s"),), artifacts="late:2.5")
    assert (job.artifact_delay, job.saves_artifacts) == (2.5, True)


def test_failures_and_summaries_read_like_dbt() -> None:
    failed = NodeResult(
        "test.p.t",
        "fail",
        message="Got 12 results, configured to fail if != 0",
        resource_type="test",
    )
    assert failures(failed) == 12
    assert failures(NodeResult("test.p.t", "pass", resource_type="test")) == 0
    assert failures(NodeResult("model.p.m", "error", message="boom")) is None
    assert node_failure_text(failed).startswith("Failure in test t (models/schema.yml)\n  Got 12")
    assert node_failure_text(NodeResult("model.p.m", "error", message="boom")) == (
        "Runtime Error in model m (models/m.sql)\n  boom"
    )


def test_list_queries_parse_every_form() -> None:
    query = parse_list_query(
        {"status__in": ["3", "[1, 2, 3]"], "order_by": ["-finished_at"], "limit": ["5"]},
        ("status",),
        RUN_ORDERINGS,
    )
    assert (query.filters, query.order_by, query.limit, query.offset) == (
        {"status__in": [1, 2, 3]},
        "-finished_at",
        5,
        0,
    )
    with pytest.raises(ApiError) as refused:
        parse_list_query({"limit": ["500"], "order_by": ["size"]}, (), RUN_ORDERINGS)
    assert set(refused.value.data) == {"limit", "order_by"}
    assert parse_include({"include_related": ['["job", "trigger"]', "run_steps"]}) == {
        "job",
        "trigger",
        "run_steps",
    }


def test_manual_clock_and_scaled_time() -> None:
    clock = ManualClock(100.0)
    emulated = EmulatedTime(clock.now, time_scale=60.0)
    clock.advance(0.5)
    assert emulated.now() == 30.0
    assert emulated.iso(30.0) == emulated.wall(30.0).isoformat(timespec="microseconds")
    assert str(emulated.iso(0.0)).endswith(".000000+00:00")
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="time_scale"):
        EmulatedTime(clock.now, time_scale=0)
