"""Every kind of emulator reply, and every kind of request these tests send, against the spec.

openapi-core takes ~20 ms per reply, so runs are walked through their states unchecked and
each new kind of reply (endpoint, include_related, run status) is validated once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dbt_cloud_emulator import Emulator, LoggedRequest, ManualClock
from tests.emulator.conftest import Api
from tests.spec import ContractError, validate_logged_request, validate_request, validate_response

ALL_RELATED = "trigger,job,run_steps,environment,debug_logs"
FULL_TRIGGER = {
    "cause": "PR #7: add orders model",
    "git_sha": "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
    "github_pull_request_id": 7,
    "schema_override": "dbt_cloud_pr_101_7",
    "dbt_version_override": "1.9.1",
    "threads_override": 8,
    "target_name_override": "ci",
    "generate_docs_override": True,
    "timeout_seconds_override": 3600,
    "steps_override": ["dbt build --select state:modified+"],
}


def test_every_endpoint_and_run_state_matches_the_spec(
    checked_api: Api, emulator: Emulator, clock: ManualClock
) -> None:
    api = checked_api
    api.data("GET", "jobs/")
    api.data("GET", "jobs/", params={"project_id": 70, "limit": 2, "offset": 1, "order_by": "-id"})
    api.data("GET", "jobs/103/", params={"include_related": "most_recent_run"})
    api.data(
        "GET",
        "jobs/",
        params={"name__icontains": "ci", "project_id__in": "[70]", "environment_id": 201},
    )
    api.data("GET", "jobs/", params={"project_id": 70, "include_related": "environment"})
    emulator.open_pull_request(101, str(FULL_TRIGGER["git_sha"]), 7)  # a run dbt Cloud starts
    (webhook_run,) = api.data("GET", "runs/", params={"include_related": "trigger", "limit": 1,
                                                       "order_by": "-id"})  # fmt: skip
    assert webhook_run["trigger"]["cause_category"] == "ci"

    ok = api.trigger(101, FULL_TRIGGER)
    failing = api.trigger(102, {"cause": "minimal body"})
    deploy = api.trigger(103, {"cause": "deploy"})
    blocked = api.trigger(103, {"cause": "second deploy, queued behind the first"})
    assert api.run(blocked["id"], "")["blocked_by"] == [deploy["id"]]
    api.data("POST", f"runs/{blocked['id']}/cancel/")  # cancel a queued run

    validated: set[tuple[str, int]] = set()
    for _ in range(25):  # walk the runs through their states; validate each new kind of reply
        for run in (ok, failing, deploy):
            for include in ("", ALL_RELATED):
                params = {"include_related": include} if include else None
                response = api.call("GET", f"runs/{run['id']}/", params=params, check=False)
                kind = (include, response.json()["data"]["status"])
                if kind not in validated:
                    api.validate(response)
                    validated.add(kind)
        if api.run(deploy["id"], "")["status"] == 3:
            api.data("POST", f"runs/{deploy['id']}/cancel/")  # cancel a running run
        clock.advance(2.0)
    assert {status for _, status in validated} == {1, 2, 3, 10, 20, 30}
    assert len(validated) == 12
    api.data("GET", "runs/", params={"include_related": "trigger,job", "order_by": "-id"})
    api.data("GET", "runs/", params={"status__in": "[10,20]", "limit": 3})
    assert api.data("POST", f"runs/{ok['id']}/cancel/")["status"] == 10  # already finished

    assert api.data("GET", f"runs/{failing['id']}/retry/")["failed_step"]
    retried = api.data("POST", f"runs/{failing['id']}/retry/")
    assert retried["retrying_run_id"] == failing["id"]
    assert api.data("POST", "jobs/101/rerun/")["retrying_run_id"] is None  # last run succeeded
    clock.advance(60)
    assert api.data("POST", "jobs/102/rerun/")["retrying_run_id"] == retried["id"]

    names = ["catalog.json", "manifest.json", "run_results.json"]
    assert api.data("GET", f"runs/{ok['id']}/artifacts/") == names
    for name in names:
        json.loads(api.call("GET", f"runs/{ok['id']}/artifacts/{name}").content)
    assert api.call("GET", f"runs/{ok['id']}/artifacts/run_results.json", params={"step": 4}).ok
    assert api.data("GET", f"runs/{api.trigger(104)['id']}/artifacts/") is None

    kinds: dict[tuple[str, str, str], LoggedRequest] = {}
    for entry in emulator.requests:
        kinds.setdefault((entry.method, entry.endpoint, json.dumps(entry.query)), entry)
    for entry in kinds.values():
        validate_logged_request(entry)


@pytest.mark.parametrize(
    ("method", "path", "options", "status"),
    [
        ("POST", "jobs/101/run/", {"body": {"cause": ""}}, 400),
        ("GET", "runs/", {"headers": {"Authorization": "Token wrong"}}, 401),
        ("GET", "runs/999999/", {}, 404),
        ("GET", "jobs/999/", {}, 404),
        ("DELETE", "runs/", {}, 405),
        ("POST", "runs/10001/retry/", {}, 400),
        ("GET", "runs/10001/artifacts/nothing.json", {}, 404),
    ],
)
def test_error_replies_use_the_spec_status_envelope(
    checked_api: Api, method: str, path: str, options: dict[str, Any], status: int
) -> None:
    response = checked_api.call(method, path, **options)  # checks the envelope
    assert response.status_code == status


def test_wrong_account_reply_uses_the_error_envelope(api: Api, emulator: Emulator) -> None:
    path = f"/api/v2/accounts/{emulator.account_id + 1}/runs/"
    response = api.session.get(emulator.url + path, timeout=5)
    assert response.status_code == 403
    validate_response("GET", path, {}, 403, response.content, dict(response.headers))


def test_the_validators_reject_what_the_spec_forbids() -> None:
    """A validator that passed everything would make the contract tests prove nothing."""
    auth = {"Authorization": "Token t"}
    trigger = "/api/v2/accounts/1/jobs/1/run/"
    with pytest.raises(ContractError, match="github_pull_request_id"):
        validate_request("POST", trigger, {}, {"cause": "x", "github_pull_request_id": True}, auth)
    with pytest.raises(ContractError, match="Security"):
        validate_request("GET", "/api/v2/accounts/1/runs/", {}, None, {})
    validate_request("GET", "/api/v2/accounts/1/runs/", {"status__in": ["1", "2"]}, None, auth)

    status = {"code": 200, "is_success": True, "user_message": "", "developer_message": ""}
    run = {"id": 1, "created_at": "yesterday", "updated_at": "2026-01-01T00:00:00+00:00"}
    json_type = {"Content-Type": "application/json"}
    with pytest.raises(ContractError, match="date-time"):
        validate_response(
            "GET", "/api/v2/accounts/1/runs/1/", {}, 200, {"status": status, "data": run}, json_type
        )
    with pytest.raises(ContractError, match="is_success"):
        validate_response(
            "GET", "/api/v2/accounts/1/runs/1/", {}, 404, {"status": {"code": 404}}, json_type
        )
