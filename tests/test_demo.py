"""scripts/demo.py, the README's first command: it shows the trigger body dbt Cloud received."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_demo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """scripts/demo.py with `args`, at 300 emulated seconds per real second."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), *args, "--time-scale", "300"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_demo_shows_a_trigger_body_with_the_commit_and_no_branch() -> None:
    done = run_demo("--jobs", "101")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = re.search(
        r"job 101: trigger body sent to dbt Cloud =+\n(\{.*?\n\})\n", done.stdout, re.S
    )
    assert shown, done.stdout[-3000:]
    body = json.loads(shown.group(1))
    assert body["git_sha"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert "git_branch" not in body
    assert body["github_pull_request_id"] == 2


def test_demo_shows_a_fork_pull_request_refused_before_any_request() -> None:
    done = run_demo("--jobs", "")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "a pull request from a fork: exit code 1, 0 API requests" in done.stdout
    assert "::error title=Pull request from a fork::" in done.stdout


def test_demo_shows_follow_mode_reporting_dbt_clouds_own_run() -> None:
    done = run_demo("--jobs", "", "--no-fork")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "mode: follow: exit code 0, 0 runs triggered, outputs" in done.stdout
    assert "origin=followed" in done.stdout.splitlines()
    assert "Waiting up to 10m 00s for dbt Cloud to start job 101's run" in done.stdout


def test_demo_runs_several_jobs_in_one_step() -> None:
    done = run_demo("--jobs", "101,102", timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    together = done.stdout[done.stdout.index("several jobs in one step: step log") :]
    assert "several jobs: exit code 1, status error" in together
    shown = re.search(r"runs=(\[.*?\n\])\n", together, re.S)
    assert shown, together[-3000:]
    runs = json.loads(shown.group(1))
    assert [(run["job-id"], run["status"]) for run in runs] == [
        ("101", "success"),
        ("102", "error"),
    ]
    assert "| Job | Run | Status | Duration | Failed models and tests |" in together


def test_demo_shows_a_failing_fusion_run_naming_the_model_that_errored() -> None:
    done = run_demo("--jobs", "", "--no-fork", "--no-follow")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    fusion = done.stdout[done.stdout.index("dbt Fusion: step log") :]
    assert "dbt Fusion: exit code 1, job summary (markdown)" in fusion
    assert "`model dbt_cloud_pr_106_2.customers` | ❌ error (from the log)" in fusion
    assert "Database Error in model customers" in fusion
    assert "error **0**" not in fusion


def test_demo_shows_a_job_chain_followed_and_reported_as_one() -> None:
    done = run_demo("--jobs", "", "--no-fork", "--no-follow", "--no-fusion", "--no-feedback")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    chain = done.stdout[done.stdout.index("follow-chain: step log") :]
    assert "follow-chain: exit code 0, 1 run triggered, runs" in chain
    assert "waiting for the run of job 202 'Daily marts' it starts" in chain
    shown = re.search(r"runs=(\[.*?\n\])\n", chain, re.S)
    assert shown, chain[-3000:]
    runs = json.loads(shown.group(1))
    assert [(run["job-id"], run["origin"]) for run in runs] == [
        ("201", "triggered"),
        ("202", "chained"),
    ]
    assert "| Daily marts (id 202) |" in chain


def test_demo_shows_a_failing_pull_request_new_and_already_failing_on_files_and_downstream() -> (
    None
):
    done = run_demo("--jobs", "", "--no-fork", "--no-follow", "--no-fusion", "--no-chain")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    scene = done.stdout[done.stdout.index("feedback: the nightly production run") :]
    assert "failed: 1 new failure, 1 already failing in Production" in scene
    assert "::error title=dbt model customers errored (new),file=models/customers.sql::" in scene
    assert (
        "title=dbt test not_null_orders_order_id failed (already failing),"
        "file=models/schema.yml,line=5::" in scene
    )
    assert "model.jaffle_shop.customers: <error type='new'>" in scene
    assert "### What the failures break downstream" in scene
    assert "```mermaid" in scene
