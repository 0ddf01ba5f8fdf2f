"""When each phase and step of a run happens, worked out once from its script.

A run's schedule is a pure function of its script, when it was created, what it waits behind,
and whether it was cancelled; its state at any moment is read off the schedule. No thread
moves runs along, so a test-driven clock gives exactly reproducible runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbt_cloud_emulator.config import ERROR, SUCCESS, StepScript

QUEUED, STARTING, RUNNING, CANCELLED = 1, 2, 3, 30
# Every run spends this long in "starting" (2) between leaving the queue and its first step.
STARTING_SECONDS = 1.0


@dataclass(frozen=True)
class PlannedStep:
    index: int  # 1-based, as dbt Cloud numbers run steps
    script: StepScript
    start: float
    end: float
    status: int  # the step's final status

    def status_at(self, now: float) -> int | None:
        """None while the step has not started (dbt Cloud only lists started steps)."""
        if now < self.start:
            return None
        return RUNNING if now < self.end else self.status


@dataclass(frozen=True)
class Cut:
    """A run stopped before its script ended: cancelled (30) or timed out (20)."""

    at: float
    status: int


@dataclass(frozen=True)
class Schedule:
    created: float
    dequeued: float | None
    started: float | None
    finished: float
    outcome: int
    steps: tuple[PlannedStep, ...]
    cut: Cut | None = None

    def status_at(self, now: float) -> int:
        if now >= self.finished:
            return self.outcome
        if self.started is not None and now >= self.started:
            return RUNNING
        # At its creation instant a run is always reported queued, as the trigger reply is.
        if self.dequeued is not None and now >= self.dequeued and now > self.created:
            return STARTING
        return QUEUED

    def failed_step(self) -> PlannedStep | None:
        if self.outcome != ERROR or not self.steps:
            return None
        return self.steps[-1]


def plan_run(
    created: float,
    queue_seconds: float,
    steps: tuple[StepScript, ...],
    *,
    not_before: float = float("-inf"),
    cancelled_at: float | None = None,
    timeout_seconds: float | None = None,
) -> Schedule:
    """The schedule of one run; `not_before` is when the deploy run it queues behind ends."""
    dequeued = max(created + queue_seconds, not_before)
    started = dequeued + STARTING_SECONDS
    planned: list[PlannedStep] = []
    clock = started
    outcome = SUCCESS
    for index, script in enumerate(steps, start=1):
        planned.append(PlannedStep(index, script, clock, clock + script.duration, script.outcome))
        clock += script.duration
        if script.outcome == ERROR:
            outcome = ERROR
            break
    cuts = [Cut(at, status) for at, status in _cut_points(started, cancelled_at, timeout_seconds)]
    cut = min((c for c in cuts if c.at < clock), key=lambda c: c.at, default=None)
    if cut is None:
        return Schedule(created, dequeued, started, clock, outcome, tuple(planned))
    return Schedule(
        created=created,
        dequeued=dequeued if cut.at >= dequeued else None,
        started=started if cut.at >= started else None,
        finished=cut.at,
        outcome=cut.status,
        steps=tuple(_cut_step(step, cut) for step in planned if step.start < cut.at),
        cut=cut,
    )


def _cut_points(
    started: float, cancelled_at: float | None, timeout_seconds: float | None
) -> list[tuple[float, int]]:
    points = []
    if cancelled_at is not None:
        points.append((cancelled_at, CANCELLED))
    if timeout_seconds:
        points.append((started + timeout_seconds, ERROR))
    return points


def _cut_step(step: PlannedStep, cut: Cut) -> PlannedStep:
    if step.end <= cut.at:
        return step
    return PlannedStep(step.index, step.script, step.start, cut.at, cut.status)
