"""The chaos invariants on made-up records: each one breaks when it should, and only then."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.chaos_checks import (
    CaseRecord,
    CreatedRun,
    Promises,
    SentSignal,
    Step,
    request_summary,
    violations,
)
from tests.chaos_schedule import FaultKind, Keep, Moment, Schedule

PROMISES = Promises(signal_budget=7.5, timeout_grace=10.0)
NAMES = {61: "Chaos A", 62: "Chaos B"}
CAUSE = "GitHub Actions: dbt CI #42 (pull_request) in o/r [run 9001/1 job dbt key 0a1b2c]"
SCHEDULE = Schedule(
    seed=1,
    jobs=(61,),
    moment=Moment.DURING_POLL,
    signal=None,
    fault_kind=FaultKind.DELAY,
    keep=Keep.NONE,
    timeout=None,
    faults=(),
    outage=None,
    trigger_call=1,
    lag=0.0,
)


def outputs(status: str, code: str, run_id: str = "7") -> dict[str, str]:
    one = {"run-id": run_id, "status": status, "status-code": code}
    return {**one, "runs": json.dumps([{"job-id": "61", **one}])}


def summary(words: str, run_id: int = 7) -> str:
    return f"## 🚫 dbt Cloud [run #{run_id}](http://x/) of **Chaos A** {words}\n\n| | |\n"


def record(**changes: object) -> CaseRecord:
    """A SIGINT during polls, the run cancelled and reported so, the post step idle."""
    base = CaseRecord(
        schedule=SCHEDULE,
        sent=(SentSignal(2.0, "SIGINT", "schedule"),),
        moment_at=1.8,
        exited_at=2.5,
        main=Step(130, outputs("cancelled", "30"), summary("was cancelled"), {}, ""),
        at_exit={7: 30},
        post=Step(0, {}, "", {}, ""),
        post_seconds=0.2,
        post_killed=False,
        final={7: 30},
        runs=(CreatedRun(7, 61, CAUSE),),
        requests=(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def kinds(case: CaseRecord) -> list[str]:
    return [v.invariant for v in violations(case, PROMISES, NAMES)]


def test_a_cancelled_and_truly_reported_run_breaks_nothing() -> None:
    assert kinds(record()) == []


def test_a_run_left_going_breaks_a_unless_the_inputs_kept_it() -> None:
    going = record(at_exit={7: 3}, final={7: 3}, main=Step(-9, {}, "", {}, ""))
    assert kinds(going) == ["a"]
    kept = replace(going, schedule=replace(SCHEDULE, keep=Keep.CANCEL_ON_EXIT))
    assert kinds(kept) == []


def test_two_runs_of_a_job_or_an_untagged_run_break_b() -> None:
    two = (CreatedRun(7, 61, CAUSE), CreatedRun(8, 61, CAUSE))
    twice = record(runs=two, at_exit={7: 30, 8: 30}, final={7: 30, 8: 30})
    assert kinds(twice) == ["b", "c", "c"]  # and `runs` and the outputs name only one of them
    assert kinds(record(runs=(CreatedRun(7, 61, "Triggered by hand"),))) == ["b"]


def test_claiming_an_end_dbt_cloud_did_not_report_breaks_c() -> None:
    still_going = record(at_exit={7: 3})
    assert kinds(still_going) == ["c", "c", "c"]  # runs, the outputs, the summary
    honest = replace(
        still_going,
        main=Step(130, outputs("cancelled", "3"), summary("was left running in dbt Cloud"), {}, ""),
    )
    assert kinds(honest) == []


def test_missing_a_run_dbt_cloud_ended_breaks_c() -> None:
    unnamed = record(main=Step(130, outputs("cancelled", "", run_id=""), "", {}, ""))
    assert kinds(unnamed) == ["c", "c"]


def test_overrunning_the_signal_budget_or_the_timeout_breaks_d() -> None:
    assert kinds(record(exited_at=2.0 + 7.5)) == ["d"]
    assert kinds(record(exited_at=2.0 + 7.4)) == []
    timed = replace(SCHEDULE, timeout=5)
    assert kinds(record(schedule=timed, sent=(), exited_at=15.1)) == ["d"]
    assert kinds(record(schedule=timed, sent=(), exited_at=14.9)) == []
    assert kinds(record(post_killed=True, post_seconds=40.0)) == ["d"]


def test_the_request_log_is_summarised_by_runs_of_identical_requests() -> None:
    log = [(0.1, "get_run", "/api/v2/accounts/1/runs/7/", 503)] * 3
    log += [(0.5, "cancel", "/api/v2/accounts/1/runs/7/cancel/", 200)]
    assert request_summary(log) == [
        "+0.10s..+0.10s get_run /runs/7/ -> 503 x3",
        "+0.50s cancel /runs/7/cancel/ -> 200",
    ]
