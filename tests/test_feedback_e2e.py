"""Feedback where reviewers look (issue 19), through the real entrypoint against the emulator and
a fake GitHub: failures on their files from the run's manifest.json, what they break
downstream, the JUnit report, comment modes, the check run, new or already failing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript
from tests.fake_github import FakeGitHub
from tests.runner_files import WorkflowCommand, parse_workflow_commands
from tests.simulated_runner import SimulatedRunner, StepResult, emulator_inputs, load_event
from tests.waiting import wait_for

TOKEN = "dbtc_feedbackToken_0123456789abcdef"
GITHUB_TOKEN = "ghs_feedbackGitHubToken_0123456789"
REPOSITORY = "Codertocat/Hello-World"
PR_NUMBER = 2
PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
TIME_SCALE = 100.0

CLONE = StepScript("Clone git repository", duration=1)
STG = NodeResult("model.shop.stg_orders", "success", 1.0)
ORDERS = NodeResult("model.shop.orders", "success", 2.0, depends_on=("model.shop.stg_orders",))
NOT_NULL = NodeResult(
    "test.shop.not_null_orders_id",
    "fail",
    0.4,
    "Got 3 results, configured to fail if != 0",
    "test",
    depends_on=("model.shop.orders",),
    column="id",
)
CUSTOMERS = NodeResult(
    "model.shop.customers",
    "error",
    1.0,
    "Database Error in model customers (models/customers.sql)\n  column x does not exist",
    depends_on=("model.shop.stg_orders",),
)
CLV = NodeResult("model.shop.clv", "skipped", 0.0, depends_on=("model.shop.customers",))
REVENUE = NodeResult("model.shop.revenue", "skipped", 0.0, depends_on=("model.shop.clv",))
FAILING_BUILD = StepScript(
    "Invoke dbt with `dbt build`",
    "dbt build",
    duration=10,
    outcome=20,
    results=(STG, ORDERS, NOT_NULL, CUSTOMERS, CLV, REVENUE),
)
PASSING_BUILD = StepScript(
    "Invoke dbt with `dbt build`", "dbt build", duration=10, results=(STG, ORDERS)
)
MANY_FAILURES = replace(
    FAILING_BUILD,
    results=tuple(
        NodeResult(f"test.shop.t{i:02d}", "fail", 0.1, "Got 1 result", "test", ("model.shop.o",))
        for i in range(15)
    ),
)
HOSTILE_ID = "model.shop.evil,file=x:y%0A::warning::z"
HOSTILE_BUILD = replace(
    FAILING_BUILD,
    results=(NodeResult(HOSTILE_ID, "error", 1.0, "::error file=a::b\r\n%0A, title=x: y"),),
)
FAILING, PASSING, SUBDIR, MANY, HOSTILE, FUSION, SLOW, SIXTY = range(41, 49)
JOBS = (
    JobScript(FAILING, "CI failing", (CLONE, FAILING_BUILD), 1, triggers=()),
    JobScript(PASSING, "CI passing", (CLONE, PASSING_BUILD), 1, triggers=()),
    JobScript(
        SUBDIR,
        "CI in transform/",
        (CLONE, FAILING_BUILD),
        1,
        triggers=(),
        project_subdirectory="transform",
    ),
    JobScript(MANY, "CI many failures", (CLONE, MANY_FAILURES), 1, triggers=()),
    JobScript(HOSTILE, "CI hostile", (CLONE, HOSTILE_BUILD), 1, triggers=()),
    JobScript(
        FUSION, "CI Fusion", (CLONE, FAILING_BUILD), 1, triggers=(), dbt_version="latest-fusion"
    ),
    JobScript(SLOW, "CI slow", (CLONE, replace(FAILING_BUILD, duration=200)), 1, triggers=()),
    JobScript(
        SIXTY,
        "CI sixty failures",
        (
            CLONE,
            replace(
                MANY_FAILURES,
                results=tuple(
                    replace(MANY_FAILURES.results[0], unique_id=f"test.shop.s{i:02d}")
                    for i in range(60)
                ),
            ),
        ),
        1,
        triggers=(),
    ),
)
SCHEMA_YML = """\
version: 2
models:
  - name: stg_orders
    columns:
      - name: id
  - name: orders
    description: one row per order
    columns:
      - name: status
      - name: id
        tests:
          - not_null
"""
NOT_NULL_LINE = 10  # the `- name: id` under orders


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=JOBS), time_scale=TIME_SCALE) as e:
        yield e


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=GITHUB_TOKEN, repository=REPOSITORY) as fake:
        yield fake


def runner(tmp_path: Path, github: FakeGitHub) -> SimulatedRunner:
    return SimulatedRunner(
        tmp_path,
        event_name="pull_request",
        event=load_event("pull_request.opened.json"),
        env={"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPOSITORY},
    )


def run(step: SimulatedRunner, emu: Emulator, job_id: int, **extra: str) -> StepResult:
    inputs = emulator_inputs(
        emu, job_id, **{"poll-interval": "1", "github-token": GITHUB_TOKEN, **extra}
    )
    result = step.run(inputs)
    assert "Traceback" not in result.log, result.log
    return result


def file_errors(result: StepResult) -> list[WorkflowCommand]:
    errors = parse_workflow_commands(result.stdout).named("error")
    return [c for c in errors if "file" in c.properties]


def manifest_requests(emu: Emulator) -> list[list[str]]:
    """The `step` query of each manifest.json download, in order."""
    return [
        r.query.get("step", [])
        for r in emu.requests
        if r.endpoint == "get_artifact" and r.path.endswith("/artifacts/manifest.json")
    ]


def checkout(step: SimulatedRunner, folder: str = "") -> None:
    models = step.workspace / folder / "models"
    models.mkdir(parents=True)
    (models / "schema.yml").write_text(SCHEMA_YML)


def by_file(result: StepResult) -> dict[tuple[str, str | None], WorkflowCommand]:
    return {(c.properties["file"], c.properties.get("line")): c for c in file_errors(result)}


# -- 1. failures on their files ----------------------------------------------------------------


def test_each_failure_is_annotated_on_its_file_from_the_manifest_fetched_once(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    checkout(step)
    result = run(step, emu, FAILING)

    assert result.exit_code == 1
    annotations = by_file(result)
    # the model on its SQL file (no line: the manifest has none, dbt's is the compiled SQL's)
    model = annotations[("models/customers.sql", None)]
    assert model.properties["title"] == "dbt model customers errored"
    assert "column x does not exist" in model.data
    assert "Downstream: 2 (clv, revenue)." in model.data
    # the generic test on its YAML file, on its column's line under its model
    test = annotations[("models/schema.yml", str(NOT_NULL_LINE))]
    assert test.properties["title"] == "dbt test not_null_orders_id failed"
    assert test.data.startswith("Got 3 results")
    assert len(annotations) == 2
    # fetched once, after the run, from the failing step (the one with run_results.json)
    assert manifest_requests(emu) == [["2"]]
    assert "2 failing nodes annotated on their files._" in result.summary


def test_without_a_checkout_a_test_is_annotated_on_its_file_with_no_line(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = run(runner(tmp_path, github), emu, FAILING)

    assert set(by_file(result)) == {("models/customers.sql", None), ("models/schema.yml", None)}


def test_paths_are_prefixed_by_the_dbt_cloud_projects_subdirectory_or_the_input(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path / "a", github)
    checkout(step, "transform")
    from_project = run(step, emu, SUBDIR)
    assert set(by_file(from_project)) == {
        ("transform/models/customers.sql", None),
        ("transform/models/schema.yml", str(NOT_NULL_LINE)),
    }

    given = run(runner(tmp_path / "b", github), emu, SUBDIR, **{"project-subdirectory": "dbt/"})
    assert {file for file, _ in by_file(given)} == {
        "dbt/models/customers.sql",
        "dbt/models/schema.yml",
    }


def test_a_passing_run_fetches_no_manifest_and_annotations_off_puts_none_on_files(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    """No failure, no manifest. `annotations: off` only stops the file annotations: what a
    failure breaks downstream (issue 19's item 4, no input of its own) still needs the
    manifest, read once after the run."""
    passing = run(runner(tmp_path / "a", github), emu, PASSING)
    assert passing.exit_code == 0 and manifest_requests(emu) == []

    off = run(runner(tmp_path / "b", github), emu, FAILING, annotations="off")
    assert off.exit_code == 1
    assert file_errors(off) == [] and len(manifest_requests(emu)) == 1
    assert "annotated" not in off.summary


def test_annotations_keep_within_githubs_ten_errors_per_step_and_the_summary_says_so(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = run(runner(tmp_path, github), emu, MANY)

    errors = parse_workflow_commands(result.stdout).named("error")
    assert len(errors) == 10  # the run's own annotation, then 9 of the 15 files'
    assert len(file_errors(result)) == 9
    assert [c.properties["title"] for c in file_errors(result)][:2] == [
        "dbt test t00 failed",
        "dbt test t01 failed",
    ]
    assert (
        "9 failing nodes annotated on their files; 6 more not shown as annotations (GitHub "
        "shows at most 10 error annotations per step): see the table above._"
    ) in result.summary


def test_hostile_node_names_and_messages_stay_one_inert_annotation(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = run(runner(tmp_path, github), emu, HOSTILE)

    commands = parse_workflow_commands(result.stdout)
    [annotation] = file_errors(result)
    assert annotation.properties["file"] == "models/evil,file=x:y%0A::warning::z.sql"
    assert annotation.properties["title"] == "dbt model evil,file=x:y%0A::warning::z errored"
    assert annotation.data.startswith("::error file=a::b")
    assert commands.named("warning") == []
    assert all(c.properties.get("file") != "a" for c in commands.named("error"))


def test_a_fusion_run_names_its_failed_model_from_the_log_and_finds_it_in_the_manifest(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    checkout(step)
    result = run(step, emu, FUSION)

    annotations = by_file(result)
    # Fusion's run_results.json leaves the erroring model out; its log names it
    assert annotations[("models/customers.sql", None)].properties["title"] == (
        "dbt model customers errored"
    )
    assert ("models/schema.yml", str(NOT_NULL_LINE)) in annotations
    assert "Downstream: 2 (clv, revenue)." in annotations[("models/customers.sql", None)].data


# -- 6. comment modes --------------------------------------------------------------------------


def run_as(step: SimulatedRunner, build: StepScript, **extra: str) -> StepResult:
    """A run of one job (id 50) whose build is `build`: the same job failing, then passing."""
    job = JobScript(50, "CI flip", (CLONE, build), 1, triggers=())
    with Emulator(config=EmulatorConfig(token=TOKEN, jobs=(job,)), time_scale=TIME_SCALE) as emu:
        return run(step, emu, 50, **extra)


def comment_writes(github: FakeGitHub) -> list[str]:
    return [r.method for r in github.requests if r.method in ("POST", "PATCH")]


def test_comment_mode_failures_comments_only_on_a_failure_then_keeps_its_comment_true(
    github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    passing = run_as(step, PASSING_BUILD, **{"comment-on-pr": "failures"})
    assert github.comments(PR_NUMBER) == [] and comment_writes(github) == []
    assert "comment-on-pr is failures and no run failed." in passing.stdout

    run_as(step, FAILING_BUILD, **{"comment-on-pr": "failures"})
    [comment] = github.comments(PR_NUMBER)
    assert "failed" in comment["body"] and "`model.shop.customers`" in comment["body"]

    run_as(step, PASSING_BUILD, **{"comment-on-pr": "failures"})  # fixed: the comment says so
    [comment] = github.comments(PR_NUMBER)
    assert "succeeded" in comment["body"] and "customers" not in comment["body"]
    assert comment_writes(github) == ["POST", "PATCH"]


def test_comment_mode_changes_leaves_the_comment_when_the_same_nodes_fail_again(
    github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    run_as(step, FAILING_BUILD, **{"comment-on-pr": "changes"})
    [first] = github.comments(PR_NUMBER)
    again = run_as(step, FAILING_BUILD, **{"comment-on-pr": "changes"})
    [same] = github.comments(PR_NUMBER)
    assert same["body"] == first["body"]  # the first run's comment, its link included
    assert comment_writes(github) == ["POST"]
    assert (
        "failing nodes (and their marks) are those the comment already there shows" in again.stdout
    )

    run_as(step, PASSING_BUILD, **{"comment-on-pr": "changes"})
    [changed] = github.comments(PR_NUMBER)
    assert "succeeded" in changed["body"]
    assert comment_writes(github) == ["POST", "PATCH"]


@pytest.mark.parametrize(("value", "writes"), [("true", ["POST", "PATCH"]), ("false", [])])
def test_comment_on_pr_true_and_false_still_mean_always_and_off(
    github: FakeGitHub, tmp_path: Path, value: str, writes: list[str]
) -> None:
    step = runner(tmp_path, github)
    run_as(step, FAILING_BUILD, **{"comment-on-pr": value})
    run_as(step, PASSING_BUILD, **{"comment-on-pr": value})
    assert comment_writes(github) == writes
    if value == "false":
        assert github.requests == []


# -- 2. the check run --------------------------------------------------------------------------


def test_a_check_run_is_in_progress_while_the_run_goes_then_concluded_with_every_annotation(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    step = runner(tmp_path, github)
    checkout(step)
    inputs = emulator_inputs(
        emu, SLOW, **{"poll-interval": "1", "github-token": GITHUB_TOKEN, "check-run": "true"}
    )
    proc, env = step.start(inputs)
    wait_for(lambda: bool(github.check_runs()), "the check run")
    [check] = github.check_runs()
    [run_id] = emu.runs
    assert check["status"] == "in_progress" and check["head_sha"] == PR_SHA
    assert emu.run(run_id)["finished_at"] is None  # dbt Cloud's run still going
    result = step.finish(proc, env, 0.0, 60)

    assert result.exit_code == 1
    [check] = github.check_runs()
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert check["name"] == "dbt Cloud / CI slow"
    assert check["details_url"] == result.outputs["run-url"]
    assert "`model.shop.customers`" in check["output"]["summary"]
    assert {(a["path"], a["start_line"]) for a in check["output"]["annotations"]} == {
        ("models/customers.sql", 1),  # the Checks API needs a line: 1 for the file
        ("models/schema.yml", NOT_NULL_LINE),
    }
    assert "Traceback" not in result.log


def test_a_check_run_takes_every_annotation_fifty_a_request(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = run(runner(tmp_path, github), emu, SIXTY, **{"check-run": "true"})

    [check] = github.check_runs()
    assert len(check["output"]["annotations"]) == 60
    patches = [r for r in github.requests if r.method == "PATCH" and "check-runs" in r.path]
    assert [len(r.body["output"]["annotations"]) for r in patches] == [50, 10]
    assert patches[0].body["conclusion"] == "failure" and "conclusion" not in patches[1].body
    assert len(file_errors(result)) == 9  # the step's own annotations stay within GitHub's 10


def test_a_passing_run_concludes_success_and_without_checks_write_a_warning_says_what_to_add(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    run(runner(tmp_path / "a", github), emu, PASSING, **{"check-run": "true"})
    [check] = github.check_runs()
    assert check["conclusion"] == "success" and check["output"]["annotations"] == []

    github.forbid("check-runs")
    denied = run(runner(tmp_path / "b", github), emu, FAILING, **{"check-run": "true"})
    assert denied.exit_code == 1  # dbt Cloud's outcome decides the step
    [warning] = [
        c.data
        for c in parse_workflow_commands(denied.stdout).named("warning")
        if "check run" in c.data
    ]
    assert "checks: write" in warning and "forks get a read-only token" in warning
    assert len(github.check_runs()) == 1


# -- 4. what a failure breaks downstream -------------------------------------------------------


def test_the_summary_and_comment_say_what_each_failed_model_breaks_downstream(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = run(runner(tmp_path, github), emu, FUSION, **{"comment-on-pr": "always"})

    [comment] = github.comments(PR_NUMBER)
    for markdown in (result.summary, comment["body"]):
        assert "### What the failures break downstream" in markdown
        # Fusion's child_map leaves out the leaves: the edges come from depends_on as well
        row = next(
            line for line in markdown.splitlines() if "customers" in line and "| 2 |" in line
        )
        assert "`model.shop.clv` (skipped), `model.shop.revenue` (skipped)" in row


def test_a_mermaid_graph_of_what_the_failures_break_is_folded_under_the_downstream_table(
    emu: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    result = run(runner(tmp_path, github), emu, FAILING, **{"comment-on-pr": "always"})

    [comment] = github.comments(PR_NUMBER)
    for markdown in (result.summary, comment["body"]):
        graph = markdown.split("```mermaid\n", 1)[1].split("\n```", 1)[0].splitlines()
        assert graph[0] == "graph LR"
        labels = {line.split("[")[0].strip(): line.split('"')[1] for line in graph if "[" in line}
        by_name = {label: key for key, label in labels.items()}
        edges = {tuple(line.split(" --> ")) for line in graph if " --> " in line}
        customers, clv = by_name["model.shop.customers"], by_name["model.shop.clv"]
        revenue = by_name["model.shop.revenue"]
        assert {(f"  {customers}", clv), (f"  {clv}", revenue)} <= edges
        assert f"  class {customers} failed" in graph
        assert markdown.index("### What the failures break downstream") < markdown.index("mermaid")
