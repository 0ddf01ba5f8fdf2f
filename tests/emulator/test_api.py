"""The API over real HTTP: auth, validation, the request log, retries, artifacts and lists."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, ManualClock, StepScript
from dbt_cloud_emulator.config import default_jobs
from tests.emulator.conftest import Api

# ----- auth and routing -------------------------------------------------------------------


def test_token_and_bearer_are_both_accepted(emulator: Emulator) -> None:
    url = f"{emulator.url}/api/v2/accounts/{emulator.account_id}/jobs/101/"
    for scheme in ("Token", "Bearer"):
        response = requests.get(
            url, headers={"Authorization": f"{scheme} {emulator.token}"}, timeout=5
        )
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Authentication credentials were not provided."),
        ("Token not-the-token", "Invalid token."),
        ("Basic emulator-token", "Invalid token."),
    ],
)
def test_missing_or_wrong_credentials_get_401(
    emulator: Emulator, authorization: str | None, message: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    url = f"{emulator.url}/api/v2/accounts/{emulator.account_id}/runs/"
    response = requests.get(url, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["status"]["user_message"] == message
    assert response.json()["status"]["developer_message"] is None  # as dbt Cloud's
    assert response.json()["data"] is None
    Api.validate(response)
    assert "not-the-token" not in response.text


def test_another_account_gets_403(emulator: Emulator, api: Api) -> None:
    response = api.session.get(f"{emulator.url}/api/v2/accounts/999/jobs/101/", timeout=5)
    assert response.status_code == 403
    assert "999" in response.json()["status"]["developer_message"]


@pytest.mark.parametrize(
    ("method", "path", "status", "hint"),
    [
        ("GET", "jobs/999/", 404, "Job definition 999 does not exist"),
        ("POST", "jobs/999/run/", 404, "Job definition 999 does not exist"),
        ("GET", "runs/5/", 404, "Run 5 does not exist"),
        ("POST", "runs/5/cancel/", 404, "Run 5 does not exist"),
        ("GET", "runs/5/artifacts/", 404, "Run 5 does not exist"),
        ("GET", "nothing/here/", 404, "No API endpoint"),
        ("GET", "nothing", 404, "No API endpoint"),  # no redirect when the slashed path is unknown
    ],
)
def test_unknown_things_get_error_envelopes(
    api: Api, method: str, path: str, status: int, hint: str
) -> None:
    response = api.call(method, path, body={"cause": "x"} if method == "POST" else None)
    assert response.status_code == status
    assert hint in response.json()["status"]["developer_message"]


# ----- trigger validation -----------------------------------------------------------------

BLANK = "This field may not be blank."
NOT_INT = "A valid integer is required."
NOT_BOOL = "Must be a valid boolean."
NOT_LIST = 'Expected a list of items but got type "str".'


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"cause": "This field is required."}),
        ({"cause": ""}, {"cause": BLANK}),
        ({"cause": "x" * 256}, {"cause": "Ensure this field has no more than 255 characters."}),
        ({"cause": 5}, {"cause": "Not a valid string."}),
        ({"cause": None}, {"cause": "This field may not be null."}),
        ({"cause": "x", "github_pull_request_id": True}, {"github_pull_request_id": NOT_INT}),
        ({"cause": "x", "github_pull_request_id": "7"}, {"github_pull_request_id": NOT_INT}),
        ({"cause": "x", "threads_override": 1.5}, {"threads_override": NOT_INT}),
        ({"cause": "x", "generate_docs_override": "yes"}, {"generate_docs_override": NOT_BOOL}),
        ({"cause": "x", "git_sha": ""}, {"git_sha": BLANK}),
        ({"cause": "x", "steps_override": "dbt build"}, {"steps_override": NOT_LIST}),
        (
            {"cause": "x", "steps_override": ["dbt run", "", 3, "rm -rf /"]},
            {
                "steps_override": f"Item 1: {BLANK} Item 2: Not a valid string. "
                "Item 3: 'rm -rf /' is not a dbt command; steps must start with 'dbt '."
            },
        ),
        ([1, 2], {"non_field_errors": "Invalid data. Expected a dictionary, but got list."}),
    ],
)
def test_invalid_trigger_bodies_get_field_errors(
    emulator: Emulator, api: Api, body: Any, errors: dict[str, str]
) -> None:
    response = api.call("POST", "jobs/101/run/", body=body)
    assert response.status_code == 400
    reply = response.json()
    assert reply["data"] == errors
    assert reply["status"]["user_message"] == (
        "The request was invalid. Please double check the provided data and try again."
    )
    assert reply["status"]["developer_message"] == ""
    assert emulator.created_runs() == []


def test_every_bad_field_is_reported_at_once(api: Api) -> None:
    body = {"cause": "", "github_pull_request_id": False, "schema_override": 3}
    assert set(api.call("POST", "jobs/101/run/", body=body).json()["data"]) == {
        "cause",
        "github_pull_request_id",
        "schema_override",
    }


def test_body_must_be_json(api: Api) -> None:
    url = f"{api.base}jobs/101/run/"
    not_json = api.session.post(url, data=b"{cause:", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert "JSON parse error" in not_json.json()["status"]["user_message"]
    form = api.session.post(url, data={"cause": "x"})
    assert form.status_code == 415


def test_trigger_echoes_the_body_in_the_run(api: Api, clock: ManualClock) -> None:
    body = {
        "cause": "PR #12",
        "git_sha": "a" * 40,
        "github_pull_request_id": 12,
        "schema_override": "dbt_pr_12",
        "threads_override": 2,
        "target_name_override": "ci",
        "unknown_field": "ignored",
    }
    run = api.trigger(101, body)
    assert (run["status"], run["job_definition_id"], run["account_id"]) == (1, 101, 1)
    assert (run["git_sha"], run["git_branch"]) == ("a" * 40, None)
    trigger = run["trigger"]
    assert {k: trigger[k] for k in body if k != "unknown_field"} == {
        k: v for k, v in body.items() if k != "unknown_field"
    }
    assert "unknown_field" not in trigger
    assert run["href"] == f"{api.emulator.url}/deploy/1/projects/70/runs/{run['id']}/"
    clock.advance(30)
    logs = api.run(run["id"])["run_steps"][3]["logs"]
    assert "dbt_pr_12.orders" in logs
    assert "Concurrency: 2 threads (target='ci')" in logs


def test_steps_override_and_docs_override_change_the_steps(api: Api, clock: ManualClock) -> None:
    body = {
        "cause": "x",
        "steps_override": ["dbt seed", "dbt run --select orders"],
        "generate_docs_override": True,
    }
    run_id = api.trigger(101, body)["id"]
    clock.advance(60)
    names = [s["name"] for s in api.run(run_id)["run_steps"]]
    assert names == [
        "Clone git repository",
        "Create profile from connection Snowflake",
        "Invoke dbt with `dbt deps`",
        "Invoke dbt with `dbt seed`",
        "Invoke dbt with `dbt run --select orders`",
        "Generate docs",
    ]


# ----- the request log --------------------------------------------------------------------


def test_request_log_records_requests_without_credentials(emulator: Emulator, api: Api) -> None:
    api.trigger(101, {"cause": "logged", "github_pull_request_id": 3})
    listed = api.call("GET", "runs/", params={"job_definition_id": 101, "status__in": "[1,2]"})
    api.call("GET", "runs/", headers={"Authorization": "Token wrong-secret"})
    trigger, listing, rejected = emulator.requests
    assert listing.response_bytes == len(listed.content) > 0
    assert (trigger.method, trigger.path, trigger.endpoint, trigger.status) == (
        "POST",
        "/api/v2/accounts/1/jobs/101/run/",
        "trigger",
        200,
    )
    assert trigger.body == {"cause": "logged", "github_pull_request_id": 3}
    assert listing.query == {"job_definition_id": ["101"], "status__in": ["[1,2]"]}
    assert rejected.status == 401
    for entry in emulator.requests:
        assert "authorization" not in {name.lower() for name in entry.headers}
        assert "User-Agent" in entry.headers
    assert emulator.token not in repr(emulator.requests)
    assert "wrong-secret" not in repr(emulator.requests)
    assert emulator.calls("trigger") == 1
    assert emulator.calls("list_runs") == 2


# ----- retry and rerun ----------------------------------------------------------------------


def finished_failure(api: Api, clock: ManualClock) -> dict[str, Any]:
    run_id = api.trigger(102)["id"]
    clock.advance(60)
    run = api.run(run_id)
    assert run["status"] == 20
    return run


def test_failed_run_reports_its_failure(api: Api, clock: ManualClock) -> None:
    run = finished_failure(api, clock)
    assert run["is_error"] is True
    assert run["can_retry"] is True
    assert run["retry_not_supported_reason"] is None
    assert run["status_message"].startswith("Failure in test not_null_orders_order_id")
    logs = run["run_steps"][-1]["logs"]
    assert "START sql table model dbt_cloud_pr_102" not in logs  # no PR id given
    assert "1 of 7 START sql table model analytics.stg_customers" in logs
    assert "Completed with 3 errors, 0 partial successes, and 0 warnings:" in logs
    assert "Failure in test not_null_orders_order_id (models/schema.yml)" in logs
    assert "Database Error in model customers (models/customers.sql)" in logs
    assert "Done. PASS=2 WARN=0 ERROR=3 SKIP=2 NO-OP=0 TOTAL=7" in logs
    details = api.data("GET", f"runs/{run['id']}/retry/")
    assert details["failed_step"] == "Invoke dbt with `dbt build --select state:modified+`"
    assert details["skipped_steps"] == []


def test_retry_skips_the_steps_that_succeeded() -> None:
    clock = ManualClock()
    steps = (
        StepScript("Clone git repository", duration=2),
        StepScript("Invoke dbt with `dbt seed`", "dbt seed", duration=5),
        StepScript("Invoke dbt with `dbt run`", "dbt run", duration=5, outcome=20),
        StepScript("Invoke dbt with `dbt test`", "dbt test", duration=5),
    )
    with Emulator(
        EmulatorConfig(jobs=(JobScript(7, "Deploy", steps, 1.0, "scheduled"),)), clock=clock.now
    ) as emu:
        api = Api(emu)
        asked = {"cause": "CI [run 9/1 job dbt key 0a0a0a]", "schema_override": "ci_2"}
        failed = api.trigger(7, asked)["id"]
        clock.advance(30)
        assert api.data("GET", f"runs/{failed}/retry/") == {
            "failed_step": "Invoke dbt with `dbt run`",
            "skipped_steps": ["Invoke dbt with `dbt test`"],
            "run_id": failed,
            "failed_step_index": 3,
        }
        retry = api.data("POST", f"runs/{failed}/retry/")
        assert retry["retrying_run_id"] == failed
        assert retry["trigger"]["cause_category"] == "rerun"
        # the retry reruns the failed run as it was: its trigger's cause and overrides
        assert {name: retry["trigger"][name] for name in asked} == asked
        clock.advance(30)
        steps_run = api.run(retry["id"])["run_steps"]
        original = api.run(failed)
    assert [(s["name"], s["status"]) for s in steps_run] == [
        ("Clone git repository", 10),
        ("Invoke dbt with `dbt seed`", 10),
        ("Invoke dbt with `dbt run`", 20),
    ]
    assert f"succeeded in run #{failed}" in steps_run[1]["logs"]
    assert steps_run[1]["duration"] == "00:00:00"
    assert (original["can_retry"], original["retry_not_supported_reason"]) == (
        False,
        "RETRY_NOT_LATEST_RUN",
    )


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (
            JobScript(8, "No retry", (StepScript("b", "dbt build", outcome=20),), can_retry=False),
            "RETRY_UNSUPPORTED_CMD",
        ),
        (
            JobScript(
                9, "No artifacts", (StepScript("b", "dbt build", outcome=20),), artifacts="none"
            ),
            "RETRY_NO_RUN_RESULTS",
        ),
        (
            JobScript(10, "Clone fails", (StepScript("Clone git repository", outcome=20),)),
            "RETRY_NO_RUN_RESULTS",
        ),
        (JobScript(11, "Succeeds", (StepScript("b", "dbt build"),)), "RETRY_NOT_FAILED_RUN"),
    ],
)
def test_runs_that_cannot_be_retried_say_why(job: JobScript, reason: str) -> None:
    clock = ManualClock()
    with Emulator(EmulatorConfig(jobs=(job,)), clock=clock.now) as emu:
        api = Api(emu)
        run_id = api.trigger(job.id)["id"]
        clock.advance(60)
        run = api.run(run_id)
        refused = api.call("POST", f"runs/{run_id}/retry/")
        details = api.call("GET", f"runs/{run_id}/retry/")
        assert len(emu.created_runs()) == 1
    assert (run["can_retry"], run["retry_not_supported_reason"]) == (False, reason)
    assert refused.status_code == details.status_code == 400
    assert refused.json()["status"]["developer_message"] == reason
    assert refused.json()["status"]["user_message"].startswith(f"Run {run_id} cannot be retried")


def test_running_run_cannot_be_retried(api: Api) -> None:
    run_id = api.trigger(102)["id"]
    assert api.call("POST", f"runs/{run_id}/retry/").json()["status"]["developer_message"] == (
        "RETRY_NOT_FAILED_RUN"
    )


def test_rerun_retries_a_failed_latest_run_else_starts_a_new_one(
    emulator: Emulator, api: Api, clock: ManualClock
) -> None:
    failed = finished_failure(api, clock)
    retry = api.data("POST", "jobs/102/rerun/")
    assert retry["retrying_run_id"] == failed["id"]
    fresh = api.data("POST", "jobs/101/rerun/")  # 101's latest run (history) succeeded
    assert fresh["retrying_run_id"] is None
    assert fresh["trigger"]["cause"] == "Rerun via the API"
    assert [r["id"] for r in emulator.created_runs()] == [failed["id"], retry["id"], fresh["id"]]
    assert api.call("POST", "jobs/999/rerun/").status_code == 404


# ----- artifacts --------------------------------------------------------------------------


def test_artifacts_follow_dbt_formats(api: Api, clock: ManualClock) -> None:
    failed = finished_failure(api, clock)["id"]
    results = api.call("GET", f"runs/{failed}/artifacts/run_results.json").json()
    meta = results["metadata"]
    assert meta["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/run-results/v6.json"
    assert {"dbt_version", "generated_at", "invocation_id", "env"} <= set(meta)
    assert set(results) == {"metadata", "results", "elapsed_time", "args"}
    by_id = {r["unique_id"]: r for r in results["results"]}
    failing = by_id["test.jaffle_shop.not_null_orders_order_id"]
    assert (failing["status"], failing["failures"]) == ("fail", 3)
    assert failing["message"] == "Got 3 results, configured to fail if != 0"
    assert {"timing", "adapter_response", "thread_id", "execution_time"} <= set(failing)
    assert by_id["model.jaffle_shop.customers"]["status"] == "error"
    assert by_id["model.jaffle_shop.customer_lifetime_value"]["status"] == "skipped"
    assert by_id["model.jaffle_shop.stg_orders"]["failures"] is None
    assert results["args"]["which"] == "build"
    manifest = api.call("GET", f"runs/{failed}/artifacts/manifest.json").json()
    assert manifest["metadata"]["dbt_schema_version"].endswith("/manifest/v12.json")
    assert set(by_id) <= set(manifest["nodes"])
    assert api.call("GET", f"runs/{failed}/artifacts/catalog.json").status_code == 404


def test_step_picks_the_step_whose_artifacts_are_returned(api: Api, clock: ManualClock) -> None:
    run_id = api.trigger(103)["id"]
    clock.advance(700)
    assert api.run(run_id)["status"] == 10
    last = api.call("GET", f"runs/{run_id}/artifacts/run_results.json").json()
    assert last["args"]["which"] == "generate"
    seeds = api.call("GET", f"runs/{run_id}/artifacts/run_results.json", params={"step": 4}).json()
    assert [r["unique_id"] for r in seeds["results"]] == [
        "seed.jaffle_shop.raw_customers",
        "seed.jaffle_shop.raw_orders",
    ]
    catalog = api.call("GET", f"runs/{run_id}/artifacts/catalog.json").json()
    assert "model.jaffle_shop.orders" in catalog["nodes"]
    for step, status in ((3, 404), (99, 404), ("x", 400)):  # deps writes none; no step 99
        path = f"runs/{run_id}/artifacts/run_results.json"
        assert api.call("GET", path, params={"step": step}).status_code == status
    assert api.run(run_id, "")["has_docs_generated"] is True


def test_artifacts_wait_for_the_end_of_the_run(api: Api, clock: ManualClock) -> None:
    run_id = api.trigger(101)["id"]
    clock.advance(10)
    early = api.call("GET", f"runs/{run_id}/artifacts/run_results.json")
    assert early.status_code == 404
    assert "not finished" in early.json()["status"]["developer_message"]
    assert api.data("GET", f"runs/{run_id}/artifacts/") is None
    clock.advance(60)
    assert api.call("GET", f"runs/{run_id}/artifacts/run_results.json").status_code == 200


def test_late_artifacts_404_for_a_while() -> None:
    clock = ManualClock()
    job = JobScript(
        5, "Late", (StepScript("b", "dbt build", duration=10),), 0.0, artifacts="late:30"
    )
    with Emulator(EmulatorConfig(jobs=(job,)), clock=clock.now) as emu:
        api = Api(emu)
        run_id = api.trigger(5)["id"]
        clock.advance(11 + 29)  # ended at 11 s; artifacts from 41 s
        assert api.run(run_id, "")["status"] == 10
        assert api.call("GET", f"runs/{run_id}/artifacts/run_results.json").status_code == 404
        # listed (the run saved them) before they can be fetched, as reported of dbt Cloud
        assert api.data("GET", f"runs/{run_id}/artifacts/") == ["manifest.json", "run_results.json"]
        clock.advance(1)
        assert api.call("GET", f"runs/{run_id}/artifacts/run_results.json").status_code == 200
        assert api.data("GET", f"runs/{run_id}/artifacts/") == ["manifest.json", "run_results.json"]


def test_padded_artifacts_are_valid_json_of_the_size_asked_for() -> None:
    clock = ManualClock()
    job = JobScript(
        6, "Big", (StepScript("b", "dbt build", duration=10),), 0.0, artifact_padding=3 << 20
    )
    with Emulator(EmulatorConfig(jobs=(job,)), clock=clock.now) as emu:
        api = Api(emu)
        run_id = api.trigger(6)["id"]
        clock.advance(12)
        served = api.call("GET", f"runs/{run_id}/artifacts/manifest.json")
        body = served.content
        assert len(body) == int(served.headers["Content-Length"]) > 3 << 20
        assert body.endswith(b" " * (3 << 20)) and not body.startswith(b" ")
        assert json.loads(body)["metadata"]["dbt_schema_version"].endswith("/manifest/v12.json")
        assert emu.requests[-1].response_bytes == len(body)


def test_a_job_without_artifacts_never_has_any(api: Api, clock: ManualClock) -> None:
    run_id = api.trigger(104)["id"]
    clock.advance(3600)
    assert api.run(run_id, "")["status"] == 10
    assert api.run(run_id, "")["artifacts_saved"] is False
    missing = api.call("GET", f"runs/{run_id}/artifacts/manifest.json")
    assert missing.status_code == 404
    assert "does not save artifacts" in missing.json()["status"]["developer_message"]
    assert api.data("GET", f"runs/{run_id}/artifacts/") is None  # nothing to list: null


# ----- lists --------------------------------------------------------------------------------


@pytest.fixture
def listed(api: Api, clock: ManualClock) -> dict[str, int]:
    """Runs in known states: a success and a failure of CI jobs, a running deploy."""
    ids = {"ok": api.trigger(101)["id"], "failed": api.trigger(102)["id"]}
    clock.advance(60)
    ids["running"] = api.trigger(103)["id"]
    clock.advance(20)
    return ids


def ids_of(api: Api, params: Any) -> list[int]:
    return [run["id"] for run in api.data("GET", "runs/", params=params)]


def test_list_filters_by_job_and_status(api: Api, listed: dict[str, int]) -> None:
    assert ids_of(api, {"job_definition_id": 102}) == [listed["failed"]]
    assert ids_of(api, {"status": 3}) == [listed["running"]]
    expected = [listed["failed"], listed["running"]]
    assert ids_of(api, {"status__in": "[3,20]"}) == expected
    assert ids_of(api, {"job_definition_id": 101, "status__in": "[10]"})[-1] == listed["ok"]
    # L2: the spec declares no job_definition_id__in nor environment_id__in: both are ignored
    everything = ids_of(api, {})
    assert ids_of(api, {"job_definition_id__in": "[102]"}) == everything
    assert ids_of(api, {"environment_id__in": "[999]"}) == everything


def test_list_orders_and_paginates_like_dbt_cloud(api: Api, listed: dict[str, int]) -> None:
    everything = ids_of(api, {"order_by": "id"})
    assert everything == sorted(everything)
    assert ids_of(api, {"order_by": "-id"}) == everything[::-1]
    assert ids_of(api, {"order_by": "-created_at"})[0] == listed["running"]
    by_finish = ids_of(api, {"order_by": "finished_at"})
    assert by_finish[-1] == listed["running"]  # unfinished: NULLs last ascending
    assert ids_of(api, {"order_by": "-finished_at"})[0] == listed["running"]
    reply = api.call("GET", "runs/", params={"order_by": "-id", "limit": 2, "offset": 1}).json()
    assert [r["id"] for r in reply["data"]] == everything[::-1][1:3]
    assert reply["extra"] == {
        "filters": {"account_id": 1, "limit": 2, "offset": 1},
        "order_by": "-id",
        "pagination": {"count": 2, "total_count": len(everything)},
    }
    filtered = api.call("GET", "runs/", params={"job_definition_id": 101, "status__in": "[10]"})
    assert filtered.json()["extra"]["filters"]["status__in"] == [10]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"order_by": "name"}, "order_by"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"status": "done"}, "status"),
        ({"status__in": "[1,x]"}, "status__in"),
        ({"status__in": "3,20"}, "status__in"),  # not dbt Cloud's JSON list
        ([("status__in", 3), ("status__in", 20)], "status__in"),  # the last, a bare 20
        ({"job_definition_id": "abc"}, "job_definition_id"),
    ],
)
def test_bad_list_parameters_get_400(api: Api, params: Any, field: str) -> None:
    response = api.call("GET", "runs/", params=params)
    assert response.status_code == 400
    assert field in response.json()["data"]


@pytest.mark.parametrize("include", ["trigger,job", '["trigger","job"]', "['trigger', 'job']"])
def test_include_related_forms(api: Api, listed: dict[str, int], include: str) -> None:
    run = api.data("GET", f"runs/{listed['ok']}/", params={"include_related": include})
    assert run["trigger"]["cause"] == "test"
    assert run["job"]["name"] == "CI - pull requests"
    assert run["run_steps"] == []


def test_plain_run_has_no_related_objects(api: Api, listed: dict[str, int]) -> None:
    run = api.data("GET", f"runs/{listed['ok']}/")
    assert (run["trigger"], run["job"], run["run_steps"]) == (None, None, [])


def test_jobs_list_and_most_recent_runs(api: Api, listed: dict[str, int]) -> None:
    jobs = api.data("GET", "jobs/")
    assert [job["id"] for job in jobs] == [job.id for job in default_jobs()]
    assert [job["id"] for job in api.data("GET", "jobs/", params={"order_by": "-name"})] == [
        103,
        104,
        105,
        101,
        102,
    ]
    related = {"include_related": "most_recent_run,most_recent_completed_run"}
    job = api.data("GET", "jobs/103/", params=related)
    assert job["most_recent_run"]["id"] == listed["running"]
    assert job["most_recent_completed_run"]["status"] == 10
    assert job["job_type"] == "scheduled"
    assert json.dumps(job)  # plain JSON all the way down
