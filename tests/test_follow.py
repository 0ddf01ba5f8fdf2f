"""`mode: follow`: which of the job's runs is dbt Cloud's own run for this commit and pull
request, how often the job's runs are listed while it is awaited, and the bounded wait."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from dbt_cloud_action.follow import (
    FOLLOW_LIST_LIMIT,
    FollowTarget,
    appear_poll_interval,
    followed_run,
    not_found_message,
    not_running_on_pull_requests,
    wait_for_run,
)
from dbt_cloud_action.models import Job, JobTriggers, Outcome, Run, RunStatus
from dbt_cloud_action.reporting import RunReport, annotation_for, outputs_for, render_summary

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
OTHER = "0123456789abcdef0123456789abcdef01234567"
TARGET = FollowTarget(job_id=21, git_sha=SHA, pull_request=2)


def run(
    run_id: int,
    trigger_sha: str | None = SHA,
    pr: int | None = 2,
    status: RunStatus = RunStatus.RUNNING,
    *,
    checked_out: str = "",
) -> Run:
    return Run(
        id=run_id,
        job_id=21,
        account_id=1,
        status=status,
        status_code=int(status),
        git_sha=checked_out or (trigger_sha or ""),
        github_pull_request_id=pr,
        trigger_git_sha=trigger_sha,
    )


def test_the_newest_run_for_the_commit_and_pull_request_is_followed() -> None:
    runs = [run(5), run(9, pr=3), run(8, trigger_sha=OTHER), run(7), run(6)]
    assert followed_run(runs, TARGET) == run(7)


def test_shas_match_as_prefixes_either_way_and_in_any_case() -> None:
    assert followed_run([run(1, trigger_sha=SHA[:7].upper())], TARGET) == run(
        1, trigger_sha=SHA[:7].upper()
    )
    short = FollowTarget(21, SHA[:9], 2)
    assert followed_run([run(1)], short) == run(1)
    assert followed_run([run(1, trigger_sha=SHA[:6])], TARGET) is None


def test_runs_whose_trigger_is_unknown_or_for_no_commit_are_skipped() -> None:
    """Without its trigger, a run's git_sha may be what a branch run checked out."""
    assert followed_run([run(2, trigger_sha=None, checked_out=SHA)], TARGET) is None
    any_pull = FollowTarget(21, SHA, None)
    assert followed_run([run(2, trigger_sha="", checked_out=SHA)], any_pull) is None


def test_a_trigger_without_git_sha_matches_on_the_pull_request_and_the_runs_own_sha() -> None:
    """Safe either way (thin evidence that a webhook run's trigger has git_sha): the trigger
    names this pull request and the run checked out this commit."""
    assert followed_run([run(2, trigger_sha="", checked_out=SHA)], TARGET) == run(
        2, trigger_sha="", checked_out=SHA
    )
    assert followed_run([run(2, trigger_sha="", checked_out=OTHER)], TARGET) is None
    assert followed_run([run(2, trigger_sha="", pr=3, checked_out=SHA)], TARGET) is None


def test_the_pull_request_must_match_when_the_step_knows_it() -> None:
    assert followed_run([run(3, pr=None), run(2, pr=4)], TARGET) is None
    any_pull = FollowTarget(21, SHA, None)  # e.g. a push event: the commit alone decides
    assert followed_run([run(3, pr=None), run(2, pr=4)], any_pull) == run(3, pr=None)


def test_a_run_that_already_ended_is_followed_too() -> None:
    ended = run(4, status=RunStatus.ERROR)
    assert followed_run([ended], TARGET) == ended


def test_the_listing_is_polled_often_at_first_then_less() -> None:
    assert appear_poll_interval(0) == appear_poll_interval(59) == 3
    assert appear_poll_interval(60) == appear_poll_interval(299) == 10
    assert appear_poll_interval(300) == appear_poll_interval(10_000) == 30
    assert appear_poll_interval(500, fixed=7.5) == 7.5


def test_a_job_that_does_not_run_on_pull_requests_gets_a_warning() -> None:
    ci = Job(21, 1, "CI", triggers=JobTriggers(github_webhook=True))
    gitlab = Job(21, 1, "CI", triggers=JobTriggers(git_provider_webhook=True))
    deploy = Job(22, 1, "Deploy", triggers=JobTriggers(schedule=True))
    assert not_running_on_pull_requests(ci) is None
    assert not_running_on_pull_requests(gitlab) is None
    warning = not_running_on_pull_requests(deploy)
    assert warning is not None
    assert "'Triggered by pull requests' is off" in warning and "mode: trigger" in warning


def test_the_not_found_message_says_what_was_awaited_and_what_to_check() -> None:
    message = not_found_message(TARGET, 600)
    assert message.startswith(
        "dbt Cloud started no run of job 21's run for commit ec26c3e and pull request #2 "
        "within 10m 00s."
    )
    for hint in ("'Triggered by pull requests'", "fork", "follow-timeout", "mode: trigger"):
        assert hint in message


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Listings:
    """The job's runs as dbt Cloud lists them: `appears_at` seconds on `clock`, the run shows."""

    def __init__(self, clock: FakeClock, appears_at: float | None, run: Run) -> None:
        self.clock, self.appears_at, self.run = clock, appears_at, run
        self.calls: list[dict[str, Any]] = []

    def list_runs(
        self,
        job_id: int,
        *,
        order_by: str = "-id",
        limit: int = 10,
        include_related: Sequence[str] = (),
    ) -> list[Run]:
        self.calls.append(
            {"job_id": job_id, "order_by": order_by, "limit": limit, "related": include_related}
        )
        shown = self.appears_at is not None and self.clock.now >= self.appears_at
        return [self.run, run(1, trigger_sha=OTHER)] if shown else [run(1, trigger_sha=OTHER)]


def wait(listings: Listings, clock: FakeClock, bound: float, lines: list[str]) -> Any:
    return wait_for_run(
        listings,
        TARGET,
        bound=bound,
        fixed_interval=None,
        clock=clock,
        sleep=clock.sleep,
        info=lines.append,
    )


def test_the_wait_lists_once_per_poll_until_the_run_appears() -> None:
    clock, lines = FakeClock(), list[str]()
    listings = Listings(clock, appears_at=70, run=run(9))
    found = wait(listings, clock, 600, lines)
    assert found.run == run(9) and found.waited == pytest.approx(70)
    assert clock.sleeps == [3.0] * 20 + [10.0]  # 60 s at 3 s, then 10 s
    assert len(listings.calls) == len(clock.sleeps) + 1
    assert listings.calls[0] == {
        "job_id": 21,
        "order_by": "-id",
        "limit": FOLLOW_LIST_LIMIT,
        "related": ("trigger",),
    }
    assert FOLLOW_LIST_LIMIT <= 100  # dbt Cloud refuses more
    assert lines == [
        "Waiting up to 10m 00s for dbt Cloud to start job 21's run for commit ec26c3e and "
        "pull request #2 (mode: follow; this step triggers nothing)."
    ]
    assert [r.id for r in found.recent] == [9, 1]


def test_a_run_already_there_is_returned_at_once_without_a_wait() -> None:
    clock, lines = FakeClock(), list[str]()
    listings = Listings(clock, appears_at=0, run=run(9, status=RunStatus.SUCCESS))
    found = wait(listings, clock, 600, lines)
    assert found.run is not None and found.run.status is RunStatus.SUCCESS
    assert (clock.sleeps, lines, len(listings.calls)) == ([], [], 1)


def test_the_wait_ends_at_its_bound_after_a_last_listing() -> None:
    clock, lines = FakeClock(), list[str]()
    listings = Listings(clock, appears_at=None, run=run(9))
    found = wait(listings, clock, 20, lines)
    assert found.run is None and found.waited == 20
    assert clock.sleeps == [3.0] * 6 + [2.0]  # never past the bound
    assert len(listings.calls) == 8 and len(lines) == 1


# --- how a followed run and a run not found are reported --------------------------------------


def report(outcome: Outcome, run_: Run | None, notes: tuple[str, ...] = ()) -> RunReport:
    return RunReport(
        job_id=21,
        job_name="CI build",
        account_id=1,
        run=run_,
        run_url="https://ab123.us1.dbt.com/deploy/1/projects/1/runs/7/" if run_ else "",
        outcome=outcome,
        origin="followed",
        git_sha=SHA,
        pull_request=2,
        notes=notes,
    )


def test_a_followed_run_is_reported_as_dbt_clouds_own() -> None:
    ended = run(7, status=RunStatus.SUCCESS)
    summary = re.sub(r"\\(.)", r"\1", render_summary(report(Outcome.SUCCESS, ended)))
    assert "Followed the run dbt Cloud started by itself for this commit" in summary
    assert "started by dbt Cloud for this commit's pull request, followed (mode: follow)" in (
        summary
    )
    assert outputs_for(report(Outcome.SUCCESS, ended))["origin"] == "followed"


def test_a_run_not_found_is_an_error_with_the_reason_and_empty_run_outputs() -> None:
    message = not_found_message(TARGET, 600)
    missing = report(Outcome.NOT_FOUND, None, (message,))
    outputs = outputs_for(missing)
    assert (outputs["status"], outputs["run-id"], outputs["run-url"]) == ("not-found", "", "")
    title_and_message = annotation_for(missing)
    assert title_and_message is not None
    assert title_and_message == ("dbt Cloud job CI build: no run to follow", message)
    summary = render_summary(missing)
    assert summary.startswith("## ❓ dbt Cloud job 21 has no run to follow\n\n")
    assert "Triggered by pull requests" in summary
