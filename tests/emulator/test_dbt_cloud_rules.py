"""One test per rule of docs/dbt-cloud-api.md that the other emulator tests do not already pin.

Each rule is dbt Cloud's observed behaviour; the doc gives the public evidence for it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from dbt_cloud_emulator import (
    ConfigError,
    Emulator,
    EmulatorConfig,
    JobScript,
    ManualClock,
    NodeResult,
    StepScript,
    TokenAccess,
)
from tests.emulator.conftest import Api

RUN_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$")
JOB_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
EMBEDDED_JOB_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

# ----- paths without their trailing slash ---------------------------------------------------


def test_a_get_without_the_trailing_slash_is_redirected_with_its_query(api: Api) -> None:
    response = api.session.get(
        f"{api.base}runs", params={"job_definition_id": 101}, allow_redirects=False, timeout=5
    )
    assert response.status_code == 308
    assert response.headers["Location"] == "/api/v2/accounts/1/runs/?job_definition_id=101"
    followed = api.session.get(f"{api.base}runs", params={"job_definition_id": 101}, timeout=5)
    assert followed.status_code == 200
    assert {run["job_definition_id"] for run in followed.json()["data"]} == {101}


def test_a_post_without_the_trailing_slash_stays_a_post(api: Api, emulator: Emulator) -> None:
    response = api.session.post(f"{api.base}jobs/101/run", json={"cause": "no slash"}, timeout=5)
    assert response.status_code == 200
    assert response.json()["data"]["trigger"]["cause"] == "no slash"
    redirect, trigger = emulator.requests
    assert (redirect.method, redirect.endpoint, redirect.status) == ("POST", "redirect", 308)
    assert (trigger.method, trigger.path, trigger.body) == (
        "POST",
        "/api/v2/accounts/1/jobs/101/run/",
        {"cause": "no slash"},
    )
    assert len(emulator.created_runs()) == 1


def test_the_redirect_comes_before_authentication(emulator: Emulator) -> None:
    url = f"{emulator.url}/api/v2/accounts/1/runs/5"
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert (response.status_code, response.headers["Location"]) == (
        308,
        "/api/v2/accounts/1/runs/5/",
    )


def test_an_artifact_path_is_not_redirected(api: Api, clock: ManualClock) -> None:
    run_id = api.trigger(101)["id"]
    clock.advance(60)
    response = api.session.get(
        f"{api.base}runs/{run_id}/artifacts/run_results.json", allow_redirects=False, timeout=5
    )
    assert response.status_code == 200


# ----- the trigger body -------------------------------------------------------------------


def test_optional_trigger_fields_sent_as_null_are_not_given(api: Api, clock: ManualClock) -> None:
    nulls = {
        name: None
        for name in (
            "git_sha",
            "git_branch",
            "azure_pull_request_id",
            "github_pull_request_id",
            "gitlab_merge_request_id",
            "non_native_pull_request_id",
            "schema_override",
            "dbt_version_override",
            "threads_override",
            "target_name_override",
            "generate_docs_override",
            "timeout_seconds_override",
            "steps_override",
        )
    }
    run = api.trigger(101, {"cause": "nulls", **nulls})
    assert all(run["trigger"][name] is None for name in nulls)
    clock.advance(60)
    assert api.run(run["id"])["status"] == 10  # the job's own steps ran


def test_a_null_cause_is_still_refused(api: Api) -> None:
    response = api.call("POST", "jobs/101/run/", body={"cause": None})
    assert response.status_code == 400
    assert "cause" in response.json()["data"]


@pytest.mark.parametrize(
    "body",
    [
        {"cause": "x", "git_sha": "a" * 40, "git_branch": "main"},
        {"cause": "x", "git_sha": "abc1234", "git_branch": "feature/x", "steps_override": None},
    ],
)
def test_git_sha_and_git_branch_together_are_refused(
    api: Api, emulator: Emulator, body: dict[str, Any]
) -> None:
    response = api.call("POST", "jobs/101/run/", body=body)
    assert response.status_code == 400
    reply = response.json()
    assert reply["status"] == {
        "code": 400,
        "is_success": False,
        "user_message": "git_branch and git_sha cannot both be specified",
        "developer_message": "",
    }
    assert emulator.created_runs() == []
    Api.validate(response)  # the error envelope of the spec


def test_git_sha_or_git_branch_alone_is_accepted(api: Api) -> None:
    assert api.trigger(101, {"cause": "x", "git_sha": "a" * 40})["git_sha"] == "a" * 40
    assert api.trigger(101, {"cause": "x", "git_branch": "main"})["git_branch"] == "main"
    assert api.trigger(101, {"cause": "x", "git_sha": "a" * 40, "git_branch": None})["id"]


@pytest.mark.parametrize("pr", ["12", 1.5, True, False, [12], {"id": 12}])
def test_pull_request_ids_must_be_json_integers(api: Api, pr: object) -> None:
    for field in ("github_pull_request_id", "gitlab_merge_request_id", "azure_pull_request_id"):
        response = api.call("POST", "jobs/101/run/", body={"cause": "x", field: pr})
        assert response.status_code == 400, (field, pr)
        assert list(response.json()["data"]) == [field]


def test_cause_may_be_255_characters_but_not_256(api: Api) -> None:
    assert api.trigger(101, {"cause": "x" * 255})["trigger"]["cause"] == "x" * 255
    response = api.call("POST", "jobs/101/run/", body={"cause": "x" * 256})
    assert response.status_code == 400
    assert list(response.json()["data"]) == ["cause"]


# ----- timestamps ---------------------------------------------------------------------------


def test_run_trigger_and_step_timestamps_are_in_dbt_clouds_own_format(
    api: Api, clock: ManualClock
) -> None:
    run_id = api.trigger(101)["id"]
    clock.advance(60)
    run = api.run(run_id, "trigger,run_steps,job")
    stamps = [run[k] for k in ("created_at", "updated_at", "dequeued_at", "started_at")]
    stamps += [run[k] for k in ("finished_at", "last_checked_at", "last_heartbeat_at")]
    stamps += [run["trigger"]["created_at"], run["trigger"]["updated_at"]]
    for step in run["run_steps"]:
        stamps += [step[k] for k in ("created_at", "updated_at", "started_at", "finished_at")]
    assert stamps
    assert [s for s in stamps if not RUN_STAMP.match(s)] == []
    assert EMBEDDED_JOB_STAMP.match(run["job"]["created_at"])
    job = api.data("GET", "jobs/101/")
    assert JOB_STAMP.match(job["created_at"]) and JOB_STAMP.match(job["account"]["created_at"])


# ----- lists ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "status"), [(100, 200), (101, 400), (1000, 400)])
def test_list_limit_is_at_most_100(api: Api, limit: int, status: int) -> None:
    for path in ("runs/", "jobs/"):
        response = api.call("GET", path, params={"limit": limit})
        assert response.status_code == status
        if status == 400:
            assert list(response.json()["data"]) == ["limit"]


# ----- commits the repository does not hold ---------------------------------------------------

FORK_SHA = "f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d"


@pytest.fixture
def fork_emulator(clock: ManualClock) -> Any:
    with Emulator(EmulatorConfig(unknown_commits=(FORK_SHA,)), clock=clock.now) as emu:
        yield emu


@pytest.mark.parametrize("sent", [FORK_SHA, FORK_SHA[:7].upper()])
def test_a_commit_the_repository_lacks_fails_the_clone_step_with_gits_message(
    fork_emulator: Emulator, clock: ManualClock, sent: str
) -> None:
    api = Api(fork_emulator)
    run = api.trigger(101, {"cause": "fork PR", "git_sha": sent, "github_pull_request_id": 2})
    assert run["status"] == 1  # accepted: dbt Cloud finds out only when it clones
    clock.advance(60)
    run = api.run(run["id"])
    assert (run["status"], run["is_error"]) == (20, True)
    assert [(s["name"], s["status"]) for s in run["run_steps"]] == [("Clone git repository", 20)]
    assert f"fatal: reference is not a tree: {sent}" in run["run_steps"][0]["logs"]
    assert run["status_message"] == f"fatal: reference is not a tree: {sent}"
    assert (run["artifacts_saved"], run["can_retry"]) == (False, False)
    assert run["retry_not_supported_reason"] == "RETRY_NO_RUN_RESULTS"
    assert api.data("GET", f"runs/{run['id']}/artifacts/") is None


def test_the_repository_holds_every_other_commit(
    fork_emulator: Emulator, clock: ManualClock
) -> None:
    api = Api(fork_emulator)
    by_sha = api.trigger(101, {"cause": "same repo", "git_sha": "a" * 40})["id"]
    by_branch = api.trigger(101, {"cause": "branch", "git_branch": "main"})["id"]
    clock.advance(60)
    assert [api.run(i, "")["status"] for i in (by_sha, by_branch)] == [10, 10]


def test_unknown_commits_come_from_the_json_config() -> None:
    config = EmulatorConfig.from_dict({"unknown_commits": [FORK_SHA]})
    assert (config.holds_commit(FORK_SHA), config.holds_commit("a" * 40)) == (False, True)
    with pytest.raises(ConfigError, match="unknown_commits: must be a list of commit SHAs"):
        EmulatorConfig.from_dict({"unknown_commits": FORK_SHA})


# ----- retry --------------------------------------------------------------------------------


def test_only_a_failed_run_can_be_retried(api: Api, emulator: Emulator, clock: ManualClock) -> None:
    ok, failing = api.trigger(101)["id"], api.trigger(102)["id"]
    running = api.trigger(103)["id"]
    clock.advance(60)
    for run_id in (ok, running):
        run = api.run(run_id, "")
        assert (run["can_retry"], run["retry_not_supported_reason"]) == (
            False,
            "RETRY_NOT_FAILED_RUN",
        )
        for method in ("GET", "POST"):
            refused = api.call(method, f"runs/{run_id}/retry/")
            assert refused.status_code == 400
            assert refused.json()["status"]["developer_message"] == "RETRY_NOT_FAILED_RUN"
    failed = api.run(failing, "")
    assert (failed["can_retry"], failed["retry_not_supported_reason"]) == (True, None)
    assert api.data("GET", f"runs/{failing}/retry/")["run_id"] == failing
    assert api.data("POST", f"runs/{failing}/retry/")["retrying_run_id"] == failing
    assert len(emulator.created_runs()) == 4


# ----- artifacts_saved ------------------------------------------------------------------------


def test_artifacts_saved_says_whether_the_run_left_artifacts(api: Api, clock: ManualClock) -> None:
    ok, no_artifacts = api.trigger(101)["id"], api.trigger(104)["id"]
    cancelled = api.trigger(101)["id"]
    api.data("POST", f"runs/{cancelled}/cancel/")  # while queued: dbt never ran
    assert api.run(ok, "")["artifacts_saved"] is False  # not finished yet
    clock.advance(120)
    saved = {run_id: api.run(run_id, "")["artifacts_saved"] for run_id in (ok, no_artifacts)}
    assert saved == {ok: True, no_artifacts: False}
    assert api.run(cancelled, "")["artifacts_saved"] is False
    assert api.data("GET", f"runs/{ok}/artifacts/") == ["manifest.json", "run_results.json"]


def test_one_pull_request_id_per_trigger(api: Api) -> None:
    """T9: dbt's docs ask for the PR id in one of the four fields; two are refused (thin)."""
    for field in ("gitlab_merge_request_id", "azure_pull_request_id", "non_native_pull_request_id"):
        run = api.trigger(101, {"cause": "x", "git_sha": "abcdef1", field: 7})
        assert run["trigger"][field] == 7
    both = {"cause": "x", "github_pull_request_id": 7, "gitlab_merge_request_id": 7}
    response = api.call("POST", "jobs/101/run/", body=both)
    assert response.status_code == 400
    assert sorted(response.json()["data"]) == ["github_pull_request_id", "gitlab_merge_request_id"]
    null_other = {"cause": "x", "github_pull_request_id": 7, "gitlab_merge_request_id": None}
    assert api.trigger(101, null_other)["trigger"]["github_pull_request_id"] == 7


def test_an_artifact_list_with_nothing_to_list_is_null(clock: ManualClock) -> None:
    """A4: dbt Cloud answers `{"data": null}`, not `[]`, for a run with no artifacts to list
    (dbt-labs/dbt-mcp#791), e.g. one whose last step, which the list is of, wrote none."""
    build = StepScript("Invoke dbt with `dbt build`", "dbt build", duration=5.0)
    operation = StepScript("Invoke dbt with `dbt run-operation grant`", "dbt run-operation grant")
    job = JobScript(7, "Build then grant", (build, operation), 0.0)
    with Emulator(EmulatorConfig(jobs=(job,)), clock=clock.now) as emu:
        api = Api(emu, check=True)
        run_id = api.trigger(7)["id"]
        clock.advance(60)
        run = api.run(run_id, "")
        assert (run["status"], run["artifacts_saved"]) == (10, True)  # the build step saved some
        assert api.data("GET", f"runs/{run_id}/artifacts/") is None
        path = f"runs/{run_id}/artifacts/run_results.json"
        assert api.call("GET", path, params={"step": 1}).status_code == 200


# ----- error answers ------------------------------------------------------------------------


def test_a_wrong_method_is_django_rest_frameworks_bare_405_after_authentication(
    api: Api, emulator: Emulator
) -> None:
    """R5: the body is `{"detail": "Method \"GET\" not allowed."}`, not the envelope, as a
    slash-less POST turned GET got it (dbt-labs/dbt-cloud-openapi-spec#7)."""
    response = api.call("GET", "jobs/101/run/", check=True)
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "GET" not allowed.'}
    assert response.headers["Allow"] == "POST, OPTIONS"
    anonymous = requests.get(f"{api.base}jobs/101/run/", timeout=5)
    assert anonymous.status_code == 401  # DRF authenticates before it looks at the method


def test_a_404_says_what_dbt_cloud_says(api: Api) -> None:
    """R5: dbt Cloud's 404 text, the same for a missing and an unpermitted resource
    (dbt-labs/terraform-provider-dbtcloud#207)."""
    status = api.call("GET", "jobs/999/").json()["status"]
    assert status["user_message"] == (
        "The requested resource was not found. Please check that you have the proper "
        "permissions. If you are seeing this in error, please contact support!"
    )


def access_emulator(clock: ManualClock, **access: Any) -> Emulator:
    other = JobScript(9, "Other project's job", (StepScript("b", "dbt build"),), project_id=71)
    config = EmulatorConfig(jobs=(*EmulatorConfig().jobs, other), access=TokenAccess(**access))
    return Emulator(config, clock=clock.now)


def test_the_ip_restriction_403_carries_the_callers_facts(clock: ManualClock) -> None:
    """R9: docs faqs/Troubleshooting/ip-restrictions, the whole body."""
    with access_emulator(clock, ip_allowlist=("10.0.0.0/8",)) as emu:
        api = Api(emu, check=True)
        response = api.call("GET", "jobs/101/")
        assert response.status_code == 403
        assert response.json() == {
            "status": {
                "code": 403,
                "is_success": False,
                "user_message": "Forbidden: Access denied",
                "developer_message": None,
            },
            "data": {
                "account_id": emu.account_id,
                "user_id": 1,
                "is_service_token": True,
                "account_access_denied": True,
            },
        }
    with access_emulator(clock, ip_allowlist=("127.0.0.0/8",)) as emu:
        assert Api(emu).call("GET", "jobs/101/").status_code == 200  # on the allowlist


def test_a_project_without_permission_is_a_404_and_left_out_of_lists(
    clock: ManualClock,
) -> None:
    """R10: terraform-provider-dbtcloud#537 (a 404 "with a permissions hint" for what the
    token lacks access to), #207 (its text)."""
    with access_emulator(clock, project_ids=(70,)) as emu:
        api = Api(emu, check=True)
        for method, path in (("GET", "jobs/9/"), ("POST", "jobs/9/run/")):
            response = api.call(method, path, body={"cause": "x"})
            assert response.status_code == 404
            assert "proper permissions" in response.json()["status"]["user_message"]
        assert 9 not in [job["id"] for job in api.data("GET", "jobs/")]
        assert api.call("GET", "jobs/101/").status_code == 200


def test_a_viewer_token_may_read_but_not_run(clock: ManualClock) -> None:
    """R11: a Job Viewer token's trigger or cancel is a 403 (DRF's default message: thin)."""
    with access_emulator(clock, permission="job_viewer") as emu:
        api = Api(emu, check=True)
        assert api.call("GET", "jobs/101/").status_code == 200
        refused = api.call("POST", "jobs/101/run/", body={"cause": "x"})
        assert refused.status_code == 403
        assert refused.json()["status"]["user_message"] == (
            "You do not have permission to perform this action."
        )
        assert emu.created_runs() == []


def test_token_access_comes_from_the_json_config() -> None:
    config = EmulatorConfig.from_dict(
        {"access": {"permission": "job_runner", "project_ids": [70], "ip_allowlist": ["::1/128"]}}
    )
    assert config.access == TokenAccess("job_runner", (70,), ("::1/128",))
    with pytest.raises(ConfigError, match=r"access\.permission"):
        EmulatorConfig.from_dict({"access": {"permission": "owner"}})
    with pytest.raises(ConfigError, match="not a CIDR"):
        EmulatorConfig.from_dict({"access": {"ip_allowlist": ["nowhere"]}})


# ----- dbt Fusion (the latest-fusion track) --------------------------------------------------

FUSION_BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10.0,
    outcome=20,
    results=(
        NodeResult("model.shop.stg_orders", "reused", 0.0),
        NodeResult("model.shop.orders", "success", 1.5),
        NodeResult("test.shop.unique_orders_id", "fail", 0.4, "Got 2 results", "test"),
        NodeResult("model.shop.customers", "error", 0.4, "Database Error in model customers"),
        NodeResult("model.shop.customer_ltv", "skipped", 0.0),
    ),
)


def test_a_fusion_job_writes_fusions_logs_and_run_results(clock: ManualClock) -> None:
    """F1: dbt-fusion#1539/#828 (log lines), #1437 (fields), #1130 (errors left out),
    dbt-core#14554 (no `failures` on a skipped test), dbt-core#14366 (reuse is `skipped`)."""
    job = JobScript(8, "Fusion CI", (FUSION_BUILD,), 0.0, dbt_version="latest-fusion")
    with Emulator(EmulatorConfig(jobs=(job,)), clock=clock.now) as emu:
        api = Api(emu, check=True)
        run_id = api.trigger(8)["id"]
        clock.advance(60)
        run = api.run(run_id)
        assert (run["status"], run["dbt_version"]) == (20, "latest-fusion")
        logs = run["run_steps"][0]["logs"]
        assert "    Failed [  0.40s] model analytics.customers (table)" in logs
        assert "    Failed [  0.40s] test  analytics.unique_orders_id" in logs
        assert " Succeeded [  1.50s] model analytics.orders (table)" in logs
        assert "   Skipped [-------] model analytics.customer_ltv (table)" in logs
        assert "Summary: 5 total | 1 success | 2 error | 2 skipped" in logs
        results = api.call("GET", f"runs/{run_id}/artifacts/run_results.json").json()
        assert results["metadata"]["dbt_version"].startswith("2.")
        by_id = {r["unique_id"]: r for r in results["results"]}
        assert "model.shop.customers" not in by_id  # erroring results left out
        assert by_id["model.shop.stg_orders"]["status"] == "skipped"  # reused
        assert by_id["test.shop.unique_orders_id"]["failures"] == 2
        for entry in by_id.values():
            assert not {"message", "compiled", "compiled_code", "batch_results"} & set(entry)
        assert "failures" not in by_id["model.shop.orders"]
    core = JobScript(8, "Core CI", (FUSION_BUILD,), 0.0)
    with Emulator(EmulatorConfig(jobs=(core,)), clock=clock.now) as emu:
        api = Api(emu)
        run_id = api.trigger(8)["id"]
        clock.advance(60)
        results = api.call("GET", f"runs/{run_id}/artifacts/run_results.json").json()
        statuses = {r["unique_id"]: r["status"] for r in results["results"]}
        assert statuses["model.shop.customers"] == "error"  # dbt Core writes every result
        assert statuses["model.shop.stg_orders"] == "skipped"
        assert "Failed [" not in api.run(run_id)["run_steps"][0]["logs"]


def test_dbt_version_override_latest_fusion_runs_fusion(clock: ManualClock) -> None:
    job = JobScript(8, "CI", (FUSION_BUILD,), 0.0)
    with Emulator(EmulatorConfig(jobs=(job,)), clock=clock.now) as emu:
        api = Api(emu)
        run_id = api.trigger(8, {"cause": "x", "dbt_version_override": "latest-fusion"})["id"]
        clock.advance(60)
        assert "Execution Summary" in api.run(run_id)["run_steps"][0]["logs"]
    assert EmulatorConfig.from_dict(
        {"jobs": [{"id": 3, "name": "F", "dbt_version": "latest-fusion", "steps": [{"name": "s"}]}]}
    ).jobs[0].dbt_version == ("latest-fusion")
