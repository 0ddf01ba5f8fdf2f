"""The step against dbt Cloud's answers as users meet them (issue 18), through the entrypoint:
an artifact list of `data: null`, access errors, and a failing dbt Fusion run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from dbt_cloud_action.api_errors import DOCS_ACCESS_URLS, DOCS_IP_RESTRICTIONS, DOCS_SERVICE_TOKENS
from dbt_cloud_emulator import (
    Emulator,
    EmulatorConfig,
    JobScript,
    NodeResult,
    StepScript,
    TokenAccess,
)
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event

TOKEN = "dbtc_e2eAnswersToken_0123456789abcdef"
CLONE = StepScript("Clone git repository", duration=2)
BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10,
    results=(NodeResult("model.shop.orders", "success", 2.0),),
)
# dbt Cloud lists the artifacts of a run's last step; this one writes none, so the list is null.
GRANT = StepScript("Invoke dbt with `dbt run-operation grant`", "dbt run-operation grant", 2)
# dbt Fusion leaves the erroring model out of run_results.json; its log names it.
FUSION_BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10,
    outcome=20,
    results=(
        NodeResult("model.shop.stg_orders", "reused", 0.0),
        NodeResult("model.shop.orders", "success", 1.5),
        NodeResult("test.shop.unique_orders_id", "fail", 0.4, "Got 2 results", "test"),
        NodeResult("model.shop.customers", "error", 0.6, "Database Error in model customers"),
        NodeResult("model.shop.customer_ltv", "skipped", 0.0),
    ),
)
FUSION_OK = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10,
    results=(
        NodeResult("model.shop.stg_orders", "reused", 0.0),
        NodeResult("model.shop.orders", "success", 1.5),
    ),
)
JOBS = (
    JobScript(21, "CI build", (CLONE, BUILD), queue_seconds=1),
    JobScript(22, "CI build then grant", (CLONE, BUILD, GRANT), queue_seconds=1),
    JobScript(24, "Fusion CI", (CLONE, FUSION_BUILD), 1, dbt_version="latest-fusion"),
    JobScript(25, "Fusion CI passing", (CLONE, FUSION_OK), 1, dbt_version="latest-fusion"),
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


def pr_runner(tmp_path: Path) -> SimulatedRunner:
    return SimulatedRunner(
        tmp_path, event_name="pull_request", event=load_event("pull_request.opened.json")
    )


def error_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("::error")]


def test_a_null_artifact_list_ends_the_step_at_once_with_a_note(
    emu: Emulator, tmp_path: Path
) -> None:
    result = pr_runner(tmp_path).run(emulator_inputs(emu, 22, **{"poll-interval": "1"}))
    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "success"
    # asked once: `data: null` is "no artifacts", not an unusable answer retried for a minute
    assert [r.endpoint for r in emu.requests].count("list_artifacts") == 1
    assert "lists no artifacts" in result.summary
    assert "Traceback" not in result.log


def access_emulator(access: TokenAccess) -> Emulator:
    other = JobScript(23, "Another project's job", (CLONE, BUILD), project_id=71)
    config = EmulatorConfig(token=TOKEN, jobs=(*JOBS, other), access=access)
    return Emulator(config=config, time_scale=100.0)


@dataclass(frozen=True)
class AccessCase:
    access: TokenAccess
    expected: tuple[str, ...]  # texts the one error line holds
    job_id: int = 21
    account_id: str | None = None  # None: the emulator's own
    token: str = TOKEN


ACCESS_CASES = {
    "ip-restriction": AccessCase(
        TokenAccess(ip_allowlist=("10.0.0.0/8",)),
        ("HTTP 403", "Forbidden: Access denied", "IP allowlist", DOCS_IP_RESTRICTIONS),
    ),
    "no-permission-on-the-project-404": AccessCase(
        TokenAccess(project_ids=(70,)),
        ("HTTP 404", "proper permissions", "job's project", DOCS_SERVICE_TOKENS),
        job_id=23,
    ),
    "viewer-may-not-trigger-403": AccessCase(
        TokenAccess(permission="job_viewer"),
        ("HTTP 403", "You do not have permission", "Job Runner", DOCS_SERVICE_TOKENS),
    ),
    "wrong-account": AccessCase(
        TokenAccess(),
        ("HTTP 403", "account-id", "its own account", DOCS_SERVICE_TOKENS),
        account_id="424242",
    ),
    "token-of-another-region": AccessCase(
        TokenAccess(),
        ("HTTP 401", "Invalid token", "another region", DOCS_ACCESS_URLS),
        token="dbtc_tokenOfAnotherRegion_0123456789",  # a made-up token
    ),
}


@pytest.mark.parametrize("case", ACCESS_CASES.values(), ids=ACCESS_CASES.keys())
def test_access_errors_are_one_error_line_naming_what_to_check(
    tmp_path: Path, case: AccessCase
) -> None:
    """Each access error users meet ends the step with one `::error::` line: dbt Cloud's
    message, what to check and where, and the docs page; no run is triggered."""
    token = case.token
    with access_emulator(case.access) as emu:
        inputs = emulator_inputs(emu, case.job_id, **{"poll-interval": "1", "api-token": token})
        if case.account_id is not None:
            inputs["account-id"] = case.account_id
        result = pr_runner(tmp_path).run(inputs)
        assert emu.created_runs() == []
    assert result.exit_code == 1, result.log
    [line] = error_lines(result.stdout)
    for text in case.expected:
        assert text in line, line
    assert "Rejected fields" not in line  # the 403's data are facts, not field errors
    assert "Traceback" not in result.log
    assert token not in result.stdout.replace(f"::add-mask::{token}", "")


def test_a_failing_fusion_run_names_the_model_its_results_leave_out(
    emu: Emulator, tmp_path: Path
) -> None:
    result = pr_runner(tmp_path).run(emulator_inputs(emu, 24, **{"poll-interval": "1"}))
    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "error"
    summary = result.summary
    customers = "`model dbt_cloud_pr_24_2.customers` | ❌ error (from the log) |  "
    assert f"{customers}| Database Error in model customers |" in summary
    assert "`test.shop.unique_orders_id` | 🔴 fail" in summary
    assert "❌ error **1**" in summary and "🔴 fail **1**" in summary
    assert "error **0**" not in summary
    assert "(dbt 2\\.0\\.0" in summary  # Fusion's version, from run_results.json (escaped)
    assert "Traceback" not in result.log


def test_a_passing_fusion_run_counts_reused_nodes_apart_from_skipped(
    emu: Emulator, tmp_path: Path
) -> None:
    result = pr_runner(tmp_path).run(emulator_inputs(emu, 25, **{"poll-interval": "1"}))
    assert result.exit_code == 0, result.log
    assert "♻️ reused **1**" in result.summary
    assert "⏭️ skip **0**" in result.summary


def test_a_fusion_runs_telemetry_artifact_is_listed_and_saved_when_asked(
    emu: Emulator, tmp_path: Path
) -> None:
    """F1: a dbt Fusion step's `metadata/telemetry-<step>-otel.parquet` (the spec) is one more
    artifact: saved as bytes when `artifacts` names it, and it changes nothing in the report."""
    telemetry = "metadata/telemetry-2-otel.parquet"
    inputs = emulator_inputs(emu, 25, **{"poll-interval": "1", "artifacts": telemetry})
    result = pr_runner(tmp_path).run(inputs)
    assert result.exit_code == 0, result.log
    [run] = emu.created_runs()
    listed = requests.get(
        f"{emu.url}/api/v2/accounts/{emu.account_id}/runs/{run['id']}/artifacts/",
        headers={"Authorization": f"Token {emu.token}"},
        timeout=10,
    ).json()["data"]
    assert telemetry in listed
    saved = result.outputs["artifacts"].splitlines()
    assert saved == [f"target/{telemetry}"], result.log  # artifacts-dir defaults to target
    data = (tmp_path / "workspace" / saved[0]).read_bytes()
    assert data.startswith(b"PAR1") and data.endswith(b"PAR1")
    assert "♻️ reused **1**" in result.summary  # results still from run_results.json


# The list parameters dbt Cloud's spec declares (runs and jobs lists) that the action may send.
_PAGING = {"order_by", "limit", "offset", "include_related"}
DECLARED_LIST_PARAMETERS = {
    "list_runs": {"job_definition_id", "status__in", *_PAGING},
    "list_jobs": {"name__icontains", "project_id", "project_id__in", "environment_id", *_PAGING},
}


def test_the_step_sends_only_evidenced_list_forms(emu: Emulator, tmp_path: Path) -> None:
    """L2: `__in` filters go as one JSON list (apache/airflow#40048), never `1,2` or repeated
    keys, and only filters the spec declares (no job_definition_id__in)."""
    inputs = emulator_inputs(emu, 21, **{"poll-interval": "1", "job-id": "", "job-name": "CI"})
    result = pr_runner(tmp_path).run({**inputs, "job-name": "CI build"})
    assert result.exit_code == 0, result.log
    listed = [r for r in emu.requests if r.endpoint in DECLARED_LIST_PARAMETERS]
    assert {r.endpoint for r in listed} == {"list_runs", "list_jobs"}
    for request in listed:
        assert set(request.query) <= DECLARED_LIST_PARAMETERS[request.endpoint], request.query
        for name, values in request.query.items():
            assert len(values) == 1, (name, values)  # never repeated keys
            if name.endswith("__in"):
                assert json.loads(values[0]) == [int(v) for v in json.loads(values[0])]
