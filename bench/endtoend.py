"""Issue 7, benchmark 3: the action's own overhead and memory over a real-time 20-second run.

The real entrypoint runs as a subprocess in a simulated runner (tests/simulated_runner.py) for a
pull_request event against the emulator at time scale 1, so the run really takes 20 s (2 s
queued, about 1 s starting, a 3 s clone, a 14 s `dbt build` with results). Overhead is the
process's wall time minus the run's own duration (the emulator's created_at to finished_at),
split with the emulator's request log into: before the trigger reached dbt Cloud, between the
run's end and the request that noticed it, and after that (results, summary, exit). Peak memory
is the entrypoint process's maximum resident set size (getrusage RUSAGE_CHILDREN: this script
starts no other process, so it is the largest of the runs). A job that has run before (the
usual case) and a job's first run (no history for the poll policy) are measured separately.

    python bench/endtoend.py [--runs N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.simulated_runner
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.simulated_runner import SimulatedRunner, emulator_inputs, load_event

from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, NodeResult, StepScript

TARGET_RSS_MB = 60.0
QUEUE_SECONDS = 2.0
STEPS = (
    StepScript("Clone git repository", duration=3),
    StepScript(
        "Invoke dbt with `dbt build`",
        command="dbt build",
        duration=14,
        results=(
            NodeResult("model.shop.orders", "success", 6.0),
            NodeResult("model.shop.customers", "success", 4.0),
            NodeResult("test.shop.not_null_orders_id", "pass", 0.5, resource_type="test"),
        ),
    ),
)
# The usual case is a job that has run before: the poll policy then expects the run's end.
# A job's first run (no history) is noticed within the policy's cap.
HISTORY = (16.6, 17.0, 17.3, 16.9, 17.1)


def jobs(runs: int) -> list[tuple[str, JobScript]]:
    """`runs` runs of one job with history, then `runs` jobs with none (each run of a job
    becomes history for the next, so a first run needs a job of its own)."""
    usual = JobScript(21, "CI build", STEPS, queue_seconds=QUEUE_SECONDS, history=HISTORY)
    new = [
        JobScript(31 + n, f"New CI build {n}", STEPS, queue_seconds=QUEUE_SECONDS)
        for n in range(runs)
    ]
    return [("with history", usual)] * runs + [("first run", job) for job in new]


@dataclass(frozen=True)
class Measurement:
    wall: float  # process start to exit
    run: float  # the run's own duration, trigger to end
    to_trigger: float  # process start to the trigger reaching dbt Cloud
    to_notice: float  # the run's end to the first request after it
    after_notice: float  # that request to the process's exit

    @property
    def overhead(self) -> float:
        return self.wall - self.run


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def measure(emu: Emulator, runner: SimulatedRunner, job_id: int) -> Measurement:
    inputs = emulator_inputs(emu, job_id)
    seen = len(emu.requests)
    started = time.monotonic()
    result = runner.run(inputs, timeout=120)
    ended = time.monotonic()
    if result.exit_code != 0:
        raise RuntimeError(f"the run failed ({result.exit_code}):\n{result.log}")
    requests = emu.requests[seen:]
    run_id = int(result.outputs["run-id"])
    run = emu.run(run_id)
    created, finished = parse_time(run["created_at"]), parse_time(run["finished_at"])
    trigger = next(r for r in requests if r.endpoint == "trigger")
    # Emulated time runs at real speed from the emulator's start: map the run's end onto the
    # monotonic clock through the trigger, which the emulator stamped in both.
    finished_at = trigger.received_at + (finished - created).total_seconds()
    noticed = next(r for r in requests if r.received_at >= finished_at)
    return Measurement(
        wall=ended - started,
        run=(finished - created).total_seconds(),
        to_trigger=trigger.received_at - started,
        to_notice=noticed.received_at - finished_at,
        after_notice=ended - noticed.received_at,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each job (default 2)")
    args = parser.parse_args(argv)

    plan = jobs(args.runs)
    config = EmulatorConfig(jobs=tuple({job.id: job for _, job in plan}.values()))
    runs: list[tuple[str, Measurement]] = []
    with Emulator(config=config, time_scale=1.0) as emu, tempfile.TemporaryDirectory() as tmp:
        for number, (label, job) in enumerate(plan):
            event = load_event("pull_request.opened.json")
            workdir = Path(tmp, str(number))
            runner = SimulatedRunner(workdir, event_name="pull_request", event=event)
            runs.append((label, measure(emu, runner, job.id)))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"## End to end: a {runs[0][1].run:.0f}-second run in real time, whole process\n")
    print("| job | wall | run's own | overhead | start to trigger | end to noticed | after |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, m in runs:
        print(
            f"| {label} | {m.wall:.2f} s | {m.run:.2f} s | {m.overhead:.2f} s "
            f"| {m.to_trigger:.2f} s | {m.to_notice:.2f} s | {m.after_notice:.2f} s |"
        )
    verdict = "met" if peak_mb < TARGET_RSS_MB else "MISSED"
    print(
        "\nOverhead = wall - run's own (trigger to end). After = from the request that noticed "
        "the end\nto exit: final fetch, run_results.json, summary, outputs."
    )
    target = f"target < {TARGET_RSS_MB:.0f} MB: {verdict}"
    print(f"\nPeak RSS of the entrypoint: {peak_mb:.1f} MB ({target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
