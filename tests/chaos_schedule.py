"""The chaos cases: one seed, one schedule of faults and signals for a step on 1-3 jobs.

Pure: `schedule_for(seed)` draws everything from `random.Random(seed)`, so a seed is the whole
case (the soak, `bench/chaos_soak.py`, and the CI set run the same seeds). `ci_seeds()` picks the
few seeds CI runs so that every moment meets every number of jobs and every fault kind, signal
and way of keeping a run appears: the seeds are derived, the coverage is guaranteed.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from dbt_cloud_emulator import Fault

JOB_IDS = (61, 62, 63)  # long CI jobs: no run ends by itself while a case lasts
MAX_JOBS = len(JOB_IDS)


class Moment(StrEnum):
    """When the first signal lands (timed from the emulator's request counts and log)."""

    BEFORE_TRIGGER = "before-trigger"  # the job or its runs being read, no trigger sent yet
    DURING_TRIGGER = "during-trigger"  # a trigger in flight: its run exists, no answer yet
    AFTER_TRIGGER = "after-trigger"  # every trigger answered, following about to start
    DURING_POLL = "during-poll"  # every run polled twice: the step is following them
    DURING_CANCEL = "during-cancel"  # `timeout` expired and the step's cancel is in flight
    NO_SIGNAL = "no-signal"  # none: a short `timeout` and an outage end the step


class FaultKind(StrEnum):
    """What dbt Cloud does wrong besides the moment's own slow answer (faults.py's kinds)."""

    DELAY = "delay"  # slow answers on some calls of one endpoint
    LOSE_RESPONSE = "lose_response"  # a trigger creates its run and its answer never comes
    STATUS = "status"  # 5xx on some (or, for reads and cancels, all) calls of one endpoint
    DROP = "drop"  # connections closed without an answer on some calls of one endpoint
    OUTAGE = "outage"  # 503 on everything (or on polls and cancels) from some moment on


class Keep(StrEnum):
    """How the inputs ask for the run to be kept going; NONE: every run must be ended."""

    NONE = "none"
    CANCEL_ON_EXIT = "cancel-on-exit: false"
    WAIT = "wait: false"
    CANCEL_ON_TIMEOUT = "cancel-on-timeout: false"


SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
_READS = ("get_job", "list_runs", "get_run")
_ANY_ENDPOINT = ("get_job", "list_runs", "trigger", "get_run", "cancel")
_OUTAGE_ENDPOINTS = (("*",), ("get_run", "cancel"), ("get_run", "cancel", "list_runs"))
# Moments after the triggers: an outage of polls and cancels only, so the triggers go through.
_AFTER_TRIGGERS = (Moment.AFTER_TRIGGER, Moment.DURING_POLL, Moment.DURING_CANCEL)


@dataclass(frozen=True)
class Outage:
    """503 on `endpoints` ("*": all) from `at` real seconds after the step starts."""

    at: float
    endpoints: tuple[str, ...]

    def faults(self) -> tuple[Fault, ...]:
        return tuple(Fault(endpoint, status=503) for endpoint in self.endpoints)


@dataclass(frozen=True)
class Schedule:
    seed: int
    jobs: tuple[int, ...]
    moment: Moment
    signal: signal.Signals | None  # the first signal; the runner's escalation follows it
    fault_kind: FaultKind
    keep: Keep
    timeout: int | None  # the `timeout` input, seconds
    faults: tuple[Fault, ...]  # in force from the start; the first that applies wins
    outage: Outage | None
    trigger_call: int  # DURING_TRIGGER: the trigger call (1-based) the signal waits for
    lag: float  # real seconds from the moment's event to the signal

    def inputs(self, access_url: str, token: str, account_id: int) -> dict[str, str]:
        """The step's inputs (named as in action.yml)."""
        inputs = {
            "access-url": access_url,
            "api-token": token,
            "account-id": str(account_id),
            "job-id": " ".join(str(job) for job in self.jobs),
            "poll-interval": "1",
        }
        if self.timeout is not None:
            inputs["timeout"] = str(self.timeout)
        kept_by = {
            Keep.CANCEL_ON_EXIT: "cancel-on-exit",
            Keep.WAIT: "wait",
            Keep.CANCEL_ON_TIMEOUT: "cancel-on-timeout",
        }
        if self.keep in kept_by:
            inputs[kept_by[self.keep]] = "false"
        return inputs

    def describe(self) -> str:
        sig = f"{self.signal.name} {self.lag:.2f}s after it" if self.signal else "no signal"
        faults = "; ".join(_fault_text(fault) for fault in self.faults) or "none"
        outage = (
            f"from +{self.outage.at:.2f}s on {','.join(self.outage.endpoints)}"
            if self.outage
            else "none"
        )
        return (
            f"seed {self.seed}: jobs {' '.join(map(str, self.jobs))}, moment {self.moment}"
            + (
                f" (trigger call {self.trigger_call})"
                if self.moment is Moment.DURING_TRIGGER
                else ""
            )
            + f", {sig}, fault kind {self.fault_kind}, "
            f"keep {self.keep}, timeout {self.timeout}\n  faults: {faults}\n  outage: {outage}"
        )


def _fault_text(fault: Fault) -> str:
    calls = "all calls" if fault.calls is None else f"calls {','.join(map(str, fault.calls))}"
    what = {"status": f"HTTP {fault.status}", "delay": f"delay {fault.delay}s"}.get(
        fault.kind, fault.kind
    )
    after = f" Retry-After {fault.retry_after}" if fault.retry_after is not None else ""
    return f"{fault.endpoint} {calls}: {what}{after}"


def _some_calls(rng: random.Random, most: int) -> tuple[int, ...]:
    return tuple(sorted(rng.sample(range(1, most + 1), rng.randint(1, min(3, most)))))


def _keep_for(rng: random.Random, moment: Moment) -> Keep:
    """Mostly no keeping; else one the moment can exercise (a kept run is never cancelled, so
    DURING_CANCEL keeps none; `wait: false` ends the step right after its triggers)."""
    allowed = {
        Moment.BEFORE_TRIGGER: (Keep.CANCEL_ON_EXIT, Keep.WAIT),
        Moment.DURING_TRIGGER: (Keep.CANCEL_ON_EXIT, Keep.WAIT),
        Moment.AFTER_TRIGGER: (Keep.CANCEL_ON_EXIT,),
        Moment.DURING_POLL: (Keep.CANCEL_ON_EXIT,),
        Moment.DURING_CANCEL: (),
        Moment.NO_SIGNAL: (Keep.CANCEL_ON_TIMEOUT,),
    }[moment]
    return rng.choice(allowed) if allowed and rng.random() < 0.3 else Keep.NONE


def _hold(rng: random.Random, moment: Moment, jobs: int, trigger_call: int) -> tuple[Fault, ...]:
    """The slow answer that keeps the moment open long enough for the signal to land in it."""
    if moment is Moment.BEFORE_TRIGGER:
        endpoint = rng.choice(("get_job", "list_runs"))
        calls = tuple(range(1, jobs + 1))
        return (Fault(endpoint, calls=calls, kind="delay", delay=round(rng.uniform(1.5, 3), 2)),)
    if moment is Moment.DURING_TRIGGER:
        delay = round(rng.uniform(2, 5), 2)
        return (Fault("trigger", calls=(trigger_call,), kind="delay", delay=delay),)
    if moment is Moment.DURING_CANCEL:
        return (Fault("cancel", calls=(1,), kind="delay", delay=round(rng.uniform(1.5, 3), 2)),)
    return ()


def _lag(rng: random.Random, moment: Moment, fault_kind: FaultKind) -> float:
    """Shorter than the moment's hold, so the signal lands inside it."""
    if moment is Moment.DURING_TRIGGER:
        return rng.uniform(0, 0.3 if fault_kind is FaultKind.LOSE_RESPONSE else 1.0)
    top = {
        Moment.BEFORE_TRIGGER: 1.2,
        Moment.AFTER_TRIGGER: 0.3,
        Moment.DURING_POLL: 1.5,
        Moment.DURING_CANCEL: 1.0,
        Moment.NO_SIGNAL: 0.0,
    }[moment]
    return rng.uniform(0, top)


def _profile(
    rng: random.Random, kind: FaultKind, jobs: int, moment: Moment, trigger_call: int
) -> tuple[tuple[Fault, ...], Outage | None]:
    """The fault kind's faults: on one endpoint, some calls (all calls only for reads and
    cancels, so that the step still gets a run to signal)."""
    if kind is FaultKind.OUTAGE:
        start = rng.uniform(0.5, 4.0)
        endpoints = _OUTAGE_ENDPOINTS[1] if moment in _AFTER_TRIGGERS else None
        return (), Outage(round(start, 2), endpoints or rng.choice(_OUTAGE_ENDPOINTS))
    if kind is FaultKind.LOSE_RESPONSE:
        lost = (trigger_call,) if moment is Moment.DURING_TRIGGER else _some_calls(rng, jobs)
        return (Fault("trigger", calls=lost, kind="lose_response"),), None
    endpoint = rng.choice(_ANY_ENDPOINT)
    every = endpoint in (*_READS, "cancel") and endpoint != "get_job" and rng.random() < 0.4
    calls: tuple[int, ...] | None = None if every else _some_calls(rng, 4)
    if kind is FaultKind.DELAY:
        delay = round(rng.uniform(1, 4), 2)
        return (Fault(endpoint, calls=calls, kind="delay", delay=delay),), None
    if kind is FaultKind.DROP:
        return (Fault(endpoint, calls=calls, kind="drop"),), None
    retry_after = rng.choice((None, None, 1, 3))
    status = rng.choice((500, 502, 503, 504))
    return (Fault(endpoint, calls=calls, status=status, retry_after=retry_after),), None


def schedule_for(seed: int) -> Schedule:
    """The whole case from its seed."""
    rng = random.Random(seed)
    jobs = rng.randint(1, MAX_JOBS)
    moment = rng.choice(tuple(Moment))
    sig = None if moment is Moment.NO_SIGNAL else rng.choice(SIGNALS)
    fault_kind = FaultKind.OUTAGE if moment is Moment.NO_SIGNAL else rng.choice(tuple(FaultKind))
    keep = _keep_for(rng, moment)
    timeout = {Moment.NO_SIGNAL: rng.randint(3, 8), Moment.DURING_CANCEL: rng.randint(3, 5)}.get(
        moment
    )
    trigger_call = rng.randint(1, jobs)
    hold = _hold(rng, moment, jobs, trigger_call)
    if moment is Moment.DURING_TRIGGER and fault_kind is FaultKind.LOSE_RESPONSE:
        hold = ()  # the lost answer is the moment: the signal lands while the step looks for it
    faults, outage = _profile(rng, fault_kind, jobs, moment, trigger_call)
    if moment is Moment.NO_SIGNAL and outage is not None and timeout is not None:
        outage = Outage(round(rng.uniform(1.0, timeout), 2), outage.endpoints)
    return Schedule(
        seed=seed,
        jobs=JOB_IDS[:jobs],
        moment=moment,
        signal=sig,
        fault_kind=fault_kind,
        keep=keep,
        timeout=timeout,
        faults=(*hold, *faults),
        outage=outage,
        trigger_call=trigger_call,
        lag=round(_lag(rng, moment, fault_kind), 2),
    )


def features(schedule: Schedule) -> frozenset[tuple[str, str]]:
    """What a case covers: its moment with its number of jobs, its fault kind, its signal, and
    its way of keeping a run."""
    sig = schedule.signal.name if schedule.signal else "none"
    found = {
        ("moment x jobs", f"{schedule.moment} x {len(schedule.jobs)}"),
        ("fault", str(schedule.fault_kind)),
        ("signal", sig),
        ("moment x signal", f"{schedule.moment} x {sig}"),
        ("keep", str(schedule.keep)),
    }
    if _cancels_with_a_sibling_in_flight(schedule):
        found.add(SIBLING_IN_FLIGHT)
    return frozenset(found)


# Issue 17's first case: several jobs, one trigger in flight, the workflow cancelled (SIGINT).
SIBLING_IN_FLIGHT = ("cancel with a slow trigger", "SIGINT, several jobs, nothing kept")


def _cancels_with_a_sibling_in_flight(schedule: Schedule) -> bool:
    """Several jobs, nothing kept, SIGINT while one trigger's answer is slow (not lost)."""
    several = len(schedule.jobs) > 1 and schedule.keep is Keep.NONE
    slow = (
        schedule.moment is Moment.DURING_TRIGGER
        and schedule.fault_kind is not FaultKind.LOSE_RESPONSE
    )
    return several and slow and schedule.signal is signal.SIGINT


def required_features() -> frozenset[tuple[str, str]]:
    """Every moment with 1, 2 and 3 jobs and with each signal it can have, every fault kind,
    every signal and every way of keeping a run, and a cancel with a sibling's trigger in
    flight."""
    sigs = [s.name for s in SIGNALS]
    wanted = {("moment x jobs", f"{m} x {n}") for m in Moment for n in range(1, MAX_JOBS + 1)}
    wanted |= {
        ("moment x signal", f"{m} x {s}") for m in Moment if m != Moment.NO_SIGNAL for s in sigs
    }
    wanted |= {("moment x signal", f"{Moment.NO_SIGNAL} x none")}
    wanted |= {("fault", str(kind)) for kind in FaultKind}
    wanted |= {("signal", s) for s in [*sigs, "none"]}
    wanted |= {("keep", str(keep)) for keep in Keep}
    wanted.add(SIBLING_IN_FLIGHT)
    return frozenset(wanted)


def cover(seeds: Iterable[int], wanted: frozenset[tuple[str, str]]) -> tuple[int, ...]:
    """Greedy set cover: the first seed covering most of what is still missing, until nothing
    is; ValueError when `seeds` cannot cover `wanted`."""
    candidates = {seed: features(schedule_for(seed)) & wanted for seed in seeds}
    missing = set(wanted)
    chosen: list[int] = []
    while missing:
        best = max(candidates, key=lambda seed: (len(candidates[seed] & missing), -seed))
        gained = candidates[best] & missing
        if not gained:
            raise ValueError(f"no seed covers {sorted(missing)}")
        chosen.append(best)
        missing -= gained
    return tuple(sorted(chosen))


def ci_seeds() -> tuple[int, ...]:
    """The seeds CI runs: a cover of `required_features()` from the first 2,000 seeds."""
    return cover(range(2000), required_features())
