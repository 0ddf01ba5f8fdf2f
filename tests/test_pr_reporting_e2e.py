"""Reporting where users look, through the real entrypoint: PR comment, commit status, results
and artifacts, against the dbt Cloud emulator and a fake GitHub API, both over loopback HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dbt_cloud_emulator import Emulator, EmulatorConfig, Fault, JobScript, NodeResult, StepScript
from tests import markdown_check
from tests.fake_github import BOT_LOGIN, FakeGitHub
from tests.runner_files import parse_workflow_commands
from tests.simulated_runner import SimulatedRunner, StepResult, emulator_inputs, load_event

TOKEN = "dbtc_prReportingToken_0123456789abcdef"
GITHUB_TOKEN = "ghs_fakeGitHubToken_0123456789abcdef"
REPOSITORY = "Codertocat/Hello-World"  # the event fixtures' repository
WORKFLOW_RUN_URL = f"https://github.com/{REPOSITORY}/actions/runs/9001"  # SimulatedRunner's
PR_NUMBER = 2  # of pull_request.opened.json and pull_request.synchronize.fork.json
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # their head.sha

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
        NodeResult("model.shop.orders", "success", 3.5),
        NodeResult(
            "test.shop.unique_orders_id",
            "fail",
            0.4,
            "Got 3 results, configured to fail if != 0",
            "test",
        ),
        NodeResult(
            "test.shop.accepted_values_orders_status",
            "fail",
            0.5,
            "Got 1 result, configured to fail if != 0",
            "test",
        ),
    ),
)
HOSTILE_MESSAGE = (
    "Got 3 results | **bold** `tick` <script>alert(1)</script> <img src=x onerror=alert(1)> "
    "@octocat @org/team #1 [click](javascript:alert(1))\n</details>\n```\n<!-- -->"
)
HOSTILE_BUILD = StepScript(
    "Invoke dbt with `dbt build` </details> @octocat",
    "dbt build",
    duration=10,
    outcome=20,
    logs="Failure in test <b>x</b> @octocat\n```\n</details><script>alert(2)</script>",
    results=(
        NodeResult("test.shop.hostile_check", "fail", 0.4, HOSTILE_MESSAGE, "test"),
        NodeResult("model.shop.orders", "error", 1.0, "Database Error: <img src=y> @admin #7"),
    ),
)
SEED = StepScript(
    "Invoke dbt with `dbt seed`",
    "dbt seed",
    duration=5,
    results=(NodeResult("seed.shop.raw_orders", "success", 1.0, resource_type="seed"),),
)

DOCS = StepScript("Invoke dbt with `dbt docs generate`", "dbt docs generate", duration=3)

PASSING, FAILING, HOSTILE, LATE, NO_ARTIFACTS, TWO_DBT_STEPS, SLOW_PASSING, SLOW_FAILING = range(
    21, 29
)
SEED_BUILD_DOCS, SEED_THEN_FAILING, BIG_BUILD = 29, 30, 31
BIG_BUILD_NODES = tuple(NodeResult(f"model.shop.m{i:03d}", "success", 1.0) for i in range(200))
SLOW = 150  # emulated seconds: 1.5 s at TIME_SCALE, time to see a run in progress
TIME_SCALE = 100.0
RR = "run_results.json"
RUNNER_UID, RUNNER_GID = 1001, 127  # the GitHub-hosted runner's user and docker group
JOBS = (
    # API-only CI jobs (dbt Cloud's own pull request trigger off): the tests of warnings count
    # exactly, and a CI job that dbt Cloud also runs by itself is warned about (two runs)
    JobScript(PASSING, "CI build", (CLONE, PASSING_BUILD), queue_seconds=1, triggers=()),
    JobScript(FAILING, "CI failing tests", (CLONE, FAILING_BUILD), queue_seconds=1, triggers=()),
    JobScript(
        HOSTILE, "CI <img src=x onerror=alert(1)> @octocat", (CLONE, HOSTILE_BUILD), queue_seconds=1
    ),
    JobScript(LATE, "CI late artifacts", (CLONE, PASSING_BUILD), 1, artifacts="late:250"),
    JobScript(
        NO_ARTIFACTS, "CI no artifacts", (CLONE, PASSING_BUILD), 1, artifacts="none", triggers=()
    ),
    JobScript(TWO_DBT_STEPS, "CI seed and build", (CLONE, SEED, PASSING_BUILD), queue_seconds=1),
    JobScript(SLOW_PASSING, "CI slow build", (CLONE, replace(PASSING_BUILD, duration=SLOW))),
    JobScript(SLOW_FAILING, "CI slow failing", (CLONE, replace(FAILING_BUILD, duration=SLOW))),
    JobScript(SEED_BUILD_DOCS, "Deploy with docs", (CLONE, SEED, PASSING_BUILD, DOCS), 1),
    JobScript(SEED_THEN_FAILING, "CI seed, failing build", (CLONE, SEED, FAILING_BUILD, DOCS), 1),
    JobScript(
        BIG_BUILD,
        "Deploy of 200 models",
        (CLONE, replace(PASSING_BUILD, duration=400, results=BIG_BUILD_NODES)),
        queue_seconds=1,
    ),
)

JOB_NAMES = {job.id: job.name for job in JOBS}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(token=TOKEN, jobs=JOBS)
    with Emulator(config=config, time_scale=TIME_SCALE) as emulator:
        yield emulator


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GITHUB_TOKEN, repository=REPOSITORY) as fake:
        yield fake


def inputs_for(emu: Emulator, job_id: int, **extra: str) -> dict[str, str]:
    return emulator_inputs(
        emu, job_id, **{"poll-interval": "1", "github-token": GITHUB_TOKEN, **extra}
    )


def reporting(**features: bool) -> dict[str, str]:
    return {name.replace("_", "-"): str(on).lower() for name, on in features.items()}


def runner(
    tmp_path: Path,
    github: FakeGitHub,
    *,
    event: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> SimulatedRunner:
    return SimulatedRunner(
        tmp_path,
        event_name="pull_request",
        event=event if event is not None else load_event("pull_request.opened.json"),
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPOSITORY, **(env or {})},
    )


def bot_comments(github: FakeGitHub) -> list[dict[str, Any]]:
    return [c for c in github.comments(PR_NUMBER) if c["user"]["login"] == BOT_LOGIN]


def commands(result: StepResult, name: str) -> list[str]:
    """The data of the workflow commands `name` (warning, notice...) the runner acted on."""
    return [c.data for c in parse_workflow_commands(result.stdout).named(name)]


def assert_clean(result: StepResult) -> None:
    assert "Traceback" not in result.log, result.log
    assert GITHUB_TOKEN not in result.log


def artifact_requests(emu: Emulator, path: str) -> list[int]:
    """The HTTP statuses the emulator answered for downloads of `path`, in order."""
    return [
        r.status
        for r in emu.requests
        if r.endpoint == "get_artifact" and r.path.endswith(f"/artifacts/{path}")
    ]


def artifact_calls(emu: Emulator) -> list[tuple[str, str, list[str]]]:
    """(endpoint, artifact path, step query) of every artifact request, in order."""
    return [
        (r.endpoint, r.path.partition("/artifacts/")[2], r.query.get("step", []))
        for r in emu.requests
        if r.endpoint in ("list_artifacts", "get_artifact")
    ]


def step_end_after_run_end(emu: Emulator, result: StepResult) -> float:
    """Real seconds from the run's end in the emulator to the step's exit (just now)."""
    finished_at = emu.run(int(result.outputs["run-id"]))["finished_at"]
    return emu.real_seconds_since(finished_at)


# A bound for a pass/fail test on two busy shared cores: the step notices the end within its
# 1 s poll and ends a fraction of a second later (bench/stepend.py measures it); the old blind
# wait for a job without artifacts alone took 20 s.
STEP_END_BOUND = 8.0


def test_a_job_without_artifacts_ends_at_once_with_a_notice(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    result = step.run(inputs_for(emu, NO_ARTIFACTS, artifacts="run_results.json manifest.json"))
    lag = step_end_after_run_end(emu, result)

    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "success"
    assert result.outputs["artifacts"] == ""
    [notice] = commands(result, "notice")
    assert notice == (
        f"dbt Cloud saved no artifacts for run {result.outputs['run-id']}: model and test "
        "results are not shown and no artifact was downloaded."
    )
    assert commands(result, "error") == [] and commands(result, "warning") == []
    assert "dbt Cloud saved no artifacts" in result.summary
    assert not (step.workspace / "target").exists()
    assert artifact_calls(emu) == []  # artifacts_saved is false: nothing is asked, or waited for
    assert lag < STEP_END_BOUND


def test_a_job_with_artifacts_lists_them_once_and_ends_soon_after_its_run(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = runner(tmp_path, github).run(inputs_for(emu, PASSING, artifacts="run_results.json"))
    lag = step_end_after_run_end(emu, result)

    assert result.exit_code == 0, result.log
    assert "pass **2**" in result.summary
    # the list, then the build step's results, reused for the download
    assert artifact_calls(emu) == [("list_artifacts", "", []), ("get_artifact", RR, ["2"])]
    assert result.outputs["artifacts"] == "target/run_results.json"
    assert lag < STEP_END_BOUND


def test_polls_ask_for_steps_and_their_logs_only_when_they_can_have_changed(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = runner(tmp_path, github).run(inputs_for(emu, BIG_BUILD))

    assert result.exit_code == 0, result.log
    *polls, final = [r for r in emu.requests if r.endpoint == "get_run"]
    asked = [json.loads(r.query.get("include_related", ["[]"])[0]) for r in polls]
    assert len(polls) >= 3  # 1 s polls over a 4 s run
    assert asked[0] == []  # queued: the run alone
    # the steps (with their logs, here about 100 KB a time) only on the poll after the run
    # started; within a minute of that nothing else can ask for them
    assert asked.count(["run_steps"]) == 1
    assert asked.count([]) == len(polls) - 1
    assert json.loads(final.query["include_related"][0]) == ["run_steps", "job"]
    assert final.response_bytes > 20 * max(r.response_bytes for r in polls if not r.query)
    # the log still tells every step, and shows its log once, at the end
    assert "Step 1 'Clone git repository' succeeded" in result.stdout
    assert "Step 2 'Invoke dbt with `dbt build`' succeeded" in result.stdout
    assert result.stdout.count("  1 of 200 START sql table model") == 1


# -- the sticky comment -------------------------------------------------------------------------


def test_failed_run_comments_naming_failed_tests_and_a_second_run_edits_that_comment(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    other = github.add_comment(PR_NUMBER, "LGTM <!-- dbt-cloud-action:job=999 -->")
    step = runner(tmp_path, github)
    first = step.run(inputs_for(emu, FAILING, **reporting(comment_on_pr=True)))

    assert first.exit_code == 1, first.log
    assert_clean(first)
    [comment] = bot_comments(github)
    body = comment["body"]
    assert body.startswith(f"<!-- dbt-cloud-action:job={FAILING} -->")
    for summary_or_comment in (first.summary, body):
        assert "`test.shop.unique_orders_id`" in summary_or_comment
        assert "`test.shop.accepted_values_orders_status`" in summary_or_comment
        assert "Got 3 results" in summary_or_comment
        assert "fail **2**" in summary_or_comment
        assert f"run #{first.outputs['run-id']}" in summary_or_comment
    assert first.outputs["run-url"] in body
    assert WORKFLOW_RUN_URL in body  # where the full summary is
    assert f"Created comment {comment['id']} on #{PR_NUMBER}" in first.log

    second = step.run(inputs_for(emu, FAILING, **reporting(comment_on_pr=True)))

    assert second.exit_code == 1, second.log
    assert second.outputs["run-id"] != first.outputs["run-id"]
    [edited] = bot_comments(github)
    assert edited["id"] == comment["id"]
    assert f"run #{second.outputs['run-id']}" in edited["body"]
    assert f"run #{first.outputs['run-id']}" not in edited["body"]
    assert f"Updated comment {comment['id']} on #{PR_NUMBER}" in second.log
    assert github.comments(PR_NUMBER)[0] == other  # someone else's comment is left alone
    assert len(github.comments(PR_NUMBER)) == 2
    writes = [r for r in github.requests if r.method != "GET"]
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in writes] == [
        ("POST", "comments"),
        ("PATCH", str(comment["id"])),
    ]


def test_a_comment_with_our_marker_by_someone_else_is_never_edited(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    planted = github.add_comment(
        PR_NUMBER, f"<!-- dbt-cloud-action:job={PASSING} -->\n✅ all good, merge it", user="mallory"
    )
    step = runner(tmp_path, github)
    first = step.run(inputs_for(emu, PASSING, **reporting(comment_on_pr=True)))
    second = step.run(inputs_for(emu, PASSING, **reporting(comment_on_pr=True)))

    assert (first.exit_code, second.exit_code) == (0, 0), first.log + second.log
    [ours] = bot_comments(github)
    assert github.comments(PR_NUMBER) == [planted, ours]
    assert f"run #{second.outputs['run-id']}" in ours["body"]
    assert f"Created comment {ours['id']} on #{PR_NUMBER} (1 with the marker by others" in (
        first.log
    )
    assert f"Updated comment {ours['id']} on #{PR_NUMBER}" in second.log
    # the workflow token cannot read GET /user (403): it is taken as github-actions[bot]
    assert [r.path for r in github.requests if r.path == "/user"] == ["/user", "/user"]


def test_untrusted_text_is_escaped_in_the_comment(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    event = load_event("pull_request.opened.json")
    hostile_branch = "feat/<img_src=x_onerror=alert(1)>@octocat|**x**`y`</details>"
    event["pull_request"]["head"]["ref"] = hostile_branch
    # git-sha: none, so the hostile branch itself is sent (dbt Cloud takes a commit or a branch)
    result = runner(tmp_path, github, event=event).run(
        inputs_for(emu, HOSTILE, **{"git-sha": "none", **reporting(comment_on_pr=True)})
    )

    assert result.exit_code == 1, result.log
    assert_clean(result)
    [comment] = bot_comments(github)
    for markdown in (comment["body"], result.summary):
        assert markdown_check.live_html(markdown) == []
        assert markdown_check.mentions(markdown) == []
        assert {"#1", "#7"}.isdisjoint(markdown_check.references(markdown))
        facts, problems, *_ = markdown_check.tables(markdown)
        assert all(len(row) == 2 for row in facts)
        assert all(len(row) == 4 for row in problems)
        [branch] = [row[1] for row in facts if row[0] == "**Branch**"]
        assert markdown_check.code_span_text(branch) == hostile_branch
        messages = [markdown_check.decode_text(row[3]) for row in problems[2:]]
        assert any("<script>alert(1)</script>" in m and "**bold**" in m for m in messages)
        links = set(re.findall(r"(?<!\\)\]\(([^)]*)\)", markdown))  # no javascript: link
        assert result.outputs["run-url"] in links
        assert links <= {result.outputs["run-url"], WORKFLOW_RUN_URL}


# -- the commit status --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_id", "final_state"), [(SLOW_PASSING, "success"), (SLOW_FAILING, "failure")]
)
def test_commit_status_is_pending_while_the_run_goes_then_final(
    emu: Emulator, github: FakeGitHub, tmp_path: Path, job_id: int, final_state: str
) -> None:
    step = runner(tmp_path, github)
    started = time.monotonic()
    proc, env = step.start(inputs_for(emu, job_id, **reporting(commit_status=True)))
    while not github.statuses(PR_SHA):
        assert proc.poll() is None, "the step ended before setting a pending status"
        assert time.monotonic() - started < 20
        time.sleep(0.02)
    [run] = emu.created_runs()
    assert emu.run(run["id"])["status"] in (1, 2, 3)  # still going when pending was set
    [pending] = github.statuses(PR_SHA)
    result = step.finish(proc, env, started, timeout=30)

    assert result.exit_code == (0 if final_state == "success" else 1), result.log
    assert_clean(result)
    statuses = github.statuses(PR_SHA)
    assert [s["state"] for s in statuses] == ["pending", final_state]
    assert {s["context"] for s in statuses} == {f"dbt Cloud / {JOB_NAMES[job_id]}"}
    assert {s["target_url"] for s in statuses} == {result.outputs["run-url"]}
    assert pending["description"] == f"dbt Cloud run {run['id']} is in progress"
    verb = "succeeded in" if final_state == "success" else "failed after"
    assert re.fullmatch(
        rf"dbt Cloud run {run['id']} {verb} \d+(\.\d)?[smh].*", statuses[-1]["description"]
    )
    assert [r.path for r in github.requests] == [f"/repos/{REPOSITORY}/statuses/{PR_SHA}"] * 2


def test_commit_status_is_resolved_when_dbt_cloud_stops_answering(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    """An outage does not end the step (it keeps following the run), but the timeout does: the
    pending status is resolved then, as dbt Cloud says. Here the polls went unanswered while
    the run succeeded; the timeout's cancel answers with the run as it is: a success, reported
    as one (not as timed out, which would be a guess from the step's own clock)."""
    emu.faults.add(Fault("get_run", calls=None, status=503, retry_after=0))
    result = runner(tmp_path, github, env={"DBT_CLOUD_ACTION_RETRY_SECONDS": "1"}).run(
        inputs_for(emu, PASSING, timeout="3s", **reporting(commit_status=True))
    )
    [run] = emu.created_runs()
    assert emu.run(run["id"])["status"] == 10
    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "success" and result.outputs["status-code"] == "10"
    assert "Timed out after 3s: cancelling run" in result.stdout
    statuses = github.statuses(PR_SHA)
    assert [s["state"] for s in statuses] == ["pending", "success"]
    assert statuses[-1]["description"].startswith(f"dbt Cloud run {run['id']} succeeded")


def test_commit_status_is_resolved_when_dbt_cloud_refuses_to_answer(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    """A definite refusal (here 403) while following is not an outage: the step ends at once
    and resolves the pending status."""
    emu.faults.add(Fault("get_run", calls=None, status=403))
    result = runner(tmp_path, github).run(inputs_for(emu, PASSING, **reporting(commit_status=True)))
    assert result.exit_code == 1, result.log
    [run] = emu.created_runs()
    statuses = github.statuses(PR_SHA)
    assert [s["state"] for s in statuses] == ["pending", "error"]
    assert statuses[-1]["description"] == (
        f"dbt Cloud stopped answering while run {run['id']} was followed"
    )


@pytest.mark.parametrize(("job_id", "exit_code"), [(PASSING, 0), (FAILING, 1)])
def test_read_only_github_token_warns_and_the_dbt_outcome_alone_decides(
    emu: Emulator, github: FakeGitHub, tmp_path: Path, job_id: int, exit_code: int
) -> None:
    """A read-only GITHUB_TOKEN (Dependabot pull requests, or a repository that grants no
    write permission): GitHub answers 403 to every write."""
    github.forbid("comments")
    github.forbid("statuses")
    result = runner(tmp_path, github).run(
        inputs_for(emu, job_id, **reporting(comment_on_pr=True, commit_status=True))
    )

    assert result.exit_code == exit_code, result.log
    assert_clean(result)
    warnings = commands(result, "warning")
    assert sum("`statuses: write`" in w for w in warnings) == 2  # pending, then the final one
    assert sum("`pull-requests: write`" in w for w in warnings) == 1
    assert all("403" in w and "dbt Cloud outcome still decides" in w for w in warnings)
    assert result.outputs["status"] == ("success" if exit_code == 0 else "error")
    assert github.comments(PR_NUMBER) == []
    assert github.statuses(PR_SHA) == []


# -- PyGithub only when needed --------------------------------------------------------------


@pytest.mark.parametrize(
    ("features", "imports_pygithub"),
    [({}, False), ({"comment_on_pr": True}, True), ({"commit_status": True}, True)],
)
def test_pygithub_is_imported_only_when_a_github_feature_is_on(
    emu: Emulator,
    github: FakeGitHub,
    tmp_path: Path,
    features: dict[str, bool],
    imports_pygithub: bool,
) -> None:
    step = runner(tmp_path, github, env={"PYTHONPROFILEIMPORTTIME": "1"})
    switches = reporting(**{"comment_on_pr": False, "commit_status": False, **features})
    result = step.run(inputs_for(emu, PASSING, **switches))

    assert result.exit_code == 0, result.log
    imported = {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "dbt_cloud_action.action" in imported  # the import profile is really there
    assert ("github" in imported) is imports_pygithub
    assert bool(github.requests) is imports_pygithub


# -- results and artifacts ----------------------------------------------------------------------


def test_artifacts_are_saved_under_the_workspace_and_listed(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    inputs = {"artifacts": "run_results.json\n  manifest.json", "artifacts-dir": "out/dbt"}
    result = step.run(inputs_for(emu, TWO_DBT_STEPS, **inputs))

    assert result.exit_code == 0, result.log
    assert result.outputs["artifacts"].splitlines() == [
        "out/dbt/run_results.json",
        "out/dbt/manifest.json",
    ]
    saved = step.workspace / "out" / "dbt"
    results = json.loads((saved / "run_results.json").read_text())
    assert [r["unique_id"] for r in results["results"]] == [
        "model.shop.orders",
        "test.shop.not_null_orders_id",
    ]
    assert "model.shop.orders" in json.loads((saved / "manifest.json").read_text())["nodes"]
    assert "`out/dbt/run_results.json`" in result.summary


def test_saved_artifacts_and_their_folders_get_the_workspace_owner(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    """The container runs as root (as this suite does); the runner's user must be able to
    overwrite what the action saved."""
    step = runner(tmp_path, github)
    os.chown(step.workspace, RUNNER_UID, RUNNER_GID)
    inputs = {"artifacts": "run_results.json manifest.json", "artifacts-dir": "out/dbt"}
    result = step.run(inputs_for(emu, PASSING, **inputs))

    assert result.exit_code == 0, result.log
    for path in ("out", "out/dbt", "out/dbt/run_results.json", "out/dbt/manifest.json"):
        info = (step.workspace / path).stat()
        assert (info.st_uid, info.st_gid) == (RUNNER_UID, RUNNER_GID), path


def test_artifacts_step_selects_the_step(emu: Emulator, github: FakeGitHub, tmp_path: Path) -> None:
    step = runner(tmp_path, github)
    result = step.run(
        inputs_for(emu, TWO_DBT_STEPS, artifacts="run_results.json", **{"artifacts-step": "2"})
    )

    assert result.exit_code == 0, result.log
    assert result.outputs["artifacts"] == "target/run_results.json"
    results = json.loads((step.workspace / "target" / "run_results.json").read_text())
    assert [r["unique_id"] for r in results["results"]] == ["seed.shop.raw_orders"]
    download = [r for r in emu.requests if r.endpoint == "get_artifact"][-1]
    assert download.query.get("step") == ["2"]
    assert "`model.shop.orders`" in result.summary  # the results shown are every dbt step's


def test_results_come_from_each_dbt_step_not_the_last_docs_step(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = runner(tmp_path, github).run(
        inputs_for(emu, SEED_BUILD_DOCS, **reporting(comment_on_pr=True))
    )

    assert result.exit_code == 0, result.log
    [comment] = bot_comments(github)
    for markdown in (result.summary, comment["body"]):
        assert "- **Step 2** `dbt seed`: ✅ pass **1** ·" in markdown
        assert "- **Step 3** `dbt build`: ✅ pass **2** ·" in markdown
        assert "**All 2 steps:** ✅ pass **3** ·" in markdown
        assert "`model.shop.orders`" in markdown  # the slowest models of the build
    # the dbt steps' results, latest first; never the docs step's (it lists no models or tests)
    assert artifact_calls(emu) == [
        ("list_artifacts", "", []),
        ("get_artifact", RR, ["3"]),
        ("get_artifact", RR, ["2"]),
    ]


def test_a_failed_run_shows_the_failing_step_and_the_steps_before(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = runner(tmp_path, github).run(
        inputs_for(emu, SEED_THEN_FAILING, **reporting(comment_on_pr=True))
    )

    assert result.exit_code == 1, result.log
    [comment] = bot_comments(github)
    for markdown in (result.summary, comment["body"]):
        assert "- **Step 2** `dbt seed`: ✅ pass **1** ·" in markdown
        build = "- **Step 3** `dbt build`: ✅ pass **1** · ❌ error **0** · 🔴 fail **2**"
        assert build in markdown
        assert "`test.shop.unique_orders_id`" in markdown
    # the results of each dbt step, then (something failed) the failing step's manifest.json,
    # for the annotations on files (tests/test_feedback_e2e.py)
    assert [(call[1], call[2]) for call in artifact_calls(emu)] == [
        ("", []),
        (RR, ["3"]),
        (RR, ["2"]),
        ("manifest.json", ["3"]),
    ]


def test_late_artifacts_are_fetched_once_they_appear(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = runner(tmp_path, github).run(
        inputs_for(emu, LATE, artifacts="run_results.json manifest.json")
    )

    assert result.exit_code == 0, result.log
    fetches = artifact_requests(emu, "run_results.json")
    assert 404 in fetches[:-1]  # listed, so waited for (bounded) until it could be fetched
    assert fetches[-1] == 200  # the results, reused for the download
    assert artifact_requests(emu, "manifest.json") == [200]
    assert result.outputs["artifacts"].splitlines() == [
        "target/run_results.json",
        "target/manifest.json",
    ]
    assert "pass **2**" in result.summary
    assert commands(result, "notice") == []


def test_an_artifact_download_that_404s_at_first_is_retried(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    # get_artifact call 1 fetches the results; call 2, the download, finds nothing yet
    emu.faults.add(Fault("get_artifact", calls=(2,), status=404))
    result = runner(tmp_path, github).run(inputs_for(emu, PASSING, artifacts="manifest.json"))

    assert result.exit_code == 0, result.log
    assert artifact_requests(emu, "manifest.json") == [404, 200]
    assert result.outputs["artifacts"] == "target/manifest.json"
    assert commands(result, "notice") == []


def test_no_commit_status_without_waiting_as_it_would_stay_pending(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    inputs = inputs_for(emu, PASSING, wait="false", **reporting(commit_status=True))
    result = runner(tmp_path, github).run(inputs)

    assert result.exit_code == 0, result.log
    assert result.outputs["status"] == "triggered"
    assert github.statuses(PR_SHA) == []
    [notice] = commands(result, "notice")
    assert "No commit status or check run was set" in notice and "wait: true" in notice


def test_render_examples_writes_the_demo_failure_as_summary_and_comment(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    script = root / "scripts" / "render_examples.py"
    readme = tmp_path / "README.md"
    readme.write_text((root / "README.md").read_text())
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path), "--readme", str(readme)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    summary = (tmp_path / "example-summary.md").read_text()
    comment = (tmp_path / "example-comment.md").read_text()
    assert "<!-- dbt-cloud-action:job=102 -->" in comment
    for markdown in (summary, comment):
        assert markdown.startswith("<!-- Generated by scripts/render_examples.py")
        assert "`test.jaffle_shop.not_null_orders_order_id`" in markdown
        assert "https://ab123.us1.dbt.com/" in markdown
        assert "127.0.0.1" not in markdown
        assert markdown.strip() in readme.read_text()


def test_readme_shows_the_committed_examples() -> None:
    """The README's examples are the rendered files, never hand-edited copies."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    for name in ("summary", "comment"):
        rendered = (root / "docs" / f"example-{name}.md").read_text().strip()
        assert f"<!-- example:{name} -->\n\n{rendered}\n\n<!-- /example:{name} -->" in readme
