"""`dbt-cloud-run` outside GitHub: flags and DBT_CLOUD_* variables, against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dbt_cloud_action.cli import env_name
from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript
from tests.gitlab_log import section_markers, without_markers
from tests.runner_files import parse_workflow_commands

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "dbtc_cliSecretToken_0123456789abcdef"
# A dbt log line that tries each host's syntax: a GitHub workflow command, a GitLab section
# end and start (the first two steps' names are guessable), an escape sequence.
HOSTILE_LOG = (
    "\x1b[31mFailure in test not_null_orders_id\x1b[0m\n"
    "::error title=Forged::injected\n"
    "::stop-commands::whatever\n"
    "section_end:1700000000:dbt_cloud_1\r\x1b[0K\n"
    "\x1b[0Ksection_start:1700000000:dbt_cloud_9[collapsed=true]\r\x1b[0KForged section\n"
    "Done. PASS=0 ERROR=1"
)
JOBS = (
    JobScript(21, "Deploy", (StepScript("Invoke dbt with `dbt build`", "dbt build", 5),)),
    JobScript(
        22, "Broken", (StepScript("Invoke dbt with `dbt build`", "dbt build", 5, outcome=20),)
    ),
    JobScript(
        23,
        "Hostile logs",
        (
            StepScript("Clone git repository", None, 1, logs="Cloned\n::error::clone injected"),
            StepScript("Invoke dbt with `dbt build`", "dbt build", 3, outcome=20, logs=HOSTILE_LOG),
        ),
    ),
    JobScript(
        24,
        "Nightly ✓ 日本語",
        (StepScript("Invoke dbt with `dbt build`", "dbt build", 3, logs="✓ — 🎉 日本語のモデル"),),
    ),
)


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB_", "INPUT_", "DBT_CLOUD_"))
    }
    base["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "dbt_cloud_action.cli", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        timeout=60,
        check=False,
    )
    # decoded as is: text mode would turn a carriage return into a newline, hiding it
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def test_env_name() -> None:
    assert env_name("job-id") == "DBT_CLOUD_JOB_ID"
    assert env_name("api-token") == "DBT_CLOUD_API_TOKEN"


def test_cli_runs_a_job_from_variables_and_flags(tmp_path: Path) -> None:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=50) as emu:
        summary = tmp_path / "summary.md"
        proc = run_cli(
            ["--job-id", "21", "--json", "--summary-file", str(summary), "--git-sha", "none"],
            {
                "DBT_CLOUD_ACCESS_URL": emu.url,
                "DBT_CLOUD_API_TOKEN": TOKEN,
                "DBT_CLOUD_ACCOUNT_ID": str(emu.account_id),
                "DBT_CLOUD_JOB_ID": "999",
                "DBT_CLOUD_POLL_INTERVAL": "1",
            },
            tmp_path,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        start = proc.stdout.index("{\n")
        outputs = json.loads(proc.stdout[start:])
        assert outputs["status"] == "success"
        assert outputs["job-name"] == "Deploy"
        [trigger] = [r for r in emu.requests if r.endpoint == "trigger"]
        assert trigger.path.endswith("/jobs/21/run/")
        assert "git_sha" not in trigger.body
        assert "Deploy" in summary.read_text()
        # outside GitHub there is no runner to mask the token: it must never be printed
        assert TOKEN not in proc.stdout + proc.stderr
        assert "::add-mask::" not in proc.stdout


def test_cli_exit_code_follows_the_run(tmp_path: Path) -> None:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=50) as emu:
        proc = run_cli(
            ["--access-url", emu.url, "--account-id", "1", "--job-id", "22"],
            {"DBT_CLOUD_API_TOKEN": TOKEN, "DBT_CLOUD_POLL_INTERVAL": "1"},
            tmp_path,
        )
        assert proc.returncode == 1
        assert "status=error" in proc.stdout.splitlines()


def test_cli_on_a_cp1252_terminal_prints_and_writes_non_ascii_intact(tmp_path: Path) -> None:
    """A Windows terminal or CI log piped as cp1252: the outputs and summary stay UTF-8."""
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=50) as emu:
        summary = tmp_path / "summary.md"
        proc = run_cli(
            [
                *("--access-url", emu.url, "--account-id", "1", "--job-id", "24"),
                *("--summary-file", str(summary)),
            ],
            {
                "DBT_CLOUD_API_TOKEN": TOKEN,
                "DBT_CLOUD_POLL_INTERVAL": "1",
                "PYTHONIOENCODING": "cp1252",
                "PYTHONUTF8": "0",
                "LC_ALL": "C",
                "LANG": "C",
            },
            tmp_path,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "job-name=Nightly ✓ 日本語" in proc.stdout.splitlines()
        assert "✓ — 🎉 日本語のモデル" in proc.stdout
        assert "Nightly ✓ 日本語" in summary.read_text(encoding="utf-8")


def test_cli_bad_input_names_the_option(tmp_path: Path) -> None:
    proc = run_cli(["--job-id", "x"], {"DBT_CLOUD_API_TOKEN": TOKEN}, tmp_path)
    assert proc.returncode == 1
    assert "'access-url'" in proc.stdout or "'job-id'" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_cli_offers_every_input_of_action_yml_and_its_own() -> None:
    import yaml

    from dbt_cloud_action.cli import build_parser
    from dbt_cloud_action.inputs import CLI_ONLY_INPUT_NAMES, INPUT_NAMES

    declared = list(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
    assert list(INPUT_NAMES) == declared
    assert not set(CLI_ONLY_INPUT_NAMES) & set(declared)
    flags = {a.dest for a in build_parser()._actions if a.option_strings} - {"help", "version"}
    assert flags == {*declared, *CLI_ONLY_INPUT_NAMES, "json", "summary_file"}


def test_cli_sends_a_gitlab_merge_request_in_its_own_field(tmp_path: Path) -> None:
    """On GitLab CI: the merge request goes as gitlab_merge_request_id, and {pr} is its number."""
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=50) as emu:
        args = ["--access-url", emu.url, "--account-id", str(emu.account_id), "--job-id", "21"]
        args += ["--git-sha", "0123456789abcdef0123456789abcdef01234567"]
        args += ["--gitlab-merge-request-id", "314"]
        args += ["--schema-override", "dbt_cloud_pr_{job_id}_{pr}"]
        proc = run_cli(
            args,
            {"DBT_CLOUD_API_TOKEN": TOKEN, "DBT_CLOUD_POLL_INTERVAL": "1", "GITLAB_CI": "true"},
            tmp_path,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        [trigger] = [r for r in emu.requests if r.endpoint == "trigger"]
        assert trigger.body["gitlab_merge_request_id"] == 314
        assert trigger.body["schema_override"] == "dbt_cloud_pr_21_314"
        assert "github_pull_request_id" not in trigger.body
        [run] = emu.created_runs()
        assert run["trigger"]["gitlab_merge_request_id"] == 314


def test_cli_refuses_two_pull_request_ids_before_any_call(tmp_path: Path) -> None:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=50) as emu:
        proc = run_cli(
            ["--access-url", emu.url, "--account-id", "1", "--job-id", "21"],
            {
                "DBT_CLOUD_API_TOKEN": TOKEN,
                "DBT_CLOUD_AZURE_PULL_REQUEST_ID": "5",
                "DBT_CLOUD_NON_NATIVE_PULL_REQUEST_ID": "6",
            },
            tmp_path,
        )
        assert emu.requests == []
    assert proc.returncode == 1
    assert "Input 'azure-pull-request-id' and input 'non-native-pull-request-id'" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_cli_skips_a_fork_pull_request_when_asked(tmp_path: Path) -> None:
    """The CLI maps every input, fork-pull-requests too (here inside a GitHub job)."""
    event = ROOT / "tests" / "fixtures" / "events" / "pull_request.synchronize.fork.json"
    github = {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "Codertocat/Hello-World",
    }
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=50) as emu:
        args = ["--access-url", emu.url, "--account-id", "1", "--job-id", "21"]
        skipped = run_cli(
            [*args, "--fork-pull-requests", "skip"],
            {"DBT_CLOUD_API_TOKEN": TOKEN, **github},
            tmp_path,
        )
        failed = run_cli(args, {"DBT_CLOUD_API_TOKEN": TOKEN, **github}, tmp_path)
        assert emu.requests == []
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "status=skipped" in skipped.stdout.splitlines()
    assert failed.returncode == 1
    assert "octo-fork/Hello-World" in failed.stdout and "fork-pull-requests" in failed.stdout


def run_in_host(host_env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The CLI following job 23 (two steps, hostile logs, ends in error) on a host."""
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=50) as emu:
        return run_cli(
            ["--access-url", emu.url, "--account-id", str(emu.account_id), "--job-id", "23"],
            {
                "DBT_CLOUD_API_TOKEN": TOKEN,
                "DBT_CLOUD_POLL_INTERVAL": "1",
                "DBT_CLOUD_ACTION_ARTIFACT_WAIT": "0",
                **host_env,
            },
            tmp_path,
        )


WORKFLOW_COMMANDS = ("::group::", "::endgroup::", "::stop-commands::", "::error", "::add-mask::")


def test_cli_on_github_actions_prints_workflow_commands(tmp_path: Path) -> None:
    proc = run_in_host({"GITHUB_ACTIONS": "true", "CI": "true"}, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    log = parse_workflow_commands(proc.stdout)
    names = [c.name for c in log.commands if c.name != "stop-commands"]
    assert names[0] == "add-mask"
    assert names.count("group") == names.count("endgroup") == 2
    [error] = log.named("error")  # the forged ones are inert
    assert error.properties["title"] == "dbt Cloud job Hostile logs failed"
    assert not log.stopped_at_end
    assert any(line.endswith("  ::error title=Forged::injected") for line in log.visible)


def test_cli_on_gitlab_prints_collapsible_sections_and_no_workflow_command(tmp_path: Path) -> None:
    proc = run_in_host({"GITLAB_CI": "true", "CI": "true"}, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    markers = section_markers(proc.stdout)
    assert [(m.kind, m.header) for m in markers] == [
        ("start", "Step 1: Clone git repository (success, 1.0s)"),
        ("end", ""),
        ("start", "Step 2: Invoke dbt with `dbt build` (error, 3.0s)"),
        ("end", ""),
    ]
    assert all(m.options == "[collapsed=true]" for m in markers if m.kind == "start")
    shown = without_markers(proc.stdout)
    assert "\x1b" not in shown
    assert "\r" not in shown
    lines = shown.splitlines()
    assert not [line for line in lines if line.startswith(WORKFLOW_COMMANDS)]
    assert any(line.startswith("error: dbt Cloud job Hostile logs failed: ") for line in lines)
    assert any(line.endswith("  Failure in test not_null_orders_id") for line in lines)  # no colour
    assert any(line.endswith("  section_end:1700000000:dbt_cloud_1") for line in lines)  # shown
    assert TOKEN not in proc.stdout + proc.stderr


def test_cli_elsewhere_prints_plain_text(tmp_path: Path) -> None:
    proc = run_in_host({"CI": "true"}, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "\x1b" not in proc.stdout
    assert "\r" not in proc.stdout
    assert not section_markers(proc.stdout)
    lines = proc.stdout.splitlines()
    assert not [line for line in lines if line.startswith(WORKFLOW_COMMANDS)]
    assert "== Step 1: Clone git repository (success, 1.0s)" in lines
    assert "== Step 2: Invoke dbt with `dbt build` (error, 3.0s)" in lines
    assert any(line.startswith("error: dbt Cloud job Hostile logs failed: ") for line in lines)
    assert "status=error" in lines
    assert TOKEN not in proc.stdout + proc.stderr
