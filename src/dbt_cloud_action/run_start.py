"""How one job's run comes to be followed: attach, supersede, retry, trigger, or wait for it.

`RunStart.start()` is the seam: it returns the run to follow and how this step came to it
(`Started`). It never starts a second run for the same commit by accident: the job's newest
runs are listed once, and hold the runs to attach to, to supersede or to retry, and the
successes that time the job's usual duration. Before a run-creating POST the step state gets
the trigger's key, so the post step can find a run whose answer never came.

Every call goes through the life's client, whose scope (scope.py) carries the step's cancel and
the start's deadline; the follow-mode wait sleeps in the same scope.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from . import toolkit
from .client import DbtCloudClient, DbtCloudError, OutcomeUnknown
from .context import GitHubContext
from .inputs import AUTO, ActionInputs, Mode, RetryFailed
from .lifecycle import (
    RECENT_RUNS_LIMIT,
    RetryScope,
    active_runs_for_commit,
    differing_overrides,
    find_reusable_run,
    other_commit_runs,
    retry_candidate,
    steps_skipped_by_retry,
    superseded_runs,
    usual_duration_sample,
    wants_retry,
)
from .models import Job, Overrides, Run
from .payload import TriggerPayload
from .step_state import PendingRun, RunState


@dataclass(frozen=True)
class Started:
    """What `start()` hands on: the run to follow and how this step came to it."""

    run: Run
    origin: str  # "triggered" | "attached" | "retried" | "followed" | "given"
    overrides: Overrides | None = None  # what the run was built with, when known
    skipped: tuple[str, ...] = ()  # steps a retry skips
    expected_duration: float | None = None  # the job's usual run time


class RunStart:
    """The start of one job's run, in its life's thread."""

    def __init__(
        self,
        inputs: ActionInputs,
        context: GitHubContext,
        payload: TriggerPayload,
        client: DbtCloudClient,
        state: RunState,
        *,
        timeout_at: float,
        log_prefix: str = "",
        given: Run | None = None,
    ) -> None:
        """`timeout_at`: when the step's `timeout` is up (inf: never), on the monotonic clock;
        `given`: run-id's run, read already, which `start()` hands on as it is."""
        self.inputs = inputs
        self.timeout_at = timeout_at
        self.context = context
        self.payload = payload
        self.client = client
        self.state = state
        self.log_prefix = log_prefix
        self.given = given

    def warn_of(self, job: Job) -> None:
        """The job's triggers against the mode: a double run, or no run to follow."""
        from .follow import not_running_on_pull_requests  # noqa: PLC0415 - lazy: see action.py
        from .job_lookup import pull_request_trigger_warning  # noqa: PLC0415 - lazy: see action.py

        if self.given is not None:  # nothing is started: no double run to warn of
            return
        if self.inputs.mode is Mode.FOLLOW:
            # mode: follow waits for a run dbt Cloud starts from pull requests: say so at once
            # when the job starts none (a run for the commit started some other way counts too)
            warning = not_running_on_pull_requests(job)
            if warning is not None:
                toolkit.warning(warning, title="dbt Cloud job does not run on pull requests")
            return
        # this step triggers the job for a pull request that dbt Cloud also runs it for by
        # itself: every push then starts two runs (dbt Cloud's CI trigger is for PRs only)
        if self.context.pr_number is None and self.payload.github_pull_request_id is None:
            return
        warning = pull_request_trigger_warning(job)
        if warning is not None:
            toolkit.warning(warning, title="dbt Cloud job runs on pull requests by itself")

    def start(self) -> Started:
        """Attach, retry or trigger; with mode: follow, dbt Cloud's own run once it appears
        (RunNotFound when it does not)."""
        from .watcher import expected_duration  # noqa: PLC0415 - lazy: see action.py

        inputs, payload = self.inputs, self.payload
        if self.given is not None:
            if self.given.is_terminal:
                toolkit.info(f"{self.log_prefix}Run {self.given.id} already ended: reporting it.")
            return Started(self.given, "given", self.given.overrides)
        if inputs.mode is Mode.FOLLOW:
            return self._followed_run()
        recent = self.client.list_runs(
            inputs.job_id, order_by="-id", limit=RECENT_RUNS_LIMIT, include_related=("trigger",)
        )
        usual = expected_duration(usual_duration_sample(recent))
        sha, pr = payload.git_sha or "", payload.github_pull_request_id
        if inputs.cancel_superseded:
            self._cancel_superseded(recent, sha, pr)
        if inputs.reuse_existing_run:
            existing = self._reusable_run(recent, sha, pr)
            if existing is not None:
                return Started(existing, "attached", existing.overrides, expected_duration=usual)
        if wants_retry(inputs.retry_failed, self.context.run_attempt):
            always = inputs.retry_failed is RetryFailed.ALWAYS
            mine = RetryScope(payload.cause, inputs.cause is AUTO, any_workflow_run=always)
            decision = retry_candidate(recent, sha, pr, payload.requested_overrides(), mine)
            if decision.reason:
                toolkit.info(self.log_prefix + decision.reason)
            failed = decision.run
            if failed is not None:
                retried = self._retry(failed, usual)
                if retried is not None:
                    return retried
        body = payload.to_api()
        unique = inputs.cause is AUTO  # the automatic cause names this very step
        # a cause of the user's own is no key: the post step could take another run for ours
        key = PendingRun.of_trigger(inputs.job_id, body) if unique else None
        run = self._create(
            key, lambda: self.client.trigger_run(inputs.job_id, body, unique_cause=unique)
        )
        return Started(run, "triggered", expected_duration=usual)

    def _create(self, key: PendingRun | None, create: Callable[[], Run]) -> Run:
        """A run-creating POST, its key saved in the step state first, so the post step finds
        a run whose answer never came (not for a run the step would leave going anyway); the
        key is dropped when dbt Cloud surely created no run."""
        self.client.scope.check()  # after a cancel: no key, no POST
        keep = key is not None and self.inputs.wait and self.inputs.cancels_on_exit
        if keep:
            self.state.pending(key)
        try:
            return create()
        except DbtCloudError as exc:
            if keep and not isinstance(exc, OutcomeUnknown):
                self.state.pending(None)
            raise

    def _followed_run(self) -> Started:
        """mode: follow: dbt Cloud's own run for this commit and pull request, once it
        appears; RunNotFound when it does not within follow-timeout (nor timeout)."""
        from . import follow  # noqa: PLC0415 - lazy: see action.py
        from .watcher import expected_duration  # noqa: PLC0415 - lazy: see action.py

        inputs, payload = self.inputs, self.payload
        target = follow.FollowTarget(
            inputs.job_id, payload.git_sha or "", payload.github_pull_request_id
        )
        scope = self.client.scope
        found = follow.wait_for_run(
            self.client,
            target,
            bound=min(inputs.follow_timeout_seconds, self.timeout_at - time.monotonic()),
            fixed_interval=None if inputs.poll_interval is AUTO else inputs.poll_interval,
            clock=time.monotonic,
            sleep=scope.sleep,
            info=lambda line: toolkit.info(self.log_prefix + line),
        )
        usual = expected_duration(usual_duration_sample(list(found.recent)))
        if found.run is None:
            raise follow.RunNotFound(follow.not_found_message(target, found.waited))
        if found.run.is_terminal:
            toolkit.info(
                f"{self.log_prefix}Run {found.run.id} already ended in dbt Cloud: reporting it."
            )
        return Started(found.run, "followed", found.run.overrides, expected_duration=usual)

    def _cancel_superseded(self, recent: list[Run], sha: str, pr: int | None) -> None:
        from .github_reporting import pull_request_head  # noqa: PLC0415 - lazy: see action.py
        from .run_report import github_target  # noqa: PLC0415 - lazy: see action.py

        pr_head = None
        if pr is not None and other_commit_runs(recent, sha, pr):  # else GitHub is not asked
            target = github_target(self.inputs, self.context, self.client.scope)
            pr_head, why = (
                pull_request_head(target, pr)
                if target is not None
                else (None, "No time was left to ask GitHub for the pull request's head.")
            )
            if pr_head is None:
                toolkit.info(f"{why} cancel-superseded cancels only runs older than this event.")
        decision = superseded_runs(
            recent, sha, pr, pr_head=pr_head, event_time=self.context.event_time
        )
        if decision.reason:
            toolkit.info(decision.reason)
        for old in decision.runs:
            self.client.cancel_run(old.id)
            toolkit.info(f"Cancelled run {old.id}: superseded by commit {sha[:7]}")

    def _reusable_run(self, recent: list[Run], sha: str, pr: int | None) -> Run | None:
        wanted = self.payload.requested_overrides()
        existing = find_reusable_run(recent, sha, pr, wanted)
        if existing is None:
            for other in active_runs_for_commit(recent, sha, pr):
                differ = ", ".join(differing_overrides(other, wanted))
                toolkit.info(
                    f"Run {other.id} is going for commit {sha[:7]} but differs in {differ}: "
                    "not attaching to it."
                )
            return None
        toolkit.notice(
            f"Attached to run {existing.id}, already queued or running for commit "
            f"{sha[:7]} with the same overrides; no new run was triggered.",
            title="dbt Cloud run attached",
        )
        return existing

    def _retry(self, failed: Run, usual: float | None) -> Started | None:
        details = self.client.get_run(failed.id, include_related=("run_steps", "trigger"))
        if not details.can_retry:
            reason = details.retry_not_supported_reason or "dbt Cloud says it cannot be retried"
            toolkit.info(f"Run {failed.id} failed but cannot be retried ({reason}); triggering.")
            return None
        retried = self._create(PendingRun.of_retry(details), lambda: self.client.retry_run(details))
        toolkit.info(f"Retrying failed run {failed.id} from the point of failure.")
        # a retry reruns the failed run as it was: with this step's overrides (retry_candidate)
        return Started(
            retried,
            "retried",
            self.payload.requested_overrides(),
            skipped=steps_skipped_by_retry(details),
            expected_duration=usual,
        )
