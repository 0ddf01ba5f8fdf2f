"""Jobs defined as code, end to end, with dbt Labs' real dbt-jobs-as-code (PyPI, from
`.venv-clients`): `plan` and `sync --json` of a small jobs YAML create the jobs in the emulator
(its `POST /jobs/`), then the real entrypoint (and the CLI) runs the jobs the sync applied from
that JSON (`jobs-from`), or finds a job by its `[[identifier]]` (`job-name`), with the tag in the
name or, with `--use-desc-for-id`, in the description. A file that cannot work is one `::error::`
naming jobs-from, and nothing is triggered."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbt_cloud_emulator import Emulator
from tests.emulator.test_real_clients import client_env
from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event
from tests.test_cli import run_cli

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / ".venv-clients" / "bin" / "dbt-jobs-as-code"
PROJECT, ENVIRONMENT = 70, 200


def jobs_yaml(account_id: int, *identifiers: str) -> str:
    """A jobs YAML as the tool's docs write it (example_jobs_file/jobs.yml), one job per key."""
    jobs = "".join(
        f"""
  {key}:
    account_id: {account_id}
    project_id: {PROJECT}
    environment_id: {ENVIRONMENT}
    name: "Managed {key}"
    settings: {{threads: 4, target_name: prod}}
    execute_steps: ["dbt build --select tag:{key}"]
    generate_docs: false
    run_generate_sources: false
    schedule: {{cron: "0 6 * * *"}}
    triggers: {{github_webhook: false, git_provider_webhook: false, schedule: false}}
"""
        for key in identifiers
    )
    return "jobs:" + jobs


@pytest.fixture(scope="module")
def tool() -> Path:
    if not TOOL.is_file():
        pytest.fail(
            f"dbt-jobs-as-code is missing at {TOOL}: run scripts/bootstrap-clients",
            pytrace=False,
        )
    return TOOL


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(time_scale=60.0) as emulator:
        yield emulator


def run_tool(tool: Path, emu: Emulator, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool), *args],
        capture_output=True,
        text=True,
        env=client_env(DBT_API_KEY=emu.token, DBT_BASE_URL=emu.url, **env),
        timeout=120,
        check=False,
    )


def synced(tool: Path, emu: Emulator, tmp_path: Path, *keys: str, **env: str) -> dict[str, Any]:
    """`plan --json` then `sync --json` of a YAML with `keys`; the sync's JSON."""
    config = tmp_path / "jobs.yml"
    config.write_text(jobs_yaml(emu.account_id, *keys))
    plan = run_tool(tool, emu, "plan", str(config), "--json", **env)
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert sorted((c["action"], c["identifier"]) for c in planned["job_changes"]) == [
        ("CREATE", key) for key in sorted(keys)
    ]
    sync = run_tool(tool, emu, "sync", str(config), "--json", **env)
    assert sync.returncode == 0, sync.stderr
    output: dict[str, Any] = json.loads(sync.stdout)
    return output


def runner(tmp_path: Path) -> SimulatedRunner:
    return SimulatedRunner(
        tmp_path / "runner", event_name="push", event=load_event("push.branch.json")
    )


def inputs(emu: Emulator, **extra: str) -> dict[str, str]:
    return {**emulator_inputs(emu, 0), "job-id": "", "poll-interval": "1", **extra}


def test_the_jobs_a_sync_created_are_run_from_its_json(
    tool: Path, emu: Emulator, tmp_path: Path
) -> None:
    output = synced(tool, emu, tmp_path, "nightly", "hourly")
    assert output["apply_success"] is True
    applied = output["applied"]["job_changes"]
    assert sorted((c["action"], c["type"], c["identifier"]) for c in applied) == [
        ("CREATE", "job", "hourly"),
        ("CREATE", "job", "nightly"),
    ]
    created = [r for r in emu.requests if r.method == "POST" and r.endpoint == "create_job"]
    assert len(created) == 2
    assert {r.body["name"] for r in created} == {
        "Managed nightly [[nightly]]",
        "Managed hourly [[hourly]]",
    }
    ids = [c["job_id"] for c in applied]
    sync_file = tmp_path / "runner" / "workspace" / "sync.json"
    sync_file.parent.mkdir(parents=True)
    sync_file.write_text(json.dumps(output))
    step = runner(tmp_path)
    result = step.run(inputs(emu, **{"jobs-from": "sync.json"}))
    assert result.exit_code == 0, result.log
    runs = json.loads(result.outputs["runs"])
    assert [int(r["job-id"]) for r in runs] == ids
    assert all(r["status"] == "success" for r in runs)
    triggered = sorted(
        int(r.path.split("/jobs/")[1].split("/")[0])
        for r in emu.requests
        if r.endpoint == "trigger"
    )
    assert triggered == sorted(ids)
    started = {run["job_definition_id"]: run for run in emu.created_runs()}
    assert started[ids[0]]["job"]["execute_steps"] == [
        f"dbt build --select tag:{applied[0]['identifier']}"
    ]

    cli = run_cli(
        ["--jobs-from", str(sync_file), "--wait", "false", "--json"],
        {
            "DBT_CLOUD_ACCESS_URL": emu.url,
            "DBT_CLOUD_API_TOKEN": emu.token,
            "DBT_CLOUD_ACCOUNT_ID": str(emu.account_id),
        },
        tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    outputs = json.loads(cli.stdout[cli.stdout.index("{\n") :])
    assert [int(r["job-id"]) for r in json.loads(outputs["runs"])] == ids


@pytest.mark.parametrize("in_description", [False, True])
def test_job_name_finds_a_job_by_its_identifier(
    tool: Path, emu: Emulator, tmp_path: Path, in_description: bool
) -> None:
    env = {"DBT_JOBS_AS_CODE_USE_DESC_FOR_ID": "true"} if in_description else {}
    output = synced(tool, emu, tmp_path, "orders_daily", **env)
    [change] = output["applied"]["job_changes"]
    [body] = [r.body for r in emu.requests if r.endpoint == "create_job"]
    tagged = body["description"] if in_description else body["name"]
    assert tagged.endswith("[[orders_daily]]")
    result = runner(tmp_path).run(inputs(emu, **{"job-name": "[[orders_daily]]"}))
    assert result.exit_code == 0, result.log
    [run] = json.loads(result.outputs["runs"])
    assert run["job-id"] == str(change["job_id"]) and run["status"] == "success"

    wrong = runner(tmp_path / "again").run(inputs(emu, **{"job-name": "[[Orders_daily]]"}))
    assert wrong.exit_code == 1
    assert "::Input 'job-name'" in wrong.stdout
    assert "carries the dbt-jobs-as-code tag [[Orders_daily]]" in wrong.stdout


def sync_output(*changes: dict[str, Any], success: bool = True) -> str:
    return json.dumps(
        {
            "job_changes": [],
            "env_var_overwrite_changes": [],
            "applied": {"job_changes": list(changes), "env_var_overwrite_changes": []},
            "apply_success": success,
        }
    )


def change(action: str, job_id: int | None) -> dict[str, Any]:
    return {
        "action": action,
        "type": "job",
        "identifier": "x",
        "project_id": PROJECT,
        "environment_id": ENVIRONMENT,
        "job_id": job_id,
    }


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "cannot be read"),
        ("not json", "is not JSON"),
        (
            json.dumps({"job_changes": [], "env_var_overwrite_changes": []}),
            "has no applied.job_changes",
        ),
        (sync_output(), "lists no job the sync created or updated"),
        (sync_output(change("DELETE", 101)), "lists no job the sync created or updated"),
        (sync_output(change("CREATE", 101), success=False), "apply_success: false"),
        (sync_output(change("CREATE", None)), "without a job id"),
    ],
)
def test_a_sync_file_that_cannot_work_is_one_error_and_no_trigger(
    emu: Emulator, tmp_path: Path, content: str | None, why: str
) -> None:
    step = runner(tmp_path)
    if content is not None:
        (step.workspace / "sync.json").write_text(content)
    result = step.run(inputs(emu, **{"jobs-from": "sync.json"}))
    assert result.exit_code == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "Input 'jobs-from'" in errors[0] and why in errors[0], result.log
    assert not [r for r in emu.requests if r.endpoint in ("trigger", "list_jobs", "get_job")]


def test_jobs_from_with_job_id_is_an_input_error(emu: Emulator, tmp_path: Path) -> None:
    step = runner(tmp_path)
    (step.workspace / "sync.json").write_text(sync_output(change("CREATE", 101)))
    result = step.run(inputs(emu, **{"jobs-from": "sync.json", "job-id": "101"}))
    assert result.exit_code == 1
    assert "::Input 'jobs-from' is set with job-id" in result.stdout
    assert not emu.requests


def test_deleted_jobs_are_not_run(emu: Emulator, tmp_path: Path) -> None:
    step = runner(tmp_path)
    (step.workspace / "sync.json").write_text(
        sync_output(change("DELETE", 102), change("UPDATE", 101), change("UPDATE", 101))
    )
    result = step.run(inputs(emu, **{"jobs-from": "sync.json", "wait": "false"}))
    assert result.exit_code == 0, result.log
    assert [r.path for r in emu.requests if r.endpoint == "trigger"] == [
        f"/api/v2/accounts/{emu.account_id}/jobs/101/run/"
    ]
