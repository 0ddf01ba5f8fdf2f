"""Issue 12, benchmark: bytes downloaded from dbt Cloud per minute of a followed run.

The real `RunWatcher` and `DbtCloudClient` follow emulated runs over HTTP, on a `ManualClock`
shared with the emulator (as in bench/detection.py), with the adaptive poll policy. The emulator's
request log records each reply's size; the figure is every reply of `GET runs/{id}/` (the polls
and the final fetch with steps, logs and job) per minute from the trigger to the end. Each run is
followed twice: asking for the steps (and so their logs) only when they can have changed (the
action's way), and on every poll (the action before issue 12, and other dbt Cloud actions).
A dbt log grows with the run, so the bigger the project and the longer the run, the more a poll
with steps costs.

    python bench/transfer.py
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from dbt_cloud_action.client import DbtCloudClient
from dbt_cloud_action.watcher import STEPS_EVERY, PollPolicy, RunWatcher, expected_duration
from dbt_cloud_emulator import (
    Emulator,
    EmulatorConfig,
    JobScript,
    ManualClock,
    NodeResult,
    StepScript,
)

# (label, run minutes, models): a small CI build, a nightly deploy, a large project's deploy
RUNS = (("CI build", 5, 50), ("nightly deploy", 30, 300), ("large deploy", 120, 1000))
WAYS = {"when they can have changed": STEPS_EVERY, "on every poll of a running run": 0.0}


@dataclass(frozen=True)
class Transfer:
    label: str
    way: str
    minutes: float
    requests: int
    with_steps: int
    bytes: int

    @property
    def per_minute(self) -> float:
        return self.bytes / self.minutes


def job(job_id: int, label: str, minutes: int, models: int) -> JobScript:
    seconds = minutes * 60.0
    nodes = tuple(
        NodeResult(f"model.shop.model_{i:05d}", "success", seconds * 0.9 / models)
        for i in range(models)
    )
    steps = (
        StepScript("Clone git repository", duration=3),
        StepScript("Invoke dbt with `dbt build`", "dbt build", seconds - 3, results=nodes),
    )
    history = (seconds, seconds * 0.98, seconds * 1.02)
    return JobScript(job_id, label, steps, queue_seconds=5, job_type="scheduled", history=history)


def follow(
    emu: Emulator, client: DbtCloudClient, clock: ManualClock, script: JobScript, way: str
) -> Transfer:
    seen = len(emu.requests)
    expected = expected_duration(client.list_runs(script.id, status_in=(10,)))
    started = clock.now()
    run = client.trigger_run(script.id, {"cause": "transfer benchmark"})
    watcher = RunWatcher(
        client,
        policy=PollPolicy(),
        clock=clock.now,
        sleep=clock.advance,
        on_event=lambda _: None,
        steps_every=WAYS[way],
    )
    watcher.watch(run.id, expected_duration=expected)
    polls = [r for r in emu.requests[seen:] if r.endpoint == "get_run"]
    return Transfer(
        label=script.name,
        way=way,
        minutes=(clock.now() - started) / 60,
        requests=len(polls),
        with_steps=sum("run_steps" in str(r.query) for r in polls),
        bytes=sum(r.response_bytes for r in polls),
    )


def main() -> int:
    scripts = [job(n + 1, *run) for n, run in enumerate(RUNS)]
    clock = ManualClock()
    transfers: list[Transfer] = []
    with (
        Emulator(EmulatorConfig(jobs=tuple(scripts)), clock=clock.now) as emu,
        DbtCloudClient(
            emu.url, emu.token, emu.account_id, sleep=clock.advance, clock=clock.now
        ) as client,
    ):
        for script in scripts:
            transfers += [follow(emu, client, clock, script, way) for way in WAYS]
    print("## Bytes from dbt Cloud per run-minute while following a run\n")
    print("| run | models | steps asked for | polls (with steps) | downloaded | per run-minute |")
    print("|---|---:|---|---:|---:|---:|")
    pairs = zip(*[iter(transfers)] * len(WAYS), strict=True)
    for (label, _, models), pair in zip(RUNS, pairs, strict=True):
        for t in pair:
            print(
                f"| {label}, {t.minutes:.0f} min | {models:,} | {t.way} "
                f"| {t.requests} ({t.with_steps}) | {t.bytes / 1e6:,.2f} MB "
                f"| {t.per_minute / 1e3:,.1f} KB |"
            )
    print(
        "\nEvery `GET runs/{id}/` reply (polls and the final fetch with steps, logs and job), "
        "adaptive polling,\nemulated logs (dbt's console lines; the debug log is cut to its last "
        "1,000 lines as dbt Cloud does).\nThe final fetch alone is the floor: the logs are shown "
        "once, at the end."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
