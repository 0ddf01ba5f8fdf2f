"""Several jobs in one step, and jobs by name: the real entrypoint (and post step, and CLI) as a
subprocess, against the emulator and a fake GitHub API over loopback HTTP."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault, JobScript, NodeResult, StepScript
from tests.fake_github import BOT_LOGIN, FakeGitHub
from tests.runner_files import parse_workflow_commands
from tests.simulated_runner import SimulatedRunner, StepResult, load_event
from tests.test_cli import run_cli
from tests.test_lifecycle_e2e import ACTIVE, SIGNAL_BUDGET_SECONDS, SignalledStep, status_of
from tests.waiting import wait_for

TOKEN = "dbtc_severalJobsToken_0123456789abcdef"
GITHUB_TOKEN = "ghs_severalJobsGitHub_0123456789abcdef"
REPOSITORY = "Codertocat/Hello-World"
PR_NUMBER = 2  # of pull_request.opened.json
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # its head.sha
TIME_SCALE = 100.0

CLONE = StepScript("Clone git repository", duration=1)
PASSING_BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10,
    results=(
        NodeResult("model.shop.orders", "success", 3.5),
        NodeResult("test.shop.not_null_orders_id", "pass", 0.4, resource_type="test"),
    ),
)
FAILING_BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10,
    outcome=20,
    results=(
        NodeResult("model.marketing.campaigns", "success", 2.0),
        NodeResult("test.marketing.unique_campaign_id", "fail", 0.4, "Got 3 results", "test"),
        NodeResult("test.marketing.not_null_spend", "fail", 0.3, "Got 1 result", "test"),
    ),
)
LONG_BUILD = StepScript("Invoke dbt with `dbt build`", "dbt build", duration=6000)
ORDERS, MARKETING, LONG_A, LONG_B, CORE_NIGHTLY, MARKETING_NIGHTLY, API_ONLY, CORE = range(41, 49)
JOBS = (
    JobScript(ORDERS, "Orders CI", (CLONE, PASSING_BUILD), queue_seconds=1),
    JobScript(
        MARKETING,
        "Marketing CI",
        (CLONE, FAILING_BUILD),
        1,
        project_id=71,
        project_name="marketing",
    ),
    JobScript(LONG_A, "Long A", (CLONE, LONG_BUILD), queue_seconds=1, triggers=()),
    JobScript(LONG_B, "Long B", (CLONE, LONG_BUILD), queue_seconds=1, triggers=()),
    JobScript(CORE_NIGHTLY, "Nightly", (CLONE, PASSING_BUILD), 1, "scheduled"),
    JobScript(
        MARKETING_NIGHTLY,
        "Nightly",
        (CLONE, PASSING_BUILD),
        1,
        "scheduled",
        project_id=71,
        project_name="marketing",
    ),
    JobScript(API_ONLY, "API only CI", (CLONE, PASSING_BUILD), queue_seconds=1, triggers=()),
    JobScript(CORE, "Core CI", (CLONE, PASSING_BUILD), 1, project_id=72, project_name="core"),
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=TIME_SCALE) as emulator:
        yield emulator


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GITHUB_TOKEN, repository=REPOSITORY) as fake:
        yield fake


@pytest.fixture
def runner(tmp_path: Path, github: FakeGitHub) -> SimulatedRunner:
    return SimulatedRunner(
        tmp_path,
        event_name="pull_request",
        event=load_event("pull_request.opened.json"),
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPOSITORY},
    )


def inputs_for(emu: Emulator, **extra: str) -> dict[str, str]:
    return {
        "access-url": emu.url,
        "api-token": TOKEN,
        "account-id": str(emu.account_id),
        "poll-interval": "1",
        "github-token": GITHUB_TOKEN,
        **extra,
    }


def commands(result: StepResult, name: str) -> list[str]:
    return [c.data for c in parse_workflow_commands(result.stdout).named(name)]


def triggers(emu: Emulator) -> list[Any]:
    return [r for r in emu.requests if r.endpoint == "trigger"]


def cancels(emu: Emulator) -> list[str]:
    return sorted(r.path for r in emu.requests if r.endpoint == "cancel")


def run_path(emu: Emulator, run_id: int, suffix: str = "") -> str:
    return f"/api/v2/accounts/{emu.account_id}/runs/{run_id}/{suffix}"


# -- two jobs, one fails ----------------------------------------------------------------------


def test_two_jobs_one_failing_are_started_together_and_reported_as_one_step(
    emu: Emulator, github: FakeGitHub, runner: SimulatedRunner
) -> None:
    result = runner.run(
        inputs_for(
            emu,
            **{
                "job-id": f"{ORDERS},\n{MARKETING}",
                "schema-override": "pr_{pr}_job_{job_id}",
                "comment-on-pr": "true",
                "commit-status": "true",
                "artifacts": "run_results.json",
            },
        )
    )

    assert result.exit_code == 1, result.log
    assert "Traceback" not in result.log and GITHUB_TOKEN not in result.log
    # started concurrently: both triggers within a second of each other
    started = [request.received_at for request in triggers(emu)]
    assert len(started) == 2 and abs(started[0] - started[1]) < 1.0, started
    bodies = {request.path.split("/jobs/")[1]: request.body for request in triggers(emu)}
    assert bodies[f"{ORDERS}/run/"]["schema_override"] == f"pr_2_job_{ORDERS}"
    assert bodies[f"{MARKETING}/run/"]["schema_override"] == f"pr_2_job_{MARKETING}"
    runs = {run["job_definition_id"]: run["id"] for run in emu.created_runs()}

    # outputs: runs per job, the overall status, the shared values
    assert result.outputs["status"] == "error"
    assert result.outputs["run-id"] == "" and result.outputs["status-code"] == ""
    assert result.outputs["git-sha"] == PR_SHA and result.outputs["pull-request"] == "2"
    assert result.outputs["schema-override"] == ""  # each job's own: read it from runs
    each = json.loads(result.outputs["runs"])
    assert [(r["job-id"], r["status"], r["status-code"]) for r in each] == [
        (str(ORDERS), "success", "10"),
        (str(MARKETING), "error", "20"),
    ]
    assert [r["run-id"] for r in each] == [str(runs[ORDERS]), str(runs[MARKETING])]
    assert [r["job-name"] for r in each] == ["Orders CI", "Marketing CI"]
    assert each[1]["schema-override"] == f"pr_2_job_{MARKETING}"
    assert each[0]["artifacts"] == f"target/{ORDERS}/run_results.json"
    for job_id in (ORDERS, MARKETING):  # each job's artifacts in its own directory
        assert (runner.workspace / "target" / str(job_id) / "run_results.json").is_file()

    # one summary: the overview first, then each job's section
    summary = result.summary
    overview = summary.index("| Job | Run | Status | Duration | Failed models and tests |")
    assert overview < summary.index("Orders CI") and "2 jobs, error" in summary
    assert f"Orders CI (id {ORDERS}) | [#{runs[ORDERS]}]" in summary
    assert "| ❌ error |" in summary and "| 2 |" in summary  # two failing tests of Marketing
    assert summary.count("## ✅ dbt Cloud") == 1 and summary.count("## ❌ dbt Cloud") == 2
    assert "unique_campaign_id" in summary.replace("\\", "")

    # one PR comment for the set, one commit status per job
    [comment] = [c for c in github.comments(PR_NUMBER) if c["user"]["login"] == BOT_LOGIN]
    assert comment["body"].startswith(f"<!-- dbt-cloud-action:jobs={ORDERS},{MARKETING} -->")
    assert "Orders CI" in comment["body"] and "Marketing CI" in comment["body"]
    final = {s["context"]: s["state"] for s in github.statuses(PR_SHA)}  # the last one wins
    assert final == {"dbt Cloud / Orders CI": "success", "dbt Cloud / Marketing CI": "failure"}

    # both are CI jobs that dbt Cloud runs on pull requests by itself: each is warned about
    warnings = [w for w in commands(result, "warning") if "mode: follow" in w]
    assert len(warnings) == 2 and all("two runs" in w for w in warnings), warnings
    assert records(result.state) == [
        {"run_id": runs[ORDERS], "ended": True, "leave": ""},
        {"run_id": runs[MARKETING], "ended": True, "leave": ""},
    ]


def records(state: Mapping[str, str]) -> list[dict[str, object]]:
    """The post step's record of each run, but the trigger's key saved before its POST."""
    return [
        {key: record[key] for key in ("run_id", "ended", "leave")}
        for record in json.loads(state["runs"])
    ]


def test_each_run_keeps_its_own_lifecycle(emu: Emulator, runner: SimulatedRunner) -> None:
    """One job's run is already going for the commit (attached to), the other's is triggered;
    the long one times out and is cancelled while the short one succeeds."""
    attached = emu_trigger(emu, LONG_A)
    result = runner.run(inputs_for(emu, **{"job-id": f"{LONG_A} {API_ONLY}", "timeout": "4s"}))

    assert result.exit_code == 1, result.log
    assert result.outputs["status"] == "timed-out"
    each = json.loads(result.outputs["runs"])
    assert [(r["job-id"], r["origin"], r["status"]) for r in each] == [
        (str(LONG_A), "attached", "timed-out"),
        (str(API_ONLY), "triggered", "success"),
    ]
    assert each[0]["run-id"] == str(attached)
    assert status_of(emu, attached) == 30  # cancelled on timeout
    assert [r.path for r in triggers(emu)] == [
        f"/api/v2/accounts/{emu.account_id}/jobs/{LONG_A}/run/",  # the one started elsewhere
        f"/api/v2/accounts/{emu.account_id}/jobs/{API_ONLY}/run/",
    ]


def emu_trigger(emu: Emulator, job_id: int) -> int:
    """A run of `job_id` for the pull request's commit, started by another client."""
    reply = requests.post(
        f"{emu.url}/api/v2/accounts/{emu.account_id}/jobs/{job_id}/run/",
        headers={"Authorization": f"Token {TOKEN}"},
        json={"cause": "elsewhere", "git_sha": PR_SHA, "github_pull_request_id": PR_NUMBER},
        timeout=5,
    )
    assert reply.ok, reply.text
    run_id: int = reply.json()["data"]["id"]
    return run_id


def test_no_double_run_warning_off_pull_requests(emu: Emulator, tmp_path: Path) -> None:
    """dbt Cloud's CI trigger starts runs for pull requests only: a push triggers one run."""
    push = SimulatedRunner(tmp_path, event_name="push", event=load_event("push.branch.json"))
    result = push.run(inputs_for(emu, **{"job-id": str(ORDERS)}))
    assert result.exit_code == 0, result.log
    assert commands(result, "warning") == []


def test_fail_on_error_false_reports_both_and_passes(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    result = runner.run(
        inputs_for(emu, **{"job-id": f"{ORDERS} {MARKETING}", "fail-on-error": "false"})
    )
    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "error"
    assert len(json.loads(result.outputs["runs"])) == 2


def test_a_job_listed_twice_is_an_input_error_before_any_request(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    result = runner.run(inputs_for(emu, **{"job-id": f"{ORDERS}, {MARKETING}, {ORDERS}"}))
    assert result.exit_code == 1
    assert commands(result, "error") == [
        f"Input 'job-id' lists job {ORDERS} twice; list each job once. Set job-id to the number "
        "in the job's URL: .../jobs/<job-id>/"
    ]
    assert emu.requests == []


def test_an_unknown_job_among_several_starts_no_run(emu: Emulator, runner: SimulatedRunner) -> None:
    result = runner.run(inputs_for(emu, **{"job-id": f"{API_ONLY} 999"}))
    assert result.exit_code == 1, result.log
    [error] = commands(result, "error")
    assert "999" in error, error
    assert triggers(emu) == [] and "run_id" not in result.state and "runs" not in result.state
    assert "No dbt Cloud run was started" in result.stdout
    assert "Traceback" not in result.log


def test_wait_false_triggers_both_and_hands_them_over(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    result = runner.run(inputs_for(emu, **{"job-id": f"{LONG_A} {LONG_B}", "wait": "false"}))
    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "triggered"
    assert [r["status"] for r in json.loads(result.outputs["runs"])] == ["triggered"] * 2
    assert [r["leave"] for r in json.loads(result.state["runs"])] == ["wait is false"] * 2
    assert all(status_of(emu, run["id"]) in ACTIVE for run in emu.created_runs())


# -- cancel and the post step -----------------------------------------------------------------


def both_polled(emu: Emulator, step: SignalledStep) -> list[int]:
    """The two runs, once the step is following each of them."""
    wait_for(lambda: len(emu.created_runs()) == 2, "both triggers", timeout=20.0)
    by_job = {run["job_definition_id"]: run["id"] for run in emu.created_runs()}
    run_ids = [by_job[LONG_A], by_job[LONG_B]]  # in the order of job-id, as the state lists them
    for run_id in run_ids:
        path = run_path(emu, run_id)
        wait_for(
            lambda path=path: (
                sum(r.path == path for r in emu.requests) >= 2  # type: ignore[misc]
                or step.proc.poll() is not None
            ),
            f"the step to poll {path}",
            timeout=20.0,
        )
    assert step.proc.poll() is None, step.proc.communicate()
    return run_ids


def test_a_cancel_signal_cancels_both_runs_within_the_budget(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    step = SignalledStep(runner, inputs_for(emu, **{"job-id": f"{LONG_A} {LONG_B}"}))
    run_ids = both_polled(emu, step)
    signalled = time.monotonic()
    step.proc.send_signal(signal.SIGINT)
    result = runner.finish(step.proc, step.env, step.started, timeout=30)
    elapsed = time.monotonic() - signalled

    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT, result.log
    assert [status_of(emu, run_id) for run_id in run_ids] == [30, 30]
    assert cancels(emu) == sorted(run_path(emu, run_id, "cancel/") for run_id in run_ids)
    assert result.outputs["status"] == "cancelled"
    assert [r["status"] for r in json.loads(result.outputs["runs"])] == ["cancelled"] * 2
    assert result.summary.lower().count("cancelled by the workflow") == 2
    assert [r["ended"] for r in json.loads(result.state["runs"])] == [True, True]
    assert "Traceback" not in result.log


def test_a_cancel_while_both_triggers_are_in_flight_cancels_the_runs_they_created(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    # the runs are created at once; the answers to the triggers come 8 s later
    emu.faults.add(Fault("trigger", kind="delay", delay=8))
    step = SignalledStep(runner, inputs_for(emu, **{"job-id": f"{LONG_A} {LONG_B}"}))
    wait_for(
        lambda: len(emu.created_runs()) == 2, "both triggers to create their runs", timeout=20.0
    )
    time.sleep(0.2)
    signalled = time.monotonic()
    step.proc.send_signal(signal.SIGINT)
    result = runner.finish(step.proc, step.env, step.started, timeout=30)
    elapsed = time.monotonic() - signalled

    assert elapsed < SIGNAL_BUDGET_SECONDS, (elapsed, result.log)
    assert result.exit_code == 128 + signal.SIGINT, result.log
    run_ids = [run["id"] for run in emu.created_runs()]
    assert [status_of(emu, run_id) for run_id in run_ids] == [30, 30], result.log
    assert cancels(emu) == sorted(run_path(emu, run_id, "cancel/") for run_id in run_ids)
    assert result.outputs["status"] == "cancelled"
    assert sorted(r["run_id"] for r in json.loads(result.state["runs"])) == sorted(run_ids)
    assert "Traceback" not in result.log


def test_the_post_step_after_a_kill_cancels_both_runs(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    inputs = inputs_for(emu, **{"job-id": f"{LONG_A} {LONG_B}"})
    step = SignalledStep(runner, inputs)
    run_ids = both_polled(emu, step)
    step.proc.send_signal(signal.SIGKILL)
    step.proc.communicate(timeout=10)
    assert all(status_of(emu, run_id) in ACTIVE for run_id in run_ids)
    state = step.state()
    assert records(state) == [{"run_id": run_id, "ended": False, "leave": ""} for run_id in run_ids]

    started = time.monotonic()
    post = runner.run(inputs, post=True, state=state, timeout=30)
    assert time.monotonic() - started < SIGNAL_BUDGET_SECONDS, post.log
    assert post.exit_code == 0, post.log
    assert [status_of(emu, run_id) for run_id in run_ids] == [30, 30]
    assert cancels(emu) == sorted(run_path(emu, run_id, "cancel/") for run_id in run_ids)
    for run_id in run_ids:
        assert f"Cancelled dbt Cloud run {run_id}" in post.stdout


def test_the_post_step_leaves_runs_that_ended_or_were_handed_over(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    state = {"runs": json.dumps([
        {"run_id": 7, "ended": True, "leave": ""},
        {"run_id": 8, "ended": False, "leave": "wait is false"},
    ])}  # fmt: skip
    post = runner.run(inputs_for(emu, **{"job-id": f"{LONG_A} {LONG_B}"}), post=True, state=state)
    assert post.exit_code == 0, post.log
    assert "dbt Cloud run 7 ended during the step" in post.stdout
    assert "dbt Cloud run 8 is left to finish on its own: wait is false." in post.stdout
    assert emu.requests == []


# -- the example in docs/several-jobs.md -----------------------------------------------------


def test_the_documented_example_runs_as_written(
    emu: Emulator, github: FakeGitHub, runner: SimulatedRunner
) -> None:
    page = Path(__file__).resolve().parent.parent / "docs" / "several-jobs.md"
    section = page.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    step = yaml.safe_load(block.group(1))[0]
    given = {name: str(value).lower() if isinstance(value, bool) else str(value)
             for name, value in step["with"].items()}  # fmt: skip
    given.update({"access-url": emu.url, "api-token": TOKEN, "account-id": str(emu.account_id)})
    result = runner.run({**given, "poll-interval": "1", "github-token": GITHUB_TOKEN})

    assert result.exit_code == 1, result.log  # Marketing CI fails
    each = json.loads(result.outputs["runs"])
    assert [(r["job-id"], r["job-name"], r["status"]) for r in each] == [
        (str(CORE), "Core CI", "success"),
        (str(MARKETING), "Marketing CI", "error"),
    ]
    assert [r["schema-override"] for r in each] == [
        f"dbt_cloud_pr_{CORE}_2",
        f"dbt_cloud_pr_{MARKETING}_2",
    ]
    [comment] = github.comments(PR_NUMBER)
    assert comment["body"].startswith(f"<!-- dbt-cloud-action:jobs={MARKETING},{CORE} -->")
    assert {s["context"] for s in github.statuses(PR_SHA)} == {
        "dbt Cloud / Core CI",
        "dbt Cloud / Marketing CI",
    }


# -- job-name -----------------------------------------------------------------------------------


def test_job_name_runs_the_one_job_it_names(emu: Emulator, runner: SimulatedRunner) -> None:
    result = runner.run(inputs_for(emu, **{"job-name": "Marketing / Production / nightly"}))
    assert result.exit_code == 0, result.log
    [trigger] = triggers(emu)
    assert trigger.path.endswith(f"/jobs/{MARKETING_NIGHTLY}/run/")
    assert result.outputs["job-name"] == "Nightly"
    assert json.loads(result.outputs["runs"])[0]["job-id"] == str(MARKETING_NIGHTLY)
    lookups = [r for r in emu.requests if r.endpoint == "list_jobs"]
    assert [r.query.get("name__icontains") for r in lookups] == [["nightly"]]
    assert lookups[0].received_at < trigger.received_at


def test_job_name_matching_several_jobs_lists_them_and_triggers_nothing(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    result = runner.run(inputs_for(emu, **{"job-name": "API only CI\nNightly"}))
    assert result.exit_code == 1
    [error] = commands(result, "error")
    assert error.startswith("Input 'job-name' line 'Nightly' matches 2 jobs: ")
    assert f'#{CORE_NIGHTLY} "Nightly" (project jaffle_shop #70' in error
    assert f'#{MARKETING_NIGHTLY} "Nightly" (project marketing #71' in error
    assert "project / environment / job" in error
    assert triggers(emu) == [] and "Traceback" not in result.log


def test_job_name_matching_no_job_says_so_and_triggers_nothing(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    result = runner.run(inputs_for(emu, **{"job-name": "Weekly"}))
    assert result.exit_code == 1
    [error] = commands(result, "error")
    assert "no job's name contains 'Weekly'" in error
    assert triggers(emu) == []


def test_job_id_and_job_name_together_is_an_input_error(
    emu: Emulator, runner: SimulatedRunner
) -> None:
    result = runner.run(inputs_for(emu, **{"job-id": str(ORDERS), "job-name": "Orders CI"}))
    assert result.exit_code == 1
    [error] = commands(result, "error")
    assert error.startswith("Input 'job-id' and input 'job-name' are both set")
    assert emu.requests == []


# -- the CLI ------------------------------------------------------------------------------------


def test_the_cli_runs_several_jobs(emu: Emulator, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    proc = run_cli(
        ["--job-id", f"{API_ONLY},{MARKETING}", "--json", "--summary-file", str(summary)],
        {
            "DBT_CLOUD_ACCESS_URL": emu.url,
            "DBT_CLOUD_API_TOKEN": TOKEN,
            "DBT_CLOUD_ACCOUNT_ID": str(emu.account_id),
            "DBT_CLOUD_POLL_INTERVAL": "1",
            "DBT_CLOUD_GIT_SHA": "none",
        },
        tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    outputs = json.loads(proc.stdout[proc.stdout.index("{\n") :])
    assert outputs["status"] == "error"
    assert [(r["job-id"], r["status"]) for r in json.loads(outputs["runs"])] == [
        (str(API_ONLY), "success"),
        (str(MARKETING), "error"),
    ]
    text = summary.read_text()
    assert "API only CI" in text and "Marketing CI" in text and "2 jobs, error" in text
    assert TOKEN not in proc.stdout + proc.stderr


def test_the_cli_takes_job_names(emu: Emulator, tmp_path: Path) -> None:
    proc = run_cli(
        ["--job-name", "API only CI", "--json", "--git-sha", "none"],
        {
            "DBT_CLOUD_ACCESS_URL": emu.url,
            "DBT_CLOUD_API_TOKEN": TOKEN,
            "DBT_CLOUD_ACCOUNT_ID": str(emu.account_id),
            "DBT_CLOUD_POLL_INTERVAL": "1",
        },
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = json.loads(proc.stdout[proc.stdout.index("{\n") :])
    assert outputs["status"] == "success" and outputs["job-name"] == "API only CI"
