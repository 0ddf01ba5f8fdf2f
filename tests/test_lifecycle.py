from dbt_cloud_action.inputs import RetryFailed
from dbt_cloud_action.lifecycle import (
    find_reusable_run,
    retry_candidate,
    same_commit,
    steps_skipped_by_retry,
    superseded_runs,
    wants_retry,
)
from dbt_cloud_action.models import Run, RunStatus, RunStep

SHA = "a" * 40
OTHER = "b" * 40


def run(
    run_id: int,
    status: RunStatus,
    sha: str = SHA,
    pr: int | None = 7,
    steps: tuple[RunStep, ...] = (),
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
    found = find_reusable_run(runs, SHA, 7)
    assert found is not None and found.id == 6


def test_reuse_needs_a_sha() -> None:
    assert find_reusable_run([run(1, RunStatus.RUNNING)], "", 7) is None


def test_reuse_without_pr_matches_any_pr() -> None:
    found = find_reusable_run([run(3, RunStatus.STARTING, pr=None)], SHA[:12], None)
    assert found is not None and found.id == 3


def test_superseded_are_active_runs_of_same_pr_at_other_commits() -> None:
    runs = [
        run(5, RunStatus.RUNNING, sha=OTHER),
        run(4, RunStatus.QUEUED, sha=OTHER, pr=8),
        run(3, RunStatus.RUNNING),
        run(2, RunStatus.ERROR, sha=OTHER),
        run(1, RunStatus.QUEUED, sha=OTHER),
    ]
    assert [r.id for r in superseded_runs(runs, SHA, 7)] == [5, 1]
    assert superseded_runs(runs, SHA, None) == []


def test_wants_retry() -> None:
    assert not wants_retry(RetryFailed.AUTO, 1)
    assert wants_retry(RetryFailed.AUTO, 2)
    assert wants_retry(RetryFailed.ALWAYS, 1)
    assert not wants_retry(RetryFailed.NEVER, 3)


def test_retry_candidate_is_latest_run_for_commit_only_when_failed() -> None:
    failed = run(4, RunStatus.ERROR)
    assert retry_candidate([run(5, RunStatus.ERROR, sha=OTHER), failed], SHA, 7) == failed
    assert retry_candidate([run(6, RunStatus.SUCCESS), failed], SHA, 7) is None
    assert retry_candidate([run(6, RunStatus.CANCELLED), failed], SHA, 7) is None
    assert retry_candidate([run(6, RunStatus.RUNNING), failed], SHA, 7) is None
    assert retry_candidate([failed], "", 7) is None


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
