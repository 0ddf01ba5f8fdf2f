"""Several jobs in one step, the pure parts: the overall outcome, the `runs` output, the
overview, the summary and comment for the set, the comment marker, the post step's records."""

from __future__ import annotations

import dataclasses
import json
from itertools import permutations

import pytest
from hypothesis import given, settings

from dbt_cloud_action.github_reporting import comment_marker
from dbt_cloud_action.models import Outcome
from dbt_cloud_action.reporting import (
    COMMENT_MAX_CHARS,
    SUMMARY_MAX_BYTES,
    RunReport,
    outputs_for,
    overall_outcome,
    render_overview,
    render_pr_comment,
    render_summary,
    step_comment,
    step_outputs,
    step_summary,
)
from dbt_cloud_action.results import NodeResult, StatusBucket
from dbt_cloud_action.step_state import (
    STATE_LEAVE_RUN,
    STATE_RUN_ENDED,
    STATE_RUN_ID,
    STATE_RUNS,
    RunRecord,
    StepState,
    read_records,
)
from tests.hostile import hostile_text
from tests.test_reporting import FAILING, assert_safe, make_report, make_run

MARKER = "<!-- dbt-cloud-action:jobs=17,18 -->"


def two_reports() -> tuple[RunReport, RunReport]:
    passing = make_report(Outcome.SUCCESS)
    failing = make_report(
        Outcome.ERROR,
        job_id=18,
        job_name="Marketing CI",
        run=make_run(20, id=4343),
        run_url="https://ab123.us1.dbt.com/deploy/1/projects/2/runs/4343/",
        schema_override="dbt_cloud_pr_18_12",
        results=FAILING,
    )
    return passing, failing


# -- the overall outcome ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "overall"),
    [
        ((Outcome.SUCCESS, Outcome.SUCCESS), Outcome.SUCCESS),
        ((Outcome.SUCCESS, Outcome.ERROR), Outcome.ERROR),
        ((Outcome.CANCELLED, Outcome.ERROR, Outcome.TIMED_OUT), Outcome.ERROR),
        ((Outcome.TIMED_OUT, Outcome.CANCELLED), Outcome.CANCELLED),
        ((Outcome.SUCCESS, Outcome.TIMED_OUT), Outcome.TIMED_OUT),
        ((Outcome.TRIGGERED, Outcome.TRIGGERED), Outcome.TRIGGERED),
        ((Outcome.SUCCESS, Outcome.TRIGGERED), Outcome.TRIGGERED),
        ((Outcome.TRIGGERED, Outcome.ERROR), Outcome.ERROR),
    ],
)
def test_the_overall_outcome_is_the_worst_in_a_fixed_order(
    outcomes: tuple[Outcome, ...], overall: Outcome
) -> None:
    for order in permutations(outcomes):
        assert overall_outcome(order) is overall


# -- outputs ----------------------------------------------------------------------------------


def test_one_job_keeps_its_outputs_and_gains_runs() -> None:
    report = make_report()
    outputs = step_outputs([report])
    assert {k: v for k, v in outputs.items() if k != "runs"} == outputs_for(report)
    assert json.loads(outputs["runs"]) == [{"job-id": "17", **outputs_for(report)}]


def test_several_jobs_give_the_overall_status_shared_values_and_runs() -> None:
    passing, failing = two_reports()
    outputs = step_outputs([passing, failing])
    assert outputs["status"] == "error"
    assert set(outputs) == {*outputs_for(passing), "runs"}
    # the commit, branch and pull request sent are the step's; the rest is per run
    assert outputs["git-sha"] == passing.git_sha and outputs["pull-request"] == "12"
    assert outputs["git-branch"] == "feature/orders"
    per_run = {"run-id", "run-url", "status-code", "duration-seconds", "queued-seconds"}
    assert all(outputs[name] == "" for name in per_run | {"job-name", "origin", "artifacts"})
    assert outputs["schema-override"] == ""  # they differ: read each from runs
    runs = json.loads(outputs["runs"])
    assert [(r["job-id"], r["run-id"], r["status"], r["status-code"]) for r in runs] == [
        ("17", "4242", "success", "10"),
        ("18", "4343", "error", "20"),
    ]
    assert runs[1]["schema-override"] == "dbt_cloud_pr_18_12"
    same_schema = step_outputs([passing, dataclasses.replace(failing, schema_override="s")])
    assert same_schema["schema-override"] == ""
    shared = step_outputs(
        [passing, dataclasses.replace(failing, schema_override="dbt_cloud_pr_17_12")]
    )
    assert shared["schema-override"] == "dbt_cloud_pr_17_12"


@settings(max_examples=50)
@given(hostile=hostile_text)
def test_runs_output_carries_untrusted_text_as_json_data(hostile: str) -> None:
    report = make_report(job_name=hostile, git_branch=hostile)
    runs = json.loads(step_outputs([report, make_report(job_id=18)])["runs"])
    assert runs[0]["job-name"] == hostile and runs[0]["git-branch"] == hostile


# -- the overview, summary and comment --------------------------------------------------------


def test_the_overview_has_one_row_per_job() -> None:
    passing, failing = two_reports()
    overview = render_overview([passing, failing])
    lines = overview.splitlines()
    assert lines[0] == "## ❌ dbt Cloud: 2 jobs, error"
    assert lines[2] == "| Job | Run | Status | Duration | Failed models and tests |"
    assert lines[4] == (
        f"| CI build (id 17) | [#4242]({passing.run_url}) | ✅ success | 1m 03s | 0 |"
    )
    # FAILING: one model error, one test failure
    assert lines[5] == (
        f"| Marketing CI (id 18) | [#4343]({failing.run_url}) | ❌ error | 1m 03s | 2 |"
    )
    no_run = make_report(Outcome.CANCELLED, job_id=19, job_name="", run=None, run_url="")
    assert "| job 19 (id 19) | — | 🚫 cancelled | — | 0 |" in render_overview([passing, no_run])


def test_the_overview_escapes_job_names() -> None:
    hostile = "CI | <script>x</script> @octocat **b**"
    row = render_overview([make_report(job_name=hostile), make_report(job_id=18)]).splitlines()[4]
    assert "<script>" not in row and "@octocat" not in row and "**b**" not in row
    assert row.count(" | ") == 4  # the job name's pipe is escaped, not a new cell


@settings(max_examples=100)
@given(name=hostile_text, note=hostile_text)
def test_the_summary_and_comment_of_several_jobs_stay_inert(name: str, note: str) -> None:
    hostile = make_report(Outcome.ERROR, job_name=name, notes=(note,), run=make_run(20))
    reports = [make_report(), hostile]
    assert_safe(step_summary(reports))
    comment = step_comment(reports, MARKER, None)
    assert_safe(comment)
    assert comment.startswith(MARKER + "\n") and comment.count(MARKER) == 1


def test_one_job_summary_and_comment_are_as_ever() -> None:
    report = make_report()
    marker = comment_marker(17)
    assert step_summary([report]) == render_summary(report)
    assert step_comment([report], marker, None) == render_pr_comment(report, marker, None)


def test_the_summary_for_several_jobs_is_the_overview_then_each_section() -> None:
    passing, failing = two_reports()
    summary = step_summary([passing, failing])
    assert summary.startswith("## ❌ dbt Cloud: 2 jobs, error\n")
    first = summary.index("of **CI build** succeeded")
    second = summary.index("of **Marketing CI** failed")
    assert summary.index("| Job | Run |") < first < second


def big_report(job_id: int) -> RunReport:
    nodes = tuple(
        NodeResult(f"test.shop.t{i:05d}", "test", "fail", StatusBucket.FAIL, "x" * 300, 1)
        for i in range(3000)
    )
    digest = dataclasses.replace(FAILING, problems=nodes, problems_total=len(nodes))
    return make_report(Outcome.ERROR, job_id=job_id, run=make_run(20), results=digest)


def test_the_summary_of_many_big_jobs_stays_under_the_limit() -> None:
    reports = [big_report(job_id) for job_id in range(1, 21)]
    summary = step_summary(reports)
    assert len(summary.encode()) <= SUMMARY_MAX_BYTES
    assert summary.count("| Job | Run |") == 1 and summary.count("(id 20)") >= 1


def test_the_comment_for_several_jobs_names_all_and_fits() -> None:
    passing, failing = two_reports()
    body = step_comment([passing, failing], MARKER, "https://github.com/o/r/actions/runs/1")
    assert body.startswith(MARKER + "\n\n## ❌ dbt Cloud: 2 jobs, error")
    assert "CI build" in body and "Marketing CI" in body
    reports = [big_report(job_id) for job_id in range(1, 21)]
    big = step_comment(reports, MARKER, None)
    assert big.startswith(MARKER) and len(big) <= COMMENT_MAX_CHARS
    assert big.count("| Job | Run |") == 1
    with pytest.raises(ValueError, match="marker"):
        step_comment([passing, failing], "not a comment", None)


def test_the_marker_names_one_job_as_ever_and_several_by_sorted_ids() -> None:
    assert comment_marker(42) == "<!-- dbt-cloud-action:job=42 -->"
    assert comment_marker(18, 17) == MARKER == comment_marker(17, 18)
    assert comment_marker(17) not in comment_marker(17, 18)
    assert comment_marker(1, 7) != comment_marker(17)


# -- the post step's records ------------------------------------------------------------------


def test_one_job_saves_the_keys_it_always_did() -> None:
    saved: list[tuple[str, str]] = []
    state = StepState(1, lambda name, value: saved.append((name, value)))
    state.slot(0).started(70, leave="cancel-on-exit is false")
    state.slot(0).ended()
    assert saved == [
        (STATE_LEAVE_RUN, "cancel-on-exit is false"),
        (STATE_RUN_ID, "70"),
        (STATE_RUN_ENDED, "true"),
    ]
    values = dict(saved)
    records = read_records(lambda name: values.get(name, ""))
    assert records == [RunRecord(70, True, "cancel-on-exit is false")]


def test_several_jobs_save_one_list_rewritten_whole() -> None:
    saved: dict[str, str] = {}
    state = StepState(2, saved.__setitem__)
    state.slot(1).started(81)
    assert json.loads(saved[STATE_RUNS]) == [
        {"run_id": None, "ended": False, "leave": "", "pending": None},
        {"run_id": 81, "ended": False, "leave": "", "pending": None},
    ]
    state.slot(0).started(80)
    state.slot(0).leave("it timed out with cancel-on-timeout: false")
    state.slot(1).ended()
    records = read_records(lambda name: saved.get(name, ""))
    assert records == [
        RunRecord(80, False, "it timed out with cancel-on-timeout: false"),
        RunRecord(81, True, ""),
    ]
    assert [record.to_cancel for record in records] == [False, False]
    assert set(saved) == {STATE_RUNS}


@pytest.mark.parametrize(
    "text", ['{"run_id": 1}', "[1]", '[{"run_id": "1"}]', '[{"run_id": true}]', "not json"]
)
def test_records_that_are_not_ours_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        read_records(lambda name: text if name == STATE_RUNS else "")


def test_no_state_means_no_runs() -> None:
    assert read_records(lambda name: "") == []
    assert RunRecord(5).to_cancel and not RunRecord().to_cancel
