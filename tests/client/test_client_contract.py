"""Every request the client makes, validated against the official dbt Cloud API v2 spec
(through tests/spec.py, which also reads dbt Cloud's `status__in=[1,2]` form item by item)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest

from dbt_cloud_action.client import ArtifactNotFound, DbtCloudClient
from dbt_cloud_action.models import RunStatus
from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault
from tests.spec import validate_request

TOKEN = "contract-Tok-3e1d9b7a"
CI_JOB = 101
FAILING_JOB = 102


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN), time_scale=600.0) as emulator:
        yield emulator


def exercise_every_call(client: DbtCloudClient, emu: Emulator) -> None:
    """Each public call at least once, with its optional parameters, plus a reconciliation."""
    client.get_job(CI_JOB)
    client.list_jobs(name_contains="ci", project_ids=[70], environment_id=201)
    client.list_jobs(project_ids=[70, 71], include_related=())
    client.list_jobs(max_jobs=2)
    body = {
        "cause": "Contract test",
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "github_pull_request_id": 17,
        "schema_override": "dbt_pr_17",
        "threads_override": 4,
        "target_name_override": "ci",
        "generate_docs_override": False,
        "timeout_seconds_override": 600,
        "steps_override": ["dbt build --select state:modified+"],
    }
    emu.faults.add(Fault(endpoint="trigger", calls=(1,), kind="lose_response"))
    run = client.trigger_run(CI_JOB, body)
    client.get_run(run.id, ["trigger", "job", "run_steps", "debug_logs"], fresh=True)
    client.list_runs(
        CI_JOB,
        status_in=[RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING],
        order_by="-created_at",
        limit=5,
        offset=1,
        include_related=["trigger", "job"],
    )
    client.cancel_run(run.id)
    failed = client.trigger_run(FAILING_JOB, {"cause": "Contract test, failing job"})
    deadline = time.monotonic() + 10
    while not client.get_run(failed.id).is_terminal and time.monotonic() < deadline:
        time.sleep(0.02)
    client.get_retry_details(failed.id)
    client.list_artifacts(failed.id)
    client.download_artifact(failed.id, "run_results.json", io.BytesIO(), max_bytes=1 << 20)
    client.download_artifact(failed.id, "manifest.json", io.BytesIO(), max_bytes=1 << 20, step=4)
    with pytest.raises(ArtifactNotFound):
        client.download_artifact(failed.id, "catalog.json", io.BytesIO(), max_bytes=1 << 20)
    client.retry_run(failed)
    client.rerun_job(CI_JOB)


def test_every_request_the_client_makes_is_allowed_by_the_spec(emu: Emulator) -> None:
    # No real back-off: the only fault is a lost trigger answer, reconciled at once.
    client = DbtCloudClient(emu.url, TOKEN, emu.account_id, timeout=5.0, sleep=lambda _: None)
    exercise_every_call(client, emu)
    requests = emu.requests
    endpoints = {entry.endpoint for entry in requests}
    assert endpoints >= {
        "get_job", "list_jobs", "trigger", "get_run", "list_runs", "cancel", "retry_get",
        "retry_post", "rerun", "list_artifacts", "get_artifact",
    }  # fmt: skip
    assert ["[1,2,3]"] in [entry.query.get("status__in") for entry in requests]
    assert ["[70,71]"] in [entry.query.get("project_id__in") for entry in requests]
    for entry in requests:
        validate_request(
            entry.method,
            entry.path,
            entry.query,
            entry.body,
            {**entry.headers, "Authorization": "Token redacted"},  # the log keeps no secrets
        )
