from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings

from dbt_cloud_action.manifest import MAX_GRAPH_EDGES, Downstream, ManifestFacts
from dbt_cloud_action.models import Outcome, Run, RunStatus, RunStep
from dbt_cloud_action.reporting import (
    COMMENT_MAX_CHARS,
    SUMMARY_MAX_BYTES,
    RunReport,
    _fit,
    annotation_for,
    code_block,
    commit_status_description,
    error_lines,
    escape_markdown,
    failing_step,
    format_duration,
    inline_code,
    markdown_link,
    outputs_for,
    plain_text,
    render_pr_comment,
    render_step_log,
    render_summary,
    step_title,
)
from dbt_cloud_action.results import ResultsDigest, StepResults, digest_run_results
from tests.hostile import FRAGMENTS, hostile_text
from tests.markdown_check import (
    code_span_text,
    decode_text,
    live_html,
    mentions,
    references,
    tables,
    text_outside_code,
)

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
RUN_URL = "https://ab123.us1.dbt.com/deploy/1/projects/2/runs/4242/"
MARKER = "<!-- dbt-cloud-action job=17 -->"
SUMMARY_URL = "https://github.com/o/r/actions/runs/99"

DBT_BUILD_ERROR_LOG = """\
\x1b[0m10:00:10  Running with dbt=1.8.3
\x1b[0m10:00:11  Found 3 models, 2 tests, 1 seed
\x1b[0m10:00:11
\x1b[0m10:00:12  1 of 5 START sql table model shop.orders .......... [RUN]
\x1b[0m10:00:13  1 of 5 \x1b[31mERROR\x1b[0m creating table shop.orders [\x1b[31mERROR\x1b[0m]
\x1b[0m10:00:14  Finished running 3 table models, 2 tests in 0 hours 0 minutes and 4.00 seconds.
\x1b[0m10:00:14
\x1b[0m10:00:14  \x1b[31mCompleted with 2 errors and 0 warnings:\x1b[0m
\x1b[0m10:00:14
\x1b[0m10:00:14    Database Error in model orders (models/orders.sql)
  column "amount" does not exist
  LINE 3: select amount from raw
\x1b[0m10:00:14
\x1b[0m10:00:14  Failure in test not_null_orders_id (models/schema.yml)
\x1b[0m10:00:14    Got 3 results, configured to fail if != 0
\x1b[0m10:00:14
\x1b[0m10:00:14    compiled code at target/compiled/shop/models/schema.yml/not_null_orders_id.sql
\x1b[0m10:00:14
\x1b[0m10:00:14  Done. PASS=3 WARN=0 ERROR=2 SKIP=0 TOTAL=5
"""


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(
    index: int, name: str, status: int, logs: str = "", *, start: float = 5, end: float = 10
) -> RunStep:
    return RunStep(index, name, RunStatus(status), logs, at(start), at(end))


SUCCESS_STEPS = (
    step(1, "Clone git repository", 10, end=7),
    step(2, "Create profile from connection Snowflake", 10, start=7, end=8),
    step(3, "Invoke dbt with `dbt deps`", 10, start=8, end=14),
    step(4, "Invoke dbt with `dbt build`", 10, start=14, end=68),
)
ERROR_STEPS = (
    *SUCCESS_STEPS[:3],
    step(4, "Invoke dbt with `dbt build`", 20, DBT_BUILD_ERROR_LOG, start=14, end=68),
)


def make_run(status: int, steps: tuple[RunStep, ...] = SUCCESS_STEPS, **changes: Any) -> Run:
    run = Run(
        id=4242,
        job_id=17,
        account_id=1,
        status=RunStatus(status),
        status_code=status,
        href=RUN_URL,
        git_sha="0123456789abcdef0123456789abcdef01234567",
        git_branch="feature/orders",
        cause="GitHub: CI #7 (pull_request) in acme/shop",
        created_at=at(0),
        dequeued_at=at(4),
        started_at=at(5),
        finished_at=at(68),
        github_pull_request_id=12,
        job_name="CI build",
        steps=steps,
    )
    return dataclasses.replace(run, **changes)


def run_results(entries: list[dict[str, Any]]) -> ResultsDigest:
    return digest_run_results(
        {
            "metadata": {
                "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                "dbt_version": "1.8.3",
            },
            "elapsed_time": 4.0,
            "results": entries,
        }
    )


PASSING = run_results(
    [
        {"unique_id": "model.shop.orders", "status": "success", "execution_time": 2.5},
        {"unique_id": "model.shop.customers", "status": "success", "execution_time": 1.25},
        {"unique_id": "test.shop.not_null_orders_id", "status": "pass", "failures": 0},
    ]
)
FAILING = run_results(
    [
        {
            "unique_id": "model.shop.orders",
            "status": "error",
            "message": 'Database Error in model orders (models/orders.sql)\n  column "amount" does '
            "not exist",
            "execution_time": 0.8,
        },
        {"unique_id": "model.shop.customers", "status": "success", "execution_time": 1.25},
        {
            "unique_id": "test.shop.not_null_orders_id",
            "status": "fail",
            "failures": 3,
            "message": "Got 3 results, configured to fail if != 0",
        },
        {"unique_id": "test.shop.unique_orders_id", "status": "skipped"},
    ]
)


def make_report(outcome: Outcome = Outcome.SUCCESS, **changes: Any) -> RunReport:
    defaults: dict[str, Any] = {
        "job_id": 17,
        "job_name": "CI build",
        "account_id": 1,
        "run": make_run(10),
        "run_url": RUN_URL,
        "outcome": outcome,
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "git_branch": "feature/orders",
        "pull_request": 12,
        "schema_override": "dbt_cloud_pr_17_12",
        "overrides": (("threads", "8"),),
        "results": PASSING,
    }
    return RunReport(**{**defaults, **changes})


def assert_safe(markdown: str) -> None:
    assert live_html(markdown) == []
    assert mentions(markdown) == []
    for table in tables(markdown):
        assert {len(row) for row in table} == {len(table[0])}, table


# --- escaping ---------------------------------------------------------------------------------


@settings(max_examples=500)
@given(text=hostile_text)
def test_escaped_text_shows_exactly_the_text_and_nothing_else(text: str) -> None:
    escaped = escape_markdown(text)
    assert "\n" not in escaped
    assert "\r" not in escaped
    # Outside code, every ASCII punctuation character is escaped, so no markdown syntax can
    # start: what GitHub shows is the text itself (without control characters).
    assert text_outside_code(escaped) == escaped
    shown = decode_text(escaped).replace("\u200d", "")
    assert shown == " ".join(plain_text(text).split()).replace("\u200d", "")
    assert_safe(f"| a |\n|---|\n| {escaped} |")
    assert references(escaped) == []


@settings(max_examples=500)
@given(text=hostile_text)
def test_inline_code_in_a_table_cell_shows_the_text(text: str) -> None:
    code = inline_code(text, in_table=True)
    if not " ".join(plain_text(text).split()):
        assert code == ""
        return
    markdown = f"| a | b |\n|---|---|\n| x | {code} |"
    assert_safe(markdown)
    [_, _, row] = tables(markdown)[0]
    expected = " ".join(plain_text(text).split())
    shown = code_span_text(row[1])
    assert shown == expected or (shown.endswith("…") and expected.startswith(shown[:-1]))


def test_inline_code_uses_a_longer_fence_than_any_backtick_run() -> None:
    assert inline_code("a``b") == "```a``b```"
    assert inline_code("`start") == "`` `start ``"
    assert inline_code("a|b") == "`a|b`"
    assert inline_code("a|b", in_table=True) == "`a\\|b`"


@given(lines=hostile_text.map(lambda t: t.split("\n")))
def test_code_block_cannot_be_closed_from_inside(lines: list[str]) -> None:
    block = code_block(lines)
    assert text_outside_code(block).strip() == ""
    assert block.startswith("```")


def test_escape_markdown_examples() -> None:
    assert escape_markdown("<script>alert(1)</script>") == (
        "&lt;script&gt;alert\\(1\\)&lt;\\/script&gt;"
    )
    assert escape_markdown("ping @octocat about #12") == "ping \\@\u200doctocat about \\#\u200d12"
    assert escape_markdown("a|b\nc") == "a\\|b c"
    assert escape_markdown("1. - > # x") == "1\\. \\- &gt; \\# x"


def test_markdown_link_only_for_http_and_encoded() -> None:
    assert markdown_link("x", "javascript:alert(1)") == "x"
    assert markdown_link("x", "") == "x"
    assert markdown_link("run", "https://a.test/p (1)/<x>") == (
        "[run](https://a.test/p%20%281%29/%3Cx%3E)"
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (0.43, "0.4s"),
        (9.94, "9.9s"),
        (9.96, "10s"),
        (42, "42s"),
        (187, "3m 07s"),
        (7530, "2h 05m"),
    ],
)
def test_format_duration(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


# --- outputs ----------------------------------------------------------------------------------


def test_outputs_for_a_finished_run() -> None:
    report = make_report(Outcome.ERROR, run=make_run(20), artifacts=("target/a.json", "target/b"))
    assert outputs_for(report) == {
        "run-id": "4242",
        "run-url": RUN_URL,
        "status": "error",
        "status-code": "20",
        "duration-seconds": "63",
        "queued-seconds": "5",
        "git-sha": "0123456789abcdef0123456789abcdef01234567",
        "git-branch": "feature/orders",
        "pull-request": "12",
        "schema-override": "dbt_cloud_pr_17_12",
        "job-name": "CI build",
        "origin": "triggered",
        "artifacts": "target/a.json\ntarget/b",
    }


def test_outputs_without_a_known_run_are_empty_not_missing() -> None:
    report = make_report(Outcome.TRIGGERED, run=None, git_sha="", git_branch="", pull_request=None)
    outputs = outputs_for(report)
    assert outputs["status"] == "triggered"
    assert {k for k, v in outputs.items() if v == ""} == {
        "run-id",
        "status-code",
        "duration-seconds",
        "queued-seconds",
        "git-sha",
        "git-branch",
        "pull-request",
        "artifacts",
    }


def test_outputs_say_what_was_sent_not_what_dbt_cloud_chose() -> None:
    outputs = outputs_for(make_report(git_sha="", git_branch=""))
    assert (outputs["git-sha"], outputs["git-branch"]) == ("", "")
    only_sha = outputs_for(make_report(git_sha="a" * 40, git_branch=""))
    assert (only_sha["git-sha"], only_sha["git-branch"]) == ("a" * 40, "")


def test_summary_shows_what_dbt_cloud_ran_when_nothing_was_sent() -> None:
    shown = facts(render_summary(make_report(git_sha="", git_branch="")))
    assert shown["Commit"] == "`0123456789abcdef0123456789abcdef01234567`"
    assert shown["Branch"] == "`feature/orders`"
    only_sha = facts(render_summary(make_report(git_sha="a" * 40, git_branch="")))
    assert only_sha["Commit"] == f"`{'a' * 40}`" and "Branch" not in only_sha


def test_skipped_step_outputs_and_summary() -> None:
    report = RunReport(
        job_id=17,
        job_name="",
        account_id=1,
        run=None,
        run_url="",
        outcome=Outcome.SKIPPED,
        origin="",
        notes=("Pull request #2 comes from the fork octo-fork/Hello\\_World <b>.",),
    )
    outputs = outputs_for(report)
    assert outputs["status"] == "skipped"
    assert {value for name, value in outputs.items() if name != "status"} == {""}
    summary = render_summary(report)
    assert summary.startswith("## ⏭️ dbt Cloud job 17 was skipped\n")
    assert "octo\\-fork" in summary and "<b>" not in summary


# --- logs and annotations ---------------------------------------------------------------------


def test_error_lines_are_dbts_error_section_without_noise() -> None:
    assert error_lines(DBT_BUILD_ERROR_LOG, 50) == [
        "  Database Error in model orders (models/orders.sql)",
        '  column "amount" does not exist',
        "  LINE 3: select amount from raw",
        "Failure in test not_null_orders_id (models/schema.yml)",
        "  Got 3 results, configured to fail if != 0",
        "  compiled code at target/compiled/shop/models/schema.yml/not_null_orders_id.sql",
        "Done. PASS=3 WARN=0 ERROR=2 SKIP=0 TOTAL=5",
    ]
    assert error_lines(DBT_BUILD_ERROR_LOG, 2) == [
        "  Database Error in model orders (models/orders.sql)",
        '  column "amount" does not exist',
    ]
    assert error_lines(DBT_BUILD_ERROR_LOG, 0) == []


def test_error_lines_without_a_dbt_summary_are_the_last_meaningful_lines() -> None:
    logs = "12:00:01  Cloning\n\x1b[0m12:00:02\n\n12:00:03  fatal: repository not found\n  \n"
    assert error_lines(logs, 5) == ["Cloning", "fatal: repository not found"]
    assert error_lines("", 5) == []


def test_failing_step_prefers_the_errored_step() -> None:
    assert failing_step(make_run(20, ERROR_STEPS)) == ERROR_STEPS[3]
    cancelled = (*SUCCESS_STEPS[:2], step(3, "Invoke dbt with `dbt deps`", 30))
    assert failing_step(make_run(30, cancelled)) == cancelled[2]
    assert failing_step(make_run(10)) is None
    assert failing_step(None) is None


def test_annotation_names_job_step_and_last_error_line() -> None:
    report = make_report(Outcome.ERROR, run=make_run(20, ERROR_STEPS), results=FAILING)
    assert annotation_for(report) == (
        "dbt Cloud job CI build failed",
        'run #4242 failed at step 4 "Invoke dbt with `dbt build`": Failure in test '
        "not_null_orders_id (models/schema.yml): Got 3 results, configured to fail if != 0 "
        + RUN_URL,
    )


def test_annotation_for_each_outcome() -> None:
    assert annotation_for(make_report()) is None
    assert annotation_for(make_report(Outcome.TRIGGERED, run=make_run(1, ()))) is None
    no_steps = make_report(Outcome.ERROR, run=make_run(20, (), status_message="Job not found"))
    assert annotation_for(no_steps) == (
        "dbt Cloud job CI build failed",
        f"run #4242 ended in error: Job not found {RUN_URL}",
    )
    cancelled_steps = (*SUCCESS_STEPS[:3], step(4, "Invoke dbt with `dbt build`", 30))
    cancelled = make_report(
        Outcome.CANCELLED, run=make_run(30, cancelled_steps), cancelled_by_workflow=True
    )
    assert annotation_for(cancelled) == (
        "dbt Cloud job CI build was cancelled",
        f'run #4242 was cancelled by this workflow during step 4 "Invoke dbt with `dbt build`" '
        f"{RUN_URL}",
    )
    timed_out = make_report(Outcome.TIMED_OUT, run=make_run(3, ()), timed_out_after=900)
    assert annotation_for(timed_out) == (
        "dbt Cloud job CI build timed out",
        "Stopped waiting for run #4242 after 15m 00s; it may still be running in dbt Cloud. "
        f"Raise the timeout input if the job needs longer. {RUN_URL}",
    )


def test_commit_status_description_says_how_the_run_ended_and_after_how_long() -> None:
    cases: list[tuple[Outcome, int, dict[str, Any]]] = [
        (Outcome.SUCCESS, 10, {}),
        (Outcome.ERROR, 20, {}),
        (Outcome.CANCELLED, 30, {"cancelled_by_workflow": True}),
        (Outcome.TIMED_OUT, 3, {"timed_out_after": 900}),
    ]
    described = {
        outcome: commit_status_description(make_report(outcome, run=make_run(code), **extra))
        for outcome, code, extra in cases
    }
    assert described == {
        Outcome.SUCCESS: "dbt Cloud run 4242 succeeded in 1m 03s",
        Outcome.ERROR: "dbt Cloud run 4242 failed after 1m 03s",
        Outcome.CANCELLED: "dbt Cloud run 4242 was cancelled by the workflow",
        Outcome.TIMED_OUT: "dbt Cloud run 4242 timed out after 15m 00s",
    }
    in_dbt_cloud = make_report(Outcome.CANCELLED, run=make_run(30))
    assert (
        commit_status_description(in_dbt_cloud) == "dbt Cloud run 4242 was cancelled in dbt Cloud"
    )
    unknown = make_report(Outcome.CANCELLED, run=None, cancelled_by_workflow=True)
    assert commit_status_description(unknown) == "dbt Cloud run was cancelled by the workflow"
    not_started = make_report(Outcome.ERROR, run=make_run(20, started_at=None))
    assert commit_status_description(not_started) == "dbt Cloud run 4242 failed"


@settings(max_examples=200)
@given(name=hostile_text, logs=hostile_text)
def test_annotation_is_one_bounded_line(name: str, logs: str) -> None:
    run = make_run(20, (step(1, name, 20, logs * 50),))
    title, message = annotation_for(make_report(Outcome.ERROR, job_name=name, run=run)) or ("", "")
    for text in (title, message):
        assert plain_text(text) == text
        assert "\n" not in text
    assert len(title) <= 200
    assert len(message) <= 1000
    assert message.endswith(f" {RUN_URL}")


def test_step_log_and_title() -> None:
    failed = ERROR_STEPS[3]
    assert step_title(failed) == "Step 4: Invoke dbt with `dbt build` (error, 54s)"
    lines = render_step_log(failed)
    assert lines[0] == "\x1b[0m10:00:10  Running with dbt=1.8.3"  # colours kept for the log
    assert len(lines) == DBT_BUILD_ERROR_LOG.count("\n")
    assert render_step_log(step(1, "x", 10)) == ["(this step has no logs)"]
    long = render_step_log(step(1, "x", 10, "\n".join(map(str, range(100)))), max_lines=10)
    assert long == [
        "… 90 earlier lines not shown; the whole log is in dbt Cloud",
        *map(str, range(90, 100)),
    ]
    huge = render_step_log(step(1, "x", 10, "a" * 50_000 + "\n" + "b" * 50_000), max_lines=10)
    assert huge[0] == "… its first 60,001 characters not shown; the whole log is in dbt Cloud"
    assert huge[1:] == ["b" * 3999 + "…"]
    tail = step(1, "x", 10, "late line\nlast line")
    cut_when_read = dataclasses.replace(tail, logs_cut=2_000_000)
    assert render_step_log(cut_when_read) == [
        "… its first 2,000,000 characters not shown; the whole log is in dbt Cloud",
        "late line",
        "last line",
    ]


# --- the job summary --------------------------------------------------------------------------


def facts(summary: str) -> dict[str, str]:
    first_table = tables(summary)[0]
    return {row[0].strip("*"): row[1] for row in first_table[2:]}


def notes(summary: str) -> list[str]:
    """The summary's bullet notes as GitHub shows them."""
    return [decode_text(line[2:]) for line in summary.split("\n") if line.startswith("- ")]


def test_summary_of_a_success() -> None:
    summary = render_summary(make_report())
    assert summary.startswith(f"## ✅ dbt Cloud [run #4242]({RUN_URL}) of **CI build** succeeded\n")
    assert facts(summary) == {
        "Status": "**success** (dbt Cloud status 10)",
        "Job": "CI build (id 17, account 1)",
        "Origin": "triggered by this workflow",
        "Commit": "`0123456789abcdef0123456789abcdef01234567`",
        "Branch": "`feature/orders`",
        "Schema": "`dbt_cloud_pr_17_12`",
        "Pull request": "#12",
        "Overrides": "`threads`: `8`",
        "Cause": "GitHub\\: CI \\#\u200d7 \\(pull\\_request\\) in acme\\/shop",
        "Queued": "5.0s",
        "Ran": "1m 03s",
    }
    assert "| 4 | Invoke dbt with \\`dbt build\\` | ✅ success | 54s |" in summary
    assert "✅ pass **3** · ❌ error **0** · 🔴 fail **0** · ⚠️ warn **0** · ⏭️ skip **0**" in summary
    assert "| `model.shop.orders` | 2.5s |" in summary  # slowest models
    assert "<details" not in summary
    assert "Failing" not in summary
    assert_safe(summary)


def test_summary_of_an_error_with_failing_tests() -> None:
    report = make_report(
        Outcome.ERROR,
        run=make_run(20, ERROR_STEPS, status_message="Some steps failed"),
        results=FAILING,
        notes=("Saved run_results.json",),
    )
    summary = render_summary(report)
    assert summary.startswith("## ❌ dbt Cloud [run #4242]")
    assert "failed\n" in summary.split("\n")[0] + "\n"
    assert notes(summary) == ["dbt Cloud says: Some steps failed", "Saved run_results.json"]
    details = summary[summary.index("<details open>") : summary.index("</details>")]
    assert "<summary>Error lines of step 4: Invoke dbt with `dbt build`</summary>" in details
    assert "Database Error in model orders (models/orders.sql)" in details
    assert "Failure in test not_null_orders_id (models/schema.yml)" in details
    assert "\x1b" not in details
    assert "| 4 | Invoke dbt with \\`dbt build\\` | ❌ error | 54s |" in summary
    problems = next(t for t in tables(summary) if t[0][0] == "Node")
    assert problems[2:] == [
        [
            "`model.shop.orders`",
            "❌ error",
            "",
            "Database Error in model orders \\(models\\/orders\\.sql\\)"
            "<br>column &quot;amount&quot; does not exist",
        ],
        [
            "`test.shop.not_null_orders_id`",
            "🔴 fail",
            "3",
            "Got 3 results\\, configured to fail if \\!\\= 0",
        ],
    ]
    assert "❌ error **1** · 🔴 fail **1** · ⚠️ warn **0** · ⏭️ skip **1**" in summary
    assert_safe(summary)


def test_summary_of_a_run_cancelled_by_the_workflow() -> None:
    steps = (*SUCCESS_STEPS[:3], step(4, "Invoke dbt with `dbt build`", 30, "10:00:20  START"))
    report = make_report(
        Outcome.CANCELLED, run=make_run(30, steps), cancelled_by_workflow=True, results=None
    )
    summary = render_summary(report)
    assert summary.startswith("## 🚫 dbt Cloud [run #4242]")
    assert "was cancelled\n" in summary
    assert notes(summary) == [
        "Cancelled by the workflow: the action cancelled the run in dbt Cloud."
    ]
    assert "| 4 | Invoke dbt with \\`dbt build\\` | 🚫 cancelled |" in summary
    assert "<details" not in summary
    assert "Models and tests" not in summary
    assert_safe(summary)


def test_summary_of_a_run_the_workflow_left_going() -> None:
    """cancel-on-exit: false (or a cancel that did not go through): no claim it was cancelled,
    dbt Cloud's running status and why it was left."""
    running = make_run(3, SUCCESS_STEPS[:2], finished_at=None)
    report = make_report(
        Outcome.RUNNING, run=running, left_running="cancel-on-exit is false", results=None
    )
    summary = render_summary(report)
    assert summary.splitlines()[0].endswith("was left running in dbt Cloud")
    assert notes(summary) == [
        "The workflow was cancelled; it was left running in dbt Cloud (cancel-on-exit is false)."
    ]
    title, message = annotation_for(report) or ("", "")
    assert "left running" in title and "cancel-on-exit is false" in message
    assert "cancelled" not in title
    assert commit_status_description(report).endswith("left running: cancel-on-exit is false")


def test_summary_of_a_timed_out_run() -> None:
    running = make_run(3, SUCCESS_STEPS[:2], finished_at=None)
    report = make_report(Outcome.TIMED_OUT, run=running, timed_out_after=2700, results=None)
    summary = render_summary(report)
    assert summary.startswith("## ⏱️ dbt Cloud [run #4242]")
    assert "timed out\n" in summary
    assert notes(summary) == ["Timed out after 45m 00s: it may still be running in dbt Cloud."]
    assert facts(summary)["Ran"] == "—"
    cancelled = render_summary(dataclasses.replace(report, cancelled_by_workflow=True))
    assert notes(cancelled) == ["Timed out after 45m 00s: the action cancelled it in dbt Cloud."]
    left = render_summary(dataclasses.replace(report, left_running="cancel-on-timeout is false"))
    assert notes(left) == [
        "Timed out after 45m 00s: it was left running in dbt Cloud (cancel-on-timeout is false)."
    ]


def test_multi_line_overrides_are_one_code_span_per_line() -> None:
    report = make_report(overrides=(("steps", "dbt seed\n\ndbt build --select state:modified+"),))
    assert facts(render_summary(report))["Overrides"] == (
        "`steps`: `dbt seed` `dbt build --select state:modified+`"
    )


def test_summary_notes_attach_retry_and_trigger_only() -> None:
    attached = render_summary(make_report(origin="attached"))
    assert notes(attached) == ["Attached to a run of this job already in progress for this commit."]
    assert facts(attached)["Origin"].startswith("attached to a run already in progress")
    retried = render_summary(
        make_report(origin="retried", skipped_steps=("Invoke dbt with `dbt deps`", "Clone"))
    )
    assert notes(retried) == [
        "Retried from the point of failure, built as the failed run was.",
        "Skipped steps that had already succeeded: Invoke dbt with `dbt deps`; Clone.",
    ]
    triggered = render_summary(make_report(Outcome.TRIGGERED, run=None, results=None))
    assert triggered.startswith(f"## 🚀 dbt Cloud [the run]({RUN_URL}) of **CI build** was")
    assert "Steps" not in triggered


@settings(max_examples=150, deadline=None)
@given(branch=hostile_text, job=hostile_text, message=hostile_text, step_name=hostile_text)
def test_untrusted_text_stays_in_its_cell(
    branch: str, job: str, message: str, step_name: str
) -> None:
    results = run_results(
        [{"unique_id": f"model.x.{branch}", "status": "error", "message": message}]
    )
    steps = (
        step(1, step_name, 20, f"Completed with 1 error\n{message}\nDatabase Error {message}"),
    )
    report = make_report(
        Outcome.ERROR,
        job_name=job,
        git_branch=branch,
        run=make_run(20, steps, cause=message, status_message=message),
        results=results,
        notes=(message,),
        overrides=(("steps", message),),
        pull_request=None,
        artifacts=(branch,),
    )
    for markdown in (render_summary(report), render_pr_comment(report, MARKER, SUMMARY_URL)):
        assert_safe(markdown)
        assert set(references(markdown)) <= {"#4242"}
        shown_branch = " ".join(plain_text(branch).split())
        if shown_branch:
            assert (
                code_span_text(facts(markdown)["Branch"]) == shown_branch[:200]
                or len(shown_branch) > 200
            )
        problems = next(t for t in tables(markdown) if t[0][0] == "Node")
        assert len(problems) == 3  # header, delimiter, one node: no row was injected
        cell = problems[2][3]
        shown = [decode_text(line).replace("\u200d", "") for line in cell.split("<br>") if cell]
        expected = [" ".join(plain_text(line).split()) for line in message.strip().splitlines()]
        expected = [line.replace("\u200d", "") for line in expected[:5] if line]
        assert shown == expected or "…" in cell


# --- bounds -----------------------------------------------------------------------------------

HOSTILE_LINE = "<b>@all</b> | `x` " * 200


def test_huge_runs_stay_under_github_limits() -> None:
    nodes = [
        {
            "unique_id": f"test.shop.t{i}_" + "&" * 300,
            "status": "fail" if i % 2 else "error",
            "failures": i,
            "message": HOSTILE_LINE + "\n" + HOSTILE_LINE,
        }
        for i in range(100_000)
    ]
    nodes += [
        {"unique_id": f"model.shop.m{i}", "status": "success", "execution_time": i}
        for i in range(50)
    ]
    huge_log = ("Completed with 1 error\nDatabase Error " + HOSTILE_LINE + "\n") * 500
    steps = tuple(step(i, '"' * 5000, 20, huge_log) for i in range(1, 1000))
    report = make_report(
        Outcome.ERROR,
        job_name='"' * 10_000,
        git_branch="|" * 10_000,
        run=make_run(20, steps, status_message='"' * 10**6, cause='"' * 10**5),
        results=digest_run_results({"results": nodes}),
        notes=tuple('"' * 10**5 for _ in range(1000)),
        overrides=tuple(("steps", ('"' * 5000 + "\n") * 100) for _ in range(1000)),
        skipped_steps=tuple('"' * 5000 for _ in range(1000)),
        artifacts=tuple("|" * 5000 for _ in range(1000)),
        origin="retried",
    )
    summary = render_summary(report)
    assert len(summary.encode()) < SUMMARY_MAX_BYTES
    assert "… and 99,900 more failing or erroring nodes not shown." in summary
    assert "… and 899 more steps not shown." in summary
    assert_safe(summary)
    comment = render_pr_comment(report, MARKER, SUMMARY_URL)
    assert len(comment) < COMMENT_MAX_CHARS
    assert comment.startswith(MARKER + "\n")
    assert f"[job summary]({SUMMARY_URL})" in comment
    assert "Shortened to fit a comment" in comment
    assert_safe(comment)


def test_comment_of_an_ordinary_failure_is_complete() -> None:
    report = make_report(Outcome.ERROR, run=make_run(20, ERROR_STEPS), results=FAILING)
    comment = render_pr_comment(report, MARKER, None)
    assert comment.startswith(MARKER + "\n\n## ❌ dbt Cloud [run #4242]")
    assert "`test.shop.not_null_orders_id`" in comment
    assert "<sub>Full report: the workflow run's job summary.</sub>" in comment
    assert "Shortened" not in comment
    assert_safe(comment)


@pytest.mark.parametrize("marker", ["dbt", "<!-- a --> b -->", "<!-- a\n -->", ""])
def test_comment_marker_must_be_one_html_comment(marker: str) -> None:
    with pytest.raises(ValueError, match="marker must be a one-line HTML comment"):
        render_pr_comment(make_report(), marker, None)


def test_fit_drops_blocks_that_do_not_fit_and_says_so() -> None:
    assert _fit(["a", "b"], 100, len, "cut") == "a\n\nb\n"
    assert _fit(["a", "b" * 50, "c"], 20, len, "cut") == "a\n\nc\n\ncut\n"


def test_a_failed_step_whose_results_name_no_failure_never_reads_as_no_errors() -> None:
    """dbt Fusion leaves erroring results out of run_results.json (dbt-fusion#1130): the
    failing model comes from the step's log, and with none there the count is no `error 0`."""
    fusion_log = "    Failed [  0.40s] model dbt_ci.customers (table)\nerror: dbt1501: boom"
    silent = digest_run_results({"metadata": {"dbt_version": "2.0.0-preview.164"}, "results": []})
    steps = (*SUCCESS_STEPS[:3], step(4, "Invoke dbt with `dbt build`", 20, fusion_log))
    report = make_report(
        Outcome.ERROR,
        run=make_run(20, steps),
        results=silent,
        step_results=(StepResults(4, "dbt build", silent),),
    )
    summary = render_summary(report)
    assert "❌ error **1**" in summary
    assert "`model dbt_ci.customers` | ❌ error (from the log)" in summary
    unexplained = (*SUCCESS_STEPS[:3], step(4, "Invoke dbt with `dbt build`", 20, "error: boom"))
    summary = render_summary(dataclasses.replace(report, run=make_run(20, unexplained)))
    assert "error **0**" not in summary
    assert "neither its run_results.json nor its log names a failing node" in summary


_MERMAID_LINE = r'  (n\d+\["[A-Za-z0-9_.\-]*"\]|n\d+ --> n\d+|classDef .*|class [n\d,]+ failed)'


def test_a_mermaid_graph_keeps_hostile_node_names_inert_and_its_edges_bounded() -> None:
    failed = 'model.x.a"]\n```\n<script>x</script>'
    kids = [f"model.x.{fragment}{i}" for i, fragment in enumerate(FRAGMENTS)]
    facts = ManifestFacts(
        downstream={failed: Downstream(len(kids), tuple(kids[:5]))},
        edges=tuple((failed, kid) for kid in kids)[:MAX_GRAPH_EDGES],
    )
    report = RunReport(
        job_id=1,
        job_name="j",
        account_id=1,
        run=None,
        run_url="",
        outcome=Outcome.ERROR,
        facts=facts,
    )
    summary = render_summary(report)
    block = summary.split("```mermaid\n", 1)[1].split("\n```\n", 1)[0]
    assert summary.count("```mermaid") == 1
    for line in block.splitlines()[1:]:
        assert re.fullmatch(_MERMAID_LINE, line), line
    assert block.count(" --> ") <= MAX_GRAPH_EDGES


def test_the_comment_state_changes_with_a_failures_mark() -> None:
    """comment-on-pr: changes rewrites the comment when a failure turns from new to already
    failing (or back), not only when the outcome or the failing nodes change."""
    from dbt_cloud_action.comment_mode import comment_state

    failed = make_report(Outcome.ERROR, run=make_run(20), results=FAILING)
    [node, *_] = sorted(n.unique_id for n in FAILING.problems)
    new = dataclasses.replace(failed, marks={node: "new"})
    already = dataclasses.replace(failed, marks={node: "already failing"})
    assert comment_state([new]) == comment_state([dataclasses.replace(failed, marks={node: "new"})])
    assert len({comment_state([failed]), comment_state([new]), comment_state([already])}) == 3
