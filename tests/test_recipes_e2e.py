"""The README's recipe for dropping a pull request's schemas when it closes, run as written
(its `with:` block read from README.md) through the real entrypoint against the emulator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript
from tests.simulated_runner import SimulatedRunner, load_event

ROOT = Path(__file__).resolve().parent.parent
CLEANUP_JOB = 67899
CI_JOB = 67890  # the README's CI job, whose schema the cleanup drops


def readme_recipe(heading: str) -> dict[Any, Any]:
    """The first yaml block after `heading` in README.md, parsed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    workflow: dict[Any, Any] = yaml.safe_load(block.group(1))
    return workflow


def test_the_cleanup_recipe_triggers_the_macro_on_the_jobs_own_branch(tmp_path: Path) -> None:
    workflow = readme_recipe("### Clean up per-PR schemas when a pull request closes")
    assert workflow[True]["pull_request"]["types"] == ["closed"]  # yaml reads `on` as True
    (step,) = workflow["jobs"]["drop-pr-schemas"]["steps"]
    event = load_event("pull_request.opened.json")
    event["action"] = "closed"
    event["pull_request"]["state"] = "closed"
    number = event["number"]
    with Emulator(
        EmulatorConfig(
            jobs=(
                JobScript(
                    CLEANUP_JOB,
                    "Drop PR schemas",
                    (StepScript("Clone git repository"), StepScript("Build", "dbt build")),
                    queue_seconds=1,
                    job_type="other",
                ),
            )
        ),
        time_scale=100.0,
    ) as emu:
        inputs = {
            name: str(value).replace("${{ github.event.pull_request.number }}", str(number))
            for name, value in step["with"].items()
        }
        assert inputs["job-id"] == str(CLEANUP_JOB)
        inputs.update(
            {
                "access-url": emu.url,
                "api-token": emu.token,
                "account-id": str(emu.account_id),
                "poll-interval": "1",
            }
        )
        runner = SimulatedRunner(tmp_path, event_name="pull_request", event=event)
        result = runner.run(inputs)
        assert result.exit_code == 0, result.log
        (body,) = [r.body for r in emu.requests if r.endpoint == "trigger"]
        assert body["schema_override"] == f"dbt_cloud_pr_{CI_JOB}_{number}"
        assert body["steps_override"] == ["dbt run-operation drop_pr_schemas"]
        for absent in ("git_sha", "git_branch", "github_pull_request_id"):
            assert absent not in body  # the job's own branch; not a CI run of the PR
        assert result.outputs["status"] == "success"
