"""One chaos case played for real: the entrypoint as a subprocess in a simulated runner, against
its own emulator over HTTP, signalled as GitHub's runner signals a cancelled step, then the
post step with the state the main step wrote.

The runner's cancel: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s after that. A schedule that
starts with SIGTERM gets the SIGKILL 2.5 s later; one that starts with SIGKILL is a runner
crash. A case without a signal is cancelled the same way once it overruns `timeout` plus the
grace (as the step's `timeout-minutes` would), so every case ends. dbt Cloud is back (no
faults) for the post step, which may have to look for a run whose trigger answer never came.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, LoggedRequest, StepScript
from tests.chaos_checks import CaseRecord, CreatedRun, Promises, SentSignal, Step
from tests.chaos_schedule import JOB_IDS, Moment, Schedule
from tests.simulated_runner import SimulatedRunner, StepResult, load_event

TOKEN = "dbtc_chaosCaseToken_0123456789abcdef01"
TIME_SCALE = 100.0  # a run's 1 s queue is 10 ms; its build lasts over 16 real minutes
RUNNER_SIGTERM_AFTER = 7.5  # GitHub's runner: SIGINT, then SIGTERM 7.5 s later...
RUNNER_SIGKILL_AFTER = 2.5  # ...then SIGKILL 2.5 s after that
POST_STEP_SECONDS = 40.0  # the post step may look for a run by its key for a bounded time
MOMENT_WAIT_SECONDS = 10.0  # a moment not reached by then: the signal is sent anyway
SETTLE_SECONDS = 2.0  # for the emulator to show a cancel sent just before the check
ACTIVE = (1, 2, 3)


def long_job(job_id: int, name: str) -> JobScript:
    """A CI job whose runs never end by themselves while a case (or benchmark) lasts."""
    steps = (
        StepScript("Clone git repository", duration=1),
        StepScript("Invoke dbt with `dbt build`", "dbt build", duration=100_000),
    )
    return JobScript(job_id, name, steps, queue_seconds=1)


JOBS = tuple(long_job(job_id, f"Chaos {n}") for job_id, n in zip(JOB_IDS, "ABC", strict=True))


def job_names() -> dict[int, str]:
    return {job.id: job.name for job in JOBS}


def _moment_reached(emu: Emulator, schedule: Schedule) -> bool:
    """Whether the step is in the schedule's moment (request counts are taken on arrival, the
    log on answer)."""
    moment, jobs = schedule.moment, len(schedule.jobs)
    if moment is Moment.BEFORE_TRIGGER:
        held = schedule.faults[0].endpoint
        return emu.calls(held) >= 1 and emu.calls("trigger") == 0
    if moment is Moment.DURING_TRIGGER:
        return emu.calls("trigger") >= schedule.trigger_call
    if moment is Moment.AFTER_TRIGGER:
        answered = sum(r.endpoint == "trigger" for r in emu.requests)
        return answered >= jobs and len(emu.created_runs()) >= jobs
    if moment is Moment.DURING_POLL:  # past the first poll of every run
        return len(emu.created_runs()) >= jobs and emu.calls("get_run") > jobs
    if moment is Moment.DURING_CANCEL:
        return emu.calls("cancel") >= 1
    return False


class _Driver:
    """Plays the schedule against the running step: the outage, the moment, the signals."""

    def __init__(
        self, emu: Emulator, proc: subprocess.Popen[str], schedule: Schedule, promises: Promises
    ) -> None:
        self.emu = emu
        self.proc = proc
        self.schedule = schedule
        self.promises = promises
        self.started = time.monotonic()
        self.sent: list[SentSignal] = []
        self.moment_at: float | None = None
        self._escalation: list[tuple[float, signal.Signals, str]] = []

    def now(self) -> float:
        return time.monotonic() - self.started

    def _send(self, sig: signal.Signals, why: str) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.sent.append(SentSignal(self.now(), sig.name, why))

    def _cancel_like_the_runner(self, first: signal.Signals, why: str) -> None:
        """Send `first` now and plan the runner's escalation after it."""
        at = self.now()
        self._send(first, why)
        if first is signal.SIGINT:
            self._escalation = [
                (at + RUNNER_SIGTERM_AFTER, signal.SIGTERM, "runner"),
                (at + RUNNER_SIGTERM_AFTER + RUNNER_SIGKILL_AFTER, signal.SIGKILL, "runner"),
            ]
        elif first is signal.SIGTERM:
            self._escalation = [(at + RUNNER_SIGKILL_AFTER, signal.SIGKILL, "runner")]

    def run(self) -> float:
        """Until the step exits; its exit time (seconds after the start)."""
        schedule = self.schedule
        outage_due = schedule.outage.at if schedule.outage else None
        signal_due: float | None = None
        cap = (
            schedule.timeout + self.promises.timeout_grace
            if schedule.signal is None and schedule.timeout is not None
            else None
        )
        while self.proc.poll() is None:
            now = self.now()
            if outage_due is not None and now >= outage_due and schedule.outage:
                for fault in schedule.outage.faults():
                    self.emu.faults.add(fault)
                outage_due = None
            if schedule.signal is not None and not self.sent and signal_due is None:
                if _moment_reached(self.emu, schedule):
                    self.moment_at = now
                    signal_due = now + schedule.lag
                elif now >= MOMENT_WAIT_SECONDS:
                    signal_due = now
            if signal_due is not None and now >= signal_due and schedule.signal is not None:
                self._cancel_like_the_runner(schedule.signal, "schedule")
                signal_due = None
            if cap is not None and now >= cap and not self.sent:
                self._cancel_like_the_runner(signal.SIGINT, "timeout-minutes")
            while self._escalation and now >= self._escalation[0][0]:
                _, sig, why = self._escalation.pop(0)
                self._send(sig, why)
            time.sleep(0.01)
        return self.now()


def _snapshot(emu: Emulator) -> dict[int, int]:
    return {run["id"]: run["status"] for run in emu.created_runs()}


def _settled(emu: Emulator, keep_waiting: Callable[[dict[int, int]], bool]) -> dict[int, int]:
    """The runs' statuses once nothing is left going, or after SETTLE_SECONDS."""
    deadline = time.monotonic() + SETTLE_SECONDS
    statuses = _snapshot(emu)
    while keep_waiting(statuses) and time.monotonic() < deadline:
        time.sleep(0.05)
        statuses = _snapshot(emu)
    return statuses


def _step(result: StepResult) -> Step:
    return Step(
        exit_code=result.exit_code,
        outputs=result.outputs,
        summary=result.summary,
        state=result.state,
        log=result.log,
    )


def run_post_step(
    runner: SimulatedRunner, inputs: dict[str, str], state: dict[str, str]
) -> tuple[Step, float, bool]:
    """The post step with the main step's state: its result, its seconds, whether it had to be
    killed at POST_STEP_SECONDS."""
    started = time.monotonic()
    proc, env = runner.start(inputs, post=True, state=state)
    try:
        result = runner.finish(proc, env, started, timeout=POST_STEP_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        result = runner.finish(proc, env, started, timeout=10)
        return _step(result), time.monotonic() - started, True
    return _step(result), result.elapsed, False


@contextmanager
def long_jobs_emulator(jobs: tuple[JobScript, ...] = JOBS) -> Iterator[Emulator]:
    config = EmulatorConfig(token=TOKEN, jobs=jobs)
    with Emulator(config=config, time_scale=TIME_SCALE) as emu:
        yield emu


def run_case(schedule: Schedule, workdir: Path, promises: Promises) -> CaseRecord:
    """Play `schedule`: main step, signals, post step; everything the checks need."""
    with long_jobs_emulator() as emu:
        for fault in schedule.faults:
            emu.faults.add(fault)
        runner = SimulatedRunner(
            workdir, event_name="pull_request", event=load_event("pull_request.opened.json")
        )
        inputs = schedule.inputs(emu.url, emu.token, emu.account_id)
        proc, env = runner.start(inputs)
        driver = _Driver(emu, proc, schedule, promises)
        exited_at = driver.run()
        at_exit = _snapshot(emu)
        main = runner.finish(proc, env, driver.started, timeout=10)
        emu.faults.clear()  # dbt Cloud is back for the post step
        post, post_seconds, post_killed = run_post_step(runner, inputs, main.state)
        final = _settled(emu, lambda statuses: any(s in ACTIVE for s in statuses.values()))
        runs = tuple(
            CreatedRun(run["id"], run["job_definition_id"], str(run["trigger"]["cause"]))
            for run in emu.created_runs()
        )
        return CaseRecord(
            schedule=schedule,
            sent=tuple(driver.sent),
            moment_at=driver.moment_at,
            exited_at=exited_at,
            main=_step(main),
            at_exit=at_exit,
            post=post,
            post_seconds=post_seconds,
            post_killed=post_killed,
            final=final,
            runs=runs,
            requests=tuple(_request_line(driver.started, r) for r in emu.requests),
        )


def _request_line(started: float, request: LoggedRequest) -> tuple[float, str, str, int]:
    return (request.received_at - started, request.endpoint, request.path, request.status)
