"""Listing jobs: the spec's filters, pages until done (bounded), typed `Job`s with projects,
environments and triggers; against the emulator over HTTP, and the pure parts alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbt_cloud_action.client import JOBS_PAGE_SIZE, DbtCloudClient, list_jobs_params
from dbt_cloud_action.models import Job, JobTriggers
from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript

STEPS = (StepScript("Build", "dbt build", 1.0),)


def account(extra_jobs: int = 0) -> EmulatorConfig:
    jobs = [
        JobScript(1, "Core CI", STEPS, job_type="ci", project_id=7, project_name="Core",
                  environment_id=71, environment_name="Core CI env"),
        JobScript(2, "core nightly", STEPS, job_type="scheduled", project_id=7,
                  project_name="Core", environment_id=72, environment_name="Core Prod"),
        JobScript(3, "Finance CI", STEPS, job_type="ci", project_id=8, project_name="Finance",
                  environment_id=81, environment_name="Finance CI env", triggers=()),
    ]  # fmt: skip
    jobs += [
        JobScript(100 + i, f"Generated {i}", STEPS, job_type="other", project_id=9,
                  project_name="Bulk", environment_id=91, environment_name="Bulk Prod")
        for i in range(extra_jobs)
    ]  # fmt: skip
    return EmulatorConfig(jobs=tuple(jobs))


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(account(extra_jobs=230)) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[DbtCloudClient]:
    with DbtCloudClient(emu.url, emu.token, emu.account_id, sleep=lambda _: None) as c:
        yield c


def list_queries(emu: Emulator) -> list[dict[str, list[str]]]:
    return [entry.query for entry in emu.requests if entry.endpoint == "list_jobs"]


def test_jobs_come_typed_with_projects_environments_and_triggers(
    client: DbtCloudClient,
) -> None:
    core_ci, nightly = client.list_jobs(project_ids=[7])
    assert (core_ci.id, core_ci.name, core_ci.project_id, core_ci.environment_id) == (
        1, "Core CI", 7, 71,
    )  # fmt: skip
    assert (core_ci.project_name, core_ci.environment_name) == ("Core", "Core CI env")
    assert core_ci.triggers == JobTriggers(github_webhook=True, git_provider_webhook=True)
    assert core_ci.runs_on_pull_requests
    assert nightly.triggers == JobTriggers(schedule=True)
    assert not nightly.runs_on_pull_requests
    (finance,) = client.list_jobs(name_contains="finance")
    assert not finance.runs_on_pull_requests  # a CI job whose PR trigger is off


def test_filters_are_sent_as_the_jobs_list_reads_them(
    client: DbtCloudClient, emu: Emulator
) -> None:
    assert [j.id for j in client.list_jobs(name_contains="CI")] == [1, 3]
    assert [j.id for j in client.list_jobs(name_contains="ci", project_ids=[8])] == [3]
    assert [j.id for j in client.list_jobs(project_ids=[7, 8], environment_id=72)] == [2]
    queries = list_queries(emu)
    assert queries[0]["name__icontains"] == ["CI"]
    assert queries[1]["project_id"] == ["8"]
    assert queries[2]["project_id__in"] == ["[7,8]"]
    assert queries[2]["environment_id"] == ["72"]
    assert all(q["include_related"] == ['["environment"]'] for q in queries)


def test_pages_until_a_short_page(client: DbtCloudClient, emu: Emulator) -> None:
    jobs = client.list_jobs()
    assert len(jobs) == 233
    assert [j.id for j in jobs] == sorted(j.id for j in jobs)
    assert [(q["offset"], q["limit"]) for q in list_queries(emu)] == [
        (["0"], ["100"]), (["100"], ["100"]), (["200"], ["100"]),
    ]  # fmt: skip


def test_stops_at_max_jobs(client: DbtCloudClient, emu: Emulator) -> None:
    jobs = client.list_jobs(max_jobs=150)
    assert len(jobs) == 150
    assert [(q["offset"], q["limit"]) for q in list_queries(emu)] == [
        (["0"], ["100"]), (["100"], ["50"]),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="max_jobs"):
        client.list_jobs(max_jobs=0)


def test_an_exactly_full_last_page_costs_one_empty_page() -> None:
    with (
        Emulator(account(extra_jobs=JOBS_PAGE_SIZE - 3)) as emu,
        DbtCloudClient(emu.url, emu.token, emu.account_id) as client,
    ):
        assert len(client.list_jobs()) == JOBS_PAGE_SIZE
        assert [q["offset"] for q in list_queries(emu)] == [["0"], ["100"]]


def test_list_jobs_params_use_only_the_spec_filters() -> None:
    assert list_jobs_params() == {"order_by": "id", "limit": 100, "offset": 0}
    assert list_jobs_params(
        name_contains="ci", project_ids=[3, 3], environment_id=5, include_related=["environment"]
    ) == {
        "order_by": "id", "limit": 100, "offset": 0, "include_related": '["environment"]',
        "name__icontains": "ci", "project_id": 3, "environment_id": 5,
    }  # fmt: skip
    assert list_jobs_params(project_ids=[4, 3, 4])["project_id__in"] == "[4,3]"
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        with pytest.raises(ValueError):
            list_jobs_params(**bad)  # type: ignore[arg-type]


def test_a_job_without_embedded_project_or_null_triggers_still_parses() -> None:
    # dbt-cloud-cli's recorded jobs list: no project/environment objects, a null flag.
    job = Job.from_api(
        {
            "id": 43167,
            "account_id": 123456,
            "project_id": 123457,
            "environment_id": 49819,
            "name": "Do nothing!",
            "triggers": {"github_webhook": False, "git_provider_webhook": None, "schedule": False},
        }
    )
    assert (job.project_name, job.environment_name) == ("", "")
    assert job.triggers == JobTriggers()
    assert Job.from_api({"id": 1, "name": "x", "triggers": None}).triggers == JobTriggers()
