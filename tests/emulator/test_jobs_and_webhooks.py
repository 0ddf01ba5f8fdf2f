"""Jobs with projects, environments and triggers; the jobs list's filters; and runs dbt Cloud
starts by itself from a pull request's webhook (docs/dbt-cloud-api.md J2-J4, W1-W2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dbt_cloud_emulator import (
    ConfigError,
    Emulator,
    EmulatorConfig,
    JobScript,
    ManualClock,
    PullRequestScript,
    StepScript,
)
from tests.emulator.conftest import Api

SRC = Path(__file__).resolve().parents[2] / "src"
SHA = "5d41402abc4b2a76b9719d911017c592f1a2b3c4"
STEPS = (StepScript("Clone git repository", duration=2.0), StepScript("Build", "dbt build", 10.0))


def mesh_jobs() -> tuple[JobScript, ...]:
    """Two projects, each with a CI and a deploy job; two jobs share a name across projects."""
    return (
        JobScript(1, "CI", STEPS, 1.0, "ci", project_id=7, project_name="Core",
                  environment_id=71, environment_name="Core CI"),
        JobScript(2, "Nightly", STEPS, 1.0, "scheduled", project_id=7, project_name="Core",
                  environment_id=72, environment_name="Core Prod"),
        JobScript(3, "CI", STEPS, 1.0, "ci", project_id=8, project_name="Finance",
                  environment_id=81, environment_name="Finance CI"),
        JobScript(4, "Finance nightly", STEPS, 1.0, "other", project_id=8,
                  project_name="Finance", environment_id=82, environment_name="Finance Prod",
                  triggers=("on_merge",)),
    )  # fmt: skip


@pytest.fixture
def mesh(clock: ManualClock) -> Iterator[Api]:
    with Emulator(EmulatorConfig(jobs=mesh_jobs()), clock=clock.now) as emu:
        api = Api(emu)
        yield api
        api.session.close()


def job_ids(api: Api, params: Any) -> list[int]:
    return [job["id"] for job in api.data("GET", "jobs/", params=params)]


def test_jobs_carry_their_project_environment_and_triggers(mesh: Api) -> None:
    finance = mesh.data("GET", "jobs/4/")
    assert (finance["project_id"], finance["environment_id"]) == (8, 82)
    assert finance["project"]["name"] == "Finance"
    assert finance["environment"]["name"] == "Finance Prod"
    assert finance["triggers"] == {
        "github_webhook": False,
        "git_provider_webhook": False,
        "schedule": False,
        "on_merge": True,
    }
    ci = mesh.data("GET", "jobs/1/")  # a CI job runs on pull requests unless told otherwise
    assert ci["triggers"]["github_webhook"] is ci["triggers"]["git_provider_webhook"] is True
    assert mesh.data("GET", "jobs/2/")["triggers"]["schedule"] is True
    run = mesh.run(mesh.trigger(3)["id"], "environment")
    assert (run["project_id"], run["environment_id"]) == (8, 81)
    assert run["environment"]["name"] == "Finance CI"
    assert "/projects/8/runs/" in run["href"]


def test_jobs_list_filters_by_name_project_and_environment(mesh: Api) -> None:
    assert job_ids(mesh, {"name__icontains": "ci"}) == [1, 3]
    assert job_ids(mesh, {"name__icontains": "NIGHT"}) == [2, 4]  # any case, any part
    assert job_ids(mesh, {"name__icontains": "weekly"}) == []
    assert job_ids(mesh, {"project_id": 8}) == [3, 4]
    assert job_ids(mesh, {"project_id__in": "[7,8]", "environment_id": 72}) == [2]
    assert job_ids(mesh, [("project_id__in", "[8]"), ("name__icontains", "ci")]) == [3]
    # Not a filter of the jobs list in the spec: ignored, as Django ignores what it does not know.
    assert job_ids(mesh, {"environment_id__in": "[71]"}) == [1, 2, 3, 4]
    response = mesh.call("GET", "jobs/", params={"project_id": "core"})
    assert response.status_code == 400
    assert "project_id" in response.json()["data"]


def test_jobs_list_paginates_with_limit_and_offset(mesh: Api) -> None:
    page = mesh.call("GET", "jobs/", params={"limit": 3, "offset": 0, "order_by": "id"}).json()
    assert [j["id"] for j in page["data"]] == [1, 2, 3]
    assert page["extra"]["pagination"] == {"count": 3, "total_count": 4}
    rest = mesh.call("GET", "jobs/", params={"limit": 3, "offset": 3, "order_by": "id"}).json()
    assert [j["id"] for j in rest["data"]] == [4]
    assert rest["extra"]["pagination"] == {"count": 1, "total_count": 4}
    assert mesh.call("GET", "jobs/", params={"limit": 101}).status_code == 400


def test_a_pull_request_webhook_starts_a_run_after_its_delay(mesh: Api, clock: ManualClock) -> None:
    emulator = mesh.emulator
    emulator.open_pull_request(3, SHA, 42, delay=30.0, git_branch="feature/x")
    clock.advance(29.0)
    assert emulator.created_runs() == []
    assert mesh.data("GET", "runs/", params={"job_definition_id": 3}) == []
    clock.advance(1.0)
    runs = mesh.data("GET", "runs/", params={"job_definition_id": 3, "include_related": "trigger"})
    assert len(runs) == 1
    trigger = runs[0]["trigger"]
    assert trigger["git_sha"] == SHA
    assert trigger["git_branch"] == "feature/x"
    assert trigger["github_pull_request_id"] == 42
    assert trigger["cause_category"] == "ci"
    assert trigger["cause"] == "Triggered via GitHub PR webhook"
    assert runs[0]["status"] == 1
    logs = mesh.run(runs[0]["id"])
    assert logs["git_sha"] is not None


def test_a_webhook_run_is_created_at_its_own_moment_and_may_have_ended(
    mesh: Api, clock: ManualClock
) -> None:
    emulator = mesh.emulator
    emulator.open_pull_request(1, SHA, 7, delay=5.0)
    clock.advance(600.0)  # nobody asked for ten minutes: the run was created at 5 s and ran
    mine = mesh.trigger(1, {"cause": "API run after the webhook"})
    runs = mesh.data("GET", "runs/", params={"job_definition_id": 1, "order_by": "id"})
    webhook = runs[0]
    assert webhook["status"] == 10
    assert webhook["id"] < mine["id"]  # ids follow creation times
    assert webhook["created_at"] < mine["created_at"]


def test_only_a_job_that_runs_on_pull_requests_gets_webhook_runs(mesh: Api) -> None:
    with pytest.raises(ConfigError, match="does not run on pull requests"):
        mesh.emulator.open_pull_request(4, SHA, 1)
    with pytest.raises(ConfigError, match="no job 99"):
        mesh.emulator.open_pull_request(99, SHA, 1)


def test_a_webhook_for_a_commit_the_repository_lacks_fails_at_clone(
    clock: ManualClock,
) -> None:
    config = EmulatorConfig(jobs=mesh_jobs(), unknown_commits=(SHA,))
    with Emulator(config, clock=clock.now) as emu:
        emu.open_pull_request(1, SHA, 3)
        clock.advance(60.0)
        (run,) = emu.created_runs()
        assert run["status"] == 20
        assert "reference is not a tree" in run["status_message"]


def test_pull_requests_triggers_and_names_come_from_the_json_config(
    tmp_path: Path, clock: ManualClock
) -> None:
    data = {
        "jobs": [
            {"id": 5, "name": "Mesh CI", "steps": [{"name": "Build", "command": "dbt build"}],
             "project_id": 9, "project_name": "Mesh", "environment_id": 91,
             "environment_name": "Mesh CI", "triggers": ["git_provider_webhook"]},
        ],
        "pull_requests": [{"job_id": 5, "git_sha": SHA, "number": 12, "delay": 20}],
    }  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    config = EmulatorConfig.from_file(path)
    assert config.pull_requests == (PullRequestScript(5, SHA, 12, 20),)
    with Emulator(config, clock=clock.now) as emu:
        api = Api(emu)
        job = api.data("GET", "jobs/5/")
        assert job["triggers"]["git_provider_webhook"] is True
        assert job["triggers"]["github_webhook"] is False
        assert job["project"]["name"] == "Mesh"
        assert emu.created_runs() == []
        clock.advance(20.0)
        (run,) = emu.created_runs()
        assert run["trigger"]["github_pull_request_id"] == 12
        api.session.close()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s"}], "triggers": ["push"]}]},
            "list of trigger names",
        ),
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s"}], "job_type": "other"}],
             "pull_requests": [{"job_id": 1, "git_sha": SHA, "number": 1}]},
            "does not run on pull requests",
        ),
        (
            {"jobs": [{"id": 1, "name": "j", "steps": [{"name": "s"}], "project_name": "A"},
                      {"id": 2, "name": "k", "steps": [{"name": "s"}], "project_name": "B"}]},
            "project 70 is given more than one name",
        ),
        (
            {"pull_requests": [{"job_id": 101, "git_sha": SHA, "number": 0}]},
            "number must be positive",
        ),
    ],
)  # fmt: skip
def test_bad_job_and_pull_request_configs_name_the_problem(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        EmulatorConfig.from_dict(data)


def test_serve_plays_the_configs_pull_requests(tmp_path: Path) -> None:
    config = {"pull_requests": [{"job_id": 101, "git_sha": SHA, "number": 8, "delay": 0}]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-m", "dbt_cloud_emulator", "serve", "--port", "0", "--config", str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        query = {"job_definition_id": "101", "include_related": "trigger", "order_by": "-id"}
        reply = requests.get(
            f"{url}/api/v2/accounts/1/runs/",
            params=query,
            headers={"Authorization": "Token emulator-token"},
            timeout=10,
        )
        newest = reply.json()["data"][0]
        assert newest["trigger"]["github_pull_request_id"] == 8
        assert newest["trigger"]["git_sha"] == SHA
    finally:
        server.terminate()
        server.wait(timeout=10)
