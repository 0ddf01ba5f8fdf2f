"""The step against dbt Cloud's answers as users meet them (issue 18), through the entrypoint:
an artifact list of `data: null`, access errors, error bodies that are not the envelope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript
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
JOBS = (
    JobScript(21, "CI build", (CLONE, BUILD), queue_seconds=1),
    JobScript(22, "CI build then grant", (CLONE, BUILD, GRANT), queue_seconds=1),
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
