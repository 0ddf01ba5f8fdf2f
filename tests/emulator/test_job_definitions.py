"""Jobs created and updated through the API, and job chaining (docs/dbt-cloud-api.md J4-J6):
the body rules are the spec's less what the real dbt-jobs-as-code omits or sends as null
(tests/test_jobs_as_code_e2e.py drives the tool itself); replies are checked against the spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, ManualClock, StepScript
from tests.emulator.conftest import Api

STEPS = (StepScript("Build", "dbt build", 10.0),)


def tool_body(account_id: int, /, **changes: Any) -> dict[str, Any]:
    """What dbt-jobs-as-code 1.22.0 sends (`JobDefinition.to_payload()`), as recorded."""
    body: dict[str, Any] = {
        "id": None,
        "account_id": account_id,
        "project_id": 70,
        "environment_id": 200,
        "dbt_version": None,
        "name": "Nightly build [[nightly]]",
        "settings": {"threads": 4, "target_name": "prod"},
        "execution": {"timeout_seconds": 0},
        "deferring_job_definition_id": None,
        "deferring_environment_id": None,
        "run_generate_sources": False,
        "run_lint": False,
        "errors_on_lint_failure": True,
        "execute_steps": ["dbt build"],
        "generate_docs": False,
        "schedule": {
            "cron": "0 6 * * *",
            "date": {"type": "custom_cron", "cron": "0 6 * * *"},
            "time": {"type": "every_hour", "interval": 1},
        },
        "triggers": {
            "github_webhook": False,
            "git_provider_webhook": False,
            "schedule": False,
            "on_merge": False,
        },
        "description": "",
        "state": 1,
        "run_compare_changes": False,
        "compare_changes_flags": "--select state:modified",
        "job_type": "scheduled",
        "cost_optimization_features": [],
        "triggers_on_draft_pr": False,
        "job_completion_trigger_condition": None,
    }
    return {**body, **changes}


@pytest.fixture
def api() -> Iterator[Api]:
    with Emulator(time_scale=60.0) as emu:
        yield Api(emu, check=True)


def test_a_job_created_as_the_tool_sends_it_runs_its_steps(api: Api) -> None:
    account = api.emulator.account_id
    reply = api.call(
        "POST", "jobs/", body=tool_body(account, execute_steps=["dbt seed", "dbt build"])
    )
    assert reply.status_code == 200, reply.text
    job = reply.json()["data"]
    assert job["name"] == "Nightly build [[nightly]]" and job["execute_steps"] == [
        "dbt seed",
        "dbt build",
    ]
    assert api.call("GET", f"jobs/{job['id']}/").json()["data"]["name"] == job["name"]
    run = api.call("POST", f"jobs/{job['id']}/run/", body={"cause": "x"}).json()["data"]
    assert run["job_definition_id"] == job["id"]


def test_an_update_replaces_the_job_and_an_unknown_job_is_a_404(api: Api) -> None:
    account = api.emulator.account_id
    job = api.call("POST", "jobs/", body=tool_body(account)).json()["data"]
    body = tool_body(account, id=job["id"], name="Renamed [[nightly]]", description="[[x]]")
    reply = api.call("POST", f"jobs/{job['id']}/", body=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["name"] == "Renamed [[nightly]]"
    assert reply.json()["data"]["description"] == "[[x]]"
    assert api.call("POST", "jobs/99999/", body=body, check=False).status_code == 404


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"name": ""}, {"name"}),
        ({"settings": None, "state": "1"}, {"settings", "state"}),
        ({"execute_steps": ["ls"]}, {"execute_steps"}),
        ({"account_id": 999}, {"account_id"}),
        ({"description": "d" * 256}, {"description"}),
        ({"triggers": {"schedule": "yes"}}, {"triggers"}),
    ],
)
def test_bad_job_bodies_name_every_bad_field(
    api: Api, changes: dict[str, Any], fields: set[str]
) -> None:
    reply = api.call("POST", "jobs/", body=tool_body(api.emulator.account_id, **changes))
    assert reply.status_code == 400
    assert set(reply.json()["data"]) == fields


def test_required_fields_are_the_specs_less_lifecycle_webhooks(api: Api) -> None:
    body = tool_body(api.emulator.account_id)
    for name in ("project_id", "run_lint", "triggers"):
        del body[name]
    reply = api.call("POST", "jobs/", body=body)
    assert reply.status_code == 400
    assert set(reply.json()["data"]) == {"project_id", "run_lint", "triggers"}
    assert "lifecycle_webhooks" not in tool_body(1)  # the tool never sends it, and is served


def test_a_viewer_token_may_not_create_jobs() -> None:
    from dbt_cloud_emulator.config import TokenAccess

    config = EmulatorConfig(access=TokenAccess(permission="job_viewer"))
    with Emulator(config=config) as emu:
        reply = Api(emu).call("POST", "jobs/", body=tool_body(emu.account_id))
        assert reply.status_code == 403


def chained_jobs() -> tuple[JobScript, ...]:
    return (
        JobScript(1, "Load", STEPS, 1.0, "scheduled"),
        JobScript(2, "Transform", STEPS, 1.0, "scheduled", after_job_id=1),
        JobScript(3, "Alert", STEPS, 1.0, "scheduled", after_job_id=1, after_statuses=(20,)),
        JobScript(4, "Other project", STEPS, 1.0, "scheduled", project_id=9, after_job_id=2),
    )


def test_a_run_that_ends_starts_the_jobs_chained_to_its_status() -> None:
    clock = ManualClock()
    with Emulator(
        config=EmulatorConfig(jobs=chained_jobs()), clock=clock.now, time_scale=1.0
    ) as emu:
        api = Api(emu, check=True)
        condition = api.call("GET", "jobs/2/").json()["data"]["job_completion_trigger_condition"]
        assert condition == {"condition": {"job_id": 1, "project_id": 70, "statuses": [10]}}
        assert (
            api.call("GET", "jobs/4/").json()["data"]["job_completion_trigger_condition"][
                "condition"
            ]["project_id"]
            == 70
        )
        parent = api.call("POST", "jobs/1/run/", body={"cause": "x"}).json()["data"]
        clock.advance(60)
        runs = api.call("GET", "runs/", params={"order_by": "id"}).json()["data"]
        finished = next(r for r in runs if r["id"] == parent["id"])
        children = [r for r in runs if r["id"] > parent["id"]]
        assert [r["job_definition_id"] for r in children] == [2, 4]  # not 3: its status is 20
        child = api.call(
            "GET", f"runs/{children[0]['id']}/", params={"include_related": '["trigger"]'}
        ).json()["data"]
        assert child["trigger"]["cause_category"] == "job completion"
        assert child["created_at"] > finished["finished_at"]
