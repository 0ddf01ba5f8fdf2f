"""Bounded memory through the real entrypoint, against the emulator over loopback HTTP: a step
log longer than the end each step keeps, and artifacts past the cap the runner sets
(`DBT_CLOUD_ACTION_MAX_ARTIFACT_MB`). Memory itself is measured by bench/memory.py, not here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbt_cloud_action.models import STEP_LOG_CHARS
from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript
from tests.runner_files import parse_workflow_commands
from tests.simulated_runner import SimulatedRunner, StepResult, emulator_inputs

TOKEN = "dbtc_memoryBoundsToken_0123456789abcdef"
LONG_LOG, PADDED = 41, 42
LOG_LINES = tuple(
    f"{i:05d} of 20000 OK created sql view model analytics.model_{i:05d} ...... [OK in 0.01s]"
    for i in range(20000)
)  # about 1.9 million characters with dbt's time prefix: more than a step keeps
PADDING = 3 << 19  # 1.5 MiB of spaces after each artifact's JSON
CLONE = StepScript("Clone git repository", duration=1)
BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=5,
    results=(
        NodeResult("model.shop.orders", "success", 3.5),
        NodeResult("test.shop.not_null_orders_id", "pass", 0.4, resource_type="test"),
    ),
)
JOBS = (
    JobScript(
        LONG_LOG,
        "Deploy of 20,000 views",
        (CLONE, StepScript("Invoke dbt with `dbt run`", "dbt run", 5, logs="\n".join(LOG_LINES))),
        queue_seconds=1,
        triggers=(),
    ),
    JobScript(PADDED, "Big project", (CLONE, BUILD), 1, artifact_padding=PADDING, triggers=()),
)
WANTED = "manifest.json run_results.json"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


def run_step(
    emu: Emulator, tmp_path: Path, job_id: int, env: dict[str, str] | None = None, **inputs: str
) -> tuple[StepResult, Path]:
    runner = SimulatedRunner(tmp_path, event_name="push", env=env)
    result = runner.run(emulator_inputs(emu, job_id, **{"poll-interval": "1", **inputs}))
    assert "Traceback" not in result.log, result.log
    return result, runner.workspace


def notices(result: StepResult) -> list[str]:
    return [c.data for c in parse_workflow_commands(result.stdout).named("notice")]


def test_a_step_log_longer_than_kept_shows_its_end_and_says_the_rest_is_in_dbt_cloud(
    emu: Emulator, tmp_path: Path
) -> None:
    result, _ = run_step(emu, tmp_path, LONG_LOG)

    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "success"
    [cut] = re.findall(
        r"… its first ([\d,]+) characters not shown; the whole log is in dbt Cloud", result.stdout
    )
    rendered = sum(len(line) + 11 for line in LOG_LINES)  # "HH:MM:SS  " and a newline each
    assert rendered - STEP_LOG_CHARS <= int(cut.replace(",", "")) <= rendered - STEP_LOG_CHARS + 200
    assert f"  {LOG_LINES[-1]}" in result.stdout  # its end is shown
    assert LOG_LINES[0] not in result.stdout  # its start was not kept


def test_artifacts_past_the_cap_are_not_saved_and_the_report_says_why(
    emu: Emulator, tmp_path: Path
) -> None:
    env = {"DBT_CLOUD_ACTION_MAX_ARTIFACT_MB": "1"}
    result, workspace = run_step(emu, tmp_path, PADDED, env, artifacts=WANTED)

    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "success"
    assert result.outputs["artifacts"] == ""
    run_id = result.outputs["run-id"]
    assert notices(result) == [
        f"Artifact {name} was not saved: dbt Cloud API error (HTTP 200): artifact '{name}' of "
        f"run {run_id} is larger than 1 MiB, the most this action downloads of one artifact. "
        "What to do: Download it from the run's Artifacts in dbt Cloud, or raise the cap with "
        "the step's DBT_CLOUD_ACTION_MAX_ARTIFACT_MB (docs/artifacts.md, Memory)."
        for name in WANTED.split()
    ]
    assert list((workspace / "target").iterdir()) == []  # no partial file left behind
    assert "pass **2**" in result.summary  # the results, read within their own cap, are shown


def test_artifacts_within_the_cap_are_saved_whole(emu: Emulator, tmp_path: Path) -> None:
    env = {"DBT_CLOUD_ACTION_MAX_ARTIFACT_MB": "2"}
    result, workspace = run_step(emu, tmp_path, PADDED, env, artifacts=WANTED)

    assert result.exit_code == 0, result.log
    assert result.outputs["artifacts"].splitlines() == [f"target/{n}" for n in WANTED.split()]
    served = {
        r.path.rpartition("/")[2]: r.response_bytes
        for r in emu.requests
        if r.endpoint == "get_artifact" and r.status == 200
    }
    for name in WANTED.split():
        saved = workspace / "target" / name
        assert saved.stat().st_size == served[name] > PADDING
        assert json.loads(saved.read_bytes())["metadata"]["dbt_schema_version"]
    assert sorted(p.name for p in (workspace / "target").iterdir()) == sorted(WANTED.split())
