"""Follow a dbt Cloud run to its end: when to poll next, and what changed since the last poll.

`PollPolicy` and `changes` are pure so tests and `bench/detection.py` can reason about them
without HTTP; `RunWatcher` is the only part doing I/O, through an injected client, clock and
sleep (the action's sleep raises when a cancel signal arrives, so a watch stops at once).
"""

from __future__ import annotations

import enum
import math
import re
import statistics
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from dbt_cloud_action.client import AnswerTooLarge
from dbt_cloud_action.models import Run, RunStatus, RunStep

# A poll asks for the run alone (about 2 KB). Its steps come with their logs, which grow to
# megabytes over a long run, so they are asked for only when they can have changed
# (`steps_due`), and with the job once at the end, when the logs are shown. dbt Cloud has no
# way to ask for the steps without their `logs`: once that answer is too large for the client,
# the steps are not asked for again (logs only grow) and the last steps seen stand.
STEPS_RELATED = ("run_steps",)
FINAL_RELATED = ("run_steps", "job")
# While a run goes, its steps are refreshed this often (seconds) for the log's "Step N
# started/succeeded" lines; a change of the run's status refreshes them at once. On a 2-hour
# deploy of 1,000 models, 60 s cuts the bytes downloaded about ten-fold (bench/transfer.py).
STEPS_EVERY = 60.0


@dataclass(frozen=True)
class PollPolicy:
    """Seconds to wait before the next poll of a run.

    Adaptive by default: fast right after the trigger (queue and start transitions take seconds),
    fast again while the run is within its usual duration's band, and in between slower, up to
    `cap`. The defaults are tuned with `bench/detection.py` (issue 7 targets: mean detection
    latency <= 1.5 s for runs ending near their usual time, <= 5 s otherwise, <= 10 requests a
    minute over a 10-minute run). `PollPolicy(fixed=10)` is the `poll-interval: 10` input.
    """

    # `poll-interval: N`: always wait N seconds, ignore everything below.
    fixed: float | None = None
    # Fastest poll. One request a second is 0.02 % of an account's 5,000 requests a minute.
    floor: float = 1.0
    # Slowest poll. An end nobody could predict (early failure, no history) is noticed about
    # cap/2 = 4.5 s late on average (target 5 s; today's 30 s polling: 15 s), at 6.7 requests a
    # minute per run: an account can follow 750 runs at once before reaching the rate limit.
    cap: float = 9.0
    # For this long after the trigger, and after the run starts, poll at `floor`: queued ->
    # starting -> running, and failures in the first steps (clone, deps), come quickly.
    burst: float = 2.0
    # After the burst the wait grows by this many seconds per second (1 s to the cap in 16 s).
    growth: float = 0.5
    # Poll every `near` seconds while the run is within a band around its expected duration
    # (mean detection latency near/2 = 1 s there); past the band the wait grows linearly and
    # reaches the cap one band further out, so a run a little early or late is noticed soon too.
    # The band is `band_share` of the expected duration (run-to-run spread grows with the run),
    # but at least `band_min` seconds (short runs jitter by seconds: clone, container start).
    near: float = 2.0
    band_share: float = 0.05
    band_min: float = 8.0

    def __post_init__(self) -> None:
        values = {
            "fixed": self.fixed,
            "floor": self.floor,
            "cap": self.cap,
            "near": self.near,
            "growth": self.growth,
        }
        for name, value in values.items():
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise ValueError(f"PollPolicy.{name} must be a positive number, got {value!r}")
        if not self.floor <= self.near <= self.cap:
            raise ValueError(
                f"PollPolicy needs floor <= near <= cap, got {self.floor}, {self.near}, {self.cap}"
            )
        if self.burst < 0 or self.band_share < 0:
            raise ValueError("PollPolicy.burst and band_share must not be negative")
        if self.band_min <= 0:
            raise ValueError(f"PollPolicy.band_min must be positive, got {self.band_min!r}")

    def interval(
        self,
        elapsed: float,
        status: RunStatus | None,
        running_for: float | None,
        expected_duration: float | None,
    ) -> float:
        """Seconds until the next poll, `elapsed` seconds after the watch began.

        `running_for` is how long the run has been running (None before it starts);
        `expected_duration` the job's usual run time (None without history).
        """
        if self.fixed is not None:
            return self.fixed
        since_change = elapsed if running_for is None else min(elapsed, running_for)
        wait = self.floor + self.growth * max(0.0, since_change - self.burst)
        if status is RunStatus.STARTING:
            wait = min(wait, self.near)
        if running_for is not None and expected_duration is not None:
            band = max(self.band_min, self.band_share * expected_duration)
            outside = max(0.0, abs(running_for - expected_duration) - band)
            wait = min(wait, self.near + (self.cap - self.near) * outside / band)
        return min(self.cap, max(self.floor, wait))


def expected_duration(recent_runs: Sequence[Run]) -> float | None:
    """The job's usual run time: the median run time of its recent successful runs.

    The median ignores the odd run that waited on a warehouse or hit an early error.
    """
    durations = [
        seconds
        for run in recent_runs
        if run.status is RunStatus.SUCCESS and (seconds := run.run_seconds) is not None
    ]
    return statistics.median(durations) if durations else None


def steps_due(previous: Run | None, run: Run, since_steps: float, every: float) -> bool:
    """Whether the next poll (`since_steps` seconds after the steps were last asked for) asks
    for them: never while the run is queued or starting (it has none), else right after its
    status changed, and every `every` seconds."""
    if run.status in (RunStatus.QUEUED, RunStatus.STARTING):
        return False
    changed = previous is None or previous.status_code != run.status_code
    return changed or since_steps >= every


class EventKind(enum.StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    STARTED = "started"
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    FINISHED = "finished"
    UNKNOWN_STATUS = "unknown_status"
    TIMED_OUT = "timed_out"
    STEPS_LEFT_OUT = "steps_left_out"  # the steps (with their logs) are too large to read


@dataclass(frozen=True)
class RunEvent:
    """One change worth a log line. `message` is extra detail: dbt Cloud's queue reason or
    error message, or the watcher's timeout."""

    kind: EventKind
    run: Run
    step: RunStep | None = None
    message: str = ""


def _phase(run: Run) -> int:
    """Order of a run's life: 1 queued, 2 starting, 3 running, 4 ended.

    A code this action does not know is placed by its timestamps, and never as ended.
    """
    if run.status is None:
        return 3 if run.started_at is not None else 1
    return 4 if run.status.is_terminal else int(run.status)


def _step_phase(step: RunStep | None) -> int:
    """0 not started, 1 running, 2 ended."""
    if step is None:
        return 0
    if step.status is not None and step.status.is_terminal:
        return 2
    return 1 if step.status is RunStatus.RUNNING or step.started_at is not None else 0


def _queue_reason(run: Run) -> str:
    """Why a run waits: dbt Cloud's message, else the runs it is blocked by."""
    if run.status_message.strip() or not run.blocked_by:
        return run.status_message
    waiting_for = ", ".join(str(run_id) for run_id in run.blocked_by)
    plural = "s" if len(run.blocked_by) > 1 else ""
    return f"waiting for run{plural} {waiting_for} to finish"


def changes(before: Run | None, after: Run) -> list[RunEvent]:
    """The events between two snapshots of a run, in the order they happened."""
    events: list[RunEvent] = []
    was = _phase(before) if before is not None else 0
    now = _phase(after)
    if after.status is None:  # a code this action does not know: say so once, stay put
        if before is None or before.status_code != after.status_code:
            events.append(RunEvent(EventKind.UNKNOWN_STATUS, after))
        now = was
    reason = _queue_reason(after)
    if now == 1 and (was != 1 or before is None or _queue_reason(before) != reason):
        events.append(RunEvent(EventKind.QUEUED, after, message=reason))
    if was < 2 == now:
        events.append(RunEvent(EventKind.STARTING, after))
    if was < 3 <= now and (now == 3 or after.started_at is not None):
        events.append(RunEvent(EventKind.STARTED, after))
    earlier = {step.index: step for step in before.steps} if before is not None else {}
    for step in after.steps:
        step_was, step_now = _step_phase(earlier.get(step.index)), _step_phase(step)
        if step_was < 1 <= step_now and (step_now == 1 or step.started_at is not None):
            events.append(RunEvent(EventKind.STEP_STARTED, after, step))
        if step_was < 2 == step_now:
            events.append(RunEvent(EventKind.STEP_FINISHED, after, step))
    if was < 4 == now:
        events.append(RunEvent(EventKind.FINISHED, after, message=after.status_message))
    return events


_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _one_line(text: str, limit: int = 300) -> str:
    """dbt Cloud text on one line: a newline in it could start a workflow command."""
    flat = " ".join(_UNSAFE.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def human_duration(seconds: float) -> str:
    """`12s`, `3m 05s`, `2h 04m 09s`: what a person reads in a log."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


_OUTCOME: dict[RunStatus | None, tuple[str, str]] = {
    RunStatus.SUCCESS: ("succeeded", "in"),
    RunStatus.ERROR: ("failed", "after"),
    RunStatus.CANCELLED: ("was cancelled", "after"),
}


def _outcome(status: RunStatus | None, seconds: float | None) -> str:
    verb, preposition = _OUTCOME.get(status, ("ended", "after"))
    return verb if seconds is None else f"{verb} {preposition} {human_duration(seconds)}"


def describe(event: RunEvent) -> str:
    """One log line for an event; dbt Cloud's text is flattened to one line."""
    run = event.run
    detail = f" ({_one_line(event.message)})" if event.message.strip() else ""
    queued = run.queued_seconds
    queued_note = f" (queued {human_duration(queued)})" if queued is not None else ""
    if event.kind is EventKind.QUEUED:
        return f"Run {run.id} queued{detail}"
    if event.kind is EventKind.STARTING:
        return f"Run {run.id} starting"
    if event.kind is EventKind.STARTED:
        return f"Run {run.id} started{queued_note}"
    if event.kind is EventKind.UNKNOWN_STATUS:
        return (
            f"Run {run.id} reports status {run.status_code}, which this action does not know; "
            "still following it"
        )
    if event.kind is EventKind.STEPS_LEFT_OUT:
        return (
            f"Run {run.id}'s steps are no longer asked for: {_one_line(event.message)}; the "
            "steps as last seen are reported, their whole logs are in dbt Cloud"
        )
    if event.kind is EventKind.TIMED_OUT:
        state = run.status.name.lower() if run.status is not None else "not finished"
        return f"Run {run.id} is still {state}: {event.message}; stopped following it"
    if event.step is not None:
        step = event.step
        label = f"Step {step.index} '{_one_line(step.name)}'"
        if event.kind is EventKind.STEP_STARTED:
            return f"{label} started"
        return f"{label} {_outcome(step.status, step.duration_seconds)}"
    error = f": {_one_line(event.message)}" if event.message.strip() else ""
    if run.status is RunStatus.SUCCESS:
        error = ""
    return f"Run {run.id} {_outcome(run.status, run.run_seconds)}{queued_note}{error}"


class RunSource(Protocol):
    """What the watcher needs from the dbt Cloud client."""

    def get_run(
        self, run_id: int, include_related: Sequence[str] = ..., *, fresh: bool = ...
    ) -> Run: ...


class IntervalPolicy(Protocol):
    def interval(
        self,
        elapsed: float,
        status: RunStatus | None,
        running_for: float | None,
        expected_duration: float | None,
    ) -> float: ...


@dataclass(frozen=True)
class WatchResult:
    run: Run
    timed_out: bool = False


def _latest_timestamp(run: Run) -> datetime | None:
    stamps = [run.created_at, run.dequeued_at, run.started_at, run.finished_at]
    for step in run.steps:
        stamps += [step.started_at, step.finished_at]
    known = [stamp for stamp in stamps if stamp is not None]
    return max(known) if known else None


class _ServerTime:
    """Maps dbt Cloud's timestamps onto the local clock.

    Every response shows events that already happened, so `received - latest event` is an upper
    bound of `local clock - server clock`; the smallest bound seen is the best estimate. It makes
    `running_for` exact (to a poll's latency) however late the watcher noticed the start, and
    immune to the runner's clock being off.
    """

    def __init__(self) -> None:
        self.offset: float | None = None

    def observe(self, run: Run, received_at: float) -> None:
        latest = _latest_timestamp(run)
        if latest is not None:
            bound = received_at - latest.timestamp()
            self.offset = bound if self.offset is None else min(self.offset, bound)

    def running_for(self, run: Run, now: float) -> float | None:
        if run.status is not RunStatus.RUNNING or run.started_at is None or self.offset is None:
            return None
        return max(0.0, now - (run.started_at.timestamp() + self.offset))


class RunWatcher:
    """Polls a run until it ends or the timeout expires, reporting each change to `on_event`."""

    def __init__(
        self,
        client: RunSource,
        *,
        policy: IntervalPolicy,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        on_event: Callable[[RunEvent], None],
        steps_every: float = STEPS_EVERY,
    ) -> None:
        self._client = client
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._on_event = on_event
        self._steps_every = steps_every

    def watch(
        self, run_id: int, *, timeout: float | None = None, expected_duration: float | None = None
    ) -> WatchResult:
        """Follow `run_id`; `timeout` is in seconds from now (None: until the run ends)."""
        polls = self.follow(run_id, timeout=timeout, expected_duration=expected_duration)
        while True:
            try:
                wait = next(polls)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            self._sleep(wait)

    def follow(
        self, run_id: int, *, timeout: float | None = None, expected_duration: float | None = None
    ) -> Generator[float, None, WatchResult]:
        """`watch` one poll at a time: yields the seconds to wait before the next poll, returns
        the result. A step following several runs sleeps once for whichever is due first, so
        they share one polling loop (and one thread, where signals arrive)."""
        started = self._clock()
        server = _ServerTime()
        previous: Run | None = None
        fresh = True  # the first GET after a trigger can 404: the client retries that one
        with_steps, steps_seen, steps_fit = False, started, True
        while True:
            related = STEPS_RELATED if with_steps else ()
            try:
                run = self._client.get_run(run_id, include_related=related, fresh=fresh)
            except AnswerTooLarge as exc:
                run = self._without_steps(run_id, related, exc, fresh=fresh)
                with_steps = steps_fit = False
            fresh = False
            now = self._clock()
            if with_steps:
                steps_seen = now
            elif previous is not None:  # not asked for: the steps last seen still stand
                run = replace(run, steps=previous.steps)
            server.observe(run, now)
            elapsed = now - started
            timed_out = timeout is not None and elapsed >= timeout
            if run.is_terminal or timed_out:
                break
            self._emit(changes(previous, run))
            wait = self._policy.interval(
                elapsed, run.status, server.running_for(run, now), expected_duration
            )
            if timeout is not None:
                wait = min(wait, timeout - elapsed)
            # as of the next poll
            due = steps_due(previous, run, now + wait - steps_seen, self._steps_every)
            with_steps = steps_fit and due
            previous = run
            yield wait
        asked = FINAL_RELATED if steps_fit else _but_steps(FINAL_RELATED)
        try:
            final = self._client.get_run(run_id, include_related=asked)
        except AnswerTooLarge as exc:
            final = self._without_steps(run_id, asked, exc)
            steps_fit = False
        if not steps_fit:
            final = replace(final, steps=run.steps)
        if run.is_terminal and not final.is_terminal:  # a lagging read: the end was seen already
            final = replace(run, job_name=final.job_name, steps=final.steps or run.steps)
        self._emit(changes(previous, final))
        if final.is_terminal:
            return WatchResult(final)
        limit = human_duration(timeout or 0.0)
        self._emit([RunEvent(EventKind.TIMED_OUT, final, message=f"timeout of {limit} reached")])
        return WatchResult(final, timed_out=True)

    def _without_steps(
        self, run_id: int, related: Sequence[str], too_large: AnswerTooLarge, *, fresh: bool = False
    ) -> Run:
        """The run asked for again without its steps, once they made the answer too large (an
        answer too large without them is no matter of steps: it goes on up)."""
        if "run_steps" not in related:
            raise too_large
        run = self._client.get_run(run_id, include_related=_but_steps(related), fresh=fresh)
        self._emit([RunEvent(EventKind.STEPS_LEFT_OUT, run, message=too_large.user_message)])
        return run

    def _emit(self, events: Sequence[RunEvent]) -> None:
        for event in events:
            self._on_event(event)


def _but_steps(related: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for name in related if name != "run_steps")
