"""`dbt-cloud-run` outside GitHub: flags and DBT_CLOUD_* variables, against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dbt_cloud_action.cli import env_name
from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "dbtc_cliSecretToken_0123456789abcdef"
JOBS = (
    JobScript(21, "Deploy", (StepScript("Invoke dbt with `dbt build`", "dbt build", 5),)),
    JobScript(
        22, "Broken", (StepScript("Invoke dbt with `dbt build`", "dbt build", 5, outcome=20),)
    ),
)


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    base["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.run(
        [sys.executable, "-m", "dbt_cloud_action.cli", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
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


def test_cli_bad_input_names_the_option(tmp_path: Path) -> None:
    proc = run_cli(["--job-id", "x"], {"DBT_CLOUD_API_TOKEN": TOKEN}, tmp_path)
    assert proc.returncode == 1
    assert "'access-url'" in proc.stdout or "'job-id'" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_cli_offers_every_input_of_action_yml() -> None:
    import yaml

    from dbt_cloud_action.inputs import INPUT_NAMES

    declared = list(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
    assert list(INPUT_NAMES) == declared


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
