from datetime import UTC, datetime, timedelta

from dbt_cloud_action.inputs import RetryFailed
from dbt_cloud_action.lifecycle import (
    RetryDecision,
    RetryScope,
    differing_overrides,
    find_reusable_run,
    retry_candidate,
    same_commit,
    steps_skipped_by_retry,
    superseded_runs,
    usual_duration_sample,
    wants_retry,
)
from dbt_cloud_action.models import Overrides, Run, RunStatus, RunStep

SHA = "a" * 40
OTHER = "b" * 40
NEWER = "c" * 40
NONE = Overrides()
EVENT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def run(
    run_id: int,
    status: RunStatus,
    sha: str = SHA,
    pr: int | None = 7,
    *,
    steps: tuple[RunStep, ...] = (),
    overrides: Overrides | None = NONE,
    created: datetime | None = None,
    cause: str = "",
) -> Run:
    return Run(
        id=run_id,
        job_id=1,
        account_id=1,
        status=status,
        status_code=int(status),
        git_sha=sha,
        github_pull_request_id=pr,
        steps=steps,
        overrides=overrides,
        created_at=created,
        cause=cause,
    )


def test_same_commit_accepts_prefixes_of_seven_or_more() -> None:
    assert same_commit(SHA, SHA[:7])
    assert same_commit(SHA[:7].upper(), SHA)
    assert not same_commit(SHA, SHA[:6])
    assert not same_commit(SHA, OTHER)
    assert not same_commit("", SHA)


def test_reuse_picks_newest_active_run_for_commit_and_pr() -> None:
    runs = [
        run(9, RunStatus.SUCCESS),
        run(8, RunStatus.RUNNING, pr=8),
        run(7, RunStatus.QUEUED, sha=OTHER),
        run(6, RunStatus.RUNNING),
        run(5, RunStatus.QUEUED),
    ]
    found = find_reusable_run(runs, SHA, 7, NONE)
    assert found is not None and found.id == 6


def test_reuse_needs_a_sha() -> None:
    assert find_reusable_run([run(1, RunStatus.RUNNING)], "", 7, NONE) is None


def test_reuse_without_pr_matches_any_pr() -> None:
    found = find_reusable_run([run(3, RunStatus.STARTING, pr=None)], SHA[:12], None, NONE)
    assert found is not None and found.id == 3


def test_reuse_needs_the_same_overrides() -> None:
    wanted = Overrides(schema="dbt_pr_7", threads=8, steps=("dbt build",))
    runs = [
        run(9, RunStatus.RUNNING, overrides=Overrides(schema="dbt_pr_7")),  # other threads, steps
        run(8, RunStatus.RUNNING, overrides=None),  # trigger unknown: never assumed the same
        run(7, RunStatus.QUEUED, overrides=wanted),
    ]
    found = find_reusable_run(runs, SHA, 7, wanted)
    assert found is not None and found.id == 7
    assert find_reusable_run(runs[:2], SHA, 7, wanted) is None
    assert differing_overrides(runs[0], wanted) == ("threads", "steps")
    assert len(differing_overrides(runs[1], wanted)) == 7


def test_reuse_compares_every_override() -> None:
    every = Overrides("s", "1.9.0-latest", 4, "ci", True, 600, ("dbt build",))
    for name, other in (
        ("schema", "t"),
        ("dbt_version", "latest"),
        ("threads", 8),
        ("target_name", "prod"),
        ("generate_docs", False),
        ("timeout_seconds", 0),
        ("steps", ("dbt run",)),
    ):
        changed = Overrides(**{**every.__dict__, name: other})
        assert differing_overrides(run(1, RunStatus.RUNNING, overrides=changed), every) == (name,)
        assert (
            find_reusable_run([run(1, RunStatus.RUNNING, overrides=changed)], SHA, 7, every) is None
        )


def test_overrides_from_a_trigger_read_null_and_empty_as_not_given() -> None:
    trigger: dict[str, object] = {
        "schema_override": "",
        "threads_override": None,
        "steps_override": [],
        "generate_docs_override": False,
        "timeout_seconds_override": 0,
    }
    assert Overrides.from_trigger(trigger) == Overrides(generate_docs=False, timeout_seconds=0)
    assert Overrides.from_trigger({}) == NONE


def superseding(runs: list[Run], pr_head: str | None, event_time: datetime | None) -> list[int]:
    return [
        r.id for r in superseded_runs(runs, SHA, 7, pr_head=pr_head, event_time=event_time).runs
    ]


def test_superseded_are_active_runs_of_same_pr_at_other_commits() -> None:
    runs = [
        run(5, RunStatus.RUNNING, sha=OTHER),
        run(4, RunStatus.QUEUED, sha=OTHER, pr=8),
        run(3, RunStatus.RUNNING),
        run(2, RunStatus.ERROR, sha=OTHER),
        run(1, RunStatus.QUEUED, sha=OTHER),
    ]
    assert superseding(runs, SHA, None) == [5, 1]
    assert superseded_runs(runs, SHA, None, pr_head=SHA, event_time=None).runs == ()


def test_superseded_never_when_this_commit_is_no_longer_the_head() -> None:
    runs = [run(5, RunStatus.RUNNING, sha=NEWER), run(1, RunStatus.QUEUED, sha=OTHER)]
    decision = superseded_runs(runs, SHA, 7, pr_head=NEWER, event_time=EVENT)
    assert decision.runs == ()
    assert "no longer the head of pull request #7 (now ccccccc)" in decision.reason


def test_superseded_without_the_head_only_runs_created_before_the_event() -> None:
    before, after = EVENT - timedelta(seconds=1), EVENT + timedelta(seconds=1)
    runs = [
        run(5, RunStatus.RUNNING, sha=NEWER, created=after),  # a later push: left alone
        run(4, RunStatus.RUNNING, sha=OTHER, created=None),  # no time: left alone
        run(1, RunStatus.QUEUED, sha=OTHER, created=before.replace(tzinfo=None)),
    ]
    assert superseding(runs, None, EVENT) == [1]
    assert "2 run(s)" in superseded_runs(runs, SHA, 7, pr_head=None, event_time=EVENT).reason
    nothing = superseded_runs(runs, SHA, 7, pr_head=None, event_time=None)
    assert nothing.runs == () and "no run is cancelled" in nothing.reason


def test_usual_duration_sample_is_the_ten_newest_successes() -> None:
    runs = [run(i, RunStatus.SUCCESS if i % 2 else RunStatus.ERROR) for i in range(40, 0, -1)]
    assert [r.id for r in usual_duration_sample(runs)] == list(range(39, 19, -2))


def test_wants_retry() -> None:
    assert not wants_retry(RetryFailed.AUTO, 1)
    assert wants_retry(RetryFailed.AUTO, 2)
    assert wants_retry(RetryFailed.ALWAYS, 1)
    assert not wants_retry(RetryFailed.NEVER, 3)


# this step: attempt 2 of workflow run 900, GitHub job `dbt`
MINE = "GitHub Actions: CI #4 (pull_request) in o/r [run 900/2 job dbt key 0a0a0a]"
FIRST_ATTEMPT = "GitHub Actions: CI #4 (pull_request) in o/r [run 900/1 job dbt key 1b1b1b]"
AUTO_SCOPE = RetryScope(MINE, automatic=True)


def failed_run(
    run_id: int, sha: str = SHA, pr: int | None = 7, overrides: Overrides | None = NONE
) -> Run:
    """A run this step's first attempt started, which failed."""
    return run(run_id, RunStatus.ERROR, sha, pr, overrides=overrides, cause=FIRST_ATTEMPT)


def candidate(runs: list[Run], sha: str = SHA, scope: RetryScope = AUTO_SCOPE) -> Run | None:
    return retry_candidate(runs, sha, 7, NONE, scope).run


def test_retry_candidate_is_latest_run_for_commit_only_when_failed() -> None:
    failed = failed_run(4)
    assert candidate([failed_run(5, sha=OTHER), failed]) == failed
    for later in (RunStatus.SUCCESS, RunStatus.CANCELLED, RunStatus.RUNNING):
        assert candidate([run(6, later, cause=FIRST_ATTEMPT), failed]) is None
    assert candidate([failed], "") is None
    assert candidate([failed_run(5, pr=8), failed]) == failed  # another pull request's run


def test_a_failed_run_built_differently_is_not_retried() -> None:
    """The rule attach follows: a run into another schema, with another target, is another
    build; a retry would rerun it as it was, so the step triggers its own and says why."""
    asked = Overrides(schema="ci_2", target_name="ci")
    other = failed_run(5, overrides=Overrides(schema="ci_1", target_name="prod"))
    decision = retry_candidate([other], SHA, 7, asked, AUTO_SCOPE)
    assert decision == RetryDecision(
        None,
        "Run 5 failed for commit aaaaaaa but differs in schema, target_name: not retrying "
        "it; triggering a new run.",
    )
    same = failed_run(4, overrides=asked)
    assert retry_candidate([other, same], SHA, 7, asked, AUTO_SCOPE) == RetryDecision(same)
    unknown = failed_run(3, overrides=None)  # the list did not say how it was built
    assert retry_candidate([unknown], SHA, 7, NONE, AUTO_SCOPE).run is None


def test_only_a_run_this_workflow_run_started_is_retried() -> None:
    """Under retry-failed: auto, an earlier attempt of this workflow run, for this job."""

    def decided(cause: str) -> RetryDecision:
        return retry_candidate([run(5, RunStatus.ERROR, cause=cause)], SHA, 7, NONE, AUTO_SCOPE)

    assert decided(FIRST_ATTEMPT).run is not None
    assert decided(FIRST_ATTEMPT.replace("[run 900/1", "[run 899/1")).run is None  # another
    assert decided(FIRST_ATTEMPT.replace("job dbt", "job lint")).run is None
    assert decided(FIRST_ATTEMPT.replace("[run 900/1", "[run 900/2")).run is None  # this attempt
    native = decided("Triggered by a pull request")  # dbt Cloud's own CI, a person, a tool
    assert native.run is None
    assert native.reason == (
        "Run 5 failed for commit aaaaaaa but was not started by this workflow: not retrying "
        "it; triggering a new run."
    )
    # a retry of our run carries its cause, so a third attempt retries it again
    third = RetryScope(MINE.replace("900/2", "900/3"), automatic=True)
    retried = [run(6, RunStatus.ERROR, cause=FIRST_ATTEMPT), failed_run(5)]
    assert retry_candidate(retried, SHA, 7, NONE, third).run == retried[0]


def test_someone_elses_newer_run_does_not_hide_ours() -> None:
    mine = failed_run(4)
    assert candidate([run(6, RunStatus.SUCCESS, cause="Native CI"), mine]) == mine


def test_retry_failed_always_takes_this_jobs_runs_from_any_workflow_run() -> None:
    always = RetryScope(MINE, automatic=True, any_workflow_run=True)
    dispatched = FIRST_ATTEMPT.replace("[run 900/1", "[run 77/1")
    assert candidate([run(5, RunStatus.ERROR, cause=dispatched)], scope=always) is not None
    lint = dispatched.replace("job dbt", "job lint")
    assert candidate([run(5, RunStatus.ERROR, cause=lint)], scope=always) is None
    assert candidate([run(5, RunStatus.ERROR, cause="Native CI")], scope=always) is None


def test_with_the_users_own_cause_a_run_is_ours_when_its_cause_is_the_same() -> None:
    own = RetryScope("Nightly build", automatic=False)
    assert candidate([run(5, RunStatus.ERROR, cause="Nightly build")], scope=own) is not None
    assert candidate([run(5, RunStatus.ERROR, cause="Nightly")], scope=own) is None
    # the user's cause is matched as text, never read as a tag
    assert candidate([failed_run(5)], scope=RetryScope(MINE, automatic=False)) is None


def test_steps_skipped_by_retry_are_succeeded_dbt_commands() -> None:
    steps = (
        RunStep(1, "Clone git repository", RunStatus.SUCCESS),
        RunStep(2, "Invoke dbt with `dbt seed`", RunStatus.SUCCESS),
        RunStep(3, "Invoke dbt with `dbt build`", RunStatus.ERROR),
        RunStep(4, "Invoke dbt with `dbt docs generate`", RunStatus.CANCELLED),
    )
    assert steps_skipped_by_retry(run(1, RunStatus.ERROR, steps=steps)) == (
        "Invoke dbt with `dbt seed`",
    )
