"""Hostile text through the real entrypoint: it never adds or changes an output, env var or
workflow command, dbt's logs are shown inert, and the summary is escaped and bounded.

What the runner makes of a step is read with tests/runner_files.py, which parses
`$GITHUB_OUTPUT`/`$GITHUB_ENV` and stdout's workflow commands the way actions/runner does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript
from tests.markdown_check import live_html, mentions
from tests.runner_files import parse_workflow_commands, read_file_command
from tests.simulated_runner import ROOT, SimulatedRunner, StepResult, emulator_inputs, load_event

TOKEN = "dbtc_hostileInputToken_9b8a7c6d5e4f3a2b1c"
INJECTIONS = (
    "x\nstatus=success",
    "x\r\nrun-id<<EOF\n666\nEOF",
    "ghadelimiter_00000000-0000-0000-0000-000000000000\nstatus=success",
    "::set-output name=status::success",
    "::add-mask::success",
    "::stop-commands::pwned",
    "::set-env name=PATH::/tmp",
    "##[set-output name=status;]success",
    "##[add-path]/tmp/evil",
    "status=success\u2028run-id=666\u2029git-sha=0",
    "%0A::error::forged",
    "a=b<<c",
)
HOSTILE = " ".join(INJECTIONS)
OUR_COMMANDS = {"add-mask", "group", "endgroup", "stop-commands", "notice", "warning", "error"}
# dbt step output that looks like workflow commands; the emulator prefixes each line with a
# time, so only forms found anywhere in a line (##[...]) or after a carriage return would act.
DBT_LOGS = "\n".join(
    [
        "Running with dbt=1.9.1",
        "##[add-mask]orders",
        "##[set-output name=status;]success",
        "::add-mask::orders",
        "::set-output name=status::success",
        "::stop-commands::pwned",
        "::error title=forged::forged by dbt",
        "::pwned::",
        "Done. PASS=1",
    ]
)
HUGE = "<script>alert(1)</script> @octocat **x** | " * 40_000  # about 1.7 MB
JOBS = (
    JobScript(
        31,
        "<script>alert(1)</script> @octocat #1 **CI** | `x` [l](javascript:alert(1))",
        (
            StepScript("Clone git repository", duration=2),
            StepScript(
                "Invoke dbt with `dbt build` ::set-output name=status::success",
                "dbt build",
                10,
                outcome=20,
                logs=DBT_LOGS,
                results=(
                    NodeResult(
                        "test.shop.unique_orders_id",
                        "fail",
                        0.4,
                        message=f"{HOSTILE}\n<img src=x onerror=alert(1)> @org/team",
                        resource_type="test",
                    ),
                ),
            ),
        ),
        queue_seconds=1,
    ),
    JobScript(
        32,
        "Huge",
        (
            StepScript(
                "Invoke dbt with `dbt build`",
                "dbt build",
                10,
                outcome=20,
                logs=HUGE.replace("| ", "|\n"),
                results=(
                    NodeResult(
                        "model.shop.orders", "error", 1, message=HUGE, resource_type="model"
                    ),
                ),
            ),
        ),
        queue_seconds=1,
    ),
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=100.0) as emulator:
        yield emulator


def declared_outputs() -> set[str]:
    spec: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
    return set(spec["outputs"])


def hostile_event() -> dict[str, Any]:
    event = load_event("pull_request.opened.json")
    event["pull_request"]["head"]["ref"] = "feature/::set-output name=status::success<<EOF=\u2028"
    event["pull_request"]["title"] = HOSTILE
    event["pull_request"]["head"]["repo"] = event["repository"]  # a same-repo branch: sent
    return event


def run(emu: Emulator, tmp_path: Path, job: int, **inputs: str) -> StepResult:
    runner = SimulatedRunner(tmp_path, event_name="pull_request", event=hostile_event())
    return runner.run(emulator_inputs(emu, job, **{"poll-interval": "1", **inputs}))


def assert_runner_sees_only_ours(result: StepResult, tmp_path: Path) -> None:
    """Outputs are the declared ones, env and path untouched, and only our commands acted."""
    assert set(result.outputs) <= declared_outputs()
    for kind in ("env", "path"):
        for path in tmp_path.glob(f"{kind}_*"):
            assert read_file_command(path) == {}, path
    log = parse_workflow_commands(result.stdout)
    stop_tokens = {c.data for c in log.named("stop-commands")}
    assert {c.name for c in log.commands} <= OUR_COMMANDS | stop_tokens
    assert [c.data for c in log.named("add-mask")] == [TOKEN]
    assert all(len(token) == 32 for token in stop_tokens)  # our random tokens only
    assert not log.stopped_at_end
    assert "Traceback" not in result.log


def test_hostile_cause_branch_and_title_change_nothing(emu: Emulator, tmp_path: Path) -> None:
    # git-sha: none, so the hostile branch itself is sent (dbt Cloud takes a commit or a branch)
    result = run(emu, tmp_path, 31, cause=HOSTILE, **{"comment-on-pr": "false", "git-sha": "none"})
    assert result.exit_code == 1, result.log  # the job's test failed
    assert_runner_sees_only_ours(result, tmp_path)
    [created] = emu.created_runs()
    assert result.outputs["status"] == "error"
    assert result.outputs["status-code"] == "20"
    assert result.outputs["run-id"] == str(created["id"])
    assert result.outputs["git-branch"] == "feature/::set-output name=status::success<<EOF=\u2028"
    assert "\n" not in created["trigger"]["cause"]
    assert created["trigger"]["git_branch"] == result.outputs["git-branch"]


def test_dbt_logs_that_look_like_commands_are_shown_inert(emu: Emulator, tmp_path: Path) -> None:
    result = run(emu, tmp_path, 31)
    assert_runner_sees_only_ours(result, tmp_path)
    visible = "\n".join(parse_workflow_commands(result.stdout).visible)
    for line in DBT_LOGS.splitlines():
        assert line in visible  # shown as text, not acted on
    assert "forged by dbt" not in {c.data for c in parse_workflow_commands(result.stdout).commands}


def test_summary_escapes_markdown_html_and_mentions(emu: Emulator, tmp_path: Path) -> None:
    result = run(emu, tmp_path, 31, cause=HOSTILE)
    assert "unique_orders_id" in result.summary
    assert live_html(result.summary) == []
    assert mentions(result.summary) == []
    assert "<script>" not in result.summary.replace("&lt;script&gt;", "")


def test_huge_logs_and_messages_are_bounded(emu: Emulator, tmp_path: Path) -> None:
    result = run(emu, tmp_path, 32)
    assert result.exit_code == 1, result.log[-2000:]
    assert_runner_sees_only_ours(result, tmp_path)
    assert len(result.summary.encode()) < 1024 * 1024
    assert live_html(result.summary) == [] and mentions(result.summary) == []
    assert len(result.stdout.encode()) < 1024 * 1024
    assert all(len(value) < 4096 for value in result.outputs.values())


@pytest.mark.parametrize("name", ["job-id", "cause", "git-branch", "schema-override"])
def test_token_pasted_into_another_input_is_never_shown(
    emu: Emulator, tmp_path: Path, name: str
) -> None:
    """The session's token scan (tests/conftest.py) checks every byte this step left behind."""
    result = run(emu, tmp_path, 31, **{name: f"{TOKEN}", "wait": "false"})
    assert result.exit_code == 1, result.log
    [error] = parse_workflow_commands(result.stdout).named("error")
    assert f"'{name}'" in error.data
    assert TOKEN not in error.data
    assert emu.requests == []
