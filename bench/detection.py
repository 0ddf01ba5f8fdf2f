"""Issue 7, benchmark 2: how soon the watcher notices a run's end, and what it costs in requests.

The real `RunWatcher` and `DbtCloudClient` follow emulated runs over HTTP; the emulator, the
watcher and the client share one `ManualClock`, and the watcher's sleep advances it, so a 3-hour
run takes no real time and the figures depend only on the poll schedule. Every run is followed
once per policy: the adaptive default, and fixed 10 s and 30 s polling (today's actions).

    python bench/detection.py [--samples N] [--seed N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from dbt_cloud_action.client import DbtCloudClient
from dbt_cloud_action.models import RunStatus
from dbt_cloud_action.watcher import (
    PollPolicy,
    RunWatcher,
    expected_duration,
    human_duration,
)
from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, ManualClock, StepScript

DURATIONS = (30.0, 120.0, 600.0, 2700.0, 10800.0)
# Runs of each (duration, scenario) per `--samples 1`: few long runs keep the whole benchmark
# (about 15,000 real HTTP requests) well under a minute; `--samples` multiplies them.
SAMPLES = {30.0: 6, 120.0: 4, 600.0: 4, 2700.0: 1, 10800.0: 1}
# 3-hour runs cost about 2,900 requests each (all policies): only the three kinds.
LONGEST_ONLY = ("usual", "long queue", "early failure")
HISTORY_RUNS = 5
USUAL_SPREAD = 0.05  # a run "near its usual time" lasts within +-5 % of its job's typical time
POLICIES: dict[str, PollPolicy] = {
    "adaptive": PollPolicy(),
    "fixed 10 s": PollPolicy(fixed=10),
    "fixed 30 s": PollPolicy(fixed=30),
}
TARGET_NEAR, TARGET_OTHER, TARGET_RATE = 1.5, 5.0, 10.0


@dataclass(frozen=True)
class Scenario:
    """How a run of a job whose runs usually take `usual` seconds plays out.

    Every job's history is HISTORY_RUNS successful runs within USUAL_SPREAD of `usual` (the
    action only knows their median); queue and run times are drawn uniformly from the ranges.
    """

    name: str
    near_usual: bool  # counts toward the "ending near their usual time" target
    queue: tuple[float, float]  # seconds
    length: tuple[float, float]  # share of `usual`
    outcome: int = 10
    history: bool = True


SCENARIOS = (
    Scenario("usual", True, (2, 10), (1 - USUAL_SPREAD, 1 + USUAL_SPREAD)),
    Scenario("long queue", True, (60, 300), (1 - USUAL_SPREAD, 1 + USUAL_SPREAD)),
    Scenario("early failure", False, (2, 10), (0.05, 0.7), outcome=20),
    Scenario("late", False, (2, 10), (1.1, 1.5)),
    Scenario("no history", False, (2, 10), (1 - USUAL_SPREAD, 1 + USUAL_SPREAD), history=False),
)


@dataclass(frozen=True)
class Case:
    scenario: Scenario
    usual: float
    job: JobScript


@dataclass(frozen=True)
class Outcome:
    case: Case
    policy: str
    latency: float  # emulated seconds from the run's end to the watcher seeing it
    requests: int
    minutes: float  # from the trigger to the watcher seeing the end


def make_cases(samples: int, rng: random.Random) -> list[Case]:
    cases: list[Case] = []
    for usual in DURATIONS:
        for scenario in SCENARIOS:
            if usual == DURATIONS[-1] and scenario.name not in LONGEST_ONLY:
                continue
            for _ in range(SAMPLES[usual] * samples):
                seconds = usual * rng.uniform(*scenario.length)
                history = tuple(
                    usual * rng.uniform(1 - USUAL_SPREAD, 1 + USUAL_SPREAD)
                    for _ in range(HISTORY_RUNS)
                )
                clone = min(2.0, seconds / 4)
                steps = (
                    StepScript("Clone git repository", duration=clone),
                    StepScript(
                        "Invoke dbt with `dbt build`",
                        "dbt build",
                        seconds - clone,
                        scenario.outcome,
                    ),
                )
                job = JobScript(
                    len(cases) + 1,
                    f"{scenario.name} {human_duration(usual)}",
                    steps,
                    queue_seconds=rng.uniform(*scenario.queue),
                    history=history if scenario.history else (),
                )
                cases.append(Case(scenario, usual, job))
    return cases


def follow(
    emu: Emulator, client: DbtCloudClient, clock: ManualClock, case: Case, policy: str
) -> Outcome:
    before = emu.calls("get_run") + emu.calls("list_runs")
    triggered = clock.now()
    expected = None
    if policy == "adaptive":  # only the adaptive policy pays for looking at the job's history
        expected = expected_duration(client.list_runs(case.job.id, status_in=(10,)))
    run = client.trigger_run(case.job.id, {"cause": "detection benchmark"})
    watcher = RunWatcher(
        client, policy=POLICIES[policy], clock=clock.now, sleep=clock.advance, on_event=_ignore
    )
    result = watcher.watch(run.id, timeout=None, expected_duration=expected)
    end, created = result.run.finished_at, result.run.created_at
    assert result.run.status in (RunStatus.SUCCESS, RunStatus.ERROR), result
    assert end is not None and created is not None
    seen = clock.now() - triggered
    return Outcome(
        case=case,
        policy=policy,
        latency=seen - (end - created).total_seconds(),
        requests=emu.calls("get_run") + emu.calls("list_runs") - before,
        minutes=seen / 60,
    )


def _ignore(_: object) -> None:
    """The benchmark measures polling, not logging."""


@contextmanager
def emulated_account(
    cases: Sequence[Case],
) -> Iterator[tuple[Emulator, DbtCloudClient, ManualClock]]:
    clock = ManualClock()
    config = EmulatorConfig(jobs=tuple(case.job for case in cases))
    with (
        Emulator(config, time_scale=1.0, clock=clock.now) as emu,
        DbtCloudClient(
            emu.url, emu.token, emu.account_id, sleep=clock.advance, clock=clock.now
        ) as client,
    ):
        yield emu, client, clock


def follow_all(cases: Sequence[Case]) -> list[Outcome]:
    """Follow every case under every policy, in one emulated account (one worker process)."""
    with emulated_account(cases) as (emu, client, clock):
        return [follow(emu, client, clock, case, policy) for case in cases for policy in POLICIES]


def _emulated_seconds(case: Case) -> float:
    return case.job.queue_seconds + sum(step.duration for step in case.job.steps)


def run_benchmark(samples: int = 1, seed: int = 7, workers: int = 1) -> list[Outcome]:
    """The outcomes, the same whatever `workers` is (cases are drawn before they are split)."""
    cases = make_cases(samples, random.Random(seed))
    if workers <= 1:
        return follow_all(cases)
    # Longest first, each to the least busy worker: all finish at about the same time.
    shares: list[list[Case]] = [[] for _ in range(workers)]
    for case in sorted(cases, key=_emulated_seconds, reverse=True):
        min(shares, key=lambda share: sum(map(_emulated_seconds, share))).append(case)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return [outcome for share in pool.map(follow_all, shares) for outcome in share]


@dataclass(frozen=True)
class Figures:
    runs: int
    mean: float
    p95: float
    rate: float  # requests per run-minute


def figures(outcomes: Sequence[Outcome]) -> Figures:
    latencies = sorted(o.latency for o in outcomes)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    rate = sum(o.requests for o in outcomes) / sum(o.minutes for o in outcomes)
    return Figures(len(outcomes), statistics.fmean(latencies), p95, rate)


def _row(label: str, groups: dict[str, list[Outcome]]) -> str:
    cells = []
    runs = 0
    for policy in POLICIES:
        f = figures(groups[policy])
        runs = f.runs
        cells.append(f"{f.mean:6.2f} {f.p95:6.2f} {f.rate:6.1f}")
    return f"{label:<26} {runs:>4} | " + " | ".join(cells)


def _by_policy(outcomes: Sequence[Outcome]) -> dict[str, list[Outcome]]:
    return {p: [o for o in outcomes if o.policy == p] for p in POLICIES}


def report(outcomes: Sequence[Outcome], elapsed: float) -> str:
    head = " | ".join(f"{p:^20}" for p in POLICIES)
    sub = " | ".join(f"{'mean':>6} {'p95':>6} {'req/m':>6}" for _ in POLICIES)
    lines = [
        "Detection latency: seconds from a run's end to the watcher noticing it;",
        "req/m: requests (run polls, final fetch, history lookup) per minute from trigger to end.",
        "",
        f"{'scenario / usual duration':<26} {'runs':>4} | {head}",
        f"{'':<26} {'':>4} | {sub}",
    ]
    rows = [
        (
            f"{scenario.name} {human_duration(usual)}",
            [o for o in outcomes if o.case.scenario == scenario and o.case.usual == usual],
        )
        for scenario in SCENARIOS
        for usual in DURATIONS
    ]
    near = [o for o in outcomes if o.case.scenario.near_usual]
    other = [o for o in outcomes if not o.case.scenario.near_usual]
    ten = [o for o in outcomes if o.case.usual == 600 and o.case.scenario.name == "usual"]
    summary = [
        ("near usual time (all)", near),
        ("otherwise (all)", other),
        ("10-minute runs on time", ten),
    ]
    lines += [_row(label, _by_policy(group)) for label, group in rows if group]
    lines += ["", *[_row(label, _by_policy(group)) for label, group in summary if group], ""]
    checks = [
        ("mean latency near the usual time", near, "mean", TARGET_NEAR, "s"),
        ("mean latency otherwise", other, "mean", TARGET_OTHER, "s"),
        ("requests a minute over a 10-minute run", ten, "rate", TARGET_RATE, ""),
    ]
    for label, group, measure, target, unit in checks:
        adaptive = [o for o in group if o.policy == "adaptive"]
        if adaptive:
            value: float = getattr(figures(adaptive), measure)
            verdict = "meets" if value <= target else "MISSES"
            lines.append(
                f"adaptive {label}: {value:.2f}{unit} ({verdict} the target <= {target}{unit})"
            )
    requests = sum(o.requests for o in outcomes)
    lines.append(
        f"\n{len(outcomes)} followed runs, {requests} HTTP requests, {elapsed:.1f} s real time"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1, help="multiply the runs per row")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="processes (default: CPUs)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    outcomes = run_benchmark(args.samples, args.seed, args.workers)
    print(report(outcomes, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
